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


# ---- input edges: invisible characters, times within reach (R1, R8) ------------------------------------------

INVISIBLES = ["\u202e", "\u202d", "\u2066", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200f", "\u061c",
              "\u00ad"]
CUSTOMER = {"name": "王女士", "phone": "13812341234", "project": "融侨城", "building": "5栋", "unit": "1203"}


def soon(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).astimezone(timezone(timedelta(hours=8))).isoformat()


class Soon(float):
    """Days from now in a parameter, reckoned when the test runs (soon), not when it is collected: a long
    suite runs a test many minutes after collection."""


def reckoned(body: dict) -> dict:
    return {k: soon(v) if isinstance(v, Soon) else v for k, v in body.items()}


def repair() -> dict:
    return {"customer": CUSTOMER, "trades": ["防水"], "description": "阳台渗水", "requested_appointment": soon(2)}


@pytest.mark.asyncio
@pytest.mark.parametrize("char", INVISIBLES)
async def test_names_and_texts_refuse_bidirectional_and_invisible_characters(api, char):
    hotline, manager = await api.token("hotline"), await api.token("cs_manager")
    bodies = [
        ("POST", "/complaints", hotline, {"customer": {**CUSTOMER, "name": f"王{char}女士"}, "channel": "phone",
                                          "category": "漏水", "description": "卫生间漏水"}),
        ("POST", "/complaints", hotline, {"customer": CUSTOMER, "channel": "phone", "category": "漏水",
                                          "description": f"卫生间漏水 1203{char}"}),
        ("POST", "/repairs", hotline, {**repair(), "customer": {**CUSTOMER, "unit": f"{char}1203"}}),
        ("POST", "/cases/TS-2026-000001/actions", hotline, {"action": "progress_note", "note": f"已联系{char}业主"}),
        ("PUT", "/admin/contractors/CT-X", await api.token("finance"), {"name": f"示范{char}建工"}),
        ("POST", "/admin/accounts", manager, {"username": "new.one", "role": "hotline", "password": "pw-2026-edges",
                                              "display_name": f"{char}张三"}),
        ("PUT", "/admin/fee-schedule", manager, {"items": [{"code": "TAP", "name": f"更换{char}水龙头", "unit": "个",
                                                           "unit_price": "45.00"}]}),
    ]
    for method, path, h, body in bodies:
        r = await api.request(method, path, json=body, headers=h)
        assert r.status_code == 422, (path, body, r.status_code, r.text)
        assert "invisible" in r.text and "不可见" in r.text, r.text


@pytest.mark.asyncio
async def test_every_text_of_every_input_model_refuses_a_right_to_left_override_by_its_schema(api):
    doc = (await api.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    unguarded: list[str] = []

    def walk(schema: dict, where: str, seen: frozenset = frozenset()) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], name, seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for i, s in enumerate(schema.get(key, [])):
                walk(s, where, seen)
        if schema.get("type") == "string" and not ({"enum", "const", "format"} & set(schema)):
            pattern = schema.get("pattern")
            if pattern is None or re.search(pattern, "abc\u202edef") or re.search(pattern, "\ufeffabc"):
                unguarded.append(f"{where}: {pattern}")
        for name, s in schema.get("properties", {}).items():
            walk(s, f"{where}.{name}", seen)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{where}[]", seen)
        if isinstance(schema.get("additionalProperties"), dict):
            walk(schema["additionalProperties"], f"{where}{{}}", seen)

    for path, item in doc["paths"].items():
        for method, op in item.items():
            for content in op.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema", {}), f"{method.upper()} {path}")
            for p in op.get("parameters", []):
                if p.get("in") == "query":  # (path parameters are ids, matched by their own patterns in code)
                    walk(p.get("schema", {}), f"{method.upper()} {path} ?{p['name']}")
    # not names or texts: secrets (any character a person chooses), the codec's base64, an uploaded file
    secrets = (".password:", ".client_secret:", ".client_id:", ".scope:", "CodecPayload.", ".file:")
    assert [u for u in unguarded if not any(s in u for s in secrets)] == []


@pytest.mark.asyncio
@pytest.mark.parametrize("at", ["9999-12-31T10:00:00+08:00", "2100-01-01T10:00:00+08:00", Soon(91)],
                         ids=["year-9999", "year-2100", "in-91-days"])  # ids fixed: every xdist worker collects alike
async def test_R1_a_repair_asks_for_a_visit_within_90_days(api, at):
    at = soon(at) if isinstance(at, Soon) else at
    r = await api.post("/repairs", json={**repair(), "requested_appointment": at}, headers=await api.token("hotline"))
    assert r.status_code == 422 and "90 个自然日" in r.text, r.text


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [
    {"action": "extend_deadline", "told_via": "phone", "new_due_at": "9999-12-31T18:00:00+08:00", "owner_consent": "业主电话同意"},
    {"action": "extend_deadline", "told_via": "phone", "new_due_at": Soon(61), "owner_consent": "业主电话同意"},
    {"action": "agree_appointment", "told_via": "phone", "appointment_at": "9999-01-01T10:00:00+08:00"},
    {"action": "agree_appointment", "told_via": "phone", "appointment_at": Soon(91)},
    {"action": "open_repair", "trades": ["防水"], "description": "渗水", "requested_appointment": Soon(120)},
])
async def test_R1_R8_actions_name_times_within_reach(api, body):
    """Refused by the API before any Update is sent (the app here has no Temporal at all); the case's
    Update validator checks the same (tests/e2e/test_security_http.py)."""
    r = await api.post("/cases/WX-2026-000001/actions", json=reckoned(body), headers=await api.token("cs_staff"))
    assert r.status_code == 422 and "个自然日" in r.text, r.text


@pytest.mark.asyncio
@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\ufeff"], ids=["rlo", "zero-width", "bom"])
@pytest.mark.parametrize("route,who,body", [
    ("/admin/properties/import", "cs_manager", "项目,楼栋,房号,已售,已入住\n融侨城,5栋,1203,是,是\n"),
    ("/admin/organisation/import", "admin", "公司编号,公司,项目\nrq,融侨置业,融侨城\n"),
], ids=["property-register", "organisation"])
async def test_an_import_s_file_name_refuses_bidirectional_and_invisible_characters(api, char, route, who, body):
    """The file's name is kept in the import's record and named in its answers: a right-to-left override
    there ("台账\u202exslx.csv" reads as 台账vsc.xlsx) is refused like any other name's, and nothing is imported."""
    h = await api.token(who)
    r = await api.post(route, files={"file": (f"台账{char}xslx.csv", body.encode(), "text/csv")}, headers=h)
    assert r.status_code == 422, (r.status_code, r.text)
    assert "invisible" in r.text and "不可见" in r.text and char not in r.text, r.text
    if route == "/admin/properties/import":
        assert (await api.get("/properties", headers=h)).json() == []
