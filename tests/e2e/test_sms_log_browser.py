"""短信记录 in Debian's chromium at 1366×768 (O5, O1): on the embedded default (the outbox provider), a repair filed
by the hotline for an owner's mobile goes to both inspections passed; cs_manager opens 短信记录 from the
workbench's menu and finds the case's SMS (the receipt, the sign-off link), the owner's number masked, each with its
status, and the owner's sign-in code as 验证码短信 without the code; the case number opens the case, and the
sign-off link, followed from the log as a new user would, opens the owner's page of that one case with 签认完工.
Nothing is wider than the screen. Screenshot tests/screenshots/27-sms-log.png (`make docs-screenshots` refreshes docs/)."""

import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from adapters.db.models import SmsMessage
from adapters.db.staff import seed_demo_staff
from aftersales.privacy import mask_phone
from tests.e2e.conftest import Staff, attach, eventually, post_action
from tests.e2e.test_workbench_browser import CHROMIUM, SCREENSHOTS, VIEWPORT
from tests.support import codec
from tests.support.api_server import APIServer



@pytest.mark.asyncio
async def test_cs_manager_follows_an_owners_link_from_the_sms_log(dev_env, settings, sessionmaker, worker_process,
                                                                 tmp_path) -> None:
    from playwright.async_api import async_playwright, expect
    assert CHROMIUM, "Debian's chromium is missing: `make install` installs it (apt-get install chromium)"
    phone = f"135{random.randrange(10**8):08d}"
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
    SCREENSHOTS.mkdir(exist_ok=True)
    outbox = Path(settings.sms_outbox_file)
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_SMTP_PORT": str(settings.smtp_port),
           "AFTERSALES_FILES_DIR": settings.files_dir, "AFTERSALES_SMS_OUTBOX_FILE": str(outbox), **codec.ENV}
    with APIServer(env, tmp_path / "api.log") as server:
        await server.wait_healthy()
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as api, async_playwright() as p:
            staff = Staff(api, settings.demo_password)
            when = (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=2)).replace(hour=10, minute=0, second=0,
                                                                                              microsecond=0)
            filed = await api.post("/repairs", headers=await staff.headers("hotline"), json={
                "customer": {"name": "吴女士", "phone": phone, "project": "融侨城", "building": "8栋",
                             "unit": str(random.randrange(100, 3000))},
                "trades": ["水电"], "description": "厨房水管渗水", "requested_appointment": when.isoformat(),
                "paid_service": False})
            assert filed.status_code == 201, filed.text
            no = filed.json()["case_no"]
            r = await api.post("/o/login/code", data={"phone": phone})             # O1: the owner asks for a code
            assert r.status_code == 200, r.text

            async def sent_code():   # sent after the answer (the same time for an unknown number)
                lines = [ln for ln in outbox.read_text(encoding="utf-8").splitlines()
                         if mask_phone(phone) in ln and "验证码为" in ln] if outbox.exists() else []
                return lines and re.search(r"验证码为 (\d{6})", lines[-1]).group(1)
            code = await eventually(sent_code, 15)
            await post_action(api, staff, no, "cs_staff", {"action": "record_survey", "responsible_party": "工程部",
                                                           "multi_trade": False, "estimate": "0.00", "order_type": "B"})
            for who in ("cs_staff", "engineering", "repair_lead"):
                await post_action(api, staff, no, who, {"action": "sign_survey"})
            await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]})
            await attach(api, staff, no, "repair_lead", "after_work")
            await post_action(api, staff, no, "repair_lead", {"action": "complete_work", "note": "更换水管"})
            await post_action(api, staff, no, "cs_staff", {"action": "inspect", "passed": True})
            await post_action(api, staff, no, "repair_lead", {"action": "inspect", "passed": True})

            async def sign_off_sms():
                async with sessionmaker() as session:
                    return (await session.scalars(select(SmsMessage).where(
                        SmsMessage.case_no == no, SmsMessage.kind == "work_done"))).first()
            sms = await eventually(sign_off_sms, 60)                            # the projection queued it (O5)
            link = re.search(r"/o/l/[A-Za-z0-9_\-.]+", sms.params["link"]).group(0)

            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = await browser.new_context(viewport=VIEWPORT, base_url=server.url, locale="zh-CN")
                page = await context.new_page()
                page.set_default_timeout(30_000)
                await page.goto("/app/my-work")
                await page.get_by_label("用户名").fill("cs_manager")
                await page.get_by_label("密码").fill(settings.demo_password)
                await page.get_by_role("button", name="登录").click()
                await page.get_by_role("link", name="短信记录").click()
                await expect(page.get_by_role("heading", name=re.compile("短信记录"))).to_be_visible()
                rows = page.locator("table.sms-log tbody tr")
                case_rows = rows.filter(has=page.get_by_role("link", name=no))
                await expect(case_rows.filter(has_text="完工签认")).to_have_count(1)
                await expect(case_rows.filter(has_text="受理通知")).to_have_count(1)
                await expect(rows.filter(has_text=mask_phone(phone)).filter(has_text="验证码短信")).to_have_count(1)
                signed = case_rows.filter(has_text="完工签认")
                status = await signed.locator("td").last.inner_text()
                assert re.match(r"(已发送|待发送|暂缓（免打扰时段 21:00–08:00），.* 08:00 发送)", status), status
                content = await page.content()
                assert phone not in content and code not in content and "验证码为" not in content   # O1, P3
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= VIEWPORT["width"], f"the page is {width}px wide at 1366"
                await page.screenshot(path=SCREENSHOTS / "27-sms-log.png")

                await case_rows.first.get_by_role("link", name=no).click()           # the case number opens the case
                await expect(page).to_have_url(re.compile(f"/app/cases/{no}$"))
                await page.go_back()
                await signed.get_by_role("link", name=link).click()                  # the owner's link, followed here
                await expect(page.get_by_role("heading", name=f"报修 {no}")).to_be_visible()
                await expect(page.get_by_role("button", name="签认完工")).to_be_visible()
            finally:
                await browser.close()
