"""Limits and headers of the API (P3, P6), through the real app (create_app) on the test's read model:

- phone look-ups (POST /owners/cases, the workbench's search by phone) limited per account: 429 with
  Retry-After past the limit, and each look-up in the access audit (P3: who, when, which number, masked);
- the API's launcher trusts X-Forwarded-For only from configured proxies (none in the embedded default);
- security headers on every response (CSP, X-Frame-Options DENY / frame-ancestors 'none',
  X-Content-Type-Options, Referrer-Policy): pages, API, docs, errors;
- a CSRF token on the sign-in form (and a request from another origin refused)."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from adapters.config import Settings
from adapters.db.models import PersonalDataAccess
from api.app import create_app

ORIGIN = "http://127.0.0.1:8000"


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)), base_url=ORIGIN)


@pytest_asyncio.fixture
async def api(settings, sessionmaker) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(create_app(settings.model_copy(update={"phone_lookups_per_account": 5}),
                                  sessionmaker=sessionmaker)) as client:
        yield client


async def bearer(api: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await api.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


# ---- P3: phone look-ups per account -----------------------------------------------------------------

async def test_P3_phone_look_ups_are_limited_per_account_and_each_is_audited(api, settings, sessionmaker):
    hotline = await bearer(api, "hotline", settings.demo_password)
    statuses = [(await api.post("/owners/cases", json={"phone": f"1381234{i:04d}"}, headers=hotline)).status_code
                for i in range(8)]
    assert statuses == [200] * 5 + [429] * 3, statuses
    r = await api.post("/owners/cases", json={"phone": "13812340000"}, headers=hotline)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "查找" in r.json()["detail"]
    # another account has its own allowance
    other = await bearer(api, "cs_staff", settings.demo_password)
    assert (await api.post("/owners/cases", json={"phone": "13812341234"}, headers=other)).status_code == 200
    async with sessionmaker() as session:
        rows = list((await session.execute(select(PersonalDataAccess).where(
            PersonalDataAccess.endpoint == "POST /owners/cases").order_by(PersonalDataAccess.id))).scalars())
    assert [(r.username, r.case_no) for r in rows] == \
        [("hotline", f"138****{i:04d}") for i in range(5)] + [("cs_staff", "138****1234")]
    assert all("1381234" not in r.case_no for r in rows)   # the number recorded masked, never in clear


async def test_P3_the_workbench_search_by_phone_counts_against_the_same_limit(api, settings):
    page = await api.get("/app/login")
    await api.post("/app/login", data={"username": "butler", "password": settings.demo_password,
                                       "csrf": csrf_of(page.text) if 'name="csrf"' in page.text else "",
                                       "next": "/app/cases"}, headers={"Origin": ORIGIN})
    csrf = csrf_of((await api.get("/app/cases")).text)
    answers = [await api.post("/app/cases/by-phone", data={"csrf": csrf, "phone": f"1391234{i:04d}"},
                              headers={"Origin": ORIGIN}) for i in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert "retry-after" in answers[-1].headers and "查找" in answers[-1].text


# ---- forwarded headers ---------------------------------------------------------------------------------

def test_the_launcher_trusts_forwarded_headers_only_from_configured_proxies():
    from api.__main__ import uvicorn_options
    embedded = uvicorn_options(Settings(jwt_secret="x" * 40, phone_lookup_key="y" * 40))
    assert embedded["proxy_headers"] is False and embedded["forwarded_allow_ips"] == ""
    behind = uvicorn_options(Settings(jwt_secret="x" * 40, phone_lookup_key="y" * 40,
                                      trusted_proxies=["10.0.0.5", "10.1.0.0/16"]))
    assert behind["proxy_headers"] is True and behind["forwarded_allow_ips"] == "10.0.0.5,10.1.0.0/16"


# ---- headers ------------------------------------------------------------------------------------------

PATHS = [("GET", "/app/login"), ("GET", "/app/my-work"), ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/openapi.json"),
         ("GET", "/health/live"), ("GET", "/cases"), ("GET", "/no/such/page"), ("GET", "/static/workbench.css"),
         ("POST", "/auth/token")]


@pytest.mark.parametrize("method,path", PATHS, ids=[f"{m} {p}" for m, p in PATHS])
async def test_every_response_carries_the_security_headers(api, method, path):
    r = await api.request(method, path)
    h = r.headers
    assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), (r.status_code, dict(h))
    assert h.get("x-frame-options") == "DENY"
    assert h.get("x-content-type-options") == "nosniff"
    assert h.get("referrer-policy") == "same-origin"


async def test_the_headers_are_on_errors_too(api):
    big = await api.post("/auth/token", content=b"x" * (2 * 1024 * 1024),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and big.headers.get("x-frame-options") == "DENY"


async def test_a_route_s_own_headers_stay_beside_the_security_headers(api):
    """P6 with O1: the headers a route sets itself, after ones the policy replaces, are all still there
    (each replaced header once, the route's other headers untouched: a 429's Retry-After, no-store)."""
    page = await api.get("/o/login")
    assert page.headers.get("cache-control") == "no-store", dict(page.headers)
    names = [k for k, _ in page.headers.multi_items()]
    assert [names.count(n) for n in ("x-frame-options", "x-content-type-options", "referrer-policy")] == [1, 1, 1]
    assert page.headers.get("referrer-policy") == "same-origin"


def directives(csp: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (d.split() for d in csp.split(";") if d.strip())}


async def test_the_workbench_pages_allow_only_their_own_script_file_and_no_inline_script(api, settings):
    """The workbench runs one script, the static file /static/workbench.js: its pages allow scripts from
    this origin only (no 'unsafe-inline', no hash or nonce that would let an inline one run, no eval) and
    carry no inline script; every other page (the owner's, the API, static files) allows no script at all."""
    csp = directives((await api.get("/app/login")).headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"] and csp["default-src"] == ["'none'"]
    assert csp["form-action"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    for path in ("/o/login", "/cases", "/static/workbench.js", "/no/such/page", "/application"):
        other = directives((await api.get(path)).headers["content-security-policy"])
        assert "script-src" not in other and other["default-src"] == ["'none'"], path

    page = await api.get("/app/login")
    await api.post("/app/login", data={"username": "hotline", "password": settings.demo_password,
                                       "csrf": csrf_of(page.text), "next": "/app/my-work"}, headers={"Origin": ORIGIN})
    for path in ("/app/new/complaint", "/app/new/repair", "/app/my-work", "/app/cases"):
        html = (await api.get(path)).text
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
        assert all(src == ' src="/static/workbench.js" defer' and body == "" for src, body in scripts), (path, scripts)
    assert re.search(r'<script src="/static/workbench.js" defer></script>', (await api.get("/app/new/complaint")).text)
    js = await api.get("/static/workbench.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "unit_id" in js.text


# ---- the sign-in form's CSRF token --------------------------------------------------------------------

async def test_P6_the_sign_in_form_carries_a_csrf_token_and_a_post_without_it_is_refused(api, settings):
    form = {"username": "wy_handler", "password": settings.demo_password, "next": "/app/my-work"}
    forged = await api.post("/app/login", data=form)             # what a cross-site auto-submitted form sends
    assert forged.status_code == 403 and "aftersales_session" not in forged.headers.get("set-cookie", "")
    page = await api.get("/app/login")
    token = csrf_of(page.text)
    other_site = await api.post("/app/login", data={**form, "csrf": token}, headers={"Origin": "http://127.0.0.1:9999"})
    assert other_site.status_code == 403                        # another origin, even with a token
    wrong = await api.post("/app/login", data={**form, "csrf": "0" * 32}, headers={"Origin": ORIGIN})
    assert wrong.status_code == 403
    ok = await api.post("/app/login", data={**form, "csrf": token}, headers={"Origin": ORIGIN})
    assert ok.status_code == 303 and "aftersales_session" in ok.headers["set-cookie"]
