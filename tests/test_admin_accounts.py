"""P6: accounts are administered by `admin` (系统管理员), who acts on no case and sees no owner data; no
business role (cs_manager included) creates accounts, changes roles, scopes or other people's passwords;
nobody changes their own role; a change of an executive (deputy_gm, gm) or admin account waits for a
second administrator's confirmation; every change is logged and told to the account's holder.

The matrix: every demo account (one per role, admin included) × every account operation, through the
real app (create_app) on the test's read model."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from aftersales import access
from aftersales.actor import Actor
from adapters.db.staff import DEMO_ACCOUNTS, create_staff, get_staff
from aftersales.roles import Role
from api.app import create_app

NEW_PASSWORD = "pw-2026-admin-test"
USERS = [a[0] for a in DEMO_ACCOUNTS]


@pytest_asyncio.fixture
async def api(settings, sessionmaker) -> AsyncIterator[httpx.AsyncClient]:
    async with sessionmaker() as session:
        await create_staff(session, username="t.staff", role=Role.cs_staff, password=NEW_PASSWORD, rounds=4)
        await create_staff(session, username="t.gm", role=Role.gm, password=NEW_PASSWORD, rounds=4)
        await create_staff(session, username="t.admin", role=Role.admin, password=NEW_PASSWORD, rounds=4)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings, sessionmaker=sessionmaker),
                                                               client=("127.0.0.1", 50000)),
                                 base_url="http://127.0.0.1:8000") as client:
        yield client


async def headers(api: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await api.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, f"{username}: {r.text}"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def role_of(username: str) -> Role:
    return next(r for u, r, _, _ in DEMO_ACCOUNTS if u == username)


OPERATIONS = {
    # operation: (method, path, body); `{me}` is the caller's own username
    "list accounts": ("GET", "/admin/accounts", None),
    "create a staff account": ("POST", "/admin/accounts", {"username": "n.{me}", "role": "cs_staff",
                                                           "password": NEW_PASSWORD}),
    "create a gm account": ("POST", "/admin/accounts", {"username": "g.{me}", "role": "gm", "password": NEW_PASSWORD}),
    "change another's role": ("PATCH", "/admin/accounts/t.staff", {"role": "butler", "project": "融侨城"}),  # P5
    "change another's scope": ("PATCH", "/admin/accounts/t.staff", {"role": "dept_head", "department": "物业部",
                                                                "company_id": "rq"}),
    "reset another's password": ("POST", "/admin/accounts/t.staff/password", {"password": NEW_PASSWORD + "x"}),
    "reset a gm's password": ("POST", "/admin/accounts/t.gm/password", {"password": NEW_PASSWORD + "y"}),
    "change a gm's role": ("PATCH", "/admin/accounts/t.gm", {"role": "deputy_gm"}),
    "deactivate a gm": ("PATCH", "/admin/accounts/t.gm", {"active": False}),
    "reset an admin's password": ("POST", "/admin/accounts/t.admin/password", {"password": NEW_PASSWORD + "a"}),
    "make another account admin": ("PATCH", "/admin/accounts/t.staff", {"role": "admin"}),
    "make oneself gm": ("PATCH", "/admin/accounts/{me}", {"role": "gm"}),
    "change one's own scope": ("PATCH", "/admin/accounts/{me}", {"company_id": "rq"}),
    "reset one's own password": ("POST", "/admin/accounts/{me}/password", {"password": NEW_PASSWORD + "z"}),
    "read the change log": ("GET", "/admin/account-changes", None),
}


def expected(username: str, operation: str) -> int:
    if role_of(username) != Role.admin:
        return 403                                 # no business role administers accounts (P6)
    return {"create a staff account": 201, "create a gm account": 202, "reset a gm's password": 202,
            "change a gm's role": 202, "deactivate a gm": 202, "reset an admin's password": 202,
            "make another account admin": 202, "make oneself gm": 403, "change one's own scope": 403,
            "reset one's own password": 403}.get(operation, 200)


@pytest.mark.asyncio
async def test_P6_who_may_administer_accounts_matrix(api, settings, sessionmaker):
    seen: dict[tuple[str, str], int] = {}
    for username in USERS:
        h = await headers(api, username, settings.demo_password)
        for operation, (method, path, body) in OPERATIONS.items():
            if username.startswith("admin") and operation.startswith("change another's"):
                continue  # done below, once: it changes t.staff
            json = None if body is None else {k: v.replace("{me}", username) if isinstance(v, str) else v
                                              for k, v in body.items()}
            r = await api.request(method, path.replace("{me}", username), json=json, headers=h)
            seen[(username, operation)] = r.status_code
            if r.status_code >= 400:
                assert "detail" in r.json()
    wrong = {k: v for k, v in seen.items() if v != expected(*k)}
    assert not wrong, wrong
    print(f"\nP6 matrix: {len(USERS)} accounts x {len(OPERATIONS)} operations, {len(seen) + 2} requests, "
          f"{sum(v == 403 for v in seen.values())} refused 403, {sum(v == 202 for v in seen.values())} waiting (202)")
    admin = await headers(api, "admin", settings.demo_password)
    for operation in ("change another's role", "change another's scope"):
        method, path, body = OPERATIONS[operation]
        r = await api.request(method, path, json=body, headers=admin)
        assert r.status_code == 200, r.text
    async with sessionmaker() as session:
        assert (await get_staff(session, "t.staff")).role == "dept_head"
        assert (await get_staff(session, "t.gm")).version == 1       # the gm's changes wait for a second admin
        assert (await get_staff(session, "t.gm")).active and (await get_staff(session, "t.gm")).role == "gm"
        assert (await get_staff(session, "t.admin")).version == 1    # ... so do an admin's
        for username in USERS:                                       # nobody changed their own role
            assert (await get_staff(session, username)).role == role_of(username).value
        assert await get_staff(session, "g.admin") is None           # the gm account waits too


@pytest.mark.asyncio
async def test_P6_the_manager_cannot_take_the_top_role(api, settings, sessionmaker):
    """What the security review did as cs_manager: create a gm (201), reset the gm's password (200),
    make itself gm (200). All three are refused now, and nothing changed."""
    h = await headers(api, "cs_manager", settings.demo_password)
    assert (await api.post("/admin/accounts", json={"username": "evil.gm", "role": "gm", "password": NEW_PASSWORD},
                           headers=h)).status_code == 403
    assert (await api.post("/admin/accounts/gm/password", json={"password": NEW_PASSWORD}, headers=h)).status_code == 403
    assert (await api.patch("/admin/accounts/cs_manager", json={"role": "gm"}, headers=h)).status_code == 403
    async with sessionmaker() as session:
        assert await get_staff(session, "evil.gm") is None
        assert (await get_staff(session, "gm")).version == 1
        assert (await get_staff(session, "cs_manager")).role == "cs_manager"


@pytest.mark.asyncio
async def test_P6_an_executive_change_waits_for_a_second_admin_and_is_told_to_its_holder(api, settings, sessionmaker):
    admin, admin2 = await headers(api, "admin", settings.demo_password), await headers(api, "admin2", settings.demo_password)
    holder = await headers(api, "t.staff", NEW_PASSWORD)
    r = await api.patch("/admin/accounts/t.staff", json={"role": "deputy_gm"}, headers=admin)
    assert r.status_code == 202, r.text
    pending = r.json()
    assert pending["status"] == "pending" and pending["requested_by"] == "admin" and pending["username"] == "t.staff"
    assert (await api.get("/cases", headers=holder)).status_code == 200       # nothing changed yet
    listed = (await api.get("/admin/account-requests", headers=admin2)).json()
    assert [p["id"] for p in listed] == [pending["id"]]
    same = await api.post(f"/admin/account-requests/{pending['id']}/confirm", headers=admin)
    assert same.status_code == 403 and "另一位管理员" in same.json()["detail"]
    business = await api.post(f"/admin/account-requests/{pending['id']}/confirm",
                              headers=await headers(api, "gm", settings.demo_password))
    assert business.status_code == 403
    ok = await api.post(f"/admin/account-requests/{pending['id']}/confirm", headers=admin2)
    assert ok.status_code == 200, ok.text
    assert ok.json()["role"] == "deputy_gm"
    again = await api.post(f"/admin/account-requests/{pending['id']}/confirm", headers=admin2)
    assert again.status_code == 409                                            # confirmed once
    assert (await api.get("/cases", headers=holder)).status_code == 401       # its sessions ended (P6)
    log = (await api.get("/admin/account-changes?username=t.staff", headers=admin)).json()
    assert log[0]["by"] == "admin2" and log[0]["detail"]["role"] == ["cs_staff", "deputy_gm"]
    assert log[0]["detail"]["requested_by"] == "admin"
    notices = (await api.get("/me/notices", headers=await headers(api, "t.staff", NEW_PASSWORD))).json()
    assert any("副总经理" in n["text"] and "admin2" in n["text"] for n in notices), notices
    # ... and on the holder's workbench, at the top of 我的待办
    page = await api.get("/app/login")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    await api.post("/app/login", data={"username": "t.staff", "password": NEW_PASSWORD, "csrf": csrf})
    my_work = await api.get("/app/my-work")
    assert "账号变更通知" in my_work.text and "副总经理" in my_work.text
    # a new admin account also waits for a second admin; the requester may withdraw it
    r = await api.post("/admin/accounts", json={"username": "it.ops", "role": "admin", "password": NEW_PASSWORD},
                       headers=admin2)
    assert r.status_code == 202
    assert (await api.post(f"/admin/account-requests/{r.json()['id']}/withdraw", headers=admin2)).status_code == 200
    assert (await api.post(f"/admin/account-requests/{r.json()['id']}/confirm", headers=admin)).status_code == 409
    async with sessionmaker() as session:
        assert await get_staff(session, "it.ops") is None


@pytest.mark.asyncio
async def test_P6_the_admin_acts_on_no_case_and_sees_no_owner_data(api, settings):
    admin = Actor(username="admin", role=Role.admin)
    assert not access.may_see(admin, {"case_type": "complaint", "department": "工程部"})
    assert not access.sees_full_phone(admin, {"case_type": "repair"})
    assert all(Role.admin not in a.roles for table in access.ACTIONS.values() for a in table.values())
    h = await headers(api, "admin", settings.demo_password)
    assert (await api.get("/cases", headers=h)).json()["total"] == 0
    r = await api.post("/owners/cases", json={"phone": "13812341234"}, headers=h)
    assert r.status_code == 403
