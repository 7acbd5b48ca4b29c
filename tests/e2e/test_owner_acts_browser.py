"""The owner's own acts in a real phone-sized browser (O3, O4, rules 4): Debian's chromium at 375×667 against the API
as ops run it (uvicorn, a dev server and a worker behind it). Signed in by the code from the SMS outbox, the owner
accepts the visit time staff proposed, signs the finished work off with scores and answers the survey, each from
the forms of 需要您办理 on their case page; the timeline says each was given by the owner. Nothing is wider than the
screen. Screenshots in tests/screenshots/ (23–26; `make docs-screenshots` refreshes docs/)."""

import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from adapters.db.properties import import_units
from adapters.db.staff import seed_demo_staff
from adapters.temporal.sealing import Sealer
from aftersales.messages import BEIJING
from aftersales.privacy import mask_phone, phone_lookup_hash
from aftersales.properties import UnitRecord
from tests.e2e.conftest import Staff, attach, eventually, post_action
from tests.e2e.test_owner_browser import CHROMIUM, PHONE_VIEWPORT, SCREENSHOTS, _fits
from tests.support import codec
from tests.support.api_server import APIServer



async def shot(page, name: str) -> None:
    await page.screenshot(path=SCREENSHOTS / name, full_page=True)


@pytest.mark.asyncio
async def test_owner_accepts_the_time_signs_off_and_answers_the_survey_on_a_phone(dev_env, settings, sessionmaker,
                                                                                   worker_process, tmp_path) -> None:
    from playwright.async_api import async_playwright, expect
    assert CHROMIUM, "Debian's chromium is missing: `make install` installs it (apt-get install chromium)"
    phone = f"136{random.randrange(10**8):08d}"
    unit = str(random.randrange(100, 3000))
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
        await import_units(session, [UnitRecord(project="海景花园", building="6栋", unit=unit, sold=True, occupied=True,
                                                owner_name="孙女士", owner_phone=phone)],
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
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as api, async_playwright() as p:
            staff = Staff(api, settings.demo_password)
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = await browser.new_context(viewport=PHONE_VIEWPORT, base_url=server.url, locale="zh-CN",
                                                    is_mobile=True, has_touch=True, device_scale_factor=2)
                page = await context.new_page()
                page.set_default_timeout(30_000)

                # O1: signed in by the code from the outbox; files a repair for the unit
                await page.goto("/o/login")
                await page.get_by_label("手机号码").fill(phone)
                await page.get_by_role("button", name="获取验证码").click()

                async def code():
                    lines = [ln for ln in outbox.read_text(encoding="utf-8").splitlines()
                             if mask_phone(phone) in ln and "验证码" in ln] if outbox.exists() else []
                    return lines and re.search(r"验证码为 (\d{6})", lines[-1]).group(1)
                await page.get_by_label("短信验证码").fill(await eventually(code, 15))
                await page.get_by_role("button", name="登录").click()
                await page.get_by_role("link", name="报修", exact=True).click()
                await page.get_by_label("问题描述").fill("卫生间地漏返水")
                await page.get_by_role("button", name="提交报修").click()
                heading = page.get_by_role("heading", name=re.compile(r"报修 [A-Z]{2}-\d{4}-\d{6}"))
                await expect(heading).to_be_visible()
                no = re.search(r"[A-Z]{2}-\d{4}-\d{6}", await heading.inner_text()).group(0)

                # R1: staff propose a time; the owner accepts it
                at = (datetime.now(BEIJING) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
                await post_action(api, staff, no, "cs_staff", {"action": "propose_appointment",
                                                               "appointment_at": at.isoformat()})
                await page.reload()
                todo = page.get_by_role("heading", name="需要您办理")
                await expect(todo).to_be_visible()
                await expect(page.get_by_text(at.strftime("%Y-%m-%d %H:%M"), exact=True)).to_be_visible()
                await _fits(page)
                await shot(page, "23-owner-accept-appointment.png")
                await page.get_by_role("button", name="确认此时间").click()
                await expect(page.get_by_role("status")).to_have_text("已确认上门时间")
                await expect(page.get_by_text("业主确认上门时间")).to_be_visible()

                # the survey, dispatch, the work with its photo, both inspections (staff, over HTTP)
                await post_action(api, staff, no, "cs_staff", {"action": "record_survey", "responsible_party": "工程部",
                                                               "multi_trade": False, "estimate": "0.00", "order_type": "B"})
                for who in ("cs_staff", "engineering", "repair_lead"):
                    await post_action(api, staff, no, who, {"action": "sign_survey"})
                await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]})
                await attach(api, staff, no, "repair_lead", "after_work")
                await post_action(api, staff, no, "repair_lead", {"action": "complete_work", "note": "更换地漏"})
                await post_action(api, staff, no, "cs_staff", {"action": "inspect", "passed": True})
                await post_action(api, staff, no, "repair_lead", {"action": "inspect", "passed": True})

                # R6: the owner signs off with scores
                await page.reload()
                await expect(page.get_by_text("当前状态：待您签认")).to_be_visible()
                await page.get_by_label("维修质量", exact=True).select_option("5")
                await page.get_by_label("服务态度", exact=True).select_option("4")
                await page.get_by_label("意见（可选）").fill("师傅很细心，现场打扫干净")
                await _fits(page)
                await shot(page, "24-owner-sign-off.png")
                await page.get_by_role("button", name="签认完工").click()
                await expect(page.get_by_role("status")).to_have_text("已签认完工，感谢您的评价")

                # R7: the survey
                await expect(page.get_by_role("heading", name="服务评价")).to_be_visible()
                await page.get_by_label("总体满意度").select_option("5")
                await page.get_by_label("意见和建议（可选）").fill("响应很快")
                await _fits(page)
                await shot(page, "25-owner-survey.png")
                await page.get_by_role("button", name="提交评价").click()
                await expect(page.get_by_role("status")).to_have_text("感谢您的评价")
                await expect(todo).to_have_count(0)
                await expect(page.get_by_text("业主本人（验证码登录）")).to_have_count(4)   # filed, time, sign-off, survey
                assert phone not in await page.content()
                await _fits(page)
                await shot(page, "26-owner-case-done.png")

                view = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
                assert view["status"] == "revisited" and view["sign_off"]["provenance"]["by"] == "owner"
                assert view["revisits"][-1]["satisfaction"] == 5 and view["revisits"][-1]["provenance"]["by"] == "owner"
            finally:
                await browser.close()
