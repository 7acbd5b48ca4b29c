"""Bounds of the API's inputs, over HTTP on the real app (no Temporal is reached: every request here is
answered before a workflow would be asked):

- the five requests the security review saw answer 500 are 4xx naming the problem; every integer in a
  query or path is bounded in the OpenAPI document, and times and months given as filters lie in the
  product's years (a year 9999 or 0000 overflowed Python's dates);
- the OpenAPI document declares what the operations answer (schemathesis' status-code and content-type
  conformance): the 403 of an action, the CSV and XLSX of the reports' files;
- the names and texts of every input model refuse bidirectional and invisible control characters
  (right-to-left override, zero-width, BOM, ...), and the requested appointment of a repair lies within
  90 days."""

import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import pytest_asyncio

from api.app import create_app

BIG = "9" * 23


@pytest_asyncio.fixture
async def api(settings, sessionmaker):
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://api.test") as client:
        async def token(username: str) -> dict[str, str]:
            r = await client.post("/auth/token", data={"username": username, "password": settings.demo_password})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}
        client.token = token  # type: ignore[attr-defined]
        yield client


# ---- the five 500s -----------------------------------------------------------------------------------------

@pytest.mark.asyncio
@pytest.mark.parametrize("path", [
    f"/reports/{BIG}", f"/reports/{BIG}.csv", f"/reports/{BIG}.xlsx", "/fee-schedule?version=99999999999999999999",
    "/reports/compensation?month=9999-12", "/reports/compensation?month=0000-01",
    "/reports/paid-services?month=9999-12", "/reports/paid-services?month=0000-01",
    "/cases?received_to=9999-12-31T23:00:00-10:00", "/cases?received_from=0001-01-01T00:00:00%2B14:00",
    "/audit/personal-data?since=9999-12-31T23:00:00-10:00"
])
async def test_numbers_and_dates_out_of_bounds_are_4xx_not_500(api, path):
    r = await api.get(path, headers=await api.token("cs_manager"))
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.asyncio
@pytest.mark.parametrize("query", [f"level={'9' * 20}", "level=10", "level=-1", "level=１", "to=9999-12-31",
                                   "from=0000-01-01"])
async def test_the_workbench_register_bounds_its_filters(api, query):
    h = await api.token("cs_manager")
    api.cookies.set("aftersales_session", h["Authorization"].removeprefix("Bearer "))
    try:
        r = await api.get(f"/app/cases?{query}")
    finally:
        api.cookies.clear()
    assert r.status_code < 500, r.text[:500]
    assert ("升级级别须为 0 到 9 的整数" in r.text) or ("日期格式不对" in r.text), r.text[:2000]


@pytest.mark.asyncio
async def test_the_openapi_document_bounds_every_integer_and_declares_403_and_file_types(api):
    doc = (await api.get("/openapi.json")).json()
    unbounded = [(method, path, p["name"]) for path, item in doc["paths"].items() for method, op in item.items()
                 for p in op.get("parameters", []) if _integer(p.get("schema", {})) and "maximum" not in _integer(p["schema"])]
    assert unbounded == []
    actions = doc["paths"]["/cases/{case_no}/actions"]["post"]["responses"]
    assert "403" in actions and "409" in actions
    assert "text/csv" in doc["paths"]["/reports/{report_id}.csv"]["get"]["responses"]["200"]["content"]
    assert ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            in doc["paths"]["/reports/{report_id}.xlsx"]["get"]["responses"]["200"]["content"])
    assert {"application/json", "text/csv"} <= set(
        doc["paths"]["/reports/paid-services"]["get"]["responses"]["200"]["content"])
    # what is declared is what is answered
    h = await api.token("cs_manager")
    made = (await api.post("/reports", json={"kind": "monthly_complaints", "period": "2026-11"}, headers=h)).json()
    assert (await api.get(f"/reports/{made['id']}.csv", headers=h)).headers["content-type"].startswith("text/csv")
    assert (await api.get(f"/reports/{made['id']}.xlsx", headers=h)).headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    r = await api.get("/reports/paid-services", params={"month": "2026-11"}, headers={**h, "Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")


def _integer(schema: dict) -> dict | None:
    if schema.get("type") == "integer":
        return schema
    return next((s for s in schema.get("anyOf", []) if s.get("type") == "integer"), None)
