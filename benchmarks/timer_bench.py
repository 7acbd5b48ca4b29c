"""Timers on time under load, and the worker's memory per open case.

    .venv/bin/python -m benchmarks.timer_bench                          # 300 complaints
    .venv/bin/python -m benchmarks.timer_bench --cases 10000 --window 600 --demo-seconds 250   # the issue's figure
    .venv/bin/python -m benchmarks.timer_bench --cases 10000 --window 600 --demo-seconds 250 --workers 2
    .venv/bin/python -m benchmarks.timer_bench ... --workers 2 --read-model postgres   # production's read model

Opens N complaints on a dev server (Update-with-start with the configuration and local read-model steps,
as the API does; `--concurrency` at once, paced over `--window` seconds if given) on demo
time, so that their first escalating deadline (C4, the handling opinion, 3 working days) falls due
within the same few minutes; the worker is `python worker.py` in a process of its own (as ops run it),
so its RSS is its own. Then waits until every case has escalated, reads each escalation from the read
model (`--read-from query`: from each case by query), and prints
the lateness of the escalation (the timeline entry's time − the deadline's due time): p50, p99, max,
and p99 per tenth of the due window (does it grow as the load goes on?); and the worker's RSS: idle,
with all cases open, the peak, and per open case; and the CPU the server and the worker spent per escalation
while the deadlines fell due (less noisy than the lateness near saturation). Asserts nothing.
"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from adapters.temporal import actor_assertion
from adapters.temporal import search_attributes as sa
from adapters.temporal.codec import data_converter, new_key
from adapters.config import Settings
from aftersales.roles import Role
from benchmarks.workflow_bench import (
    actor, bounded, cpu_seconds, dev_server_pids, intake, ms, opening, pct, proc_status_mib, read_model, shut_down,
    temporal_cli,
)
from workflows.case_workflow import CaseWorkflow
from workflows.complaint import ComplaintWorkflow, StartComplaint

REPO = Path(__file__).resolve().parents[1]


def first_escalation_lateness(view: dict) -> tuple[datetime, float] | None:
    """(due time, seconds late) of the case's first escalated deadline, from its view."""
    for d in sorted(view["deadlines"], key=lambda d: d["due_at"]):
        if d.get("level", 0) < 1:
            continue
        entry = next((t for t in view["timeline"] if t["kind"] == "escalation" and "第 1 级" in t["text"]
                      and d["label"] in t["text"]), None)
        if entry:
            due = datetime.fromisoformat(d["due_at"])
            return due, (datetime.fromisoformat(entry["at"]) - due).total_seconds()
    return None


async def register_lateness(engine, numbers: list[str]) -> list[tuple[datetime, float] | None]:
    """(due time, seconds late) of each case's C4 level-1 escalation, from the read model: the deadline's
    due time (case_deadlines) and the escalation's timeline entry (case_timeline), as the projection wrote
    them in the same workflow task."""
    from sqlalchemy import and_, func, select

    from adapters.db.models import CaseDeadline as D
    from adapters.db.models import TimelineEntry as T
    from adapters.db.register import utc
    query = (select(D.case_no, D.due_at, func.min(T.at))
             .join(T, and_(T.case_no == D.case_no, T.kind == "escalation", T.text.like("升级至第 1 级%C4%")))
             .where(D.key == "opinion").group_by(D.case_no, D.due_at))
    async with engine.connect() as conn:
        rows = {no: (utc(due), (utc(at) - utc(due)).total_seconds()) for no, due, at in await conn.execute(query)}
    return [rows.get(no) for no in numbers]


async def escalation_count(engine) -> int:
    """Escalation entries (every level) the projection has written to the register so far."""
    from sqlalchemy import func, select

    from adapters.db.models import TimelineEntry as T
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).where(T.kind == "escalation"))).scalar_one()


class RssSampler:
    """The largest worker's RSS every 2 s (the figure a worker is sized by)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids, self.samples = pids, []

    async def run(self) -> None:
        while True:
            if (rss := largest_rss(self.pids)) is not None:
                self.samples.append(rss)
            await asyncio.sleep(2)


def largest_rss(pids: list[int]) -> float | None:
    return max((r for r in (proc_status_mib(pid, "VmRSS") for pid in pids) if r is not None), default=None)


async def run(args: argparse.Namespace) -> None:
    from tests.support.smtp import SMTPServer
    tmp = Path(tempfile.mkdtemp(prefix="aftersales-timers-"))
    env = engine = smtp = sampler_task = None
    procs: list[subprocess.Popen] = []
    log = tmp / "worker.log"
    pg = None
    try:
        smtp = await bounded(SMTPServer().__aenter__(), 15, "SMTP server start")
        keys = dict([new_key()])
        database_url = f"sqlite+aiosqlite:///{tmp / 'read-model.db'}"
        if args.read_model == "postgres":  # production's read model (a throwaway cluster on loopback)
            from tests.support.postgres import TemporaryPostgres
            pg = TemporaryPostgres().__enter__()
            database_url = pg.url()
        settings = Settings(database_url=database_url, smtp_host="127.0.0.1",
                            smtp_port=smtp.port, task_queue=f"timers-{uuid.uuid4().hex[:8]}", codec_keys=keys,
                            demo_seconds_per_working_day=args.demo_seconds)
        engine, maker = await read_model(settings)
        opened_as = await opening(settings, maker)  # as the API opens a case
        env = await bounded(WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=data_converter(settings),
            search_attributes=sa.ALL, ip="127.0.0.1", ui=False), 90, "Temporal dev server start")
        client = env.client
        import json
        worker_env = {**os.environ, "AFTERSALES_TEMPORAL_ADDRESS": client.service_client.config.target_host,
                      "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
                      "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_SMTP_PORT": str(smtp.port),
                      "AFTERSALES_CODEC_KEYS": json.dumps(keys), "AFTERSALES_CODEC_ENCODE_KEY_ID": next(iter(keys)),
                      "AFTERSALES_DEMO_SECONDS_PER_WORKING_DAY": str(args.demo_seconds),
                      "AFTERSALES_LOG_LEVEL": "WARNING",
                      "AFTERSALES_ACTOR_ASSERTION_KEY": settings.actor_assertion_key}  # P4: the API's and the workers'
        procs = [subprocess.Popen([sys.executable, str(REPO / "worker.py")], cwd=REPO, env=worker_env,
                                  stdout=log.open("ab"), stderr=subprocess.STDOUT) for _ in range(args.workers)]
        pids = [proc.pid for proc in procs]
        sampler = RssSampler(pids)
        sampler_task = asyncio.create_task(sampler.run())
        await asyncio.sleep(5)
        rss_idle = largest_rss(pids)

        gate = asyncio.Semaphore(args.concurrency)
        numbers = [f"TS-2026-{i + 1:06d}" for i in range(args.cases)]

        async def open_one(i: int, no: str) -> None:
            if args.window:  # paced: the due times spread evenly over the window, as a busy day has them
                await asyncio.sleep(max(0.0, t0 + i * args.window / args.cases - time.perf_counter()))
            async with gate:
                opening_start = StartComplaint(case_no=no, registered_by=actor(Role.hotline),
                                               intake=intake(f"{hash(no) % 40 + 1}栋"), **opened_as)
                # P4: vouched for as the API vouches for an intake
                opening_start.assertion = actor_assertion.sign_start(no, opening_start, settings.actor_assertion_key)
                start = WithStartWorkflowOperation(
                    ComplaintWorkflow.run, opening_start,
                    id=no, task_queue=settings.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
                await client.execute_update_with_start_workflow(
                    CaseWorkflow.opened, start_workflow_operation=start,
                    rpc_timeout=timedelta(seconds=args.step_timeout))

        t0 = time.perf_counter()
        results = await bounded(asyncio.gather(*(open_one(i, n) for i, n in enumerate(numbers)), return_exceptions=True),
                                args.timeout, "opening")
        opening_s = time.perf_counter() - t0
        failed = [r for r in results if isinstance(r, BaseException)]
        rss_open = largest_rss(pids)
        print(f"opened {args.cases - len(failed)} complaints in {opening_s:.0f} s "
              f"({(args.cases - len(failed)) / opening_s:.1f}/s), {len(failed)} failed"
              + (f": {failed[0]!r}"[:200] if failed else ""))

        # every case's first escalating deadline (C4, 3 working days of demo time) passes, then a margin
        wait = 3 * args.demo_seconds + args.margin   # the last case opened just now
        print(f"waiting {max(wait, 0):.0f} s for the deadlines and their escalations ...")
        servers = dev_server_pids()

        def cpu_now() -> tuple[float, float]:
            return sum(map(cpu_seconds, servers)), sum(map(cpu_seconds, pids))
        # The quiet time before the first deadline (cases open, nothing due): what the server and the worker
        # spend anyway (timers, the register's sweeps, the dev server's own housekeeping), per second.
        waited_from = time.perf_counter()
        quiet = max(0.0, t0 + 3 * args.demo_seconds - 5 - waited_from)
        quiet_before = cpu_now()
        await asyncio.sleep(quiet)
        cpu_before = cpu_now()
        quiet_rate = [(after - before) / quiet if quiet else 0.0 for after, before in zip(cpu_before, quiet_before)]
        escalations_before = await escalation_count(engine)
        t_due = time.perf_counter()
        await asyncio.sleep(max(wait - (t_due - waited_from), 0))
        due_seconds = time.perf_counter() - t_due
        cpu_wait = [after - before for after, before in zip(cpu_now(), cpu_before)]
        escalations = await escalation_count(engine) - escalations_before

        if args.read_from == "register":  # one query, the worker left alone (the ladder keeps it busy)
            late = await register_lateness(engine, numbers)
        else:
            read_gate = asyncio.Semaphore(50)

            async def lateness(no: str):
                async with read_gate:
                    view = await client.get_workflow_handle(no).query(CaseWorkflow.state)
                    return first_escalation_lateness(view)
            late = await bounded(asyncio.gather(*(lateness(n) for n in numbers), return_exceptions=True),
                                 args.timeout, "reading")
        found = [x for x in late if isinstance(x, tuple)]
        errors = [x for x in late if isinstance(x, BaseException)]
        missing = len(numbers) - len(found) - len(errors)
        digests = [m for m in smtp.messages if "提醒汇总" in m.subject]
        rss_end = largest_rss(pids)
    finally:
        if sampler_task:
            sampler_task.cancel()
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        await shut_down(env, engine, smtp)
        if pg is not None:
            pg.__exit__(None, None, None)

    print(f"\ntimer_bench: {args.cases} complaints, demo time {args.demo_seconds} s per working day, "
          + (f"{args.workers} workers, each in its own process" if args.workers > 1 else "worker in its own process")
          + f", read model {args.read_model}")
    if found:
        found.sort()
        lates = [s for _, s in found]
        span = (found[-1][0] - found[0][0]).total_seconds()
        print(f"escalations found {len(found)}, not escalated {missing}, not readable {len(errors)}"
              + (f" ({errors[0]!r}"[:160] + ")" if errors else "") + f"; due times spread over {span:.0f} s")
        print(f"progress reminders (E4, rules 5: the register's sweep): {len(digests)} digest e-mails")
        print(f"lateness (timeline time − due time): p50 {ms(pct(lates, 50))} ms, p99 {ms(pct(lates, 99))} ms, "
              f"max {ms(max(lates))} ms")
        tenth = max(1, len(found) // 10)
        print("p99 per tenth of the due window, in order: " + ", ".join(
            ms(pct([s for _, s in found[i:i + tenth]], 99)) for i in range(0, len(found), tenth)) + " ms")
    else:
        print(f"no escalation found ({missing} cases without one): see {log}")
    per_escalation = sum(cpu_wait) / max(1, escalations) * 1000
    net = [c - r * due_seconds for c, r in zip(cpu_wait, quiet_rate)]
    print(f"CPU from the first due time on ({due_seconds:,.0f} s): server {cpu_wait[0]:,.1f} s, worker "
          f"{cpu_wait[1]:,.1f} s, for {escalations:,} escalations (every level): {per_escalation:,.1f} ms per "
          f"escalation (server + worker)")
    print(f"CPU when nothing is due ({quiet:,.0f} s before the first deadline): server {quiet_rate[0] * 100:,.1f}%, "
          f"worker {quiet_rate[1] * 100:,.1f}% of a core; net of it, per escalation: server "
          f"{net[0] / max(1, escalations) * 1000:,.1f} ms, worker {net[1] / max(1, escalations) * 1000:,.1f} ms")
    peak = max(sampler.samples) if sampler.samples else None
    per_case = ((rss_open or 0) - (rss_idle or 0)) / max(1, args.cases / args.workers) * 1024
    print("worker RSS MiB" + (f" (the largest of {args.workers})" if args.workers > 1 else "") + f": idle {rss_idle:,.1f}, all open {rss_open:,.1f}, end {rss_end:,.1f}, peak {peak:,.1f}; "
          f"{per_case:,.1f} KiB per open case (open − idle)")
    shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.timer_bench")
    p.add_argument("--cases", type=int, default=300, help="complaints to open (default 300)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes on the task queue (default 1); CPU is their sum, RSS the largest's")
    p.add_argument("--concurrency", type=int, default=50, help="intakes in flight at once (default 50)")
    p.add_argument("--demo-seconds", type=int, default=None,
                   help="seconds per working day (default: enough for the opening to finish before the first "
                        "deadline: cases / 10)")
    p.add_argument("--window", type=float, default=None,
                   help="open the cases evenly over this many seconds, so that their deadlines fall due over as "
                        "many (600, ten minutes); default: as fast as they open")
    p.add_argument("--margin", type=float, default=60.0, help="seconds waited after the last due time (default 60)")
    p.add_argument("--read-model", choices=("sqlite", "postgres"), default="sqlite",
                   help="the read model the workers write: the embedded default's SQLite file (default) or a "
                        "throwaway PostgreSQL cluster on loopback, as in production (fsync off)")
    p.add_argument("--read-from", choices=("register", "query"), default="register",
                   help="where the escalations are read: the read model (default; leaves the worker alone) or "
                        "each case's query")
    p.add_argument("--step-timeout", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=3600.0)
    args = p.parse_args(argv)
    if args.demo_seconds is None:
        args.demo_seconds = max(60, args.cases // 10)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
