"""The workbench over HTTP on a real dev server, without a browser: sign-in with a cookie and
CSRF on every form, a complaint filed and acted on through the pages (each step as its role), refusals
shown next to the form, masking with the recorded "show number", the register's filters, offline docs."""

import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.e2e.conftest import eventually


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


async def sign_in(api, username: str, password: str):
    api.cookies.clear()
    form = await api.get("/app/login")   # the form's CSRF token (P6), bound to its own cookie
    r = await api.post("/app/login", data={"username": username, "password": password, "next": "/app/cases",
                                           "csrf": csrf_of(form.text)})
    assert r.status_code == 303 and r.headers["location"] == "/app/cases", r.text
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    return r


@pytest.mark.asyncio
async def test_a_complaint_through_the_pages_with_refusals_masking_and_csrf(api, settings, sessionmaker):
    password = settings.demo_password
    assert (await api.get("/app/my-work")).headers["location"].startswith("/app/login")   # no session: sign in
    wrong = await api.post("/app/login", data={"username": "hotline", "password": "nope",
                                               "csrf": csrf_of((await api.get("/app/login")).text)})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text

    await sign_in(api, "hotline", password)
    page = await api.get("/app/new/complaint")
    assert page.status_code == 200 and "新建投诉" in page.text
    form = {"csrf": csrf_of(page.text), "idempotency_key": "wb-" + csrf_of(page.text)[:8], "name": "王女士",
            "phone": "13812341234", "project": "融侨城", "building": "5栋", "unit": "1203", "channel": "phone",
            "category": "漏水", "description": "卫生间天花板漏水"}
    forged = await api.post("/app/new/complaint", data={**form, "csrf": "0" * 32})
    assert forged.status_code == 403 and "CSRF" in forged.text                        # nothing filed
    bad = await api.post("/app/new/complaint", data={**form, "phone": "12345"})
    assert bad.status_code == 422 and "电话：格式不正确" in bad.text and "（phone）" not in bad.text and 'value="12345"' in bad.text
    filed = await api.post("/app/new/complaint", data=form)
    assert filed.status_code == 303, filed.text
    case_no = filed.headers["location"].split("/")[-1].split("?")[0]
    again = await api.post("/app/new/complaint", data=form)                          # a double click: one case
    assert again.headers["location"].split("/")[-1].split("?")[0] == case_no

    case_page = (await api.get(f"/app/cases/{case_no}")).text
    assert "138****1234" in case_page and "13812341234" not in case_page             # P3: masked on the page
    assert "显示号码" in case_page and "卫生间天花板漏水" in case_page

    await sign_in(api, "cs_staff", password)
    case_page = (await api.get(f"/app/cases/{case_no}")).text
    assert "分类" in case_page and "13812341234" not in case_page
    offered = re.findall(r"<summary>([^<]+?)\s*(<span class=\"tag next\">下一步</span>)?</summary>", case_page)
    assert offered[0] == ("分类", '<span class="tag next">下一步</span>')            # the step the case waits for, first
    assert all(not tag for _, tag in offered[1:]) and "结案" not in [name for name, _ in offered]   # not before C7
    shown = await api.post(f"/app/cases/{case_no}/phone", data={"csrf": csrf_of(case_page)})
    assert "13812341234" in shown.text                                                # shown on request, recorded
    from sqlalchemy import select
    from adapters.db.models import PersonalDataAccess
    async with sessionmaker() as session:
        seen = (await session.scalars(select(PersonalDataAccess).where(PersonalDataAccess.case_no == case_no))).all()
    # reading the page shows no number and records nothing; "show number" does, naming the page
    assert [(a.username, a.endpoint) for a in seen if a.username != "hotline"] == [
        ("cs_staff", "POST /app/cases/{case_no}/phone")]

    # a refusal is shown next to its form, with its reason; nothing changes
    refused = await api.post(f"/app/cases/{case_no}/act", data={"csrf": csrf_of(case_page), "action": "close",
                                                                 "idempotency_key": "k1", "outcome": "resolved"})
    assert refused.status_code in (409, 422) and "未能结案" in refused.text
    done = await api.post(f"/app/cases/{case_no}/act", data={
        "csrf": csrf_of(case_page), "action": "classify", "idempotency_key": "k2", "category": "漏水",
        "department": "工程部", "justified": "on"})
    assert done.status_code == 303, done.text
    after = (await api.get(done.headers["location"])).text
    assert "分类 已完成" in after and "工程部" in after

    async def by_phone(phone: str):                                                  # §3: the keyed hash finds it
        r = await api.post("/app/cases/by-phone", data={"csrf": csrf_of(case_page), "phone": phone})
        return r if case_no in r.text else None
    found = await eventually(lambda: by_phone("13812341234"))
    assert "13812341234" not in found.text and "138****1234" in found.text
    assert case_no not in (await api.post("/app/cases/by-phone", data={"csrf": csrf_of(case_page),
                                                                        "phone": "13812349999"})).text
    bad = await api.post("/app/cases/by-phone", data={"csrf": csrf_of(case_page), "phone": "12"})
    assert bad.status_code == 422 and "格式不对" in bad.text
    from adapters.db.models import Case
    from aftersales.privacy import phone_lookup_hash
    async with sessionmaker() as session:
        row = await session.get(Case, case_no)
    assert row.customer_phone_hmac == phone_lookup_hash("13812341234", settings.phone_lookup_key)
    assert "13812341234" not in str({c.name: getattr(row, c.name) for c in Case.__table__.columns})

    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    dated = await api.get("/app/cases", params={"case_no": case_no, "from": today.isoformat(), "to": today.isoformat()})
    link = f'href="/app/cases/{case_no}"'
    assert link in dated.text                                                        # received between dates
    earlier = (today - timedelta(days=3)).isoformat()
    assert link not in (await api.get("/app/cases", params={"case_no": case_no, "from": earlier,
                                                            "to": earlier})).text
    assert "日期格式不对" in (await api.get("/app/cases", params={"from": "2026-13-01"})).text

    register = await api.get("/app/cases", params={"case_no": case_no, "type": "complaint"})
    assert case_no in register.text and "138****1234" in register.text
    assert "13812341234" not in register.text

    mine = (await api.get("/app/my-work")).text                                      # §2: next is the dept head
    assert case_no not in mine
    await sign_in(api, "dept_head", password)
    mine = (await api.get("/app/my-work")).text
    assert case_no in mine and "部门负责人" in mine
    await sign_in(api, "wy_head", password)                                          # another department's head
    assert case_no not in (await api.get("/app/my-work")).text

    await sign_in(api, "contractor", password)                                       # P2: not found, like any number
    hidden = await api.get(f"/app/cases/{case_no}")
    assert hidden.status_code == 404 and "13812341234" not in hidden.text


@pytest.mark.asyncio
async def test_the_docs_work_offline(api):
    docs = await api.get("/docs")
    assert docs.status_code == 200 and "/static/docs/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    redoc = await api.get("/redoc")
    assert "/static/docs/redoc.standalone.js" in redoc.text and "fonts.googleapis" not in redoc.text
    for asset in ("/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css", "/static/docs/redoc.standalone.js",
                  "/static/workbench.css"):
        assert (await api.get(asset)).status_code == 200, asset
    assert (await api.get("/")).headers["location"] == "/app/my-work"


def test_every_state_of_both_case_types_has_a_chinese_name():
    from aftersales.complaint.state import ComplaintStatus
    from aftersales.repair.state import RepairStatus
    from aftersales.messages import STATUS_NAMES
    assert {s.value for s in (*ComplaintStatus, *RepairStatus)} <= set(STATUS_NAMES)


@pytest.mark.asyncio
async def test_next_actors_in_the_case_and_the_register_over_the_api(api, staff):
    body = {"customer": {"name": "李先生", "phone": "13912345678", "project": "融侨城", "building": "3栋", "unit": "0808"},
            "channel": "phone", "category": "噪音", "description": "楼上装修噪音"}
    case = (await api.post("/complaints", json=body, headers=await staff.headers("hotline"))).json()
    assert case["next_actors"] == [{"role": "cs_staff", "username": None, "department": None, "contractor_id": None,
                                    "action": "classify"}]
    async def listed():
        page = (await api.get("/cases", params={"mine": "true", "case_no": case["case_no"]},
                              headers=await staff.headers("cs_staff"))).json()
        return page["items"]
    [row] = await eventually(listed)
    assert row["next_roles"] == "|cs_staff|" and row["next_user"] is None
    others = (await api.get("/cases", params={"mine": "true", "case_no": case["case_no"]},
                            headers=await staff.headers("cs_manager"))).json()
    assert others["items"] == []
    by_role = (await api.get("/cases", params={"next_role": "cs_staff", "case_no": case["case_no"]},
                             headers=await staff.headers("cs_manager"))).json()
    assert [c["case_no"] for c in by_role["items"]] == [case["case_no"]]
    assert (await api.get("/cases", params={"next_role": "nobody"},
                          headers=await staff.headers("cs_manager"))).status_code == 422


@pytest.mark.asyncio
async def test_reports_and_campaigns_pages_with_figures_against_targets_and_downloads(api, settings):
    await sign_in(api, "cs_manager", settings.demo_password)
    page = await api.get("/app/reports")
    assert page.status_code == 200 and "投诉统计表（月）" in page.text
    bad = await api.post("/app/reports", data={"csrf": csrf_of(page.text), "kind": "monthly_complaints",
                                               "period": "2026-13"})
    assert bad.status_code == 422 and "未能生成" in bad.text and "2026-13" in bad.text
    made = await api.post("/app/reports", data={"csrf": csrf_of(page.text), "kind": "monthly_complaints",
                                                "period": "2026-11"})
    assert made.status_code == 303
    report = await api.get(made.headers["location"])
    assert "处理率" in report.text and "100.0%" in report.text and "年度回访覆盖率" in report.text   # targets shown
    report_id = made.headers["location"].rsplit("/", 1)[1]
    png = await api.get(f"/app/reports/{report_id}.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert (await api.get(f"/app/reports/{report_id}.xlsx")).content[:2] == b"PK"
    assert "处理率" in (await api.get(f"/app/reports/{report_id}.csv")).content.decode("utf-8-sig")
    assert (await api.get("/app/campaigns")).status_code == 200
    await sign_in(api, "hotline", settings.demo_password)                 # not a report reader: told so, no figures
    refused = await api.get("/app/reports")
    assert refused.status_code == 403 and "不能查看" in refused.text
    assert (await api.get(f"/app/reports/{report_id}.png")).status_code == 403


@pytest.mark.asyncio
async def test_P3_find_an_owners_cases_by_phone_over_the_api(api, staff):
    body = {"customer": {"name": "赵女士", "phone": "0591-87654321", "project": "融侨城", "building": "7栋", "unit": "0101"},
            "channel": "phone", "category": "门窗", "description": "窗户关不严"}
    case = (await api.post("/complaints", json=body, headers=await staff.headers("hotline"))).json()

    async def found():
        r = await api.post("/owners/cases", json={"phone": "0591-87654321"}, headers=await staff.headers("cs_staff"))
        return [c["case_no"] for c in r.json()["items"]] if r.status_code == 200 else None
    assert case["case_no"] in await eventually(found)
    refused = await api.post("/owners/cases", json={"phone": "0591-87654321"}, headers=await staff.headers("contractor"))
    assert refused.status_code == 403
    assert (await api.post("/owners/cases", json={"phone": "abc"}, headers=await staff.headers("cs_staff"))).status_code == 422


def test_T2_T3_working_time_left_counts_only_working_hours():
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from api.workbench import working_time_left
    from tests.support_calendar import calendar
    cal, bj = calendar(2026, 2027), ZoneInfo("Asia/Shanghai")
    friday_17 = datetime(2026, 11, 27, 17, 0, tzinfo=bj)
    # Friday 17:00 → Monday 11:00: 1 h on Friday, 2 h on Monday; the weekend does not count
    assert working_time_left(cal, friday_17, datetime(2026, 11, 30, 11, 0, tzinfo=bj)) == "剩余 3 小时"
    assert working_time_left(cal, friday_17, datetime(2026, 12, 2, 11, 0, tzinfo=bj)).startswith("剩余 2 个工作日")
    assert working_time_left(cal, datetime(2026, 11, 30, 11, 0, tzinfo=bj), friday_17) == "已逾期 3 小时"


@pytest.mark.asyncio
async def test_R1_A3_a_repair_from_intake_to_payment_through_the_pages_each_step_from_my_work(api, settings,
                                                                                                     staff):
    """Through the pages only (the browser's forms, posted as a browser does): each step is done by the role
    whose 我的待办 shows the case, with the fields the page's form offers."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    password = settings.demo_password
    soon = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    await sign_in(api, "hotline", password)
    page = await api.get("/app/new/repair")
    filed = await api.post("/app/new/repair", data={
        "csrf": csrf_of(page.text), "idempotency_key": "wb-repair-" + csrf_of(page.text)[:8], "name": "周女士",
        "phone": "13612345678", "project": "融侨城", "building": "8栋", "unit": "0303", "trades": "水电，木工",
        "requested_appointment": soon, "description": "卫生间水管漏水"})
    assert filed.status_code == 303, filed.text
    case_no = filed.headers["location"].split("/")[-1].split("?")[0]

    async def step(username: str, action: str, fields: dict[str, str]):
        await sign_in(api, username, password)
        async def listed():
            return case_no in (await api.get("/app/my-work")).text
        assert await eventually(listed), f"{case_no} not in {username}'s work before {action}"
        case_page = (await api.get(f"/app/cases/{case_no}")).text
        assert f'id="form-{action}"' in case_page, f"{username} is offered no {action}"
        r = await api.post(f"/app/cases/{case_no}/act", data={"csrf": csrf_of(case_page), "action": action,
                                                               "idempotency_key": re.search(
                                                                   rf'name="idempotency_key" value="([^"]+-{action})"',
                                                                   case_page).group(1), **fields})
        assert r.status_code == 303, re.findall(r'class="refused"[^>]*>([^<]*)', r.text) or r.text[-2000:]

    now = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
    await step("cs_staff", "agree_appointment", {"appointment_at": now, "told_via": "phone"})
    await step("repair_lead", "record_survey", {"responsible_party": "工程部", "estimate": "300.00", "order_type": "B"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        await step(who, "sign_survey", {})
    view = await get_view(api, staff, case_no)
    for _ in range(5):                                                        # A1: whoever the band names
        if view["status"] != "cost_approval":
            break
        approver = view["waiting_for"]
        await step(approver, "decide", {"decision": "approve"})
        view = await get_view(api, staff, case_no)
    await step("engineering", "dispatch", {"workers": "repair_lead"})
    await sign_in(api, "repair_lead", password)                              # D1, D2: the photo after the work
    case_page = (await api.get(f"/app/cases/{case_no}")).text
    assert 'id="form-upload"' in case_page and '<option value="after_work" selected>' in case_page
    from tests.support.images import location_of, photo
    sent = await api.post(f"/app/cases/{case_no}/files", data={"csrf": "forged", "step": "after_work", "kind": "photo"},
                          files={"file": ("p.jpg", photo("jpeg"), "image/jpeg")})
    assert sent.status_code == 403 and "CSRF" in sent.text                  # checked before the file is read
    sent = await api.post(f"/app/cases/{case_no}/files", data={"csrf": csrf_of(case_page), "step": "after_work",
                                                                "kind": "photo"},
                          files={"file": ("p.gif", b"GIF89a" + b"\0" * 5000, "image/jpeg")})
    assert sent.status_code == 415 and "JPEG" in sent.text                   # refused next to the form
    sent = await api.post(f"/app/cases/{case_no}/files", data={"csrf": csrf_of(case_page), "step": "after_work",
                                                                "kind": "photo"},
                          files={"file": ("p.jpg", photo("jpeg"), "image/jpeg")})
    assert sent.status_code == 303, sent.text[-1500:]
    case_page = (await api.get(f"/app/cases/{case_no}")).text
    assert "照片与文件" in case_page and "施工后" in case_page
    thumb = re.search(r'<img src="(/files/[^"]+)"', case_page).group(1)      # a signed link: works without the session
    assert (await httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url)).get(thumb)).status_code == 200
    original = re.search(r'<a href="(/files/[^"]+)"', case_page).group(1)
    assert location_of((await api.get(original)).content) == {}
    await step("repair_lead", "complete_work", {"note": "更换水管"})
    await step("cs_staff", "inspect", {"passed": "on"})
    await step("repair_lead", "inspect", {"passed": "on"})
    await step("cs_staff", "owner_sign_off", {"told_via": "phone", "quality": "5", "attitude": "5"})
    await step("cs_staff", "revisit", {"told_via": "phone", "satisfaction": "5", "quality": "5", "attitude": "5"})
    await step("repair_lead", "cost_statement", {"amount": "280.00", "note": "决算"})
    view = await get_view(api, staff, case_no)
    for _ in range(5):                                                        # A2, A3
        if view["status"] != "settlement":
            break
        await step(view["waiting_for"], "decide", {"decision": "approve"})
        view = await get_view(api, staff, case_no)
    await step("finance", "pay", {"amount": "280.00", "reference": "FK-WB-1"})
    view = await get_view(api, staff, case_no)
    assert view["status"] == "closed" and view["next_actors"] == []


async def get_view(api, staff, case_no: str) -> dict:
    """The case as the API shows it (bearer token: the test's own reading, beside the pages)."""
    r = await api.get(f"/cases/{case_no}", headers=await staff.headers("cs_manager"))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.asyncio
async def test_the_intake_form_offers_the_property_register_and_links_the_unit(api, settings, sessionmaker,
                                                                                        staff):
    import uuid
    from datetime import datetime, timezone
    from adapters.db import properties as register
    from aftersales.properties import UnitRecord
    project = f"台账苑{uuid.uuid4().hex[:4]}"
    async with sessionmaker() as session:
        await register.import_units(session, [UnitRecord(project=project, building="5栋", unit="1203", sold=True,
                                                         occupied=True, owner_name="王女士", owner_phone="13812341234")],
                                    by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc), seal=lambda p: "sealed")
    await sign_in(api, "hotline", settings.demo_password)
    page = await api.get("/app/new/complaint")
    assert f'<option value="{project}">' in page.text and 'list="projects"' in page.text
    filed = await api.post("/app/new/complaint", data={
        "csrf": csrf_of(page.text), "idempotency_key": uuid.uuid4().hex, "name": "王女士", "phone": "13812341234",
        "project": project, "building": "5号楼", "unit": "1203", "channel": "phone", "category": "漏水",
        "description": "漏水"})                                                      # "5号楼" is the registered "5栋"
    assert filed.status_code == 303, filed.text
    assert "（房产台账已登记）" in (await api.get(filed.headers["location"])).text

    # the unit picker: a building's registered units listed, one chosen, the case filed against it
    page = await api.get("/app/new/repair")
    none = await api.post("/app/new/repair/units", data={"csrf": csrf_of(page.text), "project": project, "building": "9栋"})
    assert none.status_code == 404 and "房产台账中没有" in none.text
    listed = await api.post("/app/new/repair/units", data={"csrf": csrf_of(page.text), "project": project,
                                                           "building": "5号楼"})
    assert listed.status_code == 200 and "台账房屋" in listed.text
    [(unit_id, label)] = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', listed.text)
    assert label.startswith("5栋 1203") and "13812341234" not in listed.text          # no owner's number
    filed = await api.post("/app/new/repair", data={
        "csrf": csrf_of(listed.text), "idempotency_key": uuid.uuid4().hex, "name": "王女士", "phone": "13812341234",
        "project": project, "building": "5号楼", "unit_id": unit_id, "unit": "", "trades": "水电",
        "requested_appointment": (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=7)).strftime("%Y-%m-%dT10:00"),
        "description": "厨房水管漏水"})  # R1: within 90 days
    assert filed.status_code == 303, filed.text
    view = await get_view(api, staff, filed.headers["location"].split("/")[-1].split("?")[0])
    assert (view["customer"]["unit_id"], view["customer"]["building"], view["customer"]["unit"]) == (int(unit_id), "5栋", "1203")
