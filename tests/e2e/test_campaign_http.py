"""Revisit campaigns over HTTP against a real dev server (V1–V3): the 50% occupancy rule,
unknown projects, a visit whose point becomes a complaint, progress and the closing report."""

import uuid

import pytest

from tests.e2e.conftest import eventually
from tests.test_properties import HEAD, csv_bytes


async def import_project(api, staff, project: str, occupied: int, units: int = 4) -> list[int]:
    rows = [HEAD] + [[project, "1栋", f"{u:04d}", "是", "是" if u <= occupied else "否", "2025-06-30", "业主",
                      "13812341234"] for u in range(1, units + 1)]
    r = await api.post("/admin/properties/import", headers=await staff.headers("cs_manager"),
                       files={"file": ("台账.csv", csv_bytes(rows), "text/csv")})
    assert r.status_code == 200, r.text
    listed = await api.get("/properties/units", params={"project": project}, headers=await staff.headers("cs_staff"))
    return [u["id"] for u in listed.json()]


def plan(project: str, kind: str = "first", **kw) -> dict:
    return {"project": project, "kind": kind, "starts_on": "2026-11-23", "ends_on": "2026-12-31",
            "staff": ["cs_staff"], **kw}


@pytest.mark.asyncio
async def test_V1_V3_campaign_over_http(api, staff):
    manager = await staff.headers("cs_manager")
    project = f"回访苑{uuid.uuid4().hex[:6]}"
    units = await import_project(api, staff, project, occupied=1)
    r = await api.post("/campaigns", json=plan(project), headers=manager)
    assert r.status_code == 409 and "25.0% occupied" in r.json()["detail"] and "50%" in r.json()["detail"]
    r = await api.post("/campaigns", json=plan("没有这个项目"), headers=manager)
    assert r.status_code == 422 and "no project" in r.json()["detail"]
    r = await api.post("/campaigns", json=plan(project, kind="annual", share="0.05"), headers=manager)
    assert r.status_code == 422 and "低于下限" in r.json()["detail"]
    r = await api.post("/campaigns", json=plan(project), headers=await staff.headers("cs_staff"))
    assert r.status_code == 403

    units = await import_project(api, staff, project, occupied=3)   # a re-import: now 75% occupied
    r = await api.post("/campaigns", json=plan(project), headers=manager)
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert (campaign["planned"], campaign["target"], campaign["visited"]) == (3, 3, 0)
    cid = campaign["campaign_id"]

    visit = {"unit_id": units[0], "mode": "in_person", "items": [{"item": "房屋质量", "score": 2}],
             "points": [{"text": "外墙渗水", "handling": "complaint", "category": "渗漏"},
                        {"text": "停车位", "handling": "answered", "answer": "已说明车位政策"}]}
    cs = await staff.headers("cs_staff")
    r = await api.post(f"/campaigns/{cid}/visits", json=visit, headers=cs)
    assert r.status_code == 200, r.text
    assert (r.json()["visited"], r.json()["second_visits_due"], r.json()["points_raised"]) == (1, 1, 2)
    r = await api.post(f"/campaigns/{cid}/visits", json=visit, headers=cs)
    assert r.status_code == 409 and "已回访过" in r.json()["detail"]
    r = await api.post(f"/campaigns/{cid}/visits", json={**visit, "unit_id": 987654}, headers=cs)
    assert r.status_code == 422
    none = cid[:-6] + "999999"
    r = await api.post(f"/campaigns/{none}/visits", json=visit, headers=cs)  # a campaign Temporal does not hold
    assert r.status_code == 404 and r.json()["detail"] == f"no open campaign {none}", r.text
    r = await api.post(f"/campaigns/{cid}/close", json={"note": "结束"}, headers=manager)
    assert r.status_code == 409 and "二次回访" in r.json()["detail"]

    async def handled():
        view = (await api.get(f"/campaigns/{cid}", headers=manager)).json()
        return view if view["points_handled"] == 2 else None
    view = await eventually(handled)
    [complaint_no] = view["cases_opened"]
    complaint = (await api.get(f"/cases/{complaint_no}", headers=cs)).json()
    assert complaint["channel"] == "visit" and complaint["customer"]["unit_id"] == units[0]

    second = {"unit_id": units[0], "mode": "in_person", "items": [{"item": "房屋质量", "score": 4}],
              "second_visit": True}
    r = await api.post(f"/campaigns/{cid}/visits", json=second, headers=manager)
    assert r.status_code == 200, r.text
    r = await api.post(f"/campaigns/{cid}/spot-checks", json={"unit_ids": [units[0]], "result": "表格完整"}, headers=manager)
    assert r.status_code == 200
    r = await api.post(f"/campaigns/{cid}/close", json={"note": "覆盖不足，下周补访"}, headers=manager)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    report = r.json()
    assert (report["coverage_percent"], report["satisfaction_percent"], report["points_handled_percent"]) == (33.3, 50.0, 100.0)

    async def projected():
        rows = (await api.get("/campaigns", params={"project": project}, headers=manager)).json()
        return rows if rows and rows[0]["status"] == "closed" else None
    assert (await eventually(projected))[0]["campaign_id"] == cid
    # the campaign's report (kind campaign, the period is its id), stored like the others
    r = await api.post("/reports", json={"kind": "campaign", "period": cid}, headers=manager)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["summary"]["coverage_percent"] == 33.3 and stored["summary"]["status"] == "closed"
    assert sum(i["planned"] for i in stored["items"]) == 3 and sum(i["visited"] for i in stored["items"]) == 1
    assert "覆盖率" in (await api.get(f"/reports/{stored['id']}.csv", headers=manager)).text


async def import_for(api, staff, username: str, project: str, occupied: int, units: int = 4) -> list[int]:
    """The register's units of a new project, imported by `username` (P5: the project is registered to its company)."""
    rows = [HEAD] + [[project, "1栋", f"{u:04d}", "是", "是" if u <= occupied else "否", "2025-06-30", "业主",
                      "13812341234"] for u in range(1, units + 1)]
    r = await api.post("/admin/properties/import", headers=await staff.headers(username),
                       files={"file": ("台账.csv", csv_bytes(rows), "text/csv")})
    assert r.status_code == 200, r.text
    listed = await api.get("/properties/units", params={"project": project}, headers=await staff.headers(username))
    return [u["id"] for u in listed.json()]


@pytest.mark.asyncio
async def test_P5_V3_campaigns_are_listed_read_and_worked_within_the_scope_only(api, staff, settings):
    """A campaign belongs to its project's company: 融侨置业's accounts list, read and work its campaigns only, 海景置业's
    theirs; another company's campaign is 404 like one that does not exist (list, read, visits, spot-checks, close,
    its report, the pages); the group's accounts see both. The visiting staff are people of the campaign's project."""
    from tests.e2e.test_workbench_http import sign_in
    tag = uuid.uuid4().hex[:6]
    rq_project, hj_project = f"融侨回访苑{tag}", f"海景回访苑{tag}"
    rq_units = await import_for(api, staff, "cs_manager", rq_project, occupied=3)
    hj_units = await import_for(api, staff, "cs_manager2", hj_project, occupied=3)
    r = await api.post("/campaigns", json=plan(rq_project, staff=["cs_staff"]), headers=await staff.headers("cs_manager"))
    assert r.status_code == 201, r.text
    rq = r.json()["campaign_id"]
    r = await api.post("/campaigns", json=plan(hj_project, staff=["cs_staff"]), headers=await staff.headers("cs_manager2"))
    assert r.status_code == 422 and "cs_staff" in r.json()["detail"] and "P5" in r.json()["detail"]  # 融侨置业's staff
    r = await api.post("/campaigns", json=plan(rq_project, staff=["cs_manager2"]), headers=await staff.headers("cs_manager2"))
    assert r.status_code == 422   # 融侨置业's project is not in 海景置业's register
    r = await api.post("/campaigns", json=plan(hj_project, staff=["cs_manager2"]), headers=await staff.headers("cs_manager2"))
    assert r.status_code == 201, r.text
    hj = r.json()["campaign_id"]

    async def listed(username):
        return {c["campaign_id"] for c in (await api.get("/campaigns", headers=await staff.headers(username))).json()}

    async def both_projected():
        return {rq, hj} <= await listed("group_gm") or None
    await eventually(both_projected)
    for username, mine, theirs in (("cs_manager", rq, hj), ("cs_staff", rq, hj), ("cs_manager2", hj, rq)):
        seen = await listed(username)
        assert mine in seen and theirs not in seen, username
    assert not {rq, hj} & await listed("butler2")   # a project's butler: neither project is its own
    assert (await api.get("/campaigns", params={"project": hj_project},
                          headers=await staff.headers("cs_manager"))).json() == []

    unknown = rq[:-6] + "999998"
    for username, theirs in (("cs_manager", hj), ("cs_manager2", rq), ("butler", hj)):
        hidden = await api.get(f"/campaigns/{theirs}", headers=await staff.headers(username))
        missing = await api.get(f"/campaigns/{unknown}", headers=await staff.headers(username))
        assert hidden.status_code == missing.status_code == 404, (username, hidden.text)
        assert hidden.text.replace(theirs, "X") == missing.text.replace(unknown, "X")
    assert (await api.get(f"/campaigns/{hj}", headers=await staff.headers("cs_manager2"))).json()["project"] == hj_project
    assert (await api.get(f"/campaigns/{hj}", headers=await staff.headers("group_gm"))).status_code == 200

    # working another company's campaign: 404, nothing recorded
    visit = {"unit_id": hj_units[0], "mode": "in_person", "items": [{"item": "房屋质量", "score": 4}]}
    manager = await staff.headers("cs_manager")
    assert (await api.post(f"/campaigns/{hj}/visits", json=visit, headers=await staff.headers("cs_staff"))).status_code == 404
    assert (await api.post(f"/campaigns/{hj}/spot-checks", json={"unit_ids": [hj_units[0]], "result": "x"},
                           headers=manager)).status_code == 404
    assert (await api.post(f"/campaigns/{hj}/close", json={"note": "x"}, headers=manager)).status_code == 404
    assert (await api.post("/reports", json={"kind": "campaign", "period": hj}, headers=manager)).status_code == 404
    assert (await api.get(f"/campaigns/{hj}", headers=await staff.headers("cs_manager2"))).json()["visited"] == 0
    r = await api.post(f"/campaigns/{hj}/visits", json=visit, headers=await staff.headers("cs_manager2"))
    assert r.status_code == 200 and r.json()["visited"] == 1
    r = await api.post(f"/campaigns/{rq}/visits", json={**visit, "unit_id": rq_units[0]},
                       headers=await staff.headers("cs_staff"))
    assert r.status_code == 200, r.text

    # the pages: the list, a campaign's page, the planner's projects and staff of the scope only
    await sign_in(api, "cs_manager", settings.demo_password)
    page = (await api.get("/app/campaigns")).text
    assert rq in page and hj not in page and rq_project in page and hj_project not in page
    assert "邓凯" not in page    # 海景置业's cs_manager2 is no visitor of 融侨置业's campaigns
    assert (await api.get(f"/app/campaigns/{hj}")).status_code == 404
    assert (await api.get(f"/app/campaigns/{rq}")).status_code == 200
    await sign_in(api, "cs_manager2", settings.demo_password)
    page = (await api.get("/app/campaigns")).text
    assert hj in page and rq not in page and hj_project in page and rq_project not in page
    assert "李娜" not in page    # 融侨置业's cs_staff
    assert (await api.get(f"/app/campaigns/{rq}")).status_code == 404
    api.cookies.clear()


@pytest.mark.asyncio
async def test_V3_P7_a_second_visit_counts_the_campaign_companys_cs_manager_by_account(api, staff, settings,
                                                                                    sessionmaker):
    """海景置业's campaign: its manager is cs_manager2 (邓凯), not an account named "cs_manager". A second visit recorded
    by the company's customer-service staff with cs_manager2 among the participants is accepted; without a manager,
    or with 融侨置业's cs_manager, it is refused naming 邓凯 by name and title, and nothing is recorded."""
    from aftersales.roles import Role
    from tests.e2e.conftest import account
    tag = uuid.uuid4().hex[:6]
    visitor = f"hjcs{tag}"
    await account(sessionmaker, settings, visitor, Role.cs_staff, company_id="hj")
    project = f"海景二访苑{tag}"
    units = await import_for(api, staff, "cs_manager2", project, occupied=3)
    r = await api.post("/campaigns", json=plan(project, staff=[visitor]), headers=await staff.headers("cs_manager2"))
    assert r.status_code == 201, r.text
    cid = r.json()["campaign_id"]
    cs = await staff.headers(visitor)
    first = {"unit_id": units[0], "mode": "phone", "items": [{"item": "房屋质量", "score": 2}]}
    r = await api.post(f"/campaigns/{cid}/visits", json=first, headers=cs)
    assert r.status_code == 200 and r.json()["second_visits_due"] == 1, r.text

    second = {"unit_id": units[0], "mode": "in_person", "items": [{"item": "房屋质量", "score": 4}], "second_visit": True}
    for participants in ([], [visitor], ["cs_manager"]):
        r = await api.post(f"/campaigns/{cid}/visits", json={**second, "participants": participants}, headers=cs)
        assert r.status_code == 422, r.text
        assert "cs_manager2（邓凯 · 海景置业客户服务部经理）" in r.json()["detail"] and "赵敏" not in r.json()["detail"]
    r = await api.post(f"/campaigns/{cid}/visits", json={**second, "participants": ["cs_manager2"]}, headers=cs)
    assert r.status_code == 200, r.text
    assert (r.json()["second_visits_due"], r.json()["second_visits_done"], r.json()["visited"]) == (0, 1, 1)
