"""Whether the register (the read model's cases) is known to be behind Temporal (C1): a rebuild under way or
interrupted, or the register found empty while Temporal holds cases. The API refuses intakes meanwhile
(503 register_behind); `python -m ops.rebuild_register` brings it level and marks it ok."""

from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from adapters.db.models import CaseNumber, RegisterStatus

log = structlog.get_logger("aftersales.rebuild")

OK, BEHIND, REBUILDING = "ok", "behind", "rebuilding"
CASE_TYPES = ("ComplaintWorkflow", "RepairWorkflow")
STATUS_ID = 1


async def register_state(session: AsyncSession) -> RegisterStatus | None:
    return await session.get(RegisterStatus, STATUS_ID, populate_existing=True)


async def set_state(session: AsyncSession, state: str, reason: str | None = None, **values) -> None:
    now = datetime.now(UTC)
    row = await register_state(session)
    if row is None:
        session.add(RegisterStatus(id=STATUS_ID, state=state, reason=reason, updated_at=now, **values))
    else:
        row.state, row.reason, row.updated_at = state, reason, now
        for key, value in values.items():
            setattr(row, key, value)
    await session.commit()


async def temporal_holds_cases(client: Client, task_queue: str) -> bool:
    async for _ in client.list_workflows(cases_query(task_queue), limit=1):
        return True
    return False


def campaigns_query(task_queue: str) -> str:
    """The revisit campaigns (V1–V3) on the task queue: the register keeps them too (C1)."""
    return f"WorkflowType = 'CampaignWorkflow' AND TaskQueue = '{task_queue}'"


def cases_query(task_queue: str) -> str:
    types = " OR ".join(f"WorkflowType = '{t}'" for t in CASE_TYPES)
    return f"({types}) AND TaskQueue = '{task_queue}'"


async def _numbers_handed_out_now(session: AsyncSession) -> bool:
    """The claims read again in a transaction begun after Temporal answered: the request's own may have begun
    before another replica's intake committed its claim and started its case, and would still see none."""
    async with AsyncSession(bind=session.bind) as fresh:
        return await fresh.scalar(select(CaseNumber.case_no).limit(1)) is not None


async def behind_reason(session: AsyncSession, client: Client, task_queue: str) -> str | None:
    """Why the register is known to be behind Temporal now, or None: a rebuild under way or interrupted, or
    marked behind; or (first seen here, then marked) no case at all while Temporal holds cases — the register
    was lost or replaced by an empty one."""
    row = await register_state(session)
    if row is not None and row.state != OK:
        return row.reason or f"the register is {row.state}"
    # "Empty" means no number was ever handed out, not no case row yet: an intake claims its number
    # before it starts the case and writes the row after, so on a fresh install a second intake racing
    # the first would otherwise see the first's case in Temporal without its row, and stop all intakes.
    if row is None and await session.scalar(select(CaseNumber.case_no).limit(1)) is None \
            and await temporal_holds_cases(client, task_queue) \
            and not await _numbers_handed_out_now(session):
        reason = ("登记簿为空，而 Temporal 中已有案件：登记簿已丢失或被替换。请运行 make rebuild-register 从 Temporal 重建"
                  "（the register is empty while Temporal holds cases: run make rebuild-register）")
        await set_state(session, BEHIND, reason)
        log.error("register behind Temporal", reason=reason)
        return reason
    return None
