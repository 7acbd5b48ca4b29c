"""The workbench on a department's first day, over HTTP on a real dev server and worker (P1, P7, A4, V1–V3):
forms that keep what was typed and offer only what can be done now, pages and mails without English or
usernames, pickers and defaults instead of typing, campaigns in the workbench, and the small ones."""

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.conftest import eventually, post_action
from tests.e2e.test_files_http import upload
from tests.e2e.test_workbench_http import csrf_of, sign_in
from tests.support.images import photo

OWNER = {"name": "王女士", "phone": "13912345678", "project": "融侨城", "building": "5栋"}
ENGLISH = re.compile(r"\b(required|should|must|Input|valid|reopen|cs_manager_follow_up|approve|review|confirm|audit|"
                     r"period|no case|dept_handler|cs_staff|Value error)\b")


def visible_text(html: str) -> str:
    """What a reader sees: the page without tags, attributes, scripts and the CSRF fields."""
    html = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


async def complaint(api, staff, **kw) -> str:
    body = {"customer": {**OWNER, "unit": f"{uuid.uuid4().int % 10000:04d}"}, "channel": "phone", "category": "漏水",
            "description": "卫生间漏水", **kw}
    r = await api.post("/complaints", json=body, headers=await staff.headers("hotline"))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def act_page(api, case_no: str, action: str, fields: dict[str, str]):
    page = (await api.get(f"/app/cases/{case_no}")).text
    key = re.search(rf'name="idempotency_key" value="([^"]+-{action})"', page)
    return await api.post(f"/app/cases/{case_no}/act", data={"csrf": csrf_of(page), "action": action,
                                                             "idempotency_key": key.group(1) if key else "k", **fields})


def offered(page: str) -> list[str]:
    """The case actions the page offers (the file upload form is not an action of the case's machine, D1)."""
    return [name for name in re.findall(r'id="form-([a-z_]+)"', page) if name != "upload"]


@pytest.mark.asyncio
async def test_P1_A4_only_what_the_state_and_the_user_allow_is_offered_and_a_refused_form_keeps_its_input(
        api, staff, settings):
    password = settings.demo_password
    case_no = await complaint(api, staff)
    await sign_in(api, "cs_staff", password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert "classify" in offered(page) and "close" not in offered(page) and "summarise" not in offered(page)
    assert "inform_customer" not in offered(page) and "decide" not in offered(page)
    # C2/P7: the category is carried from intake, the department picked from the organisation's list
    form = page[page.index('id="form-classify"'):page.index("</form>", page.index('id="form-classify"'))]
    assert re.search(r'<select name="category"[^>]*>.*<option value="漏水" selected>', form, re.S)
    assert re.search(r'<select name="department"[^>]*>.*<option value="工程部"', form, re.S)
    # refused: not justified without the reply; what was typed stays, the field is marked, in Chinese
    refused = await act_page(api, case_no, "classify", {"category": "漏水", "department": "工程部"})
    assert refused.status_code == 422
    form = refused.text[refused.text.index('id="form-classify"'):]
    form = form[:form.index("</form>")]
    assert '<option value="工程部" selected>' in form and '<option value="漏水" selected>' in form
    assert re.search(r'<textarea name="reply"[^>]*aria-invalid="true"', form)
    assert "投诉不属实时须填写答复业主的理由（C2）" in form and not ENGLISH.search(visible_text(refused.text))
    assert (await act_page(api, case_no, "classify", {"category": "漏水", "department": "工程部",
                                                      "justified": "on"})).status_code == 303
    await sign_in(api, "dept_head", password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert offered(page) == ["assign_handler"] or "assign_handler" in offered(page)
    assert re.search(r'<select name="handler"[^>]*>.*<option value="dept_handler">张伟 · 工程部专人</option>', page, re.S)
    # P7: a handler of another department, or none at all, is refused by name and title, never by username
    refused = await act_page(api, case_no, "assign_handler", {"handler": "wy_handler"})
    assert refused.status_code == 422 and "马超 · 物业部专人 是物业部的专人，不是工程部的" in refused.text
    assert not ENGLISH.search(visible_text(refused.text)) and "wy_handler" not in visible_text(refused.text)
    refused = await act_page(api, case_no, "assign_handler", {"handler": "ghost"})
    assert refused.status_code == 422 and "请从列表中选择：张伟 · 工程部专人（P7）" in refused.text
    assert not ENGLISH.search(visible_text(refused.text))
    assert (await act_page(api, case_no, "assign_handler", {"handler": "dept_handler"})).status_code == 303
    await sign_in(api, "dept_handler", password)
    assert (await act_page(api, case_no, "department_feedback", {"findings": "防水层破损"})).status_code == 303
    # an amount as people write it: "1,500" is ¥1,500.00; a refusal keeps the solution and the amount
    refused = await act_page(api, case_no, "propose_solution", {"solution": "重做防水", "compensation": "1.500,00"})
    assert refused.status_code == 422 and "须为金额" in refused.text and not ENGLISH.search(visible_text(refused.text))
    assert ">重做防水</textarea>" in refused.text and 'value="1.500,00" aria-invalid="true"' in refused.text
    assert (await act_page(api, case_no, "propose_solution", {"solution": "重做防水",
                                                              "compensation": "1,500"})).status_code == 303
    view = (await api.get(f"/cases/{case_no}", headers=await staff.headers("cs_manager"))).json()
    assert view["compensation"] in ("1500.00", "1500")
    # A4: the decision is offered to the step's approver only
    assert offered((await api.get(f"/app/cases/{case_no}")).text) == []
    await sign_in(api, "cs_manager", password)
    assert "decide" in offered((await api.get(f"/app/cases/{case_no}")).text)


@pytest.mark.asyncio
async def test_P1_a_closed_complaint_offers_nothing(api, staff, settings):
    case_no = await complaint(api, staff)
    for who, body in (("cs_staff", {"action": "classify", "category": "漏水", "department": "工程部", "justified": False,
                                    "reply": "系业主自行改造所致"}),
                      ("cs_manager", {"action": "decide", "decision": "approve"})):
        await post_action(api, staff, case_no, who, body)
    for who in ("cs_staff", "cs_manager", "gm"):
        await sign_in(api, who, settings.demo_password)
        page = (await api.get(f"/app/cases/{case_no}")).text
        assert "已结案" in page and offered(page) == [] and "您当前没有可做的操作" in page, who


@pytest.mark.asyncio
async def test_R6_my_work_lists_a_repair_only_while_its_next_step_is_mine(api, staff, settings):
    soon = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    body = {"customer": {**OWNER, "unit": f"{uuid.uuid4().int % 10000:04d}"}, "trades": ["水电"],
            "description": "水管漏水", "requested_appointment": soon}
    case_no = (await api.post("/repairs", json=body, headers=await staff.headers("hotline"))).json()["case_no"]
    now = datetime.now(timezone.utc).isoformat()
    await post_action(api, staff, case_no, "cs_staff", {"action": "agree_appointment", "told_via": "phone", "appointment_at": now})
    await post_action(api, staff, case_no, "repair_lead", {"action": "record_survey", "responsible_party": "工程部",
                                                            "multi_trade": False, "estimate": "300.00", "order_type": "B"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        await post_action(api, staff, case_no, who, {"action": "sign_survey"})
    await post_action(api, staff, case_no, "cs_manager", {"action": "decide", "decision": "approve"})
    await post_action(api, staff, case_no, "engineering", {"action": "dispatch", "workers": ["repair_lead"]})
    lead = await staff.headers("repair_lead")                                         # D2: the photo after the work
    assert (await upload(api, lead, case_no, photo("jpeg"), step="after_work")).status_code == 201
    await post_action(api, staff, case_no, "repair_lead", {"action": "complete_work", "note": "换了水管"})
    await post_action(api, staff, case_no, "repair_lead", {"action": "inspect", "passed": True})

    async def in_work(username: str, present: bool):
        await sign_in(api, username, settings.demo_password)
        return (case_no in (await api.get("/app/my-work")).text) == present
    assert await eventually(lambda: in_work("cs_staff", True))            # cs_staff has still to inspect
    assert await eventually(lambda: in_work("repair_lead", False))        # repair_lead has inspected
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert "inspect" not in offered(page)                                 # and is not offered a second try


@pytest.mark.asyncio
async def test_P7_E4_no_english_or_usernames_on_pages_and_mails(api, staff, settings, smtp_server):
    password = settings.demo_password
    case_no = await complaint(api, staff)
    await post_action(api, staff, case_no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                        "justified": True})
    await post_action(api, staff, case_no, "dept_head", {"action": "assign_handler", "handler": "dept_handler"})
    await post_action(api, staff, case_no, "dept_handler", {"action": "department_feedback", "findings": "防水层破损"})
    await post_action(api, staff, case_no, "dept_handler", {"action": "propose_solution", "solution": "重做防水",
                                                            "compensation": "1500.00"})
    await sign_in(api, "cs_staff", password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    text = visible_text(page)
    assert "经办人 张伟 · 工程部专人" in re.sub(r"\s+", " ", text) and not ENGLISH.search(text), ENGLISH.search(text)
    header = re.search(r'<form method="post" action="/app/logout" class="who">\s*(.*?)<input', page, re.S).group(1)
    assert visible_text(header).split() == ["李娜", "·", "客户服务部专员"]          # name and title, each once
    missing = await api.get("/app/cases/TS-2026-999999")
    assert missing.status_code == 404 and "没有案件 TS-2026-999999" in missing.text
    assert not ENGLISH.search(visible_text(missing.text))

    async def approval_mail():   # the decision's words in the mail (A4): 审批, not approve
        return [m for m in smtp_server.messages if case_no in m.subject and "待您审批" in m.subject]
    [mail, *_] = await eventually(approval_mail)
    assert "（approve" not in mail.body and re.search(r"审批（C7", mail.body) and not re.search(
        r"\b(approve|review|confirm|audit)\b", mail.body)
    assert "处理人：张伟 · 工程部专人" in mail.body and not ENGLISH.search(mail.body), ENGLISH.search(mail.body)

    await sign_in(api, "cs_manager", password)
    reports = await api.get("/app/reports")
    bad = await api.post("/app/reports", data={"csrf": csrf_of(reports.text), "kind": "monthly_complaints",
                                                "period_text": "2026-13"})
    assert bad.status_code == 422 and "期间：" in bad.text and "（period）" not in bad.text
    assert not ENGLISH.search(visible_text(bad.text))
    # K1: 2026年12月 is a month; the workbook's name is the report's
    made = await api.post("/app/reports", data={"csrf": csrf_of(reports.text), "kind": "monthly_complaints",
                                                 "period_text": "2026年12月"})
    assert made.status_code == 303, made.text
    report = await api.get(made.headers["location"])
    assert "2026年12月" in report.text
    xlsx = await api.get(made.headers["location"] + ".xlsx")
    from urllib.parse import unquote
    assert "投诉统计表（月）-2026年12月.xlsx" in unquote(xlsx.headers["content-disposition"])


@pytest.mark.asyncio
async def test_P7_pickers_scales_and_defaults_on_a_repair(api, staff, settings):
    soon = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    body = {"customer": {**OWNER, "unit": f"{uuid.uuid4().int % 10000:04d}"}, "trades": ["水电"],
            "description": "水管漏水", "requested_appointment": soon}
    case_no = (await api.post("/repairs", json=body, headers=await staff.headers("hotline"))).json()["case_no"]
    await sign_in(api, "cs_staff", settings.demo_password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    bj = datetime.fromisoformat(soon).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M")
    assert f'name="appointment_at" value="{bj}"' in page                              # the owner's time, proposed
    now = datetime.now(timezone.utc).isoformat()
    await post_action(api, staff, case_no, "cs_staff", {"action": "agree_appointment", "told_via": "phone", "appointment_at": now})
    await sign_in(api, "repair_lead", settings.demo_password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    survey = page[page.index('id="form-record_survey"'):]
    survey = survey[:survey.index("</form>")]
    assert re.search(r'<select name="responsible_party"[^>]*>.*<option value="工程部"', survey, re.S)
    assert re.search(r'<select name="contractor_id"[^>]*>.*<option value="CT-DEMO"[^>]*>示范建工公司（CT-DEMO）', survey, re.S)
    assert "<textarea" not in survey and "必选（R3）" in survey
    await post_action(api, staff, case_no, "repair_lead", {"action": "record_survey", "responsible_party": "工程部",
                                                            "contractor_id": "CT-DEMO", "multi_trade": False,
                                                            "estimate": "300.00", "order_type": "A"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        await post_action(api, staff, case_no, who, {"action": "sign_survey"})
    await post_action(api, staff, case_no, "cs_manager", {"action": "decide", "decision": "approve"})
    await sign_in(api, "engineering", settings.demo_password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert re.search(r'<select name="workers" multiple[^>]*>.*<option value="repair_lead"[^>]*>孙建国 · 维修队长</option>.*'
                     r'<option value="contractor"[^>]*>吴刚 · 示范建工公司项目经理</option>', page, re.S)
    assert "contractor2" not in page                                                  # another contractor's account
    await post_action(api, staff, case_no, "engineering", {"action": "dispatch", "workers": ["repair_lead"]})
    lead = await staff.headers("repair_lead")                                         # D2: the photo after the work
    assert (await upload(api, lead, case_no, photo("jpeg"), step="after_work")).status_code == 201
    await post_action(api, staff, case_no, "repair_lead", {"action": "complete_work", "note": "换了水管"})
    for who in ("cs_staff", "repair_lead"):
        await post_action(api, staff, case_no, who, {"action": "inspect", "passed": True})
    await sign_in(api, "cs_staff", settings.demo_password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert re.search(r'<select name="quality"[^>]*>.*5 很好.*1 很差', page, re.S)     # the scale is shown
    await post_action(api, staff, case_no, "cs_staff", {"action": "owner_sign_off", "told_via": "phone", "quality": 5, "attitude": 5})
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert re.search(r'<select name="satisfaction"[^>]*>.*5 非常满意.*1 非常不满意', page, re.S)
    assert '<option value="reopen">返修</option>' in page and "客户服务部经理跟进" in page


@pytest.mark.asyncio
async def test_V1_V3_a_campaign_planned_visited_and_closed_in_the_workbench(api, staff, settings):
    from tests.e2e.test_campaign_http import import_project
    project = f"回访苑{uuid.uuid4().hex[:6]}"
    units = await import_project(api, staff, project, occupied=3)
    await sign_in(api, "cs_staff", settings.demo_password)                 # not a planner: no plan form, refused
    page = await api.get("/app/campaigns")
    assert page.status_code == 200 and 'id="form-plan"' not in page.text
    refused = await api.post("/app/campaigns", data={"csrf": csrf_of(page.text), "project": project, "kind": "first"})
    assert refused.status_code == 403 and "不能安排回访活动" in refused.text

    await sign_in(api, "cs_manager", settings.demo_password)
    page = await api.get("/app/campaigns")
    assert f'<option value="{project}"' in page.text and 'name="staff" value="cs_staff"' in page.text
    today = datetime.now(timezone(timedelta(hours=8))).date()
    plan = {"csrf": csrf_of(page.text), "idempotency_key": uuid.uuid4().hex, "project": project, "kind": "first",
            "share": "0.10", "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=30)).isoformat()}
    bad = await api.post("/app/campaigns", data=plan)                     # no staff chosen: kept and told in Chinese
    assert bad.status_code == 422 and "回访人员" in bad.text and f'<option value="{project}" selected>' in bad.text
    # P5: 融侨城's butler visits no other project's owners: the visitors are people of the campaign's project
    made = await api.post("/app/campaigns", data={**plan, "staff": ["cs_staff", "cs_manager"]})
    assert made.status_code == 303, made.text
    cid = made.headers["location"].split("/")[-1].split("?")[0]

    await sign_in(api, "cs_staff", settings.demo_password)
    async def planned():
        p = await api.get(f"/app/campaigns/{cid}")
        return p if f'<option value="{units[0]}"' in p.text else None
    page = await eventually(planned)
    assert 'id="form-visit"' in page.text and 'id="form-close"' not in page.text
    visit = {"csrf": csrf_of(page.text), "unit_id": str(units[0]), "mode": "phone", "score_0": "5", "score_1": "4",
             "score_2": "5", "score_3": "5", "point_text": "停车位不够", "handling": "answered"}
    refused = await api.post(f"/app/campaigns/{cid}/visits", data=visit)   # answered without the answer
    assert refused.status_code == 422 and "当场答复的问题须填写答复" in refused.text and "停车位不够" in refused.text
    done = await api.post(f"/app/campaigns/{cid}/visits", data={**visit, "answer": "已说明车位政策"})
    assert done.status_code == 303, done.text
    page = await api.get(done.headers["location"])
    assert "回访已记录" in page.text and "1/3" in page.text

    await sign_in(api, "cs_manager", settings.demo_password)
    page = await api.get(f"/app/campaigns/{cid}")
    closed = await api.post(f"/app/campaigns/{cid}/close", data={"csrf": csrf_of(page.text), "note": "覆盖不足，下周补访"})
    assert closed.status_code == 303, closed.text
    page = await api.get(closed.headers["location"])
    assert "已结束" in page.text and "覆盖不足，下周补访" in page.text and 'id="form-visit"' not in page.text


@pytest.mark.asyncio
async def test_the_small_ones_status_filter_phone_search_unit_fills_the_owner_and_health(
        api, staff, settings, sessionmaker, dev_env):
    await sign_in(api, "cs_staff", settings.demo_password)
    register = (await api.get("/app/cases")).text
    status = register[register.index('<select name="status">'):]
    labels = re.findall(r"<option value=\"[a-z_]+\"[^>]*>([^<]+)</option>", status[:status.index("</select>")])
    assert len(labels) == len(set(labels)) and "已回访" in labels                  # each state once, by its own name

    case_no = await complaint(api, staff)
    async def by_phone(phone: str):
        r = await api.post("/app/cases/by-phone", data={"csrf": csrf_of(register), "phone": phone})
        return r if r.status_code == 200 and case_no in r.text else None
    assert await eventually(lambda: by_phone("139-1234-5678"))                       # as people write it
    assert (await by_phone("139 1234 5678")) is not None

    from adapters.db import properties as store
    from aftersales.properties import UnitRecord
    from adapters.temporal.sealing import app_sealer
    project = f"台账苑{uuid.uuid4().hex[:4]}"
    async with sessionmaker() as session:
        await store.import_units(session, [UnitRecord(project=project, building="5栋", unit="1203", sold=True,
                                                      occupied=True, owner_name="林先生", owner_phone="13712345678")],
                                 by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc),
                                 seal=app_sealer(api._transport.app.state).seal)
    await sign_in(api, "hotline", settings.demo_password)
    page = await api.get("/app/new/complaint")
    listed = await api.post("/app/new/complaint/units", data={"csrf": csrf_of(page.text), "project": project,
                                                              "building": "5栋"})
    [(unit_id, label)] = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', listed.text.split('name="unit_id"')[1])
    assert "林先生" in label and "137****5678" in label and "13712345678" not in listed.text
    filed = await api.post("/app/new/complaint", data={
        "csrf": csrf_of(listed.text), "idempotency_key": uuid.uuid4().hex, "unit_id": unit_id, "name": "", "phone": "",
        "project": project, "building": "5栋", "unit": "", "channel": "phone", "category": "漏水", "description": "漏水"})
    assert filed.status_code == 303, filed.text
    filed_no = filed.headers["location"].split("/")[-1].split("?")[0]
    view = (await api.get(f"/cases/{filed_no}", headers=await staff.headers("cs_manager"))).json()
    assert (view["customer"]["name"], view["customer"]["phone"], view["customer"]["unit_id"]) == (
        "林先生", "13712345678", int(unit_id))

    import httpx
    from api.app import create_app
    lonely = create_app(settings.model_copy(update={"task_queue": "nobody-polls-this"}), temporal=dev_env.client,
                        sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lonely), base_url="http://api.test") as other:
        health = await other.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "degraded"     # up, but no worker polls
    assert (await api.get("/health")).json()["status"] in ("ok", "degraded")


@pytest.mark.asyncio
async def test_P7_cs_manager_reassigns_a_complaint_in_the_workbench_to_a_department_from_the_list(api, staff, settings):
    """P7: a case classified to the wrong department is re-routed by cs_manager from the case page: the department
    picked from the organisation's list (the current one is no choice), the reason on the timeline, the new
    department's head offered the handlers of his own department by name and title."""
    case_no = await complaint(api, staff)
    await post_action(api, staff, case_no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                        "justified": True})
    await sign_in(api, "cs_manager", settings.demo_password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert "reassign" in offered(page)
    form = page[page.index('id="form-reassign"'):]
    form = form[:form.index("</form>")]
    assert re.search(r'<select name="department"[^>]*>.*<option value="物业部"', form, re.S)
    done = await act_page(api, case_no, "reassign", {"department": "物业部", "reason": "外墙属物业维护范围"})
    assert done.status_code == 303, done.text
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert "外墙属物业维护范围" in page and not ENGLISH.search(visible_text(page))
    await sign_in(api, "wy_head", settings.demo_password)
    page = (await api.get(f"/app/cases/{case_no}")).text
    assert re.search(r'<select name="handler"[^>]*>.*<option value="wy_handler">马超 · 物业部专人</option>', page, re.S)
    assert "dept_handler" not in page


@pytest.mark.asyncio
async def test_P6_P7_my_work_tells_account_changes_with_people_by_name_not_username(api, settings):
    """The notices of changes to one's own account (P6) name who made them as pages name people (P7): the demo
    seeding as the system, never "管理员 system:demo-seed"; an administrator by name and title."""
    await sign_in(api, "cs_manager", settings.demo_password)
    page = (await api.get("/app/my-work")).text
    notices = re.search(r'<section class="notices".*?</section>', page, re.S)
    assert notices is not None
    shown = re.sub(r"<[^>]+>", " ", notices.group(0))
    assert "system:demo-seed" not in shown and "系统（演示账号初始化）" in shown
    assert not re.search(r"[A-Za-z_]{4,}", shown)
