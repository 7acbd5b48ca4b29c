"""Staff accounts and authentication: demo seeding (one account per role, never in production), the
OAuth2 password flow at /auth/token, and the current_actor / require_roles dependencies (401 / 403)."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftersales.actor import Actor
from adapters.config import Settings
from adapters.db import ledger
from adapters.db.models import Base, Staff
from adapters.db.session import make_engine, make_sessionmaker
from adapters.db.staff import (
    authenticate,
    create_staff,
    get_staff,
    hash_password,
    seed_demo_staff,
    set_active,
    verify_password,
)
from aftersales.roles import ROLE_TITLES, Role
from api.auth import VerifiedTokens, create_access_token, current_actor, require_roles
from api.auth import router as auth_router

PASSWORD = "demo-pass-test-1"


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}", bcrypt_rounds=4,
                    demo_password=PASSWORD, jwt_secret="test-secret-" + "x" * 40, jwt_ttl_minutes=30)


@pytest_asyncio.fixture
async def maker(auth_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(auth_settings.database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest_asyncio.fixture
async def seeded(maker, auth_settings) -> async_sessionmaker[AsyncSession]:
    async with maker() as session:
        await seed_demo_staff(session, auth_settings)
    return maker


@pytest_asyncio.fixture
async def client(seeded, auth_settings) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.settings = auth_settings
    app.state.sessionmaker = seeded
    app.include_router(auth_router)

    @app.get("/manager-only")
    async def manager_only(actor: Annotated[Actor, Depends(require_roles(Role.cs_manager))]) -> dict:
        return {"username": actor.username, "role": actor.role}

    @app.get("/intake")
    async def intake(actor: Annotated[Actor, Depends(require_roles(Role.cs_staff, Role.cs_manager))]) -> dict:
        return {"username": actor.username}

    @app.get("/me")
    async def me(actor: Annotated[Actor, Depends(current_actor)]) -> dict:
        return actor.model_dump(mode="json")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth.test") as c:
        yield c


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/token", data={"username": username, "password": password})


async def bearer(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await login(client, username)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# --- passwords and accounts ------------------------------------------------------------------------

def test_hash_and_verify_password():
    h = hash_password("s3cret-密码", rounds=4)
    assert h.startswith("$2b$04$")
    assert verify_password("s3cret-密码", h)
    assert not verify_password("s3cret", h)
    assert not verify_password("anything", "-")  # placeholder hash: no exception, just no
    assert not verify_password("a" * 100, h)
    with pytest.raises(ValueError):
        hash_password("", rounds=4)
    with pytest.raises(ValueError):
        hash_password("a" * 73, rounds=4)


@pytest.mark.asyncio
async def test_create_staff_rejects_a_duplicate_username(maker):
    async with maker() as session:
        staff = await create_staff(session, username="li.wei", role=Role.cs_staff, password="pw-12345678", rounds=4)
        assert staff.display_name == ROLE_TITLES[Role.cs_staff] and staff.active
        with pytest.raises(ValueError, match="already exists"):
            await create_staff(session, username="li.wei", role=Role.gm, password="other-pass", rounds=4)
        assert (await authenticate(session, "li.wei", "pw-12345678", rounds=4)).role == Role.cs_staff
        assert await authenticate(session, "li.wei", "wrong", rounds=4) is None
        assert await authenticate(session, "nobody", "pw-12345678", rounds=4) is None
        await set_active(session, "li.wei", False)
        assert await authenticate(session, "li.wei", "pw-12345678", rounds=4) is None


# --- demo seed -------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_demo_seed_creates_one_account_per_role_and_is_idempotent(maker, auth_settings):
    async with maker() as session:
        created = await seed_demo_staff(session, auth_settings)
        assert created == [r.value for r in Role] + ["wy_head", "wy_handler", "contractor2", "admin2",
                                                     "butler2", "cs_manager2", "dept_head2", "dept_handler2", "group_gm"]
        for role in Role:
            s = await get_staff(session, role.value)
            assert s.role == role.value and s.active
            # P7: a person's name and title, not the role's title: 张伟 · 工程部专人
            assert s.display_name not in ROLE_TITLES.values() and 2 <= len(s.display_name) <= 4
            assert s.title and (role not in (Role.dept_handler, Role.dept_head) or s.title.startswith("工程部"))
            assert s.email == f"{role.value}@example.com"
            assert s.department == ("工程部" if role in (Role.dept_handler, Role.dept_head) else None)
            assert s.contractor_id == ("CT-DEMO" if role == Role.contractor else None)  # P1
            assert s.password_hash.startswith("$2b$04$")  # settings.bcrypt_rounds
        # P1: a second department and a second contractor, registered with their deposits
        assert [(s.role, s.department) for s in [await get_staff(session, u) for u in ("wy_head", "wy_handler")]] \
            == [("dept_head", "物业部"), ("dept_handler", "物业部")]
        assert (await get_staff(session, "contractor2")).contractor_id == "CT-DEMO2"
        assert (await ledger.deposit_statement(session, "CT-DEMO"))["balance"] == Decimal("100000.00")
        assert (await ledger.deposit_statement(session, "CT-DEMO2"))["balance"] == Decimal("50000.00")
        # an existing account is left untouched, including a changed password
        gm = await get_staff(session, "gm")
        gm.password_hash = hash_password("changed-by-gm", rounds=4)
        await session.commit()
        assert await seed_demo_staff(session, auth_settings) == []
        assert (await session.execute(select(func.count()).select_from(Staff))).scalar_one() == 24  # one per role (15), wy_head, wy_handler, contractor2, admin2,
        # and P5's second company (butler2, cs_manager2, dept_head2, dept_handler2) and the group's executive
        assert await authenticate(session, "gm", "changed-by-gm", rounds=4) is not None
        assert await authenticate(session, "gm", PASSWORD, rounds=4) is None
        # a contractor demo account seeded before P1 (no contractor) is bound to CT-DEMO, and logged
        contractor = await get_staff(session, "contractor")
        contractor.contractor_id = None
        await session.commit()
        assert await seed_demo_staff(session, auth_settings) == []
        assert (await get_staff(session, "contractor")).contractor_id == "CT-DEMO"
        # a deleted demo account comes back, the others stay as they are
        await session.delete(await get_staff(session, "auditor"))
        await session.commit()
        assert await seed_demo_staff(session, auth_settings) == ["auditor"]
        # P7: a demo account seeded before names (named after its role) gets its name and title, signed in still
        handler = await get_staff(session, "dept_handler")
        handler.display_name, handler.title, version = ROLE_TITLES[Role.dept_handler], None, handler.version
        await session.commit()
        await seed_demo_staff(session, auth_settings)
        handler = await get_staff(session, "dept_handler")
        assert (handler.display_name, handler.title, handler.version) == ("张伟", "工程部专人", version)
        # ... and the organisation's lists hold the demo departments and the categories (P7)
        from adapters.db import org
        assert await org.departments(session) == ["工程部", "物业部"]
        assert "漏水" in await org.categories(session)


def test_production_refuses_the_development_jwt_secret_and_demo_time():
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="AFTERSALES_JWT_SECRET"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="AFTERSALES_PHONE_LOOKUP_KEY"):   # the phone hash's key
        Settings(environment="production", jwt_secret="s" * 40)
    with pytest.raises(ValidationError, match="AFTERSALES_ACTOR_ASSERTION_KEY"):  # P4: the API vouches for actors
        Settings(environment="production", jwt_secret="s" * 40, phone_lookup_key="p" * 40)
    with pytest.raises(ValidationError, match="demo time"):
        Settings(environment="production", jwt_secret="s" * 40, phone_lookup_key="p" * 40, actor_assertion_key="a" * 40,
                 demo_seconds_per_working_day=30)
    assert Settings(environment="production", jwt_secret="s" * 40, phone_lookup_key="p" * 40,
                    actor_assertion_key="a" * 40).environment == "production"


@pytest.mark.asyncio
async def test_production_refuses_to_seed(maker, auth_settings):
    prod = auth_settings.model_copy(update={"environment": "production"})
    async with maker() as session:
        with pytest.raises(RuntimeError, match="production"):
            await seed_demo_staff(session, prod)
        assert (await session.execute(select(func.count()).select_from(Staff))).scalar_one() == 0


# --- token endpoint --------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_every_demo_account_gets_a_token(client, auth_settings):
    for role in Role:
        r = await login(client, role.value)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "bearer" and body["role"] == role.value
        assert body["expires_in"] == auth_settings.jwt_ttl_minutes * 60
        claims = jwt.decode(body["access_token"], auth_settings.jwt_secret, algorithms=["HS256"])
        assert claims["sub"] == role.value and claims["role"] == role.value
        assert claims["dept"] == ("工程部" if role in (Role.dept_handler, Role.dept_head) else None)
        assert claims["exp"] - claims["iat"] == auth_settings.jwt_ttl_minutes * 60
        me = await client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200 and me.json()["role"] == role.value


@pytest.mark.asyncio
@pytest.mark.parametrize("username,password", [("cs_manager", "wrong-password"), ("no_such_user", PASSWORD),
                                               ("cs_manager", PASSWORD.upper())])
async def test_wrong_credentials_401(client, username, password):
    r = await login(client, username, password)
    assert r.status_code == 401
    assert r.json()["detail"] == "incorrect username or password"  # unknown user and wrong password alike
    assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.asyncio
async def test_empty_password_422(client):
    r = await login(client, "cs_manager", "")  # FastAPI treats an empty form field as missing
    assert r.status_code == 422


@pytest.mark.asyncio
async def test_wrong_password_401(client):
    r = await login(client, "cs_manager", "wrong-password")
    assert r.status_code == 401
    assert r.json()["detail"] == "incorrect username or password"
    assert r.headers["WWW-Authenticate"] == "Bearer"


# --- current_actor: 401 ----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_no_token_401(client):
    for path in ("/me", "/manager-only"):
        r = await client.get(path)
        assert r.status_code == 401
        assert "not authenticated" in r.json()["detail"]
        assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.asyncio
async def test_garbage_token_401(client, auth_settings):
    forged = jwt.encode({"sub": "gm", "role": "gm", "iat": datetime.now(timezone.utc),
                         "exp": datetime.now(timezone.utc) + timedelta(minutes=5)},
                        "some-other-secret-" + "y" * 40, algorithm="HS256")
    for token in ("garbage", "a.b.c", forged):
        r = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
        assert "invalid token" in r.json()["detail"]
        assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.asyncio
async def test_expired_token_401(client, seeded, auth_settings):
    async with seeded() as session:
        staff = await get_staff(session, "cs_manager")
    token, _ = create_access_token(staff, auth_settings,
                                   now=datetime.now(timezone.utc) - timedelta(minutes=auth_settings.jwt_ttl_minutes + 1))
    r = await client.get("/manager-only", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


@pytest.mark.asyncio
async def test_deactivated_account_401(client, seeded):
    headers = await bearer(client, "cs_manager")
    assert (await client.get("/manager-only", headers=headers)).status_code == 200
    async with seeded() as session:
        await set_active(session, "cs_manager", False)
    r = await client.get("/manager-only", headers=headers)  # the token issued before still exists
    assert r.status_code == 401
    assert "deactivated" in r.json()["detail"]
    assert (await login(client, "cs_manager")).status_code == 401  # and no new one is issued


@pytest.mark.asyncio
async def test_role_changed_since_token_401(client, seeded):
    headers = await bearer(client, "hotline")
    async with seeded() as session:
        (await get_staff(session, "hotline")).role = Role.cs_manager.value
        await session.commit()
    r = await client.get("/manager-only", headers=headers)
    assert r.status_code == 401 and "role changed" in r.json()["detail"]


@pytest.mark.asyncio
async def test_a_token_is_verified_once_per_process_its_expiry_on_every_use(seeded, auth_settings, monkeypatch):
    """the signature and claims of a token are checked on its first use only; a token
    changed in any byte or checked against another secret is verified afresh and refused, and a
    verified token past its expiry is refused (and forgotten)."""
    async with seeded() as session:
        staff = await get_staff(session, "cs_staff")
    issued = datetime.now(timezone.utc)
    token, ttl = create_access_token(staff, auth_settings, now=issued)
    verified = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: verified.append(a[0]) or real_decode(*a, **k))
    now = [issued.timestamp()]
    tokens = VerifiedTokens(max_entries=2, clock=lambda: now[0])

    assert tokens.claims(token, auth_settings)["sub"] == "cs_staff"
    assert tokens.claims(token, auth_settings)["sub"] == "cs_staff"
    assert verified == [token]  # once

    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    other_secret = auth_settings.model_copy(update={"jwt_secret": "another-secret-" + "z" * 40})
    for bad, settings in ((tampered, auth_settings), (token, other_secret)):
        with pytest.raises(HTTPException) as refused:
            tokens.claims(bad, settings)
        assert refused.value.status_code == 401 and "invalid token" in refused.value.detail
    assert verified == [token, tampered, token]

    now[0] = issued.timestamp() + ttl + 1  # the cached token expires
    with pytest.raises(HTTPException) as expired:
        tokens.claims(token, auth_settings)
    assert expired.value.status_code == 401 and "expired" in expired.value.detail
    assert (auth_settings.jwt_secret, token) not in tokens.entries

    now[0] = issued.timestamp()
    for minutes in range(3):  # bounded: never more than max_entries held
        t, _ = create_access_token(staff, auth_settings, now=issued - timedelta(minutes=minutes + 1))
        tokens.claims(t, auth_settings)
        assert len(tokens.entries) <= 2


# --- require_roles: 403 / 200 ----------------------------------------------------------------------

@pytest.mark.asyncio
async def test_wrong_role_403_names_allowed_roles(client):
    r = await client.get("/manager-only", headers=await bearer(client, "hotline"))
    assert r.status_code == 403
    assert r.json()["detail"] == "role hotline may not do this; allowed: cs_manager"
    r = await client.get("/intake", headers=await bearer(client, "hotline"))
    assert r.status_code == 403
    assert r.json()["detail"] == "role hotline may not do this; allowed: cs_staff, cs_manager"


@pytest.mark.asyncio
async def test_right_role_200(client):
    r = await client.get("/manager-only", headers=await bearer(client, "cs_manager"))
    assert r.status_code == 200
    assert r.json() == {"username": "cs_manager", "role": "cs_manager"}
    r = await client.get("/intake", headers=await bearer(client, "cs_staff"))
    assert r.status_code == 200
    me = await client.get("/me", headers=await bearer(client, "dept_head"))
    assert me.json() == {"username": "dept_head", "role": "dept_head", "display_name": "刘强",
                         "department": "工程部", "contractor_id": None, "company_id": "rq", "project": None}


def test_require_roles_needs_a_role():
    with pytest.raises(ValueError):
        require_roles()


# --- account administration (P1) -------------------------------------------------------------------

@pytest.mark.asyncio
async def test_P1_accounts_need_their_department_or_registered_contractor_and_every_change_is_logged(maker):
    from adapters.db.staff import change_staff, staff_changes
    async with maker() as session:
        with pytest.raises(ValueError, match="department"):
            await create_staff(session, username="h1", role=Role.dept_handler, password="pw-12345678", rounds=4)
        with pytest.raises(ValueError, match="only dept_handler and dept_head"):
            await create_staff(session, username="c1", role=Role.cs_staff, password="pw-12345678", department="工程部",
                               rounds=4)
        with pytest.raises(ValueError, match="no contractor 'CT-1' is registered"):
            await create_staff(session, username="k1", role=Role.contractor, password="pw-12345678",
                               contractor_id="CT-1", rounds=4)
        await ledger.put_contractor(session, "CT-1", "一建", Decimal("10"), by="finance", at=datetime.now(timezone.utc))
        k1 = await create_staff(session, username="k1", role=Role.contractor, password="pw-12345678",
                                contractor_id="CT-1", rounds=4, by="boss")
        assert k1.contractor_id == "CT-1" and k1.version == 1
        with pytest.raises(ValueError, match="needs its department"):
            await change_staff(session, "k1", by="boss", role=Role.dept_head)
        assert (await get_staff(session, "k1")).role == "contractor"  # refused: nothing changed
        with pytest.raises(ValueError, match="「物业」不是登记的部门"):  # P7: chosen from the departments' list
            await change_staff(session, "k1", by="boss", role=Role.dept_head, department="物业")
        from adapters.db import org
        await org.add_department(session, "物业部")
        with pytest.raises(ValueError, match="责任部门负责人的范围须为城市公司"):  # P5: a company's department
            await change_staff(session, "k1", by="boss", role=Role.dept_head, department="物业部")
        await org.put_company(session, "c1", "一公司")
        k1 = await change_staff(session, "k1", by="boss", role=Role.dept_head, department="物业部", company_id="c1")
        assert (k1.role, k1.department, k1.contractor_id, k1.version) == ("dept_head", "物业部", None, 2)
        await change_staff(session, "k1", by="boss", password="pw-new-123456", rounds=4)
        assert await authenticate(session, "k1", "pw-new-123456", rounds=4) is not None
        await set_active(session, "k1", False, by="boss")
        assert (await get_staff(session, "k1")).version == 4  # every change bumps it: old tokens refused
        log = await staff_changes(session, "k1")
        assert [c.change for c in log] == ["deactivate", "password_reset", "update", "create"]
        assert log[2].detail == {"role": ["contractor", "dept_head"], "department": [None, "物业部"],
                                 "contractor_id": ["CT-1", None], "company_id": [None, "c1"]}
        assert all(c.by == "boss" for c in log) and "pw-new" not in str([c.detail for c in log])


def test_P1_staff_cli_creates_changes_and_logs(auth_settings, monkeypatch, capsys):
    import asyncio as _asyncio

    from adapters.db.migrate import upgrade_to_head
    from adapters.db.staff import _parse_args, _run

    upgrade_to_head(auth_settings.database_url)
    monkeypatch.setenv("AFTERSALES_NEW_STAFF_PASSWORD", "pw-cli-123456")

    def cli(*argv: str) -> int:
        return _asyncio.run(_run(_parse_args(list(argv)), auth_settings.database_url, 4))

    assert cli("create", "--username", "wy2", "--role", "dept_handler") == 1
    assert "needs its department" in capsys.readouterr().err
    assert cli("create", "--username", "wy2", "--role", "dept_handler", "--department", "物业部") == 1
    assert "不是登记的部门" in capsys.readouterr().err  # P7: departments come from the list
    from adapters.db.org import main as org_cli
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", auth_settings.database_url)
    from adapters.config import get_settings
    get_settings.cache_clear()
    assert org_cli(["add-department", "--name", "物业部"]) == 0 and org_cli(["add-department", "--name", "工程部"]) == 0
    assert org_cli(["add-company", "--id", "c1", "--name", "一公司"]) == 0  # P5
    get_settings.cache_clear()  # not this test's settings for the tests after it
    assert cli("create", "--username", "wy2", "--role", "dept_handler", "--department", "物业部") == 1
    assert "范围须为城市公司" in capsys.readouterr().err  # P5: a department of a company
    assert cli("create", "--username", "wy2", "--role", "dept_handler", "--department", "物业部",
               "--company-id", "c1") == 0
    assert cli("change", "--username", "wy2", "--department", "工程部") == 0
    assert cli("reset-password", "--username", "wy2") == 0
    assert cli("deactivate", "--username", "wy2") == 0
    capsys.readouterr()
    assert cli("list") == 0 and "wy2\tdept_handler\t" in capsys.readouterr().out
    assert cli("log", "--username", "wy2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[3] for line in lines] == ["deactivate", "password_reset", "update", "create"]
    assert all(line.split("\t")[1].startswith("cli") for line in lines)
