"""The read model on a REAL PostgreSQL (the production database), not only SQLite: migrations, the
projection upsert, case numbering under concurrency, the deposit ledger and the calendar store.

One throwaway cluster per module (tests/support/postgres.py), one fresh database per test. Skipped,
with the reason, when no PostgreSQL server binaries are installed or the server cannot be started
(e.g. running as root without a `postgres` OS user)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import pytest_asyncio
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.cases import CaseActivities
from aftersales import actions as A
from aftersales.calendar import YearData
from aftersales.case import Ctx, Customer
from aftersales.complaint import ComplaintCase
from aftersales.complaint.state import Channel, ComplaintIntake
from adapters.config import Settings
from adapters.db import calendar_store, ledger
from adapters.db.migrate import alembic_config, upgrade_to_head
from adapters.db.models import Base, Case, CaseCounter, TimelineEntry
from adapters.db.numbering import IdempotencyConflict, claim_case_no, request_fingerprint
from adapters.db.session import make_engine, make_sessionmaker
from aftersales.roles import Role
from aftersales.views import case_row
from tests.rules.driver import CAL, LADDER, MONDAY_10, who
from tests.support.postgres import PostgresUnavailable, TemporaryPostgres, _alive, find_pg_bin
from tests.test_projection import stored
from contracts.case import CaseProjection, ConfigRequest, RecentComplaints

AT = datetime(2026, 11, 23, 2, tzinfo=timezone.utc)


# ---- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg() -> Iterator[TemporaryPostgres]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin, no pg_ctl on PATH)")
    server = TemporaryPostgres()
    try:
        server.start()
    except PostgresUnavailable as e:
        pytest.skip(f"PostgreSQL server could not be started as a non-root user: {e}")
    pid = server._postmaster_pid()
    try:
        yield server
    finally:
        server.stop()
    assert pid is not None and not _alive(pid), f"the PostgreSQL server (pid {pid}) outlived the tests"


@pytest.fixture
def pg_url(pg: TemporaryPostgres) -> str:
    """A fresh, empty database for this test."""
    return pg.create_database(f"t_{uuid.uuid4().hex[:16]}")


@pytest_asyncio.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """The migrated read model on PostgreSQL."""
    await asyncio.to_thread(upgrade_to_head, pg_url)
    eng = make_engine(pg_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
def pg_settings(pg_url: str) -> Settings:
    return Settings(database_url=pg_url, bcrypt_rounds=4)


async def _schema_diff(url: str) -> list:
    eng = make_engine(url)
    try:
        async with eng.connect() as conn:
            return await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    finally:
        await eng.dispose()


async def _tables_and_revision(url: str) -> tuple[set[str], str | None]:
    eng = make_engine(url)
    try:
        async with eng.connect() as conn:
            return await conn.run_sync(lambda c: (set(inspect(c).get_table_names()),
                                                  MigrationContext.configure(c).get_current_revision()))
    finally:
        await eng.dispose()


# ---- a. migrations -------------------------------------------------------------------------------
async def test_migrations_build_the_schema_on_postgres(pg_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, pg_url)
    head = ScriptDirectory.from_config(alembic_config(pg_url)).get_current_head()
    tables, revision = await _tables_and_revision(pg_url)
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert revision == head
    assert await _schema_diff(pg_url) == []

    eng = make_engine(pg_url)
    try:
        async with eng.begin() as conn:
            # timestamptz, not a naive timestamp, for the times the read model keeps
            kind = await conn.scalar(text(
                "SELECT data_type FROM information_schema.columns WHERE table_name='cases' AND column_name='received_at'"))
            assert kind == "timestamp with time zone"
            await conn.execute(text("INSERT INTO case_counters (prefix, year, last_value) VALUES ('TS', 2026, 41)"))
    finally:
        await eng.dispose()

    await asyncio.to_thread(upgrade_to_head, pg_url)  # again: harmless, data kept
    eng = make_engine(pg_url)
    try:
        async with eng.connect() as conn:
            assert await conn.scalar(text("SELECT last_value FROM case_counters")) == 41
    finally:
        await eng.dispose()
    assert await _schema_diff(pg_url) == []


async def test_downgrade_to_base_and_up_again_on_postgres(pg_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, pg_url)
    # the env runs its own event loop (asyncio.run): on a thread, like upgrade_to_head
    await asyncio.to_thread(command.downgrade, alembic_config(pg_url), "base")
    tables, revision = await _tables_and_revision(pg_url)
    assert tables == {"alembic_version"} and revision is None
    await asyncio.to_thread(upgrade_to_head, pg_url)
    tables, _ = await _tables_and_revision(pg_url)
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert await _schema_diff(pg_url) == []


# ---- b. the projection ---------------------------------------------------------------------------
def _intake() -> ComplaintIntake:
    return ComplaintIntake(customer=Customer(name="王女士", phone="13812341234", project="融侨城", building="5栋",
                                             unit="1203"),
                           channel=Channel.phone, category="漏水", description="卫生间天花板漏水")


def _ctx(at: datetime) -> Ctx:
    return Ctx(now=at.astimezone(timezone.utc), cal=CAL, ladder=LADDER)


def _projection(case: ComplaintCase, now: datetime, start: int) -> CaseProjection:
    state = case.state
    return CaseProjection(case_no=state.case_no, seq=state.seq, row=case_row(state, now, LADDER),
                          timeline_start=start, timeline=state.timeline[start:]).model_copy(deep=True)


async def test_projection_is_idempotent_and_monotonic_on_postgres(maker, pg_settings) -> None:
    acts = CaseActivities(maker, pg_settings)
    env = ActivityEnvironment()

    case, _ = ComplaintCase.open("TS-2026-000001", _intake(), who(Role.hotline), _ctx(MONDAY_10))
    first = _projection(case, MONDAY_10, 0)
    assert first.seq == 0 and first.row.status == "registered" and first.timeline

    later = MONDAY_10 + timedelta(minutes=30)
    case.apply(A.Classify(action="classify", category="漏水", department="工程部", justified=True),
               who(Role.cs_staff), _ctx(later))
    assign = _ctx(later)
    assign.accounts = {"li.handler": who(Role.dept_handler, "li.handler", department="工程部")}  # P1
    case.apply(A.AssignHandler(action="assign_handler", handler="li.handler"),
               who(Role.dept_head, department="工程部"), assign)
    second = _projection(case, later, len(first.timeline))
    assert second.seq == 2 and second.row.status != first.row.status and second.timeline
    everything = _projection(case, later, 0)  # a projection overlapping both

    await env.run(acts.project_case, first)
    row, timeline = await stored(maker, "TS-2026-000001")
    assert (row.seq, row.status) == (0, "registered") and len(timeline) == len(first.timeline)

    await env.run(acts.project_case, second)
    await env.run(acts.project_case, first)       # an old projection replayed: ignored
    await env.run(acts.project_case, second)      # the same one again: nothing new
    await env.run(acts.project_case, everything)  # overlapping timeline: no duplicates

    row, timeline = await stored(maker, "TS-2026-000001")
    state = case.state
    assert row.seq == 2 and row.status == state.status == second.row.status
    assert row.department == "工程部" and row.handler == "li.handler" and row.justified is True
    assert row.customer_phone_masked != "13812341234" and "1234" in row.customer_phone_masked
    assert row.received_at == MONDAY_10 and row.received_at.tzinfo is not None   # timestamptz round trip
    assert row.updated_at == later
    assert row.view is None                                  # open: the view is sent when it closes
    assert [t.idx for t in timeline] == list(range(len(state.timeline)))        # no gap, no duplicate
    assert [(t.kind, t.text, t.at) for t in timeline] == [(t.kind, t.text, t.at) for t in state.timeline]
    async with maker() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 1
        assert await s.scalar(select(func.count()).select_from(TimelineEntry)) == len(state.timeline)

    # C11's count reads the same rows
    recent = RecentComplaints(project="融侨城", building="5栋", since=MONDAY_10 - timedelta(days=7))
    assert await env.run(acts.count_recent_complaints, recent) == 1
    assert await env.run(acts.count_recent_complaints, recent.model_copy(update={"building": "6栋"})) == 0
    assert await env.run(acts.count_recent_complaints,
                         recent.model_copy(update={"since": MONDAY_10 + timedelta(seconds=1)})) == 0


# ---- c. numbering --------------------------------------------------------------------------------
async def _claim(maker, *, key: str | None, year: int = 2026, body: dict | None = None) -> tuple[str, bool]:
    async with maker() as s:
        return await claim_case_no(s, scope="complaint", prefix="TS", year=year, idempotency_key=key,
                                   fingerprint=request_fingerprint(body or {"key": key}), now=AT)


async def test_numbering_on_postgres(maker) -> None:
    assert await _claim(maker, key="k1") == ("TS-2026-000001", True)
    assert await _claim(maker, key="k2") == ("TS-2026-000002", True)
    assert await _claim(maker, key="k1") == ("TS-2026-000001", False)   # the same key: the same case
    with pytest.raises(IdempotencyConflict):
        await _claim(maker, key="k1", body={"other": "body"})
    assert await _claim(maker, key=None) == ("TS-2026-000003", True)

    # 20 concurrent claims, each on its own session/connection: 20 distinct, consecutive numbers
    results = await asyncio.gather(*(_claim(maker, key=f"c{i}") for i in range(20)))
    assert all(new for _, new in results)
    assert sorted(no for no, _ in results) == [f"TS-2026-{n:06d}" for n in range(4, 24)]

    # ... also when the year's counter row does not exist yet (concurrent first INSERTs)
    results = await asyncio.gather(*(_claim(maker, key=f"y{i}", year=2027) for i in range(20)))
    assert sorted(no for no, _ in results) == [f"TS-2027-{n:06d}" for n in range(1, 21)]

    # the same new key raced by 8 requests: one case, one number taken, the rest get that case
    results = await asyncio.gather(*(_claim(maker, key="raced") for _ in range(8)))
    assert len({no for no, _ in results}) == 1 and sum(new for _, new in results) == 1
    assert results[0][0] == "TS-2026-000024"
    assert await _claim(maker, key="after") == ("TS-2026-000025", True)  # no number lost to the race

    async with maker() as s:
        counters = {(c.prefix, c.year): c.last_value for c in (await s.scalars(select(CaseCounter))).all()}
    assert counters == {("TS", 2026): 25, ("TS", 2027): 20}


# ---- d. the deposit ledger -----------------------------------------------------------------------
async def test_deposit_ledger_on_postgres(maker) -> None:
    async with maker() as s:
        await ledger.put_contractor(s, "C-001", "青岛建工", Decimal("500000.00"), by="finance", at=AT)
        booked = [(await ledger.deduct_once(s, entry_key="WX-2026-000001:deduction", contractor_id="C-001",
                                            case_no="WX-2026-000001", amount=Decimal("1234.56"), note="type A",
                                            at=AT)).booked_now
                  for _ in range(2)]
        assert booked == [True, False]

    async def deduct(i: int) -> bool:  # a retried activity racing itself: separate connections
        async with maker() as s:
            return (await ledger.deduct_once(s, entry_key="WX-2026-000002:deduction", contractor_id="C-001",
                                             case_no="WX-2026-000002", amount=Decimal("0.10"), note="type B",
                                             at=AT)).booked_now

    assert sorted(await asyncio.gather(*(deduct(i) for i in range(10)))) == [False] * 9 + [True]

    async with maker() as s:
        await ledger.put_contractor(s, "C-001", "青岛建工集团", None, by="finance", at=AT)  # renamed
        statement = await ledger.deposit_statement(s, "C-001")
        assert await ledger.deposit_statement(s, "C-NONE") is None
    assert statement["name"] == "青岛建工集团"
    assert statement["initial_deposit"] == Decimal("500000.00")
    balance = statement["balance"]
    assert isinstance(balance, Decimal) and balance == Decimal("498765.34") and str(balance) == "498765.34"
    assert balance.as_tuple().exponent == -2
    assert [e["amount"] for e in statement["entries"]] == [Decimal("500000.00"), Decimal("-1234.56"), Decimal("-0.10")]
    assert [str(e["amount"]) for e in statement["entries"]] == ["500000.00", "-1234.56", "-0.10"]
    assert statement["entries"][1]["at"] == AT

    # A3: concurrent deductions of different cases never take the deposit below zero (the row lock)
    async with maker() as s:
        await ledger.put_contractor(s, "C-002", "小公司", Decimal("100.00"), by="finance", at=AT)

    async def spend(i: int):
        async with maker() as s:
            return await ledger.deduct_once(s, entry_key=f"WX-9{i}:deduction", contractor_id="C-002",
                                            case_no=f"WX-9{i}", amount=Decimal("30.00"), note="type A", at=AT)

    outcomes = await asyncio.gather(*(spend(i) for i in range(5)))
    assert sum(o.deducted for o in outcomes) == Decimal("100.00")
    assert sum(o.shortfall for o in outcomes) == Decimal("50.00")
    async with maker() as s:
        assert (await ledger.deposit_statement(s, "C-002"))["balance"] == Decimal("0.00")

    # R9 on the same database: every evaluation kept, summed per worker and quarter, a repeat adds nothing
    async with maker() as s:
        for key, q, a in (("WX-1:round-1:revisit", 2, 2), ("WX-1:round-1:revisit", 2, 2), ("WX-1:round-2:revisit", 5, 5)):
            await ledger.record_evaluation(s, evaluation_key=key, case_no="WX-1", workers=["wang", "li"],
                                           source="revisit", parts=1, quality=q, attitude=a, at=AT, tz="Asia/Shanghai")
        report = await ledger.worker_report(s, "2026Q4")
    assert [(w["worker"], w["evaluations"], w["quality_total"]) for w in report] == [("li", 2, 7), ("wang", 2, 7)]


# ---- e. case configuration and the calendar store ------------------------------------------------
async def test_calendar_store_and_case_config_on_postgres(maker, pg_settings) -> None:
    package = {y.year: y for y in calendar_store.package_years()}
    async with maker() as s:
        inserted = await calendar_store.seed_from_chinese_calendar(s)
        assert inserted == sorted(package)
        assert await calendar_store.seed_from_chinese_calendar(s) == []  # idempotent
        assert await calendar_store.years_with_data(s) == sorted(package)

    acts = CaseActivities(maker, pg_settings)
    last = max(package)
    config = await ActivityEnvironment().run(acts.load_case_config, ConfigRequest(years=[last, last + 1]))
    assert set(config.calendar.years) == {last}           # the next year has no data: fallback
    loaded = config.calendar.years[last]
    assert loaded.holidays == package[last].holidays and loaded.workdays == package[last].workdays
    assert loaded.source == "chinese_calendar"
    assert config.covered_years == [last, last + 1] and config.ladder == pg_settings.escalation_ladder
    assert config.calendar.timezone == pg_settings.timezone
    assert config.calendar.day_start == pg_settings.work_day_start

    # an admin replaces the next year (T4): the seed never overwrites it, the config picks it up
    nxt = last + 1
    admin = YearData(year=nxt, source="admin",
                                    holidays={date(nxt, 1, 1): "元旦", date(nxt, 10, 1): "国庆节"},
                                    workdays={date(nxt, 9, 26): "国庆节调休"})
    async with maker() as s:
        await calendar_store.put_year(s, admin)
        await calendar_store.put_year(s, admin)  # replacing again: same rows, no duplicates
        assert await calendar_store.seed_from_chinese_calendar(s) == []
    config = await ActivityEnvironment().run(acts.load_case_config, ConfigRequest(years=[nxt]))
    assert config.calendar.years[nxt].holidays == admin.holidays
    assert config.calendar.years[nxt].workdays == admin.workdays
    assert config.calendar.years[nxt].source == "admin"


# ---- f. the register -----------------------------------------------------------------
async def test_register_filters_and_cursor_pages_on_postgres(maker) -> None:
    """The same keyset paging on PostgreSQL: ties on received_at, every page, totals, a caller's predicate,
    and the filters served by the register's indexes (planner statistics from the migration's ANALYZE)."""
    from sqlalchemy import insert

    from adapters.db.register import RegisterQuery, encode_cursor, read_register
    from tests.test_register import FILTERS, ROWS, newest_first, walk

    async with maker() as s:
        await s.execute(insert(Case), ROWS)
        await s.commit()
    for size in (1, 3, 7):
        assert await walk(maker, RegisterQuery(), page_size=size) == newest_first(ROWS)
    for q, keep in FILTERS:
        assert await walk(maker, q, page_size=4) == newest_first([r for r in ROWS if keep(r)]), q
    visible = [Case.department == "工程部"]
    assert await walk(maker, RegisterQuery(type="repair"), page_size=2, where=visible) == newest_first(
        [r for r in ROWS if r["department"] == "工程部" and r["case_type"] == "repair"])
    oldest = min(ROWS, key=lambda r: (r["received_at"], r["case_no"]))
    async with maker() as s:
        past = await read_register(s, RegisterQuery(), page_size=5,
                                   cursor=encode_cursor(oldest["received_at"], oldest["case_no"]))
        capped = await read_register(s, RegisterQuery(), page_size=5, cap=10)
    assert (past.items, past.next) == ([], None)
    assert (capped.total, capped.total_is_estimate) == (10, True)
    assert all(i["received_at"].utcoffset() == timedelta(0) for i in capped.items)


# ---- g. text with NUL never reaches the projection ---------------------------------------
async def test_a_text_with_NUL_can_no_longer_reach_the_projection_on_postgres(maker, pg_settings) -> None:
    """A NUL used to stop a case's projection on PostgreSQL for good (CharacterNotInRepertoireError,
    retried forever). Every text of a request now refuses it, and what the text types accept (CJK,
    full-width, emoji, newline and tab in long text) is stored."""
    from pydantic import TypeAdapter, ValidationError

    with pytest.raises(ValidationError, match="control characters"):
        Customer(name="王\x00女士", phone="13812341234", project="融侨城", building="5栋", unit="1203")
    with pytest.raises(ValidationError, match="control characters"):
        TypeAdapter(A.CaseAction).validate_python({"action": "progress_note", "note": "已联系\x00业主"})

    acts, env = CaseActivities(maker, pg_settings), ActivityEnvironment()
    accepted = ComplaintIntake(customer=Customer(name="王女士😀", phone="0591-87654321", project="融侨城（一期）",
                                                 building="5栋", unit="１２０３"),
                               channel=Channel.phone, category="漏水", description="卫生间天花板漏水\n\t已两天")
    case, _ = ComplaintCase.open("TS-2026-000077", accepted, who(Role.hotline), _ctx(MONDAY_10))
    case.apply(A.Classify(action="classify", category="使用不当", department="工程部", justified=False,
                          reply="系业主自行改造导致"), who(Role.cs_staff), _ctx(MONDAY_10))
    case.apply(A.Decide(action="decide", decision="approve"), who(Role.cs_manager), _ctx(MONDAY_10))  # C2 ruled:
    # closed, the view is sent
    await env.run(acts.project_case, _projection(case, MONDAY_10, 0))
    row, _ = await stored(maker, "TS-2026-000077")
    assert row.customer_name == "王女士😀" and "\n\t" in row.view["description"]

    # what the refusal prevents: the same case with a NUL that skipped validation cannot be stored
    broken = case.state.model_copy(deep=True)
    broken.case_no, broken.customer = "TS-2026-000078", Customer.model_construct(**{**accepted.customer.model_dump(),
                                                                                   "name": "王\x00女士"})
    case.state = broken
    with pytest.raises(Exception, match="0x00|NUL|null character|CharacterNotInRepertoire"):
        await env.run(acts.project_case, _projection(case, MONDAY_10, 0))


# ---- h. the projection's writes: the scenarios of tests/test_projection.py ---------------
async def test_the_closing_projection_alone_carries_the_view_on_postgres(maker, pg_settings) -> None:
    from tests.test_projection import closing_case_sends_its_view_once
    await closing_case_sends_its_view_once(maker, pg_settings)


async def test_concurrent_projections_are_committed_together_on_postgres(maker, pg_settings) -> None:
    from tests.test_projection import concurrent_projections_are_committed_together
    await concurrent_projections_are_committed_together(maker, pg_settings)


async def test_a_projection_of_older_workflow_code_is_accepted_on_postgres(maker, pg_settings) -> None:
    from tests.test_projection import projection_of_older_workflow_code_is_accepted
    await projection_of_older_workflow_code_is_accepted(maker, pg_settings)


async def test_the_register_reminds_of_missed_progress_notes_on_postgres(pg: TemporaryPostgres) -> None:
    """E4 / C5: the sweep's row locks (FOR UPDATE SKIP LOCKED) and datetime arithmetic on
    PostgreSQL: the same scenarios as on SQLite (tests/test_reminders.py), each on a fresh database."""
    from tests import test_reminders as t
    for scenario in (t.test_C5_E4_the_register_reminds_of_a_missed_progress_note_every_4_working_hours,
                     t.test_C5_E4_a_progress_note_starts_the_reminders_again_from_the_next_due_time,
                     t.test_E4_closed_cases_are_not_reminded_of):
        url = pg.create_database(f"t_{uuid.uuid4().hex[:16]}")
        await asyncio.to_thread(upgrade_to_head, url)
        eng = make_engine(url)
        try:
            maker = make_sessionmaker(eng)
            async with maker() as s:
                await calendar_store.seed_from_chinese_calendar(s)
            await scenario(t.Register(maker, Settings(database_url=url, bcrypt_rounds=4)))
        finally:
            await eng.dispose()


@pytest.mark.asyncio
async def test_E3_once_per_recipient_across_attempts_and_workers_on_postgres(maker) -> None:
    from tests.test_deliveries import check_batch_once_per_recipient, check_once_per_recipient
    await check_once_per_recipient(maker)
    await check_batch_once_per_recipient(maker)
