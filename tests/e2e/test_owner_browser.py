"""The owner's pages in a real phone-sized browser (O1–O3): Debian's chromium at 375×667 against the API as ops
run it (uvicorn, a dev server and a worker behind it). The owner signs in with the code from the SMS outbox,
sees their unit and cases, files a repair for their unit and reads its case page; nothing is wider than the
screen. Screenshots in tests/screenshots/ (git-ignored; docs/screenshots/ keeps copies)."""

import random
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from adapters.db.properties import import_units
from adapters.db.staff import seed_demo_staff
from adapters.temporal.sealing import Sealer
from aftersales.privacy import mask_phone, phone_lookup_hash
from aftersales.properties import UnitRecord
from tests.e2e.conftest import eventually
from tests.support import codec
from tests.support.api_server import APIServer

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE_VIEWPORT = {"width": 375, "height": 667}


async def _fits(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_VIEWPORT["width"], f"the page is {width}px wide on a 375px screen"


@pytest.mark.asyncio
async def test_owner_signs_in_sees_their_cases_and_files_a_repair_on_a_phone(dev_env, settings, sessionmaker,
                                                                             worker_process, tmp_path) -> None:
    from playwright.async_api import async_playwright, expect
    assert CHROMIUM, "Debian's chromium is missing: `make install` installs it (apt-get install chromium)"
    phone = f"138{random.randrange(10**8):08d}"
    unit = str(random.randrange(100, 3000))
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
        await import_units(session, [UnitRecord(project="海景花园", building="3栋", unit=unit, sold=True, occupied=True,
                                                owner_name="陈先生", owner_phone=phone)],
                           by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc),
                           seal=Sealer.from_settings(settings).seal,
                           phone_hash=lambda p: phone_lookup_hash(p, settings.phone_lookup_key))
    SCREENSHOTS.mkdir(exist_ok=True)
    outbox = Path(settings.sms_outbox_file)
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_SMTP_PORT": str(settings.smtp_port),
           "AFTERSALES_SMS_OUTBOX_FILE": str(outbox), **codec.ENV}
    with APIServer(env, tmp_path / "api.log") as server:
        await server.wait_healthy()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = await browser.new_context(viewport=PHONE_VIEWPORT, base_url=server.url, locale="zh-CN",
                                                    is_mobile=True, has_touch=True, device_scale_factor=2)
                page = await context.new_page()
                page.set_default_timeout(30_000)

                await page.goto("/o/")                                                  # no session: sign in
                await expect(page.get_by_role("heading", name="业主登录")).to_be_visible()
                await page.get_by_label("手机号码").fill(phone)
                await page.get_by_role("button", name="获取验证码").click()
                await expect(page.get_by_role("status")).to_contain_text("验证码已发送")
                await page.screenshot(path=SCREENSHOTS / "owner-1-code.png")
                await _fits(page)

                async def code():
                    lines = [ln for ln in outbox.read_text(encoding="utf-8").splitlines()
                             if mask_phone(phone) in ln and "验证码" in ln] if outbox.exists() else []
                    return lines and re.search(r"验证码为 (\d{6})", lines[-1]).group(1)
                await page.get_by_label("短信验证码").fill(await eventually(code, 15))
                await page.get_by_role("button", name="登录").click()

                await expect(page.get_by_role("heading", name="我的房屋和案件")).to_be_visible()
                await expect(page.get_by_text(f"海景花园 3栋 {unit}")).to_be_visible()
                await expect(page.get_by_text("暂无案件")).to_be_visible()
                await _fits(page)
                await page.screenshot(path=SCREENSHOTS / "owner-2-home.png", full_page=True)

                await page.get_by_role("link", name="报修", exact=True).click()
                await expect(page.get_by_role("heading", name="报修")).to_be_visible()
                await page.get_by_label("维修类别").select_option("防水")
                await page.get_by_label("问题描述").fill("阳台下雨渗水，墙面起皮")
                await _fits(page)
                await page.screenshot(path=SCREENSHOTS / "owner-3-new-repair.png", full_page=True)
                await page.get_by_role("button", name="提交报修").click()

                await expect(page.get_by_role("heading", name=re.compile(r"报修 [A-Z]{2}-\d{4}-\d{6}"))).to_be_visible()
                await expect(page.get_by_role("status")).to_have_text("已提交")
                await expect(page.get_by_text("当前状态：已受理")).to_be_visible()
                await expect(page.get_by_text("业主本人（验证码登录）")).to_be_visible()
                case_no = re.search(r"[A-Z]{2}-\d{4}-\d{6}", await page.get_by_role("heading", level=1).inner_text()).group(0)
                assert phone not in await page.content()
                await _fits(page)
                await page.screenshot(path=SCREENSHOTS / "owner-4-case.png", full_page=True)

                await page.get_by_role("link", name="‹ 我的房屋和案件").click()               # my cases, then the case
                await page.get_by_role("link", name=re.compile(case_no)).click()
                await expect(page.get_by_role("heading", name=f"报修 {case_no}")).to_be_visible()
                await expect(page.get_by_text("阳台下雨渗水").or_(page.get_by_text("业主自助报修受理"))).to_be_visible()
            finally:
                await browser.close()
