"""C1: the register (read model) rebuilt from Temporal, for when it is lost or restored from an older backup:

    make rebuild-register                     # resumes an interrupted run
    python -m ops.rebuild_register [--fresh] [--batch 20]

Every case Temporal holds on the deployment's task queue, open or closed within the namespace's retention,
answers the `rebuilt` query (a worker must run: it replays closed cases to answer): its register row as its
last projection wrote it, its whole timeline, its deadlines, and its intake's Idempotency-Key (cases opened
from this release on). Written with the projection's own statements (a row only moves forward by seq, timeline
entries once), so a case that wakes meanwhile and projects itself is not set back; each case's number is
recorded as started, the counters moved past the highest number Temporal holds, and the numbers below it that
no case holds recorded as void with the reason (C1: no silent gaps).

Every revisit campaign (V1–V3) likewise: each run of it answers the `rebuilt` query (the latest run its row as last
projected; each run the visit forms it recorded and the numbers of the cases its points opened, with their keys);
its households (the plan's units and buildings; a campaign planned before the buildings were kept takes them from
the property register, restored first), its number and its request's Idempotency-Key.

K1: each report review (report_reviews) as its workflow has it (its `state` query), open or closed within
retention; the reports themselves are the register's alone (restore them from its backup).

E4: the register's reminder bookkeeping of progress notes (`next_remind_at`, `reminders_sent`, `reminded_by`) is
not in the cases. The reminder sweep is: the newest sweep that asked the register (its `collect_due_reminders`
input in Temporal, found through the `reminders-progress` Schedule) reminded every progress note due by its time
and moved each to its next reminder, a multiple of 4 working hours after the note's due time. So each open
progress note due by then is written as reminded by that sweep, its next reminder the first of those times after
it: exactly what the register held when that sweep saw it whole, and never sooner (no reminder twice; one may
come up to 4 working hours late if that sweep already saw a register being lost). `reminders_sent` is then 1
(at least one: the count was the register's alone). With no sweep found, the rebuild's own time stands for it.

Progress is kept in `register_status` (one row): done / total, the last case rebuilt (cases go in case-number
order; a run interrupted resumes after it), and the state the API reads: while the register is `behind` or
`rebuilding`, intakes answer 503 `register_behind` (a retried intake's key may be among the cases not back yet).
What Temporal no longer keeps (closed cases past retention) comes only from a backup of the read model: restore
that first (docs/operations-backup.md), then rebuild.
"""

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from adapters.config import Settings
from adapters.db.models import Case, CaseCounter, CaseDeadline, CaseNumber, IdempotencyKey, PropertyUnit
from adapters.db.numbering import STARTED, VOID, format_case_no, request_fingerprint
from adapters.db.register import utc
from adapters.db.register_status import (
    BEHIND, OK, REBUILDING, campaigns_query, cases_query, register_state, set_state,
)
from aftersales.calendar import WorkCalendar
from aftersales.privacy import phone_lookup_hash
from contracts.campaign import RebuiltCampaign
from contracts.case import ReminderSweep

log = structlog.get_logger("aftersales.rebuild")

QUERY_SECONDS = 30.0
LOST_REASON = ("重建登记簿时 Temporal 中没有使用该编号的案件（受理中断而作废，或已结案且超过 Temporal 保留期）；"
               "不再使用。已结案的旧案件请从读模型备份恢复")


CAMPAIGN_SCOPE = "campaign"


@dataclass
class RebuildReport:
    total: int = 0  # cases and campaigns
    campaigns: int = 0
    done: int = 0
    failed: list[str] = field(default_factory=list)
    voided: int = 0
    reviews: int = 0
    seconds: float = 0.0


def split_case_no(case_no: str) -> tuple[str, int, int]:
    prefix, year, n = case_no.split("-")
    return prefix, int(year), int(n)


async def _calendar(session: AsyncSession, settings: Settings, now: datetime) -> WorkCalendar:
    from activities.reminders import reminder_calendar

    return await reminder_calendar(session, settings, now)


# ---- the rebuild ---------------------------------------------------------------------------------------------
def _insert(session: AsyncSession):
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


async def _case_numbers(client: Client, task_queue: str) -> list[str]:
    """Every case workflow id on the task queue (each run of a case continued as new is listed: once each)."""
    ids = {wf.id async for wf in client.list_workflows(cases_query(task_queue))}
    return sorted(ids)


async def _campaign_runs(client: Client, task_queue: str) -> dict[str, list[str]]:
    """Every campaign on the task queue with the run ids of its runs, oldest first."""
    runs: dict[str, list[tuple[datetime, str]]] = {}
    async for wf in client.list_workflows(campaigns_query(task_queue)):
        runs.setdefault(wf.id, []).append((wf.start_time, wf.run_id))
    return {campaign_id: [run_id for _, run_id in sorted(listed)] for campaign_id, listed in runs.items()}


async def _ask(client: Client, case_no: str, run_id: str | None = None):
    from workflows.campaign import CampaignWorkflow
    from workflows.case_workflow import CaseWorkflow

    query = CampaignWorkflow.rebuilt if run_id else CaseWorkflow.rebuilt
    for attempt in range(20):
        try:
            return await client.get_workflow_handle(case_no, run_id=run_id).query(
                query, rpc_timeout=timedelta(seconds=QUERY_SECONDS))
        except WorkflowQueryFailedError as e:
            if "still being opened" not in str(e) or attempt == 19:
                raise
            await asyncio.sleep(0.5)


async def _reviews(client: Client, settings: Settings, session: AsyncSession, failed: list[str]) -> int:
    """K1: every report review on the task queue written as its workflow has it now (only a higher seq applies, as
    record_report_review writes it). Returns how many; those that cannot answer go to `failed`."""
    from activities.reports import write_review
    from aftersales.review import ReviewState
    from contracts.report import ReviewRecord
    from workflows.report_review import ReportReviewWorkflow

    ids = sorted({wf.id async for wf in client.list_workflows(
        f"WorkflowType = 'ReportReviewWorkflow' AND TaskQueue = '{settings.task_queue}'")})
    written = 0
    for workflow_id in ids:
        for attempt in range(20):
            try:
                state = await client.get_workflow_handle(workflow_id).query(
                    ReportReviewWorkflow.state, rpc_timeout=timedelta(seconds=QUERY_SECONDS))
            except (WorkflowQueryFailedError, RPCError, asyncio.TimeoutError) as e:
                if "still being opened" in str(e) and attempt < 19:
                    await asyncio.sleep(0.5)
                    continue
                failed.append(workflow_id)
                log.error("report review not rebuilt", workflow_id=workflow_id, error=str(e)[:300])
                break
            await write_review(session, ReviewRecord(workflow_id=workflow_id, state=ReviewState.model_validate(state)))
            written += 1
            break
    await session.commit()
    return written


async def _ask_campaign(client: Client, campaign_id: str, runs: list[str]) -> list[RebuiltCampaign]:
    """Each run's answer, oldest first (a run still planning, the campaign's first, has nothing to give)."""
    answers = []
    for run_id in runs:
        answers.append(await _ask(client, campaign_id, run_id))
    return answers


async def last_sweep(client: Client) -> ReminderSweep | None:
    """E4: the newest reminder sweep that asked the register, as it asked (its id and time), from its history."""
    from workflows.schedules import reminders_schedule_id

    try:
        described = await client.get_schedule_handle(reminders_schedule_id()).describe()
    except RPCError:
        return None
    for action in sorted(described.info.recent_actions, key=lambda a: a.started_at, reverse=True):
        started = action.action
        if not hasattr(started, "workflow_id"):
            continue
        try:
            history = await client.get_workflow_handle(started.workflow_id,
                                                       run_id=started.first_execution_run_id).fetch_history()
        except RPCError:  # past retention
            continue
        for event in history.events:
            scheduled = event.activity_task_scheduled_event_attributes
            if event.HasField("activity_task_scheduled_event_attributes") \
                    and scheduled.activity_type.name == "collect_due_reminders":
                [sweep] = await client.data_converter.decode(scheduled.input.payloads, [ReminderSweep])
                return sweep
    return None


async def _reminded_as_by(session: AsyncSession, cal: WorkCalendar, sweep: ReminderSweep, case_nos: list[str]) -> None:
    """E4: each open progress note of these cases due by the sweep's time and not reminded since the register was
    lost, written as reminded by that sweep (see the module): its next reminder the first 4-working-hour step
    after the sweep, as activities/reminders.py advances it."""
    from activities.reminders import next_reminder

    D = CaseDeadline
    now = utc(sweep.now)
    due = (await session.execute(
        select(D.case_no, D.key, D.due_at).join(Case, Case.case_no == D.case_no).where(
            D.case_no.in_(case_nos), D.reminds.is_(True), D.met_at.is_(None), D.waived.is_(False),
            Case.closed_at.is_(None), D.due_at <= now, D.reminders_sent == 0, D.next_remind_at.is_(None),
            D.reminded_by.is_(None)))).all()
    for case_no, key, due_at in due:
        await session.execute(update(D).where(D.case_no == case_no, D.key == key, D.reminders_sent == 0).values(
            next_remind_at=next_reminder(cal, utc(due_at), now), reminders_sent=1, reminded_by=sweep.sweep_id))


async def _write_campaigns(session: AsyncSession, answers: list[list[RebuiltCampaign]]) -> None:
    """Each campaign's row, households and forms as its activities wrote them (its number and keys: _write)."""
    from activities.campaigns import write_campaign_row, write_households, write_visits

    for runs in answers:
        latest = runs[-1]
        p = latest.projection
        await write_campaign_row(session, p)
        households = await _households(session, runs)
        await write_households(session, p.campaign_id, households)
        forms = {f.visit_no: f for r in runs for f in r.forms}
        await write_visits(session, [forms[n] for n in sorted(forms)])


async def _households(session: AsyncSession, runs: list[RebuiltCampaign]) -> list[tuple[int, str]]:
    """The plan's units with their buildings as plan_campaign wrote them: kept by the campaign, or (planned before
    it kept them) the property register's, restored from its backup first; a unit no longer there is left out."""
    kept = next((r for r in runs if r.buildings is not None and r.planned), None)
    if kept is not None:
        return list(zip(kept.planned, kept.buildings or []))
    planned = next((r.planned for r in runs if r.planned), [])
    building = dict((await session.execute(select(PropertyUnit.id, PropertyUnit.building_key).where(
        PropertyUnit.id.in_(planned)))).all()) if planned else {}
    if len(building) < len(planned):
        log.warning("campaign households without their unit in the property register", campaign_id=runs[-1]
                    .projection.campaign_id, missing=len(planned) - len(building))
    return [(u, building[u]) for u in planned if u in building]


async def _write(session: AsyncSession, settings: Settings, answers: list, campaigns: list[list[RebuiltCampaign]],
                 cal: WorkCalendar, sweep: ReminderSweep) -> None:
    from activities.projection import write_projections

    projections, numbers, keys = [], [], []
    for runs in campaigns:
        c = runs[-1]
        numbers.append({"case_no": c.projection.campaign_id, "scope": CAMPAIGN_SCOPE, "state": STARTED,
                        "claimed_at": c.created_at, "settled_at": datetime.now(UTC), "reason": None})
        if c.intake_key and c.intake_fingerprint:
            keys.append({"scope": CAMPAIGN_SCOPE, "key": c.intake_key, "request_hash": c.intake_fingerprint,
                         "case_no": c.projection.campaign_id, "created_at": c.created_at})
        points = {p.key: p for r in runs for p in r.point_cases}  # V3: as number_case keeps them
        keys += [{"scope": p.scope, "key": p.key, "request_hash": request_fingerprint({"key": p.key}),
                  "case_no": p.case_no, "created_at": p.at} for p in points.values()]
    for answer in answers:
        p = answer.projection
        if p.row.customer_phone:  # as project_case does: only the keyed hash of the owner's phone 
            p = p.model_copy(update={"row": p.row.model_copy(update={
                "customer_phone": None,
                "customer_phone_hmac": phone_lookup_hash(p.row.customer_phone, settings.phone_lookup_key)})})
        projections.append(p)
        numbers.append({"case_no": p.case_no, "scope": answer.scope, "state": STARTED,
                        "claimed_at": p.row.received_at, "settled_at": datetime.now(UTC), "reason": None})
        if answer.intake_key and answer.intake_fingerprint:
            keys.append({"scope": answer.scope, "key": answer.intake_key, "request_hash": answer.intake_fingerprint,
                         "case_no": p.case_no, "created_at": p.row.received_at})
    insert = _insert(session)
    if projections:
        await write_projections(session, projections)
        await _reminded_as_by(session, cal, sweep, [p.case_no for p in projections])
    await _write_campaigns(session, campaigns)
    if numbers:
        await session.execute(insert(CaseNumber.__table__).on_conflict_do_update(
            index_elements=["case_no"], set_={"state": STARTED, "reason": None}), numbers)
    if keys:
        await session.execute(insert(IdempotencyKey.__table__).on_conflict_do_nothing(), keys)


async def _numbers_settled(session: AsyncSession, scope_of: dict[str, str], now: datetime) -> int:
    """The counters past the highest number Temporal holds; the numbers below it that neither Temporal nor the
    register knows recorded void (C1: no silent gap). Returns how many were voided."""
    highest: dict[tuple[str, int], tuple[int, str]] = {}
    for case_no, scope in scope_of.items():
        prefix, year, n = split_case_no(case_no)
        if n > highest.get((prefix, year), (0, ""))[0]:
            highest[(prefix, year)] = (n, scope)
    insert = _insert(session)
    voided = 0
    for (prefix, year), (n, scope) in sorted(highest.items()):
        counters = CaseCounter.__table__
        await session.execute(insert(counters).values(prefix=prefix, year=year, last_value=n).on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last_value": func.max(counters.c.last_value, n)
                                                     if session.bind.dialect.name == "sqlite"
                                                     else func.greatest(counters.c.last_value, n)}))
        known = set((await session.scalars(select(CaseNumber.case_no).where(
            CaseNumber.case_no.like(f"{prefix}-{year}-%")))).all())
        missing = [{"case_no": no, "scope": scope, "state": VOID, "claimed_at": now, "settled_at": now,
                    "reason": LOST_REASON}
                   for no in (format_case_no(prefix, year, i) for i in range(1, n + 1)) if no not in known]
        if missing:
            await session.execute(insert(CaseNumber.__table__).on_conflict_do_nothing(), missing)
            voided += len(missing)
    await session.commit()
    return voided


async def rebuild(settings: Settings, client: Client, sessionmaker: async_sessionmaker[AsyncSession], *,
                  fresh: bool = False, batch: int = 20, stop_after: int | None = None,
                  progress: Callable[[str], None] = print) -> RebuildReport:
    """Rebuilds the register from Temporal (see the module). Resumes an interrupted run unless `fresh`;
    `stop_after` stops after that many cases (an interruption, for the tests)."""
    started = time.monotonic()
    report = RebuildReport()
    async with sessionmaker() as session:
        row = await register_state(session)
        resume_after = row.last_case_no if row is not None and row.state == REBUILDING and not fresh else None
        campaign_runs = await _campaign_runs(client, settings.task_queue)
        numbers = sorted({*await _case_numbers(client, settings.task_queue), *campaign_runs})
        report.total, report.campaigns = len(numbers), len(campaign_runs)
        # E4: what the reminder sweep last did stands for the register's lost reminder bookkeeping (see the module)
        sweep = await last_sweep(client) or ReminderSweep(sweep_id="rebuild-register", now=datetime.now(UTC))
        cal = await _calendar(session, settings, utc(sweep.now))
        todo = [no for no in numbers if resume_after is None or no > resume_after]
        report.done = len(numbers) - len(todo)
        await set_state(session, REBUILDING,
                        "登记簿正在从 Temporal 重建（make rebuild-register）：重建完成前不受理新案件"
                        "（the register is being rebuilt from Temporal）",
                        total=report.total, done=report.done, last_case_no=resume_after,
                        **({} if resume_after else {"started_at": datetime.now(UTC), "finished_at": None, "failed": 0}))
        progress(f"rebuilding the register from Temporal: {report.total - report.campaigns} cases, "
                 f"{report.campaigns} campaigns; progress notes due by {utc(sweep.now).isoformat()} taken as "
                 f"reminded by {sweep.sweep_id}"
                 + (f", resuming after {resume_after} ({report.done} done)" if resume_after else ""))
        for i in range(0, len(todo), batch):
            chunk = todo[i:i + batch]
            answers, campaigns = [], []
            asked = (_ask_campaign(client, no, campaign_runs[no]) if no in campaign_runs else _ask(client, no)
                     for no in chunk)
            for case_no, answer in zip(chunk, await asyncio.gather(*asked, return_exceptions=True)):
                if isinstance(answer, (WorkflowQueryFailedError, RPCError, asyncio.TimeoutError)):
                    report.failed.append(case_no)
                    log.error("case not rebuilt", case_no=case_no, error=str(answer)[:300])
                elif isinstance(answer, BaseException):
                    raise answer
                elif case_no in campaign_runs:
                    campaigns.append(answer)
                else:
                    answers.append(answer)
            async with session.begin():
                await _write(session, settings, answers, campaigns, cal, sweep)
            report.done += len(chunk)
            await set_state(session, REBUILDING, (await register_state(session)).reason, done=report.done,
                            failed=len(report.failed), last_case_no=chunk[-1])
            progress(f"  {report.done}/{report.total} cases and campaigns ({len(report.failed)} failed)")
            if stop_after is not None and report.done >= stop_after:
                report.seconds = time.monotonic() - started
                return report
        # every case Temporal holds, those of an earlier (interrupted) run too; the scope is the case's type
        kinds = dict((await session.execute(select(Case.case_no, Case.case_type).where(
            Case.case_no.in_(numbers)))).all()) if numbers else {}
        kinds.update((no, CAMPAIGN_SCOPE) for no in campaign_runs)
        report.reviews = await _reviews(client, settings, session, report.failed)
        report.voided = await _numbers_settled(session, {no: kinds.get(no, "") for no in numbers},
                                               datetime.now(UTC))
        if report.failed:
            await set_state(session, BEHIND, f"重建未完成：{len(report.failed)} 个案件无法从 Temporal 读取（见日志），"
                            f"修复后再运行 make rebuild-register（{', '.join(report.failed[:10])}）",
                            failed=len(report.failed), done=report.done)
        else:
            await set_state(session, OK, None, finished_at=datetime.now(UTC), done=report.done, failed=0)
    report.seconds = time.monotonic() - started
    progress(f"rebuilt {report.done - len(report.failed)} of {report.total} cases and campaigns in {report.seconds:.1f} s; "
             f"{len(report.failed)} failed; {report.reviews} report reviews; {report.voided} numbers no case holds recorded void")
    return report


async def main(argv: list[str] | None = None) -> int:
    from adapters.config import get_settings
    from adapters.db.migrate import upgrade_to_head
    from adapters.db.session import make_engine, make_sessionmaker
    from adapters.logging import configure_logging
    from adapters.temporal.setup import connect

    parser = argparse.ArgumentParser(prog="python -m ops.rebuild_register", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", action="store_true", help="start over instead of resuming an interrupted run")
    parser.add_argument("--batch", type=int, default=20, help="cases asked at once and written per transaction")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, json=False)
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        report = await rebuild(settings, await connect(settings), make_sessionmaker(engine), fresh=args.fresh,
                               batch=args.batch)
    finally:
        await engine.dispose()
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
