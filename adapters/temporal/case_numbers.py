"""Case numbers against Temporal (C1): a number never attaches to another case, and a
number claimed but never started is marked void in the register within a minute.

- `temporal_holds`: whether Temporal holds a workflow (any state) under a number.
- `skip_taken`: the register handed out a number Temporal already holds (a fresh read model over a
  live namespace, or the two restored from backups of different times): the number is recorded as
  taken and the counter moved past the highest number Temporal holds.
- `sweep_numbers`: the worker's background sweep (every `case_number_sweep_seconds`): numbers
  claimed more than `case_number_void_after_seconds` ago are settled as started or void.
"""

import asyncio
from datetime import datetime, timedelta, timezone

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.config import Settings
from adapters.db.numbering import highest_held, mark_taken, sweep_claimed

log = structlog.get_logger()


async def temporal_holds(client: Client, case_no: str, timeout: float = 5.0) -> bool | None:
    """True / False; None when Temporal cannot tell now (unreachable, busy)."""
    try:
        await asyncio.wait_for(client.get_workflow_handle(case_no).describe(
            rpc_timeout=timedelta(seconds=timeout)), timeout + 1)
        return True
    except RPCError as e:
        return False if e.status == RPCStatusCode.NOT_FOUND else None
    except asyncio.TimeoutError:
        return None


async def skip_taken(session: AsyncSession, client: Client, case_no: str, *, prefix: str, year: int) -> int:
    """Records `case_no` as taken and moves the counter past Temporal's highest number; returns it."""
    async def holds(no: str) -> bool:
        held = await temporal_holds(client, no)
        if held is None:
            raise RuntimeError(f"Temporal cannot tell now whether it holds {no}")
        return held

    highest = await highest_held(holds, prefix, year, int(case_no.rsplit("-", 1)[1]))
    await mark_taken(session, case_no, prefix=prefix, year=year, highest=highest, now=datetime.now(timezone.utc))
    log.warning("case number already held in Temporal: skipped", case_no=case_no, highest_held=highest)
    return highest


async def sweep_numbers(client: Client, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
                        ) -> dict[str, int]:
    async with sessionmaker() as session:
        counts = await sweep_claimed(session, now=datetime.now(timezone.utc),
                                     older_than=timedelta(seconds=settings.case_number_void_after_seconds),
                                     holds=lambda no: temporal_holds(client, no))
    if counts["void"]:
        log.warning("case numbers claimed but never started: marked void", **counts)
    return counts


async def sweep_forever(client: Client, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """The worker's background sweep; a failed round is logged and the next one tries again."""
    while True:
        try:
            await sweep_numbers(client, sessionmaker, settings)
        except Exception as e:  # noqa: BLE001 — the database or Temporal away for a moment
            log.warning("case number sweep failed; trying again", error=repr(e))
        await asyncio.sleep(settings.case_number_sweep_seconds)
