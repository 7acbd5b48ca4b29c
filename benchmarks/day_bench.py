"""A busy group day replayed (P5): intakes and the actions of complaints' and repairs' paths over HTTP, at speed.

    .venv/bin/python -m benchmarks.day_bench                              # 1,000 intakes, 15,000 actions, 50× speed
    .venv/bin/python -m benchmarks.day_bench --intakes 10 --actions 120 --speed 2000 --raw 100   # a toy day

The day: `--intakes` cases received between 08:00 and 20:00 (two peaks, mid-morning and mid-afternoon), 40%
complaints and 60% repairs, each taken along its real path by the accounts whose step it is — a complaint:
classify, assign_handler, department_feedback, progress notes, propose_solution, decide, inform_customer,
record_compensation_paid, record_satisfaction, summarise, close; a repair: agree_appointment, record_arrival,
record_survey, sign_survey (four parties, R2), decide (A1: cs_manager up to ¥1,000, else the deputy chief
engineer and the deputy GM), dispatch, complete_work, inspect (twice, R6), owner_sign_off, revisit,
cost_statement, decide (A2/A3: audit, the contractor's and the deputy chief engineer's confirmations), pay —
each step some minutes of the day after the last, until `--actions` actions are spent (cases received late
stop where the day ends; a tenth are left after their first step, so that deadlines fall due and escalate).
Photos are not part of the day (files_bench measures them): D2's file checks are off.

Replayed at `--speed` (50: the twelve hours in 14.4 minutes) over HTTP through uvicorn: `--api` API processes
(`python -m api`, each on its own socket, the load spread over them in turn as a balancer would) and
`--workers` worker processes (`python worker.py`) against one Temporal dev server, a SQLite read model they all
share (or `--read-model postgres`), the notices to an SMTP server on loopback. Every request carries an
Idempotency-Key and is sent again on a 5xx or a broken connection (a client's retry), at most three times.
Working days run on demo time (`--demo-seconds` a working day; default: 9 hours at the replay's speed).

Before and after the day, on the same server in the same run: the raw temporalio client's Update
(`--raw` Updates, 20 at once, a counter workflow in a worker process of its own), and the day's mix flat out
(`--burst` cases along their paths, 20 at once): the mix's throughput beside the raw client's, and the ratio.

Prints: 5xx and other errors, p50/p99 per action kind, the escalations' lateness (timeline time − due time),
duplicate case numbers, lost actions (an acknowledged action whose effect the case does not show), doubled
notices (the same Message-ID twice at the SMTP server), the CPU of each process and the machine's load.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from benchmarks.throughput_bench import (
    RawCase, WORKER_PIDS, start_worker, stop_processes, until_polled, worker_env,
)
from benchmarks.workflow_bench import bounded, cpu_seconds, dev_server_pids, pct, read_model, shut_down, temporal_cli

REPO = Path(__file__).resolve().parents[1]
DAY_START_H, DAY_END_H = 8, 20
MINIMAL = {"Prefer": "return=minimal"}
# what an action's step is called in the figures: the action, or the action and who takes it
HEAVY = {"classify", "assign_handler", "propose_solution", "decide", "record_survey", "dispatch", "cost_statement"}


def customer(i: int) -> dict[str, str]:
    return {"name": "王女士", "phone": f"138{i % 100_000_000:08d}", "project": "融侨城",
            "building": f"{i % 97 + 1}栋", "unit": f"{i % 33 + 1}{i % 4 + 1:02d}"}


def complaint_path(i: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    notes = [("butler" if rng.random() < 0.5 else "cs_staff", {"action": "progress_note", "note": "已联系业主，跟进中"})
             for _ in range(rng.choice((0, 1, 1, 2)))]
    return [
        ("cs_staff", {"action": "classify", "category": "漏水", "department": "工程部", "justified": True}),
        ("dept_head", {"action": "assign_handler", "handler": "dept_handler"}),
        ("dept_handler", {"action": "department_feedback", "findings": "防水层破损"}),
        *notes,
        ("dept_handler", {"action": "propose_solution", "solution": "重做防水", "compensation": "800.00"}),
        ("cs_manager", {"action": "decide", "decision": "approve"}),
        ("cs_staff", {"action": "inform_customer", "message": "下周一重做防水"}),
        ("finance", {"action": "record_compensation_paid", "amount": "800.00", "reference": f"BC-{i:06d}"}),
        ("cs_staff", {"action": "record_satisfaction", "told_via": "phone", "score": 5}),
        ("cs_staff", {"action": "summarise", "summary": "防水施工缺陷", "corrective_measures": "重做",
                      "preventive_measures": "闭水试验"}),
        ("cs_staff", {"action": "close", "outcome_note": "已修复"}),
    ]


def repair_path(i: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    small = rng.random() < 0.75   # A1: most repairs within cs_manager's ¥1,000
    estimate, cost = ("800.00", "900.00") if small else ("6000.00", "6500.00")
    approvers = ["cs_manager"] if small else ["deputy_chief_engineer", "deputy_gm"]
    return [
        ("cs_staff", {"action": "agree_appointment", "told_via": "phone", "appointment_at": "NOW-1m"}),
        ("repair_lead", {"action": "record_arrival", "arrived_at": "NOW"}),
        ("cs_staff", {"action": "record_survey", "responsible_party": "工程部", "contractor_id": "CT-DEMO",
                      "multi_trade": False, "estimate": estimate, "order_type": "A"}),
        *((who, {"action": "sign_survey"}) for who in ("cs_staff", "engineering", "repair_lead", "contractor")),
        *((who, {"action": "decide", "decision": "approve", "reason": "同意"}) for who in approvers),
        ("engineering", {"action": "dispatch", "workers": ["contractor"], "to_contractor": True}),
        ("contractor", {"action": "complete_work", "note": "已完成维修"}),
        ("cs_staff", {"action": "inspect", "passed": True}),
        ("repair_lead", {"action": "inspect", "passed": True}),
        ("cs_staff", {"action": "owner_sign_off", "told_via": "phone", "quality": 5, "attitude": 5}),
        ("cs_staff", {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5}),
        ("repair_lead", {"action": "cost_statement", "amount": cost, "note": "决算"}),
        *((who, {"action": "decide", "decision": "approve"}) for who in ("cs_manager", "contractor",
                                                                         "deputy_chief_engineer")),
        ("finance", {"action": "pay", "amount": cost, "reference": f"FK-{i:06d}"}),
    ]


@dataclass
class Plan:
    """One case of the day: when it is received (seconds into the day), its intake, its steps with their times."""
    i: int
    kind: str
    at: float
    steps: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)


def plan_day(intakes: int, actions: int, seed: int = 30) -> list[Plan]:
    rng = random.Random(seed)
    day = (DAY_END_H - DAY_START_H) * 3600

    def when() -> float:   # two peaks (10:30, 15:00) over a flat floor
        while True:
            x = rng.choice((rng.gauss(2.5 * 3600, 4000), rng.gauss(7 * 3600, 5000), rng.uniform(0, day)))
            if 0 <= x < day * 0.97:
                return x
    plans = sorted((Plan(i, "complaint" if rng.random() < 0.4 else "repair", when()) for i in range(intakes)),
                   key=lambda p: p.at)
    for p in plans:
        path = complaint_path(p.i, rng) if p.kind == "complaint" else repair_path(p.i, rng)
        if rng.random() < 0.1:
            path = path[:1]          # left after its first step: its deadlines fall due (E1)
        t = p.at
        for who, body in path:
            t += rng.uniform(3, 40) * 60   # minutes of the day between one step and the next
            if t >= day:
                break
            p.steps.append((t, who, body))
    # the day's actions: as many as asked, taken in time order over every case (the latest are cut)
    everything = sorted(((t, p.i, k) for p in plans for k, (t, _, _) in enumerate(p.steps)))
    keep = {(i, k) for _, i, k in everything[:actions]}
    for p in plans:
        p.steps = [s for k, s in enumerate(p.steps) if (p.i, k) in keep]
    return plans


@dataclass
class Stats:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    status: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    acked: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # case → actions answered 200
    numbers: list[str] = field(default_factory=list)
    retries: int = 0
    late_sends: list[float] = field(default_factory=list)   # how late the replay sent a request (its own lag)


class Load:
    """HTTP to the API processes in turn (a balancer's round robin), with a client's retry on a 5xx or a
    broken connection, the same Idempotency-Key each time."""

    def __init__(self, urls: list[str], tokens: dict[str, str], timeout: float) -> None:
        self.clients = [httpx.AsyncClient(base_url=u, timeout=timeout,
                                          limits=httpx.Limits(max_connections=200, max_keepalive_connections=100))
                        for u in urls]
        self.turn = itertools.cycle(range(len(urls)))
        self.tokens = tokens

    async def post(self, stats: Stats, label: str, path: str, who: str, body: dict, key: str) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Idempotency-Key": key, **MINIMAL}
        for attempt in range(3):
            t = time.perf_counter()
            try:
                r = await self.clients[next(self.turn)].post(path, json=body, headers=headers)
            except httpx.TransportError as e:
                stats.status["transport"] += 1
                stats.errors.append(f"{label}: {type(e).__name__} {e}"[:200])
                stats.retries += 1
                continue
            stats.status[r.status_code] += 1
            if r.status_code >= 500:
                stats.errors.append(f"{label}: {r.status_code} {r.text[:150]}")
                stats.retries += 1
                continue
            stats.latency[label].append(time.perf_counter() - t)
            if r.status_code >= 400:
                stats.errors.append(f"{label}: {r.status_code} {r.text[:150]}")
            return r
        return None

    async def aclose(self) -> None:
        for c in self.clients:
            await c.aclose()


def materialise(body: dict[str, Any]) -> dict[str, Any]:
    """Times reckoned when sent (R1 refuses an appointment in the past beyond its tolerance, an arrival ahead)."""
    now = datetime.now(timezone.utc)
    out = dict(body)
    for k, v in body.items():
        if v == "NOW":
            out[k] = now.isoformat()
        elif v == "NOW-1m":
            out[k] = (now - timedelta(minutes=1)).isoformat()
    return out


async def run_case(load: Load, stats: Stats, p: Plan, t0: float, speed: float, run_id: str) -> None:
    async def at(day_seconds: float) -> None:
        due = t0 + day_seconds / speed
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            stats.late_sends.append(-delay)
    await at(p.at)
    if p.kind == "complaint":
        body = {"customer": customer(p.i), "channel": "phone", "category": "漏水", "description": "卫生间天花板漏水"}
    else:
        appointment = (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=2)).replace(
            hour=10, minute=0, second=0, microsecond=0).isoformat()
        body = {"customer": customer(p.i), "trades": ["防水"], "description": "外墙渗水",
                "requested_appointment": appointment, "paid_service": False}
    label = "POST /complaints" if p.kind == "complaint" else "POST /repairs"
    r = await load.post(stats, label, "/complaints" if p.kind == "complaint" else "/repairs", "hotline", body,
                        f"{run_id}-intake-{p.i}")
    if r is None or r.status_code != 201:
        return
    no = r.json()["case_no"]
    stats.numbers.append(no)
    for k, (t, who, action) in enumerate(p.steps):
        await at(t)
        r = await load.post(stats, action["action"], f"/cases/{no}/actions", who, materialise(action),
                            f"{run_id}-{p.i}-{k}")
        if r is None or r.status_code != 200:
            return   # the rest of this case's path cannot follow
        stats.acked[no].append(action["action"])


async def tokens_for(url: str, password: str) -> dict[str, str]:
    users = ("hotline", "cs_staff", "butler", "dept_head", "dept_handler", "cs_manager", "finance", "repair_lead",
             "engineering", "contractor", "deputy_chief_engineer", "deputy_gm", "gm", "auditor")
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        out = {}
        for u in users:
            r = await c.post("/auth/token", data={"username": u, "password": password})
            r.raise_for_status()
            out[u] = r.json()["access_token"]
        return out


async def raw_rate(client, queue: str, n: int, concurrency: int = 20) -> tuple[float, float]:
    """(Updates a second, p99 s) of the raw client: a counter workflow's Update, `concurrency` at once."""
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy
    ids = [f"raw-{uuid.uuid4().hex[:8]}-{i}" for i in range(concurrency)]
    await asyncio.gather(*(client.execute_update_with_start_workflow(
        RawCase.act, "open", start_workflow_operation=WithStartWorkflowOperation(
            RawCase.run, id=w, task_queue=queue, id_conflict_policy=WorkflowIDConflictPolicy.FAIL)) for w in ids))
    gate, lat = asyncio.Semaphore(concurrency), []

    async def one(i: int) -> None:
        async with gate:
            t = time.perf_counter()
            await client.get_workflow_handle(ids[i % concurrency]).execute_update(RawCase.act, "n")
            lat.append(time.perf_counter() - t)
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0), pct(lat, 99)


async def mix_flat_out(load: Load, n_cases: int, run_id: str, concurrency: int = 20) -> tuple[float, int, Stats]:
    """The day's mix as fast as it goes: `n_cases` cases along their paths, `concurrency` at once."""
    stats = Stats()
    plans = plan_day(n_cases, 10 ** 9, seed=31)
    for p in plans:   # no waits: every step at once after the last
        p.at, p.steps = 0.0, [(0.0, w, b) for _, w, b in p.steps]
    gate = asyncio.Semaphore(concurrency)

    async def one(p: Plan) -> None:
        async with gate:
            await run_case(load, stats, p, time.perf_counter(), 1.0, run_id)
    t0 = time.perf_counter()
    await asyncio.gather(*(one(p) for p in plans))
    wall = time.perf_counter() - t0
    done = sum(len(v) for v in stats.latency.values())
    return done / wall, done, stats


async def escalation_lateness(client, numbers: list[str]) -> tuple[list[float], int]:
    """Seconds late of every escalation in the cases' timelines (the entry's time − its deadline's due time)."""
    from benchmarks.timer_bench import first_escalation_lateness
    from workflows.case_workflow import CaseWorkflow
    late, found = [], 0
    for no in numbers:
        try:
            view = await client.get_workflow_handle(no).query(CaseWorkflow.state)
        except Exception:  # noqa: BLE001 - a closed case's view is in the register; its lateness is counted live
            continue
        v = view.model_dump(mode="json") if hasattr(view, "model_dump") else view
        got = first_escalation_lateness(v)
        if got:
            found += 1
            late.append(got[1])
    return late, found


async def lost_actions(maker, stats: Stats) -> list[str]:
    """Cases whose register (written by the projection) does not show every acknowledged action: fewer timeline
    entries of those kinds than acknowledgements."""
    from sqlalchemy import func, select
    from adapters.db.models import TimelineEntry
    lost = []
    async with maker() as s:
        rows = await s.execute(select(TimelineEntry.case_no, func.count()).where(
            TimelineEntry.case_no.in_(list(stats.acked))).group_by(TimelineEntry.case_no))
        entries = dict(rows.all())
    for no, acked in stats.acked.items():
        if entries.get(no, 0) < len(acked) + 1:   # the intake's entry and one at least per action
            lost.append(f"{no}: {entries.get(no, 0)} entries for {len(acked)} actions")
    return lost


def load_line() -> str:
    with open("/proc/loadavg") as f:
        return "load average " + " ".join(f.read().split()[:3])


async def run(args: argparse.Namespace) -> None:
    from adapters.config import Settings
    from adapters.logging import configure_logging
    from adapters.temporal import search_attributes as sa
    from adapters.temporal.codec import data_converter, new_key
    from temporalio.testing import WorkflowEnvironment
    from tests.support.api_server import APIServer
    from tests.support.smtp import SMTPServer
    configure_logging("WARNING")
    tmp = Path(tempfile.mkdtemp(prefix="aftersales-day-"))
    env = engine = smtp = pg = None
    procs: list[subprocess.Popen] = []
    apis: list[APIServer] = []
    load = None
    demo = args.demo_seconds or max(20, int(9 * 3600 / args.speed))
    try:
        smtp = await bounded(SMTPServer().__aenter__(), 15, "SMTP server start")
        url = f"sqlite+aiosqlite:///{tmp / 'read-model.db'}"
        if args.read_model == "postgres":
            from tests.support.postgres import TemporaryPostgres
            pg = TemporaryPostgres().start()
            url = pg.url()
        settings = Settings(database_url=url, smtp_host="127.0.0.1", smtp_port=smtp.port, bcrypt_rounds=4,
                            task_queue=f"day-{uuid.uuid4().hex[:10]}", codec_keys=dict([new_key()]),
                            jwt_secret=uuid.uuid4().hex * 2, actor_assertion_key=uuid.uuid4().hex * 2,
                            phone_lookup_key=uuid.uuid4().hex * 2, files_dir=str(tmp / "files"),
                            demo_seconds_per_working_day=demo, files_require_after_work_photo=False,
                            files_require_signed_cost_statement=False)
        engine, maker = await read_model(settings)
        env = await bounded(WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=data_converter(settings),
            search_attributes=sa.ALL, ip="127.0.0.1", ui=False), 90, "Temporal dev server start")
        client = env.client
        address = client.service_client.config.target_host
        wenv = {**worker_env(settings, address), "AFTERSALES_JWT_SECRET": settings.jwt_secret,
                "AFTERSALES_PHONE_LOOKUP_KEY": settings.phone_lookup_key, "AFTERSALES_FILES_DIR": settings.files_dir,
                "AFTERSALES_SMS_OUTBOX_FILE": str(tmp / "sms.log"), "AFTERSALES_DEMO_SECONDS_PER_WORKING_DAY": str(demo),
                "AFTERSALES_FILES_REQUIRE_AFTER_WORK_PHOTO": "false",
                "AFTERSALES_FILES_REQUIRE_SIGNED_COST_STATEMENT": "false", "AFTERSALES_BCRYPT_ROUNDS": "4",
                "AFTERSALES_SEED_DEMO_USERS": "false", "AFTERSALES_LOGIN_FAILURES_PER_ADDRESS": "10000",
                "AFTERSALES_MAX_INFLIGHT_UPDATES": str(args.max_inflight)}
        raw_queue = f"raw-{uuid.uuid4().hex[:8]}"
        procs.append(start_worker("raw", ["-m", "benchmarks.throughput_bench", "--raw-worker", raw_queue], wenv,
                                  tmp / "raw-worker.log"))
        for n in range(args.workers):
            procs.append(start_worker("product", [str(REPO / "worker.py")], wenv, tmp / f"worker-{n}.log"))
        for n in range(args.api):
            apis.append(APIServer(env=wenv, log=tmp / f"api-{n}.log").__enter__())
        for a in apis:
            await a.wait_healthy(timeout=120)
        for queue in (raw_queue, settings.task_queue):
            await until_polled(client, queue)
        api_pids = [a.proc.pid for a in apis if a.proc]
        tokens = await tokens_for(apis[0].url, settings.demo_password)
        load = Load([a.url for a in apis], tokens, timeout=args.step_timeout)
        run_id = uuid.uuid4().hex[:6]
        print(f"day_bench: {args.intakes:,} intakes, {args.actions:,} actions, {args.speed:g}× speed, {args.api} API "
              f"and {args.workers} worker processes, one dev server, read model {args.read_model}, a working day of "
              f"{demo} s; {load_line()} (2 cores shared)", flush=True)

        # ---- the raw client and the mix flat out, before the day ---------------------------------------
        raw_before = await raw_rate(client, raw_queue, args.raw)
        mix_rate, mix_n, mix_stats = await mix_flat_out(load, args.burst, run_id + "b")

        # ---- the day -----------------------------------------------------------------------------------
        plans = plan_day(args.intakes, args.actions)
        n_actions = sum(len(p.steps) for p in plans)
        stats = Stats()
        pids = {"server": dev_server_pids(), "api": api_pids, "workers": WORKER_PIDS["product"]}
        cpu0 = {k: sum(map(cpu_seconds, v)) for k, v in pids.items()}
        t_day = time.perf_counter()
        await bounded(asyncio.gather(*(run_case(load, stats, p, t_day, args.speed, run_id) for p in plans)),
                      (DAY_END_H - DAY_START_H) * 3600 / args.speed + args.timeout, "the day")
        day_wall = time.perf_counter() - t_day
        cpu = {k: sum(map(cpu_seconds, v)) - cpu0[k] for k, v in pids.items()}
        load_after_day = load_line()
        await asyncio.sleep(args.settle)   # the last notices and projections land
        raw_after = await raw_rate(client, raw_queue, args.raw)

        # ---- what came of it ---------------------------------------------------------------------------
        late, escalated = await escalation_lateness(client, stats.numbers)
        lost = await lost_actions(maker, stats)
        ids = Counter(m.headers.get("Message-ID") for m in smtp.messages)
        doubled = {k: v for k, v in ids.items() if k and v > 1}
        dupes = [n for n, c in Counter(stats.numbers).items() if c > 1]
    finally:
        if load is not None:
            await load.aclose()
        for a in apis:
            a.__exit__(None, None, None)
        stop_processes(procs)
        await shut_down(env, engine, smtp)
        if pg is not None:
            pg.stop()
        if args.keep_logs:  # the API's and workers' logs (a 5xx's exception is there), kept for reading
            keep = Path(args.keep_logs)
            keep.mkdir(parents=True, exist_ok=True)
            for log in tmp.glob("*.log"):
                shutil.copy(log, keep / log.name)
        shutil.rmtree(tmp, ignore_errors=True)

    done = sum(len(v) for k, v in stats.latency.items() if not k.startswith("POST"))
    print(f"\nthe day: {len(stats.numbers):,} cases opened, {done:,} of {n_actions:,} planned actions answered in "
          f"{day_wall:,.0f} s ({done / day_wall:.1f} actions/s); {load_after_day} at its end")
    print(f"  HTTP answers: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(stats.status.items(), key=str)) +
          f"; 5xx: {sum(v for k, v in stats.status.items() if isinstance(k, int) and k >= 500)}, retries {stats.retries}")
    for e in sorted(set(stats.errors))[:8]:
        print(f"    {e}")
    if stats.late_sends:
        print(f"  the replay's own lag (sent after its time): p99 {pct(stats.late_sends, 99) * 1000:,.0f} ms")
    print(f"  {'action':28}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    everything = []
    for label in sorted(stats.latency, key=lambda k: -len(stats.latency[k])):
        lat = stats.latency[label]
        everything += lat if not label.startswith("POST") else []
        print(f"  {label + (' *' if label in HEAVY else ''):28}{len(lat):>7}{pct(lat, 50) * 1000:>9.0f}"
              f"{pct(lat, 99) * 1000:>9.0f}{max(lat) * 1000:>9.0f}")
    if everything:
        print(f"  every action: p99 {pct(everything, 99) * 1000:,.0f} ms (target ≤ 1,000: "
              f"{'met' if pct(everything, 99) <= 1 else 'NOT met'}); * starts deadlines or notices")
    print(f"  CPU of the day: server {cpu['server']:.0f} s, API {cpu['api']:.0f} s, workers {cpu['workers']:.0f} s "
          f"= {sum(cpu.values()) / max(1, done + len(stats.numbers)) * 1000:.1f} ms a request")
    print(f"  escalations: {escalated} cases escalated" + (
        f", lateness p50 {pct(late, 50) * 1000:,.0f} ms, p99 {pct(late, 99) * 1000:,.0f} ms, max {max(late) * 1000:,.0f} ms "
        f"(target p99 ≤ 2,000: {'met' if pct(late, 99) <= 2 else 'NOT met'})" if late else ""))
    print(f"  duplicate case numbers: {len(dupes)}; lost actions: {len(lost)}; doubled notices: {len(doubled)} "
          f"({len(smtp.messages):,} e-mails received)")
    for x in (lost[:3] + [f"{k} ×{v}" for k, v in list(doubled.items())[:3]]):
        print(f"    {x}")
    raw = (raw_before[0] + raw_after[0]) / 2
    print(f"\nthroughput on the same server: raw Update {raw_before[0]:.1f} and {raw_after[0]:.1f}/s before and after "
          f"the day (p99 {raw_before[1] * 1000:.0f} / {raw_after[1] * 1000:.0f} ms); the mix flat out, 20 at once "
          f"({args.burst} cases, {mix_n:,} requests, {sum(mix_stats.status[k] for k in mix_stats.status if isinstance(k, int) and k >= 500)} 5xx): "
          f"{mix_rate:.1f}/s; ratio mix / raw {mix_rate / raw:.2f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.day_bench")
    p.add_argument("--intakes", type=int, default=1000)
    p.add_argument("--actions", type=int, default=15000)
    p.add_argument("--speed", type=float, default=50.0, help="the day's seconds per second of the replay (default 50)")
    p.add_argument("--api", type=int, default=2, help="API processes (default 2)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--raw", type=int, default=2000, help="raw Updates before and after the day (default 2,000)")
    p.add_argument("--burst", type=int, default=60, help="cases of the mix flat out (default 60)")
    p.add_argument("--demo-seconds", type=int, default=0, help="a working day in seconds (default: 9 h at --speed)")
    p.add_argument("--read-model", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--max-inflight", type=int, default=256, help="the API's bound on Updates in flight")
    p.add_argument("--step-timeout", type=float, default=30.0)
    p.add_argument("--timeout", type=float, default=900.0, help="bound on the day beyond its own length, s")
    p.add_argument("--keep-logs", metavar="DIR", help="copy the API's and workers' logs here at the end")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after the day before counting notices")
    asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    main()
