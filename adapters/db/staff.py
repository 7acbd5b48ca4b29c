"""Staff accounts: bcrypt password hashes, authentication and the demo accounts (one per role).

    python -m adapters.db.staff create --username U --role R [--department D | --contractor-id C]
                                         [--company-id C | --project P] [--email E] [--display-name N] [--title T]
    python -m adapters.db.staff change --username U [--role R] [--department D] [--contractor-id C] ...
    python -m adapters.db.staff reset-password --username U
    python -m adapters.db.staff deactivate --username U      # or: activate --username U
    python -m adapters.db.staff list
    python -m adapters.db.staff log [--username U]           # who changed which account, when

P1: dept_handler and dept_head accounts need a department, contractor accounts a registered contractor;
every change is recorded (staff_changes) and makes the account's tokens stop working.

`create` and `reset-password` read the password from AFTERSALES_NEW_STAFF_PASSWORD, or prompts for it. The database is
AFTERSALES_DATABASE_URL (`adapters.config.get_settings().database_url`), migrated beforehand
(`python -m adapters.db.migrate`).

bcrypt is CPU-bound (about a quarter of a second at 12 rounds), so the async functions hash and
verify on a worker thread and never stall the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

import bcrypt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales import access
from adapters.config import Settings
from adapters.db import ledger, org
from adapters.db.models import Company, Contractor, Project, Staff, StaffChange, StaffChangeRequest, StaffNotice
from aftersales.org import check_scope, choices
from aftersales.properties import normalize_text
from aftersales.roles import ROLE_TITLES, Role

BCRYPT_MAX_BYTES = 72
DEMO_DEPARTMENT = "工程部"
DEMO_DEPARTMENT_ROLES = frozenset({Role.dept_handler, Role.dept_head})
NEW_PASSWORD_ENV = "AFTERSALES_NEW_STAFF_PASSWORD"
USERNAME_MAX = 64  # Staff.username is String(64)


# --- passwords -------------------------------------------------------------------------------------

def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash (`$2b$...`). ValueError for an empty password or one over 72 bytes in UTF-8
    (bcrypt would silently ignore the rest; bcrypt 5 refuses it)."""
    raw = password.encode("utf-8")
    if not raw:
        raise ValueError("password must not be empty")
    if len(raw) > BCRYPT_MAX_BYTES:
        raise ValueError(f"password must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8")
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """True when the password matches. False, never an exception, for a malformed or placeholder
    hash (e.g. "-") and for a password bcrypt cannot take (over 72 bytes)."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("utf-8"))
    except (ValueError, TypeError):
        return False


@lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> str:
    """Verified against for unknown usernames so that they take as long as known ones."""
    return hash_password("no-such-user-dummy-password", rounds)


# --- accounts --------------------------------------------------------------------------------------

class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # "leave this field as it is" in change_staff


async def get_staff(session: AsyncSession, username: str) -> Staff | None:
    return (await session.execute(select(Staff).where(Staff.username == username))).scalar_one_or_none()


async def _check_binding(session: AsyncSession, role: Role, department: str | None, contractor_id: str | None,
                         *, listed: bool = True) -> None:
    """P1: a department for dept_handler and dept_head, a registered contractor for contractor, and
    neither for the other roles. ValueError naming the problem."""
    if role in access.DEPARTMENT_ROLES and not department:
        raise ValueError(f"department: a {role.value} account needs its department (P1)")
    if role in access.DEPARTMENT_ROLES and listed:  # P7: one of the organisation's departments, never a typo
        known = await org.departments(session)
        if department not in known:
            raise ValueError(f"department：「{department}」不是登记的部门；请从列表中选择：{choices(known)}（P7）")
    if role not in access.DEPARTMENT_ROLES and department:
        raise ValueError(f"department: only dept_handler and dept_head accounts have one, not {role.value} (P1)")
    if role in access.CONTRACTOR_ROLES:
        if not contractor_id:
            raise ValueError("contractor_id: a contractor account needs the contractor it acts for (P1)")
        if await session.get(Contractor, contractor_id) is None:
            raise ValueError(f"contractor_id: no contractor {contractor_id!r} is registered (PUT /admin/contractors/{{id}})")
    elif contractor_id:
        raise ValueError(f"contractor_id: only contractor accounts have one, not {role.value} (P1)")


async def _check_scope(session: AsyncSession, role: Role, company_id: str | None, project: str | None
                       ) -> tuple[str | None, str | None]:
    """P5: the account's scope as stored: (company_id, project key). A project scope takes its project's company
    (the project must be registered; a company given with it must be that one); a company scope a registered
    company. ValueError naming the problem, also for a scope the role may not have (aftersales.org.ROLE_SCOPES)."""
    if project:
        row = await session.get(Project, normalize_text(project))
        if row is None:
            known = [p.name for p in (await session.scalars(select(Project).order_by(Project.key))).all()]
            raise ValueError(f"project：「{project}」不是登记的项目；请从列表中选择：{choices(known)}（P5）")
        if company_id and company_id != row.company_id:
            raise ValueError(f"company_id：项目「{row.name}」属于公司 {row.company_id}，不是 {company_id}（P5）")
        company_id, project = row.company_id, row.key
    elif company_id and await session.get(Company, company_id) is None:
        known = list((await session.scalars(select(Company.id).order_by(Company.id))).all())
        raise ValueError(f"company_id：「{company_id}」不是登记的公司；请从列表中选择：{choices(known)}（P5）")
    check_scope(role, company_id, project)
    return company_id or None, project or None


# P6: a change of these accounts (or to one of these roles) waits for a second administrator's confirmation.
SECOND_ADMIN_ROLES = frozenset({Role.deputy_gm, Role.gm, Role.admin})
FIELD_NAMES = {"role": "角色", "department": "部门", "contractor_id": "施工单位", "active": "启用",
               "display_name": "姓名", "title": "职务", "email": "电子邮箱", "password": "密码",
               "company_id": "公司", "project": "项目", "webhook_url": "群机器人"}
CHANGE_NAMES = {"create": "开设了您的账号", "update": "修改了您的账号", "password_reset": "重置了您的密码",
                "activate": "启用了您的账号", "deactivate": "停用了您的账号"}


def _shown(field: str, value: Any) -> str:
    if value is None or value == "":
        return "无"
    if field == "role":
        return ROLE_TITLES.get(Role(value), str(value))
    if field == "active":
        return "是" if value else "否"
    if field == "webhook_url":
        return "已设置"  # a robot's URL holds its secret key: never in a notice
    return str(value)


def notice_text(by: str, change: str, detail: dict[str, Any], at: datetime) -> str:
    """What the holder is told (P6): who, when (Beijing time), what."""
    from aftersales.messages import beijing

    parts = []
    for field, value in detail.items():
        if field not in FIELD_NAMES:
            continue
        if field == "password":
            parts.append("密码已重置")
        elif isinstance(value, list) and len(value) == 2:
            parts.append(f"{FIELD_NAMES[field]}：{_shown(field, value[0])} → {_shown(field, value[1])}")
        elif value is not None:
            parts.append(f"{FIELD_NAMES[field]}：{_shown(field, value)}")
    confirmed = f"（{detail['requested_by']} 提出，{by} 确认）" if detail.get("requested_by") else ""
    who = "系统（演示账号初始化）" if by == "system:demo-seed" else f"管理员 {by}"   # the pages name the admin (P7)
    return (f"{beijing(at)}（北京时间）{who} {CHANGE_NAMES.get(change, '修改了您的账号')}"
            f"{confirmed}：{'；'.join(parts) or '—'}。您的登录已失效，如非本人知悉请联系信息部门。")


def _record(session: AsyncSession, *, by: str, username: str, change: str, detail: dict[str, Any]) -> None:
    """Logs a change (P1, P6) and tells the account's holder of it (StaffNotice)."""
    at = datetime.now(timezone.utc)
    session.add(StaffChange(at=at, by=by, username=username, change=change, detail=detail))
    session.add(StaffNotice(at=at, username=username, text=notice_text(by, change, detail, at)))


def _clean(value: str | None) -> str | None:
    value = value.strip() if value is not None else None
    return value or None


async def create_staff(session: AsyncSession, *, username: str, role: Role, password: str,
                       display_name: str | None = None, email: str | None = None,
                       department: str | None = None, contractor_id: str | None = None, rounds: int = 12,
                       by: str = "system", title: str | None = None, password_hash: str | None = None,
                       requested_by: str | None = None, company_id: str | None = None, project: str | None = None,
                       webhook_url: str | None = None) -> Staff:
    """Adds an active account, records the change (by whom) and commits. ValueError if the username
    exists (also when a concurrent insert wins), is empty or too long, if the password is unusable, or
    if the role's department or contractor is missing or not its to have (P1).
    display_name defaults to the role's title (ROLE_TITLES)."""
    username = username.strip()
    if not username:
        raise ValueError("username must not be empty")
    if len(username) > USERNAME_MAX:
        raise ValueError(f"username must be at most {USERNAME_MAX} characters")
    role = Role(role)
    department, contractor_id = _clean(department), _clean(contractor_id)
    await _check_binding(session, role, department, contractor_id)
    company_id, project = await _check_scope(session, role, _clean(company_id), _clean(project))
    if await get_staff(session, username) is not None:
        raise ValueError(f"staff account {username!r} already exists")
    if password_hash is None:
        password_hash = await asyncio.to_thread(hash_password, password, rounds)
    staff = Staff(username=username, role=role.value, display_name=display_name or ROLE_TITLES[role],
                  title=_clean(title), email=email, department=department, contractor_id=contractor_id,
                  password_hash=password_hash, active=True, version=1, company_id=company_id, project=project,
                  webhook_url=_clean(webhook_url))
    session.add(staff)
    _record(session, by=by, username=username, change="create",
            detail={"role": role.value, "department": department, "contractor_id": contractor_id,
                    "company_id": company_id, "project": project, "webhook_url": "已设置" if _clean(webhook_url) else None,
                    "display_name": staff.display_name, "title": staff.title, "email": email,
                    **({"requested_by": requested_by} if requested_by else {})})
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ValueError(f"staff account {username!r} already exists") from None
    return staff


def touch(staff: Staff) -> None:
    """Records that an account changed: tokens issued before no longer work (see Staff.version)."""
    staff.version = (staff.version or 1) + 1


async def change_staff(session: AsyncSession, username: str, *, by: str, role: Role | None = None,
                       department: str | None = KEEP, contractor_id: str | None = KEEP,
                       password: str | None = None, active: bool | None = None,
                       display_name: str | None = None, email: str | None = KEEP, rounds: int = 12,
                       title: str | None = KEEP, password_hash: str | None = None,
                       requested_by: str | None = None, company_id: str | None = KEEP, project: str | None = KEEP,
                       webhook_url: str | None = KEEP) -> Staff:
    """Changes an account (role, department, contractor, password, active, name, e-mail), records the
    change with who made it (never the password) and commits; the account's tokens stop working
    (`touch`). A role that needs no department or contractor drops the old one. LookupError for an
    unknown username, ValueError for a change P1 does not allow (nothing is changed then)."""
    staff = await get_staff(session, username)
    if staff is None:
        raise LookupError(f"no staff account {username!r}")
    before = {"role": staff.role, "department": staff.department, "contractor_id": staff.contractor_id,
              "active": staff.active, "display_name": staff.display_name, "email": staff.email, "title": staff.title,
              "company_id": staff.company_id, "project": staff.project, "webhook_url": staff.webhook_url}
    new_role = Role(role) if role is not None else Role(staff.role)
    new_department = _clean(department) if department is not KEEP else (
        staff.department if new_role in access.DEPARTMENT_ROLES else None)
    new_contractor = _clean(contractor_id) if contractor_id is not KEEP else (
        staff.contractor_id if new_role in access.CONTRACTOR_ROLES else None)
    # P7 when the department is set (a password reset of an account whose department was retired goes through)
    await _check_binding(session, new_role, new_department, new_contractor,
                         listed=new_department != staff.department or new_role.value != staff.role)
    # P5: the scope as sent (a project alone: its company; a company alone drops the project), else as it was
    new_project = _clean(project) if project is not KEEP else (staff.project if company_id is KEEP else None)
    new_company = _clean(company_id) if company_id is not KEEP else staff.company_id
    if project is not KEEP and company_id is KEEP and new_project:
        new_company = None  # the project's company
    if company_id is KEEP and project is KEEP and role is not None:
        from aftersales.org import ROLE_SCOPES, Scope, scope_of
        allowed = ROLE_SCOPES[new_role]
        if scope_of(new_company, new_project) not in allowed:  # a new role that cannot keep the old scope drops it ...
            if Scope.group in allowed:
                new_company, new_project = None, None          # ... to the group's (a contractor, IT)
            elif Scope.company in allowed and new_company:
                new_project = None                             # ... to its company's (a project's hotline made cs)
    new_company, new_project = await _check_scope(session, new_role, new_company, new_project)
    after = {"role": new_role.value, "department": new_department, "contractor_id": new_contractor,
             "active": staff.active if active is None else active,
             "display_name": display_name or staff.display_name,
             "email": staff.email if email is KEEP else _clean(email),
             "title": staff.title if title is KEEP else _clean(title),
             "company_id": new_company, "project": new_project,
             "webhook_url": staff.webhook_url if webhook_url is KEEP else _clean(webhook_url)}
    detail: dict[str, Any] = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if "webhook_url" in detail:  # the robot's URL holds its key: the log says whether one is set, not which
        detail["webhook_url"] = ["已设置" if v else None for v in detail["webhook_url"]]
    if password is not None:
        password_hash = await asyncio.to_thread(hash_password, password, rounds)
    if password_hash is not None:
        staff.password_hash = password_hash
        detail["password"] = "reset"
    if not detail:
        return staff
    kinds = set(detail)
    if requested_by:
        detail["requested_by"] = requested_by
    (staff.role, staff.department, staff.contractor_id, staff.active, staff.display_name,
     staff.email, staff.title) = (after["role"], after["department"], after["contractor_id"], after["active"],
                                  after["display_name"], after["email"], after["title"])
    staff.company_id, staff.project, staff.webhook_url = after["company_id"], after["project"], after["webhook_url"]
    touch(staff)
    change = ("password_reset" if kinds == {"password"} else
              ("activate" if after["active"] else "deactivate") if kinds == {"active"} else "update")
    _record(session, by=by, username=username, change=change, detail=detail)
    await session.commit()
    return staff


async def set_active(session: AsyncSession, username: str, active: bool, *, by: str = "system") -> Staff:
    """Activates or deactivates an account and commits (a deactivated account cannot log in, and its
    tokens stop working at once). LookupError for an unknown username."""
    return await change_staff(session, username, by=by, active=active)


def needs_second_admin(current_role: Role | str | None, new_role: Role | str | None) -> bool:
    """P6: a change of an executive or admin account, or one that makes an account executive or admin."""
    return any(r is not None and Role(r) in SECOND_ADMIN_ROLES for r in (current_role, new_role))


async def request_change(session: AsyncSession, *, by: str, username: str, change: str,
                         payload: dict[str, Any]) -> StaffChangeRequest:
    """P6: records a change that waits for a second administrator (logged, nothing applied yet); commits.
    `payload` holds a new password only as its bcrypt hash."""
    at = datetime.now(timezone.utc)
    request = StaffChangeRequest(at=at, by=by, username=username, change=change, payload=payload, status="pending")
    session.add(request)
    shown = {k: v for k, v in payload.items() if k != "password_hash"}
    if "password_hash" in payload:
        shown["password"] = "reset"
    if shown.get("webhook_url"):
        shown["webhook_url"] = "已设置"  # the robot's key stays out of the log
    session.add(StaffChange(at=at, by=by, username=username, change=f"request_{change}", detail=shown))
    await session.commit()
    return request


class NotYours(PermissionError):
    """The second administrator must be another one than the first (P6)."""


async def decide_request(session: AsyncSession, request_id: int, *, by: str, confirm: bool,
                         rounds: int = 12) -> tuple[StaffChangeRequest, Staff | None]:
    """Confirms (applies, by another administrator than the one who asked) or withdraws a pending change.
    LookupError: no such request; ValueError: not pending any more (or the change P1 refuses);
    NotYours: the requester confirming their own change."""
    request = await session.get(StaffChangeRequest, request_id)
    if request is None:
        raise LookupError(f"没有待确认的账号变更 {request_id}")
    if request.status != "pending":
        raise ValueError(f"账号变更 {request_id} 已{'确认' if request.status == 'confirmed' else '撤回'}，不能再处理")
    if confirm and request.by == by:
        raise NotYours("高管或管理员账号的变更须由另一位管理员确认（P6），不能确认自己提出的变更")
    p = dict(request.payload)
    staff: Staff | None = None
    request.status, request.decided_by, request.decided_at = (
        "confirmed" if confirm else "withdrawn", by, datetime.now(timezone.utc))
    if not confirm:
        session.add(StaffChange(at=request.decided_at, by=by, username=request.username,
                                change=f"withdraw_{request.change}", detail={"request": request.id}))
        await session.commit()
        return request, None
    if request.change == "create":
        staff = await create_staff(session, username=request.username, role=Role(p["role"]), password="",
                                   password_hash=p["password_hash"], display_name=p.get("display_name"),
                                   email=p.get("email"), department=p.get("department"),
                                   contractor_id=p.get("contractor_id"), by=by, requested_by=request.by,
                                   company_id=p.get("company_id"), project=p.get("project"),
                                   webhook_url=p.get("webhook_url"))
    else:
        staff = await change_staff(
            session, request.username, by=by, role=Role(p["role"]) if p.get("role") else None,
            department=p["department"] if "department" in p else KEEP,
            contractor_id=p["contractor_id"] if "contractor_id" in p else KEEP,
            display_name=p.get("display_name"), email=p["email"] if "email" in p else KEEP, active=p.get("active"),
            password_hash=p.get("password_hash"), requested_by=request.by, rounds=rounds,
            company_id=p["company_id"] if "company_id" in p else KEEP, project=p["project"] if "project" in p else KEEP,
            webhook_url=p["webhook_url"] if "webhook_url" in p else KEEP)
    return request, staff


async def change_requests(session: AsyncSession, status: str | None = "pending") -> list[StaffChangeRequest]:
    q = select(StaffChangeRequest).order_by(StaffChangeRequest.id)
    if status:
        q = q.where(StaffChangeRequest.status == status)
    return list((await session.execute(q)).scalars())


async def notices_of(session: AsyncSession, username: str, limit: int = 50) -> list[StaffNotice]:
    q = select(StaffNotice).where(StaffNotice.username == username).order_by(StaffNotice.id.desc()).limit(limit)
    return list((await session.execute(q)).scalars())


async def staff_changes(session: AsyncSession, username: str | None = None, limit: int = 200) -> list[StaffChange]:
    """The account-change log, newest first."""
    q = select(StaffChange).order_by(StaffChange.at.desc(), StaffChange.id.desc()).limit(limit)
    if username:
        q = q.where(StaffChange.username == username)
    return list((await session.execute(q)).scalars())


async def authenticate(session: AsyncSession, username: str, password: str, *, rounds: int = 12) -> Staff | None:
    """The account when the username and password match an active account, else None (unknown user,
    wrong password and inactive account alike). An unknown user is verified against a dummy hash of
    `rounds` cost (pass settings.bcrypt_rounds), so its answer takes about as long as a known one."""
    staff = await get_staff(session, username)
    if staff is None:
        await asyncio.to_thread(verify_password, password, _dummy_hash(rounds))
        return None
    ok = await asyncio.to_thread(verify_password, password, staff.password_hash)
    if not ok or not staff.active:
        return None
    return staff


# The embedded default's demo accounts (never in production): one per role, username = role id, plus a
# second department and a second contractor so that a new user sees P1/P2 separate them at once. Each has
# a plausible name and its title (P7: people are shown as "张伟 · 工程部专人", not as a username).
DEMO_CONTRACTORS = {"CT-DEMO": ("示范建工公司", Decimal("100000.00")), "CT-DEMO2": ("示范安装公司", Decimal("50000.00"))}
DEMO_DEPARTMENTS = (DEMO_DEPARTMENT, "物业部")
# P5: the demo group's two companies and their projects. 融侨置业 has an account of every role; 海景置业 a butler, a
# customer-service manager and 工程部's head and handler, and role mailboxes for the roles it has no account of.
DEMO_COMPANY, DEMO_COMPANY2 = "rq", "hj"
DEMO_PROJECT, DEMO_PROJECT2 = "融侨城", "海景苑"
DEMO_COMPANIES = {
    DEMO_COMPANY: ("融侨置业", DEMO_PROJECT, {}),
    DEMO_COMPANY2: ("海景置业", DEMO_PROJECT2, {r.value: f"{r.value}@haijing.example.com" for r in (
        Role.cs_staff, Role.repair_lead, Role.engineering, Role.deputy_chief_engineer, Role.auditor, Role.finance,
        Role.deputy_gm, Role.gm)}),
}
DemoAccount = tuple[str, Role, str | None, str | None]  # username, role, department, contractor_id
# P5: the group's accounts (the 400 hotline, the contractors, IT) have no company; the butler works for 融侨城
GROUP_DEMO_ROLES = frozenset({Role.hotline, Role.contractor, Role.admin})
DEMO_ACCOUNTS: list[DemoAccount] = [
    (r.value, r, DEMO_DEPARTMENT if r in DEMO_DEPARTMENT_ROLES else None, "CT-DEMO" if r == Role.contractor else None)
    for r in Role
] + [
    ("wy_head", Role.dept_head, "物业部", None),
    ("wy_handler", Role.dept_handler, "物业部", None),
    ("contractor2", Role.contractor, None, "CT-DEMO2"),
    ("admin2", Role.admin, None, None),  # P6: a second administrator, who confirms the first one's executive changes
    ("butler2", Role.butler, None, None),
    ("cs_manager2", Role.cs_manager, None, None),
    ("dept_head2", Role.dept_head, DEMO_DEPARTMENT, None),
    ("dept_handler2", Role.dept_handler, DEMO_DEPARTMENT, None),
    ("group_gm", Role.gm, None, None),  # P5, C8: the group's executive, told of every company's major complaints
]
# username -> (company_id, project): the account's scope (P5); (None, None) is the group
DEMO_SCOPES: dict[str, tuple[str | None, str | None]] = {
    **{a[0]: (None, None) if a[1] in GROUP_DEMO_ROLES else (DEMO_COMPANY, None) for a in DEMO_ACCOUNTS},
    "butler": (DEMO_COMPANY, DEMO_PROJECT),
    "butler2": (DEMO_COMPANY2, DEMO_PROJECT2),
    "cs_manager2": (DEMO_COMPANY2, None), "dept_head2": (DEMO_COMPANY2, None), "dept_handler2": (DEMO_COMPANY2, None),
    "group_gm": (None, None),
}
# username -> (name, title)
DEMO_PEOPLE: dict[str, tuple[str, str]] = {
    "hotline": ("陈静", "热线接线专员"),
    "cs_staff": ("李娜", "客户服务部专员"),
    "butler": ("王芳", "贴心管家"),
    "dept_handler": ("张伟", "工程部专人"),
    "dept_head": ("刘强", "工程部经理"),
    "cs_manager": ("赵敏", "客户服务部经理"),
    "repair_lead": ("孙建国", "维修队长"),
    "engineering": ("周涛", "工程材料部工程师"),
    "contractor": ("吴刚", "示范建工公司项目经理"),
    "deputy_chief_engineer": ("郑宏", "副总工程师（质量）"),
    "auditor": ("钱丽", "审计核算部审计员"),
    "finance": ("冯雪", "财务计统部会计"),
    "deputy_gm": ("黄志明", "副总经理"),
    "gm": ("林国栋", "总经理"),
    "wy_head": ("何洁", "物业部经理"),
    "wy_handler": ("马超", "物业部专人"),
    "contractor2": ("郭亮", "示范安装公司项目经理"),
    "admin": ("高远", "信息部系统管理员"),     # P6: accounts only; no case, no owner data
    "admin2": ("宋佳", "信息部系统管理员"),    # ... the second administrator, who confirms executive changes
    "butler2": ("许晴", "贴心管家（海景苑）"),
    "cs_manager2": ("邓凯", "海景置业客户服务部经理"),
    "dept_head2": ("罗斌", "海景置业工程部经理"),
    "dept_handler2": ("唐杰", "海景置业工程部专人"),
    "group_gm": ("欧阳振华", "集团总裁"),
}


async def seed_demo_staff(session: AsyncSession, settings: Settings) -> list[str]:
    """The demo accounts (DEMO_ACCOUNTS): password settings.demo_password, name and title from DEMO_PEOPLE,
    email <username>@example.com; their departments (DEMO_DEPARTMENTS) and the default categories on the
    organisation's lists (P7); their contractors CT-DEMO and CT-DEMO2 registered with a quality deposit.
    Idempotent: existing usernames are left untouched (password included) but for a demo account still
    named after its role (seeded before P7), which gets its name and title; existing contractors too.
    Returns the usernames created by this call, in DEMO_ACCOUNTS order; commits.
    RuntimeError in a production configuration: a production database gets no demo accounts. (Whether
    to call it at all, settings.seed_demo_users, is the caller's decision.)"""
    if settings.environment == "production":
        raise RuntimeError("refusing to seed demo staff accounts: environment is 'production'")
    for contractor_id, (name, deposit) in DEMO_CONTRACTORS.items():
        await ledger.add_contractor_if_missing(session, contractor_id, name, deposit, by="demo",
                                               at=datetime.now(timezone.utc))
    await org.seed(session, DEMO_DEPARTMENTS)
    for company_id, (name, project, mailboxes) in DEMO_COMPANIES.items():  # P5
        if await session.get(Company, company_id) is None:
            await org.put_company(session, company_id, name, mailboxes=mailboxes)
        if await session.get(Project, normalize_text(project)) is None:
            await org.put_project(session, project, company_id)
    existing = {s.username: s for s in (await session.execute(
        select(Staff).where(Staff.username.in_([a[0] for a in DEMO_ACCOUNTS])))).scalars()}
    await _bind_unbound_demo_contractors(session, existing)
    await _name_demo_accounts(session, existing)
    await _scope_demo_accounts(session, existing)
    missing = [a for a in DEMO_ACCOUNTS if a[0] not in existing]
    if not missing:
        return []
    hashes = await asyncio.gather(*(asyncio.to_thread(hash_password, settings.demo_password, settings.bcrypt_rounds)
                                    for _ in missing))
    rows = [Staff(username=u, role=r.value, display_name=DEMO_PEOPLE[u][0], title=DEMO_PEOPLE[u][1],
                  email=f"{u}@example.com", department=d, contractor_id=c, password_hash=h, active=True, version=1,
                  company_id=DEMO_SCOPES[u][0], project=DEMO_SCOPES[u][1])
            for (u, r, d, c), h in zip(missing, hashes)]
    created: list[str] = []
    for row in rows:  # one by one: another process (API / worker start-up) may seed at the same time
        session.add(row)
        _record(session, by="system:demo-seed", username=row.username, change="create",
                detail={"role": row.role, "department": row.department, "contractor_id": row.contractor_id,
                        "display_name": row.display_name, "title": row.title, "company_id": row.company_id,
                        "project": row.project})
        try:
            await session.commit()
            created.append(row.username)
        except IntegrityError:
            await session.rollback()
    return created


async def _bind_unbound_demo_contractors(session: AsyncSession, existing: dict[str, Staff]) -> None:
    """A data directory seeded before P1 has a `contractor` demo account bound to no contractor, which
    could act on nothing: bind it to its demo contractor (recorded like any change)."""
    for username, role, _, contractor_id in DEMO_ACCOUNTS:
        staff = existing.get(username)
        if staff is not None and role in access.CONTRACTOR_ROLES and staff.role == role.value and not staff.contractor_id:
            await change_staff(session, username, by="system:demo-seed", contractor_id=contractor_id)


async def _name_demo_accounts(session: AsyncSession, existing: dict[str, Staff]) -> None:
    """A data directory seeded before P7 has demo accounts named after their role ("责任部门专人"): give them
    their demo name and title. Not an account change that signs anyone out (the version stays): only how
    the account is shown; recorded like any change."""
    for username, staff in existing.items():
        name, title = DEMO_PEOPLE[username]
        if staff.display_name in ROLE_TITLES.values() and staff.title is None:
            _record(session, by="system:demo-seed", username=username, change="update",
                    detail={"display_name": [staff.display_name, name], "title": [None, title]})
            staff.display_name, staff.title = name, title
    await session.commit()


async def _scope_demo_accounts(session: AsyncSession, existing: dict[str, Staff]) -> None:
    """A data directory seeded before P5 has demo accounts of no scope (the group's): give those of a company or a
    project theirs (recorded like any change; their sessions end, as after any change of an account)."""
    for username, staff in existing.items():
        company_id, project = DEMO_SCOPES[username]
        if staff.company_id is None and staff.project is None and company_id is not None:
            await change_staff(session, username, by="system:demo-seed", company_id=company_id, project=project)


async def list_staff(session: AsyncSession) -> list[Staff]:
    return list((await session.execute(select(Staff).order_by(Staff.username))).scalars())


# --- CLI -------------------------------------------------------------------------------------------

def _read_new_password() -> str:
    password = os.environ.get(NEW_PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        raise SystemExit(f"no password: set {NEW_PASSWORD_ENV} or run interactively")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise SystemExit("passwords do not match")
    return password


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m adapters.db.staff", description="Staff accounts (P1).")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help=f"add an account (password from {NEW_PASSWORD_ENV} or a prompt)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--email")
    create.add_argument("--department", help="required for dept_handler and dept_head")
    create.add_argument("--contractor-id", help="required for contractor: a registered contractor")
    create.add_argument("--display-name")
    create.add_argument("--title", help="e.g. 工程部专人 (default: the role's, by department or contractor)")
    create.add_argument("--company-id", help="P5: the company of a company-scoped account")
    create.add_argument("--project", help="P5: the project of a project-scoped account (its company follows)")
    change = sub.add_parser("change", help="change an account's role, department, contractor, name or e-mail")
    change.add_argument("--username", required=True)
    change.add_argument("--role", choices=[r.value for r in Role])
    change.add_argument("--department")
    change.add_argument("--contractor-id")
    change.add_argument("--display-name")
    change.add_argument("--title")
    change.add_argument("--email")
    change.add_argument("--company-id", help="P5: a company scope ('' : the group)")
    change.add_argument("--project", help="P5: a project scope")
    sub.add_parser("list", help="list accounts")
    log = sub.add_parser("log", help="the account-change log, newest first")
    log.add_argument("--username")
    for name in ("deactivate", "activate", "reset-password"):
        p = sub.add_parser(name, help=f"{name} an account" + (f" (new password from {NEW_PASSWORD_ENV} or a prompt)"
                                                             if name == "reset-password" else ""))
        p.add_argument("--username", required=True)
    return parser.parse_args(argv)


def _cli_user() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "cli"


async def _command(session: AsyncSession, args: argparse.Namespace, rounds: int) -> str:
    """One CLI command; its output line. ValueError / LookupError for a refused one."""
    by = _cli_user()
    if args.command == "create":
        staff = await create_staff(session, username=args.username, role=Role(args.role), password=_read_new_password(),
                                   display_name=args.display_name, email=args.email, department=args.department,
                                   contractor_id=args.contractor_id, rounds=rounds, by=by, title=args.title,
                                   company_id=args.company_id, project=args.project)
        return f"created {staff.username} ({staff.role})"
    if args.command == "list":
        return "\n".join("\t".join([s.username, s.role, s.display_name, s.email or "-", s.department or "-",
                                     s.contractor_id or "-", "active" if s.active else "inactive"])
                         for s in await list_staff(session))
    if args.command == "log":
        return "\n".join(f"{c.at.isoformat()}\t{c.by}\t{c.username}\t{c.change}\t{c.detail}"
                         for c in await staff_changes(session, args.username))
    if args.command == "change":
        staff = await change_staff(
            session, args.username, by=by, role=Role(args.role) if args.role else None,
            department=KEEP if args.department is None else args.department,
            contractor_id=KEEP if args.contractor_id is None else args.contractor_id,
            display_name=args.display_name, email=KEEP if args.email is None else args.email, rounds=rounds,
            title=KEEP if args.title is None else args.title,
            company_id=KEEP if args.company_id is None else args.company_id,
            project=KEEP if args.project is None else args.project)
        return f"{staff.username}: {staff.role} {staff.department or staff.contractor_id or ''}".rstrip()
    if args.command == "reset-password":
        staff = await change_staff(session, args.username, by=by, password=_read_new_password(), rounds=rounds)
        return f"{staff.username}: password reset"
    staff = await change_staff(session, args.username, by=by, active=args.command == "activate")
    return f"{staff.username}: {'active' if staff.active else 'inactive'}"


async def _run(args: argparse.Namespace, database_url: str, rounds: int) -> int:
    from adapters.db.session import make_engine, make_sessionmaker

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            try:
                out = await _command(session, args, rounds)
            except (ValueError, LookupError) as e:
                print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
                return 1
            if out:
                print(out)
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    from adapters.config import get_settings

    args = _parse_args(argv)
    settings = get_settings()
    return asyncio.run(_run(args, settings.database_url, settings.bcrypt_rounds))


if __name__ == "__main__":
    sys.exit(main())
