"""Report figures counted in SQL on the read model (K1–K3), and stored reports.

Every count is one GROUP BY over the cases received in the period (indexed by type and received time);
only the handling times of closed cases come back as rows, to be counted in working days against the
holiday calendar (T1), which SQL does not know."""

import weakref
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from decimal import Decimal

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.calendar import WorkCalendar
from adapters.db.models import CampaignVisit, Case, CaseDeadline, Department, PropertyUnit, StoredReport
from aftersales.messages import CHANNEL_NAMES
from aftersales.reports import (
    DEFINITIONS, LISTINGS, TARGETS, TITLES, Period, ReportKind, percentile, rate,
)

UNLISTED_DEPARTMENT = "（不在部门列表中的名称）"  # P7
CASE_TYPE = {ReportKind.monthly_repairs: "repair", ReportKind.weekly_complaints: "complaint",
             ReportKind.monthly_complaints: "complaint"}  # quarterly and yearly: both types


def working_days_between(cal: WorkCalendar, start: datetime, end: datetime) -> float:
    """Working time from start to end, in working days (working hours / hours of a working day, T1, T3)."""
    if end <= start:
        return 0.0
    local_start, local_end = start.astimezone(cal.tz), end.astimezone(cal.tz)
    first, last = local_start.date(), local_end.date()

    def within(day: date) -> timedelta:
        if not cal.is_working_day(day):
            return timedelta(0)
        opening = datetime.combine(day, cal.day_start, tzinfo=cal.tz)
        closing = datetime.combine(day, cal.day_end, tzinfo=cal.tz)
        lo, hi = max(opening, local_start), min(closing, local_end)
        return hi - lo if hi > lo else timedelta(0)

    total = within(first)
    if last > first:
        # the days in between are whole working days or none: counted from a per-year table, not walked (a
        # group's yearly roll-up reckons a quarter of a million closed cases, P5)
        total += within(last) + timedelta(hours=cal.hours_per_day) * _working_days_between(cal, first, last)
    return round(total / timedelta(hours=cal.hours_per_day), 2)


def scope_where(scope: "ReportScope") -> list:
    """K, P5: the cases of a report's scope (the group's roll-up: all; a company's; a project's)."""
    if scope.project:
        return [Case.project_key == scope.project]
    if scope.company_id:
        return [Case.company_id == scope.company_id]
    return []


class ReportScope:
    """K, P5: whose report it is: the group's roll-up (neither), a company's, or a project's (its key)."""

    def __init__(self, company_id: str | None = None, project: str | None = None) -> None:
        self.company_id, self.project = company_id, project

    def data(self) -> dict[str, Any]:
        level = "project" if self.project else "company" if self.company_id else "group"
        return {"level": level, "company_id": self.company_id, "project": self.project}

    @classmethod
    def of(cls, data: dict[str, Any]) -> "ReportScope":
        scope = data.get("scope") or {}
        return cls(scope.get("company_id"), scope.get("project"))


_WORKING_DAYS: "weakref.WeakKeyDictionary[WorkCalendar, dict[int, list[int]]]" = weakref.WeakKeyDictionary()


def _working_days_before(cal: WorkCalendar, day: date) -> tuple[int, int]:
    """(working days of day's year before it, working days of the whole year), from the calendar's table."""
    years = _WORKING_DAYS.setdefault(cal, {})
    table = years.get(day.year)
    if table is None:
        table, n, d = [0], 0, date(day.year, 1, 1)
        while d.year == day.year:
            n += cal.is_working_day(d)
            table.append(n)
            d += timedelta(days=1)
        years[day.year] = table
    return table[day.timetuple().tm_yday - 1], table[-1]


def _working_days_between(cal: WorkCalendar, first: date, last: date) -> int:
    """Working days strictly after `first` and strictly before `last`."""
    a, b = first + timedelta(days=1), last   # the days of [a, b)
    if a >= b:
        return 0
    before_a, year_a = _working_days_before(cal, a)
    before_b, _ = _working_days_before(cal, b)
    if a.year == b.year:
        return before_b - before_a
    return (year_a - before_a + before_b
            + sum(_working_days_before(cal, date(y, 1, 1))[1] for y in range(a.year + 1, b.year)))


async def figures(session: AsyncSession, period: Period, cal: WorkCalendar, now: datetime | None = None,
                  scope: ReportScope | None = None, *, where: Sequence[ColumnElement[bool]] = ()) -> dict[str, Any]:
    """The report's figures for the cases received in the period (deadlines counted as of `now`), within the
    report's scope (P5: a project's, a company's; none: the group's roll-up); `where`: any further condition
    on the cases (the group benchmark's own scopes)."""
    now = now or datetime.now(timezone.utc)
    in_period = [Case.received_at >= period.start.astimezone(timezone.utc),
                 Case.received_at < period.end.astimezone(timezone.utc), *scope_where(scope or ReportScope()), *where]
    if period.kind in CASE_TYPE:
        in_period.append(Case.case_type == CASE_TYPE[period.kind])
    closed = and_(Case.closed_at.is_not(None), Case.outcome.is_not(None))
    closed_n = func.sum(case((closed, 1), else_=0))
    row = (await session.execute(select(
        func.count(), closed_n, func.sum(case((Case.satisfaction >= 4, 1), else_=0)),
        func.count(Case.satisfaction), func.sum(case((Case.major, 1), else_=0)),
        func.sum(case((Case.escalation_level > 0, 1), else_=0)),
    ).where(*in_period))).one()
    received, closed_count, satisfied, scored, major, escalated = (int(v or 0) for v in row)

    async def by(column, names: dict[str, str] | None = None, rename=None) -> list[dict[str, Any]]:
        rows = await session.execute(select(column, func.count(), closed_n).where(*in_period)
                                     .group_by(column).order_by(func.count().desc(), column))
        counted: dict[str, list[int]] = {}
        for v, n, c in rows:
            v = rename(v) if rename else v
            name = (names or {}).get(v, v) if v is not None else "（未分类）"
            total = counted.setdefault(name, [0, 0])
            total[0], total[1] = total[0] + n, total[1] + int(c or 0)
        return [{"name": k, "received": n, "closed": c}
                for k, (n, c) in sorted(counted.items(), key=lambda kv: -kv[1][0])]  # stable: SQL's order for ties

    # P7: only the organisation's departments (those retired included) count as departments; a name typed
    # before the list existed ("工程" for 工程部) is counted apart, not as a department of its own.
    listed = set((await session.scalars(select(Department.name))).all())

    def department_name(d: str | None) -> str | None:
        return d if d is None or d in listed else UNLISTED_DEPARTMENT

    escalated_by: dict[tuple[str, int], int] = {}
    for d, level, n in await session.execute(
            select(Case.department, Case.escalation_level, func.count()).where(*in_period, Case.escalation_level > 0)
            .group_by(Case.department, Case.escalation_level)):
        key = (department_name(d) or "（未分派）", level)
        escalated_by[key] = escalated_by.get(key, 0) + n
    escalations = [{"department": d, "level": level, "cases": n} for (d, level), n in sorted(escalated_by.items())]
    durations = [working_days_between(cal, r, c) for r, c in await session.execute(
        select(Case.received_at, Case.closed_at).where(*in_period, closed))]
    on_time = await on_time_by_rule(session, in_period, now)
    return {
        "summary": {
            "received": received, "closed": closed_count, "handling_rate": rate(closed_count, received),
            "satisfied": satisfied, "satisfaction_scored": scored, "satisfaction_rate": rate(satisfied, scored),
            "major": major, "escalated": escalated,
            "median_working_days": percentile(durations, 0.5), "p90_working_days": percentile(durations, 0.9),
            "timeliness_rate": next((r["rate"] for r in on_time if r["rule"] == "R4"), None),
            **await service_figures(session, in_period, closed),
            **await provenance_figures(session, in_period),
            **await households_revisited(session, period, cal, scope or ReportScope()),
        },
        "on_time_by_rule": on_time,
        "by_channel": await by(Case.channel, CHANNEL_NAMES),
        "by_category": await by(Case.category),
        "by_department": await by(Case.department, rename=department_name),
        "by_project": await by(Case.project),
        "escalations": escalations,
    }


async def on_time_by_rule(session: AsyncSession, in_period: list, now: datetime) -> list[dict[str, Any]]:
    """Per deadline rule (C3, C4, C6, R2, R4, R7 …): of the deadlines of the period's cases that were met
    or have come due (waived ones left out), those met by their due time (an agreed extension, R8,
    counts as the due time)."""
    D = CaseDeadline
    come_due = or_(D.met_at.is_not(None), D.missed, D.due_at <= now)
    met_in_time = func.sum(case((and_(D.met_at.is_not(None), D.met_at <= D.due_at), 1), else_=0))
    rows = await session.execute(
        select(D.rule, func.count(), met_in_time).join(Case, Case.case_no == D.case_no)
        .where(*in_period, D.waived.is_(False), come_due).group_by(D.rule).order_by(D.rule))
    return [{"rule": rule, "due": n, "on_time": int(m or 0), "rate": rate(int(m or 0), n)} for rule, n, m in rows]


async def provenance_figures(session: AsyncSession, in_period: list) -> dict[str, Any]:
    """O4: the satisfaction, sign-off and consent rates by who gave the fact — the owner themselves (owner pages)
    or staff recording it for them (代录) — K3's satisfaction target against each (R9 scores count both)."""
    def count(condition) -> Any:
        return func.sum(case((condition, 1), else_=0))

    row = (await session.execute(select(
        count(and_(Case.satisfaction_by == "owner", Case.satisfaction >= 4)), count(Case.satisfaction_by == "owner"),
        count(and_(Case.satisfaction_by == "staff", Case.satisfaction >= 4)), count(Case.satisfaction_by == "staff"),
        count(Case.sign_off_by == "owner"), count(Case.sign_off_by == "staff"),
        func.sum(Case.consents_owner), func.sum(Case.consents_owner_yes),
        func.sum(Case.consents_staff), func.sum(Case.consents_staff_yes),
    ).where(*in_period))).one()
    (sat_owner, scored_owner, sat_staff, scored_staff, signed_owner, signed_staff,
     asked_owner, yes_owner, asked_staff, yes_staff) = (int(v or 0) for v in row)
    return {
        "satisfaction_scored_owner": scored_owner, "satisfaction_rate_owner": rate(sat_owner, scored_owner),
        "satisfaction_scored_staff": scored_staff, "satisfaction_rate_staff": rate(sat_staff, scored_staff),
        "sign_offs_owner": signed_owner, "sign_offs_staff": signed_staff,
        "sign_off_owner_share": rate(signed_owner, signed_owner + signed_staff),
        "consents_asked_owner": asked_owner, "consent_rate_owner": rate(yes_owner, asked_owner),
        "consents_asked_staff": asked_staff, "consent_rate_staff": rate(yes_staff, asked_staff),
    }


def yuan_text(fen: int) -> str:
    """An amount in fen as the API writes money: '1234.50'."""
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


async def service_figures(session: AsyncSession, in_period: list, closed) -> dict[str, Any]:
    """K2 and K3 figures of the period's repairs, and the money paid (A1 compensation, R3 services)."""
    repair = Case.case_type == "repair"
    row = (await session.execute(select(
        func.count(Case.first_pass), func.sum(case((Case.first_pass.is_(True), 1), else_=0)),
        func.sum(case((Case.work_rounds >= 1, 1), else_=0)), func.sum(case((Case.work_rounds >= 2, 1), else_=0)),
        func.sum(Case.arrivals), func.sum(Case.arrivals_on_time),
        func.sum(case((and_(closed, repair), 1), else_=0)),
        func.sum(case((and_(closed, repair, Case.revisits > 0), 1), else_=0)),
        func.sum(case((Case.compensation_paid.is_(True), Case.compensation_fen), else_=0)),
        func.sum(case((Case.compensation_paid.is_(True), 1), else_=0)),
        func.sum(Case.service_paid_fen), func.count(Case.service_paid_fen),
    ).where(*in_period))).one()
    (inspected, first_pass, worked, reworked, arrivals, on_time, closed_repairs, revisited, compensation,
     compensated, service, serviced) = (int(v or 0) for v in row)
    return {
        "pass_rate": rate(first_pass, inspected), "inspected": inspected,
        "reopen_rate": rate(reworked, worked), "reworked": reworked,
        "punctuality_rate": rate(on_time, arrivals), "arrivals": arrivals,
        "revisit_rate": rate(revisited, closed_repairs), "revisited": revisited,
        "compensation_paid": yuan_text(compensation), "compensation_cases": compensated,
        "paid_services_total": yuan_text(service), "paid_services": serviced,
    }


async def households_revisited(session: AsyncSession, period: Period, cal: WorkCalendar,
                               scope: ReportScope | None = None) -> dict[str, Any]:
    """K3 (V2, S2): households revisited in the year up to the period's end (distinct units visited by any
    campaign since 1 January, company time) against the sold homes of the property register (≥ 30% a year)."""
    year_start = period.start.astimezone(cal.tz).replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    from adapters.db.properties import units_in_scope
    units = units_in_scope(scope.company_id, scope.project) if scope else None
    visited_q = select(func.count(func.distinct(CampaignVisit.unit_id))).where(
        CampaignVisit.at >= year_start.astimezone(timezone.utc), CampaignVisit.at < period.end.astimezone(timezone.utc))
    sold_q = select(func.count()).select_from(PropertyUnit).where(PropertyUnit.sold)
    if units is not None:  # P5: the scope's units only
        visited_q = visited_q.where(CampaignVisit.unit_id.in_(select(PropertyUnit.id).where(units)))
        sold_q = sold_q.where(units)
    visited, sold = await session.scalar(visited_q), await session.scalar(sold_q)
    return {"households_revisited": int(visited or 0), "sold_homes": int(sold or 0),
            "households_revisited_rate": rate(int(visited or 0), int(sold or 0))}


async def listing(session: AsyncSession, period: Period, scope: ReportScope | None = None) -> dict[str, Any]:
    """A list report's summary and items (adapters.db.listings); LookupError for an unknown campaign."""
    from adapters.db import listings
    where = tuple(scope_where(scope or ReportScope()))
    if period.kind == ReportKind.paid_services:
        return await listings.paid_services(session, period, where=where)
    if period.kind == ReportKind.rework_daily:
        return await listings.rework_daily(session, period, where=where)
    return await listings.campaign(session, period.label)


async def generate(session: AsyncSession, period: Period, cal: WorkCalendar, *, by: str,
                   now: datetime | None = None, scope: ReportScope | None = None) -> StoredReport:
    """Counts the figures of the scope (K, P5: a project's, a company's, the group's roll-up), stores the report
    (with definitions, targets and its scope) and commits."""
    now = now or datetime.now(timezone.utc)
    scope = scope or ReportScope()
    data = {
        "kind": period.kind.value, "title": TITLES[period.kind], "period": period.label, "scope": scope.data(),
        "from": period.start.isoformat(), "to": period.end.isoformat(),
        "generated_at": now.isoformat(), "generated_at_local": now.astimezone(cal.tz).strftime("%Y-%m-%d %H:%M"),
        **(await listing(session, period, scope) if period.kind in LISTINGS else {
            **await figures(session, period, cal, now, scope), "definitions": DEFINITIONS, "targets": TARGETS}),
    }
    report = StoredReport(kind=period.kind.value, period=period.label, generated_at=now, generated_by=by, data=data)
    session.add(report)
    await session.commit()
    data["id"] = report.id
    return report


def readable(data: dict[str, Any], company_id: str | None, project: str | None) -> bool:
    """K, P5: a stored report is read within its reader's scope: the group reads every report, a company its own
    and its projects', a project its own."""
    scope = ReportScope.of(data)
    if project:
        return scope.project == project
    if company_id:
        return scope.company_id == company_id
    return True


async def find(session: AsyncSession, kind: str | None, period: str | None, *, by: str | None = None,
               limit: int = 50, reader: tuple[str | None, str | None] = (None, None)) -> list[StoredReport]:
    stmt = select(StoredReport).order_by(StoredReport.generated_at.desc(), StoredReport.id.desc())
    if reader != (None, None):  # P5: the reader's scope (a scope is in the report's JSON: filtered here)
        stmt = stmt.limit(limit * 20)
        rows = [r for r in await session.scalars(_filtered(stmt, kind, period, by)) if readable(r.data, *reader)]
        return rows[:limit]
    return list(await session.scalars(_filtered(stmt.limit(limit), kind, period, by)))


def _filtered(stmt, kind: str | None, period: str | None, by: str | None):
    if by:
        stmt = stmt.where(StoredReport.generated_by == by)
    if kind:
        stmt = stmt.where(StoredReport.kind == kind)
    if period:
        stmt = stmt.where(StoredReport.period == period)
    return stmt
