"""The register (GET /cases) at 100,000 cases and the projection's writes.

    .venv/bin/python -m benchmarks.register_bench                    # 100,000 cases, SQLite and PostgreSQL
    .venv/bin/python -m benchmarks.register_bench --cases 20000 --repeat 10 --no-postgres
    .venv/bin/python -m benchmarks.register_bench --explain          # also the query plans (indexes used)

Seeds the read model with bulk inserts (not through Temporal): realistic rows — both case types, a
status mix with most cases closed, 24 projects, 6 departments, 300 handlers, three years of intake,
a few overdue and escalated cases — whose `view` is what the projection of this code stores. Then,
through the real FastAPI app in process (httpx ASGI transport, a signed-in `cs_manager`), every
filter and the combinations the workbench offers, and the deepest page, each `--repeat` times: p50 /
p95 / max in ms. Then `--projections` projections of real complaint cases (the rule machine driven
along the general path, one projection per action as the workflow sends it) by `--concurrency`
concurrent actions through the `project_case` activity: p50 / p95 / max in ms.

SQLite in a temp directory; PostgreSQL on a throwaway cluster on 127.0.0.1 (tests/support/postgres.py)
when the server binaries exist. Prints figures, asserts nothing about time.
"""

import argparse
import asyncio
import logging
import random
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import structlog
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.cases import CaseActivities
from aftersales import actions as A
from aftersales.case import Ctx, Customer
from aftersales.complaint import ComplaintCase
from aftersales.complaint.state import Channel, ComplaintIntake
from adapters.config import Settings
from adapters.db.migrate import upgrade_to_head
from adapters.db.models import Case, Staff
from adapters.db.session import make_engine, make_sessionmaker
from adapters.db.staff import hash_password
from aftersales.roles import Role
from aftersales.views import case_row
from api.app import create_app
from api.auth import create_access_token
from tests.rules.driver import CAL, LADDER, who
from contracts.case import CaseProjection

PROJECTS = [f"{name}{n}期" for name in ("融侨城", "滨江府", "云栖苑", "翠湖湾", "金域华府", "天悦湾",
                                        "锦绣城", "江山樾") for n in (1, 2, 3)]
DEPARTMENTS = ["工程部", "物业部", "客服部", "营销部", "设计部", "成本部"]
HANDLERS = [f"handler{i:03d}" for i in range(300)]
COMPLAINT_OPEN = ["registered", "classified", "investigating", "investigated", "awaiting_approval", "approved",
                  "informed", "repair_in_progress", "summarised"]
REPAIR_OPEN = ["registered", "scheduled", "surveyed", "cost_approval", "dispatched", "in_progress", "inspection",
               "signed_off", "revisited", "settlement", "awaiting_payment"]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
SPAN_SECONDS = 3 * 365 * 86400
BEIJING = timezone(timedelta(hours=8))


def templates() -> tuple[dict[str, Any], dict[str, Any]]:
    """A row of a closed and of an open complaint, built by the real machine and `case_row`."""
    at = datetime(2026, 11, 23, 2, tzinfo=timezone.utc)
    ctx = bench_ctx(at)
    case, _ = ComplaintCase.open("TS-2026-000001", _intake(), who(Role.hotline), ctx)
    steps = _general_path()
    for role, action, user in steps[:2]:
        case.apply(action, actor(role, user), ctx)
    open_row = case_row(case.state, at, LADDER).columns()
    for role, action, user in steps[2:]:
        case.apply(action, actor(role, user), ctx)
    closed_row = case_row(case.state, at, LADDER).columns()
    return closed_row, open_row


def _intake(project: str = "融侨城1期") -> ComplaintIntake:
    return ComplaintIntake(customer=Customer(name="王女士", phone="13812341234", project=project, building="5栋",
                                             unit="1203"),
                           channel=Channel.phone, category="漏水", description="卫生间天花板漏水，已持续两周，影响楼下住户")


DEPT = "工程部"
HANDLER = "li.handler"


def actor(role: Role, user: str | None):
    """An account bound where P1 wants it: department roles in the case's department."""
    return who(role, user, department=DEPT if role in (Role.dept_head, Role.dept_handler) else None)


def bench_ctx(at: datetime) -> Ctx:
    ctx = Ctx(now=at, cal=CAL, ladder=LADDER)
    ctx.accounts = {HANDLER: who(Role.dept_handler, HANDLER, department=DEPT)}  # assign_handler names it
    return ctx


def _general_path() -> list[tuple[Role, Any, str | None]]:
    from decimal import Decimal
    return [
        (Role.cs_staff, A.Classify(action="classify", category="漏水", department=DEPT, justified=True), None),
        (Role.dept_head, A.AssignHandler(action="assign_handler", handler=HANDLER), None),
        (Role.dept_handler, A.DepartmentFeedback(action="department_feedback", findings="防水层破损"), HANDLER),
        (Role.dept_handler, A.ProposeSolution(action="propose_solution", solution="重做防水",
                                              compensation=Decimal("800.00")), HANDLER),
        (Role.cs_manager, A.Decide(action="decide", decision="approve"), None),
        (Role.cs_staff, A.InformCustomer(action="inform_customer", message="下周一重做防水"), None),
        (Role.finance, A.RecordCompensationPaid(action="record_compensation_paid", amount=Decimal("800.00"),
                                                reference="BC-2026-001"), None),   # A1: before close
        (Role.cs_staff, A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=4), None),
        (Role.cs_staff, A.Summarise(action="summarise", summary="防水施工缺陷", corrective_measures="重做",
                                    preventive_measures="闭水试验"), None),
        (Role.cs_staff, A.Close(action="close", outcome_note="已修复"), None),
    ]


def seed_rows(n: int, rng: random.Random) -> list[dict[str, Any]]:
    closed_t, open_t = templates()
    rows = []
    counters = {"TS": 0, "WX": 0}
    # intake times in order (case numbers grow with them); some share the second (ties in the sort key)
    times = sorted(START + timedelta(seconds=rng.randrange(SPAN_SECONDS)) for _ in range(n))
    for at in times:
        complaint = rng.random() < 0.45
        prefix = "TS" if complaint else "WX"
        counters[prefix] += 1
        closed = rng.random() < 0.72
        status = "closed" if closed else rng.choice(COMPLAINT_OPEN if complaint else REPAIR_OPEN)
        registered = status == "registered"
        overdue = not closed and rng.random() < 0.18
        level = (rng.choice([1, 1, 1, 2, 2, 3, 4]) if overdue and rng.random() < 0.6 else 0)
        base = closed_t if closed else open_t
        rows.append({
            **base,
            "case_no": f"{prefix}-{at.year}-{counters[prefix]:06d}",
            "case_type": "complaint" if complaint else "repair",
            "status": status,
            "channel": rng.choice(["phone", "visit", "online", "letter"]) if complaint else None,
            "category": rng.choice(["漏水", "墙面开裂", "门窗", "噪音", "物业服务", "绿化", "停车"]),
            "project": rng.choice(PROJECTS),
            "building": f"{rng.randint(1, 30)}栋",
            "unit": f"{rng.randint(1, 33)}{rng.randint(1, 4):02d}",
            "department": None if registered else rng.choice(DEPARTMENTS),
            "handler": None if registered or rng.random() < 0.1 else rng.choice(HANDLERS),
            "major": rng.random() < 0.02,
            "justified": None if not complaint or registered else rng.random() < 0.85,
            "escalation_level": level,
            "overdue": overdue,
            "received_at": at,
            "closed_at": at + timedelta(days=rng.randint(1, 30)) if closed else None,
            "outcome": "resolved" if closed else None,
            "satisfaction": rng.randint(1, 5) if closed else None,
            "linked_case_no": None,
            "seq": 5,
            "updated_at": at,
        })
    return rows


async def seed(maker: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]], settings: Settings) -> str:
    columns = set(Case.__table__.columns.keys())
    async with maker() as s:
        for i in range(0, len(rows), 2000):
            await s.execute(insert(Case), [{k: v for k, v in r.items() if k in columns} for r in rows[i:i + 2000]])
        staff = Staff(username="manager", role=Role.cs_manager.value, display_name="经理", email=None,
                      department=None, password_hash=hash_password("x" * 12, rounds=4), active=True)
        s.add(staff)
        await s.commit()
    token, _ = create_access_token(staff, settings)
    return token


def queries(rows: list[dict[str, Any]], rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    handler = rng.choice(HANDLERS)
    unit = rows[len(rows) // 2]
    month_from = datetime(2025, 6, 1, tzinfo=BEIJING).isoformat()
    month_to = datetime(2025, 7, 1, tzinfo=BEIJING).isoformat()
    year_from = datetime(2025, 1, 1, tzinfo=BEIJING).isoformat()
    year_to = datetime(2026, 1, 1, tzinfo=BEIJING).isoformat()
    return [
        ("unfiltered", {}),
        ("type", {"type": "complaint"}),
        ("status=closed", {"status": "closed"}),
        ("status=awaiting_payment", {"status": "awaiting_payment"}),
        ("department", {"department": "工程部"}),
        ("project", {"project": PROJECTS[3]}),
        ("overdue", {"overdue": "true"}),
        ("escalation_level", {"escalation_level": 3}),
        ("received month", {"received_from": month_from, "received_to": month_to}),
        ("handler", {"handler": handler}),
        ("unit", {"unit": unit["unit"]}),
        ("case_no", {"case_no": unit["case_no"]}),
        ("case_no prefix", {"case_no": unit["case_no"][:-2]}),
        ("type+status", {"type": "repair", "status": "closed"}),
        ("type+status(open)", {"type": "complaint", "status": "investigating"}),
        ("department+overdue", {"department": "工程部", "overdue": "true"}),
        ("department+status", {"department": "物业部", "status": "closed"}),
        ("project+status", {"project": PROJECTS[5], "status": "closed"}),
        ("project+type+month", {"project": PROJECTS[7], "type": "complaint",
                                "received_from": month_from, "received_to": month_to}),
        ("status+year", {"status": "closed", "received_from": year_from, "received_to": year_to}),
        ("department+handler", {"department": "工程部", "handler": handler}),
        ("overdue+escalation", {"overdue": "true", "escalation_level": 2}),
        ("type+department+overdue", {"type": "complaint", "department": "设计部", "overdue": "true"}),
        ("project+unit", {"project": unit["project"], "unit": unit["unit"]}),
        ("rare: overdue+closed", {"overdue": "true", "status": "closed"}),
        ("rare: escalation+project+type", {"escalation_level": 4, "project": PROJECTS[0], "type": "repair"}),
    ]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def time_get(client: httpx.AsyncClient, params: dict[str, Any], headers: dict[str, str],
                   repeat: int) -> tuple[list[float], dict[str, Any]]:
    await client.get("/cases", params=params, headers=headers)  # warm
    samples, body = [], {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = await client.get("/cases", params=params, headers=headers)
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"GET /cases {params}: {r.status_code} {r.text[:300]}")
        body = r.json()
    return samples, body


def deepest(rows: list[dict[str, Any]], page_size: int) -> dict[str, Any]:
    """The last page of the unfiltered register: by cursor where the API has one, else by page number."""
    try:
        from adapters.db.register import encode_cursor
    except ImportError:
        return {"page": (len(rows) + page_size - 1) // page_size, "page_size": page_size}
    ordered = sorted(rows, key=lambda r: (r["received_at"], r["case_no"]))
    after = ordered[page_size // 2]  # the rows older than this one: the last (half-full) page
    return {"cursor": encode_cursor(after["received_at"], after["case_no"]), "page_size": page_size}


async def bench_register(name: str, url: str, args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    await asyncio.to_thread(upgrade_to_head, url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    settings = Settings(database_url=url, bcrypt_rounds=4)
    t0 = time.perf_counter()
    token = await seed(maker, rows, settings)
    print(f"{name}: seeded {len(rows):,} cases in {time.perf_counter() - t0:.1f} s")
    if engine.dialect.name == "postgresql":  # what autovacuum does after a bulk load (visibility map)
        async with engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM cases"))
    await engine.dispose()
    await asyncio.to_thread(upgrade_to_head, url)  # what every start does (statistics after the seed)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    app = create_app(settings, sessionmaker=maker)
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(7)
    worst = 0.0
    print(f"{'query':34} {'p50':>7} {'p95':>7} {'max':>7}  total  (ms)")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        cases = queries(rows, rng) + [("deepest page", deepest(rows, 20)),
                                      ("deepest page, status=closed",
                                       {**deepest([r for r in rows if r["status"] == "closed"], 20),
                                        "status": "closed"})]
        for label, params in cases:
            samples, body = await time_get(client, params, headers, args.repeat)
            worst = max(worst, pct(samples, 95))
            total = f"{body.get('total')}{'+' if body.get('total_is_estimate') else ''}"
            print(f"{label:34} {pct(samples, 50):7.1f} {pct(samples, 95):7.1f} {max(samples):7.1f}  "
                  f"{total} ({len(body.get('items', []))} items)")
    print(f"{name}: worst p95 {worst:.1f} ms over {len(cases)} queries")
    if args.explain:
        await explain(engine)
    await projection_bench(name, maker, settings, args)
    await engine.dispose()


async def explain(engine: AsyncEngine) -> None:
    from sqlalchemy.dialects import postgresql, sqlite
    try:
        from adapters.db.register import RegisterQuery, register_select
    except ImportError:
        return
    dialect = engine.dialect.name
    async with engine.connect() as conn:
        for label, q in (("status=closed", RegisterQuery(status="closed")),
                         ("department+overdue", RegisterQuery(department="工程部", overdue=True)),
                         ("handler", RegisterQuery(handler="handler001"))):
            stmt = register_select(q, page_size=20)
            compiled = stmt.compile(dialect=(postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()),
                                    compile_kwargs={"literal_binds": True})
            prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
            plan = (await conn.execute(text(prefix + str(compiled)))).all()
            print(f"  plan {label}: " + " | ".join(str(r[-1]) for r in plan))


async def projection_bench(name: str, maker: async_sessionmaker[AsyncSession], settings: Settings,
                           args: argparse.Namespace) -> None:
    """`--concurrency` cases acted on at once, each action followed by its projection (as the workflow
    does), through the real activity; latency per projection."""
    acts = CaseActivities(maker, settings)
    env = ActivityEnvironment()
    steps = _general_path()
    per_case = len(steps) + 1
    n_cases = max(args.concurrency, args.projections // per_case)
    latencies: list[float] = []

    async def one_case(i: int) -> None:
        at = datetime(2026, 11, 23, 2, tzinfo=timezone.utc) + timedelta(seconds=i)
        ctx = bench_ctx(at)
        case, _ = ComplaintCase.open(f"TS-2099-{i:06d}", _intake(PROJECTS[i % len(PROJECTS)]), who(Role.hotline), ctx)
        start = 0
        for k in range(per_case):
            if k:
                role, action, user = steps[k - 1]
                case.apply(action, actor(role, user), ctx)
            p = projection(case, at, start)
            start = len(case.state.timeline)
            t0 = time.perf_counter()
            await env.run(acts.project_case, p)
            latencies.append((time.perf_counter() - t0) * 1000)

    sem = asyncio.Semaphore(args.concurrency)

    async def bounded(i: int) -> None:
        async with sem:
            await one_case(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(bounded(i) for i in range(n_cases)))
    wall = time.perf_counter() - t0
    print(f"{name}: {len(latencies)} projections, {args.concurrency} concurrent: p50 {pct(latencies, 50):.1f} "
          f"p95 {pct(latencies, 95):.1f} max {max(latencies):.1f} ms ({len(latencies) / wall:.0f}/s"
          + (f", {len(latencies) / acts.writer.batches:.1f} per transaction)" if getattr(acts, "writer", None) else ")"))


def projection(case: ComplaintCase, at: datetime, start: int) -> CaseProjection:
    """The projection the workflow sends after an action (round-tripped through JSON, as Temporal does)."""
    state = case.state
    p = CaseProjection(case_no=state.case_no, seq=state.seq, row=case_row(state, at, LADDER), timeline_start=start,
                       timeline=state.timeline[start:])
    return CaseProjection.model_validate_json(p.model_dump_json())


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20, help="timed requests per query")
    ap.add_argument("--projections", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--explain", action="store_true", help="print the query plans of a few filters")
    args = ap.parse_args()
    rng = random.Random(2026)
    rows = seed_rows(args.cases, rng)
    tmp = Path(tempfile.mkdtemp(prefix="register-bench-"))
    try:
        if not args.no_sqlite:
            await bench_register("SQLite", f"sqlite+aiosqlite:///{tmp / 'register.db'}", args, rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.no_postgres:
        return
    from tests.support.postgres import PostgresUnavailable, TemporaryPostgres
    try:
        with TemporaryPostgres() as pg:
            await bench_register("PostgreSQL", pg.url(), args, rows)
    except PostgresUnavailable as e:
        print(f"PostgreSQL: skipped ({e})")


if __name__ == "__main__":
    asyncio.run(main())
