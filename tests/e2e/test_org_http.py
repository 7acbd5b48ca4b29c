"""P7 through the API: references chosen from the organisation's lists (a typo is 422 naming the valid values
and changes nothing), a wrong department re-routed by cs_manager, people shown by name and title; A4: what an
approver decides, in the case view."""

import pytest

from tests.e2e.conftest import post_action, unique_key

COMPLAINT = {"customer": {"name": "王女士", "phone": "13812341234", "project": "融侨城", "building": "5栋",
                          "unit": "1203"}, "channel": "phone", "category": "漏水", "description": "卫生间天花板漏水"}


async def complaint(api, staff, **kw) -> str:
    r = await api.post("/complaints", json={**COMPLAINT, **kw},
                       headers={**await staff.headers("hotline"), "Idempotency-Key": unique_key()})
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


@pytest.mark.asyncio
async def test_P7_lists_for_pickers(api, staff):
    h = await staff.headers("cs_staff")
    assert (await api.get("/org/departments")).status_code == 401
    assert [d["name"] for d in (await api.get("/org/departments", headers=h)).json()] == ["工程部", "物业部"]
    assert "漏水" in [c["name"] for c in (await api.get("/org/categories", headers=h)).json()]
    assert {"id": "CT-DEMO", "name": "示范建工公司"} in (await api.get("/org/contractors", headers=h)).json()
    handlers = (await api.get("/org/staff", params={"role": "dept_handler", "department": "工程部"}, headers=h)).json()
    # the demo handler by name and title; the read model is shared with tests that add handlers of their own
    assert ("dept_handler", "张伟", "工程部专人", "张伟 · 工程部专人") in [
        (p["username"], p["display_name"], p["title"], p["label"]) for p in handlers]
    assert not {"wy_handler", "dept_head", "hotline"} & {p["username"] for p in handlers}  # only 工程部's handlers
    # a contractor's account sees its own contractor's people only
    mine = (await api.get("/org/staff", headers=await staff.headers("contractor2"))).json()
    assert {p["username"] for p in mine} == {"contractor2"}


@pytest.mark.asyncio
async def test_P7_free_text_is_refused_naming_the_valid_values_and_changes_nothing(api, staff):
    hotline = await staff.headers("hotline")
    r = await api.post("/complaints", json={**COMPLAINT, "category": "天花板漏水了"}, headers=hotline)
    assert r.status_code == 422 and "「天花板漏水了」" in r.json()["detail"] and "漏水、" in r.json()["detail"]
    no = await complaint(api, staff)
    r = await api.post(f"/cases/{no}/actions", headers=await staff.headers("cs_staff"),
                       json={"action": "classify", "category": "漏水", "department": "工程", "justified": True})
    assert r.status_code == 422 and "「工程」" in r.json()["detail"] and "工程部、物业部" in r.json()["detail"]
    assert (await api.get(f"/cases/{no}", headers=hotline)).json()["status"] == "registered"
    # the role that may not classify still hears 403, whatever it typed
    await post_action(api, staff, no, "hotline", {"action": "classify", "category": "x", "department": "y",
                                                  "justified": True}, expect=403)
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                   "justified": True})
    r = await api.post(f"/cases/{no}/actions", headers=await staff.headers("dept_head"),
                       json={"action": "assign_handler", "handler": "zhangwei"})
    assert r.status_code == 422 and "dept_handler（张伟 · 工程部专人）" in r.json()["detail"]
    assert "wy_handler" not in r.json()["detail"]  # the case's department's handlers only
    # a department's head of another department: the case does not exist for it (P2), typo or not
    await post_action(api, staff, no, "wy_head", {"action": "assign_handler", "handler": "zhangwei"}, expect=404)


@pytest.mark.asyncio
async def test_P7_a_wrong_department_is_reassigned_by_cs_manager_and_lands_in_the_right_work_list(api, staff):
    no = await complaint(api, staff)
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "漏水", "department": "物业部",
                                                   "justified": True})
    body = {"action": "reassign", "department": "工程部", "reason": "漏水源自楼上防水层，归工程部"}
    await post_action(api, staff, no, "cs_staff", body, expect=403)
    await post_action(api, staff, no, "cs_manager", {**body, "department": "工程"}, expect=422)
    await post_action(api, staff, no, "cs_manager", body)
    view = (await api.get(f"/cases/{no}", headers=await staff.headers("dept_head"))).json()
    assert view["department"] == "工程部" and view["status"] == "assigned"
    entry = view["timeline"][-1] if view["timeline"][-1]["kind"] == "reassigned" else next(
        t for t in view["timeline"] if t["kind"] == "reassigned")
    assert entry["actor"] == "cs_manager" and entry["actor_display"] == "赵敏 · 客户服务部经理"
    assert "物业部" in entry["text"] and "防水层" in entry["text"]
    # 我的待办: the new department's head (by name), no longer the old one, who no longer sees the case (P2)
    assert [(a["role"], a["department"], a["people"]) for a in view["next_actors"]] == [
        ("dept_head", "工程部", ["刘强 · 工程部经理"])]
    mine = (await api.get("/cases", params={"mine": "true", "case_no": no}, headers=await staff.headers("dept_head"))).json()
    assert [c["case_no"] for c in mine["items"]] == [no]
    assert (await api.get(f"/cases/{no}", headers=await staff.headers("wy_head"))).status_code == 404


@pytest.mark.asyncio
async def test_A4_P7_the_approver_sees_what_is_decided_in_the_case_and_on_the_form(api, staff, settings):
    """A4: the ¥1,500 compensation the approvers decide is shown with the solution, its A1 band, who asked and
    the steps done and missing — in the case view and above the workbench's decision form; P7: by name."""
    from tests.e2e.test_workbench_http import sign_in
    no = await complaint(api, staff)
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                   "justified": True})
    await post_action(api, staff, no, "dept_head", {"action": "assign_handler", "handler": "dept_handler"})
    await post_action(api, staff, no, "dept_handler", {"action": "department_feedback", "findings": "防水层破损"})
    await post_action(api, staff, no, "dept_handler", {"action": "propose_solution", "solution": "重做防水并赔偿地板",
                                                       "compensation": "1500.00"})
    await post_action(api, staff, no, "cs_manager", {"action": "decide", "decision": "approve"})
    view = (await api.get(f"/cases/{no}", headers=await staff.headers("deputy_chief_engineer"))).json()
    d = view["decision"]
    assert d["what"].startswith("处理方案：重做防水并赔偿地板") and d["amount_text"] == "¥1,500.00"
    assert d["band"].startswith("¥1,000.01–¥10,000.00") and d["requested_by_display"] == "张伟 · 工程部专人"
    assert [(s["name"], s["by_display"]) for s in d["done"]] == [("客户服务部经理审批", "赵敏 · 客户服务部经理")]
    assert [s["name"] for s in d["missing"]] == ["负责质量的副总工程师审核", "副总经理审批"]
    assert view["handler_display"] == "张伟 · 工程部专人"
    assigned = next(t for t in view["timeline"] if t["kind"] == "assigned")
    assert "dept_handler" in assigned["text"] and "张伟 · 工程部专人" in assigned["text_display"]  # P7
    await sign_in(api, "deputy_chief_engineer", settings.demo_password)
    page = (await api.get(f"/app/cases/{no}")).text
    form = page[page.index('id="form-decide"'):]
    form = form[:form.index("</form>")]
    for fact in ("重做防水并赔偿地板", "¥1,500.00", "¥1,000.01–¥10,000.00", "张伟 · 工程部专人",
                 "客户服务部经理审批 批准（赵敏 · 客户服务部经理）", "副总经理审批"):
        assert fact in form, fact
    assert "赵敏 · 客户服务部经理" in page[page.index('id="timeline"'):]                  # the timeline by name
