"""Report figures counted in SQL on the read model (K1–K3), and stored reports.

Every count is one GROUP BY over the cases received in the period (indexed by type and received time);
only the handling times of closed cases come back as rows, to be counted in working days against the
holiday calendar (T1), which SQL does not know."""

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.calendar import WorkCalendar
from aftersales.db.models import Case, StoredReport
from aftersales.reports import (
    CHANNEL_NAMES, DEFINITIONS, TARGETS, TITLES, Period, ReportKind, percentile, rate,
)

CASE_TYPE = {ReportKind.monthly_repairs: "repair", ReportKind.weekly_complaints: "complaint",
             ReportKind.monthly_complaints: "complaint"}  # quarterly and yearly: both types


def working_days_between(cal: WorkCalendar, start: datetime, end: datetime) -> float:
    """Working time from start to end, in working days (working hours / hours of a working day, T1, T3)."""
    if end <= start:
        return 0.0
    local_start, local_end = start.astimezone(cal.tz), end.astimezone(cal.tz)
    total = timedelta(0)
    day = local_start.date()
    while day <= local_end.date():
        if cal.is_working_day(day):
            opening = datetime.combine(day, cal.day_start, tzinfo=cal.tz)
            closing = datetime.combine(day, cal.day_end, tzinfo=cal.tz)
            lo, hi = max(opening, local_start), min(closing, local_end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return round(total / timedelta(hours=cal.hours_per_day), 2)


async def figures(session: AsyncSession, period: Period, cal: WorkCalendar) -> dict[str, Any]:
    """The report's figures for the cases received in the period."""
    in_period = [Case.received_at >= period.start.astimezone(timezone.utc),
                 Case.received_at < period.end.astimezone(timezone.utc)]
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

    async def by(column, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
        rows = await session.execute(select(column, func.count(), closed_n).where(*in_period)
                                     .group_by(column).order_by(func.count().desc(), column))
        return [{"name": (names or {}).get(v, v) if v is not None else "（未分类）", "received": n, "closed": int(c or 0)}
                for v, n, c in rows]

    escalations = [{"department": d or "（未分派）", "level": level, "cases": n} for d, level, n in await session.execute(
        select(Case.department, Case.escalation_level, func.count()).where(*in_period, Case.escalation_level > 0)
        .group_by(Case.department, Case.escalation_level).order_by(Case.department, Case.escalation_level))]
    durations = [working_days_between(cal, r, c) for r, c in await session.execute(
        select(Case.received_at, Case.closed_at).where(*in_period, closed))]
    return {
        "summary": {
            "received": received, "closed": closed_count, "handling_rate": rate(closed_count, received),
            "satisfied": satisfied, "satisfaction_scored": scored, "satisfaction_rate": rate(satisfied, scored),
            "major": major, "escalated": escalated,
            "median_working_days": percentile(durations, 0.5), "p90_working_days": percentile(durations, 0.9),
        },
        "by_channel": await by(Case.channel, CHANNEL_NAMES),
        "by_category": await by(Case.category),
        "by_department": await by(Case.department),
        "by_project": await by(Case.project),
        "escalations": escalations,
    }


async def generate(session: AsyncSession, period: Period, cal: WorkCalendar, *, by: str,
                   now: datetime | None = None) -> StoredReport:
    """Counts the figures, stores the report (with definitions and targets) and commits."""
    now = now or datetime.now(timezone.utc)
    data = {
        "kind": period.kind.value, "title": TITLES[period.kind], "period": period.label,
        "from": period.start.isoformat(), "to": period.end.isoformat(),
        "generated_at": now.isoformat(), "generated_at_local": now.astimezone(cal.tz).strftime("%Y-%m-%d %H:%M"),
        **await figures(session, period, cal),
        "definitions": DEFINITIONS, "targets": TARGETS,
    }
    report = StoredReport(kind=period.kind.value, period=period.label, generated_at=now, generated_by=by, data=data)
    session.add(report)
    await session.commit()
    data["id"] = report.id
    return report


async def find(session: AsyncSession, kind: str | None, period: str | None, *, by: str | None = None,
               limit: int = 50) -> list[StoredReport]:
    stmt = select(StoredReport).order_by(StoredReport.generated_at.desc(), StoredReport.id.desc()).limit(limit)
    if by:
        stmt = stmt.where(StoredReport.generated_by == by)
    if kind:
        stmt = stmt.where(StoredReport.kind == kind)
    if period:
        stmt = stmt.where(StoredReport.period == period)
    return list(await session.scalars(stmt))
