"""GET /health: Temporal, the database, and the calendar (years with data, years on fallback, T4)."""

import asyncio
import time
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text

from adapters.db import calendar_store
from adapters.db.models import TimelineEntry
from temporalio.api.enums.v1 import TaskQueueType, WorkerStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkersRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

router = APIRouter(tags=["health"])

POLL_SECONDS = 70            # a long poll's length: a live worker's poller time is at most this old
FAILING_KEPT_SECONDS = 1800  # a case met with a failing workflow task is looked at again for this long
FAILING_SHOWN = 20           # at most this many are described (and named) per /health


class FailingTasks:
    """The cases this API process met with a failing workflow task (Temporal's FAILED_PRECONDITION on an
    Update): counted in /metrics, and named by /health for as long as their workflow task still fails."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def note(self, request: Request, workflow_id: str | None, what: str) -> None:
        if workflow_id is not None:
            self.seen[workflow_id] = time.monotonic()
        if len(self.seen) > 1000:  # bounded: the oldest go first
            for old in sorted(self.seen, key=self.seen.__getitem__)[:len(self.seen) - 1000]:
                del self.seen[old]
        request.app.state.metrics.task_failing.labels(what).inc()

    async def still_failing(self, client: Client) -> list[str]:
        """Those seen lately whose workflow task still fails now (a pending task on its second attempt or later)."""
        now = time.monotonic()
        for case_no in [c for c, at in self.seen.items() if now - at > FAILING_KEPT_SECONDS]:
            del self.seen[case_no]
        recent = sorted(self.seen, key=self.seen.__getitem__, reverse=True)[:FAILING_SHOWN]

        async def failing(case_no: str) -> bool:
            try:
                desc = await client.get_workflow_handle(case_no).describe()
            except Exception:  # noqa: BLE001 - gone, or Temporal down (reported above)
                return False
            task = desc.raw_description.pending_workflow_task
            return desc.raw_description.HasField("pending_workflow_task") and task.attempt > 1
        answers = await asyncio.gather(*(failing(c) for c in recent))
        for case_no, bad in zip(recent, answers):
            if not bad:
                self.seen.pop(case_no, None)
        return sorted(c for c, bad in zip(recent, answers) if bad)


def failing_tasks(request: Request) -> FailingTasks:
    state = request.app.state
    if getattr(state, "failing_tasks", None) is None:
        state.failing_tasks = FailingTasks()
    return state.failing_tasks


async def undeliverable_count(session) -> int:
    """E3: notifications recorded undeliverable on their cases (timeline kind notification_undeliverable)."""
    return await session.scalar(select(func.count()).select_from(TimelineEntry)
                                .where(TimelineEntry.kind == "notification_undeliverable")) or 0


async def _workers(client: Client, task_queue: str, alive_seconds: float) -> dict[str, Any]:
    """Whether a worker is alive on the task queue: without one, cases wait (and actions answer 503).
    Reported, not counted against the API's own health: a worker restart is not an API outage.

    Alive means a recent report: each worker tells Temporal it runs every `worker_heartbeat_seconds` (the
    SDK's worker heartbeat, Temporal's ListWorkers), and one whose last report is older than `alive_seconds`,
    or that said it stops, is not counted. Temporal's poller list is no proof: a worker killed with -9 stays
    listed for about five minutes (and a long poll refreshes its time only once a minute). A server without
    ListWorkers falls back to the pollers seen within the last long poll (source "pollers")."""
    now = datetime.now(timezone.utc)
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    pollers = len(response.pollers)
    try:
        listed = await client.workflow_service.list_workers(ListWorkersRequest(
            namespace=client.namespace, query=f'TaskQueue = "{task_queue}"', page_size=200))
    except RPCError as e:
        if e.status not in (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.INVALID_ARGUMENT):
            raise
        recent = [p for p in response.pollers if (now - p.last_access_time.ToDatetime(timezone.utc)).total_seconds()
                  <= POLL_SECONDS + alive_seconds]
        return {"status": "ok" if recent else "none", "task_queue": task_queue, "pollers": pollers,
                "alive": len(recent), "source": "pollers"}
    beats = [w.worker_heartbeat for w in listed.workers_info if w.worker_heartbeat.task_queue == task_queue]
    times = [b.heartbeat_time.ToDatetime(timezone.utc) for b in beats]
    alive = [t for b, t in zip(beats, times)
             if b.status == WorkerStatus.WORKER_STATUS_RUNNING and (now - t).total_seconds() <= alive_seconds]
    return {"status": "ok" if alive else "none", "task_queue": task_queue, "pollers": pollers, "alive": len(alive),
            "last_report": max(times).isoformat() if times else None, "source": "heartbeats"}


class Part(BaseModel):
    status: Literal["ok", "down"]
    error: str | None = Field(default=None, description="the failure's type when down")


class TemporalPart(Part):
    namespace: str | None = None


class WorkersPart(BaseModel):
    status: Literal["ok", "none"] = Field(description="none: no worker is alive, cases wait (actions answer 503)")
    task_queue: str
    alive: int = Field(description="workers whose last report to Temporal is recent (worker_alive_seconds)")
    pollers: int = Field(description="pollers Temporal lists (a dead worker's stay listed for minutes)")
    last_report: datetime | None = Field(default=None, description="the latest report of any worker on the queue")
    source: Literal["heartbeats", "pollers"] = Field(
        description="heartbeats: the workers' own reports; pollers: a server without ListWorkers")


class WorkflowTasksPart(BaseModel):
    status: Literal["ok", "failing"] = Field(description="failing: cases whose workflow task fails on the worker "
                                                         "(their actions answer 503 workflow_task_failing): ops must look")
    cases: list[str] = Field(default=[], description="the cases this API met lately whose workflow task still fails")


class CalendarPart(BaseModel):
    status: Literal["ok", "fallback", "unknown"]
    years_with_data: list[int] = []
    years_on_fallback: list[int] = Field(default=[], description="this year or next without data (T4)")
    note: str | None = None


class HealthReport(BaseModel):
    status: Literal["ok", "degraded", "down"] = Field(
        description="down (503) when Temporal or the database is down; degraded (200) while no worker is alive: "
                    "the API answers, but cases wait (after a restart, until a worker runs)")
    reason: Literal["temporal_unreachable", "database_down"] | None = Field(
        default=None, description="why it is down (503), as every 503 says")
    temporal: TemporalPart
    workers: WorkersPart | None = None
    workflow_tasks: WorkflowTasksPart | None = None
    database: Part
    notifications_undeliverable: int | None = Field(
        default=None, description="E3: notifications given up, recorded on their cases")
    calendar: CalendarPart


@router.get("/health", summary="Health of Temporal, the database and the calendar (no token needed)",
            response_model=HealthReport,
            responses={503: {"model": HealthReport, "description": "Temporal or the database is down"}})
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    report: dict[str, Any] = {}
    try:
        await state.temporal.service_client.check_health()
        report["temporal"] = {"status": "ok", "namespace": state.settings.temporal_namespace}
        report["workers"] = await _workers(state.temporal, state.settings.task_queue, state.settings.worker_alive_seconds)
        failing = await failing_tasks(request).still_failing(state.temporal)
        report["workflow_tasks"] = {"status": "failing" if failing else "ok", "cases": failing}
    except Exception as e:  # noqa: BLE001 - health reports any failure
        report["temporal"] = {"status": "down", "error": type(e).__name__}
    try:
        async with state.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
            years = await calendar_store.years_with_data(session)
            undeliverable = await undeliverable_count(session)
        report["database"] = {"status": "ok"}
        # E3: notifications given up (recorded on their cases); ops look at the cases' timelines.
        report["notifications_undeliverable"] = undeliverable
        this_year = datetime.now(timezone.utc).astimezone(state.tz).year
        fallback = [y for y in (this_year, this_year + 1) if y not in years]
        report["calendar"] = {
            "status": "fallback" if fallback else "ok",
            "years_with_data": years,
            "years_on_fallback": fallback,
            "note": "无数据的年份按周一至周五扣除法定节假日计算(农历节日已推算, 调休未知) (T4); "
                    "请以 PUT /admin/calendar/{year} 上传该年数据" if fallback else None,
        }
    except Exception as e:  # noqa: BLE001
        report["database"] = {"status": "down", "error": type(e).__name__}
        report["calendar"] = {"status": "unknown"}
    healthy = report["temporal"]["status"] == "ok" and report["database"]["status"] == "ok"
    # "ok" only with a worker polling: right after a restart the API is up before any worker is, and a
    # case acted on then waits (a worker restart is not an API outage: 200, not 503)
    working = (report.get("workers") or {}).get("status") == "ok"
    report["status"] = ("ok" if working else "degraded") if healthy else "down"
    if not healthy:
        report["reason"] = "temporal_unreachable" if report["temporal"]["status"] != "ok" else "database_down"
    answer = HealthReport.model_validate(report).model_dump(mode="json", exclude_none=True)
    return JSONResponse(answer, status_code=200 if healthy else 503)
