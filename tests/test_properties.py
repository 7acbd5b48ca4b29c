"""The property register: import from XLSX or CSV, all or nothing with every error
listed (row, column, reason), a re-import updates, buildings written differently are one building,
occupancy per project (V1), the owner's phone masked and sealed (P3, P4)."""

import io
import sqlite3
from datetime import date

import httpx
import pytest
from openpyxl import Workbook

from adapters.temporal.sealing import Sealer
from adapters.db import properties as store
from adapters.spreadsheets import read_table
from aftersales.properties import normalize_building, parse_import
from api.app import create_app

HEAD = ["项目", "楼栋", "房号", "已售", "已入住", "交房日期", "业主姓名", "业主电话"]


def xlsx(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list]) -> bytes:
    return ("\ufeff" + "\n".join(",".join("" if c is None else str(c) for c in r) for r in rows)).encode()


GOOD = [HEAD,
        ["融侨城", "5栋", "1203", "是", "是", date(2025, 6, 30), "王女士", "13812341234"],
        ["融侨城", "5栋", "1204", "是", "否", date(2025, 6, 30), "李先生", "0591-87654321"],
        ["融侨城", "6栋", "0101", "否", "否", None, None, None],
        ["滨江苑", "1号楼", "301", "是", "是", "2024-12-01", "赵女士", "13900001111"]]


# ---- pure --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("written", ["5栋", "5号楼", "５幢", "5#", " 5 栋", "5座"])
def test_buildings_written_differently_are_one_building(written):
    assert normalize_building(written) == "5"


def test_a_good_table_parses_into_records():
    records, problems = parse_import(read_table("units.xlsx", xlsx(GOOD)))
    assert problems == []
    assert [r.unit for r in records] == ["1203", "1204", "0101", "301"]
    assert records[0].handover_date == date(2025, 6, 30) and records[0].occupied and records[0].sold
    assert records[2].owner_phone is None


def test_every_error_is_listed_with_row_column_and_reason():
    rows = [HEAD,
            ["融侨城", "5栋", "1203", "是", "是", "2025-06-30", "王女士", "13812341234"],
            ["", "5栋", "1205", "是", "是", None, None, None],                     # row 3: no project
            ["融侨城", "5栋", "1206", "也许", "是", None, None, None],             # row 4: sold not 是/否
            ["融侨城", "5栋", "1207", "是", "是", "30/06/2025x", None, "1381234"],  # row 5: date and phone
            ["融侨城", "5号楼", "1203", "是", "是", None, None, None],             # row 6: same unit as row 2
            ["融侨城", "5栋", "1208", "否", "是", None, None, None]]               # row 7: unsold but occupied
    records, problems = parse_import(read_table("units.csv", csv_bytes(rows)))
    got = {(p.row, p.column) for p in problems}
    assert got == {(3, "项目"), (4, "已售"), (5, "交房日期"), (5, "业主电话"), (6, "房号"), (7, "已入住")}
    assert all(p.reason for p in problems)
    assert next(p for p in problems if p.row == 6).reason == "the same unit is already on row 2"


def test_missing_and_unknown_headings_are_errors_of_row_1():
    _, problems = parse_import([["项目", "楼栋", "面积"], ["融侨城", "5栋", "90"]])
    assert {(p.row, p.column) for p in problems} == {(1, "面积"), (1, "房号"), (1, "已售"), (1, "已入住")}


def test_only_xlsx_and_csv_are_read():
    with pytest.raises(ValueError, match="only .xlsx and .csv"):
        read_table("units.xls", b"whatever")
    with pytest.raises(ValueError, match="not a readable .xlsx"):
        read_table("units.xlsx", b"not a zip file")


# ---- over HTTP ---------------------------------------------------------------------------------------

@pytest.fixture
async def api(settings, sessionmaker):
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)  # no Temporal call on these routes
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        async def token(username: str) -> dict[str, str]:
            r = await client.post("/auth/token", data={"username": username, "password": settings.demo_password})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}
        client.token = token  # type: ignore[attr-defined]
        yield client


async def upload(api, who: str, name: str, content: bytes) -> httpx.Response:
    return await api.post("/admin/properties/import", headers=await api.token(who),
                          files={"file": (name, content, "application/octet-stream")})


async def test_import_then_occupancy_and_units(api, settings):
    r = await upload(api, "cs_manager", "台账.xlsx", xlsx(GOOD))
    assert r.status_code == 200, r.text
    assert r.json() | {"import_id": 0} == {"import_id": 0, "created": 4, "updated": 0, "units": 4}
    r = await api.get("/properties", headers=await api.token("cs_staff"))
    assert r.json() == [
        {"project": "滨江苑", "units": 1, "sold": 1, "occupied": 1, "occupied_percent": 100.0},
        {"project": "融侨城", "units": 3, "sold": 2, "occupied": 1, "occupied_percent": 33.3}]
    r = await api.get("/properties/units", params={"project": "融侨城", "building": "5号楼"},
                      headers=await api.token("cs_staff"))
    assert [(u["building"], u["unit"], u["owner_phone_masked"]) for u in r.json()] == [
        ("5栋", "1203", "138****1234"), ("5栋", "1204", "059*****4321")]


async def test_a_re_import_updates_and_creates_no_duplicates(api, sessionmaker):
    assert (await upload(api, "cs_manager", "a.xlsx", xlsx(GOOD))).status_code == 200
    again = [HEAD, ["融侨城", "5号楼", "1204", "是", "是", "2025-06-30", "李先生", "13700002222"],
             ["融侨城", "7栋", "0701", "是", "否", None, None, None]]
    r = await upload(api, "cs_manager", "b.csv", csv_bytes(again))
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"]) == (1, 1)
    async with sessionmaker() as session:
        units = await store.list_units(session, "融侨城")
        assert len(units) == 4
        unit = await store.match_unit(session, "融侨城", "5栋", "1204")
        assert unit is not None and unit.occupied and unit.building == "5号楼"


async def test_a_file_with_errors_is_refused_whole_and_changes_nothing(api, sessionmaker):
    assert (await upload(api, "cs_manager", "a.xlsx", xlsx(GOOD))).status_code == 200
    bad = [HEAD, ["融侨城", "5栋", "1203", "否", "否", None, None, None],      # would change a unit
           ["融侨城", "8栋", "0801", "是", "是", None, None, "12345"]]           # bad phone
    r = await upload(api, "cs_manager", "bad.xlsx", xlsx(bad))
    assert r.status_code == 422
    body = r.json()
    [error] = body["errors"]   # RFC 9457 field errors, each with the row, column and reason of the file
    assert (error["row"], error["column"], error["loc"]) == (3, "业主电话", ["file", 3, "业主电话"]) and error["reason"]
    assert "nothing was imported" in body["detail"]
    async with sessionmaker() as session:
        unit = await store.match_unit(session, "融侨城", "5栋", "1203")
        assert unit is not None and unit.sold  # unchanged
        assert await store.match_unit(session, "融侨城", "8栋", "0801") is None


async def test_only_cs_manager_imports(api):
    r = await upload(api, "cs_staff", "a.xlsx", xlsx(GOOD))
    assert r.status_code == 403
    r = await upload(api, "cs_manager", "a.pdf", b"%PDF")
    assert r.status_code == 422 and ".xlsx" in r.json()["detail"]


async def test_P3_P4_the_owner_phone_is_masked_and_sealed_never_in_clear(api, settings, sessionmaker):
    assert (await upload(api, "cs_manager", "a.xlsx", xlsx(GOOD))).status_code == 200
    db_file = settings.database_url.split("///", 1)[1]
    with sqlite3.connect(db_file) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
        sealed = conn.execute("SELECT owner_phone_sealed FROM property_units WHERE unit_key = '1203'").fetchone()[0]
    raw = open(db_file, "rb").read()
    assert b"13812341234" not in raw and b"87654321" not in raw
    assert Sealer.from_settings(settings).unseal(sealed) == "13812341234"  # back for those who call owners
