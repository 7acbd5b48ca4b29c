"""The workbench's pages with 10,000 cases in the read model: my work and the register
(goal: under 200 ms) and a live case page (goal: under 300 ms), on the embedded default's parts.

    .venv/bin/python -m benchmarks.workbench_bench                    # 10,000 cases, 30 requests per page
    .venv/bin/python -m benchmarks.workbench_bench --cases 100000 --repeat 10

The register is seeded with bulk inserts as in register_bench (both case types, a status mix, who acts
next on the open ones); then a Temporal dev server, the worker and the API in process (httpx ASGI
transport, signed in with the session cookie as a browser is) file a complaint through the intake page
and time, each `--repeat` times after one warm-up: 我的待办 for cs_staff and for a dept_handler, the
register unfiltered and filtered, and the live case page (the workflow's query, masking, the action
forms). Prints p50 / p95 / max in ms beside the goals; asserts nothing.
"""

import argparse
import asyncio
import random
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from adapters.temporal import search_attributes as sa
from adapters.temporal.codec import data_converter, new_key
from adapters.config import Settings
from benchmarks.register_bench import pct, seed_rows
from benchmarks.workflow_bench import bounded, read_model, shut_down, stop_worker, temporal_cli
from worker import build_worker

NEXT = {"registered": "|cs_staff|", "summarised": "|cs_staff|", "approved": "|cs_staff|", "scheduled": "|engineering|repair_lead|",
        "awaiting_payment": "|finance|", "in_progress": "|engineering|repair_lead|", "investigated": "|dept_handler|"}


def with_next_actors(rows: list[dict], rng: random.Random) -> list[dict]:
    for r in rows:
        if r["status"] != "closed":
            r["next_roles"] = NEXT.get(r["status"], rng.choice(["|cs_staff|", "|dept_head|", "|cs_manager|"]))
            r["next_user"] = r["handler"] if r["next_roles"] == "|dept_handler|" else None
    return rows


async def timed(client: httpx.AsyncClient, path: str, params: dict | None, repeat: int) -> list[float]:
    r = await client.get(path, params=params)   # warm
    if r.status_code != 200:
        raise SystemExit(f"GET {path}: {r.status_code} {r.text[:300]}")
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = await client.get(path, params=params)
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text[:300]
    return samples


async def sign_in(app, username: str, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=60)
    r = await client.post("/app/login", data={"username": username, "password": password})
    if r.status_code != 303:
        raise SystemExit(f"sign-in as {username}: {r.status_code} {r.text[:200]}")
    return client


async def run(args: argparse.Namespace) -> None:
    from adapters.db.models import Case
    from adapters.logging import configure_logging
    from api.app import create_app
    from tests.support.smtp import SMTPServer
    from sqlalchemy import insert
    configure_logging("WARNING")
    tmp = Path(tempfile.mkdtemp(prefix="aftersales-workbench-"))
    env = engine = smtp = None
    worker = task = None
    try:
        smtp = await bounded(SMTPServer().__aenter__(), 15, "SMTP server start")
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'read-model.db'}", smtp_host="127.0.0.1",
                            smtp_port=smtp.port, bcrypt_rounds=4, task_queue=f"bench-{uuid.uuid4().hex[:10]}",
                            codec_keys=dict([new_key()]))
        engine, maker = await read_model(settings)
        rng = random.Random(11)
        rows = with_next_actors(seed_rows(args.cases, rng), rng)
        columns = set(Case.__table__.columns.keys())
        t0 = time.perf_counter()
        async with maker() as s:
            for i in range(0, len(rows), 2000):
                await s.execute(insert(Case), [{k: v for k, v in r.items() if k in columns} for r in rows[i:i + 2000]])
            await s.commit()
        print(f"seeded {len(rows):,} cases in {time.perf_counter() - t0:.1f} s")
        env = await bounded(WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=data_converter(settings),
            search_attributes=sa.ALL, ip="127.0.0.1", ui=False), 90, "Temporal dev server start")
        worker = build_worker(env.client, settings, maker)
        task = asyncio.create_task(worker.run())
        app = create_app(settings, temporal=env.client, sessionmaker=maker)
        hotline = await sign_in(app, "hotline", settings.demo_password)
        page = await hotline.get("/app/new/complaint")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        filed = await hotline.post("/app/new/complaint", data={
            "csrf": csrf, "idempotency_key": uuid.uuid4().hex, "name": "王女士", "phone": "13812341234",
            "project": "融侨城1期", "building": "5栋", "unit": "1203", "channel": "phone", "category": "漏水",
            "description": "卫生间天花板漏水"})
        if filed.status_code != 303:
            raise SystemExit(f"intake page: {filed.status_code} {filed.text[:300]}")
        case_page = filed.headers["location"].split("?")[0]
        staff = await sign_in(app, "cs_staff", settings.demo_password)
        handler = await sign_in(app, "dept_handler", settings.demo_password)
        pages = [
            ("我的待办 (cs_staff)", staff, "/app/my-work", None, 200),
            ("我的待办 (dept_handler)", handler, "/app/my-work", None, 200),
            ("案件登记簿", staff, "/app/cases", None, 200),
            ("案件登记簿 type+status+project", staff, "/app/cases",
             {"type": "complaint", "status": "registered", "project": "融侨城1期"}, 200),
            ("案件登记簿 overdue", staff, "/app/cases", {"overdue": "yes"}, 200),
            ("案件 (live, by query)", staff, case_page, None, 300),
        ]
        print(f"\nworkbench_bench: {args.cases:,} cases in the read model, {args.repeat} requests per page "
              f"(SQLite, dev server, worker and API in one process)")
        print(f"{'page':34}{'p50':>8}{'p95':>8}{'max':>8}  goal (ms)")
        for label, client, path, params, goal in pages:
            samples = await timed(client, path, params, args.repeat)
            p95 = pct(samples, 95)
            print(f"{label:34}{pct(samples, 50):8.1f}{p95:8.1f}{max(samples):8.1f}  < {goal} "
                  f"{'met' if p95 < goal else 'NOT met'}")
        for client in (hotline, staff, handler):
            await client.aclose()
    finally:
        if worker is not None and task is not None:
            await stop_worker(worker, task)
        await shut_down(env, engine, smtp)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.workbench_bench")
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=30)
    asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    main()
