"""The workbench on a department's first day, in Debian's chromium at 1366×768 (P7): a complaint from intake
to close in which nothing a list could give is typed — the unit from the property register (the owner's name
and phone with it), the category, the department, the handler, the decision, the score from their pickers,
the category and the reply to the owner carried from the case. Page loads, clicks, choices and typed fields
are counted and printed (docs/workbench.md compares them with the path before pickers)."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from tests.e2e.test_workbench_browser import SCREENSHOTS, VIEWPORT, workbench


@dataclass
class Tally:
    """What a person does on the path: document loads, clicks, choices from a list, typed fields, sign-ins."""
    loads: int = 0
    clicks: int = 0
    choices: int = 0
    typed: int = 0
    sign_ins: int = 0
    typed_fields: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)    # console errors: a script the CSP (P6) blocked, a failing one
    refused_upload: bool = False                        # D1's refusal shown once per walk (not counted: a mistake)

    def watch(self, page) -> None:
        page.on("load", lambda _: setattr(self, "loads", self.loads + 1))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.refused.append(str(e)))

    def _console(self, message) -> None:
        # chromium's own favicon request (the workbench has none) is no page's doing
        # and the 415 of the one upload the walk sends refused on purpose (D1)
        url = message.location.get("url", "")
        if self.refused_upload and "415" in message.text and url.endswith("/files"):
            return
        if message.type == "error" and not url.endswith("/favicon.ico"):
            self.refused.append(f"{message.text} {message.location.get('url')}")

    async def click(self, locator) -> None:
        self.clicks += 1
        await locator.click()

    async def choose(self, locator, value=None, label=None) -> None:
        self.choices += 1
        await (locator.select_option(label=label) if label else locator.select_option(value))

    async def type(self, locator, text: str, name: str) -> None:
        self.typed += 1
        self.typed_fields.append(name)
        await locator.fill(text)


async def sign_in(browser, url: str, tally: Tally, username: str, password: str):
    from playwright.async_api import expect
    context = await browser.new_context(viewport=VIEWPORT, base_url=url, locale="zh-CN")
    page = await context.new_page()
    page.set_default_timeout(30_000)
    tally.watch(page)
    tally.sign_ins += 1
    await page.goto("/app/my-work")
    await page.get_by_label("用户名").fill(username)    # a sign-in's two fields are counted as sign-ins
    await page.get_by_label("密码").fill(password)
    await tally.click(page.get_by_role("button", name="登录"))
    await expect(page.get_by_role("heading", name="我的待办")).to_be_visible()
    return page


async def open_from_my_work(page, tally: Tally, case_no: str):
    link = page.get_by_role("link", name=case_no)
    for _ in range(50):                       # the register follows the case: reloads not counted
        if await link.count():
            break
        await page.wait_for_timeout(200)
        await page.reload()
        tally.loads -= 1
    await tally.click(link)


async def act(page, tally: Tally, action: str, *, typed: dict[str, str] = {}, chosen: dict[str, str] = {},
              picked: dict[str, str] = {}, checked: tuple[str, ...] = ()) -> None:
    """One action's form: opened, its fields typed, chosen (by label) or picked (by value), sent."""
    from playwright.async_api import expect
    form = page.locator(f"#form-{action}")
    await tally.click(page.locator(f"details:has(#form-{action}) > summary"))
    for name, text in typed.items():
        await tally.type(form.locator(f"[name={name}]"), text, f"{action}.{name}")
    for name, label in chosen.items():
        await tally.choose(form.locator(f"select[name={name}]"), label=label)
    for name, value in picked.items():
        await tally.choose(form.locator(f"select[name={name}]"), value)
    for name in checked:
        await tally.click(form.locator(f"[name={name}]"))
    await tally.click(form.locator("button[type=submit]"))
    await expect(page.locator(".notice")).to_contain_text("已完成")


@pytest.mark.asyncio
async def test_P7_a_complaint_from_intake_to_close_with_nothing_typed_that_a_list_gives_in_chromium(
        dev_env, settings, sessionmaker, worker_process, tmp_path):
    from playwright.async_api import expect
    from adapters.db import properties as register
    from aftersales.properties import UnitRecord
    from adapters.temporal.sealing import Sealer
    project = f"列表苑{uuid.uuid4().hex[:4]}"
    async with sessionmaker() as session:
        await register.import_units(session, [
            UnitRecord(project=project, building="2栋", unit=u, sold=True, occupied=True, owner_name="陈先生",
                       owner_phone="13912340000") for u in ("0801", "0802")],
            by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc), seal=Sealer.from_settings(settings).seal)
    tally, password = Tally(), settings.demo_password
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        page = await sign_in(browser, url, tally, "hotline", password)
        await tally.click(page.get_by_role("link", name="新建投诉"))
        picker = page.locator("form.unit-picker")
        await tally.choose(picker.get_by_label("项目"), project)
        await tally.choose(picker.get_by_label("楼栋"), "2栋")
        await tally.click(picker.get_by_role("button", name="列出房屋"))
        intake = page.locator("form.intake:not(.unit-picker)")
        await tally.choose(intake.locator("select[name=unit_id]"), label="2栋 0802 · 陈先生 139****0000")
        await expect(intake.locator("input[name=name]")).to_have_value("陈先生")      # filled from the register
        assert tally.refused == []                                  # by the workbench's own script, the CSP kept
        await tally.choose(intake.get_by_label("类别"), "空鼓开裂")
        await tally.type(intake.get_by_label("描述"), "客厅墙面开裂", "intake.description")
        await page.screenshot(path=SCREENSHOTS / "20-intake-by-pickers.png", full_page=True)
        await tally.click(intake.get_by_role("button", name="登记"))
        await expect(page.locator(".notice")).to_have_text("已登记")
        case_no = page.url.split("/app/cases/")[1].split("?")[0]
        await expect(page.locator("dl")).to_contain_text("陈先生")

        page = await sign_in(browser, url, tally, "cs_staff", password)
        await open_from_my_work(page, tally, case_no)
        await expect(page.locator("#form-classify select[name=category]")).to_have_value("空鼓开裂")   # from intake
        await act(page, tally, "classify", chosen={"department": "工程部"}, checked=("justified",))
        page = await sign_in(browser, url, tally, "dept_head", password)
        await open_from_my_work(page, tally, case_no)
        await act(page, tally, "assign_handler", chosen={"handler": "张伟 · 工程部专人"})   # by name and title
        page = await sign_in(browser, url, tally, "dept_handler", password)
        await open_from_my_work(page, tally, case_no)
        await act(page, tally, "department_feedback", typed={"findings": "墙体抹灰空鼓"})
        await act(page, tally, "propose_solution", typed={"solution": "铲除空鼓部分重新抹灰"})
        page = await sign_in(browser, url, tally, "cs_manager", password)
        await open_from_my_work(page, tally, case_no)
        await act(page, tally, "decide", chosen={"decision": "批准"})
        page = await sign_in(browser, url, tally, "cs_staff", password)
        await open_from_my_work(page, tally, case_no)
        await expect(page.locator("#form-inform_customer textarea[name=message]")).to_have_value("铲除空鼓部分重新抹灰")
        await act(page, tally, "inform_customer")                    # the approved solution, as the reply
        await act(page, tally, "record_satisfaction", chosen={"score": "5 非常满意"})
        await act(page, tally, "summarise", typed={"summary": "抹灰空鼓", "corrective_measures": "重新抹灰",
                                                   "preventive_measures": "加强验收"})
        await act(page, tally, "close", typed={"outcome_note": "已修复，业主满意"})
        await expect(page.locator("h1")).to_contain_text("已结案")
        await expect(page.locator("dl")).to_contain_text("张伟 · 工程部专人")          # the handler by name and title
        await expect(page.locator("#actions + p")).to_have_text("您当前没有可做的操作。")
        await page.screenshot(path=SCREENSHOTS / "21-closed-by-pickers.png", full_page=True)
        await page.screenshot(path=SCREENSHOTS / "10-complaint-closed.png", full_page=True)   # the README's
    report("complaint intake→close", tally)
    assert tally.refused == []
    # only what no list can give is typed: the owner's words, the findings, the solution, the summary, the outcome
    assert tally.typed_fields == ["intake.description", "department_feedback.findings", "propose_solution.solution",
                                  "summarise.summary", "summarise.corrective_measures",
                                  "summarise.preventive_measures", "close.outcome_note"]


async def register_units(sessionmaker, settings, project: str) -> None:
    from adapters.db import properties as register
    from adapters.temporal.sealing import Sealer
    from aftersales.properties import UnitRecord
    async with sessionmaker() as session:
        await register.import_units(session, [
            UnitRecord(project=project, building="6栋", unit=u, sold=True, occupied=True, owner_name="林女士",
                       owner_phone="13912341111") for u in ("1201", "1202")],
            by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc),
            seal=Sealer.from_settings(settings).seal)  # P5: a project of 融侨置业, the demo accounts' company


async def file_repair(browser, url: str, tally: Tally, password: str, project: str, *, paid: bool) -> tuple[object, str]:
    """R1 by the hotline: the unit from the property register, the trade from the list, the owner's words typed."""
    from playwright.async_api import expect
    page = await sign_in(browser, url, tally, "hotline", password)
    await tally.click(page.get_by_role("link", name="新建报修"))
    picker = page.locator("form.unit-picker")
    await tally.choose(picker.get_by_label("项目"), project)
    await tally.choose(picker.get_by_label("楼栋"), "6栋")
    await tally.click(picker.get_by_role("button", name="列出房屋"))
    intake = page.locator("form.intake:not(.unit-picker)")
    await tally.choose(intake.locator("select[name=unit_id]"), label="6栋 1202 · 林女士 139****1111")
    await tally.choose(intake.locator("select[name=trades]"), "水电")                     # from the trades list
    if paid:
        await tally.click(intake.get_by_label("有偿服务（R3）"))
    await tally.type(intake.get_by_label("描述"), "厨房水龙头漏水", "intake.description")
    if not paid:
        await page.screenshot(path=SCREENSHOTS / "11-new-repair.png")                         # the README's
    await tally.click(intake.get_by_role("button", name="登记"))
    await expect(page.locator(".notice")).to_have_text("已登记")
    return page, page.url.split("/app/cases/")[1].split("?")[0]


async def upload_after_work(page, tally: Tally) -> None:
    """D2: the photo after the work, the upload form opened at its step by the case."""
    from playwright.async_api import expect
    from tests.support.images import photo
    form = page.locator("#form-upload")
    await expect(form.locator("select[name=step]")).to_have_value("after_work")
    if not tally.refused_upload:                                        # D1: a file that is no photo, refused
        tally.refused_upload = True
        await form.locator("input[name=file]").set_input_files(files=[
            {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture at all " * 400}])
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#form-upload .refused")).to_contain_text("不支持的文件类型")
        form = page.locator("#form-upload")
    tally.choices += 1                                                  # the file chosen
    await form.locator("input[name=file]").set_input_files(
        files=[{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": photo("jpeg")}])
    await tally.click(form.locator("button[type=submit]"))
    await expect(page.locator(".notice")).to_contain_text("已上传")


async def work_to_revisit(browser, url: str, tally: Tally, password: str, case_no: str) -> None:
    """R4–R7: dispatched to the repair team by name, the work with its photo, inspected, signed off, revisited."""
    page = await sign_in(browser, url, tally, "cs_staff", password)
    await open_from_my_work(page, tally, case_no)
    await act(page, tally, "dispatch", chosen={"workers": "孙建国 · 维修队长"})             # by name and title
    page = await sign_in(browser, url, tally, "repair_lead", password)
    await open_from_my_work(page, tally, case_no)
    await upload_after_work(page, tally)
    await act(page, tally, "complete_work", typed={"note": "更换阀芯"})
    await act(page, tally, "inspect", checked=("passed",))
    page = await sign_in(browser, url, tally, "cs_staff", password)
    await open_from_my_work(page, tally, case_no)
    await act(page, tally, "inspect", checked=("passed",))
    await act(page, tally, "owner_sign_off", picked={"quality": "5", "attitude": "5"})
    await act(page, tally, "revisit", picked={"satisfaction": "5", "quality": "5", "attitude": "5"})


def report(path: str, tally: Tally) -> None:
    print(f"\n{path}: {tally.loads} page loads, {tally.clicks} clicks, {tally.choices} choices, "
          f"{tally.typed} typed fields ({', '.join(tally.typed_fields)}), {tally.sign_ins} sign-ins")


@pytest.mark.asyncio
async def test_P7_a_repair_from_intake_to_payment_with_the_survey_from_the_lists_in_chromium(
        dev_env, settings, sessionmaker, worker_process, tmp_path):
    """A company-borne repair (type B): the survey's responsible party, work-order type and multi-trade from the
    lists and the case, the approval, the worker by name, the cost statement from the estimate, the payment's
    amount from the settlement; typed only what no list gives."""
    from playwright.async_api import expect
    project = f"维修苑{uuid.uuid4().hex[:4]}"
    await register_units(sessionmaker, settings, project)
    tally, password = Tally(), settings.demo_password
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        page, case_no = await file_repair(browser, url, tally, password, project, paid=False)
        page = await sign_in(browser, url, tally, "cs_staff", password)
        await open_from_my_work(page, tally, case_no)
        await act(page, tally, "agree_appointment")                   # the owner's requested time, as agreed
        page = await sign_in(browser, url, tally, "repair_lead", password)
        await open_from_my_work(page, tally, case_no)
        survey = page.locator("#form-record_survey")
        await expect(survey.locator("input[name=multi_trade]")).not_to_be_checked()     # one trade at intake
        await act(page, tally, "record_survey", chosen={"responsible_party": "工程部"}, picked={"order_type": "B"},
                  typed={"estimate": "300"})
        await act(page, tally, "sign_survey")
        for who in ("cs_staff", "engineering"):
            page = await sign_in(browser, url, tally, who, password)
            await open_from_my_work(page, tally, case_no)
            await act(page, tally, "sign_survey")
        page = await sign_in(browser, url, tally, "cs_manager", password)
        await open_from_my_work(page, tally, case_no)
        await expect(page.locator("#form-decide")).to_contain_text("¥300.00")            # A4: what is decided
        await act(page, tally, "decide", chosen={"decision": "批准"})
        await work_to_revisit(browser, url, tally, password, case_no)
        page = await sign_in(browser, url, tally, "repair_lead", password)
        await open_from_my_work(page, tally, case_no)
        await expect(page.locator("#form-cost_statement input[name=amount]")).to_have_value("300.00")  # the estimate
        await act(page, tally, "cost_statement", typed={"note": "更换阀芯一个"})
        for who in ("cs_manager", "deputy_chief_engineer"):                          # A2 audit, A3 confirmation
            page = await sign_in(browser, url, tally, who, password)
            await open_from_my_work(page, tally, case_no)
            await act(page, tally, "decide", chosen={"decision": "批准"})
        page = await sign_in(browser, url, tally, "finance", password)
        await open_from_my_work(page, tally, case_no)
        await expect(page.locator("#form-pay input[name=amount]")).to_have_value("300.00")       # the settlement
        await act(page, tally, "pay", typed={"reference": "FK-2026-0001"})
        await expect(page.locator("h1")).to_contain_text("已结案")
        await page.screenshot(path=SCREENSHOTS / "12-repair-paid.png", full_page=True)        # the README's
    report("repair intake→payment", tally)
    assert tally.refused == []
    assert tally.typed_fields == ["intake.description", "record_survey.estimate", "complete_work.note",
                                  "cost_statement.note", "pay.reference"]


@pytest.mark.asyncio
async def test_R3_a_paid_repair_quoted_by_item_rows_from_intake_to_the_owners_payment_in_chromium(
        dev_env, settings, sessionmaker, worker_process, tmp_path):
    """R3 in the browser: the quote from the fee schedule's rows (a row added, one removed, the total kept as
    ¥1,234.50 as quantities are typed), the owner's acceptance from the case, the payment's amount from the quote."""
    import httpx
    from playwright.async_api import expect
    from tests.e2e.test_money_http import FEE_SCHEDULE
    project = f"有偿苑{uuid.uuid4().hex[:4]}"
    await register_units(sessionmaker, settings, project)
    tally, password = Tally(), settings.demo_password
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        async with httpx.AsyncClient(base_url=url) as client:        # cs_manager's fee schedule (shared, idempotent)
            token = (await client.post("/auth/token", data={"username": "cs_manager", "password": password})).json()
            r = await client.put("/admin/fee-schedule", json=FEE_SCHEDULE,
                                 headers={"Authorization": f"Bearer {token['access_token']}"})
            assert r.status_code == 200, r.text
        page, case_no = await file_repair(browser, url, tally, password, project, paid=True)
        page = await sign_in(browser, url, tally, "cs_staff", password)
        await open_from_my_work(page, tally, case_no)
        form = page.locator("#form-quote")
        await tally.click(page.locator("details:has(#form-quote) > summary"))
        rows = form.locator("fieldset[data-kind=item] .quote-row")
        await expect(rows.nth(1)).to_be_hidden()                       # one blank row until 添加一行
        await tally.choose(rows.nth(0).locator("select"), "TAP")
        await tally.type(rows.nth(0).locator("input"), "2", "quote.quantity")
        await expect(form.locator(".quote-total")).to_have_text("¥90.00")
        await tally.click(form.locator("fieldset[data-kind=item] .quote-add"))
        await tally.choose(rows.nth(1).locator("select"), "PIPE")
        await tally.type(rows.nth(1).locator("input"), "1.5", "quote.quantity")
        await expect(rows.nth(1).locator(".quote-amount")).to_have_text("¥48.75")
        await expect(form.locator(".quote-total")).to_have_text("¥138.75")
        await tally.click(form.locator("fieldset[data-kind=item] .quote-add"))
        await tally.choose(rows.nth(2).locator("select"), "PIPE")
        await tally.click(rows.nth(2).locator(".quote-remove"))              # chosen by mistake: removed
        await expect(rows.nth(2)).to_be_hidden()
        await expect(form.locator(".quote-total")).to_have_text("¥138.75")
        await page.screenshot(path=SCREENSHOTS / "24-quote-rows.png", full_page=True)
        await tally.click(form.locator("button[type=submit]"))
        await expect(page.locator(".notice")).to_contain_text("已完成")
        await expect(page.locator("dl")).to_contain_text("¥138.75")
        await expect(page.locator("#form-accept_quote input[name=signed_by]")).to_have_value("林女士")
        await act(page, tally, "accept_quote")                           # the owner's name and now, from the case
        await work_to_revisit(browser, url, tally, password, case_no)
        page = await sign_in(browser, url, tally, "finance", password)
        await open_from_my_work(page, tally, case_no)
        await expect(page.locator("#form-record_service_payment input[name=amount]")).to_have_value("138.75")
        await act(page, tally, "record_service_payment", picked={"method": "wechat"}, typed={"receipt_no": "SJ-0088"})
        await expect(page.locator("h1")).to_contain_text("已结案")
    report("paid repair intake→payment", tally)
    assert tally.refused == []
    assert tally.typed_fields == ["intake.description", "quote.quantity", "quote.quantity", "complete_work.note",
                                  "record_service_payment.receipt_no"]


@pytest.mark.asyncio
async def test_the_sign_in_title_stays_on_one_line_at_1366x768(dev_env, settings, sessionmaker, worker_process,
                                                                tmp_path):
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        context = await browser.new_context(viewport=VIEWPORT, base_url=url, locale="zh-CN")
        page = await context.new_page()
        await page.goto("/app/login")
        title = page.get_by_role("heading", name="售后投诉与维修 · 员工登录")
        height = await title.evaluate("h => h.getBoundingClientRect().height")
        line = await title.evaluate("h => parseFloat(getComputedStyle(h).lineHeight) || 1.5 * parseFloat(getComputedStyle(h).fontSize)")
        assert height < 1.5 * line, (height, line)                          # one line, not "员工登 / 录"
        await page.screenshot(path=SCREENSHOTS / "22-sign-in.png")


@pytest.mark.asyncio
async def test_K1_the_reports_page_shows_only_the_chosen_reports_period_picker_under_the_csp(
        dev_env, settings, sessionmaker, worker_process, tmp_path):
    """The workbench's script file runs under the pages' CSP (P6: script-src 'self', no inline script)."""
    from playwright.async_api import expect
    tally = Tally()
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        page = await sign_in(browser, url, tally, "cs_manager", settings.demo_password)
        await page.goto("/app/reports")
        kind = page.locator(".report-form select[name=kind]")
        options = await kind.locator("option").evaluate_all("os => os.map(o => [o.value, o.dataset.period])")
        assert len({p for _, p in options}) > 1, options
        for value, period in (options[0], next(o for o in options if o[1] != options[0][1])):
            await kind.select_option(value)
            await expect(page.locator(f".report-form label.period[data-period={period}]")).to_be_visible()
            await expect(page.locator(f".report-form label.period:not([data-period={period}])")).to_have_count(
                len({p for _, p in options}) - 1)
            for hidden in await page.locator(f".report-form label.period:not([data-period={period}])").all():
                await expect(hidden).to_be_hidden()
    assert tally.refused == []
