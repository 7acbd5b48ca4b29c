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
