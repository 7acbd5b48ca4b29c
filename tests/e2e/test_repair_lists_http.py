"""P7 on a repair through the API: the trades (工种) from the trades list, the survey's responsible party (责任方)
from the departments, the contractor from the registered ones, the workers (维修人员) from the repair team or the
survey's contractor; free text for any of them is 422 naming the field and the valid values (people by name
and title) and changes nothing. And the campaign's visiting staff, refused by name and title (P7, V1)."""

from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.conftest import post_action, unique_key

CUSTOMER = {"name": "郑先生", "phone": "13912345670", "project": "融侨城", "building": "3栋", "unit": "502"}


def repair(**kw) -> dict:
    at = (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=2)).replace(hour=10, minute=0, second=0,
                                                                                  microsecond=0)
    return {"customer": dict(CUSTOMER), "trades": ["防水"], "description": "阳台渗水",
            "requested_appointment": at.isoformat(), "paid_service": False, **kw}


@pytest.mark.asyncio
async def test_P7_R1_trades_are_chosen_from_the_trades_list(api, staff):
    hotline = await staff.headers("hotline")
    listed = [t["name"] for t in (await api.get("/org/trades", headers=hotline)).json()]
    assert {"水电", "防水", "泥工"} <= set(listed)
    r = await api.post("/repairs", json=repair(trades=["防水", "泥瓦"]), headers=hotline)
    detail = r.json()["detail"]
    assert r.status_code == 422 and detail.startswith("trades：「泥瓦」") and "水电、" in detail and "泥工" in detail
    r = await api.post("/repairs", json=repair(trades=["防水", "泥工"]), headers={**hotline, "Idempotency-Key": unique_key()})
    assert r.status_code == 201, r.text


@pytest.mark.asyncio
async def test_P7_R2_R5_survey_and_dispatch_name_only_what_the_lists_hold(api, staff):
    hotline = await staff.headers("hotline")
    r = await api.post("/repairs", json=repair(), headers={**hotline, "Idempotency-Key": unique_key()})
    assert r.status_code == 201, r.text
    no = r.json()["case_no"]
    survey = {"action": "record_survey", "responsible_party": "工程部", "contractor_id": "CT-DEMO",
              "multi_trade": False, "estimate": "300.00", "order_type": "A"}
    refused = await post_action(api, staff, no, "repair_lead", {**survey, "responsible_party": "维修队"}, expect=422)
    assert refused["detail"].startswith("responsible_party：「维修队」") and "工程部、物业部" in refused["detail"]
    refused = await post_action(api, staff, no, "repair_lead", {**survey, "contractor_id": "示范建工"}, expect=422)
    assert "contractor_id：「示范建工」" in refused["detail"] and "CT-DEMO（示范建工公司）" in refused["detail"]
    assert (await api.get(f"/cases/{no}", headers=hotline)).json()["survey"] is None         # nothing changed
    # a role that may not survey hears 403 whatever it typed; a case it may not see stays 404
    await post_action(api, staff, no, "hotline", {**survey, "responsible_party": "维修队"}, expect=403)
    await post_action(api, staff, no, "wy_handler", {**survey, "responsible_party": "维修队"}, expect=404)
    await post_action(api, staff, no, "repair_lead", survey)
    for who in ("cs_staff", "engineering", "repair_lead"):
        view = await post_action(api, staff, no, who, {"action": "sign_survey"})
    view = await post_action(api, staff, no, "cs_manager", {"action": "decide", "decision": "approve", "reason": "同意"})
    assert view["status"] == "surveyed"

    refused = await post_action(api, staff, no, "engineering",
                                {"action": "dispatch", "workers": ["陈师傅"], "to_contractor": True}, expect=422)
    detail = refused["detail"]
    assert detail.startswith("workers：「陈师傅」") and "示范建工公司" in detail
    assert "repair_lead（孙建国 · 维修队长）" in detail and "contractor（吴刚 · 示范建工公司项目经理）" in detail
    assert "郭亮" not in detail.split("请从列表中选择")[1]                # another contractor's people: not offered
    refused = await post_action(api, staff, no, "engineering",
                                {"action": "dispatch", "workers": ["contractor2"], "to_contractor": True}, expect=422)
    assert "「contractor2（郭亮 · 示范安装公司项目经理）」" in refused["detail"]          # by name and title
    assert (await api.get(f"/cases/{no}", headers=hotline)).json()["status"] == "surveyed"
    view = await post_action(api, staff, no, "engineering",
                             {"action": "dispatch", "workers": ["contractor", "repair_lead"], "to_contractor": True})
    assert view["status"] == "in_progress" and view["workers"] == ["contractor", "repair_lead"]


@pytest.mark.asyncio
async def test_P7_C6_a_complaints_repair_names_its_trades_from_the_list(api, staff):
    r = await api.post("/complaints", headers={**await staff.headers("hotline"), "Idempotency-Key": unique_key()},
                       json={"customer": dict(CUSTOMER), "channel": "phone", "category": "漏水", "description": "漏水"})
    no = r.json()["case_no"]
    at = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    refused = await post_action(api, staff, no, "cs_staff", {"action": "open_repair", "trades": ["水管"],
                                                             "description": "修水管", "requested_appointment": at},
                                expect=422)
    assert refused["detail"].startswith("trades：「水管」") and "水电" in refused["detail"]


@pytest.mark.asyncio
async def test_P7_V1_a_campaigns_staff_refused_by_name_and_title(api, staff):
    r = await api.post("/campaigns", headers=await staff.headers("cs_manager"),
                       json={"project": "融侨城", "kind": "first", "starts_on": "2026-12-01", "ends_on": "2026-12-31",
                             "staff": ["cs_staff", "finance", "lina"]})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("staff：「finance（冯雪 · 财务计统部会计）」")                  # the first not on the list
    assert "cs_staff（李娜 · 客户服务部专员）" in detail and "butler（王芳 · 贴心管家）" in detail


@pytest.mark.asyncio
async def test_P7_the_pages_survey_and_dispatch_pick_from_the_lists_and_refuse_what_was_typed_in_chinese(
        api, staff, settings):
    """The survey and dispatch forms offer the lists (multi-trade ticked from the case's trades); a value posted
    that the lists do not hold (a form edited by hand, an old page) is refused in Chinese naming the field by
    its label and the valid values by name and title, the field marked and what was sent kept."""
    import re

    from tests.e2e.test_workbench_http import csrf_of, sign_in
    hotline = await staff.headers("hotline")
    r = await api.post("/repairs", json=repair(trades=["防水", "泥工"]), headers={**hotline, "Idempotency-Key": unique_key()})
    no = r.json()["case_no"]
    await sign_in(api, "repair_lead", settings.demo_password)
    page = (await api.get(f"/app/cases/{no}")).text
    survey = page[page.index('id="form-record_survey"'):]
    survey = survey[:survey.index("</form>")]
    assert re.search(r'<select name="responsible_party"[^>]*>.*<option value="工程部">工程部</option>', survey, re.S)
    assert re.search(r'<select name="contractor_id"[^>]*>.*<option value="CT-DEMO">示范建工公司（CT-DEMO）</option>',
                     survey, re.S)
    assert re.search(r'<input type="checkbox" name="multi_trade" checked', survey)    # 防水、泥工: from the case
    form = {"csrf": csrf_of(page), "action": "record_survey", "idempotency_key": unique_key(),
            "responsible_party": "维修队", "contractor_id": "CT-DEMO", "multi_trade": "on", "estimate": "300.00",
            "order_type": "A"}
    refused = await api.post(f"/app/cases/{no}/act", data=form)
    assert refused.status_code == 422
    text = refused.text
    assert "责任方：「维修队」不是本公司登记的部门（责任方）；请从列表中选择：工程部、物业部" in text
    assert re.search(r'<select name="responsible_party" aria-invalid="true"', text)           # marked
    assert re.search(r'<select name="estimate"|<input name="estimate" inputmode="decimal" value="300.00"', text)  # kept
    assert "responsible_party：" not in text
    await post_action(api, staff, no, "repair_lead", {"action": "record_survey", "responsible_party": "工程部",
                                                      "contractor_id": "CT-DEMO", "multi_trade": True,
                                                      "estimate": "0", "order_type": "A"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        await post_action(api, staff, no, who, {"action": "sign_survey"})
    await sign_in(api, "engineering", settings.demo_password)
    page = (await api.get(f"/app/cases/{no}")).text
    dispatch = page[page.index('id="form-dispatch"'):]
    dispatch = dispatch[:dispatch.index("</form>")]
    assert '<option value="contractor">吴刚 · 示范建工公司项目经理</option>' in dispatch and "郭亮" not in dispatch
    form = {"csrf": csrf_of(page), "action": "dispatch", "idempotency_key": unique_key(), "workers": "陈师傅",
            "to_contractor": "on"}
    refused = await api.post(f"/app/cases/{no}/act", data=form)
    assert refused.status_code == 422
    assert "维修人员：「陈师傅」不是在职的维修队人员或示范建工公司的人员；请从列表中选择：" in refused.text
    assert "孙建国 · 维修队长" in refused.text and "repair_lead（" not in refused.text     # by name and title alone
    assert re.search(r'<select name="workers" multiple size="\d+" aria-invalid="true"', refused.text)
