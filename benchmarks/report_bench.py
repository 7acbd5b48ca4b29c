"""Benchmark: the monthly complaint report over a read model of N cases (default 100,000)
on SQLite, the embedded default. Prints the seconds to count the figures (goal: under 5 s).

    python -m benchmarks.report_bench [--cases 100000]
"""

import argparse
import asyncio
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert

from aftersales.calendar import WorkCalendar
from adapters.db import calendar_store
from adapters.db import reports as store
from adapters.db.migrate import upgrade_to_head
from adapters.db.models import Case
from adapters.db.session import make_engine, make_sessionmaker
from aftersales.reports import parse_period

CHANNELS = ["phone", "visit", "letter", "online", "property", "authority_referral"]
CATEGORIES = ["漏水", "噪音", "墙面开裂", "门窗", "电梯", "物业服务", "其他"]
DEPARTMENTS = ["工程部", "物业部", "营销部", "客服部", None]
PROJECTS = [f"项目{i:02d}" for i in range(30)]


def rows(n: int, start: datetime):
    rng = random.Random(7)
    for i in range(n):
        received = start + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        closed = received + timedelta(hours=rng.randrange(1, 400)) if rng.random() < 0.8 else None
        yield dict(case_no=f"TS-2026-{i:06d}", case_type="complaint" if rng.random() < 0.6 else "repair",
                   status="closed" if closed else "assigned", channel=rng.choice(CHANNELS),
                   category=rng.choice(CATEGORIES), project=rng.choice(PROJECTS), building=f"{rng.randrange(1, 30)}栋",
                   unit="1203", department=rng.choice(DEPARTMENTS), handler=None, major=rng.random() < 0.02,
                   justified=True, escalation_level=rng.choice([0, 0, 0, 1, 2, 3, 4]), overdue=False,
                   customer_name="业主", customer_phone_masked="138****1234", received_at=received, closed_at=closed,
                   outcome="resolved" if closed else None, satisfaction=rng.choice([None, 1, 2, 3, 4, 5, 5]),
                   linked_case_no=None, seq=1, updated_at=received, view={})


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_to_head(url)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        t = time.perf_counter()
        batch = []
        async with maker() as session:
            await calendar_store.seed_from_chinese_calendar(session)
            for row in rows(n, datetime(2026, 1, 1, tzinfo=timezone.utc)):
                batch.append(row)
                if len(batch) == 5_000:
                    await session.execute(insert(Case), batch)
                    batch = []
            if batch:
                await session.execute(insert(Case), batch)
            await session.commit()
            print(f"seeded {n:,} cases in {time.perf_counter() - t:.1f} s")
            snapshot = await calendar_store.load_snapshot(session, [2026, 2027], timezone="Asia/Shanghai",
                                                          day_start=datetime.min.time().replace(hour=9),
                                                          day_end=datetime.min.time().replace(hour=18),
                                                          demo_seconds_per_working_day=None)
            cal = WorkCalendar(snapshot)
            for kind, label in (("monthly_complaints", "2026-11"), ("monthly_repairs", "2026-11"),
                                ("quarterly", "2026Q4"), ("yearly", "2026")):
                t = time.perf_counter()
                report = await store.generate(session, parse_period(kind, label), cal, by="bench")
                print(f"{kind:>20} {label:>8}: {time.perf_counter() - t:6.2f} s "
                      f"({report.data['summary']['received']:,} cases received in the period; goal < 5 s)")
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().cases))
