"""Owner-paid services (R3): the fee schedule kept by cs_manager (every change a new version), the
monthly paid-service register (有偿服务登记表), and the compensation complaints paid (A1)."""

import re
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from aftersales import access
from aftersales.actions import SHORT_TEXT_PATTERN, YEARS, Quote
from aftersales.actor import Actor
from adapters.db import fee_schedule, listings
from adapters.db.listings import money, total, utc
from adapters.db.models import Case
from adapters.spreadsheets import to_csv_text
from adapters.db.visibility import visible_cases_clause
from aftersales.fees import PAYMENT_METHODS_CN, FeeSchedule, FeeScheduleBody
from aftersales.messages import beijing
from aftersales.reports import parse_period
from api.auth import current_actor, require_roles
from api.deps import db_session

router = APIRouter(tags=["paid services"])

REPORT_READERS = access.ENDPOINTS["read_money_reports"]
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# The query refuses control characters by its schema; the month itself is checked below, so
# a bad month gets a 422 that says what a month looks like.
Month = Annotated[str, Query(max_length=16, pattern=SHORT_TEXT_PATTERN, examples=["2026-11"])]


def _schedule_out(schedule: FeeSchedule, head) -> dict[str, Any]:
    return {"version": schedule.version, "created_by": head.created_by,
            "created_at": head.created_at.replace(tzinfo=head.created_at.tzinfo or timezone.utc),
            "note": head.note, "items": [i.model_dump(mode="json") for i in schedule.items]}


@router.put("/admin/fee-schedule", summary="Publish a new version of the paid-service fee schedule (R3)")
async def put_fee_schedule(body: FeeScheduleBody, actor: Annotated[Actor, Depends(require_roles(*access.ENDPOINTS["admin_fee_schedule"]))],
                           session=Depends(db_session)) -> dict[str, Any]:
    """The whole schedule: items, units and unit prices. It becomes the current version; quotes already
    made keep the prices of the version they were made from. Sending the current schedule again
    creates nothing (`created: false`)."""
    _, created = await fee_schedule.publish(session, body.items, by=actor.username, note=body.note,
                                            at=datetime.now(timezone.utc))
    schedule, head = await fee_schedule.load(session)
    return {**_schedule_out(schedule, head), "created": created}


@router.get("/fee-schedule", summary="The paid-service fee schedule (有偿服务收费标准), current or one version")
async def get_fee_schedule(actor: Annotated[Actor, Depends(current_actor)], session=Depends(db_session),
                           version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> dict[str, Any]:
    found = await fee_schedule.load(session, version)
    if found is None:
        raise HTTPException(404, "no fee schedule has been published yet (PUT /admin/fee-schedule)" if version is None
                            else f"no fee schedule version {version}")
    return _schedule_out(*found)


async def priced(session, quote: Quote) -> Quote:
    """R3: the quote with the current fee schedule attached (whatever a client sent in its place);
    an unknown item or no schedule at all is 422."""
    found = await fee_schedule.load(session)
    if found is None:
        raise HTTPException(422, "no fee schedule has been published yet: cs_manager publishes it with "
                                 "PUT /admin/fee-schedule (R3)")
    schedule = found[0]
    unknown = [i.code for i in quote.items if schedule.item(i.code) is None]
    if unknown:
        raise HTTPException(422, f"items not in fee schedule version {schedule.version}: {', '.join(unknown)} (R3)")
    used = FeeSchedule(version=schedule.version, items=[schedule.item(i.code) for i in quote.items])
    return quote.model_copy(update={"schedule": used})


# ---- monthly registers ---------------------------------------------------------------------------
def month_bounds(month: str, tz) -> tuple[datetime, datetime]:
    m = MONTH.match(month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise HTTPException(422, f"month must look like 2026-11 (YYYY-MM), not {month!r}")
    if not YEARS[0] <= int(m.group(1)) <= YEARS[1]:  # 0000-01 and 9999-12 answered 500 (no such datetime)
        raise HTTPException(422, f"month: the year must be between {YEARS[0]} and {YEARS[1]}, not {m.group(1)}")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


async def month_rows(session, request: Request, month: str, *filters) -> list[Case]:
    start, end = month_bounds(month, request.app.state.tz)
    return list((await session.scalars(select(Case).where(Case.received_at >= start, Case.received_at < end, *filters)
                                       .order_by(Case.received_at, Case.case_no))).all())


def _csv(header: list[str], rows: list[list[Any]], filename: str) -> Response:
    # every cell through aftersales.exports: a formula neutralised, phone numbers masked (P3)
    return Response(to_csv_text([header, *rows]), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _wants_csv(accept: str | None) -> bool:
    return bool(accept) and "text/csv" in accept


@router.get("/reports/paid-services", summary="The monthly paid-service register (有偿服务登记表, R3, K2)",
            responses={200: {"description": "JSON, or CSV with `Accept: text/csv`",
                             "content": {"application/json": {"schema": {"type": "object"}},
                                         "text/csv": {"schema": {"type": "string"}}}}})
async def paid_services(request: Request, month: Month,
                        actor: Annotated[Actor, Depends(require_roles(*REPORT_READERS))], session=Depends(db_session),
                        accept: Annotated[str | None, Header()] = None) -> Any:
    """Every owner-paid repair received in the month (company time zone), with its quote, the owner's
    acceptance or refusal and the payment; JSON, or CSV with `Accept: text/csv`."""
    month_bounds(month, request.app.state.tz)  # 422 naming a month that does not exist
    register = await listings.paid_services(session, parse_period("paid_services", month,
                                                                  request.app.state.settings.timezone),
                                            where=(visible_cases_clause(actor),))  # P2: only what the reader sees
    items, summary = register["items"], register["summary"]
    for item in items:
        item["received_at"] = datetime.fromisoformat(item["received_at"])
    if _wants_csv(accept):
        header = ["案件编号", "受理时间", "项目", "楼栋", "房号", "业主", "状态", "收费标准版本", "收费项目", "报价金额(元)",
                  "签单人", "签单时间", "业主拒绝", "实收金额(元)", "付款方式", "收据号", "收款时间"]
        table = [[i["case_no"], beijing(i["received_at"]), i["project"], i["building"], i["unit"], i["customer_name"],
                  i["outcome"] or i["status"], i["schedule_version"],
                  "；".join(f"{ln['name']}×{ln['quantity']}{ln['unit']}" for ln in i["lines"]), i["quoted"],
                  i["accepted_by"], beijing(datetime.fromisoformat(i["accepted_at"])) if i["accepted_at"] else None,
                  "是" if i["declined"] else "否", i["paid"], PAYMENT_METHODS_CN.get(i["method"] or ""), i["receipt_no"],
                  beijing(datetime.fromisoformat(i["paid_at"])) if i["paid_at"] else None] for i in items]
        return _csv(header, table, f"paid-services-{month}.csv")
    return {"month": month, "summary": summary, "items": items}


@router.get("/reports/compensation", summary="Compensation approved and paid on complaints in a month (A1)")
async def compensation(request: Request, month: Month,
                       actor: Annotated[Actor, Depends(require_roles(*REPORT_READERS))],
                       session=Depends(db_session)) -> dict[str, Any]:
    """Complaints received in the month with a compensation: its amount, whether finance recorded it
    paid, and the totals."""
    rows = await month_rows(session, request, month, Case.case_type == "complaint", Case.compensation_fen.is_not(None),
                            visible_cases_clause(actor))  # P2: only the cases the reader sees
    items = [{"case_no": r.case_no, "received_at": utc(r.received_at), "project": r.project, "major": r.major,
              "status": r.status, "compensation": money(r.compensation_fen), "paid": r.compensation_paid}
             for r in rows]
    return {"month": month, "items": items, "summary": {
        "complaints": len(items),
        "total": total(i["compensation"] for i in items),
        "paid_total": total(i["compensation"] for i in items if i["paid"]),
        "unpaid": sum(1 for i in items if i["paid"] is False)}}
