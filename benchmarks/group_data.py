"""A developer group's read model at scale (P5): companies → projects → units, and the cases of four years.

    .venv/bin/python -m benchmarks.group_data sqlite+aiosqlite:////tmp/group.db          # the full group
    .venv/bin/python -m benchmarks.group_data URL --companies 2 --projects 6 --units 1200 --cases 5000

The default is the group the sizing is argued for (docs/sizing.md): 20 companies, 300 projects (15 each),
600,000 units (2,000 a project: 20 buildings of 25 floors, 4 units a floor) in the property register, and
1,000,000 cases received over the four years before `NOW`, with their deadlines (case_deadlines, the reports'
on-time rates) — written into a read model migrated to head, by bulk inserts: the register's indexes are
dropped first and built once at the end (sqlite3 `executemany` with the journal off on SQLite, COPY on
PostgreSQL), then the planner's statistics refreshed as every start does.

The rows are what the projection of this code writes: both case types with their paths' statuses (most
closed; the open ones recent, each with who acts next), departments and handlers of the case's company, the
owner (name, masked phone and the keyed hash of the phone, so a search by phone finds the unit's cases) from
the unit the case is about, the closed case's stored view (one real one, built by the rule machine, as big as
any), repairs' facts for K2/K3 (rounds, first pass, arrivals, revisits).

The organisation is written as the product keeps it (P5): `companies` (ids `co00`…) and `projects` (by their
key, with their company), and each case's `company_id` and `project_key`, the columns every account's scope
reads (adapters/db/visibility.py) and the register's indexes lead with.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import make_url

from adapters.db.migrate import upgrade_to_head
from adapters.db.models import Case, CaseDeadline, PropertyUnit
from aftersales.properties import normalize_text

NOW = datetime(2026, 12, 21, 2, 0, tzinfo=timezone.utc)   # 10:00 Beijing, a Monday: "today" of the data
YEARS = 4
BEIJING = timezone(timedelta(hours=8))
CITIES = ["福州", "厦门", "泉州", "漳州", "莆田", "南平", "宁德", "三明", "龙岩", "上海",
          "杭州", "南京", "苏州", "合肥", "南昌", "长沙", "武汉", "重庆", "成都", "西安"]
PROJECT_NAMES = ["融侨城", "滨江府", "云栖苑", "翠湖湾", "金域华府", "天悦湾", "锦绣城", "江山樾", "海景苑", "观澜府",
                 "悦府", "御园", "书香里", "星光城", "未来城"]
DEPARTMENTS = ["工程部", "物业部", "客服部", "营销部", "设计部", "成本部"]
CATEGORIES = ["漏水", "墙面开裂", "门窗", "噪音", "物业服务", "绿化", "停车", "电梯", "空鼓", "渗水"]
CHANNELS = ["phone", "visit", "online", "letter", "property", "authority_referral"]
COMPLAINT_OPEN = {  # status → who acts next (aftersales.next_actors), on the open complaints
    "registered": "|cs_staff|", "assigned": "|dept_handler|", "investigated": "|dept_handler|",
    "awaiting_approval": "|cs_manager|", "approved": "|cs_staff|", "customer_informed": "|cs_staff|",
    "satisfaction_recorded": "|cs_staff|", "summarised": "|cs_staff|", "unjustified_review": "|cs_manager|"}
REPAIR_OPEN = {
    "registered": "|butler|cs_staff|", "scheduled": "|engineering|repair_lead|", "surveyed": "|cs_staff|engineering|",
    "in_progress": "|engineering|repair_lead|", "awaiting_inspection": "|cs_staff|repair_lead|",
    "inspected": "|butler|cs_staff|", "completed": "|cs_staff|", "revisited": "|repair_lead|",
    "settlement": "|cs_manager|", "awaiting_payment": "|finance|"}
HANDLERS_PER_DEPARTMENT = 5
CONTRACTORS = [f"ct{i:02d}" for i in range(40)]   # a contractor works for several companies (P5, A3)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"


@dataclass
class Group:
    """Who is who in the generated group: companies, their projects, their handlers."""
    companies: list[str]
    projects: list[str]
    company_of: dict[str, str]
    units_per_project: int
    handlers: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # company → department → usernames
    company_id: dict[str, str] = field(default_factory=dict)  # company's name → its id (companies.id)

    def projects_of(self, company: str) -> list[str]:
        return [p for p in self.projects if self.company_of[p] == company]


def make_group(companies: int, projects: int, units: int) -> Group:
    names = [f"{CITIES[i % len(CITIES)]}{'' if i < len(CITIES) else i // len(CITIES) + 1}公司" for i in range(companies)]
    plist, company_of = [], {}
    for j in range(projects):
        company = names[j % companies]
        city = company.removesuffix("公司")
        p = f"{city}{PROJECT_NAMES[(j // companies) % len(PROJECT_NAMES)]}"
        if j // companies >= len(PROJECT_NAMES):
            p += f"{j // companies // len(PROJECT_NAMES) + 1}期"
        plist.append(p)
        company_of[p] = company
    group = Group(names, plist, company_of, max(1, units // projects),
                  company_id={name: f"co{ci:02d}" for ci, name in enumerate(names)})
    for ci, company in enumerate(names):
        group.handlers[company] = {d: [f"c{ci:02d}.d{di}.h{k}" for k in range(HANDLERS_PER_DEPARTMENT)]
                                   for di, d in enumerate(DEPARTMENTS)}
    return group


def unit_address(n: int) -> tuple[str, str]:
    """The n-th unit of a project: 20 buildings of 25 floors, 4 units a floor ("7栋", "1203")."""
    building, rest = divmod(n, 100)
    floor, door = divmod(rest, 4)
    return f"{building + 1}栋", f"{floor + 1}{door + 1:02d}"


def phone_of(project_index: int, n: int) -> str:
    return f"13{(project_index * 7919 + n * 104729) % 1_000_000_000:09d}"


def masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


class Phones:
    """The owner phone's keyed hash (aftersales.privacy.phone_lookup_hash's HMAC), with a key of the run."""

    def __init__(self, key: str) -> None:
        self.key = key.encode()

    def __call__(self, phone: str) -> str:   # the phones here are digits already: phone_lookup_hash without its regex
        return hmac.new(self.key, phone.encode(), hashlib.sha256).hexdigest()[:40]


def unit_rows(group: Group, phone_hash, now: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(1)
    for pi, project in enumerate(group.projects):
        for n in range(group.units_per_project):
            building, unit = unit_address(n)
            sold = rng.random() < 0.93
            phone = phone_of(pi, n) if sold else None
            yield {"project": project, "building": building, "unit": unit, "project_key": project,
                   "building_key": building.removesuffix("栋"), "unit_key": unit, "sold": sold,
                   "occupied": sold and rng.random() < 0.85,
                   "handover_date": date(2019 + pi % 5, 6, 30) if sold else None,
                   "owner_name": f"{SURNAMES[(pi + n) % len(SURNAMES)]}先生" if sold else None,
                   "owner_phone_masked": masked(phone) if phone else None,
                   "owner_phone_sealed": None,  # sealed phones are what the codec's keys open: none in a bench
                   "owner_phone_hmac": phone_hash(phone) if phone else None,
                   "updated_at": now, "updated_by": "group_data"}


def closed_view() -> str:
    """A closed case's stored view as the projection writes it (the general complaint path, by the rule machine)."""
    from benchmarks.register_bench import templates
    closed, _ = templates()
    return json.dumps(closed["view"], ensure_ascii=False, default=str)


def case_rows(group: Group, n: int, phone_hash, now: datetime = NOW,
              years: int = YEARS) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The cases in the order they were received (numbers grow with time), each with its deadlines."""
    rng = random.Random(2026)
    start = now - timedelta(days=365 * years)
    span = (now - start).total_seconds()
    # projects differ in how much they ask for (age, size, quality): some ten times as busy as others
    weights = [rng.lognormvariate(0, 0.7) for _ in group.projects]
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    times = []
    for _ in range(n):
        t = rng.random()
        # the group grows: more cases each year (density rising linearly by half over the span)
        t = ((1 + 3 * t) ** 0.5 - 1) if rng.random() < 0.5 else t
        at = start + timedelta(seconds=t * span)
        # in working hours mostly: fold the time of day into 08:00–20:00 Beijing
        local = at.astimezone(BEIJING)
        hour = 8 + (local.hour * 60 + local.minute) * 12 // (24 * 60)
        at = local.replace(hour=hour).astimezone(timezone.utc)
        times.append(at if at < now else at - timedelta(days=1))
    times.sort()
    view = closed_view()
    counters: dict[tuple[str, int], int] = {}
    import bisect
    for at in times:
        pi = bisect.bisect_left(cum, rng.random() * total)
        project = group.projects[pi]
        company = group.company_of[project]
        complaint = rng.random() < 0.4
        prefix = "TS" if complaint else "WX"
        year = at.astimezone(BEIJING).year
        counters[(prefix, year)] = counters.get((prefix, year), 0) + 1
        case_no = f"{prefix}-{year}-{counters[(prefix, year)]:06d}"
        u = rng.randrange(group.units_per_project)
        building, unit = unit_address(u)
        phone = phone_of(pi, u)
        # days to close: most within two weeks, a long tail; open if that is still ahead of `now`
        days = rng.expovariate(1 / 6) + (rng.random() < 0.03) * rng.uniform(20, 200)
        closed_at = at + timedelta(days=days)
        closed = closed_at < now
        status = "closed" if closed else rng.choice(list(COMPLAINT_OPEN if complaint else REPAIR_OPEN))
        registered = status == "registered"
        department = None if registered else (rng.choice(DEPARTMENTS) if complaint else "工程部")
        handler = (rng.choice(group.handlers[company][department]) if department and complaint
                   and status not in ("assigned",) else None)
        next_roles = "" if closed else (COMPLAINT_OPEN if complaint else REPAIR_OPEN)[status]
        overdue = not closed and rng.random() < 0.15
        level = rng.choice((1, 1, 1, 2, 2, 3, 4)) if (overdue or (closed and rng.random() < 0.04)) else 0
        contractor = rng.choice(CONTRACTORS) if not complaint and not registered and rng.random() < 0.6 else None
        compensation = rng.choice((0, 0, 0, 20000, 80000, 300000)) if complaint and not registered else 0
        paid_service = not complaint and rng.random() < 0.08
        fee = rng.randrange(5000, 80000) if paid_service else None
        rounds = None if complaint or registered else (1 if rng.random() < 0.9 else 2)
        arrivals = 0 if complaint or registered else rounds or 1
        row = {
            "case_no": case_no, "case_type": "complaint" if complaint else "repair", "status": status,
            "channel": rng.choice(CHANNELS) if complaint else "phone", "category": rng.choice(CATEGORIES),
            "project": project, "building": building, "unit": unit, "unit_id": pi * group.units_per_project + u + 1,
            "building_key": building.removesuffix("栋"), "department": department, "handler": handler,
            "major": complaint and rng.random() < 0.01,
            "justified": None if not complaint or registered else rng.random() < 0.85,
            "escalation_level": level, "overdue": overdue,
            "customer_name": f"{SURNAMES[(pi + u) % len(SURNAMES)]}先生", "customer_phone_masked": masked(phone),
            "customer_phone_hmac": phone_hash(phone),
            "received_at": at, "closed_at": closed_at if closed else None, "outcome": "resolved" if closed else None,
            "satisfaction": rng.choice((None, 3, 4, 5, 5, 5)) if closed else None, "linked_case_no": None,
            "contractor_id": contractor,
            "reached_roles": ",finance," if (closed and (compensation or fee)) or status == "awaiting_payment" else "",
            "next_roles": next_roles,
            "next_user": handler if "|dept_handler|" in next_roles else None,
            "compensation_fen": compensation or None,
            "compensation_paid": (closed if compensation else None), "paid_service": paid_service,
            "service_fee_fen": fee, "service_paid_fen": fee if paid_service and closed else None,
            "work_rounds": rounds, "first_pass": None if rounds is None else rounds == 1,
            "arrivals": arrivals, "arrivals_on_time": arrivals if rng.random() < 0.92 else 0,
            "revisits": 1 if not complaint and closed else 0,
            "seq": 12 if closed else 4, "updated_at": closed_at if closed else at,
            "view": view if closed else None,
        }
        row["company_id"], row["project_key"] = group.company_id[company], normalize_text(project)  # P5: its scope
        deadlines = []
        for k, (rule, hours) in enumerate((("C3", 24), ("C4", 72)) if complaint else (("R1", 24), ("R4", 96))):
            due = at + timedelta(hours=hours)
            met = at + timedelta(hours=rng.expovariate(1 / (hours * 0.6)))
            met_at = met if (closed or met < now) and (k == 0 or closed) else None
            deadlines.append({"case_no": case_no, "key": rule, "rule": rule, "due_at": due, "met_at": met_at,
                              "missed": met_at is None and due < now or (met_at is not None and met_at > due),
                              "waived": False, "seq": row["seq"], "reminds": False, "owners": "",
                              "department": department, "next_remind_at": None, "reminders_sent": 0,
                              "reminded_by": None})
        yield row, deadlines


# ---- writing ------------------------------------------------------------------------------------------------
def _sqlite_converters(table, columns: list[str]) -> list[tuple[int, Any]]:
    """(position, converter) of the columns SQLite needs converted as SQLAlchemy stores them: times as UTC text
    with microseconds, dates as ISO text, booleans as 0/1; the others go as they are."""
    from sqlalchemy import Boolean, Date, DateTime
    out = []
    for i, name in enumerate(columns):
        t = table.columns[name].type
        if isinstance(t, DateTime):
            out.append((i, lambda v: v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")))
        elif isinstance(t, Date):
            out.append((i, date.isoformat))
        elif isinstance(t, Boolean):
            out.append((i, int))
    return out


def _scalar_defaults(table) -> dict[str, Any]:
    """The model's own default of each column the generator leaves out (a column added since: its default, as
    the projection would write it)."""
    return {c.name: c.default.arg for c in table.columns if c.default is not None and c.default.is_scalar}


def _sqlite_rows(rows: list[dict[str, Any]], columns: list[str], converters: list[tuple[int, Any]],
                 defaults: dict[str, Any] | None = None) -> list[list]:
    defaults = defaults or {}
    out = []
    for r in rows:
        v = [r.get(c, defaults.get(c)) for c in columns]
        for i, conv in converters:
            if v[i] is not None:
                v[i] = conv(v[i])
        out.append(v)
    return out


TABLES = ((Case.__table__, "cases"), (CaseDeadline.__table__, "case_deadlines"), (PropertyUnit.__table__, "property_units"))


def _columns(table) -> list[str]:
    return [c.name for c in table.columns if not (c.primary_key and c.autoincrement is True and c.name == "id")]


def batches(it: Iterator, size: int) -> Iterator[list]:
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def organisation(group: Group) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """The rows of `companies` (id, name) and `projects` (key, name, company id): the group as P5 keeps it."""
    return ([(group.company_id[c], c) for c in group.companies],
            [(normalize_text(p), p, group.company_id[group.company_of[p]]) for p in group.projects])


def write_sqlite(path: str, group: Group, n_cases: int, phone_hash, now: datetime) -> dict[str, int]:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")   # a bulk load into a fresh file: nothing to roll back to
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-400000")
    db.execute("PRAGMA temp_store=MEMORY")
    names = [t for _, t in TABLES]
    indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN "
                         f"({','.join('?' * len(names))})", names).fetchall()
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')
    counts = {}
    companies, projects = organisation(group)
    db.executemany("INSERT INTO companies (id, name, active, mailboxes, robots) VALUES (?, ?, 1, '{}', '{}')", companies)
    db.executemany("INSERT INTO projects (key, name, company_id, active) VALUES (?, ?, ?, 1)", projects)
    unit_cols = _columns(PropertyUnit.__table__)
    sql = f"INSERT INTO property_units ({','.join(unit_cols)}) VALUES ({','.join('?' * len(unit_cols))})"
    counts["property_units"] = 0
    for batch in batches(unit_rows(group, phone_hash, now), 20_000):
        db.executemany(sql, _sqlite_rows(batch, unit_cols, _sqlite_converters(PropertyUnit.__table__, unit_cols)))
        counts["property_units"] += len(batch)
    case_cols = [c for c in _columns(Case.__table__)]
    dl_cols = _columns(CaseDeadline.__table__)
    case_sql = f"INSERT INTO cases ({','.join(case_cols)}) VALUES ({','.join('?' * len(case_cols))})"
    dl_sql = f"INSERT INTO case_deadlines ({','.join(dl_cols)}) VALUES ({','.join('?' * len(dl_cols))})"
    case_conv, dl_conv = _sqlite_converters(Case.__table__, case_cols), _sqlite_converters(CaseDeadline.__table__, dl_cols)
    counts["cases"] = counts["case_deadlines"] = 0
    for batch in batches(case_rows(group, n_cases, phone_hash, now), 20_000):
        db.executemany(case_sql, _sqlite_rows([r for r, _ in batch], case_cols, case_conv,
                                                 _scalar_defaults(Case.__table__)))
        dls = [d for _, ds in batch for d in ds]
        db.executemany(dl_sql, _sqlite_rows(dls, dl_cols, dl_conv))
        counts["cases"] += len(batch)
        counts["case_deadlines"] += len(dls)
    db.commit()
    for _, ddl in indexes:
        db.execute(ddl)
    db.execute("PRAGMA analysis_limit=100000")   # as every start does (migrations/env.py)
    db.execute("ANALYZE")
    db.commit()
    db.close()
    return counts


async def write_postgres(url: str, group: Group, n_cases: int, phone_hash, now: datetime) -> dict[str, int]:
    import asyncpg
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database)
    try:
        names = [t for _, t in TABLES]
        indexes = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1) "
                                   "AND indexname NOT IN (SELECT conname FROM pg_constraint)", names)
        for r in indexes:
            await conn.execute(f'DROP INDEX "{r["indexname"]}"')
        counts = {}
        companies, projects = organisation(group)
        await conn.executemany("INSERT INTO companies (id, name, active, mailboxes, robots) "
                               "VALUES ($1, $2, true, '{}', '{}')", companies)
        await conn.executemany("INSERT INTO projects (key, name, company_id, active) VALUES ($1, $2, $3, true)",
                               projects)

        def pg(v: Any) -> Any:
            return v

        unit_cols = _columns(PropertyUnit.__table__)
        counts["property_units"] = 0
        for batch in batches(unit_rows(group, phone_hash, now), 50_000):
            await conn.copy_records_to_table("property_units", records=[tuple(r[c] for c in unit_cols) for r in batch],
                                             columns=unit_cols)
            counts["property_units"] += len(batch)
        case_cols = _columns(Case.__table__)
        case_defaults = _scalar_defaults(Case.__table__)
        dl_cols = _columns(CaseDeadline.__table__)
        counts["cases"] = counts["case_deadlines"] = 0
        for batch in batches(case_rows(group, n_cases, phone_hash, now), 50_000):
            await conn.copy_records_to_table("cases", records=[tuple(pg(r.get(c, case_defaults.get(c))) for c in case_cols)
                                                      for r, _ in batch],
                                             columns=case_cols)
            dls = [d for _, ds in batch for d in ds]
            await conn.copy_records_to_table("case_deadlines", records=[tuple(d[c] for c in dl_cols) for d in dls],
                                             columns=dl_cols)
            counts["cases"] += len(batch)
            counts["case_deadlines"] += len(dls)
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for r in indexes:
            await conn.execute(r["indexdef"])
        for t in names:
            await conn.execute(f"VACUUM ANALYZE {t}")   # what autovacuum does after a bulk load (visibility map)
    finally:
        await conn.close()
    return counts


def generate(url: str, group: Group, n_cases: int, phone_key: str, now: datetime = NOW) -> dict[str, Any]:
    """Migrates `url` to head and writes the group into it; the counts and the seconds it took."""
    upgrade_to_head(url)
    t0 = time.perf_counter()
    phone_hash = Phones(phone_key)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        counts = write_sqlite(u.database, group, n_cases, phone_hash, now)
    else:
        counts = asyncio.run(write_postgres(url, group, n_cases, phone_hash, now))
    return {**counts, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.group_data")
    p.add_argument("url", help="the read model's URL (sqlite+aiosqlite:///… or postgresql+asyncpg://…), empty or migrated")
    p.add_argument("--companies", type=int, default=20)
    p.add_argument("--projects", type=int, default=300)
    p.add_argument("--units", type=int, default=600_000)
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--phone-key", default="group-data", help="the key of the phones' hash (AFTERSALES_PHONE_LOOKUP_KEY)")
    a = p.parse_args(argv)
    group = make_group(a.companies, a.projects, a.units)
    done = generate(a.url, group, a.cases, a.phone_key)
    print(f"group_data: {a.companies} companies, {a.projects} projects, {done['property_units']:,} units, "
          f"{done['cases']:,} cases, {done['case_deadlines']:,} deadlines in {done['seconds']:.1f} s")


if __name__ == "__main__":
    main()
