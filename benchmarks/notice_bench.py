"""The cost of one notice, alone: the `send_notification` activity as a worker runs it (the read model's reads,
the hold and record of each recipient, the SMTP conversation), outside Temporal.

    .venv/bin/python -m benchmarks.notice_bench                        # 300 notices, SQLite, one recipient each
    .venv/bin/python -m benchmarks.notice_bench --recipients 3 --read-model postgres

The notice is a heavy action's (classify: the case's company's department head of 工程部, E1, P5), to an SMTP
server on loopback in a process of its own (aiosmtpd's Sink), so that this process's CPU is the activity's:
sent one after another (wall and CPU per notice) and then `--concurrency` at once (notices a second). With
`--recipients 3` the cs_manager and the gm are told too. Prints the load average beside the figures.
"""

import argparse
import asyncio
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.notify import Notification, NotificationActivities
from adapters.config import Settings
from adapters.db.staff import DEMO_COMPANY, DEMO_DEPARTMENT
from aftersales.roles import Role
from benchmarks.workflow_bench import pct, read_model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="notice-bench-"))
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                             "-l", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pg = None
    try:
        if args.read_model == "postgres":
            from tests.support.postgres import TemporaryPostgres  # noqa: PLC0415 - a bench's own server
            pg = TemporaryPostgres().start()
            url = pg.url()
        else:
            url = f"sqlite+aiosqlite:///{tmp / 'read-model.db'}"
        settings = Settings(_env_file=None, database_url=url, smtp_host="127.0.0.1", smtp_port=port,
                            bcrypt_rounds=4, smtp_timeout_seconds=10)
        engine, maker = await read_model(settings)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        acts = NotificationActivities(maker, settings)
        env = ActivityEnvironment()  # as a worker runs it: the notice's activity, its first attempt
        env.info = dataclasses.replace(env.info, is_local=False, attempt=1)

        async def send(notice: Notification):
            return await env.run(acts.send_notification, notice)
        roles = [Role.dept_head] + ([Role.cs_manager, Role.gm] if args.recipients > 1 else [])

        def notice(i: int) -> Notification:
            return Notification(notification_id=f"BX-2026-{i:06d}:n1", case_no=f"BX-2026-{i:06d}", roles=roles,
                                department=DEMO_DEPARTMENT, company_id=DEMO_COMPANY,
                                subject=f"[BX-2026-{i:06d}] 新投诉待处理", body="卫生间天花板漏水。",
                                reason="classify (C3)")

        for i in range(20):  # warm: connections, statements, imports
            await send(notice(10_000_000 + i))
        n = args.notices
        walls = []
        cpu0, t0 = time.process_time(), time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            result = await send(notice(i))
            walls.append(time.perf_counter() - t)
        one_wall, one_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        assert len(result.emails) == args.recipients, result
        print(f"notices to {args.recipients} recipient(s), {args.read_model}: one after another, {n}: "
              f"p50 {pct(walls, 50) * 1000:.1f} ms, p99 {pct(walls, 99) * 1000:.1f} ms, "
              f"CPU {one_cpu / n * 1000:.1f} ms a notice ({load()})")
        sem = asyncio.Semaphore(args.concurrency)

        async def one(i: int) -> None:
            async with sem:
                await send(notice(i))
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(n + i) for i in range(n)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        print(f"  {args.concurrency} at once, {n}: {n / wall:.0f} notices/s, CPU {cpu / n * 1000:.1f} ms a notice "
              f"({load()})")
        await engine.dispose()
    finally:
        sink.terminate()
        sink.wait(10)
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.notice_bench")
    p.add_argument("--notices", type=int, default=300)
    p.add_argument("--recipients", type=int, choices=(1, 3), default=1)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--read-model", choices=("sqlite", "postgres"), default="sqlite")
    asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    main()
