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
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

router = APIRouter(tags=["health"])

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


async def _workers(client: Client, task_queue: str) -> dict[str, Any]:
    """Whether any worker polls the task queue: without one, cases wait (and actions answer 503).
    Reported, not counted against the API's own health: a worker restart is not an API outage."""
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    pollers = len(response.pollers)
    return {"status": "ok" if pollers else "none", "task_queue": task_queue, "pollers": pollers}


class Part(BaseModel):
    status: Literal["ok", "down"]
    error: str | None = Field(default=None, description="the failure's type when down")


class TemporalPart(Part):
    namespace: str | None = None


class WorkersPart(BaseModel):
    status: Literal["ok", "none"] = Field(description="none: no worker polls, cases wait (actions answer 503)")
    task_queue: str
    pollers: int


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
        description="down (503) when Temporal or the database is down; degraded (200) while no worker polls: "
                    "the API answers, but cases wait (after a restart, until a worker polls the task queue)")
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
        report["workers"] = await _workers(state.temporal, state.settings.task_queue)
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
    answer = HealthReport.model_validate(report).model_dump(mode="json", exclude_none=True)
    return JSONResponse(answer, status_code=200 if healthy else 503)
