"""The workbench in a real browser: Playwright driving Debian's chromium against the API as
ops run it (uvicorn on 127.0.0.1, a dev server and a worker behind it), at 1366×768. A complaint is filed
by the hotline and classified by customer service through the pages, each step as the role that does it
(the whole paths, a complaint to close and a repair to payment, are walked in test_workbench_day_one_browser.py);
a refusal is read next to its form; the owner's number is masked until "show number"; the case is in
my work and the register. Each page is saved as a screenshot in tests/screenshots/ (git-ignored;
the README shows a copy from docs/screenshots/)."""

import shutil
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.db.staff import seed_demo_staff
from tests.support import codec
from tests.support.api_server import APIServer

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT = {"width": 1366, "height": 768}
INTAKE_FORM = "form.intake:not(.unit-picker)"   # the intake form (the unit picker above it has its own fields)
BEIJING = ZoneInfo("Asia/Shanghai")


@asynccontextmanager
async def workbench(dev_env, settings, sessionmaker, tmp_path):
    """The API as ops run it (uvicorn on 127.0.0.1) in front of the dev server and worker, and Debian's
    chromium (the suite worker's, shared: the test's sessions are closed after it): yields (browser, the API's URL)."""
    from tests.e2e.conftest import shared_chromium
    assert CHROMIUM, "Debian's chromium is missing: `make install` installs it (apt-get install chromium)"
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
    SCREENSHOTS.mkdir(exist_ok=True)
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_SMTP_PORT": str(settings.smtp_port),
           "AFTERSALES_FILES_DIR": settings.files_dir, **codec.ENV}
    with APIServer(env, tmp_path / "api.log") as server:
        await server.wait_healthy()
        browser = await shared_chromium(CHROMIUM)
        before = set(browser.contexts)
        try:
            yield browser, server.url
        finally:
            for context in set(browser.contexts) - before:
                await context.close()


async def signed_in(browser, url: str, username: str, password: str):
    """A new browser session signed in as `username` (the form filled and sent by keyboard: Tab, Enter)."""
    from playwright.async_api import expect
    context = await browser.new_context(viewport=VIEWPORT, base_url=url, locale="zh-CN")
    page = await context.new_page()
    page.set_default_timeout(30_000)
    await page.goto("/app/my-work")                      # no session: the sign-in page
    await expect(page.get_by_role("heading", name="售后投诉与维修 · 员工登录")).to_be_visible()
    await page.get_by_label("用户名").fill(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="我的待办")).to_be_visible()
    return page


async def from_my_work(browser, url: str, username: str, password: str, case_no: str):
    """Signed in as `username`, the case opened from 我的待办 (where it shows once the register follows)."""
    page = await signed_in(browser, url, username, password)
    link = page.get_by_role("link", name=case_no)
    for _ in range(50):
        if await link.count():
            break
        await page.wait_for_timeout(200)
        await page.reload()
    await link.click()
    return page



@pytest.mark.asyncio
async def test_a_complaint_through_the_pages_in_chromium(dev_env, settings, sessionmaker, worker_process,
                                                                 tmp_path):
    from playwright.async_api import expect
    unit = f"{uuid.uuid4().int % 10000:04d}"
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        async def sign_in(username: str):
            return await signed_in(browser, url, username, settings.demo_password)

        page = await sign_in("hotline")
        await page.screenshot(path=SCREENSHOTS / "01-my-work-hotline.png")
        await page.get_by_role("link", name="新建投诉").click()
        intake = page.locator(INTAKE_FORM)
        await intake.get_by_label("姓名").fill("王女士")
        await intake.get_by_label("电话").fill("13812341234")
        await intake.get_by_label("项目").fill("融侨城")
        await intake.get_by_label("楼栋").fill("5栋")
        await intake.get_by_label("房号").fill(unit)
        await intake.get_by_label("类别").select_option("漏水")
        await intake.get_by_label("描述").fill("卫生间天花板漏水，已两天")
        await page.screenshot(path=SCREENSHOTS / "02-new-complaint.png")
        await page.get_by_role("button", name="登记").dblclick()   # a double click files one case
        await expect(page.get_by_text("已登记")).to_be_visible()
        case_no = page.url.split("/app/cases/")[1].split("?")[0]
        await expect(page.locator(".phone")).to_have_text("138****1234")   # P3: masked
        await page.screenshot(path=SCREENSHOTS / "03-case-after-intake.png", full_page=True)

        page = await sign_in("cs_staff")
        await expect(page.get_by_role("link", name=case_no)).to_be_visible()   # in cs_staff's work
        await page.get_by_role("link", name=case_no).click()
        await page.get_by_role("button", name="显示号码").click()
        await expect(page.locator(".phone")).to_have_text("13812341234")
        # only what can be done now is offered (no 结案 before C7); a refusal is shown next to its form
        assert await page.locator("#form-close").count() == 0
        await page.locator("summary", has_text="分类").first.click()
        form = page.locator("#form-classify")
        await form.get_by_label("责任部门").select_option("工程部")
        await form.get_by_role("button", name="分类").click()
        await expect(page.locator("#form-classify .refused")).to_contain_text("未能分类")
        await expect(page.locator("#form-classify select[name=department]")).to_have_value("工程部")   # kept
        await page.screenshot(path=SCREENSHOTS / "04-refusal.png", full_page=True)
        form = page.locator("#form-classify")
        await expect(form.get_by_label("类别")).to_have_value("漏水")                     # from intake
        await form.get_by_label("投诉属实").check()
        await form.get_by_role("button", name="分类").click()
        await expect(page.get_by_text("分类 已完成")).to_be_visible()
        await expect(page.locator("dl")).to_contain_text("工程部")
        await page.screenshot(path=SCREENSHOTS / "05-case-classified.png", full_page=True)

        await page.get_by_role("link", name="案件登记簿").click()
        await page.get_by_label("案件编号").fill(case_no)
        await page.get_by_role("button", name="查询").click()
        await expect(page.get_by_role("link", name=case_no)).to_be_visible()
        assert "13812341234" not in await page.content()
        await page.screenshot(path=SCREENSHOTS / "06-register.png")
        await another_company_finds_none_of_it(browser, url, settings.demo_password, case_no)
        # a report, its chart, its figures: over this month (Beijing time), which holds the complaint above
        # and a few more filed through the API, one of them closed, so that the chart has bars to show
        await complaints_for_the_report(url, settings.demo_password)
        page = await sign_in("cs_manager")
        await page.get_by_role("link", name="报表").click()
        await page.locator("select[name=kind]").select_option("monthly_complaints")
        await page.locator("select[name=period_month]").select_option(datetime.now(BEIJING).strftime("%Y-%m"))
        await page.get_by_role("button", name="生成").click()
        await expect(page.get_by_role("heading", name="汇总")).to_be_visible()
        await expect(page.get_by_role("img")).to_be_visible()
        assert await page.get_by_role("img").evaluate("img => img.naturalWidth") > 0   # the chart loaded
        assert await summary_figure(page, "受理数") >= 4 and await summary_figure(page, "结案数") >= 1
        await page.screenshot(path=SCREENSHOTS / "07-report.png", full_page=True)
        await page.get_by_role("link", name="回访活动").click()
        await expect(page.get_by_role("heading", name="回访活动")).to_be_visible()
        await page.screenshot(path=SCREENSHOTS / "08-campaigns.png")
        await page.goto("/docs")                                  # offline: the UI renders from local assets
        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("After-sales")
        await page.screenshot(path=SCREENSHOTS / "09-docs-offline.png")


async def another_company_finds_none_of_it(browser, url: str, password: str, case_no: str) -> None:
    """P5 in the browser: 海景置业's customer-service manager (cs_manager2) works its own company's cases — a 海景苑
    complaint in its 我的待办 — and cannot find the 融侨城 case: not in its work or register, not by its number, not by
    the owner's phone, and its page is 404 as an unknown case's."""
    import httpx
    from playwright.async_api import expect
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:   # the group's 400 line files one for 海景苑
        token = (await client.post("/auth/token", data={"username": "hotline", "password": password})).json()
        r = await client.post("/complaints", headers={"Authorization": f"Bearer {token['access_token']}",
                                                       "Idempotency-Key": uuid.uuid4().hex}, json={
            "customer": {"name": "许先生", "phone": "13712340099", "project": "海景苑", "building": "1栋",
                         "unit": f"{uuid.uuid4().int % 10000:04d}"},
            "channel": "phone", "category": "漏水", "description": "阳台渗水"})
        assert r.status_code == 201, r.text
        ours = r.json()["case_no"]
        # classified as the owner's own cause (C2): it waits for 海景置业's manager's ruling, in cs_manager2's work
        token = (await client.post("/auth/token", data={"username": "cs_manager2", "password": password})).json()
        r = await client.post(f"/cases/{ours}/actions", headers={"Authorization": f"Bearer {token['access_token']}"},
                              json={"action": "classify", "category": "漏水", "department": "工程部", "justified": False,
                                    "reply": "经查为业主自行改装阳台所致"})
        assert r.status_code == 200, r.text
    page = await signed_in(browser, url, "cs_manager2", password)
    work = page.get_by_role("link", name=ours)
    for _ in range(50):                                   # once the register follows the new case
        if await work.count():
            break
        await page.wait_for_timeout(200)
        await page.reload()
    await expect(work).to_be_visible()                   # its own company's case, waiting for it
    await expect(page.get_by_role("link", name=case_no)).to_have_count(0)
    projects = await page.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert projects and all(p.startswith("海景") for p in projects), projects   # 海景置业's projects only

    await page.get_by_role("link", name="案件登记簿").click()
    await expect(page.locator("select[name=project] option[value='融侨城']")).to_have_count(0)
    await page.get_by_label("案件编号").fill(case_no)
    await page.get_by_role("button", name="查询").click()
    await expect(page.get_by_text("没有案件")).to_be_visible()
    await page.get_by_role("textbox", name="业主电话").fill("138-1234-1234")   # the 融侨城 owner's phone
    await page.get_by_role("button", name="按电话查找").click()
    await expect(page.get_by_text("按业主电话查找的结果")).to_be_visible()
    await expect(page.get_by_role("link", name=case_no)).to_have_count(0)
    assert "13812341234" not in await page.content()
    hidden = await page.goto(f"/app/cases/{case_no}")
    unknown = await page.context.new_page()
    missing = await unknown.goto(f"/app/cases/{case_no[:-6]}999997")
    assert hidden.status == missing.status == 404
    await page.screenshot(path=SCREENSHOTS / "06b-another-company.png")
    await page.context.close()


async def complaints_for_the_report(url: str, password: str) -> None:
    """Three more complaints this month through the API (two departments, two channels), one taken to close
    with the owner satisfied: what a month's report has to count."""
    import httpx
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        tokens = {}
        for who in ("hotline", "cs_staff", "dept_head", "dept_handler", "cs_manager"):
            r = await api.post("/auth/token", data={"username": who, "password": password})
            assert r.status_code == 200, r.text
            tokens[who] = {"Authorization": f"Bearer {r.json()['access_token']}"}

        async def act(who: str, case_no: str, body: dict) -> None:
            r = await api.post(f"/cases/{case_no}/actions", json=body, headers=tokens[who])
            assert r.status_code == 200, r.text

        cases = []
        for channel, category, department in (("phone", "漏水", "工程部"), ("online", "空鼓开裂", "工程部"),
                                              ("visit", "物业服务", "物业部")):
            r = await api.post("/complaints", headers={**tokens["hotline"], "Idempotency-Key": uuid.uuid4().hex}, json={
                "customer": {"name": "李先生", "phone": "13712345678", "project": "融侨城", "building": "3栋",
                             "unit": f"{uuid.uuid4().int % 10000:04d}"},
                "channel": channel, "category": category, "description": f"{category}，请尽快处理",
                "major": False, "group_complaint": False})
            assert r.status_code == 201, r.text
            case_no = r.json()["case_no"]
            await act("cs_staff", case_no, {"action": "classify", "category": category, "department": department,
                                            "justified": True})
            cases.append(case_no)
        closed = cases[0]
        await act("dept_head", closed, {"action": "assign_handler", "handler": "dept_handler"})
        await act("dept_handler", closed, {"action": "department_feedback", "findings": "防水层破损"})
        await act("dept_handler", closed, {"action": "propose_solution", "solution": "重做防水"})
        await act("cs_manager", closed, {"action": "decide", "decision": "approve"})
        await act("cs_staff", closed, {"action": "inform_customer", "message": "周一上门重做防水"})
        await act("cs_staff", closed, {"action": "record_satisfaction", "told_via": "phone", "score": 5})
        await act("cs_staff", closed, {"action": "summarise", "summary": "防水层老化", "corrective_measures": "重做",
                                       "preventive_measures": "交付前闭水试验"})
        await act("cs_staff", closed, {"action": "close", "outcome_note": "已修复"})


async def summary_figure(page, name: str) -> int:
    """A count from the report page's 汇总 table (its 数值 column)."""
    row = page.locator("tr").filter(has=page.get_by_role("cell", name=name, exact=True))
    return int((await row.locator("td").nth(1).inner_text()).strip())


async def act(page, action: str, fields: dict[str, str], *, select: dict[str, str] | None = None,
              check: tuple[str, ...] = ()) -> None:
    """Opens the action's form on the case page, fills it by its Chinese labels and submits it."""
    from playwright.async_api import expect
    form = page.locator(f"#form-{action}")
    await page.locator(f"details:has(#form-{action}) > summary").click()
    for label, value in fields.items():
        await form.get_by_label(label, exact=False).first.fill(value)
    for label, value in (select or {}).items():
        await form.get_by_label(label).select_option(value)
    for label in check:
        await form.get_by_label(label).check()
    await form.locator("button[type=submit]").click()
    await expect(page.locator(".notice")).to_contain_text("已完成")


TABBABLE = "a[href], button, input, select, textarea, summary, [tabindex]"


async def tab_to(page, locator, most: int = 60) -> None:
    """Presses Tab until `locator` has the focus: the keyboard's way to a field. Bounded by `most`, or by the
    page's own stops when it has more (a long list, as 我的待办 is when the database holds many cases): one
    round through the page reaches every stop."""
    target = await locator.element_handle()
    most = max(most, await page.locator(TABBABLE).count() + 2)
    for _ in range(most):
        if await page.evaluate("el => document.activeElement === el", target):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator}")


@pytest.mark.asyncio
async def test_by_keyboard_alone_a_complaint_filed_on_a_unit_picked_from_the_register_and_classified(
        dev_env, settings, sessionmaker, worker_process, tmp_path):
    """Keyboard only: Tab, typing, arrows, Space and Enter. The hotline lists a building's
    registered units, picks one with the arrow keys, files the complaint with Enter; customer service opens
    it from 我的待办, opens the classify form and sends it, all without a mouse."""
    from datetime import datetime, timezone
    from playwright.async_api import expect
    from adapters.db import properties as register
    from aftersales.properties import UnitRecord
    from adapters.temporal.sealing import Sealer
    project = f"键盘苑{uuid.uuid4().hex[:4]}"
    async with sessionmaker() as session:
        await register.import_units(session, [
            UnitRecord(project=project, building="5栋", unit=u, sold=True, occupied=True, owner_name="王女士",
                       owner_phone="13812341234") for u in ("1203", "1204")],
            by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc), seal=Sealer.from_settings(settings).seal)
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        page = await signed_in(browser, url, "hotline", settings.demo_password)
        await tab_to(page, page.get_by_role("link", name="新建投诉"))
        await page.keyboard.press("Enter")
        picker = page.locator("form.unit-picker")
        await tab_to(page, picker.get_by_label("项目"))
        async def arrow_to(select, value: str) -> None:              # a list: the arrow keys pick the option
            values = await select.locator("option").evaluate_all("os => os.map(o => o.value + '|' + (o.parentElement.label || ''))")
            for _ in range(next(i for i, v in enumerate(values) if v.split("|")[0] == value
                                and (v.split("|")[1] in ("", project)))):
                await page.keyboard.press("ArrowDown")
        await arrow_to(picker.get_by_label("项目"), project)
        await page.keyboard.press("Tab")
        await arrow_to(picker.get_by_label("楼栋"), "5栋")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")                           # lists the building's registered units
        units = page.locator("select[name=unit_id]")
        await expect(units).to_be_focused()
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("ArrowDown")                       # the second: 5栋 1204
        await expect(units).to_have_value(await units.locator("option", has_text="1204").get_attribute("value"))
        form = page.locator(INTAKE_FORM)
        await tab_to(page, form.get_by_label("类别"))                # the owner comes from the register
        await arrow_to(form.get_by_label("类别"), "漏水")
        await tab_to(page, form.get_by_label("描述"))
        await page.keyboard.type("卫生间漏水")
        await page.screenshot(path=SCREENSHOTS / "13-intake-unit-picker-keyboard.png", full_page=True)
        await tab_to(page, form.get_by_role("button", name="登记"))
        await page.keyboard.press("Enter")
        await expect(page.locator(".notice")).to_have_text("已登记")
        case_no = page.url.split("/app/cases/")[1].split("?")[0]
        await expect(page.locator("dl")).to_contain_text("5栋 1204")
        await expect(page.locator("dl")).to_contain_text("房产台账已登记")

        page = await signed_in(browser, url, "cs_staff", settings.demo_password)
        link = page.get_by_role("link", name=case_no)
        for _ in range(150):                                         # once the register follows (bounded)
            if await link.count():
                break
            await page.wait_for_timeout(200)
            await page.reload()
        await tab_to(page, link)
        await page.keyboard.press("Enter")
        await tab_to(page, page.locator("details:has(#form-classify) > summary"), most=120)
        await page.keyboard.press("Enter")                           # opens the form
        form = page.locator("#form-classify")
        await tab_to(page, form.get_by_label("责任部门"))
        await arrow_to(form.get_by_label("责任部门"), "工程部")
        await tab_to(page, form.get_by_label("投诉属实"))
        await page.keyboard.press("Space")
        await tab_to(page, form.get_by_role("button", name="分类"))
        await page.keyboard.press("Enter")
        await expect(page.get_by_text("分类 已完成")).to_be_visible()
        await expect(page.locator("dl")).to_contain_text("工程部")
