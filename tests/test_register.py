"""The register (GET /cases) on the migrated read model: every filter, keyset paging with
an opaque `next` cursor (stable across equal intake times, a page past the data is empty, a bad cursor
is 422), bounded totals, and a caller's predicate (P2 visibility) composing before totals and paging."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import codec
import pytest_asyncio
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.config import Settings
from adapters.db.migrate import upgrade_to_head
from adapters.db.models import Case, Staff
from adapters.db.register import (
    MAX_PAGE, BadCursor, RegisterQuery, decode_cursor, encode_cursor, read_register, register_select,
)
from adapters.db.session import make_engine, make_sessionmaker
from aftersales.roles import Role
from api.app import create_app
from api.auth import create_access_token

T0 = datetime(2026, 11, 2, 1, 30, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))


def rows() -> list[dict[str, Any]]:
    """40 cases: every 4th shares its intake second with the one before (ties in the sort key)."""
    out = []
    for i in range(40):
        at = T0 + timedelta(hours=i - (i % 4 == 3))  # 3 and 2, 7 and 6 … share an hour
        out.append(dict(
            case_no=f"{'TS' if i % 2 else 'WX'}-2026-{i:06d}", case_type="complaint" if i % 2 else "repair",
            status=("closed", "registered", "classified")[i % 3], channel=None, category="漏水",
            project=("融侨城", "滨江府")[i % 5 == 0], building="5栋", unit=f"{1200 + i % 4}",
            department=("工程部", "物业部", None)[i % 3], handler=f"h{i % 6}" if i % 3 != 2 else None,
            major=False, justified=None, escalation_level=i % 3, overdue=i % 7 == 0, customer_name="王女士",
            customer_phone_masked="138****1234", received_at=at, closed_at=None, outcome=None, satisfaction=None,
            linked_case_no=None, seq=1, updated_at=at, view=None))
    return out


ROWS = rows()


def newest_first(selected: list[dict[str, Any]]) -> list[str]:
    return [r["case_no"] for r in sorted(selected, key=lambda r: (r["received_at"], r["case_no"]), reverse=True)]


@pytest_asyncio.fixture
async def maker(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'register.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(insert(Case), ROWS)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def walk(maker, q: RegisterQuery, page_size: int, **kw) -> list[str]:
    """Every page by cursor; the case numbers in order."""
    seen, cursor = [], None
    async with maker() as s:
        for _ in range(100):
            page = await read_register(s, q, page_size=page_size, cursor=cursor, **kw)
            seen += [r["case_no"] for r in page.items]
            if page.next is None:
                return seen
            cursor = page.next
    raise AssertionError("the cursor never ended")


FILTERS = [
    (RegisterQuery(type="complaint"), lambda r: r["case_type"] == "complaint"),
    (RegisterQuery(status="closed"), lambda r: r["status"] == "closed"),
    (RegisterQuery(department="工程部"), lambda r: r["department"] == "工程部"),
    (RegisterQuery(project="滨江府"), lambda r: r["project"] == "滨江府"),
    (RegisterQuery(overdue=True), lambda r: r["overdue"]),
    (RegisterQuery(overdue=False), lambda r: not r["overdue"]),
    (RegisterQuery(escalation_level=2), lambda r: r["escalation_level"] == 2),
    (RegisterQuery(handler="h4"), lambda r: r["handler"] == "h4"),
    (RegisterQuery(unit="1201"), lambda r: r["unit"] == "1201"),
    (RegisterQuery(case_no="TS-2026-00001"), lambda r: r["case_no"].startswith("TS-2026-00001")),
    (RegisterQuery(case_no="WX-2026-000004"), lambda r: r["case_no"] == "WX-2026-000004"),
    # an instant given in Beijing time: from inclusive, to exclusive
    (RegisterQuery(received_from=(T0 + timedelta(hours=10)).astimezone(CST),
                   received_to=(T0 + timedelta(hours=20)).astimezone(CST)),
     lambda r: T0 + timedelta(hours=10) <= r["received_at"] < T0 + timedelta(hours=20)),
    (RegisterQuery(type="repair", status="registered", department="物业部"),
     lambda r: (r["case_type"], r["status"], r["department"]) == ("repair", "registered", "物业部")),
    (RegisterQuery(project="融侨城", overdue=True, escalation_level=0),
     lambda r: r["project"] == "融侨城" and r["overdue"] and r["escalation_level"] == 0),
    (RegisterQuery(), lambda r: True),
]


@pytest.mark.parametrize("q, keep", FILTERS, ids=[str(q.model_dump(exclude_none=True)) for q, _ in FILTERS])
async def test_every_filter_newest_first_across_cursor_pages(maker, q, keep) -> None:
    expected = newest_first([r for r in ROWS if keep(r)])
    assert expected or q.overdue, "the data exercises the filter"
    assert await walk(maker, q, page_size=3) == expected
    async with maker() as s:
        first = await read_register(s, q, page_size=100)
    assert (first.total, first.total_is_estimate, first.next) == (len(expected), False, None)


async def test_order_is_stable_across_pages_with_equal_intake_times(maker) -> None:
    """Ties on received_at are broken by case_no, in the cursor too: no row twice, none skipped."""
    ties = [r for r in ROWS if r["received_at"] in {x["received_at"] for x in ROWS if x is not r}]
    assert len(ties) >= 10
    for size in (1, 2, 3, 7):
        assert await walk(maker, RegisterQuery(), page_size=size) == newest_first(ROWS)


async def test_a_page_past_the_data_is_empty(maker) -> None:
    oldest = min(ROWS, key=lambda r: (r["received_at"], r["case_no"]))
    async with maker() as s:
        past = await read_register(s, RegisterQuery(), page_size=5, cursor=encode_cursor(oldest["received_at"],
                                                                                             oldest["case_no"]))
        assert (past.items, past.next, past.total) == ([], None, len(ROWS))
        deep = await read_register(s, RegisterQuery(), page_size=10, page=MAX_PAGE)
        assert deep.items == [] and deep.next is None
        last = await read_register(s, RegisterQuery(), page_size=10, page=4)  # exactly the last rows: no next
        assert len(last.items) == 10 and last.next is None


async def test_totals_are_exact_up_to_the_cap_then_a_bound(maker) -> None:
    async with maker() as s:
        exact = await read_register(s, RegisterQuery(status="closed"), page_size=2, cap=14)
        capped = await read_register(s, RegisterQuery(), page_size=2, cap=14)
    assert (exact.total, exact.total_is_estimate) == (len([r for r in ROWS if r["status"] == "closed"]), False)
    assert (capped.total, capped.total_is_estimate) == (14, True)


async def test_a_callers_predicate_applies_before_totals_and_paging(maker) -> None:
    """What P2 (who sees which cases) passes: the total and every page see only those rows."""
    visible = [Case.department == "工程部"]
    expected = newest_first([r for r in ROWS if r["department"] == "工程部" and r["case_type"] == "repair"])
    assert await walk(maker, RegisterQuery(type="repair"), page_size=2, where=visible) == expected
    async with maker() as s:
        page = await read_register(s, RegisterQuery(type="repair"), page_size=2, where=visible)
    assert page.total == len(expected) and len(page.items) == 2


@pytest.mark.parametrize("cursor", ["", "not a cursor", "e30", encode_cursor(T0, "x")[:-3],
                                    "WyIyMDI2LTExLTAyVDAxOjMwOjAwIiwiVFMtMjAyNi0wMDAwMDEiXQ",  # no offset
                                    "WyIyMDI2LTExLTAyVDAxOjMwOjAwKzAwOjAwIiw1XQ"])             # a number
def test_a_cursor_this_register_did_not_hand_out_is_refused(cursor) -> None:
    with pytest.raises(BadCursor, match="cursor"):
        decode_cursor(cursor)


def test_cursor_round_trip_is_utc() -> None:
    at, no = decode_cursor(encode_cursor(T0.astimezone(CST), "TS-2026-000001"))
    assert (at, at.utcoffset(), no) == (T0, timedelta(0), "TS-2026-000001")


async def test_the_page_reads_only_the_list_columns_through_an_index(maker) -> None:
    """No `view` blob in the list; each filter's page is an index walk, not a sort of the matches."""
    stmt = register_select(RegisterQuery(status="closed", project="融侨城"), page_size=20)
    assert "view" not in {c.name for c in stmt.selected_columns}
    from sqlalchemy.dialects import sqlite
    sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    async with maker() as s:
        plan = " ".join(str(r[-1]) for r in (await s.execute(text("EXPLAIN QUERY PLAN " + sql))).all())
    assert "USING INDEX ix_cases_" in plan and "TEMP B-TREE" not in plan, plan


# ---- over HTTP ---------------------------------------------------------------------------------------
@pytest_asyncio.fixture
async def api(maker, tmp_path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'register.db'}", bcrypt_rounds=4,
                        jwt_secret="register-secret-" + "x" * 40, **codec.CODEC)
    staff = Staff(username="manager", role=Role.cs_manager.value, display_name="经理", email=None, department=None,
                  password_hash="x", active=True)
    async with maker() as s:
        s.add(staff)
        await s.commit()
    token, _ = create_access_token(staff, settings)
    app = create_app(settings, sessionmaker=maker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://register") as client:
        yield client, {"Authorization": f"Bearer {token}"}


async def test_http_pages_by_cursor_with_iso_times_and_refuses_bad_input(api) -> None:
    client, headers = api
    r = await client.get("/cases", params={"page_size": 15, "received_from": "2026-11-02T09:30:00+08:00"},
                         headers=headers)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["total"], first["total_is_estimate"], first["page"]) == (40, False, 1)
    assert datetime.fromisoformat(first["items"][0]["received_at"]).utcoffset() == timedelta(0)
    assert "view" not in first["items"][0]
    second = (await client.get("/cases", params={"page_size": 15, "cursor": first["next"]}, headers=headers)).json()
    third = (await client.get("/cases", params={"page_size": 15, "cursor": second["next"]}, headers=headers)).json()
    assert second["page"] is None and third["next"] is None
    assert [i["case_no"] for i in first["items"] + second["items"] + third["items"]] == newest_first(ROWS)

    filtered = (await client.get("/cases", params={"escalation_level": 1, "handler": "h1"}, headers=headers)).json()
    assert [i["case_no"] for i in filtered["items"]] == newest_first(
        [r for r in ROWS if r["escalation_level"] == 1 and r["handler"] == "h1"])

    for params, problem in (({"cursor": "garbage!"}, "cursor"),
                            ({"cursor": first["next"], "page": 2}, "page, cursor"),
                            ({"page": MAX_PAGE + 1}, "page"),
                            ({"received_from": "2026-11-02T09:30:00"}, "received_from"),  # no offset
                            ({"received_from": "2026-11-03T00:00:00Z", "received_to": "2026-11-02T00:00:00Z"},
                             "received_from must be before received_to"),
                            ({"escalation_level": -1}, "escalation_level")):
        r = await client.get("/cases", params=params, headers=headers)
        assert r.status_code == 422 and problem in r.text, (params, r.text)
