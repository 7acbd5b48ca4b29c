"""Case endpoints: intake (C1), live state from the workflow, the register from the read model,
and actions as Temporal Updates (409 not allowed now, 403 wrong role, 422 bad body, 404 unknown)."""

import asyncio
import contextlib
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client, WithStartWorkflowOperation, WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from aftersales import access
from adapters.temporal import actor_assertion
from aftersales.actions import SHORT_TEXT_PATTERN, QueryInstant, ActionRequest, AssignHandler, CaseAction, Dispatch, Quote
from aftersales.actor import Actor
from aftersales.case import APPOINTMENT_REACH, PHONE_PATTERN, check_time_reach, not_in_the_past, within_reach
from adapters.temporal.case_numbers import skip_taken, temporal_holds
from aftersales.errors import Rejection
from aftersales.complaint.state import CASE_NO_PREFIX as COMPLAINT_PREFIX
from aftersales.complaint.state import ComplaintIntake
from aftersales.repair.state import CASE_NO_PREFIX as REPAIR_PREFIX
from aftersales.repair.state import RepairIntake
from aftersales.roles import Role
from adapters.db.calendar_store import case_config
from adapters.db.properties import UnknownUnit, resolve_address
from adapters.db.models import Case
from adapters.db.visibility import in_scope_of, scope_facts, visible_cases_clause
from adapters.db.register import (
    LIST_COLUMNS, MAX_PAGE, BadCursor, RegisterQuery, read_register, register_case_view, waiting_for_clause,
)
from adapters.db.numbering import (
    IdempotencyConflict, claim_case_no, request_fingerprint, scoped_key,
)
from adapters.db import personal_data
from adapters.db import org as org_store
from aftersales.org import CaseOrg, choices, in_scope
from adapters.db.personal_data import record_full_phone_shown
from adapters.db.staff import get_staff
from aftersales.privacy import mask_personal, mask_phone, phone_lookup_hash
from aftersales.views import CaseRow
from api import fees
from api import org as org_routes
from api.auth import actor_of, current_actor, require_roles, too_many
from api.deps import db_session, release_connection
from api.health import failing_tasks
from api.problems import REFUSAL_STATUS, REGISTER_BEHIND, TASK_FAILING
from api.overload import (
    BUSY, OVERLOAD_ERRORS, accepted, diagnose, overload_error, overload_reason, problem, unavailable, update_gate,
)
from api.schemas import CaseAnswerOut, CaseView
from workflows.case_workflow import CaseWorkflow
from workflows.complaint import ComplaintWorkflow, StartComplaint
from contracts.case import CaseAnswer
from workflows.repair import RepairWorkflow, StartRepair

router = APIRouter(tags=["cases"])
log = structlog.get_logger()

OPENING = "still being opened"  # the workflow's answer before its first activity finished
OPENING_RETRIES = 50
NUMBER_ATTEMPTS = 5  # numbers tried for one intake when Temporal already holds them (C1: unique, never reused)
CASE_NO = re.compile(r"^[A-Z]{2}-\d{4}-\d{6}$")
ERROR_STATUS = REFUSAL_STATUS
INTAKE_ROLES = access.ENDPOINTS["register_case"]


def temporal(request: Request) -> Client:
    return request.app.state.temporal


REGISTER_CHECK_SECONDS = 5.0  # how long one process trusts its last look at the register's state


async def register_behind(request: Request, session: AsyncSession, client: Client) -> str | None:
    """Why the register is known to be behind Temporal (adapters.db.register_status.behind_reason), looked at again
    at most every REGISTER_CHECK_SECONDS per process (an intake's cost stays what it was)."""
    from adapters.db.register_status import behind_reason

    state = request.app.state
    checked = getattr(state, "register_checked", None)
    now = asyncio.get_running_loop().time()
    if checked is not None and now - checked[0] < REGISTER_CHECK_SECONDS:
        return checked[1]
    reason = await behind_reason(session, client, request.app.state.settings.task_queue)
    state.register_checked = (now, reason)
    return reason


async def _update(request: Request, handle: WorkflowHandle, update, *args, update_id: str | None = None
                  ) -> Any:
    """An action's Update, bounded in number (the process's in-flight bound) and in time. Not answered
    in time: 503, and the action may still be applied when a worker gets to it, so a retry must carry
    the same Idempotency-Key (or read the case first)."""
    timeout = request.app.state.settings.update_timeout_seconds
    await release_connection(request)
    async with update_gate(request).slot(request):
        try:
            return await asyncio.wait_for(handle.execute_update(
                update, *args, id=update_id, rpc_timeout=timedelta(seconds=timeout)), timeout)
        except OVERLOAD_ERRORS as e:
            if overload_reason(e) is None:
                raise
            e503 = await overload_error(request, e, "the action")
            e503.detail += (": it may still be applied when a worker gets to it — send it again with the same "
                            "Idempotency-Key (applied once), or read the case first")
            raise e503 from None


MINIMAL = "return=minimal"
PreferHeader = Annotated[str | None, Header(alias="Prefer", description=(
    "`return=minimal` (RFC 7240): answer with what the write did (`CaseAnswerOut`: status, version, the timeline "
    "entries added; `Preference-Applied: return=minimal`) instead of the whole case read back from its workflow "
    "(a query less for Temporal and the worker); the case is at `Location`. Without it: the whole case (`CaseView`)."))]


def prefers_minimal(prefer: str | None) -> bool:
    """RFC 7240's `Prefer: return=minimal` among the header's preferences (case-insensitive, parameters
    and other preferences ignored)."""
    return any(p.split(";")[0].strip().lower().replace(" ", "") == MINIMAL for p in (prefer or "").split(","))


def minimal_answer(answer: CaseAnswer, status_code: int = 200) -> JSONResponse:
    """The Update's own answer as the write's answer (`Prefer: return=minimal`), phone numbers typed into
    the new entries masked (P3) as in every answer to a write."""
    body = CaseAnswerOut.model_validate(mask_personal(answer.model_dump(mode="json"))).model_dump(mode="json")
    return JSONResponse(body, status_code=status_code,
                        headers={"Preference-Applied": MINIMAL, "Location": f"/cases/{answer.case_no}"})


_CASE_VIEW = TypeAdapter(CaseView)


def whole_case(view: dict[str, Any], status_code: int = 200) -> Response:
    """The whole case as the answer to a write, the owner's number masked for everyone (P3: an answer
    confirms the action; GET /cases/{no} shows the number to those who call owners, recorded). Checked and
    serialized by `CaseView` itself: FastAPI's serializer for the endpoint's `CaseView | CaseAnswerOut`
    tries the union's members (0.65 ms for a case of 60 notes; by `CaseView` alone 0.29 ms)."""
    return Response(_CASE_VIEW.dump_json(_CASE_VIEW.validate_python(mask_personal(view))),
                    status_code=status_code, media_type="application/json")


def _handle(client: Client, case_no: str) -> WorkflowHandle:
    if not CASE_NO.match(case_no):
        raise HTTPException(404, f"no case {case_no!r}: case numbers look like TS-2026-000123")
    return client.get_workflow_handle(case_no)


async def _start_case(request: Request, *, session: AsyncSession, client: Client, actor: Actor, scope: str,
                      prefix: str, body: BaseModel, idempotency_key: str | None, workflow_run, make_start,
                      summary: str, minimal: bool = False) -> Any:
    """C1: number the case (idempotently), then start its workflow with that number as the id and
    wait for it to be open in one round trip (Update-with-Start: the `opened` Update rides on the start).

    Not answered in time, the caller still learns the number: 202 with `case_no` when Temporal holds
    the case (it opens when a worker gets to it), else 503 with `case_no`; a retry with the same
    Idempotency-Key returns that case either way."""
    settings = request.app.state.settings
    fingerprint = request_fingerprint(body.model_dump(mode="json"))
    async with update_gate(request).slot(request):  # shed before a number is claimed: a refused request leaves no trace
        if (behind := await register_behind(request, session, client)) is not None:
            # C1: a retried intake's key may be among the cases the register lacks: it would open a second case
            raise unavailable(request, REGISTER_BEHIND, f"登记簿落后于 Temporal，暂不受理新案件：{behind}")
        # The case's configuration (calendar, ladder, ...) read here and put into its start: the case opens in
        # its first workflow task, without a step of its own to read it.
        this_year = datetime.now(timezone.utc).astimezone(request.app.state.tz).year
        config = await case_config(session, settings, [this_year, this_year + 1])
        for _ in range(NUMBER_ATTEMPTS):
            now = datetime.now(timezone.utc)
            year = now.astimezone(request.app.state.tz).year
            try:
                case_no, is_new = await claim_case_no(
                    session, scope=scope, prefix=prefix, year=year, idempotency_key=idempotency_key,
                    fingerprint=fingerprint, now=now)
            except IdempotencyConflict as e:
                raise HTTPException(422, str(e)) from None
            structlog.contextvars.bind_contextvars(case_no=case_no, workflow_id=case_no)
            opening = make_start(case_no).model_copy(update={
                "config": config, "intake_key": idempotency_key, "intake_fingerprint": fingerprint if idempotency_key
                else None})
            # P4: the API vouches for the whole start (actor, number, intake, organisation, configuration), signed last
            opening.assertion = actor_assertion.sign_start(case_no, opening, settings.actor_assertion_key)
            start = WithStartWorkflowOperation(
                workflow_run, opening, id=case_no, task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # a number new from the counter must be new to Temporal too (C1): never attach to
                # another case; a retried request's number is its own case (or not started yet)
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL if is_new else WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"{case_no} · {summary}",
                static_details=f"Registered by {actor.username} ({actor.role.value}) at {now.isoformat()}",
            )
            timeout = settings.update_timeout_seconds
            try:
                answer = await asyncio.wait_for(client.execute_update_with_start_workflow(
                    CaseWorkflow.opened, start_workflow_operation=start, rpc_timeout=timedelta(seconds=timeout)),
                    timeout)
            except WorkflowAlreadyStartedError:
                with contextlib.suppress(WorkflowAlreadyStartedError):
                    await start.workflow_handle()  # the same error, on the operation: retrieved
                try:
                    await skip_taken(session, client, case_no, prefix=prefix, year=year)
                except RuntimeError as e:
                    raise unavailable(request, BUSY, f"case number {case_no} is held by another case in Temporal "
                                                     f"and the next free one cannot be found now: {e}") from None
                continue
            except OVERLOAD_ERRORS as e:
                if overload_reason(e) is None:
                    raise
                return await _intake_not_answered(request, client, start, case_no, await diagnose(request, e))
            log.info("case registered" if is_new else "case returned for a retried request", is_new=is_new)
            if minimal:  # one round trip: the Update's answer, no query
                return minimal_answer(answer, status.HTTP_201_CREATED)
            # the Update answers compactly; the case as it is now is read by query — open,
            # but not readable this moment (busy): the caller still learns its number (202)
            try:
                view = await _read_view(request, session, case_no)
            except HTTPException as e:
                if e.status_code != 503:
                    raise
                return accepted(request, BUSY, case_no, f"case {case_no} is registered and open, but cannot be "
                                f"read just now: read it at /cases/{case_no} ({e.detail})")
            return whole_case(view, status.HTTP_201_CREATED)
    raise unavailable(request, BUSY, f"no free case number found in {NUMBER_ATTEMPTS} attempts; try again")


async def _intake_not_answered(request: Request, client: Client, start: WithStartWorkflowOperation, case_no: str,
                               reason: str) -> JSONResponse:
    started = await _holds_case(client, start, case_no)
    log.warning("intake not answered in time", reason=reason, started=started)
    if started:
        return accepted(request, reason, case_no, f"case {case_no} is registered; it opens as soon as a worker "
                        f"gets to it (read it at /cases/{case_no}, or send the request again with the same "
                        "Idempotency-Key)")
    known = "is not registered yet" if started is False else "may not be registered"
    return problem(request, reason, f"the system is busy: case number {case_no} was given to this request but "
                   f"the case {known}; send the request again with the same Idempotency-Key to get it",
                   case_no=case_no)


async def _holds_case(client: Client, start: WithStartWorkflowOperation, case_no: str) -> bool | None:
    """Whether Temporal holds the workflow (True / False), None when it cannot tell now."""
    answer = asyncio.ensure_future(start.workflow_handle())  # set once Temporal answered the start
    await asyncio.wait({answer}, timeout=0.05)
    if answer.done() and not answer.cancelled() and answer.exception() is None:
        return True
    answer.cancel()  # not answered, or failed: ask
    return await temporal_holds(client, case_no, timeout=2)


INTAKE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Registered under `case_no` (in the body and Location), but its workflow did not answer "
                         "in time: it opens when a worker gets to it"},
    503: {"description": "Busy or Temporal unreachable (Retry-After). If a number was already given, the body "
                         "names it as `case_no`: send again with the same Idempotency-Key"},
}


async def _registered_address(session: AsyncSession, intake):
    """The intake's address matched to the property register (unit_id, registered names) or left as free
    text; an unknown unit_id is 422."""
    try:
        customer = await resolve_address(session, intake.customer)
    except UnknownUnit as e:
        raise HTTPException(422, str(e)) from None
    return intake.model_copy(update={"customer": customer})


async def case_org(session: AsyncSession, actor: Actor, customer) -> CaseOrg:
    """P5: the project and company a new case belongs to, from the organisation's projects (the property register's
    projects belong to companies). A project the account's scope does not hold is 403; a written project that is
    no registered one is 422 naming those the account may file for (P7: chosen, never typed). A unit of the
    property register whose project no company holds yet is the group's until its project is registered."""
    project, org = await org_store.project_org(session, customer.project)
    if project is None:
        if customer.unit_id is not None:
            return org
        valid = await org_store.project_names(session, actor.company_id, actor.project)
        raise HTTPException(422, f"customer.project：「{customer.project}」不是登记的项目；请从列表中选择："
                                 f"{choices(valid)}（P5、P7）")
    if not in_scope(actor.company_id, actor.project, org.company_id, org.project_key):
        raise HTTPException(403, f"项目「{project.name}」不在 {actor.username} 的范围内，不能为它登记案件（P5）")
    return org


@router.post("/complaints", status_code=status.HTTP_201_CREATED, summary="Register a complaint (C1)",
             response_model=CaseView | CaseAnswerOut,
             responses=INTAKE_RESPONSES)
async def create_complaint(
    request: Request,
    intake: ComplaintIntake,
    actor: Annotated[Actor, Depends(require_roles(*INTAKE_ROLES))],
    session: Annotated[AsyncSession, Depends(db_session)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
    prefer: PreferHeader = None,
) -> dict[str, Any]:
    await org_routes.check_category(session, intake.category)  # P7: from the category list
    intake = await _registered_address(session, intake)
    organisation = await case_org(session, actor, intake.customer)  # P5
    return await _start_case(
        request, session=session, client=temporal(request), actor=actor, scope="complaint", prefix=COMPLAINT_PREFIX,
        body=intake, idempotency_key=idempotency_key, minimal=prefers_minimal(prefer), workflow_run=ComplaintWorkflow.run,
        make_start=lambda no: StartComplaint(case_no=no, registered_by=actor, intake=intake,
                                             local_db_steps=request.app.state.settings.local_db_steps,
                                             organisation=organisation),
        summary=f"投诉 complaint · {intake.customer.project} {intake.customer.building} · {intake.category}"
                + (" · MAJOR" if intake.major or intake.group_complaint else ""),
    )


@router.post("/repairs", status_code=status.HTTP_201_CREATED, summary="Register a repair request (R1)",
             response_model=CaseView | CaseAnswerOut,
             responses=INTAKE_RESPONSES)
async def create_repair(
    request: Request,
    intake: RepairIntake,
    actor: Annotated[Actor, Depends(require_roles(*INTAKE_ROLES))],
    session: Annotated[AsyncSession, Depends(db_session)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
    prefer: PreferHeader = None,
) -> dict[str, Any]:
    if intake.parent_case_no:
        raise HTTPException(422, "parent_case_no: a complaint opens its repair with its own open_repair action")
    tolerance = timedelta(minutes=request.app.state.settings.time_tolerance_minutes)
    try:  # R1: the owner asks for a time to come (the same check as the machine's)
        now = datetime.now(timezone.utc)
        not_in_the_past("requested_appointment", intake.requested_appointment, now, tolerance)
        within_reach("requested_appointment", intake.requested_appointment, now, APPOINTMENT_REACH, "R1")
    except Rejection as r:
        raise HTTPException(422, r.message) from None
    await org_routes.check_trades(session, intake.trades)  # P7: from the trades list
    intake = await _registered_address(session, intake)
    organisation = await case_org(session, actor, intake.customer)  # P5
    return await _start_case(
        request, session=session, client=temporal(request), actor=actor, scope="repair", prefix=REPAIR_PREFIX,
        body=intake, idempotency_key=idempotency_key, minimal=prefers_minimal(prefer), workflow_run=RepairWorkflow.run,
        make_start=lambda no: StartRepair(case_no=no, registered_by=actor, intake=intake,
                                          local_db_steps=request.app.state.settings.local_db_steps,
                                          organisation=organisation),
        summary=f"维修 repair · {intake.customer.project} {intake.customer.building} · {', '.join(intake.trades)}"
                + (" · paid" if intake.paid_service else ""),
    )


async def _read_view(request: Request, session: AsyncSession, case_no: str) -> dict[str, Any]:
    """The case as it is: live from the workflow; a closed case whose history Temporal no longer keeps
    (past the namespace's retention) from the register, as it was last projected."""
    handle = _handle(temporal(request), case_no)
    timeout = request.app.state.settings.read_timeout_seconds
    await release_connection(request)
    for _ in range(OPENING_RETRIES):
        try:
            return await asyncio.wait_for(handle.query(CaseWorkflow.state, rpc_timeout=timedelta(seconds=timeout)),
                                          timeout)
        except WorkflowQueryFailedError as e:  # a case opened by another is readable a moment later
            if OPENING not in str(e):
                raise unavailable(request, BUSY, f"case {case_no} cannot be read now: {e}") from None
            await asyncio.sleep(0.2)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND and (row := await session.get(Case, case_no)) is not None:
                return await register_case_view(session, row)
            raise await _rpc_error(request, case_no, e, "the read") from None
        except asyncio.TimeoutError as e:
            raise await overload_error(request, e, "the read") from None
    raise unavailable(request, BUSY, f"case {case_no} is still being opened; try again in a moment")


def no_case(case_no: str) -> HTTPException:
    """404 for a number that exists nowhere, and the same for a case the user may not see (P2)."""
    return HTTPException(404, f"no case {case_no}")


async def _visible_view(request: Request, session: AsyncSession, case_no: str, actor: Actor) -> dict[str, Any]:
    """The case view if the user may see it (P2), else 404 exactly as for an unknown number."""
    view = await _read_view(request, session, case_no)
    if not access.may_see(actor, await facts_of(session, view)):
        raise no_case(case_no)
    return view


async def facts_of(session: AsyncSession, view: dict[str, Any]) -> dict[str, Any]:
    """access.case_facts of a case's view; P5: a case opened before rules 3 keeps no company in its state, so its
    company and project are the register's."""
    facts = access.case_facts(view)
    if facts.get("company_id") is None and (held := await scope_facts(session, view["case_no"])) is not None:
        facts.update({k: v for k, v in held.items() if v is not None})
    return facts


async def present(request: Request, session: AsyncSession, actor: Actor, view: dict[str, Any]) -> dict[str, Any]:
    """The case as this user may read it (P3): the owner's full phone only for those who call owners,
    each such showing recorded (who, when, which case, which endpoint); everyone else gets the phone
    and any number typed into the free text masked."""
    view = await org_routes.display(session, view)  # P7: people by name and title beside their usernames
    if not access.sees_full_phone(actor, await facts_of(session, view)):
        return mask_personal(view)
    if view.get("source") != "register":  # the register holds no full number
        route = request.scope.get("route")
        endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"
        await record_full_phone_shown(session, actor, view["case_no"], endpoint)
    return view


@router.get("/cases/{case_no}", summary="Live state of a case, read from its workflow",
            response_model=CaseView)
async def get_case(case_no: str, request: Request, actor: Annotated[Actor, Depends(current_actor)],
                   session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, Any]:
    """Live from the workflow (or from the register past Temporal's retention). A case the user may not
    see answers 404 as an unknown number does (P2); the phone is masked unless P3 shows it."""
    return await present(request, session, actor, await _visible_view(request, session, case_no, actor))


@router.post("/cases/{case_no}/actions", summary="Act on a case (a Temporal Update with a validator)",
             response_model=CaseView | CaseAnswerOut)
async def act_on_case(
    case_no: str,
    request: Request,
    action: Annotated[CaseAction, Body()],
    actor: Annotated[Actor, Depends(current_actor)],
    session: Annotated[AsyncSession, Depends(db_session)],
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", min_length=1, max_length=128,
        description="the same key (same user, same case) applies the action once, however often it is sent; "
                    "the key with a different body is 422")] = None,
    prefer: PreferHeader = None,
) -> dict[str, Any]:
    try:  # R1, R8: a time for the future within reach (checked again by the case's validator)
        check_time_reach(action, datetime.now(timezone.utc))
    except Rejection as r:
        raise HTTPException(422, r.message) from None
    if not await in_scope_of(session, actor, case_no):  # P5: a case outside the scope does not exist (404)
        raise no_case(case_no)
    handle = _handle(temporal(request), case_no)
    structlog.contextvars.bind_contextvars(case_no=case_no, workflow_id=case_no, action=action.action)
    try:  # P7: the department, category, contractor, handler, trade or worker named is on the organisation's lists
        row = await session.get(Case, case_no) if isinstance(action, AssignHandler) else None
        contractor_id, company_id = None, row.company_id if row is not None else None
        if isinstance(action, Dispatch):  # the survey's contractor and the case's company (P5), live (the register
            live = await _read_view(request, session, case_no)  # may not have them yet)
            contractor_id, company_id = (live.get("survey") or {}).get("contractor_id"), live.get("company_id")
        await org_routes.check_action(session, action, actor, department=row.department if row is not None else None,
                                      contractor_id=contractor_id, company_id=company_id)
    except HTTPException:
        await _visible_view(request, session, case_no, actor)  # P2: an unseen case is 404, not 422
        raise
    request_key = fingerprint = update_id = None
    if idempotency_key:
        # The key, scoped to this case and user, goes to the case with the body's fingerprint (both hashed):
        # the case applies a key once and refuses it with another body (422), across its runs too; the
        # Update id carries both, so Temporal itself answers a repeat within a run with the first result.
        request_key = scoped_key("action", case_no, actor.username, idempotency_key)
        fingerprint = request_fingerprint(action.model_dump(mode="json"))
        update_id = f"act-{request_key}-{fingerprint[:16]}"
    if isinstance(action, Quote):  # R3: priced from the current fee schedule here, not by the client
        action = await fees.priced(session, action)
    try:
        act_request = ActionRequest(action=action, actor=actor, accounts=await _named_accounts(session, action),
                                    request_key=request_key, fingerprint=fingerprint)
        # P4: the API vouches for the actor it authenticated (the case's validator checks it)
        act_request.assertion = actor_assertion.sign(handle.id, act_request,
                                                     request.app.state.settings.actor_assertion_key)
        answer = await _update(request, handle, CaseWorkflow.act, act_request, update_id=update_id)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type in ERROR_STATUS:
            log.info("action refused", reason=cause.type)
            await _visible_view(request, session, case_no, actor)  # P2: an unseen case is 404, not 403/409
            raise HTTPException(ERROR_STATUS[cause.type], cause.message) from None
        raise
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            await _visible_view(request, session, case_no, actor)
        raise await _rpc_error(request, case_no, e, "the action") from None
    log.info("action applied")
    if prefers_minimal(prefer):  # the Update's answer alone: no query
        return minimal_answer(answer)
    # the Update answers compactly; the case as it is now is read by query
    try:
        view = await _read_view(request, session, case_no)
    except HTTPException as e:
        if e.status_code == 503:
            e.detail = (f"the action was applied, but case {case_no} cannot be read just now ({e.detail}); "
                        "read it later (sending it again with the same Idempotency-Key does not apply it twice)")
        raise
    return whole_case(view)


async def _named_accounts(session: AsyncSession, action: BaseModel) -> list[Actor]:
    """The staff accounts an action names, as they are now (the workflow cannot read the database):
    assign_handler's handler, if it is an active account; the case machine decides whether it may be
    named (C3, P1: an active dept_handler of the case's department)."""
    if isinstance(action, AssignHandler):
        named = await get_staff(session, action.handler)
        if named is not None and named.active:
            return [actor_of(named)]
    return []


async def _rpc_error(request: Request, case_no: str, e: RPCError, what: str) -> HTTPException:
    if e.status == RPCStatusCode.NOT_FOUND:
        if "completed" in e.message.lower() or "closed" in e.message.lower():
            return HTTPException(409, f"case {case_no} is closed")
        return no_case(case_no)
    if e.status == RPCStatusCode.FAILED_PRECONDITION:
        # Temporal's "Workflow Task in failed state": the case is open, but its workflow task fails on the
        # worker (a codec key it lacks, P4; a bug). Not "closed": 503 until ops fix the worker, and ops are told.
        failing_tasks(request).note(request, case_no, what)
        log.error("workflow task failing", status=e.status.name, message=e.message)
        return unavailable(request, TASK_FAILING, f"case {case_no} cannot take {what} now: its workflow task fails "
                                                  f"on the worker ({e.message}); ops are told (GET /health), "
                                                  "try again later")
    if overload_reason(e) is not None:
        return await overload_error(request, e, what)
    log.warning("temporal error", status=e.status.name, message=e.message)
    return unavailable(request, BUSY, f"Temporal could not answer {what} now ({e.status.name}); try again in a moment")


# One row of the register: the list's columns, typed as the projection writes them (phone masked).
CaseListItem = create_model("CaseListItem", **{c: (CaseRow.model_fields[c].annotation, ...) for c in LIST_COLUMNS})


class CasePage(BaseModel):
    items: list[CaseListItem]  # type: ignore[valid-type]
    total: int = Field(description="matches, counted exactly up to 10,000; beyond, a lower bound (total_is_estimate)")
    total_is_estimate: bool
    page: int | None = Field(description="the page number asked for; null when paging by cursor")
    page_size: int
    next: str | None = Field(description="cursor of the next page (pass it as `cursor`); null on the last page")


class PhoneSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(pattern=PHONE_PATTERN, description="the owner's phone as written at intake (13812341234, "
                       "0591-87654321); sent in the body, never in a URL that logs keep")


@router.post("/owners/cases", summary="Cases of an owner, found by phone (the register keeps only a keyed hash)",
             response_model=CasePage, responses={429: {"description": "too many look-ups by this account: Retry-After"}})
async def cases_by_phone(
    body: PhoneSearch, request: Request,
    actor: Annotated[Actor, Depends(require_roles(*access.ENDPOINTS["find_by_phone"]))],
    session: Annotated[AsyncSession, Depends(db_session)],
) -> CasePage:
    """P3: for the roles that call owners; only the cases this user may see (P2), newest
    first, up to 100. The number is hashed with the look-up key (HMAC) and compared with the register's
    hash: no phone is stored or logged in clear. Each look-up is in the access audit (the number masked)
    and counts against the account's allowance (phone_lookups_per_account per phone_lookup_window_seconds):
    beyond it 429 with Retry-After, so nobody walks the owners' numbers."""
    settings = request.app.state.settings
    wait = await personal_data.record_phone_lookup(session, actor, mask_phone(body.phone),
                                                   limit=settings.phone_lookups_per_account,
                                                   window_seconds=settings.phone_lookup_window_seconds)
    if wait is not None:
        raise too_many(f"按电话查找过于频繁：每 {settings.phone_lookup_window_seconds // 60} 分钟最多 "
                       f"{settings.phone_lookups_per_account} 次，请 {math.ceil(wait)} 秒后再试（P3）", wait)
    digest = phone_lookup_hash(body.phone, settings.phone_lookup_key)
    found = await read_register(session, RegisterQuery(phone_hmac=digest), where=[visible_cases_clause(actor)],
                                page_size=100, cursor=None, page=1)
    return CasePage(items=[CaseListItem(**item) for item in found.items], total=found.total,
                    total_is_estimate=found.total_is_estimate, page=1, page_size=100, next=found.next)


@router.get("/cases", summary="The register: cases from the read model, newest first", response_model=CasePage)
async def list_cases(
    actor: Annotated[Actor, Depends(current_actor)],
    session: Annotated[AsyncSession, Depends(db_session)],
    type: Annotated[str | None, Query(pattern="^(complaint|repair)$")] = None,
    status_: Annotated[str | None, Query(alias="status", max_length=32, pattern=SHORT_TEXT_PATTERN)] = None,
    department: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN)] = None,
    project: Annotated[str | None, Query(max_length=128, pattern=SHORT_TEXT_PATTERN)] = None,
    overdue: bool | None = None,
    escalation_level: Annotated[int | None, Query(ge=0, le=9)] = None,
    received_from: Annotated[QueryInstant | None, Query(
        description="received at or after (ISO with an offset, e.g. 2026-11-01T00:00:00%2B08:00)")] = None,
    received_to: Annotated[QueryInstant | None, Query(description="received before (ISO with an offset)")] = None,
    handler: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN)] = None,
    unit: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN)] = None,
    case_no: Annotated[str | None, Query(max_length=32, pattern=SHORT_TEXT_PATTERN,
                                         description="a case number or its beginning")] = None,
    next_role: Annotated[Role | None, Query(description="cases whose next step is this role's (next_actors)")] = None,
    next_user: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN,
                                           description="cases whose next step is this named person's")] = None,
    mine: Annotated[bool, Query(description="my work: only the cases waiting for me now (my role, department, "
                                            "contractor, or me by name)")] = False,
    cursor: Annotated[str | None, Query(max_length=256, pattern=SHORT_TEXT_PATTERN,
                                        description="the `next` of the previous page")] = None,
    page: Annotated[int | None, Query(ge=1, le=MAX_PAGE, description=(
        f"page number, for the first {MAX_PAGE} pages only; further on, follow `next`"))] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> CasePage:
    if cursor is not None and page is not None:
        raise HTTPException(422, "page, cursor: give one of them (cursor: the `next` of the previous page)")
    try:
        query = RegisterQuery(type=type, status=status_, department=department, project=project, overdue=overdue,
                              escalation_level=escalation_level, received_from=received_from,
                              received_to=received_to, handler=handler, unit=unit, case_no=case_no,
                              next_role=next_role.value if next_role else None, next_user=next_user)
    except ValidationError as e:
        raise HTTPException(422, "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())) from None
    try:  # P2: only the cases this user may see, before the total and the paging
        where = [visible_cases_clause(actor), *([waiting_for_clause(actor)] if mine else [])]
        found = await read_register(session, query, where=where,
                                    page_size=page_size, cursor=cursor, page=page or 1)
    except BadCursor as e:
        raise HTTPException(422, str(e)) from None
    return CasePage(items=[CaseListItem(**item) for item in found.items], total=found.total,
                    total_is_estimate=found.total_is_estimate, page=None if cursor else (page or 1),
                    page_size=page_size, next=found.next)
