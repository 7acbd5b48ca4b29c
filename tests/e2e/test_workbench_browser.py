"""The workbench in a real browser (issue 11 §9): Playwright driving Debian's chromium against the API as
ops run it (uvicorn on 127.0.0.1, a dev server and a worker behind it), at 1366×768. A complaint is filed
by the hotline and classified by customer service through the pages, each step as the role that does it;
a refusal is read next to its form; the owner's number is masked until "show number"; the case is in
my work and the register. Each page is saved as a screenshot in tests/screenshots/ (git-ignored;
the README shows a copy from docs/screenshots/)."""

import shutil
import uuid
from pathlib import Path

import pytest

from aftersales.db.staff import seed_demo_staff
from tests.support import codec
from tests.support.api_server import APIServer

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT = {"width": 1366, "height": 768}



@pytest.mark.asyncio
async def test_issue11_a_complaint_through_the_pages_in_chromium(dev_env, settings, sessionmaker, worker_process,
                                                                 tmp_path):
    from playwright.async_api import async_playwright, expect
    assert CHROMIUM, "Debian's chromium is missing: `make install` installs it (apt-get install chromium)"
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
    SCREENSHOTS.mkdir(exist_ok=True)
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_SMTP_PORT": str(settings.smtp_port), **codec.ENV}
    unit = f"{uuid.uuid4().int % 10000:04d}"
    with APIServer(env, tmp_path / "api.log") as server:
        await server.wait_healthy()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                async def sign_in(username: str):
                    context = await browser.new_context(viewport=VIEWPORT, base_url=server.url, locale="zh-CN")
                    page = await context.new_page()
                    page.set_default_timeout(30_000)
                    await page.goto("/app/my-work")                      # no session: the sign-in page
                    await expect(page.get_by_role("heading", name="售后投诉与维修 · 员工登录")).to_be_visible()
                    await page.get_by_label("用户名").fill(username)      # by keyboard: type, Tab, Enter
                    await page.keyboard.press("Tab")
                    await page.keyboard.type(settings.demo_password)
                    await page.keyboard.press("Enter")
                    await expect(page.get_by_role("heading", name="我的待办")).to_be_visible()
                    return page

                page = await sign_in("hotline")
                await page.screenshot(path=SCREENSHOTS / "01-my-work-hotline.png")
                await page.get_by_role("link", name="新建投诉").click()
                await page.get_by_label("姓名").fill("王女士")
                await page.get_by_label("电话").fill("13812341234")
                await page.get_by_label("项目").fill("融侨城")
                await page.get_by_label("楼栋").fill("5栋")
                await page.get_by_label("房号").fill(unit)
                await page.get_by_label("类别").fill("漏水")
                await page.get_by_label("描述").fill("卫生间天花板漏水，已两天")
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
                # a refusal is shown next to its form, with the reason
                await page.get_by_text("结案", exact=True).first.click()
                form = page.locator("#form-close")
                await form.get_by_label("结案说明").fill("已处理")
                await form.get_by_role("button", name="结案").click()
                await expect(page.locator("#form-close .refused")).to_contain_text("未能结案")
                await page.screenshot(path=SCREENSHOTS / "04-refusal.png", full_page=True)
                await page.locator("summary", has_text="分类").first.click()
                form = page.locator("#form-classify")
                await form.get_by_label("类别").fill("漏水")
                await form.get_by_label("责任部门").fill("工程部")
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
                page = await sign_in("cs_manager")                        # §6: a report, its chart, its figures
                await page.get_by_role("link", name="报表").click()
                await page.get_by_role("combobox", name="报表").select_option("monthly_complaints")
                await page.get_by_label("期间").fill("2026-11")
                await page.get_by_role("button", name="生成").click()
                await expect(page.get_by_role("heading", name="汇总")).to_be_visible()
                await expect(page.get_by_role("img")).to_be_visible()
                assert await page.get_by_role("img").evaluate("img => img.naturalWidth") > 0   # the chart loaded
                await page.screenshot(path=SCREENSHOTS / "07-report.png", full_page=True)
                await page.get_by_role("link", name="回访活动").click()
                await expect(page.get_by_role("heading", name="回访活动")).to_be_visible()
                await page.screenshot(path=SCREENSHOTS / "08-campaigns.png")
                await page.goto("/docs")                                  # offline: the UI renders from local assets
                await expect(page.locator(".swagger-ui .info .title")).to_contain_text("After-sales")
                await page.screenshot(path=SCREENSHOTS / "09-docs-offline.png")
            finally:
                await browser.close()
