"""A number never attaches to another case (C1): a fresh read model over a live Temporal namespace
(as after restoring the two from backups of different times) first refuses intakes (503 register_behind)
until the register is rebuilt from Temporal; a register still behind (cases opened since, by another
copy of the read model) hands out numbers Temporal already holds, and the intake notices, records them as
taken, moves the counter past them and files the new case under a new number — never 201 with another
case's body."""

import httpx
import pytest
from sqlalchemy import select

from adapters.db import calendar_store
from adapters.db.migrate import upgrade_to_head
from adapters.db.models import CaseNumber
from adapters.db.numbering import TAKEN, TAKEN_REASON
from adapters.db.session import make_engine, make_sessionmaker
from adapters.db.staff import seed_demo_staff
from api.app import create_app
from ops.rebuild_register import rebuild
from tests.e2e.conftest import Staff, unique_key
from tests.e2e.test_complaint_http import COMPLAINT


@pytest.mark.asyncio
async def test_C1_a_fresh_register_over_a_live_namespace_never_answers_with_another_case(
        api, staff, dev_env, settings, tmp_path, monkeypatch):
    from api import cases as api_cases
    monkeypatch.setattr(api_cases, "REGISTER_CHECK_SECONDS", 0.0)  # every intake looks at the register again
    hotline = await staff.headers("hotline")
    earlier = [(await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": unique_key()}))
               .json()["case_no"] for _ in range(3)]  # the namespace holds at least TS-<year>-000001 .. these

    fresh_url = f"sqlite+aiosqlite:///{tmp_path / 'fresh-read-model.db'}"
    upgrade_to_head(fresh_url)
    engine = make_engine(fresh_url)
    try:
        maker = make_sessionmaker(engine)
        async with maker() as session:
            await calendar_store.seed_from_chinese_calendar(session)
            await seed_demo_staff(session, settings)
        fresh = create_app(settings.model_copy(update={"database_url": fresh_url}), temporal=dev_env.client,
                           sessionmaker=maker)
        mine = {**COMPLAINT, "customer": {**COMPLAINT["customer"], "name": "新业主赵先生", "unit": "0808"}}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fresh), base_url="http://api.test",
                                     timeout=60) as client:
            headers = {**await Staff(client, settings.demo_password).headers("hotline"),
                       "Idempotency-Key": unique_key()}
            # C1: an empty register over a namespace holding cases is known to be behind: no intake, no number
            refused = await client.post("/complaints", json=mine, headers=headers)
            assert refused.status_code == 503 and refused.json()["reason"] == "register_behind", refused.text
            async with maker() as session:
                assert (await session.scalars(select(CaseNumber))).all() == []
            await rebuild(settings, dev_env.client, maker, progress=lambda line: None)
            # the rebuilt register is level with Temporal; the other copy then opens cases it has not seen
            # (as a register restored from an older backup): their numbers are held in Temporal only
            later = [(await api.post("/complaints", json=COMPLAINT,
                                     headers={**hotline, "Idempotency-Key": unique_key()})).json()["case_no"]
                     for _ in range(2)]
            r = await client.post("/complaints", json=mine, headers=headers)
            assert r.status_code == 201, r.text
            case = r.json()
            assert case["case_no"] not in earlier + later and case["customer"]["unit"] == "0808", case
            # this intake's entry only (and C11's warning on 5栋, which the earlier cases make due)
            kinds = [t["kind"] for t in case["timeline"]]
            assert case["timeline"][0]["actor"] == "hotline" and kinds[0] == "intake"
            assert set(kinds) <= {"intake", "early_warning"}, kinds
            # past every number Temporal held, none of them reused; the retry returns the new case
            assert int(case["case_no"][-6:]) > max(int(no[-6:]) for no in earlier + later)
            again = await client.post("/complaints", json=mine, headers=headers)
            assert again.status_code == 201 and again.json()["case_no"] == case["case_no"]
        async with maker() as session:
            taken = (await session.scalars(select(CaseNumber).where(CaseNumber.state == TAKEN))).all()
        assert taken and all(t.reason == TAKEN_REASON for t in taken)  # recorded, with the reason: no silent gap
        # the number it ran into is one the other copy gave out (the counter then moved past the highest held)
        assert set(later) & {t.case_no for t in taken}, ([t.case_no for t in taken], later)
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_C1_an_intake_racing_the_first_on_a_fresh_install_is_not_taken_for_a_lost_register(
        api, dev_env, settings, tmp_path):
    """On a fresh install two intakes at once (two API replicas): the first claims its number and starts its case
    while the second's request is already inside a read transaction begun before that claim. The second sees no
    number handed out and Temporal holding a case; it must not conclude that the register was lost (that stops
    every intake until a rebuild): the claims are read again after Temporal answered."""
    from sqlalchemy import text

    from adapters.db.register_status import behind_reason, register_state

    fresh_url = f"sqlite+aiosqlite:///{tmp_path / 'fresh-install.db'}"
    upgrade_to_head(fresh_url)
    engine = make_engine(fresh_url)
    try:
        maker = make_sessionmaker(engine)
        async with maker() as session:
            await calendar_store.seed_from_chinese_calendar(session)
            await seed_demo_staff(session, settings)
        first = create_app(settings.model_copy(update={"database_url": fresh_url}), temporal=dev_env.client,
                           sessionmaker=maker)
        async with maker() as second:
            await second.execute(text("BEGIN"))            # the second request's transaction, begun first ...
            assert (await second.scalars(select(CaseNumber))).all() == []
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://api.test",
                                         timeout=60) as client:
                headers = {**await Staff(client, settings.demo_password).headers("hotline"),
                           "Idempotency-Key": unique_key()}
                opened = await client.post("/complaints", json=COMPLAINT, headers=headers)
                assert opened.status_code == 201, opened.text       # ... the first intake numbered and started
            assert await behind_reason(second, dev_env.client, settings.task_queue) is None
            await second.rollback()
        async with maker() as session:
            assert await register_state(session) is None             # nothing marked behind
    finally:
        await engine.dispose()
