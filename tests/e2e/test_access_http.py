"""Who may see and do what, over HTTP with the demo accounts (P1–P3): 物业部's head neither
sees nor acts on a 工程部 case (404, exactly as an unknown number), assign_handler names only an active
dept_handler of the department, a contractor sees only the repairs dispatched to it with the phone
masked, the register counts only what the user may see, every case answer masks the phone (and numbers
typed into free text) for roles P3 does not list, each showing of a full number is recorded and
cs_manager reads the records; accounts are administered by admin (P6) with every change logged."""

import json
from datetime import datetime, timedelta, timezone
import uuid

import pytest

from aftersales.roles import Role
from tests.e2e.conftest import account, eventually, post_action, unique_key

PHONE, OTHER_PHONE = "13812345678", "13987654321"
COMPLAINT = {
    "customer": {"name": "赵先生", "phone": PHONE, "project": "融侨城", "building": "9栋", "unit": "801"},
    "channel": "phone", "category": "漏水", "description": f"卫生间漏水, 另一联系电话 {OTHER_PHONE}",
}


def repair() -> dict:
    """The repair intake; its requested visit in a week (R1: future, within 90 days) reckoned when sent."""
    return {"customer": {"name": "钱女士", "phone": PHONE, "project": "融侨城", "building": "9栋", "unit": "802"},
            "trades": ["防水"], "description": f"阳台渗水, 请打 {OTHER_PHONE}",
            "requested_appointment": (datetime.now(timezone.utc) + timedelta(days=7)).isoformat()}


def has_full_phone(body) -> bool:
    text = json.dumps(body, ensure_ascii=False)
    return PHONE in text or OTHER_PHONE in text


def unknown_number() -> str:
    return f"TS-2026-9{uuid.uuid4().int % 10**5:05d}"


async def get(api, staff, user: str, path: str, **params):
    return await api.get(path, params=params, headers=await staff.headers(user))


async def same_as_unknown(api, staff, username: str, no: str) -> None:
    """P2: the answer for a case the user may not see is the answer for a number that does not exist."""
    unknown = unknown_number()
    hidden, missing = await get(api, staff, username, f"/cases/{no}"), await get(api, staff, username, f"/cases/{unknown}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(no, "N") == missing.text.replace(unknown, "N")


async def register_numbers(api, staff, username: str, **params) -> tuple[list[str], int]:
    page = (await get(api, staff, username, "/cases", page_size=100, **params)).json()
    return [c["case_no"] for c in page["items"]], page["total"]


@pytest.mark.asyncio
async def test_P1_P2_P3_a_complaint_of_工程部(api, staff):
    r = await api.post("/complaints", json=COMPLAINT, headers={**await staff.headers("hotline"),
                                                               "Idempotency-Key": unique_key()})
    # the answer to the intake confirms it, the number masked (P3, minimisation) ...
    assert r.status_code == 201 and r.json()["customer"]["phone"] == "138****5678", r.text
    # ... and the hotline, who calls owners, reads it in full (recorded)
    assert (await get(api, staff, "hotline", f"/cases/{r.json()['case_no']}")).json()["customer"]["phone"] == PHONE
    no = r.json()["case_no"]
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                   "justified": True})
    # P1: assign_handler names an active dept_handler of the case's department (422 naming the problem and,
    # P7, the department's handlers to choose from)
    for handler, problem in (("nobody-here", "不是工程部在职的责任部门专人；请从列表中选择：dept_handler（张伟 · 工程部专人）"),
                             ("gm", "不是工程部在职的责任部门专人"), ("wy_handler", "不是工程部的")):
        body = await post_action(api, staff, no, "dept_head", {"action": "assign_handler", "handler": handler},
                                 expect=422)
        assert problem in json.dumps(body, ensure_ascii=False)
    # P1, P2: 物业部's head neither acts on nor sees 工程部's case
    await post_action(api, staff, no, "wy_head", {"action": "assign_handler", "handler": "wy_handler"}, expect=404)
    await same_as_unknown(api, staff, "wy_head", no)
    view = await post_action(api, staff, no, "dept_head", {"action": "assign_handler", "handler": "dept_handler"})
    assert view["handler"] == "dept_handler" and not has_full_phone(view)  # the head does not call owners (P3)
    await post_action(api, staff, no, "wy_handler", {"action": "department_feedback", "findings": "x"}, expect=404)
    view = await post_action(api, staff, no, "dept_handler", {"action": "department_feedback",
                                                              "findings": f"业主留言 {OTHER_PHONE}"})
    # an action's answer confirms it: the number masked for everyone, the handler's included (P3, minimisation)
    assert not has_full_phone(view) and OTHER_PHONE not in json.dumps(view, ensure_ascii=False)
    assert (await get(api, staff, "dept_handler", f"/cases/{no}")).json()["customer"]["phone"] == PHONE  # calls back

    # every demo account: sees it in full (P3 callers, the named handler), masked (工程部's head), or not at all
    full = {"hotline", "cs_staff", "butler", "cs_manager", "deputy_gm", "gm", "dept_handler"}
    masked_only = {"dept_head"}
    for username in [r.value for r in Role] + ["wy_head", "wy_handler", "contractor2"]:
        if username in full | masked_only:
            body = (await get(api, staff, username, f"/cases/{no}")).json()
            assert body["case_no"] == no and has_full_phone(body) == (username in full), username
        else:
            await same_as_unknown(api, staff, username, no)
    masked = (await get(api, staff, "dept_head", f"/cases/{no}")).json()
    assert not has_full_phone(masked) and masked["customer"]["phone"] == "138****5678"
    assert "139****4321" in masked["description"]
    assert any("139****4321" in t["text"] for t in masked["timeline"])

    # the register: filtered in SQL before paging; no phone number in it for anyone
    await eventually(lambda: _listed(api, staff, "dept_head", no))
    for username in [r.value for r in Role] + ["wy_head", "wy_handler", "contractor2"]:
        numbers, total = await register_numbers(api, staff, username)
        assert (no in numbers) == (username in full | masked_only) and (total == len(numbers) or total > 100)
    numbers, _ = await register_numbers(api, staff, "contractor", type="complaint")
    assert numbers == []
    page = (await get(api, staff, "gm", "/cases", page_size=100)).json()
    assert not has_full_phone(page)

    # P3: each showing of the full number was recorded; cs_manager reads the records
    records = (await get(api, staff, "cs_manager", "/audit/personal-data", case_no=no)).json()
    shown = {(r["username"], r["endpoint"]) for r in records}
    assert ("hotline", "GET /cases/{case_no}") in shown and ("dept_handler", "GET /cases/{case_no}") in shown
    assert not any(e == "POST /complaints" for _, e in shown)  # answers to writes show no number
    assert not any(e == "POST /cases/{case_no}/actions" for _, e in shown)  # action answers show no number
    assert not any(r["username"] == "dept_head" for r in records)  # masked answers are not showings
    mine = (await get(api, staff, "cs_manager", "/audit/personal-data", username="dept_handler", case_no=no)).json()
    assert mine and {r["username"] for r in mine} == {"dept_handler"}
    assert (await get(api, staff, "cs_manager", "/audit/personal-data", case_no=no,
                      since="2100-01-01T00:00:00+08:00")).json() == []
    assert (await get(api, staff, "gm", "/audit/personal-data")).status_code == 403


async def _listed(api, staff, username: str, no: str) -> bool:
    numbers, _ = await register_numbers(api, staff, username)
    return no in numbers


@pytest.mark.asyncio
async def test_P1_P2_P3_a_contractor_sees_only_its_own_repairs_masked(api, staff):
    r = await api.post("/repairs", json=repair(), headers={**await staff.headers("hotline"),
                                                         "Idempotency-Key": unique_key()})
    no = r.json()["case_no"]
    for username in ("contractor", "contractor2", "finance"):
        await same_as_unknown(api, staff, username, no)  # no survey names a contractor yet
    survey = {"action": "record_survey", "responsible_party": "工程部", "contractor_id": "CT-DEMO",
              "multi_trade": False, "estimate": "800.00", "order_type": "A"}
    await post_action(api, staff, no, "cs_staff", survey)
    await post_action(api, staff, no, "contractor2", {"action": "sign_survey"}, expect=404)
    await same_as_unknown(api, staff, "contractor2", no)
    view = (await get(api, staff, "contractor", f"/cases/{no}")).json()
    assert view["case_no"] == no and not has_full_phone(view) and "139****4321" in view["description"]
    repair_lead = (await get(api, staff, "repair_lead", f"/cases/{no}")).json()
    assert repair_lead["customer"]["phone"] == PHONE  # repair_lead on a repair (P3)
    for username in ("cs_staff", "engineering", "repair_lead", "contractor"):
        view = await post_action(api, staff, no, username, {"action": "sign_survey"})
    assert view["status"] == "cost_approval" and view["waiting_for"] == "cs_manager"

    await eventually(lambda: _listed(api, staff, "contractor", no))
    assert no not in (await register_numbers(api, staff, "contractor2"))[0]
    numbers, total = await register_numbers(api, staff, "contractor")
    assert no in numbers and (total == len(numbers) or total > 100)
    # deposits: a contractor reads its own only; another's is "no such contractor"
    assert (await get(api, staff, "contractor", "/contractors/CT-DEMO/deposit")).status_code == 200
    assert (await get(api, staff, "contractor", "/contractors/CT-DEMO2/deposit")).status_code == 404


@pytest.mark.asyncio
async def test_P1_P6_accounts_are_administered_by_admin_and_every_change_is_logged(api, staff, sessionmaker,
                                                                                    settings):
    manager = await staff.headers("admin")
    name = f"wy.{uuid.uuid4().hex[:6]}"
    new = {"username": name, "role": "dept_handler", "password": "pw-2026-access"}
    assert (await api.post("/admin/accounts", json={**new, "company_id": "rq"},
                           headers=manager)).status_code == 422  # no department
    assert (await api.post("/admin/accounts", json={**new, "department": "物业部"},
                           headers=manager)).status_code == 422  # P5: no company
    new["company_id"] = "rq"
    assert (await api.post("/admin/accounts", json={**new, "department": "物业部"},
                           headers=await staff.headers("gm"))).status_code == 403
    for department in ("物业\x00部", " 物业部", "物业部\n"):  # no control characters, no surrounding blanks
        assert (await api.post("/admin/accounts", json={**new, "department": department},
                               headers=manager)).status_code == 422
    r = await api.post("/admin/accounts", json={**new, "department": "物业部"}, headers=manager)
    assert r.status_code == 201 and r.json()["department"] == "物业部"
    assert (await api.post("/admin/accounts", json={**new, "department": "物业部"}, headers=manager)).status_code == 409
    bad = await api.post("/admin/accounts", json={**new, "username": name + "x", "role": "contractor",
                                                  "contractor_id": "NO-SUCH"}, headers=manager)
    assert bad.status_code == 422 and "NO-SUCH" in bad.text

    token = (await api.post("/auth/token", data={"username": name, "password": "pw-2026-access"})).json()["access_token"]
    mine = {"Authorization": f"Bearer {token}"}
    assert (await api.get("/cases", headers=mine)).status_code == 200
    r = await api.patch(f"/admin/accounts/{name}", json={"role": "contractor", "contractor_id": "CT-DEMO2"},
                        headers=manager)
    assert r.status_code == 200 and r.json()["department"] is None and r.json()["contractor_id"] == "CT-DEMO2"
    assert (await api.get("/cases", headers=mine)).status_code == 401  # a changed account's token is refused
    assert (await api.post(f"/admin/accounts/{name}/password", json={"password": "pw-2026-reset"},
                           headers=manager)).status_code == 200
    assert (await api.patch(f"/admin/accounts/{name}", json={"active": False}, headers=manager)).status_code == 200
    assert (await api.post("/auth/token", data={"username": name, "password": "pw-2026-reset"})).status_code == 401
    assert (await api.patch("/admin/accounts/nobody-at-all", json={"active": False}, headers=manager)).status_code == 404

    log = (await api.get("/admin/account-changes", params={"username": name}, headers=manager)).json()
    assert [c["change"] for c in log] == ["deactivate", "password_reset", "update", "create"]
    assert all(c["by"] == "admin" for c in log)
    assert log[2]["detail"]["role"] == ["dept_handler", "contractor"]
    assert "pw-2026" not in json.dumps(log)
    listed = (await api.get("/admin/accounts", headers=manager)).json()
    assert {"wy_head", "wy_handler", "contractor2"} <= {a["username"] for a in listed}
    assert (await api.get("/admin/accounts", headers=await staff.headers("hotline"))).status_code == 403
    assert (await api.get("/admin/accounts", headers=await staff.headers("cs_manager"))).status_code == 403  # P6
    await account(sessionmaker, settings, "unused", Role.hotline)  # the helper other tests use
