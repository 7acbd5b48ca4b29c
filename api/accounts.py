"""Staff accounts (P1) for `cs_manager`: create, change role / department / contractor, reset the
password, deactivate and activate, list the accounts and the change log. Every change is recorded with
who made it and when (staff_changes), and the account's tokens stop working at once (Staff.version).
The same operations are the CLI `python -m adapters.db.staff`. The personal-data access records (P3)
are read here too."""

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from aftersales import access
from aftersales.actions import INVISIBLE, SHORT_TEXT_PATTERN, QueryInstant, ShortText
from aftersales.actor import Actor
from adapters.db import personal_data
from adapters.db.models import Staff, StaffChange
from adapters.db.staff import KEEP, change_staff, create_staff, list_staff, staff_changes
from aftersales.roles import Role
from api.auth import PASSWORD_PATTERN, require_roles
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
    active: bool


class NewAccount(_Body):
    username: Annotated[str, Field(pattern=USERNAME, description="letters, digits, '.', '_', '-'")]
    role: Role
    password: Password
    department: Name | None = Field(default=None, description="required for dept_handler and dept_head")
    contractor_id: Name | None = Field(default=None, description="required for contractor: a registered contractor")
    display_name: ShortText | None = None
    email: Annotated[str, Field(max_length=256, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None


class AccountChange(_Body):
    """Only the fields sent change; `department` / `contractor_id` null removes them. A role that needs
    neither drops the old one; a role that needs one must get it (P1)."""
    role: Role | None = None
    department: Name | None = None
    contractor_id: Name | None = None
    display_name: ShortText | None = None
    email: Annotated[str, Field(max_length=256, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    active: StrictBool | None = None


class PasswordReset(_Body):
    password: Password


class ChangeOut(BaseModel):
    at: datetime
    by: str
    username: str
    change: str
    detail: dict[str, Any]


class AccessOut(BaseModel):
    at: datetime
    username: str
    role: str
    case_no: str
    endpoint: str


def _out(s: Staff) -> AccountOut:
    return AccountOut(username=s.username, role=Role(s.role), display_name=s.display_name, email=s.email,
                      department=s.department, contractor_id=s.contractor_id, active=s.active)


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


@router.post("/admin/accounts", response_model=AccountOut, status_code=status.HTTP_201_CREATED,
             summary="Create a staff account with its department or contractor (P1)")
async def post_account(body: NewAccount, request: Request, actor: Annotated[Actor, ADMIN],
                       session=Depends(db_session)) -> AccountOut:
    try:
        staff = await create_staff(session, username=body.username, role=body.role, password=body.password,
                                   display_name=body.display_name, email=body.email, department=body.department,
                                   contractor_id=body.contractor_id, by=actor.username,
                                   rounds=request.app.state.settings.bcrypt_rounds)
    except ValueError as e:
        raise _refused(e) from None
    return _out(staff)


@router.patch("/admin/accounts/{username}", response_model=AccountOut,
              summary="Change an account's role, department, contractor, name, e-mail or active (P1)")
async def patch_account(username: str, body: AccountChange, actor: Annotated[Actor, ADMIN],
                        session=Depends(db_session)) -> AccountOut:
    sent = body.model_fields_set
    if not sent:
        raise HTTPException(422, "nothing to change: send role, department, contractor_id, display_name, email "
                                 "or active")
    if body.active is False and username == actor.username:
        raise HTTPException(422, "active: you cannot deactivate your own account")
    try:
        staff = await change_staff(
            session, username, by=actor.username, role=body.role,
            department=body.department if "department" in sent else KEEP,
            contractor_id=body.contractor_id if "contractor_id" in sent else KEEP,
            display_name=body.display_name, email=body.email if "email" in sent else KEEP, active=body.active)
    except (ValueError, LookupError) as e:
        raise _refused(e) from None
    return _out(staff)


@router.post("/admin/accounts/{username}/password", response_model=AccountOut,
             summary="Reset an account's password (its tokens stop working)")
async def reset_password(username: str, body: PasswordReset, request: Request, actor: Annotated[Actor, ADMIN],
                         session=Depends(db_session)) -> AccountOut:
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
