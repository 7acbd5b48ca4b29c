"""Speed and memory of the pure rules (no Temporal, no database): the working-day calendar and the
complaint and repair machines. Prints figures; asserts nothing about time (our rule: speed and memory
are measured by benchmark scripts that print figures, never by timed tests).

    .venv/bin/python -m benchmarks.rules_bench                  # defaults: well under 30 s on 2 cores
    .venv/bin/python -m benchmarks.rules_bench --iterations 50 --calendar-iterations 2000   # quick look

Figures: ops/s and µs per op from time.perf_counter over a fixed number of iterations (after a short
warm-up), and memory from tracemalloc in a separate pass (tracing slows Python down, so it never runs
while timing): "peak KiB" is the most memory allocated at once above the starting point, "kept KiB"
what is still held afterwards (e.g. a finished case's state).
"""

import argparse
import gc
import json
import platform
import statistics
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.calendar import CalendarSnapshot, WorkCalendar
from adapters.db.calendar_admin import fallback_check
from aftersales.case import Ctx, Customer
from aftersales.machine import CaseMachine
from aftersales.complaint import ComplaintCase
from aftersales.complaint.state import Channel, ComplaintIntake
from adapters.db.calendar_store import package_years
from aftersales.repair import RepairCase
from aftersales.repair.state import CASE_NO_PREFIX, RepairIntake, RepairStatus
from aftersales.roles import Role
from aftersales.views import case_view

CST = timezone(timedelta(hours=8))
UTC = timezone.utc
YEARS = (2026, 2027)
LADDER = [Role.dept_head, Role.cs_manager, Role.deputy_gm, Role.gm]
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=CST)  # as in tests/rules/driver.py
STEP = timedelta(minutes=20)  # the case's clock moves on between two actions
R = Role


# ---- measuring ------------------------------------------------------------------------------------
def timed(fn: Callable[[int], Any], n: int, warmup: int = 0) -> float:
    """Seconds for n calls fn(0..n-1), after `warmup` untimed calls; the GC is collected first."""
    for i in range(warmup):
        fn(i)
    gc.collect()
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return time.perf_counter() - t0


def traced(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(peak KiB, kept KiB, result) of one call under tracemalloc, above what was allocated before."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - base) / 1024, (current - base) / 1024, result


class Table:
    def __init__(self, title: str, columns: list[tuple[str, int]]) -> None:
        self.title, self.columns = title, columns
        self.rows: list[list[str]] = []

    def add(self, *cells: Any) -> None:
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])

    def print(self) -> None:
        print(f"\n{self.title}")
        header = "  ".join(name.ljust(w) if i == 0 else name.rjust(w) for i, (name, w) in enumerate(self.columns))
        print(header)
        print("-" * len(header))
        for row in self.rows:
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, (_, w)) in enumerate(zip(row, self.columns))))
        sys.stdout.flush()


def fmt(x: float | int | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def us(seconds: float) -> float:
    return seconds * 1e6


# ---- the calendar -----------------------------------------------------------------------------------
def snapshot() -> CalendarSnapshot:
    """2026–2027 as the read model seeds it (calendar_store: the chinese_calendar package's years).
    A year the package does not cover yet runs on the T4 fallback, as in production."""
    return CalendarSnapshot(years={y.year: y for y in package_years() if y.year in YEARS})


def bench_calendar(iterations: int) -> None:
    snap = snapshot()
    cal = WorkCalendar(snap)
    # Moments spread over 2026 and 2027 (every 17 h 27 min: all clock times, weekends, holidays).
    start = datetime(2026, 1, 1, 0, 0, tzinfo=CST)
    moments = [start + timedelta(minutes=1047 * i) for i in range(1000)]
    moments = [m for m in moments if m.year in YEARS]
    k = len(moments)
    with_data = [y for y in YEARS if cal.has_data(y)]
    fallback = [y for y in YEARS if not cal.has_data(y)]
    print(f"\ncalendar snapshot: years with data {with_data or '-'}, on the T4 fallback {fallback or '-'}; "
          f"{k} start moments {moments[0]:%Y-%m-%d} .. {moments[-1]:%Y-%m-%d} (+08:00)")

    cases: list[tuple[str, Callable[[int], Any], int]] = [
        ("WorkCalendar(snapshot)  [deep copy]", lambda i: WorkCalendar(snap), max(iterations // 50, 20)),
        ("clock_start(m)", lambda i: cal.clock_start(moments[i % k]), iterations),
        ("add_working_days(m, 1)", lambda i: cal.add_working_days(moments[i % k], 1), iterations),
        ("add_working_days(m, 3)", lambda i: cal.add_working_days(moments[i % k], 3), iterations),
        ("add_working_days(m, 20)", lambda i: cal.add_working_days(moments[i % k], 20), iterations),
        ("add_working_hours(m, 4)", lambda i: cal.add_working_hours(moments[i % k], 4), iterations),
        ("add_working_hours(m, 36)", lambda i: cal.add_working_hours(moments[i % k], 36), iterations),
        ("add_working_hours(m, 180)", lambda i: cal.add_working_hours(moments[i % k], 180), iterations),
    ]
    table = Table("WorkCalendar (2026–2027 snapshot)",
                  [("operation", 36), ("n", 8), ("ops/s", 10), ("µs/op", 8), ("peak KiB", 9)])
    for name, fn, n in cases:
        seconds = timed(fn, n, warmup=min(n // 10, 200))
        m = min(n, 200)
        traced(lambda: loop(fn, m))  # noqa: B023 - a first traced pass fills one-off caches
        peak, _, _ = traced(lambda: loop(fn, m))  # noqa: B023
        table.add(name, n, n / seconds, us(seconds / n), peak)
    table.print()
    print("  peak KiB: tracemalloc peak over 200 calls whose results are dropped at once (second traced pass,\n"
          "  caches warm), i.e. the most one call holds at a time; for WorkCalendar(...) the calendar itself")


def loop(fn: Callable[[int], Any], n: int) -> None:
    for i in range(n):
        fn(i)


# ---- the machines -----------------------------------------------------------------------------------
def who(role: Role, username: str | None = None) -> Actor:
    """An account bound as P1 wants it for the paths below (工程部, contractor C-001)."""
    return Actor(username=username or role.value, role=role,
                 department="工程部" if role in (R.dept_handler, R.dept_head) else None,
                 contractor_id="C-001" if role == R.contractor else None)


def ctx(cal: WorkCalendar, at: datetime, action: Any = None) -> Ctx:
    named = {action.handler: who(R.dept_handler, action.handler)} if isinstance(action, A.AssignHandler) else {}
    return Ctx(now=at.astimezone(UTC), cal=cal, ladder=LADDER, accounts=named)


Step = tuple[Role, str | None, Any]

CUSTOMER = dict(name="王女士", phone="13812341234", project="融侨城", building="5栋", unit="1203")

COMPLAINT_INTAKE = ComplaintIntake(customer=Customer(**CUSTOMER), channel=Channel.phone, category="漏水",
                                   description="卫生间天花板漏水")

# The general path of tests/rules/test_complaint_machine.py (C1–C10), to closed.
COMPLAINT_PATH: list[Step] = [
    (R.cs_staff, None, A.Classify(action="classify", category="漏水", department="工程部", justified=True)),
    (R.dept_head, None, A.AssignHandler(action="assign_handler", handler="li.handler")),
    (R.dept_handler, "li.handler", A.DepartmentFeedback(action="department_feedback", findings="防水层破损")),
    (R.dept_handler, "li.handler", A.ProposeSolution(action="propose_solution", solution="重做防水",
                                                     compensation=Decimal("800.00"))),
    (R.cs_manager, None, A.Decide(action="decide", decision="approve")),
    (R.cs_staff, None, A.InformCustomer(action="inform_customer", message="下周一重做防水")),
    (R.finance, None, A.RecordCompensationPaid(action="record_compensation_paid", amount=Decimal("800.00"),
                                               reference="BC-0001")),
    (R.cs_staff, None, A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=4)),
    (R.cs_staff, None, A.Summarise(action="summarise", summary="防水施工缺陷", corrective_measures="重做",
                                   preventive_measures="闭水试验")),
    (R.cs_staff, None, A.Close(action="close", outcome_note="已修复")),
]

REPAIR_INTAKE = RepairIntake(customer=Customer(**{**CUSTOMER, "name": "李先生"}), trades=["水电"],
                             description="厨房水管漏水", requested_appointment=MONDAY_10 + timedelta(hours=4))

APPROVE = A.Decide(action="decide", decision="approve")
# The warranty path of tests/workflows/test_repair_workflow.py (R1–R9, A1–A3): a type A order with the
# contractor, to closed.
REPAIR_PATH: list[Step] = [
    (R.cs_staff, None, A.RecordSurvey(action="record_survey", responsible_party="维修队", contractor_id="C-001",
                                      multi_trade=False, estimate=Decimal("1500.00"), order_type="A")),
    (R.cs_staff, None, A.SignSurvey(action="sign_survey")),
    (R.engineering, None, A.SignSurvey(action="sign_survey")),
    (R.repair_lead, None, A.SignSurvey(action="sign_survey")),
    (R.contractor, None, A.SignSurvey(action="sign_survey")),
    (R.deputy_chief_engineer, None, APPROVE),          # A1 cost approval
    (R.deputy_gm, None, APPROVE),
    (R.engineering, None, A.Dispatch(action="dispatch", workers=["wang", "zhao"], to_contractor=True)),
    (R.repair_lead, None, A.CompleteWork(action="complete_work", note="已更换水管")),
    (R.cs_staff, None, A.Inspect(action="inspect", passed=True)),
    (R.repair_lead, None, A.Inspect(action="inspect", passed=True)),
    (R.cs_staff, None, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5)),
    (R.cs_staff, None, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=4)),
    (R.repair_lead, None, A.CostStatement(action="cost_statement", amount=Decimal("1480.00"), note="材料+人工")),
    (R.cs_manager, None, APPROVE),                     # A2/A3 settlement
    (R.contractor, None, APPROVE),
    (R.deputy_chief_engineer, None, APPROVE),
    (R.finance, None, A.Pay(action="pay", amount=Decimal("1480.00"), reference="FK-2026-0042")),
]


class PathTimings:
    def __init__(self) -> None:
        self.open: list[float] = []
        self.check: dict[str, list[float]] = defaultdict(list)
        self.apply: dict[str, list[float]] = defaultdict(list)
        self.order: list[str] = []


def step_label(k: int, role: Role, action: Any) -> str:
    return f"{k:2d}. {action.action} ({role.value})"


def run_path(opener: Callable[[Ctx], tuple[CaseMachine, list]], path: list[Step], cal: WorkCalendar,
             t: PathTimings | None = None) -> CaseMachine:
    """Opens one case and runs it down the path as the workflow does: the Update validator's dry run
    (`check`, on a deep copy) and then `apply`, the clock moving on by STEP between actions."""
    pc = time.perf_counter
    t0 = pc()
    case, effects = opener(ctx(cal, MONDAY_10))
    if t is not None:
        t.open.append(pc() - t0)
    for k, (role, username, action) in enumerate(path, 1):
        c = ctx(cal, MONDAY_10 + k * STEP, action)
        actor = who(role, username)
        t0 = pc()
        case.check(action, actor, c)
        t1 = pc()
        effects += case.apply(action, actor, c)
        t2 = pc()
        if t is not None:
            label = step_label(k, role, action)
            if label not in t.check:
                t.order.append(label)
            t.check[label].append(t1 - t0)
            t.apply[label].append(t2 - t1)
    return case


def bench_machine(title: str, opener_for: Callable[[int], Callable[[Ctx], tuple[CaseMachine, list]]],
                  path: list[Step], closed_status: str, iterations: int, cal: WorkCalendar) -> None:
    # sanity (not timing): the path really runs to closed
    case = run_path(opener_for(0), path, cal)
    if case.state.status != closed_status:
        raise SystemExit(f"{title}: the path ended in {case.state.status!r}, expected {closed_status!r}")

    for i in range(min(iterations // 10, 20)):  # warm-up
        run_path(opener_for(i), path, cal)
    t = PathTimings()
    gc.collect()
    t0 = time.perf_counter()
    for i in range(iterations):
        run_path(opener_for(i), path, cal, t)
    seconds = time.perf_counter() - t0

    checks = [x for xs in t.check.values() for x in xs]
    applies = [x for xs in t.apply.values() for x in xs]
    steps = len(path)
    print(f"\n{title}: {iterations} cases, open + {steps} actions each (check + apply per action)")
    summary = Table(f"{title}: summary", [("figure", 44), ("value", 12)])
    summary.add("full path: cases/s", iterations / seconds)
    summary.add("full path: ms per case", seconds / iterations * 1e3)
    summary.add("actions/s (check + apply)", iterations * steps / seconds)
    summary.add("open: µs (mean)", us(statistics.fmean(t.open)))
    summary.add("check (dry run on a deep copy): µs mean", us(statistics.fmean(checks)))
    summary.add("check: µs median", us(statistics.median(checks)))
    summary.add("apply: µs mean", us(statistics.fmean(applies)))
    summary.add("apply: µs median", us(statistics.median(applies)))

    # memory of one full path, and what a finished case keeps
    peak, kept, finished = traced(lambda: run_path(opener_for(0), path, cal))
    summary.add("one full path: tracemalloc peak KiB", peak)
    summary.add("finished case held in memory: KiB", kept)

    now = MONDAY_10 + (steps + 1) * STEP
    view = case_view(finished.state, now, LADDER)
    body = json.dumps(view, ensure_ascii=False).encode("utf-8")
    n_view = max(iterations, 50)
    view_s = timed(lambda i: json.dumps(case_view(finished.state, now, LADDER), ensure_ascii=False), n_view)
    summary.add("case_view JSON of the finished case: bytes", len(body))
    summary.add("  of which timeline items", len(finished.state.timeline))
    summary.add("case_view + json.dumps: µs", us(view_s / n_view))
    summary.print()

    per = Table(f"{title}: per action (µs, mean over {iterations} cases)",
                [("step. action (role)", 44), ("check µs", 9), ("apply µs", 9)])
    for label in t.order:
        per.add(label, us(statistics.fmean(t.check[label])), us(statistics.fmean(t.apply[label])))
    per.print()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.rules_bench")
    p.add_argument("--iterations", type=int, default=1000,
                   help="full case paths per machine (default 1000)")
    p.add_argument("--calendar-iterations", type=int, default=50000,
                   help="calls per calendar operation (default 50000)")
    args = p.parse_args(argv)
    if args.iterations < 1 or args.calendar_iterations < 1:
        p.error("iterations must be >= 1")

    started = time.perf_counter()
    print(f"rules_bench: Python {platform.python_version()} ({platform.python_implementation()}), "
          f"{platform.machine()}, iterations={args.iterations}, calendar-iterations={args.calendar_iterations}")
    bench_calendar(args.calendar_iterations)
    print("\nT4 fallback against the real data (python -m adapters.db.calendar_admin fallback-check):")
    print("\n".join(f"  {line}" for line in fallback_check()))

    cal = WorkCalendar(snapshot())
    bench_machine(
        "complaint machine (general path C1–C10)",
        lambda i: lambda c: ComplaintCase.open(f"TS-2026-{i:06d}", COMPLAINT_INTAKE, who(R.hotline), c),
        COMPLAINT_PATH, "closed", args.iterations, cal)
    bench_machine(
        "repair machine (warranty path R1–R9, A1–A3)",
        lambda i: lambda c: RepairCase.open(f"{CASE_NO_PREFIX}-2026-{i:06d}", REPAIR_INTAKE, who(R.hotline), c),
        REPAIR_PATH, RepairStatus.closed, args.iterations, cal)
    print(f"\nrules_bench done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
