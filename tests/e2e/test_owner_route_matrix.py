"""P4, O2 (safe by construction): the route × owner matrix. An owner's session — its token however it is sent: the
owner pages' own cookie, as a bearer token, as the workbench's session cookie — on every staff route of the app
(every route outside /o/, found in the app itself, so a new route is in the matrix) is 401, 404 or the workbench's
sign-in page, never an answer; and on the owner pages another owner's case is 404, its page and each of its acts.
The counts are printed for the report."""

import re

import pytest
from fastapi.routing import APIRoute

from tests.e2e.test_owner_acts_http import file_repair, registered_owner
from tests.e2e.test_owner_http import _csrf, owner_signed_in

# Routes that answer without any session (sign-in, health, the API's documents, the owner's link): not staff routes.
PUBLIC = {"/health", "/health/live", "/health/ready", "/metrics", "/auth/token", "/app/login", "/openapi.json",
          "/docs", "/docs/oauth2-redirect", "/redoc", "/", "/app", "/app/", "/static/workbench.js",
          "/app/logout"}   # signing out needs no session (its CSRF check refuses a stranger's form: 403)
SAMPLE = {"case_no": None, "campaign_id": "HF-2026-000001", "report_id": "1", "year": "2026", "username": "cs_staff",
          "contractor_id": "C-001", "file_id": "f0000000000000001", "fmt": "csv", "kind": "repair", "id": "1",
          "token": "x" * 32, "unit_id": "1", "path": "x", "name": "x"}


def the_app(asgi):
    """The FastAPI app under whatever ASGI wrappers the transport holds."""
    while not hasattr(asgi, "routes") and hasattr(asgi, "app"):
        asgi = asgi.app
    return asgi


def all_routes(routes, prefix: str = ""):
    """Every APIRoute, through the routers included (FastAPI keeps them as included routers, each with its prefix;
    a router's own prefix is in its routes' paths already)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            yield from all_routes(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))


def staff_routes(app) -> list[tuple[str, str]]:
    out = []
    for prefix, route in all_routes(app.routes):
        path = prefix + route.path
        if path == "/o" or path.startswith("/o/") or path in PUBLIC:
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            out.append((method, path))
    return sorted(set(out))


def filled(path: str, case_no: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: SAMPLE.get(m.group(1)) or case_no, path)


def denied(r) -> bool:
    """401, 404, or the workbench's way of saying 401: a redirect to its sign-in page."""
    return r.status_code in (401, 404) or (r.status_code in (302, 303, 307) and
                                          r.headers.get("location", "").startswith("/app/login"))


@pytest.mark.asyncio
async def test_P4_O2_an_owner_session_on_every_staff_route_is_401_or_404(api, staff, settings, sessionmaker) -> None:
    phone, _ = await registered_owner(settings, sessionmaker, project="矩阵小区")
    await owner_signed_in(api, settings, phone)
    case_no = await file_repair(api)
    token = api.cookies.get("owner_session")
    assert token
    api.cookies.clear()
    routes = staff_routes(the_app(api._transport.app))
    ways = {"owner cookie": {"Cookie": f"owner_session={token}"}, "bearer": {"Authorization": f"Bearer {token}"},
            "workbench cookie": {"Cookie": f"aftersales_session={token}"}}
    checked, answered = 0, []
    for method, path in routes:
        url = filled(path, case_no)
        for way, headers in ways.items():
            r = await api.request(method, url, headers=headers, json={} if method in ("POST", "PUT", "PATCH") else None)
            checked += 1
            if not denied(r):
                answered.append((method, path, way, r.status_code, r.text[:120]))
    print(f"\nroute × owner matrix: {len(routes)} staff routes (method, path) × {len(ways)} ways of sending the "
          f"owner's session = {checked} requests, {checked - len(answered)} refused 401/404/sign-in")
    assert not answered, answered
    assert len(routes) >= 60 and checked == 3 * len(routes)


@pytest.mark.asyncio
async def test_O2_another_owners_case_is_404_its_page_and_every_act(api, staff, settings, sessionmaker) -> None:
    phone, _ = await registered_owner(settings, sessionmaker, project="甲小区")
    await owner_signed_in(api, settings, phone)
    case_no = await file_repair(api)
    other, _ = await registered_owner(settings, sessionmaker, project="乙小区")
    await owner_signed_in(api, settings, other)
    csrf = _csrf((await api.get("/o/home")).text)
    from api.owners import ACT_ORDER
    requests = [("GET", f"/o/cases/{case_no}", None)] + [
        ("POST", f"/o/cases/{case_no}/act/{name}", {"csrf": csrf, "key": "k1", "reason": "x", "quality": "5",
                                                     "attitude": "5", "satisfaction": "5", "score": "5",
                                                     "signed_by": "乙", "appointment_at": "2027-01-05T10:00"})
        for name in ACT_ORDER]
    statuses = [(await api.request(m, url, data=data)).status_code for m, url, data in requests]
    print(f"\nanother owner's case: {len(requests)} owner routes (its page and {len(ACT_ORDER)} acts), "
          f"{statuses.count(404)} answered 404")
    assert statuses == [404] * len(requests)
    view = (await api.get(f"/cases/{case_no}", headers=await staff.headers("cs_staff"))).json()
    assert [t["kind"] for t in view["timeline"]] == ["intake"]          # nothing acted
