"""Authentication: OAuth2 password flow at POST /auth/token issuing HS256 JWTs, the `current_actor`
dependency (every request re-checks the account in the read model, so deactivating an account locks
it out at once) and `require_roles(...)` for role-restricted endpoints (403 naming the roles allowed)."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import jwt
import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.actor import Actor
from aftersales.config import Settings
from aftersales.db.models import Staff
from aftersales.db.staff import authenticate, get_staff
from aftersales.roles import Role
from api.deps import db_session, settings_dep

ALGORITHM = "HS256"
BEARER = {"WWW-Authenticate": "Bearer"}

router = APIRouter(tags=["auth"])
# auto_error=False: a missing token gets this module's 401 detail instead of FastAPI's bare one.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: Role
    expires_in: int


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=BEARER)


def create_access_token(staff: Staff, settings: Settings, *, now: datetime | None = None) -> tuple[str, int]:
    """(JWT, seconds until it expires). Claims: sub=username, role, dept, iat, exp."""
    now = now or datetime.now(timezone.utc)
    ttl = timedelta(minutes=settings.jwt_ttl_minutes)
    claims: dict[str, Any] = {"sub": staff.username, "role": staff.role, "dept": staff.department,
                              "iat": now, "exp": now + ttl}
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM), int(ttl.total_seconds())


def decode_access_token(token: str, settings: Settings) -> dict[str, Any]:
    """The claims of a valid, unexpired token; HTTPException 401 otherwise."""
    try:
        return jwt.decode(token, settings.jwt_secret, algorithms=[ALGORITHM],
                          options={"require": ["sub", "role", "exp", "iat"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired: log in again at /auth/token") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("invalid token: log in at /auth/token") from None


@router.post("/auth/token", response_model=TokenResponse,
             summary="Log in (OAuth2 password flow): form fields username and password")
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()],
                session: Annotated[AsyncSession, Depends(db_session)],
                settings: Annotated[Settings, Depends(settings_dep)]) -> TokenResponse:
    staff = await authenticate(session, form.username, form.password, rounds=settings.bcrypt_rounds)
    if staff is None:
        raise _unauthorized("incorrect username or password")
    token, expires_in = create_access_token(staff, settings)
    return TokenResponse(access_token=token, role=Role(staff.role), expires_in=expires_in)


async def current_actor(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)],
                        settings: Annotated[Settings, Depends(settings_dep)]) -> Actor:
    """The authenticated staff member. 401 when the token is missing, malformed, forged or expired,
    or when the account no longer exists, is deactivated or has changed role since the token was
    issued. The Actor is built from the account as it is now in the read model."""
    if not token:
        raise _unauthorized("not authenticated: send 'Authorization: Bearer <token>' (POST /auth/token)")
    claims = decode_access_token(token, settings)
    async with request.app.state.sessionmaker() as session:
        staff = await get_staff(session, str(claims["sub"]))
    if staff is None or not staff.active:
        raise _unauthorized("account unknown or deactivated")
    if staff.role != claims["role"]:
        raise _unauthorized("the account's role changed since this token was issued: log in again")
    structlog.contextvars.bind_contextvars(user=staff.username, role=staff.role)  # on every log line of the request
    return actor_of(staff)


def actor_of(staff: Staff) -> Actor:
    """The Actor of an account as it is now: role and, where the role has one, department or contractor (P1)."""
    return Actor(username=staff.username, role=Role(staff.role), display_name=staff.display_name,
                 department=staff.department, contractor_id=staff.contractor_id)


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
