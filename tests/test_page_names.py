"""P5, P7: a page of rows reads the names of the accounts it shows, not every account of the group (reading
them all cost the register and 我的待办 10–15 ms of CPU a request with a group's 600 accounts)."""

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from adapters.db.models import Staff
from api import choices


@pytest.mark.asyncio
async def test_a_page_reads_the_names_of_the_accounts_its_rows_and_notices_name(sessionmaker):
    async with sessionmaker() as session:
        every = await choices.staff_names(session)
        users = sorted((await session.scalars(select(Staff.username))).all())
        assert len(users) >= 3 and set(every) == set(users)
        rows = [SimpleNamespace(handler=users[0], next_user=None), SimpleNamespace(handler=None, next_user=users[1])]
        wanted = choices.named_in(rows, f"账号 {users[2]} 的密码已重置")
        assert {users[0], users[1], users[2]} <= wanted
        names = await choices.staff_names(session, wanted)
        assert set(names) == {users[0], users[1], users[2]}
        assert all(names[u] == every[u] for u in names)   # each named as everywhere (org.person's label)
        assert await choices.staff_names(session, choices.named_in([])) == {}
