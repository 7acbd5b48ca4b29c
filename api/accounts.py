"""Staff accounts (P1, P6) for the system administrator (`admin`, IT), and no business role: create,
change role / department / contractor, reset the password, deactivate and activate, list the accounts
and the change log. Nobody changes their own role or scope, nor resets their own password here. A change
of an executive (deputy_gm, gm) or admin account, or one that makes an account so, waits for a second
administrator's confirmation (202 with the pending change; POST /admin/account-requests/{id}/confirm by
another admin applies it). Every change is recorded with who made it and when (staff_changes), told to
the holder (GET /me/notices), and the account's sessions end at once (Staff.version, read on every
request). The CLI `python -m adapters.db.staff` (ops on the host: how the first two admins are made)
does the same without the second confirmation. The personal-data access records (P3) are read here too."""

from datetime import datetime, timezone
from typing import Annotated, Any

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from aftersales import access
from aftersales.actions import INVISIBLE, SHORT_TEXT_PATTERN, QueryInstant, ShortText
from aftersales.actor import Actor
from adapters.db import personal_data
from adapters.db.models import Staff, StaffChange
from adapters.db.staff import (
    KEEP, NotYours, change_requests, change_staff, create_staff, decide_request, get_staff, hash_password, list_staff,
    needs_second_admin, notices_of, request_change, staff_changes,
)
from aftersales.roles import Role
from api.auth import PASSWORD_PATTERN, current_actor, require_roles
from api.deps import db_session

router = APIRouter(tags=["accounts and audit"])
ADMIN = Depends(require_roles(*access.ENDPOINTS["admin_accounts"]))
AUDITOR = Depends(require_roles(*access.ENDPOINTS["audit_personal_data"]))
USERNAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# no control characters (a NUL cannot be stored on PostgreSQL), nor invisible or bidirectional
# formatting characters (actions.INVISIBLE), no blank at either end
_NOT_NAME = r"\x00-\x1f\x7f-\x9f" + INVISIBLE
Name = Annotated[str, Field(min_length=1, max_length=64,
                            pattern=rf"^[^\s{_NOT_NAME}]([^{_NOT_NAME}]*[^\s{_NOT_NAME}])?$")]
Password = Annotated[str, Field(min_length=8, max_length=72, pattern=PASSWORD_PATTERN,
                                description="8 to 72 characters (bcrypt), no control characters")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountOut(BaseModel):
    username: str
    role: Role
    display_name: str
    email: str | None
    department: str | None
    contractor_id: str | None
    company_id: str | None = Field(default=None, description="P5: the company of a company or project scope")
    project: str | None = Field(default=None, description="P5: the project of a project scope (its key)")
    scope: str = Field(default="group", description="P5: group, company or project")
    has_webhook: bool = Field(default=False, description="the account has its own group robot (its URL is not shown)")
    active: bool


CompanyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description="a registered company")]
WebhookUrl = Annotated[str, Field(max_length=512, pattern=r"^https?://[^\s]+$",
                                  description="the account's own group robot (WeCom / DingTalk webhook)")]


class NewAccount(_Body):
    username: Annotated[str, Field(pattern=USERNAME, description="letters, digits, '.', '_', '-'")]
    role: Role
    password: Password
    department: Name | None = Field(default=None, description="required for dept_handler and dept_head")
    contractor_id: Name | None = Field(default=None, description="required for contractor: a registered contractor")
    display_name: ShortText | None = None
    email: Annotated[str, Field(max_length=256, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    company_id: CompanyId | None = Field(default=None, description="P5: the company of a company-scoped account")
    project: Name | None = Field(default=None, description="P5: the project of a project-scoped account (butler, a "
                                 "project's hotline); none of both: the group")
    webhook_url: WebhookUrl | None = None


class AccountChange(_Body):
    """Only the fields sent change; `department` / `contractor_id` null removes them. A role that needs
    neither drops the old one; a role that needs one must get it (P1)."""
    role: Role | None = None
    department: Name | None = None
    contractor_id: Name | None = None
    display_name: ShortText | None = None
    email: Annotated[str, Field(max_length=256, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    active: StrictBool | None = None
    company_id: CompanyId | None = Field(default=None, description="P5: a company scope (null with no project: "
                                         "the group)")
    project: Name | None = Field(default=None, description="P5: a project scope (its company follows)")
    webhook_url: WebhookUrl | None = None


class PasswordReset(_Body):
    password: Password


class ChangeOut(BaseModel):
    at: datetime
    by: str
    username: str
    change: str
    detail: dict[str, Any]


class PendingOut(BaseModel):
    """A change waiting for a second administrator (P6)."""
    id: int
    at: datetime
    requested_by: str
    username: str
    change: str
    detail: dict[str, Any]
    status: str
    decided_by: str | None = None


class NoticeOut(BaseModel):
    at: datetime
    text: str


PENDING = {202: {"model": PendingOut, "description": "an executive or admin account: waits for a second admin (P6)"},
           403: {"description": "not an admin, or one's own role, scope or password"}}


def _pending_out(r) -> PendingOut:
    detail = {k: v for k, v in r.payload.items() if k != "password_hash"}
    if "password_hash" in r.payload:
        detail["password"] = "reset"
    return PendingOut(id=r.id, at=as_utc(r.at), requested_by=r.by, username=r.username, change=r.change,
                      detail=detail, status=r.status, decided_by=r.decided_by)


def _accepted(r) -> JSONResponse:
    return JSONResponse(_pending_out(r).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


class AccessOut(BaseModel):
    at: datetime
    username: str
    role: str
    case_no: str
    endpoint: str


def _out(s: Staff) -> AccountOut:
    from aftersales.org import scope_of
    return AccountOut(username=s.username, role=Role(s.role), display_name=s.display_name, email=s.email,
                      department=s.department, contractor_id=s.contractor_id, active=s.active,
                      company_id=s.company_id, project=s.project, scope=scope_of(s.company_id, s.project).value,
                      has_webhook=bool(s.webhook_url))


def as_utc(at: datetime) -> datetime:
    """SQLite gives back the stored UTC times without their offset; the API always sends one."""
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def _change_out(c: StaffChange) -> ChangeOut:
    return ChangeOut(at=as_utc(c.at), by=c.by, username=c.username, change=c.change, detail=c.detail)


def _refused(e: Exception) -> HTTPException:
    if isinstance(e, LookupError):
        return HTTPException(404, e.args[0])
    text = e.args[0] if e.args else str(e)
    return HTTPException(409 if "already exists" in text else 422, text)


@router.get("/admin/accounts", response_model=list[AccountOut], summary="Staff accounts (P1)")
async def get_accounts(actor: Annotated[Actor, ADMIN], session=Depends(db_session)) -> list[AccountOut]:
    return [_out(s) for s in await list_staff(session)]


@router.post("/admin/accounts", response_model=AccountOut, status_code=status.HTTP_201_CREATED, responses=PENDING,
             summary="Create a staff account with its department or contractor (P1); an executive or admin "
                     "account waits for a second admin (P6)")
async def post_account(body: NewAccount, request: Request, actor: Annotated[Actor, ADMIN],
                       session=Depends(db_session)) -> Any:
    rounds = request.app.state.settings.bcrypt_rounds
    if needs_second_admin(None, body.role):
        if await get_staff(session, body.username) is not None:
            raise HTTPException(409, f"staff account {body.username!r} already exists")
        payload = {**body.model_dump(mode="json", exclude={"password"}, exclude_none=True),
                   "password_hash": await asyncio.to_thread(hash_password, body.password, rounds)}
        return _accepted(await request_change(session, by=actor.username, username=body.username, change="create",
                                              payload=payload))
    try:
        staff = await create_staff(session, username=body.username, role=body.role, password=body.password,
                                   display_name=body.display_name, email=body.email, department=body.department,
                                   contractor_id=body.contractor_id, by=actor.username,
                                   rounds=request.app.state.settings.bcrypt_rounds, company_id=body.company_id,
                                   project=body.project, webhook_url=body.webhook_url)
    except ValueError as e:
        raise _refused(e) from None
    return _out(staff)


@router.patch("/admin/accounts/{username}", response_model=AccountOut, responses=PENDING,
              summary="Change an account's role, department, contractor, name, e-mail or active (P1); an "
                      "executive or admin account waits for a second admin (P6)")
async def patch_account(username: Annotated[str, Path(max_length=64)], body: AccountChange,
                        actor: Annotated[Actor, ADMIN], session=Depends(db_session)) -> Any:
    sent = body.model_fields_set
    if not sent:
        raise HTTPException(422, "nothing to change: send role, department, contractor_id, display_name, email, "
                                 "active, company_id, project or webhook_url")
    if body.active is False and username == actor.username:
        raise HTTPException(422, "active: you cannot deactivate your own account")
    if username == actor.username and sent & {"role", "department", "contractor_id", "company_id", "project"}:
        raise HTTPException(403, "不能修改自己的角色或范围（P6）：请另一位管理员办理")
    target = await get_staff(session, username)
    if target is None:
        raise HTTPException(404, f"no staff account {username!r}")
    if needs_second_admin(target.role, body.role):
        payload = body.model_dump(mode="json", include=sent)
        return _accepted(await request_change(session, by=actor.username, username=username, change="update",
                                              payload=payload))
    try:
        staff = await change_staff(
            session, username, by=actor.username, role=body.role,
            department=body.department if "department" in sent else KEEP,
            contractor_id=body.contractor_id if "contractor_id" in sent else KEEP,
            display_name=body.display_name, email=body.email if "email" in sent else KEEP, active=body.active,
            company_id=body.company_id if "company_id" in sent else KEEP,
            project=body.project if "project" in sent else KEEP,
            webhook_url=body.webhook_url if "webhook_url" in sent else KEEP)
    except (ValueError, LookupError) as e:
        raise _refused(e) from None
    return _out(staff)


@router.post("/admin/accounts/{username}/password", response_model=AccountOut, responses=PENDING,
             summary="Reset another account's password (its sessions end); an executive's or admin's waits for a "
                     "second admin (P6)")
async def reset_password(username: Annotated[str, Path(max_length=64)], body: PasswordReset, request: Request,
                         actor: Annotated[Actor, ADMIN], session=Depends(db_session)) -> Any:
    if username == actor.username:
        raise HTTPException(403, "不能在此重置自己的密码（P6）：请另一位管理员办理")
    target = await get_staff(session, username)
    if target is None:
        raise HTTPException(404, f"no staff account {username!r}")
    if needs_second_admin(target.role, None):
        password_hash = await asyncio.to_thread(hash_password, body.password, request.app.state.settings.bcrypt_rounds)
        return _accepted(await request_change(session, by=actor.username, username=username, change="password_reset",
                                              payload={"password_hash": password_hash}))
    try:
        staff = await change_staff(session, username, by=actor.username, password=body.password,
                                   rounds=request.app.state.settings.bcrypt_rounds)
    except (ValueError, LookupError) as e:
        raise _refused(e) from None
    return _out(staff)


@router.get("/admin/account-changes", response_model=list[ChangeOut],
            summary="Who changed which account, when (newest first)")
async def get_account_changes(actor: Annotated[Actor, ADMIN], session=Depends(db_session),
                              username: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN)] = None,
                              limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[ChangeOut]:
    return [_change_out(c) for c in await staff_changes(session, username, limit)]


@router.get("/admin/account-requests", response_model=list[PendingOut],
            summary="Changes of executive and admin accounts waiting for a second admin (P6)")
async def get_account_requests(actor: Annotated[Actor, ADMIN], session=Depends(db_session),
                               status_: Annotated[str | None, Query(alias="status", pattern="^(pending|confirmed|withdrawn)$")]
                               = "pending") -> list[PendingOut]:
    return [_pending_out(r) for r in await change_requests(session, status_)]


async def _decide(request_id: int, request: Request, actor: Actor, session, confirm: bool):
    try:
        return await decide_request(session, request_id, by=actor.username, confirm=confirm,
                                    rounds=request.app.state.settings.bcrypt_rounds)
    except NotYours as e:
        raise HTTPException(403, str(e)) from None
    except LookupError as e:
        raise HTTPException(404, e.args[0]) from None
    except ValueError as e:
        text = e.args[0] if e.args else str(e)
        raise HTTPException(409 if ("已确认" in text or "已撤回" in text or "already exists" in text) else 422, text) from None


@router.post("/admin/account-requests/{request_id}/confirm", response_model=AccountOut,
             summary="Confirm another admin's change of an executive or admin account: it is applied (P6)",
             responses={403: {"description": "not an admin, or the admin who asked for it"},
                        409: {"description": "confirmed or withdrawn already"}})
async def confirm_account_request(request_id: Annotated[int, Path(ge=1, le=2**31)], request: Request,
                                  actor: Annotated[Actor, ADMIN], session=Depends(db_session)) -> AccountOut:
    _, staff = await _decide(request_id, request, actor, session, True)
    assert staff is not None
    return _out(staff)


@router.post("/admin/account-requests/{request_id}/withdraw", response_model=PendingOut,
             summary="Withdraw a change waiting for confirmation (P6)",
             responses={409: {"description": "confirmed or withdrawn already"}})
async def withdraw_account_request(request_id: Annotated[int, Path(ge=1, le=2**31)], request: Request,
                                   actor: Annotated[Actor, ADMIN], session=Depends(db_session)) -> PendingOut:
    change, _ = await _decide(request_id, request, actor, session, False)
    return _pending_out(change)


@router.get("/me/notices", response_model=list[NoticeOut],
            summary="What you were told of changes to your own account (P6), newest first")
async def my_notices(actor: Annotated[Actor, Depends(current_actor)], session=Depends(db_session)) -> list[NoticeOut]:
    return [NoticeOut(at=as_utc(n.at), text=n.text) for n in await notices_of(session, actor.username)]


@router.get("/audit/personal-data", response_model=list[AccessOut],
            summary="Each showing of an owner's full phone number: who, when, which case, which endpoint (P3)")
async def get_personal_data_access(
    actor: Annotated[Actor, AUDITOR], session=Depends(db_session),
    case_no: Annotated[str | None, Query(max_length=32, pattern=SHORT_TEXT_PATTERN)] = None,
    username: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN)] = None,
    since: Annotated[QueryInstant | None, Query(description="ISO time with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AccessOut]:
    rows = await personal_data.accesses(session, case_no=case_no, username=username, since=since, limit=limit,
                                        offset=offset)
    return [AccessOut(at=as_utc(r.at), username=r.username, role=r.role, case_no=r.case_no, endpoint=r.endpoint) for r in rows]
