"""Revisit campaigns over HTTP (V1–V3): `cs_manager` plans one for a project, staff record
visits, `cs_manager` spot-checks forms and closes it; progress and the closing report are read live from
its workflow (or from the read model once Temporal no longer keeps it)."""

import asyncio
import re
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowQueryFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from aftersales.actions import SHORT_TEXT_PATTERN, Text
from aftersales import access
from aftersales.actor import Actor
from aftersales.campaign import (
    CAMPAIGN_NO_PREFIX, CAMPAIGN_STAFF_ROLES, CampaignKind, CampaignRequest, CampaignState, CloseRequest, SpotCheck,
    SpotCheckRequest, VisitBody, VisitRequest, required_share,
)
from aftersales.case import APPOINTMENT_REACH, Customer, within_reach
from adapters.db import org
from adapters.db import properties as register
from adapters.db.models import CampaignRow
from adapters.db.numbering import IdempotencyConflict, claim_case_no, request_fingerprint
from aftersales.errors import Rejection
from aftersales.org import choose_people, in_scope
from aftersales.properties import normalize_text
from aftersales.roles import Role
from adapters.temporal import actor_assertion
from adapters.temporal.sealing import app_sealer
from api import org as org_routes
from api.auth import require_roles
from api.cases import register_behind
from api.deps import db_session
from api.overload import unavailable
from api.problems import BUSY, REGISTER_BEHIND, UNREACHABLE, ServiceUnavailable, updated
from workflows.campaign import CampaignWorkflow
from contracts.campaign import StartCampaign

router = APIRouter(tags=["revisit campaigns"])

READERS = access.ENDPOINTS["read_campaigns"]
PLANNERS = access.ENDPOINTS["plan_campaign"]
VISITORS = access.ENDPOINTS["visit"]
CAMPAIGN_ID = r"^HF-\d{4}-\d{6}$"
OPEN_NOT_FOUND = "no open campaign {}"  # an update's answer for a campaign Temporal does not hold (or outside the scope)


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text


def _handle(request: Request, campaign_id: str):
    return request.app.state.temporal.get_workflow_handle(campaign_id)


async def _summary(request: Request, session: AsyncSession, campaign_id: str) -> dict[str, Any]:
    """Live from the workflow; when Temporal cannot answer (no longer keeps it, no worker polls, busy) the
    last projected progress from the read model, marked `"source": "register"`; 404 / 503 otherwise."""
    handle = _handle(request, campaign_id)
    problem: HTTPException | None = None
    for _ in range(50):
        try:
            return await handle.query(CampaignWorkflow.summary)
        except WorkflowQueryFailedError as e:
            if "still being opened" in str(e):
                await asyncio.sleep(0.2)
                continue
            problem = ServiceUnavailable(BUSY, f"campaign {campaign_id} cannot be read now: {e}")
        except RPCError as e:
            problem = (HTTPException(404, f"no campaign {campaign_id}") if e.status == RPCStatusCode.NOT_FOUND else
                       ServiceUnavailable(UNREACHABLE if e.status == RPCStatusCode.UNAVAILABLE else BUSY,
                                          f"Temporal cannot answer now: {e.message}"))
        break
    row = await session.get(CampaignRow, campaign_id)
    if row is not None:
        return {**row.summary, "source": "register"}
    raise problem or ServiceUnavailable(BUSY, f"campaign {campaign_id} is still being planned; try again in a moment", 2)


async def in_scope_of(session: AsyncSession, actor: Actor, project: str) -> bool:
    """P5: whether a campaign of `project` lies within the account's scope (a campaign belongs to its project and so
    to the project's company; one of a project no company holds is the group's alone)."""
    row, organisation = await org.project_org(session, project)
    return in_scope(actor.company_id, actor.project, organisation.company_id, organisation.project_key)


async def visible_summary(request: Request, session: AsyncSession, campaign_id: str, actor: Actor,
                          not_found: str = "no campaign {}", read: bool = True) -> dict[str, Any] | None:
    """The campaign's summary (`_summary`) if it lies within the account's scope; else 404 worded as for a campaign
    that does not exist (P2, P5). The read model's row answers before Temporal is asked, when it has one (`read`
    False: only the check, for an action that answers itself)."""
    row = await session.get(CampaignRow, campaign_id)
    if row is not None:
        if not await in_scope_of(session, actor, row.project):
            raise HTTPException(404, not_found.format(campaign_id))
        if not read:
            return None
    try:
        summary = await _summary(request, session, campaign_id)
    except HTTPException as e:
        if e.status_code == 404:
            raise HTTPException(404, not_found.format(campaign_id)) from None
        raise
    if row is None and not await in_scope_of(session, actor, summary["project"]):
        raise HTTPException(404, not_found.format(campaign_id))
    return summary


async def campaigns_in_scope(session: AsyncSession, actor: Actor, project: str | None = None,
                             limit: int = 200) -> list[CampaignRow]:
    """P5: the campaigns within the account's scope, newest first (a campaign is one a project a year: few rows,
    each project name matched to its project as the register does, normalize_text)."""
    stmt = select(CampaignRow.campaign_id, CampaignRow.project).order_by(CampaignRow.campaign_id.desc())
    if project is not None:
        stmt = stmt.where(CampaignRow.project == project)
    if actor.company_id is None and actor.project is None:
        ids = [cid for cid, _ in (await session.execute(stmt.limit(limit))).all()]
    else:
        companies = {p.key: p.company_id for p in await org.projects(session, actor.company_id)}
        ids = [cid for cid, name in (await session.execute(stmt)).all()
               if in_scope(actor.company_id, actor.project, companies.get(normalize_text(name)), normalize_text(name))
               ][:limit]
    if not ids:
        return []
    rows = {r.campaign_id: r for r in await session.scalars(select(CampaignRow).where(CampaignRow.campaign_id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


async def _update(request: Request, campaign_id: str, update, arg) -> dict[str, Any]:
    # P4: vouched for by the API, as a case's actions are (the campaign's validators check it)
    arg.assertion = actor_assertion.sign_model(campaign_id, arg, request.app.state.settings.actor_assertion_key)
    return await updated(request, _handle(request, campaign_id).execute_update(update, arg),
                         read_first="the campaign", not_found=f"no open campaign {campaign_id}")


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, summary="Plan a revisit campaign (V1 first, V2 annual)")
async def create_campaign(
    request: Request, body: CampaignRequest,
    actor: Annotated[Actor, Depends(require_roles(*PLANNERS))],
    session: Annotated[AsyncSession, Depends(db_session)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> dict[str, Any]:
    visitors = [p for role in sorted(CAMPAIGN_STAFF_ROLES, key=lambda r: r.value)
                for p in await org.staff_list(session, role=role)]
    try:  # P7: the visiting staff from the active staff who revisit, refused naming them by name and title
        choose_people("staff", body.staff, visitors, "在职的回访人员", known=await org.people(session, body.staff))
    except Rejection as r:
        raise HTTPException(422, r.message) from None
    settings = request.app.state.settings
    [*found] = await register.occupancy(session, body.project, scope=(actor.company_id, actor.project))  # P5
    if not found:
        raise HTTPException(422, f"project: no project {body.project!r} in the property register (import it first)")
    occupancy = found[0]
    _, organisation = await org.project_org(session, occupancy.project)
    try:  # P5: the visitors are people of the campaign's project (its company's, the group's)
        choose_people("staff", body.staff, [p for p in visitors if in_scope(p.company_id, p.project, organisation.company_id,
                                                                          organisation.project_key)],
                      f"{occupancy.project}所属公司在职的回访人员（P5）", known=await org.people(session, body.staff))
    except Rejection as r:
        raise HTTPException(422, r.message) from None
    if body.kind == CampaignKind.first and occupancy.occupied * 2 < occupancy.units:
        raise HTTPException(409, f"project {occupancy.project} is {100 * occupancy.occupied_share:.1f}% occupied "
                                 f"({occupancy.occupied} of {occupancy.units} units): a first revisit (V1) starts at 50%")
    try:
        share = required_share(body.kind, body.share, settings.revisit_min_share) if body.kind == CampaignKind.annual else None
    except Rejection as e:
        raise HTTPException(422, f"share: {e.message}") from None
    if (behind := await register_behind(request, session, request.app.state.temporal)) is not None:
        # C1: a retried request's key may be among those the register lacks: it would plan a second campaign
        raise unavailable(request, REGISTER_BEHIND, f"登记簿落后于 Temporal，暂不新建回访活动：{behind}")
    now = datetime.now(timezone.utc)
    fingerprint = request_fingerprint(body.model_dump(mode="json"))
    try:
        campaign_id, is_new = await claim_case_no(
            session, scope="campaign", prefix=CAMPAIGN_NO_PREFIX, year=now.astimezone(request.app.state.tz).year,
            idempotency_key=idempotency_key, fingerprint=fingerprint, now=now)
    except IdempotencyConflict as e:
        raise HTTPException(422, str(e)) from None
    state = CampaignState(campaign_id=campaign_id, project=occupancy.project, kind=body.kind, share=share,
                          starts_on=body.starts_on, ends_on=body.ends_on, staff=body.staff, created_by=actor.username,
                          created_at=now)
    opening = StartCampaign(
        state=state, minimum_share=settings.revisit_min_share, local_db_steps=settings.local_db_steps,
        organisation=organisation,
        # C1: kept by the campaign, so that a register rebuilt from Temporal knows the retried request
        intake_key=idempotency_key, intake_fingerprint=fingerprint if idempotency_key else None)
    opening.assertion = actor_assertion.sign_model(campaign_id, opening, settings.actor_assertion_key)  # P4
    try:
        await request.app.state.temporal.start_workflow(
            CampaignWorkflow.run, opening,
            id=campaign_id, task_queue=settings.task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"{campaign_id} · 回访 {body.kind.value} · {occupancy.project}")
    except WorkflowAlreadyStartedError:
        if is_new:
            raise
        # a retried request (its Idempotency-Key): its campaign, not a second one
    return await _summary(request, session, campaign_id)


@router.get("/campaigns", summary="Campaigns from the read model, newest first")
async def list_campaigns(actor: Annotated[Actor, Depends(require_roles(*READERS))],
                         session: Annotated[AsyncSession, Depends(db_session)],
                         project: Annotated[str | None, Query(max_length=128, pattern=SHORT_TEXT_PATTERN)] = None) -> list[dict[str, Any]]:
    return [row.summary for row in await campaigns_in_scope(session, actor, project)]  # P5


@router.get("/campaigns/{campaign_id}", summary="A campaign's progress (coverage, satisfaction, points)")
async def get_campaign(campaign_id: str, request: Request,
                       actor: Annotated[Actor, Depends(require_roles(*READERS))],
                       session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, Any]:
    _check_id(campaign_id)
    return await visible_summary(request, session, campaign_id, actor)


@router.post("/campaigns/{campaign_id}/visits", summary="Record one household's visit (V3)")
async def record_visit(campaign_id: str, request: Request, body: VisitBody,
                       actor: Annotated[Actor, Depends(require_roles(*VISITORS))],
                       session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, Any]:
    _check_id(campaign_id)
    await visible_summary(request, session, campaign_id, actor, OPEN_NOT_FOUND, read=False)  # P5: another company's is 404
    now = datetime.now(timezone.utc)
    for p in body.points:  # R1: a point opened as a repair asks for a visit within 90 days
        if p.trades:  # P7: its trades from the trades list
            await org_routes.check_trades(session, p.trades)
        if p.requested_appointment is not None:
            try:
                within_reach("requested_appointment", p.requested_appointment, now, APPOINTMENT_REACH, "R1")
            except Rejection as r:
                raise HTTPException(422, r.message) from None
    customer = None
    if any(p.handling != "answered" for p in body.points):
        customer = await _owner(request, session, body.unit_id)
    managers = await _campaign_managers(request, session, campaign_id) if body.second_visit else None
    return await _update(request, campaign_id, CampaignWorkflow.record_visit,
                         VisitRequest(visit=body, actor=actor, customer=customer, managers=managers))


async def _campaign_managers(request: Request, session: AsyncSession, campaign_id: str) -> list:
    """V3, P7: the active cs_manager accounts whose scope holds the campaign's project (P5): any of them, by account
    rather than by a username, takes part in a second visit."""
    row = await session.get(CampaignRow, campaign_id)
    project = row.project if row is not None else (await _summary(request, session, campaign_id))["project"]
    _, organisation = await org.project_org(session, project)
    return [p for p in await org.staff_list(session, role=Role.cs_manager)
            if in_scope(p.company_id, p.project, organisation.company_id, organisation.project_key)]


@router.post("/campaigns/{campaign_id}/spot-checks", summary="cs_manager's spot-check of survey forms (V3)")
async def spot_check(campaign_id: str, request: Request, body: SpotCheck,
                     actor: Annotated[Actor, Depends(require_roles(*PLANNERS))],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, Any]:
    _check_id(campaign_id)
    await visible_summary(request, session, campaign_id, actor, OPEN_NOT_FOUND, read=False)  # P5
    return await _update(request, campaign_id, CampaignWorkflow.spot_check, SpotCheckRequest(check=body, actor=actor))


@router.post("/campaigns/{campaign_id}/close", summary="Close the campaign: the closing report (V3)")
async def close_campaign(campaign_id: str, request: Request, body: CloseBody,
                         actor: Annotated[Actor, Depends(require_roles(*PLANNERS))],
                         session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, Any]:
    _check_id(campaign_id)
    await visible_summary(request, session, campaign_id, actor, OPEN_NOT_FOUND, read=False)  # P5
    return await _update(request, campaign_id, CampaignWorkflow.close, CloseRequest(actor=actor, note=body.note))


def _check_id(campaign_id: str) -> None:
    if not re.match(CAMPAIGN_ID, campaign_id):
        raise HTTPException(404, f"no campaign {campaign_id!r}: campaign ids look like HF-2026-000001")


async def _owner(request: Request, session: AsyncSession, unit_id: int) -> Customer:
    """The owner of a registered unit, for the cases opened from the points raised."""
    unit = await register.get_unit(session, unit_id)
    if unit is None:
        raise HTTPException(422, f"unit_id: no unit {unit_id} in the property register")
    if not unit.owner_phone_sealed:
        raise HTTPException(422, f"unit_id: the register has no phone for the owner of unit {unit_id}; add it "
                                 "before opening a case for the points raised")
    return Customer(name=unit.owner_name or "业主", phone=app_sealer(request.app.state).unseal(unit.owner_phone_sealed),
                    project=unit.project, building=unit.building, unit=unit.unit, unit_id=unit.id)
