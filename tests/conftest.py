"""Shared test environment: a time-skipping Temporal test server per test (custom search
attributes registered), a fresh SQLite read model per test, a real SMTP server on loopback, and a
worker on a unique task queue per test."""

import atexit
import os
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from adapters.config import Settings
from adapters.db import calendar_store
from adapters.db.migrate import upgrade_to_head
from adapters.db.staff import seed_demo_staff
from adapters.db.session import make_engine, make_sessionmaker
from adapters.temporal.setup import register_search_attributes
from tests.support import codec
from tests.support.patient_queries import PatientQueries

BIN = Path(sys.executable).parent

# The suite never reads or writes the repository's data/ (a developer's `make run` state, or whatever an earlier
# test left there): every file a Settings() defaults to goes to a folder of this process (each suite worker,
# and the worker and API processes the tests start, which inherit it). A test that needs a secret names it.
_HERMETIC = Path(tempfile.mkdtemp(prefix="aftersales-tests-"))
atexit.register(shutil.rmtree, _HERMETIC, ignore_errors=True)  # gone with the process (a gigabyte a day of runs)
for _name, _file in (("CODEC_KEY_FILE", "codec-keys.json"), ("JWT_SECRET_FILE", "jwt-secret"),
                     ("PHONE_LOOKUP_KEY_FILE", "phone-lookup-key"), ("ACTOR_ASSERTION_KEY_FILE", "actor-assertion-key"),
                     ("FILES_DIR", "files"), ("SMS_OUTBOX_FILE", "sms-outbox.log"), ("TEMPORAL_DB_FILE", "temporal.db")):
    os.environ.setdefault(f"AFTERSALES_{_name}", str(_HERMETIC / _file))


@pytest.fixture(autouse=True)
def _await_chains_before_the_timeout(request):
    """Shortly before pytest-timeout fails a stuck test, prints what every asyncio task awaits: the thread
    dump it prints shows only the event loop's select(), not the await that never ends (a case's Update, a
    workflow's result)."""
    import asyncio
    import gc
    import threading
    timeout = request.config.getini("timeout")
    seconds = float(timeout) if timeout else 0.0
    if seconds <= 15:
        yield
        return

    def dump() -> None:
        print(f"\n--- asyncio tasks of {request.node.nodeid}, still running after {seconds - 10:.0f} s ---",
              file=sys.stderr)
        for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
            if loop.is_running():
                for task in list(asyncio.all_tasks(loop)):
                    print(f"task {task.get_name()}:", file=sys.stderr)
                    coro = task.get_coro()
                    while coro is not None:  # the await chain, outermost first
                        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                        if frame is not None:
                            print(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}",
                                  file=sys.stderr)
                        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    timer = threading.Timer(seconds - 10, dump)
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()


def pytest_configure(config: pytest.Config) -> None:
    """The product's bytecode and the rewritten test modules written once, on every core, before the suite's
    workers start (tests/support/bytecode.py: where bytecode is not written, each worker and each process a
    test starts paid for them again)."""
    if hasattr(config, "workerinput"):  # a suite worker (pytest-xdist): its controller wrote them already
        return
    from tests.support import bytecode
    bytecode.prepare(config, Path(__file__).resolve().parents[1])


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported (the product, Temporal, SQLAlchemy, FastAPI, Playwright …: 300,000 objects) is
    set aside from the garbage collector: its full collections, a tenth of an e2e test's CPU in this process,
    then walk only what the tests make."""
    import gc
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The known long tests first, those that work and those that wait in turn (tests/support/durations.py); the
    rest in collection order. Every suite worker collects the same order, as pytest-xdist requires."""
    from tests.support.durations import load, order
    at = {nodeid: i for i, nodeid in enumerate(order([item.nodeid for item in items], load()))}
    items.sort(key=lambda item: at[item.nodeid])


_CPU_AT_START = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.config.option.xmlpath:  # a JUnit report (make test-durations): each test's CPU goes in it
        from tests.support.durations import tree_cpu
        item.stash[_CPU_AT_START] = tree_cpu()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    if call.when == "teardown" and _CPU_AT_START in item.stash:
        from tests.support.durations import CPU_PROPERTY, tree_cpu
        item.user_properties.append((CPU_PROPERTY, round(tree_cpu() - item.stash[_CPU_AT_START], 2)))
    yield


def binary(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} not found: run `make install`"
    return found


@pytest_asyncio.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own (it starts in a tenth of a second): the clock starts
    at today for every test, and nothing an earlier test left behind (a workflow whose task no worker
    will take holds the clock) can stall this one's skips."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=codec.converter(),
        interceptors=[PatientQueries()])
    await register_search_attributes(env.client, "default")
    async with env:
        yield env


@pytest.fixture
def settings(tmp_path: Path, smtp_server) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}",
        smtp_host="127.0.0.1", smtp_port=smtp_server.port, bcrypt_rounds=4,
        task_queue=f"test-{uuid.uuid4().hex[:10]}", files_dir=str(tmp_path / "files"), **codec.CODEC,
    )


SQLITE = "sqlite+aiosqlite:///"
# A migrated, seeded read model per process and seeding settings, copied for each test: migrating and
# seeding took ~1.3 s per test, a copy takes milliseconds (the same functions build it, so it is the same).
_TEMPLATES: dict[tuple, Path] = {}


async def prepare_read_model(settings: Settings) -> None:
    """Migrates the read model and seeds the real holiday data and the demo staff."""
    upgrade_to_head(settings.database_url)
    engine = make_engine(settings.database_url)
    async with make_sessionmaker(engine)() as session:
        await calendar_store.seed_from_chinese_calendar(session)
        await seed_demo_staff(session, settings)
    await engine.dispose()


async def copy_of_prepared_read_model(settings: Settings) -> None:
    """`prepare_read_model` for a SQLite file, by copying the process's template of the same seeding settings
    (SQLite's backup API: a consistent copy whatever the journal mode)."""
    target = Path(settings.database_url.removeprefix(SQLITE))
    key = (settings.environment, settings.demo_password, settings.bcrypt_rounds, settings.seed_demo_users)
    if key not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="read-model-template-", dir=_HERMETIC))
        await prepare_read_model(settings.model_copy(update={"database_url": f"{SQLITE}{folder / 'template.db'}"}))
        _TEMPLATES[key] = folder / "template.db"
    with closing(sqlite3.connect(_TEMPLATES[key])) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)


@pytest_asyncio.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated read model with the real holiday data and the demo staff: one account per role,
    username = role id, e-mail <role>@example.com, password settings.demo_password."""
    if settings.database_url.startswith(SQLITE) and not Path(settings.database_url.removeprefix(SQLITE)).exists():
        await copy_of_prepared_read_model(settings)
    else:
        await prepare_read_model(settings)
    engine = make_engine(settings.database_url)
    maker = make_sessionmaker(engine)
    yield maker
    await engine.dispose()


@pytest.fixture
def smtp_server():
    from tests.support.smtp import SMTPServer

    with SMTPServer() as server:
        yield server
