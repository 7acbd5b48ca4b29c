"""Driving case workflows in tests, and recording their histories for the replay tests."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor
from temporalio.testing import WorkflowEnvironment

from adapters.temporal import actor_assertion
from aftersales.actions import ActionRequest
from aftersales.actor import Actor
from aftersales.case import CaseConfig, Customer
from adapters.db import calendar_store
from aftersales.complaint.state import Channel, ComplaintIntake
from aftersales.repair.state import RepairIntake
from aftersales.roles import Role
from worker import build_worker
from workflows.case_workflow import CaseWorkflow
from workflows.complaint import ComplaintWorkflow, StartComplaint
from workflows.repair import RepairWorkflow, StartRepair

HISTORIES = Path(__file__).parent.parent / "histories"


DEPARTMENT = "工程部"    # the department the tests' complaints are classified to
CONTRACTOR = "C-001"     # the contractor the tests' surveys name


def actor(role: Role, username: str | None = None) -> Actor:
    """A staff account bound as P1 wants it for the tests' cases (department, contractor)."""
    return Actor(username=username or role.value, role=role,
                 department=DEPARTMENT if role in (Role.dept_handler, Role.dept_head) else None,
                 contractor_id=CONTRACTOR if role == Role.contractor else None)


def complaint_intake(**kw) -> ComplaintIntake:
    base = dict(customer=Customer(name="王女士", phone="13812341234", project="融侨城", building="5栋", unit="1203"),
                channel=Channel.phone, category="漏水", description="卫生间天花板漏水")
    return ComplaintIntake(**{**base, **kw})


_STARTED: list[WorkflowHandle] = []
_READ_MODEL: list = []  # the running worker's sessionmaker: the cases' configuration is read from it as the API does


async def opening_config(settings) -> CaseConfig:
    """The configuration the API puts into a case's start, read from the test's read model."""
    year = datetime.now(timezone.utc).astimezone(ZoneInfo(settings.timezone)).year
    async with _READ_MODEL[-1]() as session:
        return await calendar_store.case_config(session, settings, [year, year + 1])


@asynccontextmanager
async def running_worker(env: WorkflowEnvironment, settings, sessionmaker) -> AsyncIterator[None]:
    """A worker for the test; the workflows it leaves open are terminated afterwards, since a workflow
    whose timers fire with no worker left would hold the shared time-skipping server's clock: the cases
    the test started, and every workflow whose activities this worker ran (repairs a complaint opened, report
    reviews, campaigns)."""
    _STARTED.clear()
    _READ_MODEL[:] = [sessionmaker]
    seen = _WorkflowIds()
    try:
        # in temporalio's sandbox, which fails a workflow task on a non-deterministic call (production
        # runs without it for speed: aftersales/config.py worker_sandbox)
        async with build_worker(env.client, settings.model_copy(update={"worker_sandbox": True}), sessionmaker,
                                interceptors=[seen]):
            yield
    finally:
        handles = _STARTED + [env.client.get_workflow_handle(i) for i in dict.fromkeys(seen.ids)]
        for handle in handles:
            try:
                await _activities_settled(handle)
                await handle.terminate("test over")
            except Exception:  # already closed
                pass


async def _activities_settled(handle: WorkflowHandle, timeout: float = 5.0) -> None:
    """Terminating a workflow while one of its activities runs can leave the time-skipping server's
    clock locked for the rest of the session: let running activities finish first (bounded)."""
    import asyncio
    for _ in range(int(timeout / 0.1)):
        desc = await handle.describe()
        running = [a for a in desc.raw_description.pending_activities if a.attempt <= 1]
        if desc.status is None or desc.status.name != "RUNNING" or not running:
            return
        await asyncio.sleep(0.1)


class _WorkflowIds(Interceptor):
    """Collects the ids of the workflows whose activities the worker ran."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        ids = self.ids

        class Collect(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput):
                if activity.info().workflow_id:
                    ids.append(activity.info().workflow_id)
                return await super().execute_activity(input)
        return Collect(next)


# Cases here keep their read-model steps as activities (StartCase.local_db_steps false): the time-skipping
# server strands a run whose workflow task cancels a timer that fired while the task was with the worker
# (temporalio/sdk-java#3088), and a task that waits for local activities is with the worker longer. The
# local steps run on the dev server (tests/e2e, through the API); TS_LOCAL_DB_STEPS=1 records their histories
# (make record-histories: the paths without timers that fire, `*_local_db_steps`).
LOCAL_DB_STEPS = os.environ.get("TS_LOCAL_DB_STEPS") == "1"


async def start_complaint(client: Client, settings, case_no: str | None = None, *, with_config: bool = True,
                          **kw) -> WorkflowHandle:
    """A complaint started as the API starts one (its configuration in the start), or `with_config=False` as a
    campaign does: the case reads its configuration itself."""
    case_no = case_no or f"TS-2026-{uuid.uuid4().int % 10**6:06d}"
    handle = await client.start_workflow(
        ComplaintWorkflow.run, signed(StartComplaint(case_no=case_no, registered_by=actor(Role.hotline),
                                                     intake=complaint_intake(**kw), local_db_steps=LOCAL_DB_STEPS,
                                                     config=await opening_config(settings) if with_config else None)),
        id=case_no, task_queue=settings.task_queue)
    _STARTED.append(handle)
    await handle.execute_update(CaseWorkflow.opened)
    return handle


def repair_intake(**kw) -> RepairIntake:
    base = dict(customer=Customer(name="李先生", phone="13812341234", project="融侨城", building="5栋", unit="1203"),
                trades=["水电"], description="厨房水管漏水", requested_appointment="2099-01-07T10:00:00+08:00")
    return RepairIntake(**{**base, **kw})


async def start_repair(client: Client, settings, case_no: str | None = None, *, with_config: bool = True,
                       **kw) -> WorkflowHandle:
    case_no = case_no or f"WX-2026-{uuid.uuid4().int % 10**6:06d}"
    handle = await client.start_workflow(
        RepairWorkflow.run, signed(StartRepair(case_no=case_no, registered_by=actor(Role.hotline),
                                               intake=repair_intake(**kw), local_db_steps=LOCAL_DB_STEPS,
                                               config=await opening_config(settings) if with_config else None)),
        id=case_no, task_queue=settings.task_queue)
    _STARTED.append(handle)
    await handle.execute_update(CaseWorkflow.opened)
    return handle


async def act(handle: WorkflowHandle, role: Role, action: dict, username: str | None = None,
              update_id: str | None = None) -> dict:
    named = [actor(Role.dept_handler, action["handler"]).model_dump()] if action["action"] == "assign_handler" else []
    await handle.execute_update(CaseWorkflow.act, vouched(handle, ActionRequest.model_validate(
        {"action": action, "actor": actor(role, username).model_dump(), "accounts": named})), id=update_id)
    return await handle.query(CaseWorkflow.state)  # the Update answers compactly


def signed(start):
    """The case's start with the assertion the API would add (P4), made with the running worker's key."""
    start.assertion = actor_assertion.sign_start(start.case_no, start)
    return start


def vouched_for(handle: WorkflowHandle, arg):
    """A campaign's Update argument (or start, with the campaign's id) as the API vouches for it (P4)."""
    arg.assertion = actor_assertion.sign_model(handle if isinstance(handle, str) else handle.id, arg)
    return arg


def vouched(handle: WorkflowHandle, request: ActionRequest) -> ActionRequest:
    """The request with the assertion the API would add (P4), made with the running worker's key."""
    request.assertion = actor_assertion.sign(handle.id, request)
    return request


async def act_refused(handle: WorkflowHandle, role: Role, action: dict, kind: str) -> str:
    """The Update is refused by its validator with this kind (forbidden / conflict / invalid)."""
    from temporalio.client import WorkflowUpdateFailedError
    try:
        await act(handle, role, action)
    except WorkflowUpdateFailedError as e:
        assert getattr(e.cause, "type", None) == kind, e.cause
        return str(e.cause)
    raise AssertionError(f"{action['action']} by {role.value} was accepted")


async def wait_for(predicate, timeout: float = 60.0):  # bounded; generous for a busy machine
    import asyncio
    for _ in range(int(timeout / 0.1)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def sleep_past(env: WorkflowEnvironment, due_iso: str, extra: timedelta = timedelta(seconds=5)) -> None:
    from datetime import datetime
    due = datetime.fromisoformat(due_iso)
    now = await env.get_current_time()
    if due > now:
        await skip_time(env, due - now + extra)


async def skip_time(env: WorkflowEnvironment, duration: timedelta) -> None:
    """env.sleep to a target time, a day at a time, each with a generous RPC deadline: while the test server
    skips time the worker must run every timer that falls due, which on a loaded 2-core machine can take
    long, and a long call has been seen to end in an HTTP/2 error ('h2 protocol error'). A step that fails so
    is retried for what is left of the way to the target (read from the server), so time is never skipped
    twice."""
    import asyncio
    from temporalio.api.testservice.v1 import SleepRequest
    from temporalio.service import RPCError
    target = await env.get_current_time() + duration
    failures = 0
    for _ in range(200):
        left = target - await env.get_current_time()
        if left <= timedelta(0):
            return
        req = SleepRequest()
        req.duration.FromTimedelta(min(left, timedelta(days=1)))
        try:
            await env.client.test_service.unlock_time_skipping_with_sleep(req, timeout=timedelta(seconds=120))
        except RPCError as e:
            failures += 1
            if "h2 protocol error" not in e.message or failures > 5:
                raise
            await asyncio.sleep(1)
    raise AssertionError(f"could not skip {duration} of time")


async def skip_until(env: WorkflowEnvironment, predicate, most: timedelta = timedelta(days=40),
                     settles: WorkflowHandle | None = None):
    """Skips time a day at a time until `predicate` holds (bounded). A ladder climbs one *working* day per
    level, and the shared server's clock is wherever earlier tests left it: ten calendar days may hold only
    two working days (the Spring Festival, National Day), so a test skips until the level is reached
    rather than a fixed number of days. After each day the worker is given up to 3 s to act on what fell due;
    with `settles` (the case the predicate reads), only until that case is quiet: a day on which nothing fell
    due is skipped at once instead of waited out (a ladder skips ten or more)."""
    import asyncio
    skipped = timedelta(0)
    while True:
        for _ in range(30):  # 3 s at most
            value = await predicate()
            if value:
                return value
            if settles is not None and await quiet(settles):
                value = await predicate()  # what the last wake-up did is all in now
                if value:
                    return value
                break
            await asyncio.sleep(0.1)
        if skipped >= most:
            raise AssertionError(f"condition not reached within {most} of skipped time")
        await skip_time(env, timedelta(days=1))
        skipped += timedelta(days=1)


async def quiet(h: WorkflowHandle) -> bool:
    """No activity pending and nothing left for the workflow to do: its history ends with a workflow task's completion
    or the commands it gave. The time-skipping server does not always show a workflow task scheduled by an activity's
    completion as pending (`pending_workflow_task`), so the history's last events are read too."""
    from temporalio.api.enums.v1 import EventType
    raw = (await h.describe()).raw_description
    if raw.pending_activities or raw.HasField("pending_workflow_task"):
        return False
    last = (await h.fetch_history()).events[-1].event_type
    return last not in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
                        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
                        EventType.EVENT_TYPE_TIMER_FIRED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


async def record_history(handle: WorkflowHandle, name: str) -> None:
    """With RECORD_HISTORIES=1, saves the finished workflow's history for tests/test_replay.py; with
    RECORD_HISTORIES_SUFFIX too, under the name plus that suffix (a change recorded beside the old ones)."""
    if os.environ.get("RECORD_HISTORIES") == "1":
        history = await handle.fetch_history()
        (HISTORIES / f"{name}{os.environ.get('RECORD_HISTORIES_SUFFIX', '')}.json").write_text(history.to_json())


_FILES = iter(range(1, 10**9))


async def attach(handle: WorkflowHandle, role: Role, step: str = "after_work", kind: str = "photo",
                 username: str | None = None) -> dict:
    """D1/D3: a file's reference added to the case, as the upload route sends it once the bytes are stored
    (the workflow never sees the bytes: claim check)."""
    import hashlib
    n = next(_FILES)
    ref = {"id": f"f{n:016x}", "sha256": hashlib.sha256(f"{handle.id}:{n}".encode()).hexdigest(), "kind": kind,
           "step": step, "size": 1_234_567, "content_type": "image/jpeg" if kind == "photo" else "application/pdf"}
    return await act(handle, role, {"action": "attach_file", "file": ref}, username)
