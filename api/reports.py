"""Reports over HTTP (K1–K3): generated on demand for any period, stored, and served as JSON, CSV or
XLSX. Figures are counted in SQL on the read model; each report carries its definitions and targets."""

import asyncio
from urllib.parse import quote
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales import access
from aftersales.actions import LONG_TEXT_PATTERN
from aftersales.text_patterns import SHORT_TEXT_PATTERN
from aftersales.actor import Actor
from aftersales.calendar import WorkCalendar
from aftersales.org import in_scope
from adapters.charts import to_png
from adapters.db import calendar_store
from adapters.temporal import actor_assertion
from adapters.db import reports as store
from adapters.db.models import ReportReview, StoredReport
from adapters.db.register import utc
from adapters.spreadsheets import to_csv, to_xlsx
from aftersales.reports import ReportKind, file_name, parse_period
from aftersales.review import COMMENT_MAX
from api.auth import require_roles
from api.deps import db_session
from api.problems import updated
from contracts.report import ReviewRequest
from workflows.report_review import ReportReviewWorkflow

router = APIRouter(tags=["reports"])

# Aggregates over every case: for roles that see every case (P2) and run or oversee the department.
READERS = access.ENDPOINTS["reports"]
REVIEWERS = access.ENDPOINTS["review_report"]
PERIOD_PATTERN = r"^([0-9]{4}(-[0-9]{2}(-[0-9]{2})?|-W[0-9]{2}|Q[1-4])?|HF-[0-9]{4}-[0-9]{6})$"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A stored report's id: a positive 32-bit integer (the column's type in PostgreSQL); anything larger is
# refused before the database is asked (SQLite cannot even bind it: it answered 500).
MAX_ID = 2**31 - 1
ReportId = Annotated[int, Path(ge=1, le=MAX_ID, description="a stored report's id")]
CSV_FILE = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV (UTF-8 with BOM)"}}
XLSX_FILE = {200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
                   "description": "an Excel workbook"}}


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ReportKind
    period: Annotated[str, Field(pattern=PERIOD_PATTERN, examples=["2026-11", "2026-W48", "2026Q4", "2026", "2026-11-23", "HF-2026-000001"])]
    company_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description=(
        "K, P5: a company's report (within the reader's scope); none: the reader's own scope (the group's roll-up "
        "for the group's accounts)"))] = None
    project: Annotated[str | None, Field(max_length=128, pattern=SHORT_TEXT_PATTERN,
                                         description="K, P5: a project's report (within the reader's scope)")] = None


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Annotated[str, Field(min_length=1, max_length=COMMENT_MAX, pattern=LONG_TEXT_PATTERN,
                                  description="the reviewer's opinion",
                                  examples=["同意。请工程部关注漏水类投诉的处理时效。"])]


class ReportListItem(BaseModel):
    id: int
    kind: str
    period: str
    title: str
    generated_at: str
    generated_by: str


async def _calendar(request: Request, session: AsyncSession, years: list[int]) -> WorkCalendar:
    s = request.app.state.settings
    snapshot = await calendar_store.load_snapshot(session, years, timezone=s.timezone, day_start=s.work_day_start,
                                                  day_end=s.work_day_end, demo_seconds_per_working_day=None)
    return WorkCalendar(snapshot)


@router.post("/reports", status_code=status.HTTP_201_CREATED, summary="Generate a report for any period (K1–K3)")
async def create_report(request: Request, body: ReportRequest,
                        actor: Annotated[Actor, Depends(require_roles(*READERS))],
                        session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, Any]:
    try:
        period = parse_period(body.kind, body.period, request.app.state.settings.timezone)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    cal = await _calendar(request, session, sorted({period.start.year, period.end.year}))
    scope = await report_scope(session, actor, body.company_id, body.project)
    if body.kind == ReportKind.campaign:  # P5: a campaign's report within the reader's scope (404 as an unknown one)
        from adapters.db.models import CampaignRow
        from api.campaigns import in_scope_of
        row = await session.get(CampaignRow, body.period)
        if row is not None and not await in_scope_of(session, actor, row.project):
            raise HTTPException(404, f"no campaign {body.period}")
    try:
        report = await store.generate(session, period, cal, by=actor.username, scope=scope)
    except LookupError as e:  # a campaign report of a campaign that does not exist
        raise HTTPException(404, str(e)) from None
    return {**report.data, "id": report.id}


async def report_scope(session: AsyncSession, actor: Actor, company_id: str | None, project: str | None
                       ) -> store.ReportScope:
    """K, P5: the scope a report is asked for, within the reader's: per project, per company, or the group's
    roll-up; by default the reader's own scope. 404 for a company or project outside it (or unknown)."""
    from adapters.db import org
    from aftersales.properties import normalize_text
    if project:
        row, _ = await org.project_org(session, project)
        if row is None or not in_scope(actor.company_id, actor.project, row.company_id, row.key) \
                or (company_id and company_id != row.company_id):
            raise HTTPException(404, f"no project {project!r} within your scope (P5)")
        return store.ReportScope(row.company_id, normalize_text(project))
    if company_id:
        known = {c.id for c in await org.companies(session)}
        if company_id not in known or actor.project or (actor.company_id and actor.company_id != company_id):
            raise HTTPException(404, f"no company {company_id!r} within your scope (P5)")
        return store.ReportScope(company_id)
    return store.ReportScope(actor.company_id, actor.project)


@router.get("/reports", response_model=list[ReportListItem], summary="Stored reports, newest first")
async def list_reports(actor: Annotated[Actor, Depends(require_roles(*READERS))],
                       session: Annotated[AsyncSession, Depends(db_session)],
                       kind: Annotated[ReportKind | None, Query()] = None,
                       period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None) -> list[ReportListItem]:
    return [ReportListItem(id=r.id, kind=r.kind, period=r.period, title=r.data["title"],
                           generated_at=r.generated_at.isoformat(), generated_by=r.generated_by)
            for r in await store.find(session, kind.value if kind else None, period,
                                      reader=(actor.company_id, actor.project))]


async def _report(session: AsyncSession, report_id: int, actor: Actor | None = None) -> StoredReport:
    report = await session.get(StoredReport, report_id) if 1 <= report_id <= MAX_ID else None
    if report is None or (actor is not None and not store.readable(report.data, actor.company_id, actor.project)):
        raise HTTPException(404, f"no report {report_id}")  # P5: another company's report does not exist for them
    return report


def disposition(how: str, report, ext: str) -> str:
    """The file's name as its readers save it (投诉统计表（月）-2026年11月.xlsx, RFC 6266/5987), with an ASCII
    name for clients that read only that."""
    name = file_name(report.data.get("title") or report.kind, report.period, ext)
    return f"{how}; filename=\"{report.kind}-{report.period}.{ext}\"; filename*=UTF-8''{quote(name)}"


@router.get("/reports/{report_id:int}.csv", summary="A report as CSV (UTF-8 with BOM, for Excel)",
            response_class=Response, responses=CSV_FILE)
async def report_csv(report_id: ReportId, actor: Annotated[Actor, Depends(require_roles(*READERS))],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    report = await _report(session, report_id, actor)
    return Response(to_csv(report.data), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": disposition("attachment", report, "csv")})


@router.get("/reports/{report_id:int}.xlsx", summary="A report as an Excel workbook (a sheet per table, a chart)",
            response_class=Response, responses=XLSX_FILE)
async def report_xlsx(report_id: ReportId, actor: Annotated[Actor, Depends(require_roles(*READERS))],
                      session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    report = await _report(session, report_id, actor)
    return Response(to_xlsx(report.data), media_type=XLSX,
                    headers={"Content-Disposition": disposition("attachment", report, "xlsx")})


@router.get("/reports/{report_id:int}.png", summary="A report as a PNG chart (by department; rates against targets)",
            response_class=Response, responses={200: {"content": {"image/png": {}}}})
async def report_png(report_id: ReportId, actor: Annotated[Actor, Depends(require_roles(*READERS))],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    report = await _report(session, report_id, actor)
    png = await asyncio.to_thread(to_png, report.data)  # matplotlib off the event loop
    return Response(png, media_type="image/png",
                    headers={"Content-Disposition": disposition("inline", report, "png")})


@router.get("/reports/{report_id:int}", summary="A stored report (JSON: figures, definitions, targets)")
async def get_report(report_id: ReportId, actor: Annotated[Actor, Depends(require_roles(*READERS))],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, Any]:
    report = await _report(session, report_id, actor)
    review = await session.get(ReportReview, report_id)
    return {**report.data, "id": report.id, "review": None if review is None else review_view(review)}


def review_view(r: ReportReview) -> dict[str, Any]:
    return {"reviewer": r.reviewer, "status": r.status, "due_at": utc(r.due_at).isoformat(),
            "escalation_level": r.escalation_level, "reviewed_by": r.reviewed_by,
            "reviewed_at": utc(r.reviewed_at).isoformat() if r.reviewed_at else None, "comment": r.comment}


@router.post("/reports/{report_id:int}/review", summary="Review a report (K1: the gm, the monthly complaint statistics)")
async def review_report(report_id: ReportId, body: ReviewBody, request: Request,
                        actor: Annotated[Actor, Depends(require_roles(*REVIEWERS))],
                        session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, Any]:
    """The review the scheduled statistics opened (due by the 10th, escalating per E1 when missed) is
    done with the reviewer's comment. Sent again, it is answered as done, never applied twice."""
    report = await _report(session, report_id, actor)
    review = await session.get(ReportReview, report_id)
    if review is None:
        raise HTTPException(409, f"report {report_id} ({report.kind} {report.period}) has no review step: the "
                                 "scheduled monthly complaint statistics are reviewed (K1)")
    if review.status == "reviewed":
        return review_view(review)
    handle = request.app.state.temporal.get_workflow_handle(review.workflow_id)
    vouched = ReviewRequest(actor=actor, comment=body.comment)
    vouched.assertion = actor_assertion.sign_model(handle.id, vouched, request.app.state.settings.actor_assertion_key)
    state = await updated(request, handle.execute_update(
        ReportReviewWorkflow.review, vouched, id=f"review-{report_id}"),
        read_first="the report")
    return {**review_view(review), "status": state["status"], "reviewed_by": state["reviewed_by"],
            "reviewed_at": state["reviewed_at"], "comment": state["comment"]}
