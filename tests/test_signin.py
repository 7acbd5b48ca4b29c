"""Signing in and authentication without a database read per request:
failed sign-ins limited per username and per client address (429 with Retry-After, before any password
is checked), bcrypt never holding a database connection, tokens refused once their account changed
(`ver`), and the in-process account cache (a few seconds, forgotten at once when this process changes
the account)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi import Depends, FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import api.auth as auth
from aftersales.actor import Actor
from adapters.config import Settings
from adapters.db.models import Base
from adapters.db.session import make_engine, make_sessionmaker
from adapters.db.staff import get_staff, hash_password, seed_demo_staff, set_active, touch
from api.auth import LoginLimiter, current_actor
from tests.test_auth import PASSWORD, bearer, login



class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signin_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'signin.db'}", bcrypt_rounds=4,
                    demo_password=PASSWORD, jwt_secret="test-secret-" + "x" * 40, jwt_ttl_minutes=30,
                    login_failures_per_username=3, login_failures_per_address=5, login_failure_window_seconds=600)


@pytest_asyncio.fixture
async def engine(signin_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(signin_settings.database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with make_sessionmaker(engine)() as session:
        await seed_demo_staff(session, signin_settings)
    yield engine
    await engine.dispose()


@pytest.fixture
def maker(engine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
def app(maker, signin_settings) -> FastAPI:
    app = FastAPI()
    app.state.settings = signin_settings
    app.state.sessionmaker = maker
    app.include_router(auth.router)

    @app.get("/me")
    async def me(actor: Annotated[Actor, Depends(current_actor)]) -> dict:
        return actor.model_dump(mode="json")

    return app


def client_from(app: FastAPI, address: str = "10.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://t")


@pytest_asyncio.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(app) as c:
        yield c


# --- limits -----------------------------------------------------------------------------------------

async def test_a_username_is_locked_after_its_failures_even_with_the_right_password(client, app):
    for _ in range(3):
        assert (await login(client, "gm", "wrong")).status_code == 401
    r = await login(client, "gm")  # the right password, but the username is locked
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 600
    assert "this username" in r.json()["detail"]
    # from another address too: the lock is on the username
    async with client_from(app, "10.0.0.9") as other:
        assert (await login(other, "gm")).status_code == 429
        assert (await login(other, "cs_staff")).status_code == 200  # other accounts are unaffected


async def test_an_address_is_limited_across_usernames(client, app):
    for i in range(5):
        assert (await login(client, f"nobody-{i}", "wrong")).status_code == 401
    r = await login(client, "cs_staff")
    assert r.status_code == 429 and "this address" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) >= 1
    async with client_from(app, "10.0.0.2") as other:  # another address signs in as usual
        assert (await login(other, "cs_staff")).status_code == 200


async def test_a_successful_sign_in_clears_the_usernames_failures(client):
    for _ in range(2):
        assert (await login(client, "hotline", "wrong")).status_code == 401
    assert (await login(client, "hotline")).status_code == 200
    for _ in range(2):
        assert (await login(client, "hotline", "wrong")).status_code == 401
    assert (await login(client, "hotline")).status_code == 200


def test_the_window_slides_and_concurrent_attempts_reserve_their_place():
    clock = Clock()
    limiter = LoginLimiter(per_username=2, per_address=100, window=60, clock=clock)
    a = limiter.reserve("gm", "1.1.1.1")
    b = limiter.reserve("gm", "1.1.1.1")
    with pytest.raises(Exception) as refused:  # two attempts still running fill the limit
        limiter.reserve("gm", "1.1.1.1")
    assert refused.value.status_code == 429 and refused.value.headers["Retry-After"] == "1"
    limiter.finish(a, failed=True)
    clock.now += 10
    limiter.finish(b, failed=True)
    with pytest.raises(Exception) as refused:
        limiter.reserve("gm", "1.1.1.1")
    assert refused.value.headers["Retry-After"] == "50"  # until the oldest failure leaves the window
    clock.now += 50
    limiter.finish(limiter.reserve("gm", "1.1.1.1"), failed=None)  # allowed again; undecided: nothing counted
    assert list(limiter.counters[("user", "gm")].failures) == [1010.0]
    limiter.finish(limiter.reserve("gm", "1.1.1.1"), failed=False)  # signed in: the username starts afresh
    assert ("user", "gm") not in limiter.counters


async def test_too_many_waiting_password_checks_answer_429(app, signin_settings, monkeypatch):
    monkeypatch.setattr(signin_settings, "login_max_waiting", 0)
    monkeypatch.setattr(signin_settings, "login_concurrent_checks", 1)
    gate = auth.auth_state(app).gate
    await gate.semaphore.acquire()  # a password check is running
    async with client_from(app) as c:
        waiting = asyncio.create_task(login(c, "cs_staff", "wrong"))
        for _ in range(500):  # the first sign-in is admitted and waits for the running check
            if gate.admitted:
                break
            await asyncio.sleep(0.01)
        assert gate.admitted == 1
        r = await login(c, "hotline", "wrong")  # no room: refused before reading the database
        assert r.status_code == 429 and r.headers["Retry-After"] == "1" and "at once" in r.json()["detail"]
        gate.semaphore.release()
        assert (await waiting).status_code == 401
        assert (await login(c, "hotline")).status_code == 200  # the refused one counted no failure


async def test_bcrypt_runs_with_no_database_connection_checked_out(client, engine, monkeypatch):
    """The hash is read in a session closed before bcrypt starts: a flood of sign-ins cannot hold the pool."""
    checked_out: list[int] = []
    real_verify = auth.verify_password

    def verify_and_look_at_the_pool(password: str, password_hash: str) -> bool:
        checked_out.append(engine.sync_engine.pool.checkedout())
        return real_verify(password, password_hash)

    monkeypatch.setattr(auth, "verify_password", verify_and_look_at_the_pool)
    assert (await login(client, "gm")).status_code == 200
    assert (await login(client, "gm", "wrong")).status_code == 401
    assert (await login(client, "nobody", "wrong")).status_code == 401
    assert checked_out == [0, 0, 0]


# --- tokens and the account's version ----------------------------------------------------------------

async def test_a_token_carries_the_accounts_version(client, signin_settings):
    r = await login(client, "cs_manager")
    claims = jwt.decode(r.json()["access_token"], signin_settings.jwt_secret, algorithms=["HS256"])
    assert claims["ver"] == 1


async def test_a_token_of_an_account_changed_since_is_refused(client, maker):
    headers = await bearer(client, "cs_manager")
    assert (await client.get("/me", headers=headers)).status_code == 200
    async with maker() as session:  # e.g. a password reset: same role, same department
        staff = await get_staff(session, "cs_manager")
        staff.password_hash = hash_password("a-new-password-1", rounds=4)
        touch(staff)
        await session.commit()
    r = await client.get("/me", headers=headers)
    assert r.status_code == 401 and "changed since this token was issued" in r.json()["detail"]
    assert (await login(client, "cs_manager", "a-new-password-1")).status_code == 200


async def test_a_token_without_a_version_is_refused(client, signin_settings):
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone.utc)
    old = jwt.encode({"sub": "gm", "role": "gm", "iat": now, "exp": now + timedelta(minutes=5)},
                     signin_settings.jwt_secret, algorithm="HS256")
    r = await client.get("/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "invalid token" in r.json()["detail"]


# --- the account cache ------------------------------------------------------------------

def count_staff_reads(engine: AsyncEngine) -> list[str]:
    reads: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, *args):
        if "FROM staff" in statement:
            reads.append(statement)

    return reads


async def test_P6_each_request_reads_the_account_once(client, engine):
    """P6: the account (and whether the token was signed out) is read on every request, in one query, so
    a change made by any process counts at once; the token's signature is checked once per process."""
    headers = await bearer(client, "dept_head")
    reads = count_staff_reads(engine)
    for _ in range(20):
        assert (await client.get("/me", headers=headers)).json()["department"] == "工程部"
    assert len(reads) == 20 and all("revoked_tokens" in r for r in reads)


async def test_deactivating_in_this_process_is_refused_at_once(client, maker):
    headers = await bearer(client, "auditor")
    assert (await client.get("/me", headers=headers)).status_code == 200
    async with maker() as session:
        await set_active(session, "auditor", False)
    r = await client.get("/me", headers=headers)
    assert r.status_code == 401 and "deactivated" in r.json()["detail"]


async def test_P6_a_change_made_elsewhere_is_refused_at_once(app, client, maker):
    """Another process (the CLI, another API replica) changes the row: refused on the next request."""
    headers = await bearer(client, "finance")
    assert (await client.get("/me", headers=headers)).status_code == 200
    async with maker() as session:  # a plain SQL write: no ORM event in this process
        await session.execute(text("UPDATE staff SET active = false, version = version + 1 WHERE username = 'finance'"))
        await session.commit()
    assert (await client.get("/me", headers=headers)).status_code == 401
