"""E4 / C5 / R1-S3: the register reminds of missed progress notes, one digest per
recipient per sweep, on the migrated SQLite read model: due at the note's due time, again every 4 working
hours (T-calendar) until a note is recorded, never twice for one sweep (a retried activity), never for
a closed case; a long backlog is counted, not listed."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import reminders
from activities.cases import CaseActivities
from activities.reminders import ReminderActivities
from aftersales import actions as A
from aftersales import messages
from aftersales.case import Ctx, Customer
from aftersales.complaint import ComplaintCase
from aftersales.complaint.state import Channel, ComplaintIntake
from adapters.config import Settings
from adapters.db.calendar_store import seed_from_chinese_calendar
from adapters.db.migrate import upgrade_to_head
from adapters.db.models import CaseDeadline
from adapters.db.session import make_engine, make_sessionmaker
from aftersales.roles import Role
from aftersales.views import case_row
from tests.rules.driver import CAL, CST, LADDER, MONDAY_10, who
from contracts.case import CaseProjection, ReminderSweep

PHONE = "13812341234"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CST)


def ctx(now: datetime) -> Ctx:
    return Ctx(now=now.astimezone(timezone.utc), cal=CAL, ladder=LADDER)


def open_complaint(no: int, now: datetime = MONDAY_10) -> ComplaintCase:
    intake = ComplaintIntake(customer=Customer(name="王女士", phone=PHONE, project="融侨城", building=f"{no}栋",
                                               unit="1203"),
                             channel=Channel.phone, category="漏水", description=f"卫生间漏水，回电 {PHONE}")
    case, _ = ComplaintCase.open(f"TS-2026-{no:06d}", intake, who(Role.hotline), ctx(now))
    return case


class Register:
    def __init__(self, maker, settings: Settings) -> None:
        self.cases, self.reminders = CaseActivities(maker, settings), ReminderActivities(maker, settings)
        self.env, self.maker, self.sent = ActivityEnvironment(), maker, {}

    async def project(self, case: ComplaintCase, now: datetime) -> None:
        s = case.state
        p = CaseProjection(case_no=s.case_no, seq=s.seq, row=case_row(s, now, LADDER), timeline_start=0,
                           timeline=s.timeline)
        await self.env.run(self.cases.project_case, CaseProjection.model_validate_json(p.model_dump_json()))

    async def sweep(self, sweep_id: str, now: datetime):
        return await self.env.run(self.reminders.collect_due_reminders, ReminderSweep(sweep_id=sweep_id, now=now))

    async def progress(self, case_no: str) -> CaseDeadline:
        async with self.maker() as s:
            return await s.scalar(select(CaseDeadline).where(CaseDeadline.case_no == case_no,
                                                             CaseDeadline.key == "progress"))


@pytest_asyncio.fixture
async def register(tmp_path: Path) -> AsyncIterator[Register]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    engine = make_engine(url)
    maker: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
    async with maker() as s:  # commits
        await seed_from_chinese_calendar(s)
    yield Register(maker, Settings(database_url=url, bcrypt_rounds=4))
    await engine.dispose()


async def test_C5_E4_the_register_reminds_of_a_missed_progress_note_every_4_working_hours(register):
    case = open_complaint(1)
    await register.project(case, MONDAY_10)
    row = await register.progress(case.state.case_no)
    assert row.reminds and row.owners == "butler,cs_staff" and row.next_remind_at is None

    assert await register.sweep("s0", at(23, 13, 59)) == []                  # due 14:00 (4 working hours)
    first = await register.sweep("s1", at(23, 14, 5))
    assert [(n.roles, n.department) for n in first] == [([Role.butler], None), ([Role.cs_staff], None)]
    digest = first[0].digest
    assert [m.case.case_no for m in digest.messages] == ["TS-2026-000001"] and digest.more == 0
    text = messages.digest_text(digest, "https://cs.example.cn")
    assert "TS-2026-000001" in text and "融侨城1栋1203" in text and "向业主通报进度" in text
    assert "2026-11-23 14:00" in text and "/app/cases/TS-2026-000001" in text and PHONE not in text
    assert first[0].notification_id == "s1:butler"                          # a retried send delivers once (E3)

    assert await register.sweep("s1", at(23, 14, 5)) == first                # the same sweep retried: the same
    row = await register.progress(case.state.case_no)
    assert row.reminders_sent == 1 and row.next_remind_at.replace(tzinfo=timezone.utc) == at(23, 18)
    assert await register.sweep("s2", at(23, 17, 59)) == []                  # 4 working hours after the first
    assert len(await register.sweep("s3", at(23, 18, 0))) == 2
    row = await register.progress(case.state.case_no)                        # 18:00 + 4 h: Tuesday 13:00
    assert row.reminders_sent == 2 and row.next_remind_at.replace(tzinfo=timezone.utc) == at(24, 13)


async def test_C5_E4_a_progress_note_starts_the_reminders_again_from_the_next_due_time(register):
    case = open_complaint(2)
    await register.project(case, MONDAY_10)
    assert len(await register.sweep("s1", at(23, 14, 5))) == 2
    case.apply(A.ProgressNote(action="progress_note", note="已联系工程部"), who(Role.butler), ctx(at(23, 15)))
    await register.project(case, at(23, 15))
    row = await register.progress(case.state.case_no)
    assert row.due_at.replace(tzinfo=timezone.utc) == at(24, 10)            # 15:00 + 4 working hours
    assert (row.next_remind_at, row.reminders_sent, row.met_at) == (None, 0, None)
    assert await register.sweep("s2", at(23, 18)) == []                      # the new note is not due yet
    assert await register.sweep("s3", at(24, 9, 59)) == []
    assert len(await register.sweep("s4", at(24, 10))) == 2


async def test_E4_closed_cases_are_not_reminded_of(register):
    closed = open_complaint(4)
    later = MONDAY_10 + timedelta(minutes=30)
    closed.apply(A.Classify(action="classify", category="使用不当", department="工程部", justified=False,
                            reply="系业主自行改造导致"), who(Role.cs_staff), ctx(later))
    closed.apply(A.Decide(action="decide", decision="approve"), who(Role.cs_manager), ctx(later))
    assert closed.state.closed
    await register.project(closed, later)
    assert await register.sweep("s1", at(25, 10)) == []


async def test_E4_a_long_backlog_is_counted_in_the_digest_not_listed(register, monkeypatch):
    monkeypatch.setattr(reminders, "DIGEST_LISTED", 2)
    for no in (11, 12, 13):
        await register.project(open_complaint(no), MONDAY_10)
    [butler, _] = await register.sweep("s1", at(23, 14, 5))
    assert len(butler.digest.messages) == 2 and butler.digest.more == 1
    assert "3 件案件待办" in messages.digest_subject(butler.digest)
    assert "另有 1 件未逐一列出" in messages.digest_text(butler.digest, "https://cs.example.cn")
