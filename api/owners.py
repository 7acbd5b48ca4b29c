"""The owner's pages under /o/ (O1–O3): mobile first, Chinese, server-rendered like the workbench, no script.

- Sign-in (O1): the phone, then a 6-digit code sent by SMS. Known and unknown numbers get the same page and the
  same limits (a code row is written for both; only a known number's code is sent). Codes are kept hashed
  and compared in constant time; per number one a minute and ten a day, per client address
  `owner_codes_per_address_per_hour` and `owner_code_failures_per_address` (429 with Retry-After).
- The owner's session is its own cookie (`owner_session`: HttpOnly, SameSite=Lax so that a link opened from the
  SMS app carries it, Path=/o/, owner_session_minutes), kept as a hash in `owner_sessions` and revocable; staff
  routes never read it, and these pages never read a staff token. A link from an SMS (/o/l/<token>) signs the
  owner in for its one case only.
- 我的房屋和案件: the units registered for the phone and the cases of the phone or those units, newest first;
  a case page with the status in plain words, what happens next and by when (Beijing time), and only the
  timeline entries meant for the owner (O2); a case that is not theirs is 404.
- 报修 / 投诉 for one of their units (O3): the same intake routes as the staff's (numbering, idempotency, the
  register's address), channel owner_app, the intake entry carrying the owner's provenance (O4).
- 需要您办理 (O3, rules 4): the acts that are the owner's now on a case — found by the case machine's own dry run
  for an owner actor (aftersales.offers), a link's session only its purpose's — as forms; each posted as the
  case's `act` Update with the owner as actor (bound to that case, vouched for by the API's assertion, P4) and
  the owner's provenance (O4), idempotent by the form's key (a double tap acts once).
- Every page: Content-Security-Policy (no script, no frames: frame-ancestors 'none'), no-store, no referrer."""

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db import owners as store
from adapters.db.numbering import case_of_key, request_fingerprint, scoped_key
from adapters.temporal import actor_assertion
from aftersales import offers
from aftersales.actions import ActionRequest, CaseAction
from aftersales.actor import OwnerActor
from aftersales.case import Ctx, check_time_reach
from aftersales.errors import Rejection
from adapters.db.models import OwnerSession
from adapters.sms.providers import provider_from_settings
from adapters.sms.queue import send_code
from adapters.temporal.sealing import app_sealer
from aftersales.actor import Actor
from aftersales.complaint.state import Channel, ComplaintIntake
from aftersales.messages import BEIJING, yuan
from aftersales.owners import (
    OWNER_DEADLINES, OWNER_ENTRY_NAMES, code_request_refusal, owner_entry, plain_status,
)
from aftersales.privacy import mask_phone_numbers_in, phone_lookup_hash
from aftersales.provenance import Means, Provenance
from aftersales.repair.state import RepairIntake
from aftersales.roles import Role
from api import cases as case_routes
from api import choices
from api import reports as report_routes
from api.auth import LoginLimiter, client_address
from api.deps import db_session
from api.wording import refusal
from workflows.case_workflow import CaseWorkflow

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates" / "owner")
OWNER_COOKIE = "owner_session"
# O2, O3: the owner's photos (api/owner_files.py, which builds on this module) register here when installed
PHOTOS: list[Any] = []
log = structlog.get_logger()

# O3: the intake routes want an Actor; an owner is no staff account. The case records this one as who registered
# it, and the intake entry's provenance says the owner gave it themselves (O4).
OWNER_APP = Actor(username="owner_app", role=Role.hotline, display_name="业主自助")
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "Cache-Control": "no-store",
           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
PHONE = re.compile(r"^1[3-9][0-9]{9}$")
CODE = re.compile(r"^[0-9]{6}$")
_RULE_IDS = re.compile(r"\s*[（(](?:[A-Z][0-9]+[a-z]?(?:/[A-Z0-9]+)?[、,，\s]*)+[）)]")
KINDS = {"repair": "报修", "complaint": "投诉"}
SENT = "如该号码已登记为业主，验证码已发送，5 分钟内有效。"


def beijing(at: datetime | None) -> str:
    if at is None:
        return "—"
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


templates.env.filters["bj"] = beijing


def csrf_token(cookie: str) -> str:
    return hashlib.sha256(b"aftersales-owner-csrf:" + cookie.encode()).hexdigest()[:32]


def render(request: Request, name: str, status_code: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    cookie = request.cookies.get(OWNER_COOKIE, "")
    response = templates.TemplateResponse(request, name, {"csrf": csrf_token(cookie) if cookie else "", **context},
                                          status_code=status_code)
    response.headers.update({**HEADERS, **(headers or {})})
    return response


class OwnerSignIn(Exception):
    """No owner session: the sign-in page."""


class OwnerNotFound(Exception):
    """What this owner may not see, or what does not exist: 404 (O2)."""


async def owner_session(request: Request, session: Annotated[AsyncSession, Depends(db_session)]) -> OwnerSession:
    row = await store.session_of(session, request.cookies.get(OWNER_COOKIE, ""), datetime.now(timezone.utc))
    if row is None:
        raise OwnerSignIn()
    structlog.contextvars.bind_contextvars(owner=row.phone_hmac[:8])   # never the number (P3)
    return row


async def checked_form(request: Request) -> dict[str, str]:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    cookie = request.cookies.get(OWNER_COOKIE, "")
    if not cookie or not hmac.compare_digest(form.pop("csrf", ""), csrf_token(cookie)):
        raise HTTPException(403, "表单已过期，请刷新页面后重试")
    return form


class _Limits:
    """Per client address (O1): codes asked and wrong codes per hour, in this process (as the staff sign-in)."""

    def __init__(self, codes: int, failures: int) -> None:
        self.codes = LoginLimiter(per_username=10**9, per_address=codes, window=3600)
        self.failures = LoginLimiter(per_username=10**9, per_address=failures, window=3600)


def limits(request: Request) -> _Limits:
    state = request.app.state
    if getattr(state, "owner_limits", None) is None:
        s = state.settings
        state.owner_limits = _Limits(s.owner_codes_per_address_per_hour, s.owner_code_failures_per_address)
    return state.owner_limits


def _too_many(request: Request, e: HTTPException, phone: str = "") -> HTMLResponse:
    return render(request, "login.html", 429, headers={"Retry-After": e.headers.get("Retry-After", "60")},
                  phone=phone, step="phone", error="请求过于频繁，请稍后再试")


async def backfill(app) -> None:
    """O1: the register's units imported before owners signed in get the keyed hash of their phone."""
    try:
        async with app.state.sessionmaker() as session:
            done = await store.backfill_unit_hashes(session, app_sealer(app.state).unseal,
                                                    app.state.settings.phone_lookup_key)
        if done:
            log.info("owner phones hashed for sign-in", units=done)
    except Exception as e:  # noqa: BLE001 — a read model not migrated yet: the next start does it
        log.warning("owner phone hashes not filled", error=repr(e)[:200])


def install(app) -> None:
    app.include_router(router)

    @app.exception_handler(OwnerSignIn)
    async def _sign_in(request: Request, exc: OwnerSignIn) -> Response:
        return RedirectResponse("/o/login", status_code=303, headers=HEADERS)

    @app.exception_handler(OwnerNotFound)
    async def _not_found(request: Request, exc: OwnerNotFound) -> Response:
        return render(request, "error.html", 404, message="没有找到该页面或案件")


# ---- sign-in ---------------------------------------------------------------------------------------------
@router.get("/o")
@router.get("/o/")
async def owner_root(request: Request) -> RedirectResponse:
    return RedirectResponse("/o/home" if request.cookies.get(OWNER_COOKIE) else "/o/login", status_code=303)


@router.get("/o/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", step="phone", phone="", error=None)


def _phone(raw: str) -> str:
    digits = re.sub(r"[\s\-]", "", raw or "")
    return digits[3:] if digits.startswith("+86") else digits


@router.post("/o/login/code", response_class=HTMLResponse)
async def ask_code(request: Request, background: BackgroundTasks,
                   session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    """O1: a code for the number. The answer is the same whether the number is an owner's or not."""
    form = await request.form()
    phone = _phone(str(form.get("phone", "")))
    if not PHONE.match(phone):
        return render(request, "login.html", 422, step="phone", phone=str(form.get("phone", ""))[:20],
                      error="请输入 11 位手机号码")
    settings = request.app.state.settings
    phone_hmac = phone_lookup_hash(phone, settings.phone_lookup_key)
    keys: list = []
    try:
        keys = limits(request).codes.reserve(phone_hmac, client_address(request))
    except HTTPException as e:
        return _too_many(request, e, phone)
    finally:
        if keys:
            limits(request).codes.finish(keys, failed=True)   # every code asked counts for the address
    now = datetime.now(timezone.utc)
    refused = code_request_refusal(await store.codes_asked(session, phone_hmac, now - timedelta(days=1)), now)
    if refused is not None:
        return render(request, "login.html", 429, headers={"Retry-After": str(refused.retry_after)},
                      step="code" if refused.reason == "too_soon" else "phone", phone=phone, error=refused.message)
    code = store.new_code()
    await store.add_code(session, phone_hmac, store.code_hash(phone_hmac, code, settings.phone_lookup_key), now)
    if await store.is_owner(session, phone_hmac):
        # sent after the answer: the answer takes as long for an unknown number as for a known one
        background.add_task(send_code, request.app.state.sessionmaker, _provider(request), app_sealer(request.app.state).seal,
                            phone=phone, phone_hmac=phone_hmac, code=code, now=now)
    log.info("owner code asked")
    return render(request, "login.html", step="code", phone=phone, error=None, notice=SENT)


def _provider(request: Request):
    state = request.app.state
    if getattr(state, "sms_provider", None) is None:
        state.sms_provider = provider_from_settings(state.settings)
    return state.sms_provider


@router.post("/o/login", response_class=HTMLResponse)
async def sign_in(request: Request, session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    form = await request.form()
    phone, code = _phone(str(form.get("phone", ""))), str(form.get("code", "")).strip()
    if not PHONE.match(phone) or not CODE.match(code):
        return render(request, "login.html", 422, step="code", phone=phone if PHONE.match(phone) else "",
                      error="请输入手机号码和 6 位验证码")
    settings = request.app.state.settings
    phone_hmac = phone_lookup_hash(phone, settings.phone_lookup_key)
    try:
        keys = limits(request).failures.reserve(phone_hmac, client_address(request))
    except HTTPException as e:
        return _too_many(request, e, phone)
    now = datetime.now(timezone.utc)
    ok = await store.check_code(session, phone_hmac, code, settings.phone_lookup_key, now)
    ok = ok and await store.is_owner(session, phone_hmac)
    limits(request).failures.finish(keys, failed=not ok)
    if not ok:
        return render(request, "login.html", 401, step="code", phone=phone, error="验证码错误或已失效，请重新获取")
    token = await store.open_session(session, phone_hmac, means=Means.code.value, now=now,
                                     ttl=timedelta(minutes=settings.owner_session_minutes))
    log.info("owner signed in", means="code")
    return _with_cookie(request, RedirectResponse("/o/home", status_code=303), token)


def _with_cookie(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(OWNER_COOKIE, token, max_age=request.app.state.settings.owner_session_minutes * 60,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/o/")
    response.headers.update(HEADERS)
    return response


CAMPAIGN_LINK = re.compile(r"^HF-\d{4}-\d{6}$")   # a link for a campaign's survey (V3) carries the campaign's id


@router.get("/o/l/{token}")
async def open_link(token: str, request: Request, session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """O1: a link sent by SMS signs the owner in for its one case and purpose, once, within 7 days."""
    settings = request.app.state.settings
    now = datetime.now(timezone.utc)
    link = await store.use_link(session, token, settings.jwt_secret, now)
    if link is None:
        return render(request, "error.html", 404, message="链接无效、已使用或已过期。请用手机号码和验证码登录。")
    session_token = await store.open_session(session, link.phone_hmac, means=Means.link.value, now=now,
                                             ttl=timedelta(minutes=settings.owner_session_minutes),
                                             case_no=link.case_no, purpose=link.purpose)
    log.info("owner signed in", means="link", purpose=link.purpose)
    target = f"/o/cases/{link.case_no}"
    if CAMPAIGN_LINK.match(link.case_no):
        # V3: a campaign's survey link: the owner's household in it not yet answered (the session: that campaign only)
        open_ = [u for c, u in await store.open_surveys(session, link.phone_hmac) if c.campaign_id == link.case_no]
        if not open_:
            return _with_cookie(request, render(request, "done.html", title="回访调查",
                                                message="该回访调查已填写或已结束，感谢您的参与。"), session_token)
        target = f"/o/surveys/{link.case_no}/{open_[0].id}"
    return _with_cookie(request, RedirectResponse(target, status_code=303), session_token)


@router.post("/o/logout")
async def sign_out(request: Request, owner: Annotated[OwnerSession, Depends(owner_session)],
                   session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    await checked_form(request)
    await store.revoke_session(session, request.cookies.get(OWNER_COOKIE, ""), datetime.now(timezone.utc))
    response = RedirectResponse("/o/login", status_code=303, headers=HEADERS)
    response.delete_cookie(OWNER_COOKIE, path="/o/")
    return response


# ---- 我的房屋和案件 ----------------------------------------------------------------------------------------
def _case_item(case) -> dict[str, Any]:
    words, _ = plain_status(case.status)
    return {"case_no": case.case_no, "kind": KINDS.get(case.case_type, case.case_type), "status": words,
            "received_at": case.received_at, "address": f"{case.project} {case.building or ''} {case.unit or ''}".strip(),
            "category": case.category, "closed": case.closed_at is not None}


def _only_own_case(owner: OwnerSession, case_no: str | None = None) -> None:
    """A link's session is for its one case (O1): every other page of the owner is not there for it."""
    if owner.case_no is not None and owner.case_no != case_no:
        raise OwnerNotFound()


@router.get("/o/home", response_class=HTMLResponse)
async def home(request: Request, owner: Annotated[OwnerSession, Depends(owner_session)],
               session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    _only_own_case(owner)
    units = await store.owner_units(session, owner.phone_hmac)
    cases = await store.owner_cases(session, owner.phone_hmac)
    return render(request, "home.html", units=units, cases=[_case_item(c) for c in cases],
                  surveys=await store.open_surveys(session, owner.phone_hmac),
                  opted_out=await store.opted_out(session, owner.phone_hmac),
                  notice=request.query_params.get("notice"))


@router.post("/o/settings/sms")
async def sms_setting(request: Request, owner: Annotated[OwnerSession, Depends(owner_session)],
                      session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """O5: stop (or resume) the SMS an owner may stop; sign-off and survey links still come."""
    _only_own_case(owner)
    form = await checked_form(request)
    stop = form.get("stop") == "1"
    await store.set_opt_out(session, owner.phone_hmac, stop, datetime.now(timezone.utc))
    notice = "已停止接收通知短信（签认和回访短信仍会发送）" if stop else "已恢复接收通知短信"
    return RedirectResponse(f"/o/home?notice={notice}", status_code=303, headers=HEADERS)


# ---- a case --------------------------------------------------------------------------------------------
def owner_text(text: str) -> str:
    """An entry's text for the owner: rule ids left out, any phone number masked (O2: never staff phones)."""
    return mask_phone_numbers_in(_RULE_IDS.sub("", text or "")).strip()


async def _owner_case_or_404(session: AsyncSession, owner: OwnerSession, case_no: str, wait: bool = False):
    _only_own_case(owner, case_no)
    if not case_routes.CASE_NO.match(case_no):
        raise OwnerNotFound()
    deadline = time.monotonic() + (8.0 if wait else 0)
    while True:
        case = await store.owner_case(session, owner.phone_hmac, case_no)
        if case is not None or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.25)   # just filed: the register follows the case within moments
        session.expire_all()
    if case is None:
        raise OwnerNotFound()
    return case


@router.get("/o/cases/{case_no}", response_class=HTMLResponse)
async def case_page(case_no: str, request: Request, owner: Annotated[OwnerSession, Depends(owner_session)],
                    session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    case = await _owner_case_or_404(session, owner, case_no, wait=request.query_params.get("filed") == "1")
    return await _case(request, session, owner, case, notice=request.query_params.get("notice"))


async def _case(request: Request, session: AsyncSession, owner: OwnerSession, case, *, notice: str | None = None,
                error: str | None = None, status_code: int = 200, posted: dict[str, str] | None = None) -> HTMLResponse:
    case_no = case.case_no
    view = await _live(request, session, case_no)
    acts = await acts_now(request, session, owner, view) if view is not None else []
    words, next_step = plain_status(case.status)
    due = await store.open_deadlines(session, case_no)
    by_when = next((due[k] for k in OWNER_DEADLINES if k in due), None) if case.closed_at is None else None
    entries = [{"at": e.at, "what": OWNER_ENTRY_NAMES.get(e.kind, ""), "text": owner_text(e.text),
                "given": Provenance.model_validate(e.provenance).owner_words() if e.provenance else None}
               for e in await store.timeline(session, case_no) if owner_entry(e.kind)]
    owner_files = PHOTOS[0]   # O2, O3: the case's photos meant for the owner, and adding more
    return render(request, "case.html", status_code, case=_case_item(case), words=words, next_step=next_step,
                  by_when=by_when, entries=entries, one_case=owner.case_no is not None, notice=notice, error=error,
                  acts=acts, ask=owner_view(view) if view is not None else {}, key=uuid.uuid4().hex,
                  posted=posted or {}, scores=SCORES, satisfaction=SATISFACTION,
                  soon=(datetime.now(BEIJING) + timedelta(days=1)).strftime("%Y-%m-%dT10:00"),
                  **owner_files.page_context(case, await owner_files.case_photos(request, session, case_no)))


# ---- the owner's own acts (O3, O4; rules 4) ------------------------------------------------------------------
# O1: a link is for one case and one act: its session may do only that purpose's acts (a code's session: all)
PURPOSE_ACTS = {"appointment": {"accept_appointment", "request_appointment"}, "quote": {"accept_quote", "decline_quote"},
                "sign_off": {"owner_sign_off", "refuse_sign_off"}, "survey": {"revisit", "record_satisfaction"},
                "consent": {"consent_extension", "refuse_extension"}}
ACT_ORDER = ("accept_appointment", "request_appointment", "consent_extension", "refuse_extension", "accept_quote",
             "decline_quote", "owner_sign_off", "refuse_sign_off", "revisit", "record_satisfaction")
ACT_DONE = {"accept_appointment": "已确认上门时间", "request_appointment": "已提交希望的上门时间",
            "consent_extension": "已同意延期", "refuse_extension": "已告知不同意延期", "accept_quote": "已确认报价并签名",
            "decline_quote": "已告知不接受报价", "owner_sign_off": "已签认完工，感谢您的评价", "refuse_sign_off": "已告知未签认的理由",
            "revisit": "感谢您的评价", "record_satisfaction": "感谢您的评价"}
SCORES = [("5", "5 很好"), ("4", "4 好"), ("3", "3 一般"), ("2", "2 差"), ("1", "1 很差")]
SATISFACTION = [("5", "5 非常满意"), ("4", "4 满意"), ("3", "3 一般"), ("2", "2 不满意"), ("1", "1 非常不满意")]


def owner_actor(owner: OwnerSession, case_no: str) -> OwnerActor:
    """O3: the owner as actor of this case, by how they signed in (O4: code or link)."""
    return OwnerActor(case_no=case_no, means=owner.means)


async def _live(request: Request, session: AsyncSession, case_no: str) -> dict[str, Any] | None:
    """The case as its workflow holds it (what may be done now); None when it cannot be read now (the page still
    shows the register's status and timeline)."""
    try:
        return await case_routes._read_view(request, session, case_no)
    except HTTPException:
        return None


async def acts_now(request: Request, session: AsyncSession, owner: OwnerSession, view: dict[str, Any]) -> list[str]:
    """O3: what the owner may do on the case now — the machine's own dry run for the owner actor (the Update's
    validator runs the same), a link's session only its purpose's acts."""
    if view.get("source") == "register" or view.get("closed_at"):
        return []
    settings = request.app.state.settings
    machine = offers.machine_of(view)
    now = datetime.now(timezone.utc)
    local = now.astimezone(BEIJING)
    cal = await report_routes._calendar(request, session, [local.year, local.year + 1])
    ctx = Ctx(now=now, cal=cal, ladder=settings.escalation_ladder, rules_version=machine.state.rules_version,
              time_tolerance=timedelta(minutes=settings.time_tolerance_minutes))
    offered = set(offers.offered_actions(machine, owner_actor(owner, view["case_no"]), ctx))
    allowed = PURPOSE_ACTS.get(owner.purpose or "", set(ACT_ORDER)) if owner.purpose else set(ACT_ORDER)
    return [a for a in ACT_ORDER if a in offered and a in allowed]


def owner_view(view: dict[str, Any]) -> dict[str, Any]:
    """O2: of the live case, only what the owner's forms need: the time proposed, the time they asked for, more time
    asked (new due, why), the quote they pay (lines and total). Never staff, costs or notes."""
    quote = view.get("quote") or {}
    asked = view.get("extension_asked") or {}
    return {"proposed_appointment": _at(view.get("proposed_appointment")),
            "requested_appointment": _at(view.get("requested_appointment")),
            "extension": {"new_due_at": _at(asked.get("new_due_at")), "reason": owner_text(asked.get("reason") or "")}
            if asked else None,
            "quote": {"lines": [{"name": ln.get("name"), "quantity": ln.get("quantity"), "unit": ln.get("unit"),
                                 "amount": yuan(ln.get("amount"))} for ln in quote.get("lines") or []],
                      "total": yuan(quote.get("total"))} if quote else None,
            "owner_name": (view.get("customer") or {}).get("name") or ""}


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def act_body(name: str, form: dict[str, str], now: datetime) -> dict[str, Any]:
    """The action the owner's form asks for (never a `told_via`: the owner's own act)."""
    def score(field: str) -> int | str | None:
        raw = form.get(field, "").strip()
        return int(raw) if raw.isdigit() else (raw or None)

    def text(field: str) -> str | None:
        return form.get(field, "").strip() or None

    body: dict[str, Any] = {"action": name}
    if name == "request_appointment":
        raw = form.get("appointment_at", "").strip()
        body["appointment_at"] = f"{raw}:00+08:00" if len(raw) == 16 else raw
        body["note"] = text("note")
    elif name == "refuse_extension":
        body["reason"] = text("reason")
    elif name == "accept_quote":
        body.update(signed_by=form.get("signed_by", "").strip(), signed_at=now.isoformat())   # R3: typed name + time
    elif name in ("decline_quote", "refuse_sign_off"):
        body["reason"] = form.get("reason", "").strip()
        if name == "refuse_sign_off":
            body.update(quality=score("quality"), attitude=score("attitude"))
    elif name == "owner_sign_off":
        body.update(quality=score("quality"), attitude=score("attitude"), comment=text("comment"))
    elif name == "revisit":
        body.update(satisfaction=score("satisfaction"), quality=score("quality"), attitude=score("attitude"),
                    note=text("note"))
        if isinstance(body["satisfaction"], int) and body["satisfaction"] <= 2:
            body["follow_up"] = "cs_manager_follow_up"   # V3: cs_manager follows a dissatisfied owner up
    elif name == "record_satisfaction":
        body.update(score=score("score"), comment=text("comment"))
    return {k: v for k, v in body.items() if v is not None}


@router.post("/o/cases/{case_no}/act/{name}", response_class=HTMLResponse)
async def owner_act(case_no: str, name: str, request: Request, owner: Annotated[OwnerSession, Depends(owner_session)],
                    session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """O3: one act of the owner on their case, as the case's `act` Update with the owner as actor (O4: the owner's
    provenance, P4: vouched for), refused whole with the reason in words (409 not now, 422 what is wrong)."""
    form = await checked_form(request)
    case = await _owner_case_or_404(session, owner, case_no)
    view = await _live(request, session, case_no)
    if view is None:
        return await _case(request, session, owner, case, error="系统繁忙，请稍后再试", status_code=503)
    if name not in await acts_now(request, session, owner, view):
        return await _case(request, session, owner, case, error="此事项现在无须办理或已办理", status_code=409)
    now = datetime.now(timezone.utc)
    try:
        action = TypeAdapter(CaseAction).validate_python(act_body(name, form, now))
        check_time_reach(action, now)
    except ValidationError as e:
        return await _case(request, session, owner, case, error=refusal(e)[0], status_code=422, posted=form)
    except Rejection as r:
        return await _case(request, session, owner, case, error=owner_text(r.message), status_code=422, posted=form)
    # A retried form (a double tap, a reload) acts once: its key scoped to the case and this owner, its fingerprint
    # the form as typed (the signature's time is the first send's)
    key = re.sub(r"[^0-9a-f-]", "", form.get("key", ""))[:48] or uuid.uuid4().hex
    request_key = scoped_key("action", case_no, f"owner:{owner.phone_hmac[:16]}", key)
    fingerprint = request_fingerprint({"act": name, **{k: v for k, v in sorted(form.items()) if k != "key"}})
    act_request = ActionRequest(action=action, actor=owner_actor(owner, case_no), request_key=request_key,
                                fingerprint=fingerprint)
    act_request.assertion = actor_assertion.sign(case_no, act_request, request.app.state.settings.actor_assertion_key)
    handle = case_routes._handle(case_routes.temporal(request), case_no)
    try:
        await case_routes._update(request, handle, CaseWorkflow.act, act_request,
                                  update_id=f"act-{request_key}-{fingerprint[:16]}")
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type in case_routes.ERROR_STATUS:
            log.info("owner act refused", act=name, reason=cause.type)
            return await _case(request, session, owner, case, error=owner_text(cause.message),
                               status_code=case_routes.ERROR_STATUS[cause.type], posted=form)
        raise
    except (HTTPException, RPCError) as e:
        return await _case(request, session, owner, case, error="系统繁忙，请稍后再试（您的操作可能已提交，请刷新查看）",
                           status_code=e.status_code if isinstance(e, HTTPException) else 503)
    log.info("owner acted", act=name, case_no=case_no)
    return RedirectResponse(f"/o/cases/{case_no}?notice={ACT_DONE[name]}", status_code=303, headers=HEADERS)


# ---- 报修 / 投诉 ---------------------------------------------------------------------------------------------
async def _unit_or_404(session: AsyncSession, owner: OwnerSession, unit_id: str):
    _only_own_case(owner)
    unit = await store.owner_unit(session, owner.phone_hmac, int(unit_id)) if unit_id.isdigit() else None
    if unit is None:
        raise OwnerNotFound()
    return unit


async def _new_page(request: Request, session: AsyncSession, kind: str, unit, values: dict[str, str],
                    error: str | None = None, status_code: int = 200) -> HTMLResponse:
    if kind == "repair" and not values.get("requested_appointment"):
        values = {**values, "requested_appointment": (datetime.now(BEIJING) + timedelta(days=1)).strftime("%Y-%m-%dT10:00")}
    return render(request, "new.html", status_code, kind=kind, title=KINDS[kind], unit=unit, values=values,
                  error=error, key=values.get("key") or uuid.uuid4().hex, trades=await choices.trades(session),
                  categories=await choices.categories(session))


@router.get("/o/new/{kind}", response_class=HTMLResponse)
async def new_case(kind: Literal["repair", "complaint"], request: Request,
                   owner: Annotated[OwnerSession, Depends(owner_session)],
                   session: Annotated[AsyncSession, Depends(db_session)], unit: str = "") -> HTMLResponse:
    return await _new_page(request, session, kind, await _unit_or_404(session, owner, unit), {})


@router.post("/o/new/{kind}", response_class=HTMLResponse)
async def file_case(kind: Literal["repair", "complaint"], request: Request,
                    owner: Annotated[OwnerSession, Depends(owner_session)],
                    session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """O3: a repair or complaint for one of the owner's units, through the staff's intake (channel owner_app),
    idempotent by the form's key (a double tap files one case). Photos sent with it (D1) are checked before the
    case is filed and attached to it after (api/owner_files.py)."""
    owner_files = PHOTOS[0]
    try:
        form, photos = await owner_files.filing_form(request)
    except owner_files.PhotosRefused as r:
        if r.status == 403:
            raise HTTPException(403, r.detail) from None
        unit = await _unit_or_404(session, owner, r.fields.get("unit_id", ""))
        return await _new_page(request, session, kind, unit, {**r.fields, "unit_id": str(unit.id)},
                               f"{r.detail}。请重新选择照片后提交。", r.status)
    try:
        return await _file_case(kind, request, owner, session, form, photos)
    finally:
        for c in photos:
            c.close()


async def _file_case(kind: str, request: Request, owner: OwnerSession, session: AsyncSession, form: dict[str, str],
                     photos: list) -> Response:
    owner_files = PHOTOS[0]
    unit = await _unit_or_404(session, owner, form.get("unit_id", ""))
    if not unit.owner_phone_sealed:
        raise OwnerNotFound()
    key = re.sub(r"[^0-9a-f]", "", form.get("key", ""))[:32]
    if key and (case_no := await case_of_key(session, kind, f"owner-{key}")) is not None:
        # the same form sent again (a double tap, a retry): its case, not a second one. Checked before the intake:
        # the provenance's time differs between the two sends, which the intake's fingerprint would refuse.
        failed = await owner_files.attach_to_filed(request, session, owner, case_no, photos, key)
        return RedirectResponse(f"/o/cases/{case_no}?filed=1" + (f"&notice={failed}" if failed else ""),
                                status_code=303, headers=HEADERS)
    phone = app_sealer(request.app.state).unseal(unit.owner_phone_sealed)   # the owner's own number (their unit's)
    now = datetime.now(timezone.utc)
    customer = {"name": unit.owner_name or "业主", "phone": re.sub(r"\D", "", phone), "project": unit.project,
                "building": unit.building, "unit": unit.unit, "unit_id": unit.id}
    provenance = Provenance.by_owner(Means(owner.means), now).model_dump(mode="json")
    body: dict[str, Any] = {"customer": customer, "description": form.get("description", "").strip(),
                            "provenance": provenance}
    try:
        if kind == "complaint":
            body.update(channel=Channel.owner_app.value, category=form.get("category", ""))
            intake = ComplaintIntake.model_validate(body)
            route = case_routes.create_complaint
        else:
            at = form.get("requested_appointment", "")
            body.update(channel="owner_app", trades=[t for t in [form.get("trade", "")] if t],
                        requested_appointment=datetime.fromisoformat(at).replace(tzinfo=BEIJING).isoformat() if at else "")
            intake = RepairIntake.model_validate(body)
            route = case_routes.create_repair
        answer = await route(request=request, intake=intake, actor=OWNER_APP, session=session,
                             idempotency_key=f"owner-{key}" if key else None, prefer=case_routes.MINIMAL)
    except (HTTPException, ValidationError, ValueError) as e:
        if isinstance(e, ValueError) and not isinstance(e, ValidationError):
            text, code = "请选择希望上门的时间", 422
        else:
            text, code = refusal(e)[0], (e.status_code if isinstance(e, HTTPException) else 422)
        return await _new_page(request, session, kind, unit, {**form, "unit_id": str(unit.id)}, text, code)
    if answer.status_code != status.HTTP_201_CREATED:   # registered, not open yet: it shows in the list soon
        later = "；照片请在案件页面重新添加" if photos else ""
        return RedirectResponse(f"/o/home?notice=已提交，稍后可在列表中查看{later}", status_code=303, headers=HEADERS)
    case_no = json.loads(answer.body)["case_no"]
    log.info("owner filed a case", case_no=case_no, kind=kind)
    failed = await owner_files.attach_to_filed(request, session, owner, case_no, photos, key)
    return RedirectResponse(f"/o/cases/{case_no}?filed=1&notice=已提交" + (f"，{failed}" if failed else ""),
                            status_code=303, headers=HEADERS)



# ---- V3, O3: a revisit campaign's survey the owner answers themselves ---------------------------------------------
SURVEY_ITEMS = ("房屋质量", "维修服务", "物业服务", "客户服务")   # the campaign's survey items (the workbench's form)


async def _survey_or_404(session: AsyncSession, owner: OwnerSession, campaign_id: str, unit_id: str):
    """The running campaign and the owner's household in its plan, not yet visited; else 404 (O2). A link's session
    (O1): its own campaign's survey only."""
    _only_own_case(owner, campaign_id)
    for campaign, unit in await store.open_surveys(session, owner.phone_hmac):
        if campaign.campaign_id == campaign_id and str(unit.id) == unit_id:
            return campaign, unit
    raise OwnerNotFound()


def _survey_page(request: Request, campaign, unit, error: str | None = None, status_code: int = 200,
                 posted: dict[str, str] | None = None, one_case: bool = False) -> HTMLResponse:
    return render(request, "survey.html", status_code, campaign=campaign, unit=unit, items=SURVEY_ITEMS,
                  scale=SATISFACTION, error=error, posted=posted or {}, one_case=one_case)


@router.get("/o/surveys/{campaign_id}/{unit_id}", response_class=HTMLResponse)
async def survey_page(campaign_id: str, unit_id: str, request: Request,
                      owner: Annotated[OwnerSession, Depends(owner_session)],
                      session: Annotated[AsyncSession, Depends(db_session)]) -> HTMLResponse:
    campaign, unit = await _survey_or_404(session, owner, campaign_id, unit_id)
    return _survey_page(request, campaign, unit, one_case=owner.case_no is not None)


@router.post("/o/surveys/{campaign_id}/{unit_id}", response_class=HTMLResponse)
async def answer_survey(campaign_id: str, unit_id: str, request: Request,
                        owner: Annotated[OwnerSession, Depends(owner_session)],
                        session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """V3, O3, O4: the owner's own answer to the campaign's survey for their household, as the campaign's
    `record_visit` Update with the owner as actor (bound to the campaign and the household), mode `self`."""
    from aftersales.campaign import VisitBody, VisitRequest
    from api import campaigns as campaign_routes
    from workflows.campaign import CampaignWorkflow
    form = await checked_form(request)
    campaign, unit = await _survey_or_404(session, owner, campaign_id, unit_id)
    try:
        body = VisitBody.model_validate({
            "unit_id": unit.id, "mode": "self",
            "items": [{"item": item, "score": int(form[f"score_{n}"])} for n, item in enumerate(SURVEY_ITEMS)
                      if form.get(f"score_{n}", "").isdigit()],
            **({"comments": form["comments"].strip()} if form.get("comments", "").strip() else {})})
        await campaign_routes._update(request, campaign_id, CampaignWorkflow.record_visit, VisitRequest(
            visit=body, actor=OwnerActor(case_no=campaign_id, means=owner.means, unit_id=unit.id)))
    except (HTTPException, ValidationError) as e:
        code = e.status_code if isinstance(e, HTTPException) else 422
        return _survey_page(request, campaign, unit, owner_text(refusal(e)[0]), code, form,
                            one_case=owner.case_no is not None)
    log.info("owner answered a campaign survey", campaign_id=campaign_id)
    if owner.case_no is not None:   # a link's session (O1) has no home page: the thanks on the page itself
        return render(request, "done.html", title="回访调查", message="感谢您参加回访调查！")
    return RedirectResponse("/o/home?notice=感谢您参加回访调查", status_code=303, headers=HEADERS)
