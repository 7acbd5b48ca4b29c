"""P6 in a real browser (Debian's chromium through Playwright, 1366×768), against the API as ops run it:

- clickjacking: a page on another port of the same host (same site, other origin: the session cookie,
  SameSite=Strict, is sent to the frame) frames a case page while its user is signed in. The frame must
  stay empty (X-Frame-Options: DENY, CSP frame-ancestors 'none'), so nobody can overlay it;
- login CSRF: a page on another port auto-submits a sign-in form (the attacker's own account,
  wy_handler) into the API: the browser must not end up signed in as that account."""

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.e2e.test_workbench_browser import VIEWPORT, signed_in, workbench

COMPLAINT = {"customer": {"name": "冯先生", "phone": "13812345678", "project": "融侨城", "building": "3栋", "unit": "502"},
             "channel": "phone", "category": "漏水", "description": "阳台漏水"}


class AttackerSite:
    """Another origin on this machine: 127.0.0.1 on a port of its own, serving fixed pages."""

    def __init__(self, pages: dict[str, str]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.pages = pages
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "AttackerSite":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


async def file_complaint(url: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        r = await client.post("/auth/token", data={"username": "hotline", "password": password})
        h = {"Authorization": f"Bearer {r.json()['access_token']}", "Idempotency-Key": uuid.uuid4().hex}
        r = await client.post("/complaints", json=COMPLAINT, headers=h)
        assert r.status_code == 201, r.text
        return r.json()["case_no"]


@pytest.mark.asyncio
async def test_P6_another_port_cannot_frame_the_case_page(dev_env, settings, sessionmaker, worker_process, tmp_path):
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        case_no = await file_complaint(url, settings.demo_password)
        page = await signed_in(browser, url, "cs_staff", settings.demo_password)
        await page.goto(f"/app/cases/{case_no}")
        assert case_no in await page.content()                  # the user sees the case page ...
        frame_page = f'<h1>抽奖</h1><iframe id="victim" src="{url}/app/cases/{case_no}" width="1200" height="600"></iframe>'
        with AttackerSite({"/frame.html": frame_page}) as attacker:
            other = await page.context.new_page()             # ... and, signed in, opens another site's page
            await other.goto(f"{attacker.url}/frame.html")
            await other.wait_for_timeout(1500)
            [victim] = [f for f in other.frames if f != other.main_frame]
            shown = await victim.evaluate("() => document.documentElement.innerText || ''")
            await other.screenshot(path=str(tmp_path / "framed.png"))
        assert case_no not in shown and "冯" not in shown, f"the case page was framed: {shown[:200]!r}"
        assert not victim.url.startswith(url), victim.url     # chromium put its error page there instead


@pytest.mark.asyncio
async def test_P6_a_cross_site_auto_submitted_sign_in_form_is_refused(dev_env, settings, sessionmaker, tmp_path):
    async with workbench(dev_env, settings, sessionmaker, tmp_path) as (browser, url):
        context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        page = await context.new_page()
        await page.goto(f"{url}/app/login")                   # the victim once opened the sign-in page
        forged = (f'<form method="post" action="{url}/app/login">'
                  f'<input name="username" value="wy_handler"><input name="password" value="{settings.demo_password}">'
                  f'<input name="next" value="/app/my-work"></form>'
                  '<script>document.forms[0].submit()</script>')
        with AttackerSite({"/login.html": forged}) as attacker:
            def forged_post(response) -> bool:
                return response.request.method == "POST" and response.url.startswith(f"{url}/app/login")
            async with page.expect_response(forged_post) as answer:  # the form did reach the API ...
                await page.goto(f"{attacker.url}/login.html")
            refused = await answer.value
        assert refused.status == 403, refused.status             # ... and was refused as another origin's
        cookies = {c["name"]: c for c in await context.cookies(url)}
        assert "aftersales_session" not in cookies, "the browser was signed in by another site's form"
        await page.goto(f"{url}/app/my-work")
        assert "/app/login" in page.url                        # still not signed in
        await context.close()
