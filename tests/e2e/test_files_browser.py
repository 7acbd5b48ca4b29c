"""A warranty repair with photos at each step, in Debian's chromium against the API as ops run it (D1–D3, O2, O3):
the owner files it on their phone (375×667) with two photos of the leak; staff add photos and signed papers at
each step through the workbench's upload form (1366×768), each by the role that does the step — several at once
where there are several — while the case moves on over the API; the gallery shows every step's thumbnails
through signed links, the owner's photos marked as given by the owner (O4); the owner's page shows the photos
meant for them and not the survey's or the cost statement. Screenshots in tests/screenshots/
(15-warranty-gallery.png, 22-owner-case-photos.png; `make docs-screenshots` refreshes docs/)."""

import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from adapters.db.properties import import_units
from adapters.db.staff import seed_demo_staff
from adapters.temporal.sealing import Sealer
from aftersales.privacy import mask_phone, phone_lookup_hash
from aftersales.properties import UnitRecord
from tests.e2e.conftest import eventually
from tests.e2e.test_owner_browser import CHROMIUM, PHONE_VIEWPORT, _fits
from tests.e2e.test_workbench_browser import SCREENSHOTS, signed_in
from tests.support import codec
from tests.support.api_server import APIServer
from tests.support.images import pdf, photo

STEPS = ["受理", "查勘", "施工前", "施工后", "验收", "维修单（业主签字）", "决算书（签字）"]


def jpeg(name: str, color: tuple[int, int, int]) -> dict:
    return {"name": name, "mimeType": "image/jpeg", "buffer": photo("jpeg", size=(800, 600), color=color)}


async def staff_upload(browser, url: str, password: str, username: str, case_no: str, step: str, kind: str,
                       files: list[dict]) -> None:
    """`username` opens the case and sends `files` through the upload form, at once (D1: all or none)."""
    from playwright.async_api import expect
    page = await signed_in(browser, url, username, password)
    await page.goto(f"/app/cases/{case_no}")
    form = page.locator("#form-upload")
    if not await form.is_visible():
        await page.locator("details.upload > summary").click()
    await form.locator("select[name=step]").select_option(step)
    await form.locator("select[name=kind]").select_option(kind)
    await form.locator("input[type=file]").set_input_files(files=files)
    await form.get_by_role("button", name="上传", exact=True).click()
    await expect(page.locator(".notice")).to_contain_text("已上传")
    await page.context.close()


@pytest.mark.asyncio
async def test_D1_D3_O2_O3_a_warranty_repair_with_photos_at_each_step_in_chromium(dev_env, settings, sessionmaker,
                                                                                  worker_process, tmp_path):
    from playwright.async_api import async_playwright, expect
    assert CHROMIUM, "Debian's chromium is missing: `make install` installs it (apt-get install chromium)"
    phone = f"136{random.randrange(10**8):08d}"
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
        await import_units(session, [UnitRecord(project="照片花园", building="2栋", unit=str(random.randrange(100, 3000)),
                                                sold=True, occupied=True, owner_name="孙女士", owner_phone=phone)],
                           by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc),
                           seal=Sealer.from_settings(settings).seal,
                           phone_hash=lambda p: phone_lookup_hash(p, settings.phone_lookup_key))
    SCREENSHOTS.mkdir(exist_ok=True)
    outbox = Path(settings.sms_outbox_file)
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_SMTP_PORT": str(settings.smtp_port),
           "AFTERSALES_FILES_DIR": settings.files_dir, "AFTERSALES_SMS_OUTBOX_FILE": str(outbox), **codec.ENV}
    password = settings.demo_password
    with APIServer(env, tmp_path / "api.log") as server:
        await server.wait_healthy()
        url = server.url
        async with async_playwright() as p, httpx.AsyncClient(base_url=url, timeout=60) as api:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            tokens: dict[str, str] = {}

            async def act(username: str, body: dict) -> dict:
                if username not in tokens:
                    r = await api.post("/auth/token", data={"username": username, "password": password})
                    tokens[username] = r.json()["access_token"]
                r = await api.post(f"/cases/{case_no}/actions", json=body,
                                   headers={"Authorization": f"Bearer {tokens[username]}"})
                assert r.status_code == 200, (username, body, r.text)
                return r.json()

            async def approve_while(status: str) -> None:
                for _ in range(6):
                    view = (await api.get(f"/cases/{case_no}", headers={
                        "Authorization": f"Bearer {tokens['cs_manager']}"})).json()
                    if view["status"] != status:
                        return
                    await act(view["waiting_for"], {"action": "decide", "decision": "approve"})
            try:
                # ---- the owner files the repair with two photos of the leak, on their phone ----------------
                owner = await browser.new_context(viewport=PHONE_VIEWPORT, base_url=url, locale="zh-CN",
                                                  is_mobile=True, has_touch=True, device_scale_factor=2)
                page = await owner.new_page()
                page.set_default_timeout(30_000)
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
                await page.get_by_label("维修类别").select_option("防水")
                await page.get_by_label("问题描述").fill("卫生间顶棚漏水，已经滴到地面")
                photos = page.get_by_label("照片（可选，可多张）")
                assert await photos.get_attribute("accept") == "image/*" and await photos.get_attribute("capture")
                await photos.set_input_files(files=[jpeg("漏水1.jpg", (30, 90, 160)), jpeg("漏水2.jpg", (40, 120, 180))])
                await _fits(page)
                await page.get_by_role("button", name="提交报修").click()
                await expect(page.get_by_role("status")).to_have_text("已提交")
                case_no = re.search(r"[A-Z]{2}-\d{4}-\d{6}", await page.get_by_role("heading", level=1).inner_text()).group(0)
                await expect(page.locator(".photos img")).to_have_count(2)

                # ---- the case moves on over the API; photos at each step through the workbench ---------------
                r = await api.post("/auth/token", data={"username": "cs_manager", "password": password})
                tokens["cs_manager"] = r.json()["access_token"]
                await act("cs_staff", {"action": "agree_appointment", "told_via": "phone",
                                       "appointment_at": (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()})
                await act("cs_staff", {"action": "record_survey", "responsible_party": "工程部", "contractor_id": "CT-DEMO",
                                       "multi_trade": False, "estimate": "800.00", "order_type": "A"})
                await staff_upload(browser, url, password, "repair_lead", case_no, "survey", "photo",
                                   [jpeg("查勘.jpg", (150, 150, 60))])
                for who in ("cs_staff", "engineering", "repair_lead", "contractor"):
                    await act(who, {"action": "sign_survey"})
                await approve_while("cost_approval")
                await act("engineering", {"action": "dispatch", "workers": ["contractor"], "to_contractor": True})
                await staff_upload(browser, url, password, "contractor", case_no, "before_work", "photo",
                                   [jpeg("施工前1.jpg", (180, 60, 40)), jpeg("施工前2.jpg", (200, 80, 60))])
                await staff_upload(browser, url, password, "contractor", case_no, "after_work", "photo",
                                   [jpeg("施工后.jpg", (40, 140, 90))])
                await act("contractor", {"action": "complete_work", "note": "重做防水层"})           # D2: its photo
                await staff_upload(browser, url, password, "cs_staff", case_no, "inspection", "photo",
                                   [jpeg("验收.jpg", (90, 90, 200))])
                await act("cs_staff", {"action": "inspect", "passed": True})
                await act("repair_lead", {"action": "inspect", "passed": True})
                # P5: the project 照片花园 is 融侨置业's but not 融侨城: 融侨城's butler does not see it; customer service does
                await staff_upload(browser, url, password, "cs_staff", case_no, "repair_slip", "signed",
                                   [{"name": "维修单.pdf", "mimeType": "application/pdf", "buffer": pdf()}])
                await act("cs_staff", {"action": "owner_sign_off", "told_via": "phone", "quality": 5, "attitude": 5})
                await act("cs_staff", {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5})
                await act("repair_lead", {"action": "cost_statement", "amount": "780.00", "note": "决算"})
                await approve_while("settlement")
                await staff_upload(browser, url, password, "repair_lead", case_no, "cost_statement", "signed",
                                   [{"name": "决算书.pdf", "mimeType": "application/pdf", "buffer": pdf() + b"%A3"}])
                view = await act("finance", {"action": "pay", "amount": "780.00", "reference": "FK-PH-1"})  # D2, A3
                assert view["status"] == "closed"

                # ---- the gallery: every step, the owner's photos marked as theirs ----------------------------
                page = await signed_in(browser, url, "cs_manager", password)
                await page.goto(f"/app/cases/{case_no}")
                gallery = page.locator(".gallery")
                for name in STEPS:
                    await expect(gallery.get_by_role("heading", name=re.compile("^" + re.escape(name)))).to_be_visible()
                await expect(gallery.locator("img")).to_have_count(7)          # 2 + 1 + 2 + 1 + 1 photos; 2 PDFs
                await expect(gallery.get_by_text("业主本人（验证码登录）")).to_have_count(2)
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('.gallery img')].every(i => i.complete && i.naturalWidth > 0)",
                    timeout=15_000)
                await gallery.scroll_into_view_if_needed()
                await gallery.screenshot(path=SCREENSHOTS / "15-warranty-gallery.png")

                # ---- the owner's page: what is meant for them, not the survey's nor the cost statement -------
                page = await owner.new_page()
                await page.goto(f"/o/cases/{case_no}")
                section = page.locator(".photos")
                await expect(section.locator("img")).to_have_count(6)          # intake 2, before 2, after 1, inspection 1
                await expect(section.get_by_text("维修单（业主签字）")).to_have_count(1)
                assert await section.get_by_text("查勘").count() == 0 and await section.get_by_text("决算书").count() == 0
                await expect(section.get_by_text("我上传的")).to_have_count(2)
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('.photos img')].every(i => i.complete && i.naturalWidth > 0)",
                    timeout=15_000)
                await _fits(page)
                await page.screenshot(path=SCREENSHOTS / "22-owner-case-photos.png", full_page=True)
            finally:
                await browser.close()
