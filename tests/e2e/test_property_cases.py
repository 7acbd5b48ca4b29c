"""Cases name registered units (C11) end to end: a written address is matched to the
property register ("5号楼" finds the unit of "5栋"), an unknown unit id is refused, free text stays
unmatched, and C11 counts complaints by the registered building."""

import uuid

import pytest

from tests.e2e.conftest import eventually
from tests.test_properties import HEAD, csv_bytes


def complaint(project: str, building: str, unit: str, **customer) -> dict:
    return {"customer": {"name": "王女士", "phone": "13812341234", "project": project, "building": building,
                         "unit": unit, **customer},
            "channel": "phone", "category": "漏水", "description": "卫生间天花板漏水"}


@pytest.mark.asyncio
async def test_intake_matches_the_register_and_C11_counts_one_building(api, staff):
    project = f"融侨城{uuid.uuid4().hex[:6]}"
    rows = [HEAD, [project, "5栋", "1203", "是", "是", "2025-06-30", "王女士", "13812341234"],
            [project, "5栋", "1204", "是", "是", "2025-06-30", "李先生", "13812345678"],
            [project, "5栋", "1205", "是", "是", "2025-06-30", None, None]]
    r = await api.post("/admin/properties/import", headers=await staff.headers("cs_manager"),
                       files={"file": ("台账.csv", csv_bytes(rows), "text/csv")})
    assert r.status_code == 200, r.text
    hotline = await staff.headers("hotline")
    units = (await api.get("/properties/units", params={"project": project}, headers=hotline)).json()
    unit_ids = {u["unit"]: u["id"] for u in units}

    first = await api.post("/complaints", json=complaint(project, "5号楼", "1203"), headers=hotline)
    assert first.status_code == 201, first.text
    assert first.json()["customer"] | {"phone": "-"} == {
        "name": "王女士", "phone": "-", "project": project, "building": "5栋", "unit": "1203",
        "unit_id": unit_ids["1203"]}
    by_id = await api.post("/complaints", json=complaint("随便写", "x", "y", unit_id=unit_ids["1204"]), headers=hotline)
    assert by_id.status_code == 201, by_id.text
    assert (by_id.json()["customer"]["project"], by_id.json()["customer"]["unit"]) == (project, "1204")
    unknown = await api.post("/complaints", json=complaint(project, "5栋", "1203", unit_id=987654321), headers=hotline)
    assert unknown.status_code == 422 and "unit_id" in unknown.json()["detail"]
    free = await api.post("/complaints", json=complaint(project, "5#", "9999"), headers=hotline)
    assert free.status_code == 201 and free.json()["customer"]["unit_id"] is None  # unmatched, still filed

    # C11: four complaints on "5栋" / "5号楼" / "5#" within the window: one building, the warning is raised
    third = free.json()["case_no"]

    async def warned():
        view = (await api.get(f"/cases/{third}", headers=hotline)).json()
        return any(t["kind"] == "early_warning" for t in view["timeline"])
    assert await eventually(warned)
    listed = (await api.get("/cases", params={"project": project}, headers=hotline)).json()
    assert listed["total"] == 3
