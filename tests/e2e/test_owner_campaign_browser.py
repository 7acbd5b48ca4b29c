"""V3, O3, O4 in a real phone-sized browser: Debian's chromium at 375×667 against the API as ops run it (uvicorn, a
dev server and a worker behind it). cs_manager plans a revisit campaign for the owner's project; the owner, signed
in by the code from the SMS outbox, finds 回访调查 on 我的房屋和案件, scores the survey's items and comments, and
is thanked; the survey is no longer offered, and the campaign counts the visit as the owner's own. Nothing is wider
than the screen. Screenshot tests/screenshots/28-owner-campaign-survey.png (`make docs-screenshots` refreshes docs/)."""

import random
import re
import uuid
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
from tests.e2e.conftest import Staff, eventually
from tests.e2e.test_owner_acts_browser import shot
from tests.e2e.test_owner_browser import CHROMIUM, PHONE_VIEWPORT, SCREENSHOTS, _fits
from tests.support import codec
from tests.support.api_server import APIServer


@pytest.mark.asyncio
async def test_owner_answers_a_campaign_survey_from_the_home_page_on_a_phone(dev_env, settings, sessionmaker,
                                                                            worker_process, tmp_path) -> None:
    from playwright.async_api import async_playwright, expect
    assert CHROMIUM, "Debian's chromium is missing: `make install` installs it (apt-get install chromium)"
    phone = f"133{random.randrange(10**8):08d}"
    project, unit = f"回访花园{uuid.uuid4().hex[:6]}", str(random.randrange(100, 3000))
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
        await import_units(session, [UnitRecord(project=project, building="1栋", unit=unit, sold=True, occupied=True,
                                                owner_name="冯女士", owner_phone=phone)],
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
            today = datetime.now(BEIJING).date()
            r = await api.post("/campaigns", headers=await staff.headers("cs_manager"), json={
                "project": project, "kind": "first", "starts_on": today.isoformat(),
                "ends_on": (today + timedelta(days=30)).isoformat(), "staff": ["cs_staff"]})
            assert r.status_code == 201, r.text
            cid = r.json()["campaign_id"]
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = await browser.new_context(viewport=PHONE_VIEWPORT, base_url=server.url, locale="zh-CN",
                                                    is_mobile=True, has_touch=True, device_scale_factor=2)
                page = await context.new_page()
                page.set_default_timeout(30_000)
                await page.goto("/o/login")                                             # O1: by the outbox's code
                await page.get_by_label("手机号码").fill(phone)
                await page.get_by_role("button", name="获取验证码").click()

                async def code():
                    lines = [ln for ln in outbox.read_text(encoding="utf-8").splitlines()
                             if mask_phone(phone) in ln and "验证码" in ln] if outbox.exists() else []
                    return lines and re.search(r"验证码为 (\d{6})", lines[-1]).group(1)
                await page.get_by_label("短信验证码").fill(await eventually(code, 15))
                await page.get_by_role("button", name="登录").click()
                await expect(page.get_by_role("heading", name="我的房屋和案件")).to_be_visible()

                surveys = page.get_by_role("heading", name="回访调查")
                for _ in range(100):                     # the campaign's plan is written by its workflow
                    if await surveys.count():
                        break
                    await page.wait_for_timeout(300)
                    await page.reload()
                await expect(surveys).to_be_visible()
                card = page.locator(f'a[href^="/o/surveys/{cid}/"]')
                await expect(card).to_contain_text(f"{project} 1栋 {unit}")
                await _fits(page)
                await card.click()

                await expect(page.get_by_role("heading", name="回访调查")).to_be_visible()
                for item, score in (("房屋质量", "4"), ("维修服务", "5"), ("物业服务", "5"), ("客户服务", "5")):
                    await page.get_by_label(item, exact=True).select_option(score)
                await page.get_by_label("意见和建议（可选）").fill("交房质量不错，物业响应及时")
                await _fits(page)
                await shot(page, "28-owner-campaign-survey.png")
                await page.get_by_role("button", name="提交调查").click()

                await expect(page.get_by_role("status")).to_have_text("感谢您参加回访调查")
                assert phone not in await page.content()
                for _ in range(100):                     # answered once: no longer offered
                    if not await page.locator(f'a[href^="/o/surveys/{cid}/"]').count():
                        break
                    await page.wait_for_timeout(300)
                    await page.reload()
                await expect(page.locator(f'a[href^="/o/surveys/{cid}/"]')).to_have_count(0)

                summary = (await api.get(f"/campaigns/{cid}", headers=await staff.headers("cs_manager"))).json()
                assert (summary["visited"], summary["visits_owner"], summary["visits_staff"]) == (1, 1, 0)   # O4
            finally:
                await browser.close()
