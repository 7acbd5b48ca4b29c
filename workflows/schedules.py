"""Reports (K1, K2) and campaign proposals (V1, V2) on a calendar as Temporal Schedules, created at start and kept up to date, visible
on the Web UI's Schedules page and in `temporal schedule list`.

    report-weekly_complaints    Monday 09:00 Beijing time, the previous ISO week
    report-monthly_complaints   the 1st, 09:00, the previous month (statistics due by the 10th)
    report-monthly_repairs      the 1st, 09:00, the previous month
    report-quarterly            1 January / April / July / October, 09:30, the previous quarter
    report-yearly               2 January, 09:30, the previous year
    report-paid_services        the 1st, 09:15, the previous month's paid-service register (R3)
    report-rework_daily         17:00 every day; the run skips days off by the T-calendar (K2)
    campaign-proposal-first     08:30 every day: V1 proposed for projects that reached 50% occupancy
    campaign-proposal-annual    5 January, 09:00: the year's V2 proposed per project
    reminders-progress          every digest window (E4, one working hour; scaled on demo time): the
                                register's progress reminders (rules 5), one digest per recipient
    files-orphan-sweep          every files_orphan_sweep_minutes (60): stored files no case references,
                                older than files_orphan_grace_hours, removed (D3, D4)

Each report run makes every active company its own report (mailed to that company's readers, the monthly
complaint statistics reviewed by its own gm) and the group's roll-up (the group's accounts), K and P5
(workflows/reports.py). A run the server missed (it was down) is made once when it is back, within the catch-up window, and
never twice: the schedule buffers at most one run, and the report of a period is generated once
(the activity finds the one already made for that period)."""

import math
from datetime import timedelta

import structlog
from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleCalendarSpec,
    ScheduleIntervalSpec, ScheduleOverlapPolicy, SchedulePolicy, ScheduleRange, ScheduleSpec, ScheduleUpdate,
    ScheduleUpdateInput,
)

from aftersales.campaign import CampaignKind
from adapters.config import Settings
from aftersales.reports import ReportKind

log = structlog.get_logger()

CATCHUP_WINDOW = timedelta(days=7)
MIN_INTERVAL = timedelta(seconds=1)  # the shortest interval a Temporal Schedule takes


def _at(*, hour: int, minute: int = 0, day_of_week: int | None = None, day_of_month: int | None = None,
        months: tuple[int, ...] | None = None) -> ScheduleCalendarSpec:
    return ScheduleCalendarSpec(
        hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)], second=[ScheduleRange(0)],
        day_of_week=[ScheduleRange(day_of_week)] if day_of_week is not None else [ScheduleRange(0, 6)],
        day_of_month=[ScheduleRange(day_of_month)] if day_of_month is not None else [ScheduleRange(1, 31)],
        month=[ScheduleRange(m) for m in months] if months else [ScheduleRange(1, 12)],
    )


CALENDARS: dict[ReportKind, ScheduleCalendarSpec] = {
    ReportKind.weekly_complaints: _at(hour=9, day_of_week=1),
    ReportKind.monthly_complaints: _at(hour=9, day_of_month=1),
    ReportKind.monthly_repairs: _at(hour=9, day_of_month=1),
    ReportKind.quarterly: _at(hour=9, minute=30, day_of_month=1, months=(1, 4, 7, 10)),
    ReportKind.yearly: _at(hour=9, minute=30, day_of_month=2, months=(1,)),
    ReportKind.paid_services: _at(hour=9, minute=15, day_of_month=1),   # R3, K2: last month's register
    ReportKind.rework_daily: _at(hour=17),   # K2: 17:00 every day; the workflow skips days off (T-calendar)
}


PROPOSALS: dict[CampaignKind, ScheduleCalendarSpec] = {
    CampaignKind.first: _at(hour=8, minute=30),                       # V1: every day
    CampaignKind.annual: _at(hour=9, day_of_month=5, months=(1,)),    # V2: once a year, early January
}


def schedule_id(kind: ReportKind, prefix: str = "") -> str:
    return f"{prefix}report-{kind.value}"


def proposal_schedule_id(kind: CampaignKind, prefix: str = "") -> str:
    return f"{prefix}campaign-proposal-{kind.value}"


def _schedule(run, arg: str, sid: str, calendar: ScheduleCalendarSpec, settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(run, arg, id=sid, task_queue=settings.task_queue),
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=settings.timezone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE, catchup_window=CATCHUP_WINDOW),
    )


def reminders_schedule_id(prefix: str = "") -> str:
    return f"{prefix}reminders-progress"


def _reminder_sweeps(settings: Settings, sid: str) -> Schedule:
    """E4 (rules 5): the register's progress reminders once per digest window. A sweep still running when
    the next is due is skipped (the next one finds what it left); after an outage one sweep catches up."""
    from activities.notify import digest_window
    from workflows.digest import ReminderSweepWorkflow

    # Temporal refuses an interval under a second ("interval is too small"): on a short demo day the
    # window is a fraction of a second, so the sweep runs every second instead (it finds what is due then).
    window = max(timedelta(seconds=math.ceil(digest_window(settings).total_seconds())), MIN_INTERVAL)
    return Schedule(
        action=ScheduleActionStartWorkflow(ReminderSweepWorkflow.run, settings.notification_give_up_hours, id=sid,
                                           task_queue=settings.task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=window)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(window, timedelta(minutes=1))),
    )


def files_sweep_schedule_id(prefix: str = "") -> str:
    return f"{prefix}files-orphan-sweep"


def _files_sweeps(settings: Settings, sid: str) -> Schedule:
    """D3/D4: the blobs no case references, past their grace, removed; a sweep still running is not doubled."""
    from workflows.files import FileSweepWorkflow

    every = max(timedelta(minutes=settings.files_orphan_sweep_minutes), MIN_INTERVAL)
    return Schedule(
        action=ScheduleActionStartWorkflow(FileSweepWorkflow.run, settings.files_orphan_grace_hours, id=sid,
                                           task_queue=settings.task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every))


def all_schedules(settings: Settings, prefix: str = "") -> dict[str, Schedule]:
    """Every schedule of this release by id: the reports (K1, K2), the campaign proposals (V1, V2) and
    the progress reminders (E4)."""
    from workflows.campaign_proposals import CampaignProposalWorkflow
    from workflows.reports import ScheduledReportWorkflow

    schedules = {schedule_id(kind, prefix): _schedule(ScheduledReportWorkflow.run, kind.value, schedule_id(kind, prefix),
                                                      calendar, settings) for kind, calendar in CALENDARS.items()}
    for kind, calendar in PROPOSALS.items():
        sid = proposal_schedule_id(kind, prefix)
        schedules[sid] = _schedule(CampaignProposalWorkflow.run, kind.value, sid, calendar, settings)
    schedules[reminders_schedule_id(prefix)] = _reminder_sweeps(settings, reminders_schedule_id(prefix))
    schedules[files_sweep_schedule_id(prefix)] = _files_sweeps(settings, files_sweep_schedule_id(prefix))
    return schedules


async def ensure_schedules(client: Client, settings: Settings, prefix: str = "") -> list[str]:
    """Creates each schedule, or brings an existing one to this release's spec. Idempotent."""
    ids = []
    for sid, schedule in all_schedules(settings, prefix).items():
        try:
            await client.create_schedule(sid, schedule)
            log.info("schedule created", schedule_id=sid)
        except ScheduleAlreadyRunningError:
            def update(_: ScheduleUpdateInput, schedule: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)
            await client.get_schedule_handle(sid).update(update)
        ids.append(sid)
    return ids
