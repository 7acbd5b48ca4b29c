"""The API's edges: bodies over 1 MiB refused (413) before parsing and sign-in, unknown
fields refused, text without control characters, phones and money as the issue lists them one by one,
pages past the data and absurd page numbers, every error as RFC 9457 problem+json, and an OpenAPI
document that declares what each operation answers.

The app is the real one (create_app) on a migrated SQLite read model; every request here is answered
before Temporal would be called (validation, sign-in, the register), so no Temporal server is needed.
The same answers against a running Temporal are checked by schemathesis (tests/e2e/test_schemathesis.py)."""

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
import pytest_asyncio
from pydantic import TypeAdapter, ValidationError

from aftersales import actions as A
from aftersales.case import Customer
from api.app import create_app
from api.problems import PROBLEM_JSON, statuses_of

MIB = 1024 * 1024
CUSTOMER = {"name": "王女士", "phone": "13812341234", "project": "融侨城", "building": "5栋", "unit": "1203"}
COMPLAINT = {"customer": CUSTOMER, "channel": "phone", "category": "漏水", "description": "卫生间天花板漏水"}


@pytest_asyncio.fixture
async def app(settings, sessionmaker):
    return create_app(settings, sessionmaker=sessionmaker)


@pytest_asyncio.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edges.test") as c:
        yield c


async def headers(client: httpx.AsyncClient, settings, username: str) -> dict[str, str]:
    r = await client.post("/auth/token", data={"username": username, "password": settings.demo_password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def assert_problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    body = r.json()
    assert body["type"] == "about:blank" and body["status"] == status and body["title"] and body["detail"]
    if status == 422:
        assert body["errors"] and all({"loc", "msg", "type"} <= set(e) for e in body["errors"])
    return body


# --- 413 -----------------------------------------------------------------------------------------------

async def test_a_body_over_1_MiB_is_413_before_sign_in(client):
    big = b'{"x": "' + b"a" * (MIB + 10) + b'"}'
    r = await client.post("/complaints", content=big, headers={"Content-Type": "application/json"})
    assert_problem(r, 413)  # not 401: refused before the token is even looked at
    r = await client.post("/auth/token", content=big, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(r, 413)


async def test_a_chunked_body_without_content_length_is_counted_as_it_streams(client):
    sent = []

    async def chunks():
        for _ in range(40):  # 40 × 64 KiB = 2.5 MiB; the middleware stops reading after 1 MiB
            sent.append(1)
            yield b"a" * 65536

    r = await client.post("/complaints", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_problem(r, 413)


async def test_a_body_under_the_limit_goes_on_to_sign_in(client):
    r = await client.post("/complaints", content=b'{"x": "' + b"a" * (MIB - 100) + b'"}',
                          headers={"Content-Type": "application/json"})
    assert_problem(r, 401)


# --- unknown fields, text, phones, money ---------------------------------------------------------------

async def test_unknown_fields_are_refused_naming_them(client, settings):
    hotline = await headers(client, settings, "hotline")
    r = await client.post("/complaints", json={**COMPLAINT, "priority": "high"}, headers=hotline)
    body = assert_problem(r, 422)
    assert ["body", "priority"] in [e["loc"] for e in body["errors"]] and "priority" in body["detail"]
    r = await client.post("/complaints", json={**COMPLAINT, "customer": {**CUSTOMER, "id_card": "x"}}, headers=hotline)
    assert ["body", "customer", "id_card"] in [e["loc"] for e in assert_problem(r, 422)["errors"]]
    r = await client.post("/cases/TS-2026-000001/actions", json={"action": "progress_note", "note": "x", "by": "gm"},
                          headers=hotline)
    assert "by" in assert_problem(r, 422)["detail"]
    finance = await headers(client, settings, "finance")
    r = await client.put("/admin/contractors/CT-X", json={"name": "x", "deposit": "1.00", "bank": "x"}, headers=finance)
    assert "bank" in assert_problem(r, 422)["detail"]
    manager = await headers(client, settings, "cs_manager")
    r = await client.put("/admin/calendar/2031", json={"holidays": {}, "weekends": {}}, headers=manager)
    assert "weekends" in assert_problem(r, 422)["detail"]


async def test_a_NUL_in_a_customer_name_is_refused(client, settings):
    hotline = await headers(client, settings, "hotline")
    r = await client.post("/complaints", json={**COMPLAINT, "customer": {**CUSTOMER, "name": "王\u0000女士"}},
                          headers=hotline)
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "customer", "name"] and "control characters" in body["detail"]
    assert "王" not in r.text  # the value is not echoed


@pytest.mark.parametrize("value", ["a\x00b", "a\x07b", "a\x1bb", "a\x7fb", "a\x85b", "line\nbreak", "tab\there",
                                   "   ", ""])
def test_short_text_refuses_control_characters_and_blanks(value):
    with pytest.raises(ValidationError):
        TypeAdapter(A.ShortText).validate_python(value)


@pytest.mark.parametrize("value,ok", [("第一行\n第二行", True), ("列\t对齐", True), ("全角　空格 ＡＢＣ 😀", True),
                                      ("a\x00", False), ("a\r\n", False), ("\n\t ", False), ("a\x9f", False)])
def test_long_text_keeps_newline_and_tab_only(value, ok):
    if ok:
        assert TypeAdapter(A.Text).validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            TypeAdapter(A.Text).validate_python(value)


@pytest.mark.parametrize("phone,ok", [
    ("13812341234", True), ("19912345678", True), ("010-62345678", True), ("01062345678", True),
    ("021-52345678", True), ("0591-87654321", True), ("0591-8765432", True), ("0755-23456789", True),
    ("000-00000000", False),          # the example: no area code starts 00, no number starts 0
    ("13٨١٢٣٤١٢٣٤", False),            # Arabic-Indic digits (\d took them)
    ("１３８１２３４１２３４", False),  # full-width digits
    ("12812341234", False), ("1381234123", False), ("138123412345", False), ("+8613812341234", False),
    ("010-6234567", False),           # Beijing numbers have 8 digits
    ("0591-07654321", False), ("138 1234 1234", False), (" 13812341234", False), ("13812341234\n", False),
])
def test_phones_mainland_mobiles_and_landlines_ascii_digits_only(phone, ok):
    if ok:
        assert Customer(**{**CUSTOMER, "phone": phone}).phone == phone
    else:
        with pytest.raises(ValidationError):
            Customer(**{**CUSTOMER, "phone": phone})


@pytest.mark.parametrize("amount,ok", [
    ("0", True), ("0.5", True), ("800.00", True), ("1234.5", True), ("999999999999.99", True),
    ("1_000", False), (" 5 ", False), ("5 ", False), ("１２３", False), ("١٢٣", False), ("-0", False), ("-5", False),
    ("+5", False), ("1e3", False), ("007", False), ("12.345", False), ("1,000", False), (".5", False), ("5.", False),
    ("NaN", False), ("Infinity", False), ("", False), ("1000000000000", False), (5.5, False), (5, False),
])
async def test_money_is_a_plain_decimal_string(client, settings, amount, ok):
    """One Money type for every amount: the action bodies and the contractor's deposit alike."""
    body = {"action": "propose_solution", "solution": "重做防水", "compensation": amount}
    if ok:
        assert str(TypeAdapter(A.CaseAction).validate_python(body).compensation) == amount
    else:
        with pytest.raises(ValidationError):
            TypeAdapter(A.CaseAction).validate_python(body)
    r = await client.put("/admin/contractors/CT-MONEY", json={"name": "建工", "deposit": amount},
                         headers=await headers(client, settings, "finance"))
    if ok:
        assert r.status_code == 200 and Decimal(r.json()["initial_deposit"]) == Decimal(amount)
    else:
        assert "deposit" in assert_problem(r, 422)["detail"]


def test_a_money_value_serialises_as_the_same_string():
    pay = TypeAdapter(A.CaseAction).validate_python({"action": "pay", "amount": "1480.50", "reference": "PAY-1"})
    assert pay.model_dump(mode="json")["amount"] == "1480.50"


# --- the register's pages ------------------------------------------------------------------------------

async def test_pages_past_the_data_are_empty_and_absurd_pages_are_422(client, settings):
    cs = await headers(client, settings, "cs_staff")
    r = await client.get("/cases", params={"page": 10}, headers=cs)  # the last page number offered; nothing there
    assert r.status_code == 200 and r.json()["items"] == []
    r = await client.get("/cases", params={"page": "10000000000000000000"}, headers=cs)
    assert assert_problem(r, 422)["errors"][0]["loc"] == ["query", "page"]
    r = await client.get("/cases", params={"department": "工程\x00部"}, headers=cs)
    assert_problem(r, 422)


# --- problem+json everywhere ---------------------------------------------------------------------------

async def test_every_error_is_problem_json(client, settings):
    assert_problem(await client.get("/cases"), 401)
    assert (await client.get("/cases")).headers["WWW-Authenticate"] == "Bearer"
    hotline = await headers(client, settings, "hotline")
    assert_problem(await client.put("/admin/calendar/2031", json={}, headers=hotline), 403)
    assert_problem(await client.get("/contractors/NOPE/deposit", headers=await headers(client, settings, "finance")), 404)
    assert_problem(await client.get("/no/such/path"), 404)
    r = await client.delete("/admin/accounts")
    assert_problem(r, 405)
    assert r.headers["Allow"] == "GET, POST"  # every method of the path, not only the first route's
    assert_problem(await client.post("/complaints", json={**COMPLAINT, "major": "true"}, headers=hotline), 422)
    assert_problem(await client.get("/cases", params={"received_to": "0"}, headers=hotline), 422)
    assert_problem(await client.post("/complaints", content=b"{not json", headers={**hotline,
                                     "Content-Type": "application/json"}), 422)
    for _ in range(settings.login_failures_per_username):
        await client.post("/auth/token", data={"username": "gm", "password": "wrong"})
    r = await client.post("/auth/token", data={"username": "gm", "password": "wrong"})
    assert_problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1


async def test_the_openapi_document_declares_the_problems(client, settings):
    doc = (await client.get("/openapi.json")).json()
    declared = {(m, p): s for m, p, s in statuses_of(doc)}
    assert declared[("POST", "/cases/{case_no}/actions")] >= {200, 401, 404, 409, 413, 422, 503}
    assert declared[("POST", "/complaints")] >= {201, 401, 403, 413, 422, 503}
    assert declared[("POST", "/auth/token")] >= {200, 401, 413, 422, 429}
    assert declared[("GET", "/fee-schedule")] >= {200, 404}   # R3: no schedule yet, or no such version
    assert all(413 in s for s in declared.values())
    op = doc["paths"]["/cases/{case_no}/actions"]["post"]["responses"]
    assert op["422"]["content"] == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}}
    assert op["409"]["content"] == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "Retry-After" in doc["paths"]["/auth/token"]["post"]["responses"]["429"]["headers"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def free_text_properties(schema: dict, components: dict, seen: set[str] | None = None):
    """Every string property of a request schema that is free text (no enum, const, format; not a file)."""
    seen = set() if seen is None else seen
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from free_text_properties(components[name], components, seen)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from free_text_properties(sub, components, seen)
    for sub in list(schema.get("properties", {}).values()) + [schema.get("items", {}),
                                                               schema.get("additionalProperties") or {}]:
        if isinstance(sub, dict) and sub:
            yield from free_text_properties(sub, components, seen)
    if schema.get("type") == "string" and not {"enum", "const", "format", "contentMediaType"} & set(schema):
        yield schema


async def test_every_text_a_request_carries_refuses_NUL_by_its_schema(client):
    """Generated from the OpenAPI document, so a new field cannot forget it: every free-text string of
    every request body and query carries a pattern that refuses a NUL, and pydantic applies it. (Path
    parameters are matched against the case-number and contractor-id patterns by the endpoints.)"""
    import re

    doc = (await client.get("/openapi.json")).json()
    components = doc["components"]["schemas"]
    checked = 0
    for path, item in doc["paths"].items():
        if path.startswith("/codec/"):
            continue  # base64 payloads for the Web UI, decoded and answered, never stored
        for operation in item.values():
            schemas = [p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"]
            for content in operation.get("requestBody", {}).get("content", {}).values():
                schemas.append(content["schema"])
            for schema in schemas:
                for text in free_text_properties(schema, components):
                    assert "pattern" in text, text
                    assert not re.search(text["pattern"], "a\x00b"), text
                    checked += 1
    assert checked >= 30
