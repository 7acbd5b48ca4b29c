"""The Temporal worker: runs the case workflows and their activities on one task queue.
Start more of them (same settings) to scale out; each is stateless."""

import asyncio
import signal
from collections.abc import Sequence

import structlog
from temporalio.client import Client
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.campaigns import CampaignActivities
from activities.cases import CaseActivities
from activities.files import FileActivities
from activities.context import CaseLogContext
from activities.notify import NotificationActivities
from activities.reminders import ReminderActivities
from activities.repairs import RepairActivities
from adapters.temporal.case_numbers import sweep_forever
from activities.reports import ReportActivities
from adapters.temporal import actor_assertion
from adapters.temporal.codec import worker_data_converter
from adapters.config import Settings, get_settings
from adapters.db.session import make_engine, make_sessionmaker
from workflows.campaign import CampaignWorkflow
from workflows.complaint import ComplaintWorkflow
from workflows.digest import ReminderSweepWorkflow
from workflows.files import FileSweepWorkflow
from workflows.repair import RepairWorkflow
from workflows.campaign_proposals import CampaignProposalWorkflow
from workflows.report_review import ReportReviewWorkflow
from workflows.reports import ScheduledReportWorkflow

WORKFLOWS = [ComplaintWorkflow, RepairWorkflow, ReminderSweepWorkflow, ScheduledReportWorkflow,
             ReportReviewWorkflow, CampaignWorkflow, CampaignProposalWorkflow, FileSweepWorkflow]
# Run with Settings.worker_sandbox (the workflow tests do; production runs unsandboxed, see config.py).
# lunar_python (T4's fallback calendar) imports its submodules lazily and builds a threading.Lock at
# import: inside the sandbox that import fails the workflow task. It is deterministic: pass it through.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("lunar_python"))


def build_worker(client: Client, settings: Settings, sessionmaker, task_queue: str | None = None,
                 interceptors: Sequence[Interceptor] = ()) -> Worker:
    # P4: the case workflows accept only actions the API vouched for, with this key (never in a payload) ...
    actor_assertion.configure([settings.actor_assertion_key])
    # ... and the worker decodes only encrypted payloads: the same connection, a strict data converter
    client = Client(**{**client.config(), "data_converter": worker_data_converter(settings)})
    cases = CaseActivities(sessionmaker, settings)
    notify = NotificationActivities(sessionmaker, settings)
    repairs = RepairActivities(sessionmaker, settings)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER if settings.worker_sandbox else UnsandboxedWorkflowRunner(),
        activities=[*cases.all(), notify.send_notification, *repairs.all(),
                    *ReminderActivities(sessionmaker, settings).all(),
                    *ReportActivities(sessionmaker, settings).all(),
                    *CampaignActivities(sessionmaker, settings.revisit_min_share, settings).all(),
                    *FileActivities(sessionmaker, settings).all()],
        interceptors=[CaseLogContext(), *interceptors],
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        build_id=settings.worker_build_id,
    )


async def main() -> None:
    from adapters.logging import configure_logging
    from workflows.schedules import ensure_schedules
    from adapters.temporal.setup import connect

    settings = get_settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings.database_url)
    client = await connect(settings)
    worker = build_worker(client, settings, make_sessionmaker(engine))
    await ensure_schedules(client, settings)  # K1/K2 report schedules: created once, kept to this release's spec
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    structlog.get_logger().info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    sweep = asyncio.create_task(sweep_forever(client, make_sessionmaker(engine), settings))  # C1: a number claimed and never started is found and marked void, never reused
    # O5: the owners' SMS due (quiet hours past, retries), sent by the configured provider
    from adapters.sms.providers import provider_from_settings
    from adapters.sms.queue import dispatch_forever
    from adapters.temporal.sealing import Sealer
    sms = asyncio.create_task(dispatch_forever(make_sessionmaker(engine), settings, provider_from_settings(settings),
                                               Sealer.from_settings(settings).unseal))
    # P5: start-up's long-lived objects (modules, models, mappers) out of the collector's full collections, as
    # the API does: a generation-2 collection over them paused a request 120–430 ms (adapters/heap.py)
    from adapters.heap import settle_after_start_up
    settle_after_start_up()
    async with worker:
        await stop.wait()
    sweep.cancel()
    sms.cancel()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
