"""Money end to end over HTTP against a real dev server: A1 on the amount finally paid — a
repair surveyed with no estimate and settled at 50,000 cannot be paid before deputy_gm and gm approve."""

import pytest

from tests.e2e.conftest import attach, post_action
from tests.e2e.test_repair_http import repair

APPROVE = {"action": "decide", "decision": "approve"}


async def repair_done_and_revisited(api, staff, survey: dict) -> str:
    """A repair registered, surveyed (no cost approval needed), worked, inspected, signed off, revisited."""
    r = await api.post("/repairs", json=repair(), headers=await staff.headers("hotline"))
    assert r.status_code == 201, r.text
    no = r.json()["case_no"]
    await post_action(api, staff, no, "cs_staff", {"action": "record_survey", **survey})
    for who in ("cs_staff", "engineering", "repair_lead"):
        view = await post_action(api, staff, no, who, {"action": "sign_survey"})
    assert view["status"] == "surveyed", view["status"]
    await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]})
    await work_inspected_signed_off_revisited(api, staff, no)
    return no


async def work_inspected_signed_off_revisited(api, staff, no: str) -> dict:
    await attach(api, staff, no, "repair_lead", "after_work")                                   # D2
    await post_action(api, staff, no, "repair_lead", {"action": "complete_work", "note": "完工"})
    await post_action(api, staff, no, "cs_staff", {"action": "inspect", "passed": True})
    await post_action(api, staff, no, "repair_lead", {"action": "inspect", "passed": True})
    await post_action(api, staff, no, "cs_staff", {"action": "owner_sign_off", "told_via": "phone", "quality": 5, "attitude": 5})
    return await post_action(api, staff, no, "cs_staff", {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5,
                                                          "attitude": 5})


@pytest.mark.asyncio
async def test_A1_no_estimate_and_a_50000_cost_statement_needs_gm_before_payment_over_http(api, staff):
    no = await repair_done_and_revisited(api, staff, {"responsible_party": "工程部", "multi_trade": False,
                                                      "estimate": "0", "order_type": "B"})
    view = await post_action(api, staff, no, "repair_lead", {"action": "cost_statement", "amount": "50000.00",
                                                             "note": "整体翻修"})
    assert [s["role"] for s in view["approvals"][-1]["steps"]] == ["auditor", "deputy_chief_engineer",
                                                                   "deputy_gm", "gm"]
    assert view["a1"]["band"] == "gm" and view["a1"]["missing"] == ["deputy_chief_engineer", "deputy_gm", "gm"]
    pay = {"action": "pay", "amount": "50000.00", "reference": "FK-50000"}
    for who in ("auditor", "deputy_chief_engineer", "deputy_gm"):
        view = await post_action(api, staff, no, who, APPROVE)
        await post_action(api, staff, no, "finance", pay, expect=404)  # not passed to finance yet (A3, P2)
    assert view["waiting_for"] == "gm" and view["a1"]["missing"] == ["gm"]
    await post_action(api, staff, no, "deputy_gm", APPROVE, expect=403)
    view = await post_action(api, staff, no, "gm", APPROVE)
    assert view["status"] == "awaiting_payment" and view["a1"]["missing"] == []
    view = await post_action(api, staff, no, "finance", pay)
    assert view["status"] == "closed"


FEE_SCHEDULE = {"items": [{"code": "TAP", "name": "更换水龙头", "unit": "个", "unit_price": "45.00"},
                          {"code": "PIPE", "name": "更换水管", "unit": "米", "unit_price": "32.50"}],
                "note": "2026年有偿服务收费标准"}


def this_month() -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


@pytest.mark.asyncio
async def test_R3_paid_service_over_http_fee_schedule_quote_acceptance_payment_and_the_register(api, staff):
    manager, finance = await staff.headers("cs_manager"), await staff.headers("finance")
    assert (await api.put("/admin/fee-schedule", json=FEE_SCHEDULE, headers=await staff.headers("cs_staff"))
            ).status_code == 403
    bad = {"items": [FEE_SCHEDULE["items"][0], FEE_SCHEDULE["items"][0]]}
    r = await api.put("/admin/fee-schedule", json=bad, headers=manager)
    assert r.status_code == 422 and "TAP" in r.text
    r = await api.put("/admin/fee-schedule", json={"items": [{**FEE_SCHEDULE["items"][0], "unit_price": "-1"}]},
                      headers=manager)
    assert r.status_code == 422
    r = await api.put("/admin/fee-schedule", json=FEE_SCHEDULE, headers=manager)
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    again = (await api.put("/admin/fee-schedule", json=FEE_SCHEDULE, headers=manager)).json()
    assert again["version"] == version and again["created"] is False                # a retry acts once
    current = (await api.get("/fee-schedule", headers=await staff.headers("cs_staff"))).json()
    assert current["version"] == version and [i["unit_price"] for i in current["items"]] == ["45.00", "32.50"]

    hotline = await staff.headers("hotline")
    no = (await api.post("/repairs", json={**repair(), "paid_service": True}, headers=hotline)).json()["case_no"]
    quote = {"action": "quote", "items": [{"code": "TAP", "quantity": "2"}, {"code": "PIPE", "quantity": "1.5"}],
             "extras": [{"name": "角阀", "unit": "个", "unit_price": "18.00", "quantity": "1", "reason": "原角阀锈死"}]}
    await post_action(api, staff, no, "cs_staff", {**quote, "items": [{"code": "GOLD", "quantity": "1"}]}, expect=422)
    await post_action(api, staff, no, "cs_staff", {"action": "record_survey", "responsible_party": "工程部",
                                                   "multi_trade": False, "estimate": "0", "order_type": "B"},
                      expect=409)                                                      # no company survey / A1
    forged = {**quote, "schedule": {"version": 1, "items": [{"code": "TAP", "name": "x", "unit": "个",
                                                             "unit_price": "0.01"}]}}
    view = await post_action(api, staff, no, "repair_lead", forged)                   # the API prices it
    assert view["status"] == "quoted" and view["quote"]["schedule_version"] == version
    assert view["quote"]["total"] == "156.75"                                         # 90 + 48.75 + 18
    await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]}, expect=409)
    view = await post_action(api, staff, no, "cs_staff", {"action": "accept_quote", "told_via": "phone", "signed_by": "李先生",
                                                          "signed_at": view["timeline"][-1]["at"]})
    assert view["quote_acceptance"]["signed_by"] == "李先生"
    await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]})
    view = await work_inspected_signed_off_revisited(api, staff, no)
    assert view["status"] == "revisited" and "a1" not in view
    pay = {"action": "record_service_payment", "amount": "156.75", "method": "wechat", "receipt_no": "SJ-0001"}
    await post_action(api, staff, no, "finance", {**pay, "method": "bitcoin"}, expect=422)
    await post_action(api, staff, no, "cs_staff", pay, expect=403)
    view = await post_action(api, staff, no, "finance", pay)
    assert view["status"] == "closed" and view["outcome"] == "completed"

    declined = (await api.post("/repairs", json={**repair(), "paid_service": True}, headers=hotline)).json()["case_no"]
    await post_action(api, staff, declined, "cs_staff", quote)
    view = await post_action(api, staff, declined, "butler", {"action": "decline_quote", "told_via": "phone", "reason": "业主嫌贵"})
    assert view["status"] == "closed" and view["outcome"] == "declined"

    # a new schedule version: the quote made earlier keeps its prices
    r = await api.put("/admin/fee-schedule", json={"items": [{**FEE_SCHEDULE["items"][0], "unit_price": "60.00"}]},
                      headers=manager)
    assert r.json()["version"] == version + 1 and r.json()["created"] is True
    old = (await api.get(f"/cases/{no}", headers=manager)).json()["quote"]
    assert old["schedule_version"] == version and old["lines"][0]["unit_price"] == "45.00"
    assert (await api.get("/fee-schedule", params={"version": version}, headers=manager)).json()["items"][0][
        "unit_price"] == "45.00"

    month = this_month()

    async def registered():  # read by customer service's manager, who sees every case (P2)
        report = (await api.get("/reports/paid-services", params={"month": month}, headers=manager)).json()
        rows = {i["case_no"]: i for i in report["items"]}
        done = rows.get(no, {}).get("paid") and rows.get(declined, {}).get("declined")
        return report if done else None
    from tests.e2e.conftest import eventually
    report = await eventually(registered)
    rows = {i["case_no"]: i for i in report["items"]}
    assert rows[no]["paid"] == "156.75" and rows[no]["method"] == "wechat" and rows[no]["receipt_no"] == "SJ-0001"
    assert rows[no]["accepted_by"] == "李先生" and rows[no]["quoted"] == "156.75"
    assert rows[declined]["declined"] is True and rows[declined]["paid"] is None
    assert report["summary"]["declined"] >= 1 and report["summary"]["paid"] >= 1
    # P2: finance's register holds the job it was paid for; a declined quote never reached finance
    financed = (await api.get("/reports/paid-services", params={"month": month}, headers=finance)).json()
    assert no in {i["case_no"] for i in financed["items"]}
    assert declined not in {i["case_no"] for i in financed["items"]}, financed
    csv = await api.get("/reports/paid-services", params={"month": month}, headers={**finance, "Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("案件编号,受理时间") and any(no in ln and "SJ-0001" in ln and "微信" in ln for ln in lines)
    for bad_month in ("2026-13", "2026-1", "nov"):
        r = await api.get("/reports/paid-services", params={"month": bad_month}, headers=finance)
        assert r.status_code == 422 and "YYYY-MM" in r.text
    assert (await api.get("/reports/paid-services", params={"month": month}, headers=hotline)).status_code == 403


@pytest.mark.asyncio
async def test_A1_compensation_bands_over_http_and_paid_before_closing(api, staff):
    from tests.e2e.conftest import eventually
    from tests.e2e.test_complaint_http import COMPLAINT

    async def complaint(major: bool, compensation: str) -> tuple[str, dict]:
        r = await api.post("/complaints", json={**COMPLAINT, "major": major}, headers=await staff.headers("hotline"))
        no = r.json()["case_no"]
        if major:
            await post_action(api, staff, no, "cs_manager", {"action": "record_meeting", "minutes": "紧急会议",
                                                             "attendees": ["gm"]})
        await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                       "justified": True})
        await post_action(api, staff, no, "dept_head", {"action": "assign_handler", "handler": "dept_handler"})
        await post_action(api, staff, no, "dept_handler", {"action": "department_feedback", "findings": "漏水"})
        view = await post_action(api, staff, no, "dept_handler", {"action": "propose_solution", "solution": "赔偿",
                                                                  "compensation": compensation})
        return no, view

    for major, amount, route in ((False, "1000.00", ["cs_manager"]),
                                 (False, "10000.00", ["cs_manager", "deputy_chief_engineer", "deputy_gm"]),
                                 (True, "500.00", ["gm"])):
        _, view = await complaint(major, amount)
        assert [s["role"] for s in view["approvals"][-1]["steps"]] == route, (major, amount)

    no, view = await complaint(False, "999999.00")
    assert view["a1"]["band"] == "gm"
    view = await post_action(api, staff, no, "cs_manager", APPROVE)
    assert view["status"] == "awaiting_approval" and view["waiting_for"] == "deputy_chief_engineer"
    await post_action(api, staff, no, "finance", {"action": "record_compensation_paid", "amount": "999999.00",
                                                  "reference": "BC-1"}, expect=404)  # not approved: not finance's yet (P2)
    await post_action(api, staff, no, "gm", APPROVE, expect=403)
    for who in ("deputy_chief_engineer", "deputy_gm", "gm"):
        view = await post_action(api, staff, no, who, APPROVE)
    assert view["status"] == "approved" and view["a1"]["missing"] == []
    for action in ({"action": "inform_customer", "message": "赔偿"}, {"action": "record_satisfaction", "told_via": "phone", "score": 3},
                   {"action": "summarise", "summary": "s", "corrective_measures": "c", "preventive_measures": "p"}):
        await post_action(api, staff, no, "cs_staff", action)
    r = await api.post(f"/cases/{no}/actions", json={"action": "close", "outcome_note": "x"},
                       headers=await staff.headers("cs_staff"))
    assert r.status_code == 409 and "¥999,999.00" in r.text
    await post_action(api, staff, no, "finance", {"action": "record_compensation_paid", "amount": "999999.00",
                                                  "reference": "BC-2026-0099"})
    view = await post_action(api, staff, no, "cs_staff", {"action": "close", "outcome_note": "已赔偿"})
    assert view["status"] == "closed" and view["compensation_payment"]["reference"] == "BC-2026-0099"

    async def reported():
        report = (await api.get("/reports/compensation", params={"month": this_month()},
                                headers=await staff.headers("finance"))).json()
        row = next((i for i in report["items"] if i["case_no"] == no), None)
        return report if row and row["paid"] else None
    report = await eventually(reported)
    assert next(i for i in report["items"] if i["case_no"] == no)["compensation"] == "999999.00"
    assert float(report["summary"]["paid_total"]) >= 999999
