"""Reports that are lists (K2, V3), stored and served like the others:

- `paid_services` (`2026-11`): the paid-service register (有偿服务登记表, R3) — the same rows as
  GET /reports/paid-services;
- `rework_daily` (`2026-11-23`): the progress list of reworked repairs (返修进度日报表, K2, R7): every
  repair with a second round of work still open at the day's end or closed that day;
- `campaign` (its id, `HF-2026-000001`): a revisit campaign's report (V3) as last projected — coverage,
  satisfaction, points raised and handled — with its plan and visits per building.

Each returns the report's `summary`, its `items` and the `columns` (key, Chinese heading) they are
written out with (CSV, XLSX)."""

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.ledger import to_yuan
from adapters.db.models import Case, CaseDeadline, CampaignHousehold, CampaignRow, CampaignVisit
from aftersales.reports import Period


def money(fen: int | None) -> str | None:
    """Amounts as the API writes them: strings with two decimals (yuan), never floats."""
    return None if fen is None else str(to_yuan(fen))


def total(amounts) -> str:
    return str(sum((Decimal(a) for a in amounts if a is not None), Decimal("0.00")))


def utc(at: datetime | None) -> datetime | None:
    """The read model's times are UTC (SQLite hands them back without the zone)."""
    return at if at is None or at.tzinfo else at.replace(tzinfo=timezone.utc)


def in_received(period: Period, *filters) -> Any:
    return select(Case).where(Case.received_at >= period.start.astimezone(timezone.utc),
                              Case.received_at < period.end.astimezone(timezone.utc), *filters)


# ---- R3: the paid-service register ----------------------------------------------------------------
PAID_SERVICE_COLUMNS = [
    ("case_no", "案件编号"), ("received_at", "受理时间"), ("project", "项目"), ("building", "楼栋"), ("unit", "房号"),
    ("customer_name", "业主"), ("status", "状态"), ("schedule_version", "收费标准版本"), ("quoted", "报价金额(元)"),
    ("accepted_by", "签单人"), ("declined", "业主拒绝"), ("paid", "实收金额(元)"), ("method", "付款方式"),
    ("receipt_no", "收据号"), ("paid_at", "收款时间"),
]


async def paid_services(session: AsyncSession, period: Period, where: tuple = ()) -> dict[str, Any]:
    """Every owner-paid repair received in the period with its quote, the owner's acceptance or refusal
    and the payment (the details are those of the case as last projected: complete once it closed).
    `where`: the reader's visibility (P2, adapters.db.visibility) when a person asks."""
    rows = (await session.scalars(in_received(period, Case.case_type == "repair", Case.paid_service.is_(True), *where)
                                  .order_by(Case.received_at, Case.case_no))).all()
    items = []
    for row in rows:
        view = row.view or {}
        quote, acceptance, payment = view.get("quote"), view.get("quote_acceptance"), view.get("service_payment")
        items.append({
            "case_no": row.case_no, "received_at": utc(row.received_at).isoformat(), "project": row.project,
            "building": row.building, "unit": row.unit, "customer_name": row.customer_name, "status": row.status,
            "outcome": row.outcome, "schedule_version": quote["schedule_version"] if quote else None,
            "lines": quote["lines"] if quote else [], "quoted": money(row.service_fee_fen),
            "accepted_by": acceptance["signed_by"] if acceptance else None,
            "accepted_at": acceptance["signed_at"] if acceptance else None,
            "declined": row.outcome == "declined", "paid": money(row.service_paid_fen),
            "method": payment["method"] if payment else None,
            "receipt_no": payment["receipt_no"] if payment else None,
            "paid_at": payment["at"] if payment else None,
        })
    summary = {
        "cases": len(items), "accepted": sum(1 for i in items if i["accepted_by"]),
        "declined": sum(1 for i in items if i["declined"]), "paid": sum(1 for i in items if i["paid"] is not None),
        "quoted_total": total(i["quoted"] for i in items if not i["declined"]),
        "paid_total": total(i["paid"] for i in items),
    }
    return {"summary": summary, "items": items, "columns": PAID_SERVICE_COLUMNS}


# ---- K2, R7: the daily progress list of reworked repairs ---------------------------------------------
REWORK_COLUMNS = [
    ("case_no", "案件编号"), ("project", "项目"), ("building", "楼栋"), ("unit", "房号"), ("status", "状态"),
    ("handler", "跟进人"), ("contractor_id", "施工单位"), ("work_rounds", "施工轮次"), ("work_due_at", "完工时限"),
    ("overdue", "已逾期"), ("closed_at", "结案时间"),
]


async def rework_daily(session: AsyncSession, period: Period, where: tuple = ()) -> dict[str, Any]:
    """Repairs reworked after a revisit (R7: a second round of work or more) still open at the end of
    the day, or closed during it, with the current round's work deadline."""
    start, end = period.start.astimezone(timezone.utc), period.end.astimezone(timezone.utc)
    work = CaseDeadline
    rows = (await session.execute(
        select(Case, work.due_at, work.met_at)
        .outerjoin(work, and_(work.case_no == Case.case_no, work.key == "work"))
        .where(Case.case_type == "repair", Case.work_rounds >= 2, Case.received_at < end,
               or_(Case.closed_at.is_(None), and_(Case.closed_at >= start, Case.closed_at < end)), *where)
        .order_by(func.coalesce(work.due_at, Case.received_at), Case.case_no))).all()
    items = [{
        "case_no": c.case_no, "project": c.project, "building": c.building, "unit": c.unit, "status": c.status,
        "handler": c.handler, "contractor_id": c.contractor_id, "work_rounds": c.work_rounds,
        "work_due_at": utc(due).isoformat() if due else None,
        "overdue": bool(due and met is None and utc(due) < end and c.closed_at is None),
        "closed_at": utc(c.closed_at).isoformat() if c.closed_at else None,
    } for c, due, met in rows]
    summary = {"reworked": len(items), "closed_today": sum(1 for i in items if i["closed_at"]),
               "open": sum(1 for i in items if not i["closed_at"]), "overdue": sum(1 for i in items if i["overdue"])}
    return {"summary": summary, "items": items, "columns": REWORK_COLUMNS}


# ---- V3: a campaign's report ------------------------------------------------------------------------
CAMPAIGN_COLUMNS = [("building", "楼栋"), ("planned", "计划户数"), ("visited", "已回访户数"), ("coverage", "覆盖率")]


async def campaign(session: AsyncSession, campaign_id: str) -> dict[str, Any]:
    """The campaign's progress or closing report as last projected, and its coverage per building.
    LookupError for an unknown campaign."""
    row = await session.get(CampaignRow, campaign_id)
    if row is None:
        raise LookupError(f"no campaign {campaign_id}")
    H, V = CampaignHousehold, CampaignVisit
    planned = dict((await session.execute(select(H.building, func.count()).where(H.campaign_id == campaign_id)
                                          .group_by(H.building))).all())
    visited = dict((await session.execute(
        select(H.building, func.count(func.distinct(V.unit_id)))
        .join(V, and_(V.campaign_id == H.campaign_id, V.unit_id == H.unit_id))
        .where(H.campaign_id == campaign_id).group_by(H.building))).all())
    items = [{"building": b, "planned": n, "visited": visited.get(b, 0),
              "coverage": round(visited.get(b, 0) / n, 4) if n else None} for b, n in sorted(planned.items())]
    summary = {k: v for k, v in (row.summary or {}).items() if k != "definitions"}
    return {"summary": summary, "items": items, "columns": CAMPAIGN_COLUMNS,
            "campaign_definitions": (row.summary or {}).get("definitions", {})}
