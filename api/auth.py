"""Authentication: OAuth2 password flow at POST /auth/token issuing HS256 JWTs, the `current_actor`
dependency and `require_roles(...)` for role-restricted endpoints (403 naming the roles allowed).

Signing in:
- failed sign-ins are counted per username and per client address over a sliding window
  (`LoginLimiter`); at the limit the answer is 429 with `Retry-After`, before any password is checked;
- the password hash is read in a short session that is closed before bcrypt runs, so a sign-in never
  holds a database connection while it hashes; at most `login_concurrent_checks` hashes run at once
  on worker threads and at most `login_max_waiting` wait (beyond: 429), so a flood of sign-ins cannot
  starve the pool, the event loop or the CPU for everybody else;
- a token carries the account's `version` (`ver`, bumped by every change of the account) and its own id
  (`jti`): a token of an account changed or deactivated since it was issued, or one signed out
  (`revoked_tokens`), is refused.

Every authenticated request reads the account and the revocation list in one query (P6): signing out and
any change to the account end the session at once, in every API process, whoever made the change (this
API, another replica, the CLI). Only the token's signature check is kept in memory (`VerifiedTokens`):
it cannot change. (Before P6 an in-process cache trusted an account's row for a few seconds, so another
process's change was seen late; the one query costs well under a millisecond on SQLite and PostgreSQL.)

The sign-in counters live in each API process: with several replicas behind a load balancer an
address may try `login_failures_per_* × replicas` times per window (docs/operations.md, "Signing in and its limits").
"""

import asyncio
import math
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import jwt
import structlog
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel
from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from aftersales.actions import SHORT_TEXT_PATTERN
from aftersales.actor import Actor
from adapters.config import Settings
from adapters.db import org
from adapters.db.models import RevokedToken, Staff
from adapters.db.staff import USERNAME_MAX, _dummy_hash, get_staff, verify_password
from aftersales.roles import Role
from api.deps import settings_dep

ALGORITHM = "HS256"
BEARER = {"WWW-Authenticate": "Bearer"}
PASSWORD_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # anything printable, spaces included
MAX_VERIFIED_TOKENS = 10_000  # verified tokens kept per API process (VerifiedTokens)
MAX_TRACKED_KEYS = 100_000  # usernames and addresses with recent failures kept in memory, at most

router = APIRouter(tags=["auth"])
# auto_error=False: a missing token gets this module's 401 detail instead of FastAPI's bare one.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
log = structlog.get_logger()


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: Role
    expires_in: int


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=BEARER)


def too_many(detail: str, retry_after: float) -> HTTPException:
    """429 with Retry-After in whole seconds (at least 1)."""
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=detail,
                         headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


def create_access_token(staff: Staff, settings: Settings, *, now: datetime | None = None) -> tuple[str, int]:
    """(JWT, seconds until it expires). Claims: sub=username, role, dept, ver (the account's version), jti (this
    token's id: what signing out revokes, P6), iat, exp."""
    now = now or datetime.now(timezone.utc)
    ttl = timedelta(minutes=settings.jwt_ttl_minutes)
    claims: dict[str, Any] = {"sub": staff.username, "role": staff.role, "dept": staff.department,
                              "ver": staff.version or 1, "jti": secrets.token_urlsafe(18), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM), int(ttl.total_seconds())


def decode_access_token(token: str, settings: Settings) -> dict[str, Any]:
    """The claims of a valid, unexpired token; HTTPException 401 otherwise (also for a token issued
    before tokens carried the account's version or their own id)."""
    try:
        return jwt.decode(token, settings.jwt_secret, algorithms=[ALGORITHM],
                          options={"require": ["sub", "role", "ver", "jti", "exp", "iat"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired: log in again at /auth/token") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("invalid token: log in at /auth/token") from None


# --- signing in: failure counters and the password-check gate ----------------------------------------

@dataclass
class _Counter:
    failures: deque[float] = field(default_factory=deque)
    pending: int = 0


class LoginLimiter:
    """Failed sign-ins per key (("user", name), ("addr", address)) over a sliding window. An attempt
    reserves a place on both keys before the password is checked, so N concurrent attempts cannot all
    slip under the limit; `finish` turns the reservation into a failure, or on success clears the
    username's failures. In memory, pruned as it goes and bounded (MAX_TRACKED_KEYS)."""

    def __init__(self, *, per_username: int, per_address: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"user": per_username, "addr": per_address}
        self.window, self.clock = window, clock
        self.counters: dict[tuple[str, str], _Counter] = {}

    def _counter(self, key: tuple[str, str], now: float) -> _Counter:
        c = self.counters.get(key)
        if c is None:
            if len(self.counters) >= MAX_TRACKED_KEYS:
                self._prune(now)
            c = self.counters[key] = _Counter()
        while c.failures and c.failures[0] <= now - self.window:
            c.failures.popleft()
        return c

    def _prune(self, now: float) -> None:
        for key in [k for k, c in self.counters.items() if not c.pending and (not c.failures or c.failures[-1] <= now - self.window)]:
            del self.counters[key]

    def reserve(self, username: str, address: str) -> list[tuple[str, str]]:
        """The keys reserved for this attempt; HTTPException 429 (Retry-After) when a limit is reached."""
        now = self.clock()
        keys = [("user", username[:128]), ("addr", address)]
        for key in keys:
            c = self._counter(key, now)
            if len(c.failures) + c.pending >= self.limits[key[0]]:
                retry_after = (c.failures[0] + self.window - now) if c.failures else 1
                what = "this username" if key[0] == "user" else "this address"
                log.warning("sign-in refused: too many failures", limit=key[0], retry_after=math.ceil(retry_after))
                raise too_many(f"too many failed sign-ins for {what}: try again in {max(1, math.ceil(retry_after))} s",
                               retry_after)
        for key in keys:
            self.counters[key].pending += 1
        return keys

    def finish(self, keys: Iterable[tuple[str, str]], *, failed: bool | None) -> None:
        """failed=True counts a failure, False (signed in) clears the username's failures, None only
        releases the reservation (the attempt was not decided, e.g. the gate was full)."""
        now = self.clock()
        for key in keys:
            c = self._counter(key, now)
            c.pending = max(0, c.pending - 1)
            if failed:
                c.failures.append(now)
            elif failed is False and key[0] == "user":
                c.failures.clear()
            if not c.pending and not c.failures:
                self.counters.pop(key, None)


class PasswordGate:
    """At most `concurrent` bcrypt checks at once on worker threads, and at most `max_waiting` more
    sign-ins admitted behind them; the rest are refused (429) before they read the database."""

    def __init__(self, concurrent: int, max_waiting: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrent)
        self.capacity, self.admitted = concurrent + max_waiting, 0

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        if self.admitted >= self.capacity:
            raise too_many("too many sign-ins at once: try again in a moment", 1)
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def verify(self, password: str, password_hash: str | None, rounds: int) -> bool:
        """bcrypt on a worker thread; without a hash (unknown username) against a dummy hash of the same
        cost, so that an unknown username takes as long as a known one."""
        async with self.semaphore:
            return await asyncio.to_thread(lambda: verify_password(password, password_hash or _dummy_hash(rounds)))


# --- the account, read on every request ----------------------------------------------------------------

@dataclass(frozen=True)
class Account:
    """What a request needs of an account: who acts, whether it may, the version tokens must carry, how pages
    name it (P7: name and title, the organisation's label), and whether the token at hand was signed out."""
    actor: Actor
    active: bool
    version: int
    label: str = ""
    token_revoked: bool = False


def actor_of(staff: Staff) -> Actor:
    """The Actor of an account as it is now: role and, where the role has one, department or contractor (P1)."""
    return Actor(username=staff.username, role=Role(staff.role), display_name=staff.display_name,
                 department=staff.department, contractor_id=staff.contractor_id,
                 company_id=staff.company_id, project=staff.project)  # P5: its scope


async def load_account(session, username: str, jti: str) -> Account | None:
    """The account and whether this token was signed out, in one query (P6)."""
    revoked = exists().where(RevokedToken.jti == jti).label("revoked")
    row = (await session.execute(select(Staff, revoked).where(Staff.username == username))).first()
    if row is None:
        return None
    staff, token_revoked = row
    names = await org.contractors(session) if staff.contractor_id else {}
    return Account(actor=actor_of(staff), active=staff.active, version=staff.version or 1,
                   label=org.person(staff, names).label, token_revoked=bool(token_revoked))


async def revoke_token(session, claims: dict[str, Any]) -> bool:
    """Signs a token out (P6): its id joins `revoked_tokens` until the token would have expired; rows of
    tokens expired since are dropped on the way. False when it was signed out already. Commits."""
    now = datetime.now(timezone.utc)
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    session.add(RevokedToken(jti=str(claims["jti"])[:64], username=str(claims["sub"])[:64],
                             expires_at=datetime.fromtimestamp(claims["exp"], timezone.utc)))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True


class VerifiedTokens:
    """Tokens whose signature and claims this process has checked, with their claims: a token is
    verified once, not on every request (the HMAC, JSON and claim checks cost ~0.13 ms of a request's
    ~4 ms of API CPU). Keyed by the whole token and the secret, so a token changed in any
    byte, or signed with another secret, is verified afresh (and refused). Expiry is checked on every
    use. Bounded: emptied when `max_entries` tokens are held (staff sign in a few times a day)."""

    def __init__(self, max_entries: int = MAX_VERIFIED_TOKENS, clock: Callable[[], float] = time.time) -> None:
        self.max_entries, self.clock = max_entries, clock
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}

    def claims(self, token: str, settings: Settings) -> dict[str, Any]:
        key = (settings.jwt_secret, token)
        claims = self.entries.get(key)
        if claims is None:
            claims = decode_access_token(token, settings)
            if len(self.entries) >= self.max_entries:
                self.entries.clear()
            self.entries[key] = claims
        if claims["exp"] <= self.clock():  # as PyJWT decides it (no leeway)
            self.entries.pop(key, None)
            raise _unauthorized("token expired: log in again at /auth/token")
        return claims


# --- per-app state -----------------------------------------------------------------------------------

@dataclass
class AuthState:
    limiter: LoginLimiter
    gate: PasswordGate
    tokens: VerifiedTokens = field(default_factory=VerifiedTokens)


def auth_state(app: FastAPI) -> AuthState:
    """The app's sign-in limiter, password gate and verified tokens, made from its settings on first use."""
    state = getattr(app.state, "auth", None)
    if state is None:
        s: Settings = app.state.settings
        state = app.state.auth = AuthState(
            limiter=LoginLimiter(per_username=s.login_failures_per_username, per_address=s.login_failures_per_address,
                                 window=s.login_failure_window_seconds),
            gate=PasswordGate(s.login_concurrent_checks, s.login_max_waiting))
    return state


def client_address(request: Request) -> str:
    """The peer address (behind a proxy: run uvicorn with --proxy-headers and --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


class LoginForm:
    """The OAuth2 password form (as OAuth2PasswordRequestForm) with bounded, printable fields: a
    username or password with control characters is refused (422) before any database read."""

    def __init__(
        self,
        username: Annotated[str, Form(min_length=1, max_length=USERNAME_MAX, pattern=SHORT_TEXT_PATTERN)],
        password: Annotated[str, Form(min_length=1, max_length=256, pattern=PASSWORD_PATTERN)],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        scope: Annotated[str, Form(max_length=256, pattern=PASSWORD_PATTERN)] = "",
        client_id: Annotated[str | None, Form(max_length=256, pattern=PASSWORD_PATTERN)] = None,
        client_secret: Annotated[str | None, Form(max_length=256, pattern=PASSWORD_PATTERN)] = None,
    ) -> None:
        self.username, self.password = username, password


@router.post("/auth/token", response_model=TokenResponse,
             summary="Log in (OAuth2 password flow): form fields username and password")
async def login(request: Request, form: Annotated[LoginForm, Depends()],
                settings: Annotated[Settings, Depends(settings_dep)]) -> TokenResponse:
    """401 for a wrong username or password (alike); 429 with Retry-After after too many failed
    sign-ins for the username or from the address, or when too many sign-ins wait at once."""
    auth = auth_state(request.app)
    keys = auth.limiter.reserve(form.username, client_address(request))
    failed: bool | None = None
    try:
        async with auth.gate.admit():
            async with request.app.state.sessionmaker() as session:
                staff = await get_staff(session, form.username)
            # the session is closed: its connection is back in the pool before bcrypt runs
            ok = await auth.gate.verify(form.password, staff.password_hash if staff else None, settings.bcrypt_rounds)
        failed = not ok or staff is None or not staff.active
    finally:
        auth.limiter.finish(keys, failed=failed)
    if failed:
        raise _unauthorized("incorrect username or password")
    token, expires_in = create_access_token(staff, settings)
    return TokenResponse(access_token=token, role=Role(staff.role), expires_in=expires_in)


async def token_claims(request: Request, token: str | None, settings: Settings) -> dict[str, Any]:
    """The claims of a well-signed, unexpired token; 401 otherwise."""
    if not token:
        raise _unauthorized("not authenticated: send 'Authorization: Bearer <token>' (POST /auth/token)")
    return auth_state(request.app).tokens.claims(token, settings)


async def current_actor(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)],
                        settings: Annotated[Settings, Depends(settings_dep)]) -> Actor:
    """The authenticated staff member. 401 when the token is missing, malformed, forged or expired, signed
    out, or when the account no longer exists, is deactivated or has changed since the token was issued
    (its version, or its role). The Actor is the account as it is now: read on every request (P6)."""
    claims = await token_claims(request, token, settings)
    async with request.app.state.sessionmaker() as session:
        account = await load_account(session, str(claims["sub"]), str(claims["jti"]))
    if account is None or not account.active:
        raise _unauthorized("account unknown or deactivated")
    if account.token_revoked:
        raise _unauthorized("已退出登录：请重新登录（this token was signed out）")
    if account.actor.role.value != claims["role"]:
        raise _unauthorized("the account's role changed since this token was issued: log in again")
    if account.version != claims["ver"]:
        raise _unauthorized("the account changed since this token was issued: log in again")
    actor = account.actor
    request.state.actor_label = account.label  # how the workbench's header names who is signed in (P7)
    structlog.contextvars.bind_contextvars(user=actor.username, role=actor.role.value)  # on every log line of the request
    return actor


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             summary="Sign out: this token is refused from now on, in every API process (P6)",
             responses={401: {"description": "no valid token (already signed out, expired, forged)"}})
async def logout(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)],
                 settings: Annotated[Settings, Depends(settings_dep)]) -> Response:
    await current_actor(request, token, settings)
    claims = await token_claims(request, token, settings)
    async with request.app.state.sessionmaker() as session:
        await revoke_token(session, claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def require_roles(*roles: Role) -> Callable[..., Awaitable[Actor]]:
    """A dependency returning the current Actor when its role is one of `roles`, else 403 naming the
    roles allowed, e.g. "role hotline may not do this; allowed: cs_staff, cs_manager"."""
    if not roles:
        raise ValueError("require_roles needs at least one role")
    allowed = tuple(Role(r) for r in roles)
    allowed_text = ", ".join(r.value for r in allowed)

    async def dependency(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"role {actor.role.value} may not do this; allowed: {allowed_text}")
        return actor

    dependency.__name__ = f"require_roles_{'_'.join(r.value for r in allowed)}"
    return dependency
