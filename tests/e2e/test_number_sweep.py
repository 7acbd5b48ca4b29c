"""No silent gaps in the register (C1): a number claimed but never started is marked void
with the reason by the sweep; one whose case runs is marked started; a retry of a request whose number
was voided gets a new number and its key follows it. Against the dev server, with a register of its own."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from temporalio.common import WorkflowIDReusePolicy

from adapters.temporal.case_numbers import sweep_numbers, temporal_holds
from adapters.config import Settings
from adapters.db.models import CaseNumber, IdempotencyKey
from adapters.db.numbering import (
    CLAIMED, STARTED, VOID, VOID_REASON, claim_case_no, format_case_no, highest_held, request_fingerprint,
)

PREFIX = "ZZ"  # numbers of their own: the session's dev server holds TS- cases of other tests


@pytest.fixture
def settings(tmp_path, smtp_server) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}", bcrypt_rounds=4,
                    smtp_port=smtp_server.port, task_queue=f"e2e-{uuid.uuid4().hex[:10]}")


async def claim(session, key: str | None, at: datetime, body: dict | None = None) -> tuple[str, bool]:
    return await claim_case_no(session, scope="complaint", prefix=PREFIX, year=2026, idempotency_key=key,
                               fingerprint=request_fingerprint(body or {"k": key}), now=at)


@pytest.mark.asyncio
async def test_C1_a_number_claimed_but_never_started_is_marked_void_with_the_reason(dev_env, sessionmaker, settings):
    client = dev_env.client
    now = datetime.now(timezone.utc)
    long_ago = now - timedelta(seconds=settings.case_number_void_after_seconds + 1)
    async with sessionmaker() as session:
        lost, _ = await claim(session, "lost-request", long_ago)      # the API died before starting it
        running, _ = await claim(session, "started-request", long_ago)
        recent, _ = await claim(session, None, now)                    # an intake still under way
    # the started one: a workflow under its number (no worker needed for Temporal to hold it)
    await client.start_workflow("ComplaintWorkflow", id=running, task_queue=f"none-{uuid.uuid4().hex[:8]}",
                                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    assert await temporal_holds(client, running) and await temporal_holds(client, lost) is False

    counts = await sweep_numbers(client, sessionmaker, settings)
    assert counts == {"started": 1, "void": 1}
    async with sessionmaker() as session:
        rows = {no: await session.get(CaseNumber, no) for no in (lost, running, recent)}
        assert rows[lost].state == VOID and rows[lost].reason == VOID_REASON and rows[lost].settled_at
        assert rows[running].state == STARTED and rows[recent].state == CLAIMED

        # the lost request retried with its key: a new number, and the key follows it; the void one stays void
        again, is_new = await claim(session, "lost-request", now)
        assert is_new and again != lost
        key = await session.get(IdempotencyKey, ("complaint", "lost-request"), populate_existing=True)
        assert key.case_no == again
        assert (await session.get(CaseNumber, lost, populate_existing=True)).state == VOID
        # a retry while its number is still claimed keeps it (and claims it afresh against the sweep)
        kept, is_new = await claim(session, "lost-request", now)
        assert (kept, is_new) == (again, False)
    await client.get_workflow_handle(running).terminate()


@pytest.mark.asyncio
async def test_C1_highest_held_finds_the_end_of_the_numbers_temporal_holds() -> None:
    for last in (1, 2, 3, 7, 8, 9, 100, 1025):
        held = set(range(1, last + 1))

        async def holds(case_no: str) -> bool:
            return int(case_no[-6:]) in held

        assert await highest_held(holds, PREFIX, 2026, 1) == last
    assert format_case_no(PREFIX, 2026, 7) == "ZZ-2026-000007"
