"""The product beside the raw temporalio client, on the same dev server in the same run.

    .venv/bin/python -m benchmarks.throughput_bench                      # 60 intakes, 200 actions, 20 at once
    .venv/bin/python -m benchmarks.throughput_bench --cases 300 --actions 1000

Raw: a workflow that does nothing but count (one Update handler, no activities), started with
Update-with-start ("raw start + Update") and then sent Updates ("raw Update"); and, as the floor of any
design whose Update is answered once its read model is written, the same Update awaiting a local activity
that does nothing ("raw Update + local activity"), and a start with that Update ("raw start + Update +
local act."): the ratios of those two to their raw rows are printed as the floor. Product: the API
in-process and its worker `python worker.py` in a process of its own, as ops run it (the raw workflow's
worker too, for the same reason; `--workers N` starts N of each side):
`POST /complaints` (Update-with-start, then the case read by query) and `POST /cases/{no}/actions`
(`progress_note`: the Update through the case machine's checks, the projection into the read model,
then the case read by query), each again with `Prefer: return=minimal` (the Update's answer alone, as
the workbench sends its writes: its next page reads the case anyway). Last, a heavy action beside it: `classify` of each
intake's case (minimal), which starts the department's deadlines and e-mails its head (E1) from the worker. Between them, to show where an action's time goes, the same case's
Update sent with the client directly ("case Update (no API)": the workflow's share) and its query
("case query (no API)"). Both workers use the same data converter (the AES-GCM codec): what differs is
the product's work per request. CPU per operation is printed for the Temporal server and for Python
(this process and the two workers).

The load: measured requests go to the API as bare ASGI calls (`AsgiLoad`: the request's scope, body
and headers, the response collected), so that the process's CPU is the API's and not an HTTP client's —
the raw rows' load is the temporalio client's calls, which are the raw path itself; an HTTP client runs in
the staff's browsers, not beside the API. `--load httpx` sends them through httpx's ASGITransport instead
(measured: 4.2 instead of 3.6 ms of this process's CPU per minimal action — httpx building the request,
its URL and cookies).

Prints rates, p50 and p99 of each, and the ratios against the targets: actions ≥ 0.6× the raw
Update rate with p99 ≤ 2× the raw p99; intake ≥ 0.7× raw start + Update. Asserts nothing.
"""

import argparse
import asyncio
import json as _json
import os
import subprocess
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

import httpx
from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.temporal import search_attributes as sa
from adapters.temporal import actor_assertion
from aftersales.actions import ActionRequest, ProgressNote
from aftersales.actor import Actor
from aftersales.roles import Role
from adapters.temporal.codec import data_converter, new_key
from adapters.config import Settings
from benchmarks.workflow_bench import (
    bounded, cpu_seconds, dev_server_pids, ms, pct, read_model, shut_down, temporal_cli,
)
from workflows.case_workflow import CaseWorkflow

INTAKE, INTAKE_MINIMAL = "POST /complaints", "POST /complaints minimal"
ACT, ACT_MINIMAL = "POST /cases/{no}/actions", "POST /cases/{no}/actions minimal"
# a heavy action beside the light one: classify starts the department's deadlines and tells its head (E1)
HEAVY = "POST classify minimal"
RAW_LA = "raw Update + local activity"
RAW_OPEN_LA = "raw start + Update + local act."
RAW_AGAIN = "raw Update, again at the end"
MINIMAL = {"Prefer": "return=minimal"}  # RFC 7240: the Update's own answer, the case not read back
COMPLAINT = {
    "customer": {"name": "王女士", "phone": "13812341234", "project": "融侨城", "building": "5栋", "unit": "1203"},
    "channel": "phone", "category": "漏水", "description": "卫生间天花板漏水",
}


@workflow.defn(sandboxed=False)
class RawCase:
    """The least a case could be: a counter behind an Update, open until told otherwise."""

    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.count < 0)
        return self.count

    @workflow.update
    async def act(self, note: str) -> int:
        self.count += 1
        return self.count

    @workflow.update
    async def act_and_write(self, note: str) -> int:
        """`act` plus a local activity that does nothing: the floor of any case that writes its read model
        in the workflow task of its Update (a second activation, a marker), before the write's own work."""
        await workflow.execute_local_activity(raw_write, note, start_to_close_timeout=timedelta(seconds=10))
        self.count += 1
        return self.count


@activity.defn
async def raw_write(note: str) -> None:
    """Writes nothing: what a local activity costs by itself."""


CPU: dict[str, tuple[float, float, float, float]] = {}  # phase -> CPU s of (server, this process, product worker, raw worker)


async def timed(n: int, concurrency: int, one: Callable[[int], Awaitable[None]], timeout: float,
                name: str = "") -> tuple[float, list[float], list[str]]:
    """Runs one(i) for i < n, `concurrency` at once; (wall seconds, latencies, errors). The CPU the
    Temporal server and this process used meanwhile is kept in CPU[name]."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []

    async def gated(i: int) -> None:
        async with gate:
            t = time.perf_counter()
            try:
                await one(i)
                latencies.append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 - counted and printed
                errors.append(f"{type(e).__name__}: {e}"[:200])

    servers = dev_server_pids()

    def cpu() -> tuple[float, float, float, float]:
        return (sum(map(cpu_seconds, servers)), cpu_seconds("self"),
                sum(map(cpu_seconds, WORKER_PIDS["product"])), sum(map(cpu_seconds, WORKER_PIDS["raw"])))
    before = cpu()
    t0 = time.perf_counter()
    await bounded(asyncio.gather(*(gated(i) for i in range(n))), timeout, "the load")
    wall = time.perf_counter() - t0
    CPU[name] = tuple(after - b for after, b in zip(cpu(), before))  # type: ignore[assignment]
    return wall, latencies, errors


WORKER_PIDS: dict[str, list[int]] = {"product": [], "raw": []}  # "product" / "raw" -> their processes


class AsgiResponse:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code, self.content = status_code, body

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return _json.loads(self.content)


class AsgiLoad:
    """POSTs of JSON to an ASGI app as one ASGI HTTP call each, without an HTTP client: the scope, the
    body in one message, the response's status and body collected (then `http.disconnect`, as a server
    sends once the response is complete)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def post(self, path: str, *, json: Any, headers: dict[str, str]) -> AsgiResponse:
        body = _json.dumps(json, ensure_ascii=False).encode()
        raw_headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
                       (b"content-length", str(len(body)).encode())]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": raw_headers, "client": ("127.0.0.1", 50000), "server": ("bench", 80)}
        done = asyncio.Event()
        sent_body = False
        status, chunks = 500, []

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    done.set()

        await self.app(scope, receive, send)
        return AsgiResponse(status, b"".join(chunks))


def worker_env(settings: Settings, address: str) -> dict[str, str]:
    """The environment a worker process reads its settings from (adapters.config)."""
    import json
    return {**os.environ, "AFTERSALES_TEMPORAL_ADDRESS": address, "AFTERSALES_DATABASE_URL": settings.database_url,
            "AFTERSALES_TASK_QUEUE": settings.task_queue, "AFTERSALES_SMTP_HOST": settings.smtp_host,
            "AFTERSALES_SMTP_PORT": str(settings.smtp_port), "AFTERSALES_CODEC_KEYS": json.dumps(settings.codec_keys),
            "AFTERSALES_CODEC_ENCODE_KEY_ID": next(iter(settings.codec_keys)), "AFTERSALES_LOG_LEVEL": "WARNING",
            "AFTERSALES_ACTOR_ASSERTION_KEY": settings.actor_assertion_key}  # P4: the API's and the workers' key


def start_worker(kind: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    WORKER_PIDS[kind].append(proc.pid)
    return proc


def stop_processes(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def raw_worker(queue: str) -> None:
    """`--raw-worker QUEUE`: the raw workflow's worker, in a process of its own (settings from the environment)."""
    from adapters.config import get_settings
    from adapters.temporal.setup import connect
    client = await connect(get_settings())
    async with Worker(client, task_queue=queue, workflows=[RawCase], activities=[raw_write]):
        await asyncio.Event().wait()


async def until_polled(client: Client, queue: str, timeout: float = 60) -> None:
    """Waits until a worker polls the task queue (its process has started)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    for _ in range(int(timeout / 0.5)):
        r = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        if r.pollers:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"no worker polls {queue} after {timeout} s")


async def run(args: argparse.Namespace) -> None:
    from adapters.logging import configure_logging
    from api.app import create_app
    from tests.support.smtp import SMTPServer
    configure_logging(args.log_level)

    tmp = Path(tempfile.mkdtemp(prefix="aftersales-throughput-"))
    env = engine = smtp = None
    procs: list[subprocess.Popen] = []
    rows: dict[str, tuple[float, list[float], list[str]]] = {}
    try:
        smtp = await bounded(SMTPServer().__aenter__(), 15, "SMTP server start")
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'read-model.db'}", smtp_host="127.0.0.1",
                            smtp_port=smtp.port, bcrypt_rounds=4, task_queue=f"bench-{uuid.uuid4().hex[:10]}",
                            codec_keys=dict([new_key()]), max_inflight_updates=max(64, args.concurrency * 2),
                            login_failures_per_address=10_000)
        engine, maker = await read_model(settings)
        env = await bounded(WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=data_converter(settings),
            search_attributes=sa.ALL, ip="127.0.0.1", ui=False), 90, "Temporal dev server start")
        client: Client = env.client
        raw_queue = f"raw-{uuid.uuid4().hex[:8]}"
        wenv = worker_env(settings, client.service_client.config.target_host)
        for n in range(args.workers):
            procs.append(start_worker("raw", ["-m", "benchmarks.throughput_bench", "--raw-worker", raw_queue], wenv,
                                      tmp / f"raw-worker-{n}.log"))
            procs.append(start_worker("product", [str(REPO / "worker.py")], wenv, tmp / f"worker-{n}.log"))
        for queue in (raw_queue, settings.task_queue):
            await until_polled(client, queue)

        # ---- raw: start + Update, then Updates ------------------------------------------------------
        raw_ids = [f"raw-{i}" for i in range(args.cases)]

        async def raw_open(i: int) -> None:
            start = WithStartWorkflowOperation(RawCase.run, id=raw_ids[i], task_queue=raw_queue,
                                               id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
            await client.execute_update_with_start_workflow(RawCase.act, "open", start_workflow_operation=start,
                                                            rpc_timeout=timedelta(seconds=args.step_timeout))

        async def raw_act(i: int) -> None:
            await client.get_workflow_handle(raw_ids[i % args.cases]).execute_update(
                RawCase.act, "note", rpc_timeout=timedelta(seconds=args.step_timeout))

        warm = [f"raw-warm-{i}" for i in range(args.concurrency)]  # as the product's first intake: not measured
        await asyncio.gather(*(client.execute_update_with_start_workflow(
            RawCase.act, "open", start_workflow_operation=WithStartWorkflowOperation(
                RawCase.run, id=w, task_queue=raw_queue, id_conflict_policy=WorkflowIDConflictPolicy.FAIL))
            for w in warm))
        rows["raw start + Update"] = await timed(args.cases, args.concurrency, raw_open, args.timeout, name="raw start + Update")
        rows["raw Update"] = await timed(args.actions, args.concurrency, raw_act, args.timeout, name="raw Update")

        async def raw_act_and_write(i: int) -> None:
            await client.get_workflow_handle(raw_ids[i % args.cases]).execute_update(
                RawCase.act_and_write, "note", rpc_timeout=timedelta(seconds=args.step_timeout))
        rows[RAW_LA] = await timed(args.actions, args.concurrency, raw_act_and_write, args.timeout, name=RAW_LA)

        async def raw_open_and_write(i: int) -> None:  # the floor of an intake: opened, written, answered
            start = WithStartWorkflowOperation(RawCase.run, id=f"raw-la-{i}", task_queue=raw_queue,
                                               id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
            await client.execute_update_with_start_workflow(RawCase.act_and_write, "open",
                                                            start_workflow_operation=start,
                                                            rpc_timeout=timedelta(seconds=args.step_timeout))
        rows[RAW_OPEN_LA] = await timed(args.cases, args.concurrency, raw_open_and_write, args.timeout,
                                        name=RAW_OPEN_LA)

        # ---- the product over HTTP (in-process) -----------------------------------------------------
        app = create_app(settings, temporal=client, sessionmaker=maker)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                                     timeout=args.step_timeout * 2) as api:
            headers = {}
            for user in ("hotline", "cs_staff"):
                r = await api.post("/auth/token", data={"username": user, "password": settings.demo_password})
                r.raise_for_status()
                headers[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            warm = await api.post("/complaints", json=COMPLAINT, headers=headers["hotline"])  # the sandbox's imports
            warm.raise_for_status()
            numbers: list[str] = []
            load = api if args.load == "httpx" else AsgiLoad(app)

            def product_open(minimal: bool) -> Callable[[int], Awaitable[None]]:
                async def one(i: int) -> None:
                    # each on a building of its own: three complaints on one building are C11's early
                    # warning (a count and a message to cs_manager), which is not what is measured here
                    building = f"{i + 1 + (args.cases if minimal else 0)}栋"
                    body = {**COMPLAINT, "customer": {**COMPLAINT["customer"], "building": building}}
                    r = await load.post("/complaints", json=body, headers={
                        **headers["hotline"], "Idempotency-Key": f"bench-{minimal}-{i}", **(MINIMAL if minimal else {})})
                    if r.status_code != 201:
                        raise RuntimeError(f"{r.status_code} {r.text[:120]}")
                    numbers.append(r.json()["case_no"])
                return one

            def product_act(minimal: bool) -> Callable[[int], Awaitable[None]]:
                async def one(i: int) -> None:
                    no = numbers[i % len(numbers)]
                    r = await load.post(f"/cases/{no}/actions", json={"action": "progress_note", "note": "已联系业主"},
                                       headers={**headers["cs_staff"], "Idempotency-Key": f"bench-act-{minimal}-{i}",
                                                **(MINIMAL if minimal else {})})
                    if r.status_code != 200:
                        raise RuntimeError(f"{r.status_code} {r.text[:120]}")
                return one

            for name, minimal in ((INTAKE, False), (INTAKE_MINIMAL, True)):
                rows[name] = await timed(args.cases, args.concurrency, product_open(minimal), args.timeout, name=name)
            staff = Actor(username="cs_staff", role=Role.cs_staff, display_name="客服专员")

            async def product_update(i: int) -> None:  # where the time goes: the case's Update without the API
                handle = client.get_workflow_handle(numbers[i % len(numbers)])
                request = ActionRequest(action=ProgressNote(action="progress_note", note="已联系业主"), actor=staff)
                request.assertion = actor_assertion.sign(handle.id, request, settings.actor_assertion_key)  # P4
                await handle.execute_update(CaseWorkflow.act, request, rpc_timeout=timedelta(seconds=args.step_timeout))

            async def product_query(i: int) -> None:
                await client.get_workflow_handle(numbers[i % len(numbers)]).query(
                    CaseWorkflow.state, rpc_timeout=timedelta(seconds=args.step_timeout))
            if numbers:
                rows["case Update (no API)"] = await timed(args.actions, args.concurrency, product_update,
                                                          args.timeout, name="case Update (no API)")
                rows["case query (no API)"] = await timed(args.actions, args.concurrency, product_query,
                                                         args.timeout, name="case query (no API)")
                for name, minimal in ((ACT, False), (ACT_MINIMAL, True)):
                    rows[name] = await timed(args.actions, args.concurrency, product_act(minimal), args.timeout,
                                             name=name)

                async def classify(i: int) -> None:  # once a case: every intake's case, minimal as the workbench
                    r = await load.post(f"/cases/{numbers[i]}/actions", json={
                        "action": "classify", "category": "漏水", "department": "工程部", "justified": True},
                        headers={**headers["cs_staff"], "Idempotency-Key": f"bench-classify-{i}", **MINIMAL})
                    if r.status_code != 200:
                        raise RuntimeError(f"{r.status_code} {r.text[:120]}")
                rows[HEAVY] = await timed(len(numbers), args.concurrency, classify, args.timeout, name=HEAVY)
        # the raw Update once more: the machine's speed drifts over minutes (other load, CPU frequency), and
        # the product ran between the two, so its ratios are taken against their mean
        rows[RAW_AGAIN] = await timed(args.actions, args.concurrency, raw_act, args.timeout, name=RAW_AGAIN)
    finally:
        stop_processes(procs)
        await shut_down(env, engine, smtp)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nthroughput_bench: {args.cases} intakes and {args.actions} actions each, {args.concurrency} at once, "
          f"one dev server, "
          f"the API in this process ({'httpx ASGITransport' if args.load == 'httpx' else 'bare ASGI calls'}), "
          + (f"{args.workers} worker processes of each side" if args.workers > 1 else "each worker in its own process"))
    print(f"{'':32}{'n':>7}{'per s':>9}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}  CPU ms/op: "
          f"{'server':>7}{'client+API':>11}{'worker':>8}")
    rate: dict[str, float] = {}
    p99: dict[str, float] = {}
    for name, (wall, lat, errors) in rows.items():
        rate[name] = len(lat) / wall if wall else 0.0
        p99[name] = pct(lat, 99) if lat else float("nan")
        print(f"{name:32}{len(lat):>7}{rate[name]:>9.1f}{ms(pct(lat, 50)) if lat else '-':>10}"
              f"{ms(p99[name]) if lat else '-':>10}{len(errors):>8}"
              f"{'':12}" + "".join(f"{v * 1000 / max(1, len(lat)):>{w}.1f}" for v, w in zip(
                  (CPU[name][0], CPU[name][1], CPU[name][2] + CPU[name][3]), (7, 11, 8))))
        for e in sorted(set(errors))[:3]:
            print(f"    {e}")
    raw_rate, raw_p99 = rate["raw Update"], p99["raw Update"]
    if rate.get(RAW_AGAIN):
        raw_rate, raw_p99 = (raw_rate + rate[RAW_AGAIN]) / 2, (raw_p99 + p99[RAW_AGAIN]) / 2
        print(f"\nraw Update at the start and at the end: {rate['raw Update']:.1f} and {rate[RAW_AGAIN]:.1f} per s "
              f"(the machine's drift); the action ratios are taken against their mean, {raw_rate:.1f} per s "
              f"(p99 {ms(raw_p99)} ms)")
    for act, intake, how in ((ACT, INTAKE, "answered with the whole case"),
                             (ACT_MINIMAL, INTAKE_MINIMAL, "Prefer: return=minimal")):
        if act not in rate or intake not in rate:
            continue
        checks = [
            ("actions rate / raw Update rate", rate[act] / raw_rate, "≥ 0.6", rate[act] / raw_rate >= 0.6),
            ("actions p99 / raw Update p99", p99[act] / raw_p99, "≤ 2", p99[act] / raw_p99 <= 2),
            ("intake rate / raw start+Update", rate[intake] / rate["raw start + Update"], "≥ 0.7",
             rate[intake] / rate["raw start + Update"] >= 0.7),
        ]
        print(f"\nratios (against the targets), {how}")
        for name, value, target, met in checks:
            print(f"  {name:34}{value:>7.2f}  target {target:6} {'met' if met else 'NOT met'}")
    if rate.get(HEAVY) and rate.get(ACT_MINIMAL):
        print(f"\nthe heavy action beside the light one (both minimal): classify {rate[HEAVY]:.1f}/s, p99 "
              f"{ms(p99[HEAVY])} ms; progress_note {rate[ACT_MINIMAL]:.1f}/s, p99 {ms(p99[ACT_MINIMAL])} ms; "
              f"classify / raw Update {rate[HEAVY] / raw_rate:.2f}, progress_note / raw Update "
              f"{rate[ACT_MINIMAL] / raw_rate:.2f}")
    if rate.get(RAW_LA) and rate.get(RAW_OPEN_LA):
        print("\nthe floor: the raw workflow awaiting a local activity that does nothing, as any case must that answers "
              "once its read model is written (before the write's own work, HTTP, sign-in and the rules)")
        print(f"  {'raw Update + local activity / raw Update':52}{rate[RAW_LA] / raw_rate:>7.2f}")
        print(f"  {'raw start + Update + local act. / raw start + Update':52}"
              f"{rate[RAW_OPEN_LA] / rate['raw start + Update']:>7.2f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.throughput_bench")
    p.add_argument("--cases", type=int, default=60, help="intakes of each kind (default 60)")
    p.add_argument("--actions", type=int, default=200, help="actions / Updates of each kind (default 200)")
    p.add_argument("--concurrency", type=int, default=20, help="requests in flight at once (default 20)")
    p.add_argument("--step-timeout", type=float, default=30.0, help="bound on each request, s (default 30)")
    p.add_argument("--timeout", type=float, default=600.0, help="bound on each phase, s (default 600)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes of each side, the raw workflow's and the product's (default 1)")
    p.add_argument("--load", choices=("asgi", "httpx"), default="asgi",
                   help="how measured requests reach the API: bare ASGI calls (default) or httpx's ASGITransport")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--raw-worker", metavar="QUEUE", help=argparse.SUPPRESS)  # the raw worker's own process
    args = p.parse_args(argv)
    asyncio.run(raw_worker(args.raw_worker) if args.raw_worker else run(args))


if __name__ == "__main__":
    main()
