"""The staff workbench: server-rendered pages in Chinese under /app/, on the same origin as the
API and calling the same route functions (so the same access table, checks, idempotency and masking),
never activities or the database behind the API's back.

- Sign-in: POST /app/login (form) takes the same path as POST /auth/token (rate limits, bcrypt gate) and
  keeps the access token in an HTTP-only, SameSite=Strict cookie; each page validates it as the bearer
  API does (`current_actor`). Every form carries a CSRF token bound to the session (double submit: a hash
  of the session token, which a page of another origin can neither read nor compute).
- Forms post, the server answers with a redirect (post/redirect/get) or the page again with the refusal
  next to the form; no script is needed, so pages work by keyboard and without a build step.
- A form for an action is built from the same pydantic action schema the API validates with.
"""

import hashlib
import hmac
import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales import access, offers
from aftersales.actions import YEARS, CaseAction
from aftersales.actor import Actor
from aftersales.calendar import WorkCalendar
from aftersales.case import Ctx
from aftersales.complaint.state import ComplaintIntake
from adapters.db import fee_schedule
from adapters.db import properties as register
from adapters.db.models import PropertyUnit
from adapters.db.reports import working_days_between
from aftersales.messages import (
    ACTION_NAMES, BEIJING, CHANNEL_NAMES, STATUS_NAMES, deadline_name, role_title,
)
from aftersales.files import ATTACH_ROLES, CASE_STEPS, KIND_NAMES, STEP_NAMES, FileKind, FileStep
from aftersales.privacy import mask_personal
from aftersales.provenance import Provenance
from aftersales.repair.state import RepairIntake
from aftersales.reports import TITLES, ReportKind, parse_period, tables
from aftersales.roles import Role
from adapters.temporal.sealing import app_sealer
from api import campaigns as campaign_routes
from api import choices
from api import cases as case_routes
from api import org as org_routes
from api import files as file_routes
from api import properties as property_routes
from api import reports as report_routes
from api.auth import LoginForm, current_actor, login, revoke_token, token_claims
from adapters.db import staff as staff_store
from api.deps import db_session
from adapters.sms import queue as sms_queue
from adapters.db.register import utc
from aftersales.owners import SMS_KIND_NAMES, SMS_PER_CASE_PER_DAY, SmsKind, quiet_until
from api.wording import (
    FIELD_HELP, FIELD_LABELS, OPTION_NAMES, SCALES, http_detail, period_label, period_name, refusal,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SESSION_COOKIE = "aftersales_session"
log = structlog.get_logger()

TIMELINE_KINDS = {   # what each timeline entry records (the entry's own text follows it)
    "intake": "受理", "appointment": "预约", "approval": "审批", "arrival": "到场", "assigned": "分派", "authority": "主管部门",
    "calendar": "日历", "classified": "分类", "closed": "结案", "compensation_paid": "补偿支付", "cost_statement": "费用结算",
    "customer_informed": "告知业主", "deadline_extended": "延期", "deadline_missed": "逾期", "declined": "拒绝",
    "deposit": "质保金", "deposit_shortfall": "质保金不足", "dispatched": "派工", "early_warning": "预警", "escalation": "升级",
    "feedback": "部门反馈", "follow_up": "跟进", "inspected": "验收", "inspection_failed": "验收不合格",
    "inspection_passed": "验收合格", "late_arrival": "迟到", "major": "重大投诉", "meeting": "会议", "notification": "通知",
    "notification_undeliverable": "通知无法送达", "paid": "付款", "progress": "进展", "quote": "报价", "quote_accepted": "接受报价",
    "reopened": "返修", "repair_opened": "转维修", "repair_progress": "维修进展", "repair_requested": "报修", "report": "报告",
    "revisit": "回访", "satisfaction": "满意度", "service_paid": "收费", "signed_off": "业主签认", "solution": "处理方案",
    "summary": "总结", "survey": "查勘", "survey_complete": "查勘完成", "survey_signed": "查勘签认", "unjustified": "不属实",
    "file": "文件", "appointment_proposed": "拟定上门时间", "appointment_requested": "业主另约时间",
    "extension_asked": "申请延期", "extension_refused": "业主不同意延期", "sign_off_refused": "业主未签认",
    "unjustified_returned": "不属实退回", "work_done": "完工", "reassigned": "改派",
}
CHANNELS = CHANNEL_NAMES


# ---- formatting (Beijing time, ¥1,234.50) -----------------------------------------------------------
def beijing_time(value: Any) -> str:
    if not value:
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def money(value: Any) -> str:
    return "—" if value in (None, "") else f"¥{Decimal(str(value)):,.2f}"


def cell(value: Any, header: str, label: Any) -> str:
    """A report table's cell as read: rates (a 率 row's value and target, an 按时率 column) as percents."""
    if value is None or value == "":
        return "—"
    rate = header in ("按时率", "目标") or (header == "数值" and str(label).endswith("率"))
    if rate and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{100 * value:.1f}%"
    return str(value)


templates.env.globals["cell"] = cell
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")


def with_names(text: str, names: dict[str, str]) -> str:
    """A machine-written text (a timeline entry, a refusal) with the accounts it names shown by name and title
    (P7); where the API names both ("dept_handler（张伟 · 工程部专人）", the key and the label) the label alone."""
    text = text or ""
    for username, label in names.items():
        if username in text:
            text = text.replace(f"{username}（{label}）", label)
    return _WORD.sub(lambda m: names.get(m.group(0), m.group(0)), text)


templates.env.filters["people"] = with_names
templates.env.filters.update(bj=beijing_time, money=money, role=lambda r: role_title(r) if r else "—",
                             status=lambda s: STATUS_NAMES.get(s, s), action=lambda a: ACTION_NAMES.get(a, a),
                             deadline=lambda d: deadline_name(d["key"], d.get("owners")),
                             kind=lambda k: TIMELINE_KINDS.get(k, k), period=period_name)


# ---- the session ------------------------------------------------------------------------------------
def csrf_token(session_token: str) -> str:
    return hashlib.sha256(b"aftersales-csrf:" + session_token.encode()).hexdigest()[:32]


LOGIN_COOKIE = "aftersales_login"  # the sign-in form's own CSRF secret, before there is a session (P6)


def login_csrf(request: Request, nonce: str) -> str:
    """The sign-in form's token: an HMAC (keyed with the API's signing secret) of the form's cookie, so that
    a cookie planted by another page cannot come with a token that fits it."""
    key = request.app.state.settings.jwt_secret.encode()
    return hmac.new(key, b"aftersales-login:" + nonce.encode(), hashlib.sha256).hexdigest()[:32]


def same_origin(request: Request) -> bool:
    """False for a form sent from another origin — another port of the same host included (cookies do not
    tell ports apart, so SameSite alone does not stop it). A browser says where a request came from in
    Sec-Fetch-Site (same-origin, or none when typed by the user); one that does not, in Origin. A request
    with neither (not a browser) is left to the CSRF token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}",
           request.app.state.settings.public_base_url.rstrip("/")}
    return origin in own


class SignIn(Exception):
    """No valid session: the page answers with the sign-in page."""


class PageError(Exception):
    """A page this user may not see, or that does not exist: the error page, with its status."""

    def __init__(self, actor: Actor, status_code: int, message: str) -> None:
        super().__init__(message)
        self.actor, self.status_code, self.message = actor, status_code, message


async def page_actor(request: Request) -> Actor:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignIn()
    try:
        return await current_actor(request, token, request.app.state.settings)
    except HTTPException as e:
        if e.status_code == 401:
            raise SignIn() from None
        raise


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, refused (403) unless it carries this session's CSRF token. A field posted more than
    once (a multiple choice: workers, attendees, staff) is its values joined by commas."""
    form: dict[str, str] = {}
    for k, v in (await request.form()).multi_items():
        if isinstance(v, str):
            form[k] = f"{form[k]},{v}" if k in form and v else (v if k not in form else form[k])
    token = request.cookies.get(SESSION_COOKIE, "")
    if not same_origin(request) or not token or not hmac.compare_digest(form.pop("csrf", ""), csrf_token(token)):
        raise HTTPException(403, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试")
    return form


def render(request: Request, name: str, actor: Actor | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    return templates.TemplateResponse(request, name, {"actor": actor, "csrf": csrf_token(token) if token else "",
                                                      "me": getattr(request.state, "actor_label", ""),
                                                      "role_title": role_title, **context}, status_code=status_code)


def install(app) -> None:
    """The workbench's routes, the sign-in redirect for pages without a session, and `/` leading there."""
    app.include_router(router)

    @app.exception_handler(SignIn)
    async def _sign_in(request: Request, exc: SignIn) -> Response:
        return RedirectResponse(f"/app/login?next={request.url.path}", status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return render(request, "error.html", exc.actor, exc.status_code, message=exc.message)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/app/my-work", status_code=303)


@router.get("/app")
@router.get("/app/")
async def app_home() -> RedirectResponse:
    return RedirectResponse("/app/my-work", status_code=303)


def login_form(request: Request, next: str, error: str | None, status_code: int = 200) -> HTMLResponse:
    """The sign-in page with its CSRF token (P6), bound to a cookie of its own (HTTP-only, SameSite=Strict,
    for this path only), made here when the browser has none."""
    nonce = request.cookies.get(LOGIN_COOKIE) or uuid.uuid4().hex
    # the form's own token (`csrf` in the context overrides a session's)
    response = render(request, "login.html", None, status_code, next=next, error=error, csrf=login_csrf(request, nonce))
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/app/login")
    return response


@router.get("/app/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/app/my-work") -> HTMLResponse:
    return login_form(request, _local(next), None)


def _local(path: str) -> str:
    """Only a path of this workbench after signing in (never another site)."""
    return path if path.startswith("/app/") and "//" not in path else "/app/my-work"


@router.post("/app/login", response_class=HTMLResponse)
async def login_submit(request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    username, password, target = form.get("username", ""), form.get("password", ""), _local(form.get("next", ""))
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    # P6: a sign-in form sent from another page (login CSRF: a browser signed in as someone else's account)
    if not same_origin(request) or not nonce or not hmac.compare_digest(form.get("csrf", ""), login_csrf(request, nonce)):
        log.warning("sign-in form refused: no valid CSRF token or another origin",
                    fetch_site=request.headers.get("sec-fetch-site"), origin=request.headers.get("origin"))
        return login_form(request, target, "登录表单已过期或来源不明（CSRF 校验失败），请在本页重新登录", 403)
    if not username or not password:
        return login_form(request, target, "请输入用户名和密码", 422)
    try:
        answer = await login(request, LoginForm(username=username, password=password), request.app.state.settings)
    except HTTPException as e:
        message = "用户名或密码错误" if e.status_code == 401 else f"暂时无法登录：{e.detail}"
        return login_form(request, target, message, e.status_code)
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/app/login")
    response.set_cookie(SESSION_COOKIE, answer.access_token, max_age=answer.expires_in, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/app/logout")
async def logout(request: Request) -> Response:
    """P6: the session ends here and now: its token is revoked in the read model (refused by every API
    process from the next request on, as cookie or as bearer), and the cookie is dropped."""
    await checked_form(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    try:
        claims = await token_claims(request, token, request.app.state.settings)
    except HTTPException:
        claims = None  # expired or already ended: nothing left to revoke
    if claims is not None:
        async with request.app.state.sessionmaker() as session:
            await revoke_token(session, claims)
    response = RedirectResponse("/app/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- my work and the register ----------------------------------------------------------------------
@router.get("/app/my-work", response_class=HTMLResponse)
async def my_work(request: Request, actor: Annotated[Actor, Depends(page_actor)],
                  session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    """我的待办: the cases whose next step is mine (GET /cases?mine=true: by my role and department, my
    contractor, or me by name), overdue and most escalated first."""
    page = await case_routes.list_cases(actor, session, mine=True, page_size=100)
    items = sorted(page.items, key=lambda i: (not i.overdue, -i.escalation_level, i.received_at))
    notices = await staff_store.notices_of(session, actor.username, limit=3)  # P6: changes to my own account
    names = await choices.staff_names(session, choices.named_in(items, *(n.text for n in notices)))
    return render(request, "my_work.html", actor, items=items, total=page.total, names=names, notices=notices)


@router.get("/app/cases", response_class=HTMLResponse)
async def register_page(request: Request, actor: Annotated[Actor, Depends(page_actor)],
                        session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    q = {k: v.strip() for k, v in request.query_params.items() if v.strip()}
    error = None
    try:
        page = await case_routes.list_cases(
            actor, session, type=q.get("type"), status_=q.get("status"), department=q.get("department"),
            project=q.get("project"), overdue={"yes": True, "no": False}.get(q.get("overdue", "")),
            escalation_level=_level(q.get("level")),
            received_from=_day_start(q.get("from")), received_to=_day_start(q.get("to"), next_day=True),
            handler=q.get("handler"), unit=q.get("unit"), case_no=q.get("case_no"), cursor=q.get("cursor"),
            page_size=20)
    except HTTPException as e:
        page, error = None, http_detail(e.detail, e.status_code)
    return render(request, "cases.html", actor, page=page, q=q, error=error, statuses=STATUS_NAMES,
                  may_find_by_phone=actor.role in access.ENDPOINTS["find_by_phone"],
                  names=await choices.staff_names(session, choices.named_in(page.items if page else [])),
                  departments=await choices.departments(session),
                  projects=await choices.projects(session, actor.company_id, actor.project))


@router.post("/app/cases/by-phone", response_class=HTMLResponse)
async def register_by_phone(request: Request, actor: Annotated[Actor, Depends(page_actor)],
                            session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    """The owner's cases by phone (posted, so the number is in no URL, history or log)."""
    form = await checked_form(request)
    page, error, status_code, headers = None, None, 200, {}
    try:
        if actor.role not in access.ENDPOINTS["find_by_phone"]:
            raise HTTPException(403, f"{role_title(actor.role)}不能按电话查找业主的案件（P3）")
        page = await case_routes.cases_by_phone(case_routes.PhoneSearch(phone=typed_phone(form.get("phone", ""))),
                                                request, actor, session)
    except HTTPException as e:
        error, status_code, headers = http_detail(e.detail, e.status_code), e.status_code, e.headers or {}
    except ValidationError:
        error, status_code = "电话号码格式不对（如 139-1234-5678 或 0591-87654321）", 422
    response = render(request, "cases.html", actor, status_code, page=page, q={}, error=error, statuses=STATUS_NAMES,
                      by_phone=True, may_find_by_phone=actor.role in access.ENDPOINTS["find_by_phone"],
                      names=await choices.staff_names(session), departments=await choices.departments(session),
                      projects=await choices.projects(session, actor.company_id, actor.project))
    response.headers.update(headers)  # a 429's Retry-After (P3)
    return response


def typed_phone(raw: str) -> str:
    """A phone number as people write it (139-1234-5678, 139 1234 5678, +86 139…, 0591 8765 4321) as the
    register keeps it: a mobile's 11 digits, a landline's area code, a hyphen and the number."""
    digits = re.sub(r"[\s\-－()（）]", "", raw.strip())
    digits = re.sub(r"^(\+?86)(?=1[3-9][0-9]{9}$)", "", digits)
    if re.fullmatch(r"1[3-9][0-9]{9}", digits):
        return digits
    if m := re.fullmatch(r"(0(?:10|2[0-9]))([2-9][0-9]{7})", digits) or \
            re.fullmatch(r"(0[3-9][0-9]{2})([2-9][0-9]{6,7})", digits):
        return f"{m.group(1)}-{m.group(2)}"
    return raw.strip()


def _level(level: str | None) -> int | None:
    """The register's 升级级别 filter: 0–9 as GET /cases bounds it (a larger number answered 500 before)."""
    if not level:
        return None
    if not (level.isascii() and level.isdigit()) or int(level) > 9:
        raise HTTPException(422, f"升级级别须为 0 到 9 的整数，不是 {level[:20]!r}")
    return int(level)


def _day_start(day: str | None, *, next_day: bool = False) -> datetime | None:
    """A <input type=date> day as the start of that day (or the next: 'to' includes its day), Beijing time."""
    if not day:
        return None
    try:
        start = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=BEIJING)
        if not YEARS[0] <= start.year <= YEARS[1]:
            raise ValueError(day)
    except ValueError:
        raise HTTPException(422, f"日期格式不对：{day[:20]}（应为 {YEARS[0]}–{YEARS[1]} 年的日期，如 2026-11-24）") from None
    return start + timedelta(days=1) if next_day else start


# ---- a case ----------------------------------------------------------------------------------------
def acts_next(actor: Actor, next_actor: dict[str, Any]) -> bool:
    """Whether one of the case's `next_actors` is this user: the role, and the named person, department or
    contractor where the step names one (as 我的待办 selects it)."""
    return (next_actor["role"] == actor.role.value
            and next_actor.get("username") in (None, actor.username)
            and next_actor.get("department") in (None, actor.department)
            and next_actor.get("contractor_id") in (None, actor.contractor_id))


def offered(request: Request, view: dict[str, Any], actor: Actor, cal: WorkCalendar) -> list[str]:
    """P1, A4: the actions this user may take on the case now — the machine's own dry run (the Update
    validator's check), so the page never offers what the workflow would refuse for the state or the user."""
    if view.get("source") == "register" or view.get("closed_at"):
        return []   # closed (and past Temporal's retention: the register's copy)
    settings = request.app.state.settings
    machine = offers.machine_of(view)
    ctx = Ctx(now=datetime.now(timezone.utc), cal=cal, ladder=settings.escalation_ladder,
              rules_version=machine.state.rules_version,
              time_tolerance=timedelta(minutes=settings.time_tolerance_minutes))
    return offers.offered_actions(machine, actor, ctx)


class Field_(BaseModel):
    name: str
    label: str
    kind: str           # text, textarea, number, datetime, date, checkbox, select, multi, list, json
    required: bool
    options: list[tuple[str, str]] = []
    help: str = ""
    integer: bool = False   # a whole number (a score), posted as text
    value: str = ""         # what the field shows: the user's own input after a refusal, else the case's default
    error: str = ""         # what is wrong with it after a refusal (the field is marked)


HIDDEN_FIELDS = {("quote", "schedule")}   # set by the API (the current fee schedule), never by a person


def form_fields(model: type[BaseModel], action: str = "") -> list[Field_]:
    out = []
    for name, f in model.model_fields.items():
        if name == "action" or (action, name) in HIDDEN_FIELDS:
            continue
        kind, options = _kind(f.annotation)
        limits = [m.max_length for m in f.metadata if getattr(m, "max_length", None)]
        if kind == "textarea" and limits and min(limits) <= 200:
            kind = "text"
        integer = _is_int(f.annotation)
        if name in SCALES and integer:
            kind, options = "select", SCALES[name]
        # O4 (rules 4): 代录 says how the owner told staff — required for staff (the case refuses it missing)
        out.append(Field_(name=name, label=FIELD_LABELS.get(name, name), kind=kind,
                          required=f.is_required() or name == "told_via",
                          options=options, help=FIELD_HELP.get((action, name), ""), integer=integer))
    return out


def _kind(annotation: Any) -> tuple[str, list[tuple[str, str]]]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kind(get_args(annotation)[0])
    if origin in (Union, UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        return _kind(inner[0]) if len(inner) == 1 else ("json", [])
    if origin is Literal:
        return "select", [(str(v), OPTION_NAMES.get(str(v), str(v))) for v in get_args(annotation)]
    if origin is list:
        (item,) = get_args(annotation) or (str,)
        if item is Role:
            return "multi", choices.roles()
        return ("list", []) if _kind(item)[0] in ("text", "textarea") else ("json", [])
    if isinstance(annotation, type):
        if "Datetime" in annotation.__name__:   # pydantic's AwareDatetime
            return "datetime", []
        if issubclass(annotation, bool):
            return "checkbox", []
        if issubclass(annotation, Enum):
            return "select", [(m.value, CHANNELS.get(m.value, m.value)) for m in annotation]
        if issubclass(annotation, (int, float, Decimal)):
            return "number", []
        if issubclass(annotation, datetime):
            return "datetime", []
        if issubclass(annotation, date):
            return "date", []
        if issubclass(annotation, BaseModel):
            return "json", []
    return "textarea" if annotation is str else "text", []


def _is_int(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_int(get_args(annotation)[0])
    inner = [a for a in get_args(annotation) if a is not type(None)] if origin in (Union, UnionType) else []
    if len(inner) == 1:
        return _is_int(inner[0])
    return isinstance(annotation, type) and issubclass(annotation, int) and not issubclass(annotation, bool)


def local_time(value: Any) -> str:
    """A time as <input type=datetime-local> shows it: Beijing time, to the minute."""
    if not value:
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def _amount(value: Any) -> str:
    return "" if value in (None, "") else f"{Decimal(str(value)):.2f}"


async def pickers(session: AsyncSession, view: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """P7: the lists a case's forms choose from (departments, handlers, contractors, workers, categories)."""
    departments = choices.as_choices(await choices.departments(session))
    categories = await choices.categories(session)
    if view.get("category") and view["category"] not in categories:
        categories.append(view["category"])
    survey = view.get("survey") or {}
    return {"department": departments, "responsible_party": departments,
            "category": choices.as_choices(categories),
            "handler": await choices.handlers(session, view.get("department"), view.get("company_id")),
            "contractor_id": await choices.contractors(session),
            "workers": await choices.workers(session, survey.get("contractor_id"), view.get("company_id")),
            "trades": choices.as_choices(await choices.trades(session))}


def defaults(view: dict[str, Any], now: datetime) -> dict[tuple[str, str], str]:
    """What a form starts with, from the case: the category from intake, the amounts approved, the owner's
    name, the agreed times, the approved solution for the owner (P7: nothing typed that the case knows)."""
    survey, quote = view.get("survey") or {}, view.get("quote") or {}
    return {
        ("classify", "category"): view.get("category") or "",
        ("classify", "department"): view.get("department") or "",
        ("assign_handler", "handler"): view.get("handler") or "",
        ("inform_customer", "message"): view.get("solution") or "",
        ("record_compensation_paid", "amount"): _amount(view.get("compensation")),
        ("agree_appointment", "appointment_at"): local_time(view.get("appointment_at") or view.get("requested_appointment")),
        ("record_arrival", "arrived_at"): local_time(now),
        ("record_survey", "responsible_party"): view.get("department") or "",
        # R2/R4: several trades at intake make multi-trade work unless the survey finds otherwise
        ("record_survey", "multi_trade"): "on" if (survey.get("multi_trade") if survey else len(view.get("trades") or []) > 1) else "",
        ("record_survey", "contractor_id"): survey.get("contractor_id") or "",
        ("record_survey", "estimate"): _amount(survey.get("estimate")),
        ("record_survey", "order_type"): survey.get("order_type") or "",
        ("dispatch", "workers"): ",".join(view.get("workers") or []),
        ("cost_statement", "amount"): _amount(survey.get("estimate")),
        ("pay", "amount"): _amount(view.get("settled_amount")),
        ("record_service_payment", "amount"): _amount(quote.get("total")),
        ("accept_quote", "signed_by"): (view.get("customer") or {}).get("name") or "",
        ("accept_quote", "signed_at"): local_time(now),
        ("open_repair", "description"): view.get("description") or "",
        ("authority_reply", "answered_in_person_at"): local_time(now),
        # O4: most owners who do not use the owner pages call; staff change it for a visit, WeChat or a letter
        **{(name, "told_via"): "phone" for names in access.OWNER_FACTS.values() for name in names},
        ("propose_appointment", "appointment_at"): local_time(view.get("requested_appointment")),
    }


def _amount_typed(raw: str) -> str:
    """An amount as people type it (1,500 / ￥1 500.00 / 1，500) as the schema's plain decimal."""
    return re.sub(r"[,，¥￥\s]", "", raw)


def parse_form(fields: list[Field_], form: dict[str, str]) -> dict[str, Any]:
    """The posted strings as the schema's JSON (empty optional fields left out; times in Beijing time)."""
    data: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f.name, "").strip()
        if f.kind == "checkbox":
            data[f.name] = f.name in form
        elif not raw:
            continue
        elif f.kind == "datetime":   # <input type=datetime-local>: 2026-11-26T17:30, Beijing time
            data[f.name] = f"{raw}:00+08:00" if len(raw) == 16 else raw
        elif f.integer and raw.lstrip("-").isdigit():
            data[f.name] = int(raw)
        elif f.kind == "number":
            data[f.name] = _amount_typed(raw)
        elif f.kind in ("list", "multi"):
            data[f.name] = [p.strip() for p in raw.replace("，", ",").replace("、", ",").split(",") if p.strip()]
        elif f.kind == "json":
            try:
                data[f.name] = json.loads(raw)
            except ValueError:
                data[f.name] = raw
        else:
            data[f.name] = raw
    return data


# ---- R3: the paid-service quote as rows, not JSON --------------------------------------------------------
QUOTE_ITEM_ROWS, QUOTE_EXTRA_ROWS = 6, 3   # rows a page offers without a script (the script adds more)
EXTRA_FIELDS = ("name", "unit", "unit_price", "quantity", "reason")
_ROW = re.compile(r"^(item_code|item_quantity|extra_(?:name|unit_price|unit|quantity|reason))_(\d{1,2})$")


def _rows_posted(form: dict[str, str], prefix: str) -> list[int]:
    return sorted({int(m.group(2)) for k in form if (m := _ROW.match(k)) and m.group(1).startswith(prefix)})


def quote_body(form: dict[str, str]) -> tuple[dict[str, Any], dict[tuple[str, int], int]]:
    """The quote form's rows as the API's Quote (R3): each schedule row an item code and its quantity, each
    other row an extra item; blank rows left out. Also which posted row each item came from, so that a
    refusal marks the row's own field."""
    items, extras, where = [], [], {}
    for i in _rows_posted(form, "item"):
        code, quantity = form.get(f"item_code_{i}", "").strip(), form.get(f"item_quantity_{i}", "").strip()
        if code or quantity:
            where[("items", len(items))] = i
            items.append({"code": code, "quantity": _amount_typed(quantity)})
    for i in _rows_posted(form, "extra"):
        row = {k: form.get(f"extra_{k}_{i}", "").strip() for k in EXTRA_FIELDS}
        if any(row.values()):
            where[("extras", len(extras))] = i
            row.update(unit_price=_amount_typed(row["unit_price"]), quantity=_amount_typed(row["quantity"]))
            extras.append({k: v for k, v in row.items() if v})
    return {"items": items, "extras": extras}, where


def quote_field_errors(e: ValidationError, where: dict[tuple[str, int], int]) -> dict[str, str]:
    """A refused quote's errors by the posted field of their row (item_quantity_1, extra_reason_0 ...)."""
    out: dict[str, str] = {}
    for err in e.errors():
        loc = [p for p in err["loc"] if p != "quote"]
        if len(loc) >= 3 and loc[0] in ("items", "extras") and isinstance(loc[1], int) and (loc[0], loc[1]) in where:
            name = ("item_" if loc[0] == "items" else "extra_") + str(loc[2]) + f"_{where[(loc[0], loc[1])]}"
            out.setdefault(name, refusal(ValidationError.from_exception_data(e.title, [err]))[0].split("：", 1)[-1])
    return out


def _fen(value: Any) -> Decimal | None:
    try:
        amount = Decimal(_amount_typed(str(value)))
    except ArithmeticError:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def quote_form(schedule: Any, view: dict[str, Any], posted: dict[str, str] | None,
               errors: dict[str, str]) -> dict[str, Any]:
    """What the quote form shows (R3): the fee schedule's items to choose from, the rows — as posted after a
    refusal, else the quote already given (quoting again), else blank — and the total of the rows priced."""
    prices = {i.code: i.unit_price for i in schedule.items} if schedule else {}
    options = [(i.code, f"{i.name}（{money(i.unit_price)}/{i.unit}）", f"{i.unit_price:.2f}", i.unit)
               for i in (schedule.items if schedule else [])]
    if posted is not None:
        items = [{"code": posted.get(f"item_code_{i}", ""), "quantity": posted.get(f"item_quantity_{i}", ""), "n": i}
                 for i in range(max([QUOTE_ITEM_ROWS - 1, *_rows_posted(posted, "item")]) + 1)]
        extras = [{**{k: posted.get(f"extra_{k}_{i}", "") for k in EXTRA_FIELDS}, "n": i}
                  for i in range(max([QUOTE_EXTRA_ROWS - 1, *_rows_posted(posted, "extra")]) + 1)]
    else:
        lines = (view.get("quote") or {}).get("lines") or []
        items = [{"code": ln["code"], "quantity": str(ln["quantity"])} for ln in lines if ln.get("code")]
        extras = [{k: str(ln.get(k) or "") for k in EXTRA_FIELDS} for ln in lines if not ln.get("code")]
        items += [{"code": "", "quantity": ""}] * max(QUOTE_ITEM_ROWS - len(items), 1)
        extras += [{k: "" for k in EXTRA_FIELDS}] * max(QUOTE_EXTRA_ROWS - len(extras), 1)
        items = [{**r, "n": i} for i, r in enumerate(items)]
        extras = [{**r, "n": i} for i, r in enumerate(extras)]
    total = Decimal("0.00")
    for r in items:
        price, quantity = prices.get(r["code"]), _fen(r["quantity"])
        r["amount"] = (price * quantity).quantize(Decimal("0.01")) if price is not None and quantity else None
        total += r["amount"] or 0
    for r in extras:
        price, quantity = _fen(r["unit_price"]), _fen(r["quantity"])
        r["amount"] = (price * quantity).quantize(Decimal("0.01")) if price is not None and quantity else None
        total += r["amount"] or 0
    return {"options": options, "item_rows": items, "extra_rows": extras, "total": total, "errors": errors,
            "version": schedule.version if schedule else None}


def working_time_left(cal: WorkCalendar, now: datetime, due: datetime) -> str:
    """'剩余 1 个工作日 3.5 小时' or '已逾期 2.0 小时' in working time (T1–T3: the holiday calendar, 9:00–18:00)."""
    ahead = due > now
    days = working_days_between(cal, now, due) if ahead else working_days_between(cal, due, now)
    hours = days * cal.hours_per_day
    whole, rest = int(hours // cal.hours_per_day), round(hours % cal.hours_per_day, 1)
    text = (f"{whole} 个工作日 " if whole else "") + f"{rest:g} 小时"
    return f"剩余 {text}" if ahead else f"已逾期 {text}"


def refusal_text(e: HTTPException | ValidationError) -> str:
    """Why a form was refused, for the person who sent it (api.wording: in Chinese, by field label)."""
    return refusal(e)[0]


async def _case_page(request: Request, actor: Actor, session: AsyncSession, case_no: str, *,
                     refused: dict[str, str] | None = None, status_code: int = 200, phone_shown: bool = False,
                     notice: str | None = None, posted: dict[str, str] | None = None,
                     field_errors: dict[str, str] | None = None) -> HTMLResponse:
    view = await case_routes._visible_view(request, session, case_no, actor)   # P2: an unseen case is 404
    view = await org_routes.display(session, view)   # P7: people by name and title
    full_phone = None
    facts = await case_routes.facts_of(session, view)  # P5: within the scope
    if phone_shown and access.sees_full_phone(actor, facts):
        full_phone = (await case_routes.present(request, session, actor, view))["customer"]["phone"]  # recorded (P3)
    shown = mask_personal(view)
    now = datetime.now(BEIJING)
    cal = await report_routes._calendar(request, session, [now.year, now.year + 1])
    for d in shown.get("deadlines", []):
        if d.get("state") in ("open", "missed"):
            d["left"] = working_time_left(cal, now, datetime.fromisoformat(d["due_at"]))
    models = offers.action_models(view["case_type"])
    lists, starts = await pickers(session, view), defaults(view, now)
    forms = []
    for name in offered(request, view, actor, cal):
        fields = form_fields(models[name], name)
        for f in fields:
            if f.name in lists and f.kind not in ("checkbox",):
                f.kind = "multi" if f.kind in ("list", "multi") else "select"
                f.options = lists[f.name]
            if refused and name in refused and posted is not None:   # the user's own input, kept
                f.value = "on" if f.kind == "checkbox" and f.name in posted else posted.get(f.name, "")
                f.error = (field_errors or {}).get(f.name, "")
            else:
                f.value = starts.get((name, f.name), "")
        forms.append((name, fields))
    next_names = {a["action"] for a in view.get("next_actors", []) if acts_next(actor, a)}
    forms.sort(key=lambda f: f[0] not in next_names)   # the step the case waits for from me first, marked 下一步
    quote = None
    if any(n == "quote" for n, _ in forms):   # R3: the quote's rows priced from the current fee schedule
        found = await fee_schedule.load(session)
        kept = posted if refused and "quote" in refused and posted is not None else None
        quote = quote_form(found[0] if found else None, view, kept, (field_errors or {}) if kept is not None else {})
    names = await choices.staff_names(session)
    for f in (f for _, fields in forms for f in fields if f.error):
        f.error = with_names(f.error, names)
    refused = {k: with_names(v, names) for k, v in (refused or {}).items()}   # P7: "只有指定的经办人 张伟 · …"
    return render(request, "case.html", actor, status_code, view=shown, forms=forms, refused=refused,
                  next_names=next_names, names=names, quote=quote,
                  gallery=gallery(request, actor, view),
                  upload=upload_choices(actor, view, next_names),
                  key=uuid.uuid4().hex, full_phone=full_phone, may_show_phone=access.sees_full_phone(
                      actor, facts), notice=notice)


# The step whose files an action's form most needs next (D1, D2): the upload form chooses it for the user.
STEP_FOR_ACTION = {"complete_work": ("after_work", "photo"), "dispatch": ("before_work", "photo"),
                   "record_survey": ("survey", "photo"), "sign_survey": ("survey", "photo"),
                   "inspect": ("inspection", "photo"), "pay": ("cost_statement", "signed"),
                   "cost_statement": ("cost_statement", "signed"), "accept_quote": ("repair_slip", "signed"),
                   "owner_sign_off": ("inspection", "signed"), "record_service_payment": ("receipt", "document"),
                   "classify": ("intake", "photo"), "agree_appointment": ("intake", "photo")}


def gallery(request: Request, actor: Actor, view: dict[str, Any]) -> list[dict[str, Any]]:
    """D3: the case's files per step, in the order of the steps, each with short-lived signed links."""
    by_step: dict[str, list[dict[str, Any]]] = {}
    # O4: how an owner's photo was given (their own pages), from its timeline entry
    given = {t["file"]["id"]: Provenance.model_validate(t["provenance"]).words()
             for t in view.get("timeline") or [] if t.get("file") and t.get("provenance")}
    for f in view.get("files") or []:
        url = file_routes.link_to(request, actor, view["case_no"], f["id"])[0]
        thumb = file_routes.link_to(request, actor, view["case_no"], f["id"], "thumbnail")[0] if f.get("thumb") else None
        by_step.setdefault(f["step"], []).append({**f, "url": url, "thumb_url": thumb,
                                                  "kind_name": KIND_NAMES[FileKind(f["kind"])],
                                                  "given": given.get(f["id"])})
    return [{"step": s.value, "name": STEP_NAMES[s], "files": by_step[s.value]} for s in FileStep if s.value in by_step]


def upload_choices(actor: Actor, view: dict[str, Any], next_names: set[str]) -> dict[str, Any] | None:
    """The upload form: the steps this user may add to on this case, the one the next action needs chosen."""
    if view.get("closed_at"):
        return None
    steps = [(s.value, STEP_NAMES[s]) for s in CASE_STEPS[view["case_type"]] if actor.role in ATTACH_ROLES[s]]
    if not steps:
        return None
    wanted = next((STEP_FOR_ACTION[n] for n in sorted(next_names) if n in STEP_FOR_ACTION), None)
    step, kind = wanted if wanted and any(v == wanted[0] for v, _ in steps) else (steps[0][0], "photo")
    return {"steps": steps, "step": step, "kind": kind, "kinds": [(k.value, KIND_NAMES[k]) for k in FileKind]}


@router.post("/app/cases/{case_no}/files", response_class=HTMLResponse)
async def upload(case_no: str, request: Request, actor: Annotated[Actor, Depends(page_actor)],
                 session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """The upload form (multipart, streamed under the same limits as POST /cases/{no}/files); its CSRF token
    is checked before the file is read."""
    token = request.cookies.get(SESSION_COOKIE, "")

    def csrf(fields: dict[str, str]) -> None:
        if not token or not hmac.compare_digest(fields.get("csrf", ""), csrf_token(token)):
            raise file_routes.Refused(403, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试")
    try:
        status_code, refs = await file_routes.upload_files(request, session, actor, case_no, check_fields=csrf)
    except file_routes.Refused as r:
        if r.status == 404:
            raise PageError(actor, 404, r.detail) from None
        return await _case_page(request, actor, session, case_no, refused={"upload": r.detail}, status_code=r.status)
    count = f" {len(refs)} 个文件" if len(refs) > 1 else ""
    done = f"已上传{count}" if status_code == 201 else ("这些文件已在此环节" if count else "该文件已在此环节")
    return RedirectResponse(f"/app/cases/{case_no}?notice={done}：{STEP_NAMES[FileStep(refs[0]['step'])]}", status_code=303)


@router.get("/app/cases/{case_no}", response_class=HTMLResponse)
async def case_page(case_no: str, request: Request, actor: Annotated[Actor, Depends(page_actor)],
                    session: Annotated[AsyncSession, Depends(db_session)], notice: str | None = None) -> HTMLResponse:
    try:
        return await _case_page(request, actor, session, case_no, notice=notice)
    except HTTPException as e:
        raise PageError(actor, e.status_code, http_detail(e.detail, e.status_code)) from None


@router.post("/app/cases/{case_no}/phone", response_class=HTMLResponse)
async def show_phone(case_no: str, request: Request, actor: Annotated[Actor, Depends(page_actor)],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    await checked_form(request)
    try:
        return await _case_page(request, actor, session, case_no, phone_shown=True)
    except HTTPException as e:
        raise PageError(actor, e.status_code, http_detail(e.detail, e.status_code)) from None


@router.post("/app/cases/{case_no}/act", response_class=HTMLResponse)
async def act(case_no: str, request: Request, actor: Annotated[Actor, Depends(page_actor)],
              session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    form = await checked_form(request)
    name, key = form.get("action", ""), form.get("idempotency_key") or None
    try:
        view = await case_routes._visible_view(request, session, case_no, actor)
    except HTTPException as e:
        raise PageError(actor, e.status_code, http_detail(e.detail, e.status_code)) from None
    model = offers.action_models(view["case_type"]).get(name)
    if model is None:
        return await _case_page(request, actor, session, case_no, refused={name: f"未知操作 {name}"}, status_code=422)
    where: dict[tuple[str, int], int] = {}
    try:
        if name == "quote":   # R3: rows of items, not JSON
            body, where = quote_body(form)
        else:
            body = parse_form(form_fields(model, name), form)
        action = TypeAdapter(CaseAction).validate_python({"action": name, **body})
        await case_routes.act_on_case(case_no=case_no, request=request, action=action, actor=actor, session=session,
                                      idempotency_key=key, prefer=case_routes.MINIMAL)  # the page reads it next
    except (HTTPException, ValidationError) as e:
        status_code = e.status_code if isinstance(e, HTTPException) else 422
        text, fields = refusal(e)
        if name == "quote" and isinstance(e, ValidationError):
            fields = {**fields, **quote_field_errors(e, where)}
        return await _case_page(request, actor, session, case_no, refused={name: text}, status_code=status_code,
                                posted=form, field_errors=fields)
    return RedirectResponse(f"/app/cases/{case_no}?notice={ACTION_NAMES.get(name, name)}+已完成", status_code=303)


# ---- intake ---------------------------------------------------------------------------------------
INTAKE = {"complaint": ("新建投诉", ComplaintIntake), "repair": ("新建报修", RepairIntake)}


@router.get("/app/new/{kind}", response_class=HTMLResponse)
async def new_case(kind: Literal["complaint", "repair"], request: Request,
                   actor: Annotated[Actor, Depends(page_actor)],
                   session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    return await _intake_page(request, actor, session, kind, {}, None)


async def _intake_page(request: Request, actor: Actor, session: AsyncSession, kind: str, values: dict[str, str],
                       error: str | None, status_code: int = 200, units: list[Any] | None = None) -> HTMLResponse:
    """The intake form. With a property register, the unit picker comes first: a project and building
    list that building's registered units (GET /properties/units), one is chosen, and the case is filed
    against it (its unit_id: C11 counts by the registered building); the projects and buildings are the
    fields' suggestions, and a written address that names a registered unit is matched to it too."""
    allowed = actor.role in access.ENDPOINTS["register_case"]
    register_map = await choices.projects_and_buildings(session, actor.company_id, actor.project)  # P5: the scope's
    buildings = sorted({b for bs in register_map.values() for b in bs})
    if kind == "repair" and not values.get("requested_appointment"):   # R1: a suggestion, the next day at 10:00
        values = {**values, "requested_appointment": (datetime.now(BEIJING) + timedelta(days=1)).strftime("%Y-%m-%dT10:00")}
    return render(request, "new_case.html", actor, status_code if allowed else 403, kind=kind, title=INTAKE[kind][0],
                  values=values, error=error if allowed else "您的角色不能登记案件", allowed=allowed,
                  key=values.get("idempotency_key") or uuid.uuid4().hex, channels=CHANNELS, projects=list(register_map),
                  register_map=register_map, buildings=buildings, units=units,
                  categories=await choices.categories(session), trades=await choices.trades(session))


@router.post("/app/new/{kind}/units", response_class=HTMLResponse)
async def new_case_units(kind: Literal["complaint", "repair"], request: Request,
                         actor: Annotated[Actor, Depends(page_actor)],
                         session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    """The unit picker's step: the registered units of a building, to choose from (owners masked, P3)."""
    form = await checked_form(request)
    values = {k: form.get(k, "").strip() for k in ("project", "building")}
    if actor.role not in access.ENDPOINTS["register_case"]:
        return await _intake_page(request, actor, session, kind, values, None, 403)
    if not values["project"] or not values["building"]:
        return await _intake_page(request, actor, session, kind, values, "请先填写项目和楼栋，再列出房屋", 422)
    try:
        units = await property_routes.units(actor=actor, session=session, **values)
    except HTTPException as e:
        return await _intake_page(request, actor, session, kind, values, refusal_text(e), e.status_code)
    if not units:
        return await _intake_page(request, actor, session, kind, values,
                                  f"房产台账中没有 {values['project']} {values['building']} 的房屋；可按填写的地址登记（不关联台账）",
                                  404)
    return await _intake_page(request, actor, session, kind, values, None, units=units)


@router.post("/app/new/{kind}", response_class=HTMLResponse)
async def new_case_submit(kind: Literal["complaint", "repair"], request: Request,
                          actor: Annotated[Actor, Depends(page_actor)],
                          session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    form = await checked_form(request)
    if actor.role not in access.ENDPOINTS["register_case"]:
        return await _intake_page(request, actor, session, kind, form, None, 403)
    customer: dict[str, Any] = {k: form.get(k, "").strip() for k in ("name", "phone", "project", "building", "unit")}
    customer["phone"] = typed_phone(customer["phone"]) if customer["phone"] else ""
    if form.get("unit_id", "").strip().isdigit():   # chosen in the unit picker: the register names the address
        unit = await register.get_unit(session, int(form["unit_id"]))
        customer.update(unit_id=int(form["unit_id"]), **({"project": unit.project, "building": unit.building,
                                                          "unit": unit.unit} if unit else {}))
        if unit is not None:   # the owner the register names, unless the caller gave another name or number
            customer["name"] = customer["name"] or unit.owner_name or ""
            if not customer["phone"] and unit.owner_phone_sealed:
                customer["phone"] = app_sealer(request.app.state).unseal(unit.owner_phone_sealed)
    body: dict[str, Any] = {"customer": customer, "description": form.get("description", "")}
    if kind == "complaint":
        body.update(channel=form.get("channel", ""), category=form.get("category", ""), major="major" in form)
    else:
        body.update(trades=[t.strip() for t in form.get("trades", "").replace("，", ",").split(",") if t.strip()],
                    requested_appointment=parse_form([Field_(name="at", label="", kind="datetime", required=True)],
                                                     {"at": form.get("requested_appointment", "")}).get("at", ""),
                    paid_service="paid_service" in form)
    try:
        intake = INTAKE[kind][1].model_validate(body)
        route = case_routes.create_complaint if kind == "complaint" else case_routes.create_repair
        # the case page reads the case: the intake answers with its number alone (no query)
        answer = await route(request=request, intake=intake, actor=actor, session=session,
                             idempotency_key=form.get("idempotency_key") or None, prefer=case_routes.MINIMAL)
    except (HTTPException, ValidationError) as e:
        status_code = e.status_code if isinstance(e, HTTPException) else 422
        units = await register.list_units(session, customer["project"], customer["building"]) \
            if customer.get("unit_id") else None   # the picker stays as it was
        return await _intake_page(request, actor, session, kind, {**form, "phone": form.get("phone", "")},
                                  refusal_text(e), status_code, units=units)
    if answer.status_code != status.HTTP_201_CREATED:   # 202: registered, not open yet
        return RedirectResponse("/app/cases", status_code=303)
    return RedirectResponse(f"/app/cases/{json.loads(answer.body)['case_no']}?notice=已登记", status_code=303)


# ---- reports and campaigns ------------------------------------------------------------------------
def _may(actor: Actor, endpoint: str) -> None:
    """The page's access by the one table (aftersales.access.ENDPOINTS): else 403, naming who may."""
    if actor.role not in access.ENDPOINTS[endpoint]:
        allowed = "、".join(role_title(r) for r in access.ENDPOINTS[endpoint])
        raise PageError(actor, 403, f"您的角色（{role_title(actor.role)}）不能查看此页；可查看：{allowed}")


PERIOD_KINDS = {   # what each report's period is, as its picker asks for it
    ReportKind.weekly_complaints: "week", ReportKind.monthly_complaints: "month", ReportKind.monthly_repairs: "month",
    ReportKind.paid_services: "month", ReportKind.quarterly: "quarter", ReportKind.yearly: "year",
    ReportKind.rework_daily: "day", ReportKind.campaign: "campaign"}
PERIOD_NAMES = {"week": "周", "month": "月份", "quarter": "季度", "year": "年度", "day": "日期", "campaign": "回访活动"}


def period_choices(today: date, campaign_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """The periods a report can be asked for, newest first, as people name them (K1–K3): months and weeks of
    the last two years, quarters, years, the last 31 days, the campaigns."""
    months, (y, m) = [], (today.year, today.month)
    for _ in range(25):
        months.append(f"{y}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    weeks = [(today - timedelta(weeks=n)).isocalendar() for n in range(0, 105)]
    quarters = [f"{yy}Q{q}" for yy in range(today.year, today.year - 3, -1) for q in range(4, 0, -1)
                if (yy, q) <= (today.year, (today.month + 2) // 3)]
    labels = {"month": months, "week": list(dict.fromkeys(f"{w.year}-W{w.week:02d}" for w in weeks)),
              "quarter": quarters, "year": [str(yy) for yy in range(today.year, today.year - 6, -1)],
              "day": [(today - timedelta(days=n)).isoformat() for n in range(31)], "campaign": campaign_ids}
    return {kind: [(p, period_name(p)) for p in ps] for kind, ps in labels.items()}


async def _reports_page(request: Request, actor: Actor, session: AsyncSession, status_code: int = 200,
                        error: str | None = None, values: dict[str, str] | None = None) -> HTMLResponse:
    items = await report_routes.list_reports(actor, session) if actor.role in access.ENDPOINTS["reports"] else []
    today = datetime.now(BEIJING).date()
    campaign_ids = [c["campaign_id"] for c in await campaign_routes.list_campaigns(actor, session)] \
        if actor.role in access.ENDPOINTS["read_campaigns"] else []
    values = values or {"kind": ReportKind.monthly_complaints.value}
    return render(request, "reports.html", actor, status_code, items=items, error=error, values=values,
                  kinds=[(k.value, TITLES[k], PERIOD_KINDS[k]) for k in ReportKind], period_names=PERIOD_NAMES,
                  periods=period_choices(today, campaign_ids), names=await choices.staff_names(session))


@router.get("/app/reports", response_class=HTMLResponse)
async def reports_page(request: Request, actor: Annotated[Actor, Depends(page_actor)],
                       session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    _may(actor, "reports")
    return await _reports_page(request, actor, session)


def chosen_period(kind: str, form: dict[str, str]) -> str:
    """The period the form names: written (2026年12月, 2026-12, 2026年第4季度…) or picked from the list of the
    report's own period kind; 422 in Chinese when it is not a period of that report."""
    written = form.get("period_text", "").strip()
    label = period_label(written) if written else form.get(f"period_{PERIOD_KINDS.get(kind, '')}", form.get("period", "")).strip()
    try:
        report_kind = ReportKind(kind)
    except ValueError:
        raise HTTPException(422, "报表：请从列表中选择") from None
    try:
        parse_period(report_kind, label)
    except ValueError:
        example = {"week": "2026年第48周", "month": "2026年12月", "quarter": "2026年第4季度", "year": "2026年",
                   "day": "2026年11月23日", "campaign": "HF-2026-000001"}[PERIOD_KINDS[report_kind]]
        raise HTTPException(422, f"期间：「{written or label or '（未选）'}」不是{TITLES[report_kind]}的期间；"
                                 f"请选择{PERIOD_NAMES[PERIOD_KINDS[report_kind]]}，或写作 {example}") from None
    return label


@router.post("/app/reports", response_class=HTMLResponse)
async def reports_generate(request: Request, actor: Annotated[Actor, Depends(page_actor)],
                           session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    form = await checked_form(request)
    try:
        _may(actor, "reports")
        kind = form.get("kind", "")
        body = report_routes.ReportRequest(kind=kind, period=chosen_period(kind, form))
        made = await report_routes.create_report(request, body, actor, session)
    except (HTTPException, ValidationError) as e:
        status_code = e.status_code if isinstance(e, HTTPException) else 422
        return await _reports_page(request, actor, session, status_code, refusal_text(e), form)
    return RedirectResponse(f"/app/reports/{made['id']}", status_code=303)


@router.get("/app/reports/{report_id:int}", response_class=HTMLResponse)
async def report_page(report_id: report_routes.ReportId, request: Request, actor: Annotated[Actor, Depends(page_actor)],
                      session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    _may(actor, "reports")
    try:
        report = await report_routes.get_report(report_id, actor, session)
    except HTTPException as e:
        raise PageError(actor, e.status_code, http_detail(e.detail, e.status_code)) from None
    return render(request, "report.html", actor, report=report, tables=tables(report), error=None,
                  names=await choices.staff_names(session))


@router.get("/app/reports/{report_id:int}.{fmt}")
async def report_file(report_id: report_routes.ReportId, fmt: Literal["csv", "xlsx", "png"], actor: Annotated[Actor, Depends(page_actor)],
                      session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """The downloads and the chart for the page's session (the API's own routes take a bearer token)."""
    _may(actor, "reports")
    route = {"csv": report_routes.report_csv, "xlsx": report_routes.report_xlsx, "png": report_routes.report_png}[fmt]
    return await route(report_id, actor, session)


@router.post("/app/reports/{report_id:int}/review", response_class=HTMLResponse)
async def report_review(report_id: report_routes.ReportId, request: Request, actor: Annotated[Actor, Depends(page_actor)],
                        session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    form = await checked_form(request)
    try:
        if actor.role not in access.ENDPOINTS["review_report"]:
            raise HTTPException(403, f"{role_title(actor.role)}不能审阅报表（K1：由总经理审阅）")
        body = report_routes.ReviewBody(comment=form.get("comment", ""))
        await report_routes.review_report(report_id, body, request, actor, session)
    except (HTTPException, ValidationError) as e:
        report = await report_routes.get_report(report_id, actor, session)
        status_code = e.status_code if isinstance(e, HTTPException) else 422
        return render(request, "report.html", actor, status_code, report=report, tables=tables(report),
                      error=refusal_text(e), names=await choices.staff_names(session))
    return RedirectResponse(f"/app/reports/{report_id}", status_code=303)


# ---- 短信记录 (O5): the SMS to owners, for cs_manager --------------------------------------------------
def _sms_status(row) -> str:
    """What became of one SMS, in words (E3's undeliverable with its reason, numbers masked)."""
    due = beijing_time(utc(row.send_at) if row.send_at else None)
    if row.status == "held":
        why = "免打扰时段 21:00–08:00" if quiet_until(utc(row.created_at)) \
            else f"本案当日已达 {SMS_PER_CASE_PER_DAY} 条"
        return f"暂缓（{why}），{due} 发送"
    return {"sent": f"已发送 {beijing_time(utc(row.sent_at))}" if row.sent_at else "已发送",
            "queued": f"待发送（{due}）", "sending": "发送中",
            "throttled": f"未发送（本案当日已达 {SMS_PER_CASE_PER_DAY} 条）",
            "opted_out": "未发送（业主已停止接收通知短信）",
            "undeliverable": f"无法送达：{mask_personal(row.last_error or '')}"}.get(row.status, row.status)


def _sms_view(row, outbox: bool) -> dict[str, Any]:
    """One SMS as the log shows it. O1: a sign-in code is 验证码短信, never its text. The link in the text is shown
    as a path of this server so that it is followed here — only with the embedded outbox provider: there the
    developer stands in for the owner's phone; with a real provider the link is the owner's alone (O4: whoever
    opens it acts as the owner), so it is shown without its token."""
    if row.kind == SmsKind.code.value:
        return {"row": row, "at": utc(row.created_at), "kind": SMS_KIND_NAMES[SmsKind.code], "parts": ("验证码短信（验证码不显示）", None, ""),
                "status": _sms_status(row)}
    text, link = row.text, (row.params or {}).get("link", "")
    pre, found, post = text.partition(link) if link else (text, "", "")
    if found:
        path = urlsplit(link).path
        shown = path if outbox or not path.startswith("/o/l/") else None
        parts = (pre, shown, post) if shown else (pre + "（链接仅发给业主本人）", None, post)
    else:
        parts = (text, None, "")
    return {"row": row, "at": utc(row.created_at), "kind": SMS_KIND_NAMES.get(SmsKind(row.kind), row.kind),
            "parts": parts, "status": _sms_status(row)}


@router.get("/app/sms", response_class=HTMLResponse)
async def sms_page(request: Request, actor: Annotated[Actor, Depends(page_actor)],
                   session: Annotated[AsyncSession, Depends(db_session)],
                   before: Annotated[int | None, Query(ge=1, description="older than this SMS")] = None) -> HTMLResponse:
    """短信记录: the SMS to owners of the cases this cs_manager may see (P2, P5), newest first, 100 a page. Any other
    role: not found (the page does not exist for them)."""
    if actor.role not in access.ENDPOINTS["sms_log"]:
        raise PageError(actor, 404, "页面不存在")
    rows = await sms_queue.visible_sms(session, actor, before=before, limit=SMS_PAGE + 1)
    outbox = request.app.state.settings.sms_provider == "outbox"
    return render(request, "sms.html", actor, items=[_sms_view(r, outbox) for r in rows[:SMS_PAGE]],
                  older=rows[SMS_PAGE - 1].id if len(rows) > SMS_PAGE else None, outbox=outbox)


SMS_PAGE = 100


# ---- revisit campaigns (V1–V3): planned by cs_manager, visits by the revisit staff, closed by cs_manager ----
SURVEY_ITEMS = ["房屋质量", "维修服务", "物业服务", "客户服务"]   # V3: the survey's items, each scored 1–5


async def _campaigns_page(request: Request, actor: Actor, session: AsyncSession, status_code: int = 200,
                          error: str | None = None, values: dict[str, str] | None = None) -> HTMLResponse:
    planner = actor.role in access.ENDPOINTS["plan_campaign"]
    today = datetime.now(BEIJING).date()
    values = values or {"kind": "first", "starts_on": today.isoformat(),
                        "ends_on": (today + timedelta(days=30)).isoformat(), "share": "0.10"}
    occupancy = await register.occupancy(session, scope=(actor.company_id, actor.project)) if planner else []  # P5
    if error:  # P7: the people a refusal names, by name and title
        error = with_names(error, await choices.staff_names(session))
    return render(request, "campaigns.html", actor, status_code, items=await campaign_routes.list_campaigns(actor, session),
                  planner=planner, error=error, values=values, occupancy=occupancy,
                  staff=await choices.campaign_staff(session, actor.company_id) if planner else [],
                  shares=["0.10", "0.15", "0.20", "0.25", "0.30"], key=uuid.uuid4().hex)


@router.get("/app/campaigns", response_class=HTMLResponse)
async def campaigns_page(request: Request, actor: Annotated[Actor, Depends(page_actor)],
                         session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    _may(actor, "read_campaigns")
    return await _campaigns_page(request, actor, session)


@router.post("/app/campaigns", response_class=HTMLResponse)
async def campaign_plan(request: Request, actor: Annotated[Actor, Depends(page_actor)],
                        session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """V1/V2: cs_manager plans a campaign for a project of the register, with the staff who visit."""
    form = await checked_form(request)
    _may(actor, "read_campaigns")
    try:
        if actor.role not in access.ENDPOINTS["plan_campaign"]:
            raise HTTPException(403, f"{role_title(actor.role)}不能安排回访活动（V1、V2：由客户服务部经理安排）")
        body = {"project": form.get("project", ""), "kind": form.get("kind", ""),
                "starts_on": form.get("starts_on", ""), "ends_on": form.get("ends_on", ""),
                "staff": [u for u in form.get("staff", "").split(",") if u]}
        if form.get("kind") == "annual" and form.get("share"):
            body["share"] = form["share"]
        plan = campaign_routes.CampaignRequest.model_validate(body)
        made = await campaign_routes.create_campaign(request, plan, actor, session,
                                                     idempotency_key=form.get("idempotency_key") or None)
    except (HTTPException, ValidationError) as e:
        status_code = e.status_code if isinstance(e, HTTPException) else 422
        return await _campaigns_page(request, actor, session, status_code, refusal_text(e), form)
    return RedirectResponse(f"/app/campaigns/{made['campaign_id']}?notice=回访活动已安排", status_code=303)


async def _households(session: AsyncSession, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's plan (V1: the occupied households; V2: the sample), each with whether it was visited."""
    from adapters.db.models import CampaignHousehold, CampaignVisit
    visited = set(await session.scalars(select(CampaignVisit.unit_id).where(CampaignVisit.campaign_id == campaign_id)))
    rows = await session.execute(select(PropertyUnit).join(
        CampaignHousehold, CampaignHousehold.unit_id == PropertyUnit.id).where(
        CampaignHousehold.campaign_id == campaign_id).order_by(PropertyUnit.building_key, PropertyUnit.unit_key))
    return [{"id": u.id, "label": f"{u.building} {u.unit}" + (f" · {u.owner_name}" if u.owner_name else ""),
             "visited": u.id in visited} for (u,) in rows]


async def _campaign_page(request: Request, actor: Actor, session: AsyncSession, campaign_id: str, *,
                         status_code: int = 200, error: str | None = None, form_name: str | None = None,
                         values: dict[str, str] | None = None, notice: str | None = None) -> HTMLResponse:
    _may(actor, "read_campaigns")
    try:
        campaign_routes._check_id(campaign_id)
        summary = await campaign_routes.visible_summary(request, session, campaign_id, actor)  # P5
    except HTTPException as e:
        raise PageError(actor, e.status_code, http_detail(e.detail, e.status_code)) from None
    running = summary.get("status") != "closed"
    now = datetime.now(BEIJING)
    names = await choices.staff_names(session)
    return render(request, "campaign.html", actor, status_code, c=summary, error=with_names(error, names) if error else error, form_name=form_name,
                  values=values or {"requested_appointment": (now + timedelta(days=1)).strftime("%Y-%m-%dT10:00")},
                  notice=notice, households=await _households(session, campaign_id),
                  may_visit=running and actor.role in access.ENDPOINTS["visit"],
                  may_close=running and actor.role in access.ENDPOINTS["plan_campaign"],
                  items=SURVEY_ITEMS, scale=SCALES["score"], categories=await choices.categories(session),
                  trades=await choices.trades(session), names=names, key=uuid.uuid4().hex)


@router.get("/app/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign_page(campaign_id: str, request: Request, actor: Annotated[Actor, Depends(page_actor)],
                        session: Annotated[AsyncSession, Depends(db_session)], notice: str | None = None) -> HTMLResponse:
    return await _campaign_page(request, actor, session, campaign_id, notice=notice)


def visit_body(form: dict[str, str]) -> dict[str, Any]:
    """The visit form as the API's VisitBody (V3): the survey items scored, the owner's point if one was raised."""
    body: dict[str, Any] = {
        "unit_id": int(form["unit_id"]) if form.get("unit_id", "").isdigit() else form.get("unit_id", ""),
        "mode": form.get("mode", ""), "second_visit": "second_visit" in form,
        "items": [{"item": item, "score": int(form[f"score_{n}"])} for n, item in enumerate(SURVEY_ITEMS)
                  if form.get(f"score_{n}", "").isdigit()]}
    if form.get("comments", "").strip():
        body["comments"] = form["comments"].strip()
    if form.get("point_text", "").strip():
        point: dict[str, Any] = {"text": form["point_text"].strip(), "handling": form.get("handling", "")}
        if form.get("answer", "").strip():
            point["answer"] = form["answer"].strip()
        if form.get("category"):
            point["category"] = form["category"]
        if form.get("trades"):
            point["trades"] = form["trades"].split(",")
            at = form.get("requested_appointment", "")
            point["requested_appointment"] = f"{at}:00+08:00" if len(at) == 16 else at
        body["points"] = [point]
    return body


@router.post("/app/campaigns/{campaign_id}/visits", response_class=HTMLResponse)
async def campaign_visit(campaign_id: str, request: Request, actor: Annotated[Actor, Depends(page_actor)],
                         session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """V3: one household's visit, recorded by the staff who made it."""
    form = await checked_form(request)
    try:
        if actor.role not in access.ENDPOINTS["visit"]:
            raise HTTPException(403, f"{role_title(actor.role)}不能记录回访（V3）")
        body = campaign_routes.VisitBody.model_validate(visit_body(form))
        await campaign_routes.record_visit(campaign_id, request, body, actor, session)
    except (HTTPException, ValidationError) as e:
        status_code = e.status_code if isinstance(e, HTTPException) else 422
        return await _campaign_page(request, actor, session, campaign_id, status_code=status_code,
                                    error=refusal_text(e), form_name="visit", values=form)
    return RedirectResponse(f"/app/campaigns/{campaign_id}?notice=回访已记录", status_code=303)


@router.post("/app/campaigns/{campaign_id}/close", response_class=HTMLResponse)
async def campaign_close(campaign_id: str, request: Request, actor: Annotated[Actor, Depends(page_actor)],
                         session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """V3: cs_manager closes the campaign with its closing note; the closing report follows."""
    form = await checked_form(request)
    try:
        if actor.role not in access.ENDPOINTS["plan_campaign"]:
            raise HTTPException(403, f"{role_title(actor.role)}不能结束回访活动（V3：由客户服务部经理结束）")
        body = campaign_routes.CloseBody.model_validate({"note": form.get("note", "")})
        await campaign_routes.close_campaign(campaign_id, request, body, actor, session)
    except (HTTPException, ValidationError) as e:
        status_code = e.status_code if isinstance(e, HTTPException) else 422
        return await _campaign_page(request, actor, session, campaign_id, status_code=status_code,
                                    error=refusal_text(e), form_name="close", values=form)
    return RedirectResponse(f"/app/campaigns/{campaign_id}?notice=回访活动已结束", status_code=303)
