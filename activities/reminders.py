"""E4 (rules 5): the register reminds of missed progress notes (C5 for complaints, R1/S3 for repairs).

A case opened under rules 5 does not wake for a deadline that does not escalate: with 10,000 open cases,
one timer per case every 4 working hours kept the worker replaying cases just to say "progress is due". Instead, once per digest window, `collect_due_reminders` asks the register for the progress
notes whose reminder is due (`case_deadlines.reminds`, open, due — or due again 4 working hours after the
last reminder, counted on the T-calendar), advances each one, and returns one digest per recipient (role,
and department for department roles): the owners read one message listing their cases, as before.

Exactly once per window, also when retried: each row the sweep reminds of is marked with the sweep's id
(`reminded_by`) in the same transaction; a retry of the same sweep finds those rows again (and does not
advance them twice), a later sweep does not. The notifications go out by the ordinary `send_notification`
activity (workflows/digest.py, `ReminderSweepWorkflow`): the same channels, retries and E3 give-up.

A case opened under rules 1–4 keeps reminding through its own timers (its history says so); the
projection marks only rules-5 progress deadlines `reminds`.
"""

from datetime import datetime

import structlog
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from aftersales import messages
from aftersales.access import DEPARTMENT_ROLES
from aftersales.calendar import WorkCalendar
from aftersales.case import REMINDER_EVERY_WORKING_HOURS
from adapters.config import Settings
from adapters.db import calendar_store
from adapters.db.models import Case, CaseDeadline, Project
from aftersales.org import ROLE_SCOPES, Scope
from adapters.db.register import utc
from aftersales.roles import Role
from contracts.case import Notification, ReminderSweep

log = structlog.get_logger()

# One sweep reminds of at most this many progress notes (a backlog beyond it goes in the next window),
# and a digest lists at most DIGEST_LISTED cases one by one, counting the rest (an e-mail of 5,000
# lines helps nobody; the workbench lists them).
MAX_PER_SWEEP = 5000
DIGEST_LISTED = 100


def next_reminder(cal: WorkCalendar, step: datetime, now: datetime) -> datetime:
    """The reminder after one at `step`: 4 working hours on; a backlog (no sweep for a while) catches up
    with one reminder, not one per 4 hours missed."""
    at = cal.add_working_hours(step, REMINDER_EVERY_WORKING_HOURS)
    while at <= now:
        at = cal.add_working_hours(at, REMINDER_EVERY_WORKING_HOURS)
    return at


def case_facts(c: Case) -> messages.CaseFacts:
    return messages.CaseFacts(case_no=c.case_no, case_type=c.case_type, project=c.project, building=c.building or "",
                              unit=c.unit or "", category=c.category, department=c.department, handler=c.handler)


def reminder_message(c: Case, d: CaseDeadline) -> messages.Message:
    """The same words a case of rules 2–4 used for its own reminder (aftersales.case, `_remind`)."""
    owners = [Role(r) for r in d.owners.split(",") if r]
    name = messages.deadline_name(d.key, owners)
    return messages.Message(
        title=f"{name}已逾期", text=f"{name}应于 {messages.beijing(d.due_at)} 完成，至今未办。", case=case_facts(c),
        items=[messages.DueItem(key=d.key, name=name, rule=d.rule, due_at=utc(d.due_at), missed=True)])


# P5: roles some of whose accounts work for one project (their digests are per project)
PROJECT_ROLES = frozenset(r for r, scopes in ROLE_SCOPES.items() if Scope.project in scopes)


def digests(sweep: ReminderSweep, due: list[tuple[Case, CaseDeadline, str | None]]) -> list[Notification]:
    """One notification per recipient: the owners' roles, department roles per department; P5: per company (the
    case's, or its project's), and for a project's roles per project. A case no company holds: the role's
    accounts, as before."""
    by_recipient: dict[tuple[Role, str | None, str | None, str | None], list[messages.Message]] = {}
    for c, d, company in due:
        message = reminder_message(c, d)
        for role in dict.fromkeys(Role(r) for r in d.owners.split(",") if r):
            department = d.department if role in DEPARTMENT_ROLES else None
            project = c.project_key if company is not None and role in PROJECT_ROLES else None
            by_recipient.setdefault((role, department, company, project), []).append(message)
    out = []
    for (role, department, company, project), listed in sorted(
            by_recipient.items(), key=lambda kv: tuple(v.value if isinstance(v, Role) else v or "" for v in kv[0])):
        digest = messages.Digest(recipient=role.value, window_end=sweep.now, messages=listed[:DIGEST_LISTED],
                                 more=max(0, len(listed) - DIGEST_LISTED))
        scope = "".join(f":{v}" for v in (company, project) if v)
        out.append(Notification(
            notification_id=f"{sweep.sweep_id}:{role.value}{':' + department if department else ''}{scope}",
            case_no="digest", roles=[role], department=department, subject="", body="",
            reason=f"E4 digest of {len(listed)} progress reminders", digest=digest, company_id=company,
            project_key=project))
    return out


async def reminder_calendar(session: AsyncSession, settings: Settings, now: datetime) -> WorkCalendar:
    """The T-calendar the reminders step on (the sweep's, and the register's rebuild, C1)."""
    year = now.astimezone(messages.BEIJING).year
    return WorkCalendar(await calendar_store.load_snapshot(
        session, [year, year + 1], timezone=settings.timezone, day_start=settings.work_day_start,
        day_end=settings.work_day_end, demo_seconds_per_working_day=settings.demo_seconds_per_working_day))


class ReminderActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker, self.settings = sessionmaker, settings

    async def _calendar(self, session: AsyncSession, now: datetime) -> WorkCalendar:
        return await reminder_calendar(session, self.settings, now)

    @activity.defn(name="collect_due_reminders")
    async def collect_due_reminders(self, sweep: ReminderSweep) -> list[Notification]:
        """The digests of the progress notes due by `sweep.now`, each such note advanced to its next
        reminder (4 working hours on) in the same transaction."""
        now = utc(sweep.now)
        D = CaseDeadline
        async with self.sessionmaker() as session, session.begin():
            cal = await self._calendar(session, now)
            query = (select(Case, D, func.coalesce(Case.company_id, Project.company_id))  # P5: the case's company
                     .join(Case, Case.case_no == D.case_no).outerjoin(Project, Project.key == Case.project_key)
                     .where(D.reminds.is_(True), D.met_at.is_(None), D.waived.is_(False), Case.closed_at.is_(None),
                            or_(D.reminded_by == sweep.sweep_id,
                                and_(D.due_at <= now, func.coalesce(D.next_remind_at, D.due_at) <= now)))
                     .order_by(D.due_at, D.case_no).limit(MAX_PER_SWEEP))
            if session.bind.dialect.name == "postgresql":  # two sweeps at once (two workers) take different rows
                query = query.with_for_update(of=D, skip_locked=True)
            due = [(c, d, company) for c, d, company in (await session.execute(query)).all()]
            advanced = [{"b_case_no": d.case_no, "b_key": d.key, "b_next": next_reminder(
                cal, utc(d.next_remind_at) if d.next_remind_at else utc(d.due_at), now)}
                for _, d, _ in due if d.reminded_by != sweep.sweep_id]  # this sweep's retry: already advanced
            if advanced:  # one statement, executed for every row
                t = D.__table__
                await session.execute(update(t).where(t.c.case_no == bindparam("b_case_no"), t.c.key == bindparam("b_key"))
                                      .values(next_remind_at=bindparam("b_next"), reminders_sent=t.c.reminders_sent + 1,
                                              reminded_by=sweep.sweep_id), advanced)
            out = digests(sweep, due)
        log.info("progress reminders collected", reminders=len(due), digests=len(out))
        return out

    def all(self) -> list:
        return [self.collect_due_reminders]
