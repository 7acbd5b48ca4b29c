"""Schemathesis against the running API: the real app under uvicorn on 127.0.0.1, a Temporal
dev server and a worker behind it, signed in with a demo token. Every default check (no 5xx, statuses,
content types, headers and bodies as the OpenAPI document declares them, invalid data refused, valid
data accepted, ...) over every operation; 0 failures. Bounded: a fixed number of examples per operation
and a fixed seed, so a run takes the same path each time."""

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.e2e.conftest import own_dev_server
from tests.support import codec
from tests.support.api_server import APIServer

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The suite's budget: every operation of every part is reached by its examples, the coverage phase (each schema
# boundary, every declared status) and a few fuzzed cases; the typed tests prove what each route does. `make bench`
# runs the full budget (SCHEMATHESIS_EXAMPLES=12).
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "3"))
SEED = 20261123
# Every operation in one of these parts (a test each, so that the suite's workers share them out; each pays once
# for its dev server, worker, API process and schema, so no more parts than that needs);
# test_the_parts_cover_every_operation checks that none is left out. The accounts' part runs alone: what the
# fuzzing does to its own account (its password, its sessions) reaches no other part's operations.
PARTS = {
    "accounts and administration": r"^/(admin|auth|audit)",
    "cases and their actions, reports": r"^/cases(/\{case_no\}(/actions)?)?$|^/reports",
    "intake, owners, files, campaigns, properties, fees, deposits and the rest":
        r"^/(campaigns|properties|fee-schedule|contractors)"
        r"|^/(complaints|repairs|owners|files|codec|health|org|me)(/|$)|^/cases/\{case_no\}/files",
}


# Each part on a Temporal dev server and a read model of its own: on the session's, the cases other tests
# left behind belong to task queues whose workers have stopped, so the fuzzing's reads and actions on them
# were (rightly) answered 503, and what it reached depended on which tests ran before it on the same worker.
@pytest_asyncio.fixture
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    async with own_dev_server() as env:
        yield env


@pytest.fixture
def e2e_database(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}"


def test_the_parts_cover_every_operation(tmp_path):
    import re

    from adapters.config import Settings
    from api.app import create_app
    settings = Settings(files_dir=str(tmp_path / "files"), **codec.CODEC)
    paths = create_app(settings, temporal=None, sessionmaker=None).openapi()["paths"]
    parts_of = {path: [part for part, pattern in PARTS.items() if re.search(pattern, path)] for path in paths}
    left_out = [path for path, parts in parts_of.items() if not parts]
    assert not left_out, f"operations no schemathesis part covers: {left_out}"
    twice = {path: parts for path, parts in parts_of.items() if len(parts) > 1}
    assert not twice, f"operations more than one part tests (the time twice): {twice}"


@pytest.mark.asyncio
@pytest.mark.parametrize("part", list(PARTS))
async def test_schemathesis_finds_no_failure(part, dev_env, settings, sessionmaker, worker_process, tmp_path, capsys):
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_SMTP_PORT": str(settings.smtp_port),
           "AFTERSALES_FILES_DIR": settings.files_dir, **codec.ENV,
           "AFTERSALES_ACTOR_ASSERTION_KEY": settings.actor_assertion_key}  # the worker's (P4)
    with APIServer(env, tmp_path / "api.log") as server:
        await server.wait_healthy()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            r = await client.post("/auth/token", data={"username": "cs_manager", "password": settings.demo_password})
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
        st = Path(sys.executable).with_name("st")
        run = subprocess.run(
            [str(st), "--config-file", str(CONFIG), "run", f"{server.url}/openapi.json", "-H", f"Authorization: Bearer {token}",
             "--include-path-regex", PARTS[part], "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--request-timeout", "60",
             "--phases", "examples,coverage,fuzzing", "--no-color",
             "--exclude-path", "/auth/logout"],  # P6: it would sign the fuzzing's own token out
            capture_output=True, text=True, timeout=900, cwd=tmp_path)
    output = run.stdout + run.stderr
    await restore_demo_accounts(sessionmaker, settings)
    with capsys.disabled():
        print("\n" + "\n".join(line for line in output.splitlines() if " (in " in line or "generated" in line))
    assert run.returncode == 0, output[-20000:]


async def restore_demo_accounts(sessionmaker, settings) -> None:
    """The fuzzing signs in as cs_manager, who may no longer administer accounts (P6: admin does); whatever
    reached the demo accounts is undone all the same, so the tests after it sign in as before."""
    from adapters.db.staff import DEMO_ACCOUNTS, change_staff
    async with sessionmaker() as session:
        for username, role, department, contractor_id in DEMO_ACCOUNTS:
            await change_staff(session, username, by="test:restore", role=role, department=department,
                               contractor_id=contractor_id, password=settings.demo_password, active=True,
                               rounds=settings.bcrypt_rounds)
