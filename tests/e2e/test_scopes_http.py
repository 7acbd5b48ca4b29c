"""P5 over HTTP with the demo group (融侨置业: 融侨城; 海景置业: 海景苑), on the dev server: the group's 400 hotline
files for every project; P1–P3 hold within each account's scope for reading a case, acting on it, the register,
the look-up by phone and the phone rule; a case outside the scope is 404 exactly as an unknown number; an intake
names a registered project within the scope."""

import json
import uuid

import pytest

from tests.e2e.conftest import eventually, post_action, unique_key

PHONE = "13812345671"


def complaint(project: str, phone: str = PHONE) -> dict:
    return {"customer": {"name": "许先生", "phone": phone, "project": project, "building": "2栋", "unit": "202"},
            "channel": "phone", "category": "漏水", "description": "客厅渗水"}


async def get(api, staff, user: str, path: str, **params):
    return await api.get(path, params=params, headers=await staff.headers(user))


async def same_as_unknown(api, staff, username: str, no: str) -> None:
    unknown = f"TS-2026-9{uuid.uuid4().int % 10**5:05d}"
    hidden, missing = await get(api, staff, username, f"/cases/{no}"), await get(api, staff, username, f"/cases/{unknown}")
    assert hidden.status_code == missing.status_code == 404, (username, hidden.text)
    assert hidden.text.replace(no, "N") == missing.text.replace(unknown, "N")


async def listed(api, staff, username: str) -> set[str]:
    page = (await get(api, staff, username, "/cases", page_size=100, type="complaint")).json()
    return {c["case_no"] for c in page["items"]}


@pytest.mark.asyncio
async def test_P5_each_company_sees_and_acts_on_its_own_cases_only(api, staff):
    phone = f"1391234{uuid.uuid4().int % 10**4:04d}"
    opened = {}
    for project in ("海景苑", "融侨城"):
        r = await api.post("/complaints", json=complaint(project, phone),
                           headers={**await staff.headers("hotline"), "Idempotency-Key": unique_key()})
        assert r.status_code == 201, r.text   # the group's 400 line files for every project
        assert (r.json()["company_id"], r.json()["project_key"]) == ({"海景苑": "hj", "融侨城": "rq"}[project], project)
        opened[project] = r.json()["case_no"]
    hj, rq = opened["海景苑"], opened["融侨城"]

    # reading: within the scope (the full phone for those who call owners), else 404 as an unknown number
    for username, mine, theirs in (("butler2", hj, rq), ("cs_manager2", hj, rq), ("butler", rq, hj),
                                   ("cs_manager", rq, hj), ("gm", rq, hj), ("cs_staff", rq, hj)):
        body = (await get(api, staff, username, f"/cases/{mine}")).json()
        assert body["case_no"] == mine and body["customer"]["phone"] == phone, username
        await same_as_unknown(api, staff, username, theirs)
    for username in ("group_gm", "hotline"):
        for no in (hj, rq):
            assert (await get(api, staff, username, f"/cases/{no}")).json()["customer"]["phone"] == phone

    # acting: the other company's manager cannot classify (404), its own can; 海景置业's 工程部 takes it
    classify = {"action": "classify", "category": "漏水", "department": "工程部", "justified": True}
    await post_action(api, staff, hj, "cs_manager", classify, expect=404)
    await post_action(api, staff, rq, "cs_manager2", classify, expect=404)
    await post_action(api, staff, hj, "cs_manager2", classify)
    await post_action(api, staff, hj, "dept_head", {"action": "assign_handler", "handler": "dept_handler"}, expect=404)
    view = await post_action(api, staff, hj, "dept_head2", {"action": "assign_handler", "handler": "dept_handler2"})
    assert view["handler"] == "dept_handler2"
    await post_action(api, staff, hj, "dept_handler", {"action": "department_feedback", "findings": "x"}, expect=404)
    await post_action(api, staff, hj, "dept_handler2", {"action": "department_feedback", "findings": "防水层破损"})
    await same_as_unknown(api, staff, "dept_head", hj)   # 融侨置业's 工程部 does not see 海景置业's case

    # the register and the look-up by phone: only the cases within the scope
    await eventually(lambda: _has(api, staff, "butler2", hj))
    for username, mine, theirs in (("butler2", hj, rq), ("cs_manager2", hj, rq), ("butler", rq, hj),
                                   ("cs_manager", rq, hj)):
        numbers = await listed(api, staff, username)
        assert mine in numbers and theirs not in numbers, username
        found = await api.post("/owners/cases", json={"phone": phone}, headers=await staff.headers(username))
        assert {c["case_no"] for c in found.json()["items"]} == {mine}, (username, found.text)
    found = await api.post("/owners/cases", json={"phone": phone}, headers=await staff.headers("group_gm"))
    assert {c["case_no"] for c in found.json()["items"]} == {hj, rq}


async def _has(api, staff, username: str, no: str) -> bool:
    return no in await listed(api, staff, username)


@pytest.mark.asyncio
async def test_P5_P7_an_intake_names_a_registered_project_within_the_scope(api, staff):
    for username, project, status, text in (("butler2", "融侨城", 403, "不在 butler2 的范围内"),
                                            ("cs_manager2", "融侨城", 403, "不在 cs_manager2 的范围内"),
                                            ("hotline", "无名苑", 422, "不是登记的项目；请从列表中选择："),
                                            ("butler2", "无名苑", 422, "请从列表中选择：海景苑（")):
        r = await api.post("/complaints", json=complaint(project),
                           headers={**await staff.headers(username), "Idempotency-Key": unique_key()})
        assert r.status_code == status and text in json.dumps(r.json(), ensure_ascii=False), (username, r.text)
        if username == "hotline":  # the group's 400 line chooses among every company's projects
            assert "海景苑" in r.text and "融侨城" in r.text
    r = await api.post("/complaints", json=complaint("海景苑"),
                       headers={**await staff.headers("butler2"), "Idempotency-Key": unique_key()})
    assert r.status_code == 201 and r.json()["company_id"] == "hj"


@pytest.mark.asyncio
async def test_P5_P7_the_pickers_offer_the_people_and_projects_of_the_scope_and_a_dispatch_names_the_cases_company(
        api, staff, sessionmaker, settings):
    """The staff lists (/org/staff), a repair's dispatch (its workers: the case's company's repair team, the survey's
    contractor), the handler picker and the new-case and register pages' projects hold the account's company or
    project; another company's repair lead is refused by a dispatch (422 naming the valid ones)."""
    import re
    from aftersales.roles import Role
    from tests.e2e.conftest import account
    from tests.e2e.test_repair_http import in_two_days
    from tests.e2e.test_workbench_http import sign_in
    for username, role in (("cs_staff_hj", Role.cs_staff), ("engineering_hj", Role.engineering),
                           ("repair_lead_hj", Role.repair_lead)):
        await account(sessionmaker, settings, username, role, company_id="hj", display_name=f"海景{role.value}",
                      email=f"{username}@example.com")

    async def people(username, **params):
        r = await get(api, staff, username, "/org/staff", **params)
        assert r.status_code == 200, r.text
        return {p["username"] for p in r.json()}
    assert await people("cs_manager2", role="repair_lead") == {"repair_lead_hj"}
    assert "repair_lead_hj" not in await people("cs_manager", role="repair_lead") and \
        "repair_lead" in await people("cs_manager", role="repair_lead")
    assert {"repair_lead", "repair_lead_hj"} <= await people("group_gm", role="repair_lead")
    assert await people("dept_head2", role="dept_handler") == {"dept_handler2"}
    assert "dept_handler2" not in await people("dept_head", role="dept_handler")
    assert {"contractor", "contractor2"} <= await people("cs_manager2", role="contractor")  # the group's contractors
    mine = await people("butler2")
    assert "butler2" in mine and "cs_manager2" in mine and not {"butler", "cs_manager", "gm"} & mine

    # a repair of 海景苑: surveyed by 海景置业's people, dispatched to its own repair team only
    r = await api.post("/repairs", json={"customer": {"name": "许先生", "phone": PHONE, "project": "海景苑",
                                                      "building": "3栋", "unit": "301"},
                                         "trades": ["防水"], "description": "阳台渗水",
                                         "requested_appointment": in_two_days(), "paid_service": False},
                       headers={**await staff.headers("butler2"), "Idempotency-Key": unique_key()})
    assert r.status_code == 201, r.text
    no = r.json()["case_no"]
    await post_action(api, staff, no, "cs_staff_hj", {"action": "record_survey", "responsible_party": "工程部",
                                                      "multi_trade": False, "estimate": "0", "order_type": "B"})
    for who in ("cs_staff_hj", "engineering_hj", "repair_lead_hj"):
        await post_action(api, staff, no, who, {"action": "sign_survey"})
    await sign_in(api, "cs_staff_hj", settings.demo_password)
    page = (await api.get(f"/app/cases/{no}")).text
    workers = re.search(r'name="workers".*?</select>|data-name="workers".*?</fieldset>', page, re.S)
    offered = workers.group(0) if workers else page
    assert 'value="repair_lead_hj"' in offered and 'value="repair_lead"' not in offered and "孙建国" not in page
    api.cookies.clear()
    refused = await post_action(api, staff, no, "cs_staff_hj", {"action": "dispatch", "workers": ["repair_lead"]},
                                expect=422)
    assert "repair_lead_hj" in refused["detail"] and "孙建国" in refused["detail"]   # named, never offered
    view = await post_action(api, staff, no, "cs_staff_hj", {"action": "dispatch", "workers": ["repair_lead_hj"]})
    assert view["status"] == "in_progress"

    # the new case's projects and the register's project filter: those of the scope
    for username, shown, hidden in (("butler2", "海景苑", "融侨城"), ("cs_manager2", "海景苑", "融侨城"),
                                    ("butler", "融侨城", "海景苑"), ("cs_staff", "融侨城", "海景苑")):
        await sign_in(api, username, settings.demo_password)
        for path in ("/app/new/complaint", "/app/cases"):
            page = (await api.get(path)).text
            assert f'<option value="{shown}"' in page and f'<option value="{hidden}"' not in page, (username, path)
    await sign_in(api, "hotline", settings.demo_password)
    page = (await api.get("/app/new/repair")).text
    assert '<option value="融侨城"' in page and '<option value="海景苑"' in page   # the 400 line files for every project
    api.cookies.clear()
