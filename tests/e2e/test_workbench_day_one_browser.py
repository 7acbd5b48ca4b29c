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

    def watch(self, page) -> None:
        page.on("load", lambda _: setattr(self, "loads", self.loads + 1))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.refused.append(str(e)))

    def _console(self, message) -> None:
        # chromium's own favicon request (the workbench has none) is no page's doing
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
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
              checked: tuple[str, ...] = ()) -> None:
    from playwright.async_api import expect
    form = page.locator(f"#form-{action}")
    await tally.click(page.locator(f"details:has(#form-{action}) > summary"))
    for name, text in typed.items():
        await tally.type(form.locator(f"[name={name}]"), text, f"{action}.{name}")
    for name, label in chosen.items():
        await tally.choose(form.locator(f"select[name={name}]"), label=label)
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
            by="test", filename="t.csv", now=datetime.now(timezone.utc), seal=Sealer.from_settings(settings).seal)
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
    print(f"\ncomplaint intake→close: {tally.loads} page loads, {tally.clicks} clicks, {tally.choices} choices, "
          f"{tally.typed} typed fields ({', '.join(tally.typed_fields)}), {tally.sign_ins} sign-ins")
    assert tally.refused == []
    # only what no list can give is typed: the owner's words, the findings, the solution, the summary, the outcome
    assert tally.typed_fields == ["intake.description", "department_feedback.findings", "propose_solution.solution",
                                  "summarise.summary", "summarise.corrective_measures",
                                  "summarise.preventive_measures", "close.outcome_note"]


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
