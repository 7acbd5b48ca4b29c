"""P6: signing out ends the session at once, and so does any change to the account, in every API process.

Two apps on one read model stand for two API processes (each with its own in-process state: verified
tokens, counters). A token is used on B first (so whatever B keeps of it is warm), then the session is
ended through A (or by a plain SQL write, as another process or the CLI would), and B refuses it on the
very next request."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from api.app import create_app

PASSWORD_FIELD = "password"


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)),
                             base_url="http://127.0.0.1:8000")


@pytest_asyncio.fixture
async def two_apis(settings, sessionmaker) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with _client(create_app(settings, sessionmaker=sessionmaker)) as a, \
            _client(create_app(settings, sessionmaker=sessionmaker)) as b:
        yield a, b


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


async def page_sign_in(api: httpx.AsyncClient, username: str, password: str) -> str:
    """Signs in through the workbench's form (with its CSRF token, once there is one); the session cookie."""
    page = await api.get("/app/login")
    form = {"username": username, "password": password, "next": "/app/my-work"}
    if 'name="csrf"' in page.text:
        form["csrf"] = csrf_of(page.text)
    r = await api.post("/app/login", data=form, headers={"Origin": "http://127.0.0.1:8000"})
    assert r.status_code == 303, r.text
    return api.cookies["aftersales_session"]


async def token(api: httpx.AsyncClient, username: str, password: str) -> str:
    r = await api.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


async def test_P6_signing_out_ends_the_cookie_session_at_once_in_every_process(two_apis, settings):
    a, b = two_apis
    cookie = await page_sign_in(a, "cs_staff", settings.demo_password)
    bearer = {"Authorization": f"Bearer {cookie}"}
    b.cookies.set("aftersales_session", cookie)
    assert (await b.get("/app/my-work")).status_code == 200
    assert (await b.get("/cases", headers=bearer)).status_code == 200      # the same token, as a bearer
    page = await a.get("/app/my-work")
    r = await a.post("/app/logout", data={"csrf": csrf_of(page.text)}, headers={"Origin": "http://127.0.0.1:8000"})
    assert r.status_code == 303
    # the browser forgot its cookie; whoever copied it still has it: refused at once, on either process
    gone = await b.get("/app/my-work")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/app/login")
    r = await b.get("/cases", headers=bearer)
    assert r.status_code == 401, r.text
    assert (await a.get("/cases", headers=bearer)).status_code == 401


async def test_P6_signing_out_a_bearer_token_ends_it_at_once_and_not_the_other_sessions(two_apis, settings):
    a, b = two_apis
    first, second = [await token(a, "butler", settings.demo_password) for _ in range(2)]
    h1, h2 = {"Authorization": f"Bearer {first}"}, {"Authorization": f"Bearer {second}"}
    assert (await b.get("/cases", headers=h1)).status_code == 200
    r = await a.post("/auth/logout", headers=h1)
    assert r.status_code == 204, r.text
    r = await b.get("/cases", headers=h1)
    assert r.status_code == 401 and "已退出" in r.json()["detail"], r.text
    assert (await a.post("/auth/logout", headers=h1)).status_code == 401   # once is enough
    assert (await b.get("/cases", headers=h2)).status_code == 200           # the other session goes on


async def test_P6_a_change_to_the_account_made_elsewhere_ends_its_sessions_at_once(two_apis, settings, sessionmaker):
    """The change is a plain SQL write (the CLI, another API process): no event reaches this process."""
    a, b = two_apis
    h = {"Authorization": f"Bearer {await token(a, 'finance', settings.demo_password)}"}
    assert (await b.get("/cases", headers=h)).status_code == 200
    async with sessionmaker() as session:
        await session.execute(text("UPDATE staff SET version = version + 1 WHERE username = 'finance'"))
        await session.commit()
    r = await b.get("/cases", headers=h)
    assert r.status_code == 401, r.text
