"""Shared test environment: a time-skipping Temporal test server per test (custom search
attributes registered), a fresh SQLite read model per test, a real SMTP server on loopback, and a
worker on a unique task queue per test."""

import shutil
import sys
import uuid
from collections.abc import AsyncIterator
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
        task_queue=f"test-{uuid.uuid4().hex[:10]}", **codec.CODEC,
    )


@pytest_asyncio.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated read model with the real holiday data and the demo staff: one account per role,
    username = role id, e-mail <role>@example.com, password settings.demo_password."""
    upgrade_to_head(settings.database_url)
    engine = make_engine(settings.database_url)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await calendar_store.seed_from_chinese_calendar(session)
        await seed_demo_staff(session, settings)
    yield maker
    await engine.dispose()


@pytest.fixture
def smtp_server():
    from tests.support.smtp import SMTPServer

    with SMTPServer() as server:
        yield server
