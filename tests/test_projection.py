"""The projection's writes on the migrated SQLite read model (the same
scenarios run on PostgreSQL in tests/test_postgres.py): only what changed is sent (the row's columns
and the new timeline entries; the view once, when the case closes, without its timeline), idempotent
and monotonic, concurrent projections committed together, projections of older workflow code
accepted, and SQLite in WAL mode with a busy timeout."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.cases import CaseActivities
from tests.support import codec
from tests.support.sqlite_lock import WriteLock, short_busy_timeout
from aftersales import actions as A
from aftersales.case import Ctx, Customer
from aftersales.complaint import ComplaintCase
from aftersales.complaint.state import Channel, ComplaintIntake
from adapters.config import Settings
from adapters.db.migrate import upgrade_to_head
from adapters.db.models import Case, TimelineEntry
from adapters.db.register import register_case_view
from adapters.db.session import make_engine, make_sessionmaker
from aftersales.roles import Role
from aftersales.views import case_row, case_view
from tests.rules.driver import CAL, LADDER, MONDAY_10, who
from contracts.case import CaseProjection

PHONE = "13812341234"


def intake(building: str = "5栋") -> ComplaintIntake:
    return ComplaintIntake(customer=Customer(name="王女士", phone=PHONE, project="融侨城", building=building,
                                             unit="1203"),
                           channel=Channel.phone, category="漏水", description=f"卫生间漏水，回电 {PHONE}")


def ctx(at: datetime) -> Ctx:
    return Ctx(now=at.astimezone(timezone.utc), cal=CAL, ladder=LADDER)


def projection(case: ComplaintCase, now: datetime, start: int) -> CaseProjection:
    """As the workflow sends it, through JSON as Temporal carries it."""
    s = case.state
    p = CaseProjection(case_no=s.case_no, seq=s.seq, row=case_row(s, now, LADDER), timeline_start=start,
                       timeline=s.timeline[start:])
    return CaseProjection.model_validate_json(p.model_dump_json())


async def stored(maker, case_no: str) -> tuple[Case, list[TimelineEntry]]:
    async with maker() as s:
        row = await s.get(Case, case_no)
        timeline = (await s.scalars(select(TimelineEntry).where(TimelineEntry.case_no == case_no)
                                    .order_by(TimelineEntry.idx))).all()
    return row, list(timeline)


async def closing_case_sends_its_view_once(maker, settings: Settings) -> None:
    """Open: the row's columns and the new entries only (no view). Closed: the view, without the
    timeline, phone masked; a late projection of the open case (lower seq) changes nothing; GET
    /cases/{no}'s register answer is that view with the timeline rows."""
    acts, env = CaseActivities(maker, settings), ActivityEnvironment()
    case, _ = ComplaintCase.open("TS-2026-000101", intake(), who(Role.hotline), ctx(MONDAY_10))
    opened = projection(case, MONDAY_10, 0)
    assert opened.row.view is None and len(opened.timeline) == len(case.state.timeline)
    later = MONDAY_10 + timedelta(hours=1)
    case.apply(A.Classify(action="classify", category="使用不当", department="工程部", justified=False,
                          reply="系业主自行改造导致"), who(Role.cs_staff), ctx(later))
    case.apply(A.Decide(action="decide", decision="approve"), who(Role.cs_manager), ctx(later))  # C2 ruled
    assert case.state.closed
    closing = projection(case, later, len(opened.timeline))
    assert closing.row.view is not None and "timeline" not in closing.row.view
    assert len(closing.timeline) == len(case.state.timeline) - len(opened.timeline)   # only the new entries

    await env.run(acts.project_case, closing)
    await env.run(acts.project_case, opened)   # late, lower seq: the row stays closed, the view stays
    row, timeline = await stored(maker, "TS-2026-000101")
    assert (row.status, row.seq, row.outcome) == ("closed", case.state.seq, "unjustified")
    assert row.view == closing.row.view and PHONE not in str(row.view)
    assert [t.idx for t in timeline] == list(range(len(case.state.timeline)))
    assert all(PHONE not in t.text for t in timeline)

    async with maker() as s:
        answer = await register_case_view(s, row)
    assert answer["source"] == "register" and answer["status"] == "closed" and PHONE not in str(answer)
    assert [t["kind"] for t in answer["timeline"]] == [t.kind for t in case.state.timeline]


async def concurrent_projections_are_committed_together(maker, settings: Settings, n: int = 20) -> None:
    """n actions at once: every row and entry stored once, in fewer transactions than projections; each
    case's projections replayed out of order and twice change nothing."""
    acts, env = CaseActivities(maker, settings), ActivityEnvironment()
    cases = [ComplaintCase.open(f"TS-2026-{i:06d}", intake(f"{i}栋"), who(Role.hotline), ctx(MONDAY_10))[0]
             for i in range(200, 200 + n)]
    firsts = [projection(c, MONDAY_10, 0) for c in cases]
    later = MONDAY_10 + timedelta(minutes=5)
    for c in cases:
        c.apply(A.Classify(action="classify", category="漏水", department="工程部", justified=True),
                who(Role.cs_staff), ctx(later))
    seconds = [projection(c, later, len(f.timeline)) for c, f in zip(cases, firsts)]
    await asyncio.gather(*(env.run(acts.project_case, p) for p in firsts))
    await asyncio.gather(*(env.run(acts.project_case, p) for p in seconds + firsts + seconds))
    assert acts.writer.batches < 4 * n
    async with maker() as s:
        rows = (await s.scalars(select(Case).where(Case.case_no.like("TS-2026-0002%")))).all()
        entries = await s.scalar(select(func.count()).select_from(TimelineEntry)
                                 .where(TimelineEntry.case_no.like("TS-2026-0002%")))
    assert sorted((r.case_no, r.seq, r.status) for r in rows) == [(c.state.case_no, c.state.seq, c.state.status)
                                                                   for c in cases]
    assert entries == sum(len(c.state.timeline) for c in cases)


async def projection_of_older_workflow_code_is_accepted(maker, settings: Settings) -> None:
    """A retry of a projection scheduled by code before this change (the whole view in the row while
    open) is still written; the next projection without a view keeps it until the closing one."""
    acts, env = CaseActivities(maker, settings), ActivityEnvironment()
    case, _ = ComplaintCase.open("TS-2026-000301", intake(), who(Role.hotline), ctx(MONDAY_10))
    old = projection(case, MONDAY_10, 0).model_dump(mode="json")
    old["row"]["view"] = case_view(case.state, MONDAY_10, LADDER) | {"customer": {"phone": "138****1234"}}
    await env.run(acts.project_case, CaseProjection.model_validate(old))
    case.apply(A.Classify(action="classify", category="漏水", department="工程部", justified=True),
               who(Role.cs_staff), ctx(MONDAY_10))
    await env.run(acts.project_case, projection(case, MONDAY_10, len(old["timeline"])))
    row, timeline = await stored(maker, "TS-2026-000301")
    assert row.seq == case.state.seq and row.view is not None and len(timeline) == len(case.state.timeline)


@pytest_asyncio.fixture
async def maker(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # a worker's settings: with the codec's keys, which also seal the owner's number of a queued SMS (O5)
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}", bcrypt_rounds=4,
                    sms_outbox_file=str(tmp_path / "sms-outbox.log"), **codec.CODEC)


async def test_the_closing_projection_alone_carries_the_view(maker, settings) -> None:
    await closing_case_sends_its_view_once(maker, settings)


async def test_concurrent_projections_are_committed_together_once_each(maker, settings) -> None:
    await concurrent_projections_are_committed_together(maker, settings)


async def test_a_projection_of_older_workflow_code_is_accepted(maker, settings) -> None:
    await projection_of_older_workflow_code_is_accepted(maker, settings)


async def test_projections_wait_out_a_write_lock_held_past_the_busy_timeout(tmp_path, settings) -> None:
    """Another process (the other worker's projections, an API's intake) holds SQLite's one write lock for a
    second, longer than the busy timeout: twenty actions' projections wait their turn inside the activity and
    are all written, none fails (a projection failing until the end was an action lost from the register)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    engine = short_busy_timeout(make_engine(url), 100)
    try:
        acts, env = CaseActivities(make_sessionmaker(engine), settings), ActivityEnvironment()
        cases = [ComplaintCase.open(f"TS-2026-{i:06d}", intake(f"{i}栋"), who(Role.hotline), ctx(MONDAY_10))[0]
                 for i in range(500, 520)]
        lock = WriteLock(tmp_path / "read-model.db")
        await asyncio.to_thread(lock.hold, 1.0)
        await asyncio.gather(*(env.run(acts.project_case, projection(c, MONDAY_10, 0)) for c in cases))
        async with make_sessionmaker(engine)() as s:
            written = await s.scalar(select(func.count()).select_from(Case).where(Case.case_no.like("TS-2026-0005%")))
        assert written == len(cases)
    finally:
        await asyncio.to_thread(lock.wait_released)
        await engine.dispose()


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(maker) -> None:
    async with maker() as s:
        assert (await s.scalar(text("PRAGMA journal_mode"))).lower() == "wal"
        assert await s.scalar(text("PRAGMA busy_timeout")) >= 5000


def test_E4_C5_a_projection_stays_the_same_size_however_many_progress_notes_the_case_has() -> None:
    """Each C5 progress note sets the next one's deadline, so a case's deadlines grow with its age; the
    projection sends the latest deadline of each key (what case_deadlines keeps), so its size per step
    does not grow (constant-size payloads)."""
    case, _ = ComplaintCase.open("TS-2026-000401", intake(), who(Role.hotline), ctx(MONDAY_10))
    case.apply(A.Classify(action="classify", category="漏水", department="工程部", justified=True),
               who(Role.cs_staff), ctx(MONDAY_10))
    sizes = []
    for i in range(40):
        at = MONDAY_10 + timedelta(minutes=10 * (i + 1))
        case.apply(A.ProgressNote(action="progress_note", note=f"第{i + 1}次联系业主"), who(Role.cs_staff), ctx(at))
        p = projection(case, at, len(case.state.timeline) - 1)
        sizes.append(len(p.model_dump_json()))
        keys = {d.key for d in case.state.deadlines}
        assert sorted(d.key for d in p.row.deadlines) == sorted(keys)
        latest = {d.key: d for d in case.state.deadlines}
        assert all(f.due_at == latest[f.key].due_at and f.met_at == latest[f.key].met_at for f in p.row.deadlines)
    assert len(case.state.deadlines) > 40 > len(keys)
    later = MONDAY_10 + timedelta(days=30)  # the view shows every deadline, each as Deadline.view has it
    assert case_view(case.state, later, LADDER)["deadlines"] == [d.view(later) for d in case.state.deadlines]
    assert max(sizes[5:]) - min(sizes[5:]) < 100, sizes  # only the note's number grows a digit
