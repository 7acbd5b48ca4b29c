"""Unified case numbers (C1: 统一编号, unique, never reused) and Idempotency-Key bookkeeping.

A number is taken from a per-prefix, per-year counter in the same transaction that records the
idempotency key, so a retried request finds its case instead of taking a second number. The same
key → request-fingerprint record makes a retried action (`POST /cases/{no}/actions`) recognisable,
and a key reused for a different body a 422 (`IdempotencyConflict`)."""

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from functools import cache
from types import SimpleNamespace

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.models import Case, CaseCounter, CaseNumber, IdempotencyKey

CLAIMED, STARTED, VOID, TAKEN = "claimed", "started", "void", "taken"
VOID_REASON = "编号已发出，但受理在 Temporal 创建案件之前中断（如 API 进程退出），该编号没有案件，作废，不再使用"
TAKEN_REASON = ("Temporal 中已有使用该编号的案件，但登记簿没有它的记录（如两个数据库从不同时间的备份恢复）；"
                "新案件改用其后的编号")


class IdempotencyConflict(Exception):
    """The key was already used for a different request body."""


def request_fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def scoped_key(*parts: str) -> str:
    """One fixed-length key (64 hex characters, fits the column) for a key that only means something
    within a scope, e.g. (case, user, Idempotency-Key) for an action."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def format_case_no(prefix: str, year: int, n: int) -> str:
    return f"{prefix}-{year}-{n:06d}"


@cache
def _statements(dialect: str) -> SimpleNamespace:
    """The statements of an intake's numbering, built once per dialect and executed with parameters
    (building them was a third of the API's CPU in `claim_case_no`, with the ORM's flush of two
    entities): Core statements on the tables, nothing kept in the session."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    counters, numbers, keys = CaseCounter.__table__, CaseNumber.__table__, IdempotencyKey.__table__
    counter = insert(counters).values(prefix=bindparam("prefix"), year=bindparam("year"), last_value=1)
    counter = counter.on_conflict_do_update(index_elements=[counters.c.prefix, counters.c.year],
                                            set_={"last_value": counters.c.last_value + 1}
                                            ).returning(counters.c.last_value)
    return SimpleNamespace(
        counter=counter,
        number=numbers.insert(),
        key=keys.insert(),
        find=select(keys.c.key, keys.c.request_hash, keys.c.case_no).where(
            keys.c.scope == bindparam("scope"), keys.c.key == bindparam("key")),
        repoint=update(keys).where(keys.c.scope == bindparam("b_scope"), keys.c.key == bindparam("b_key"),
                                   keys.c.case_no == bindparam("b_case_no")).values(case_no=bindparam("new_case_no")),
    )


def _sql(session: AsyncSession) -> SimpleNamespace:
    return _statements(session.bind.dialect.name)


async def next_case_no(session: AsyncSession, prefix: str, year: int) -> str:
    n = (await session.execute(_sql(session).counter, {"prefix": prefix, "year": year})).scalar_one()
    return format_case_no(prefix, year, n)


async def claim_case_no(session: AsyncSession, *, scope: str, prefix: str, year: int,
                        idempotency_key: str | None, fingerprint: str, now: datetime) -> tuple[str, bool]:
    """Returns (case_no, is_new). With a key seen before: that case (IdempotencyConflict if the
    body differs), unless its number was void or taken meanwhile: then a new number, and the key
    follows it. Every new number is recorded as `claimed`. Commits."""
    sql = _sql(session)
    found = None
    if idempotency_key:
        found = await _find(session, scope, idempotency_key)
        if found is not None:
            case_no = _same_request(found, fingerprint)
            if await _still_ours(session, case_no, now):
                return case_no, False
    case_no = await next_case_no(session, prefix, year)
    await session.execute(sql.number, {"case_no": case_no, "scope": scope, "state": CLAIMED, "claimed_at": now,
                                       "settled_at": None, "reason": None})
    if found is not None:  # repoint the key, unless a concurrent retry already did
        moved = await session.execute(sql.repoint, {"b_scope": scope, "b_key": found.key,
                                                    "b_case_no": found.case_no, "new_case_no": case_no})
        if moved.rowcount != 1:
            await session.rollback()
            return await claim_case_no(session, scope=scope, prefix=prefix, year=year,
                                       idempotency_key=idempotency_key, fingerprint=fingerprint, now=now)
    try:
        if found is None and idempotency_key:
            await session.execute(sql.key, {"scope": scope, "key": idempotency_key, "request_hash": fingerprint,
                                            "case_no": case_no, "created_at": now})
        await session.commit()
    except IntegrityError:  # the same key raced us: use the winner's case
        await session.rollback()
        found = await _find(session, scope, idempotency_key or "")
        if found is None:
            raise
        return _same_request(found, fingerprint), False
    return case_no, True


async def _still_ours(session: AsyncSession, case_no: str, now: datetime) -> bool:
    """Whether a retried request may still use its number: not void, not taken. A number still
    `claimed` is claimed afresh, so that the sweep does not void it while this retry starts it."""
    number = await session.get(CaseNumber, case_no, populate_existing=True)
    if number is None or number.state == STARTED:  # numbered before the register kept numbers, or running
        return True
    if number.state == CLAIMED:
        refreshed = await session.execute(update(CaseNumber).where(
            CaseNumber.case_no == case_no, CaseNumber.state == CLAIMED).values(claimed_at=now))
        await session.commit()
        if refreshed.rowcount == 1:
            return True
    return False


async def mark_taken(session: AsyncSession, case_no: str, *, prefix: str, year: int, highest: int,
                     now: datetime) -> None:
    """Temporal already holds a case under `case_no` that this register did not know: record it,
    and move the counter past the highest number Temporal holds, so that none is handed out again."""
    await session.execute(update(CaseNumber).where(CaseNumber.case_no == case_no).values(
        state=TAKEN, settled_at=now, reason=TAKEN_REASON))
    await session.execute(update(CaseCounter).where(
        CaseCounter.prefix == prefix, CaseCounter.year == year, CaseCounter.last_value < highest
    ).values(last_value=highest))
    await session.commit()


async def highest_held(holds: Callable[[str], Awaitable[bool]], prefix: str, year: int, n: int,
                       limit: int = 1 << 20) -> int:
    """The highest number from n on that Temporal holds, n being held: doubling steps until a free one,
    then bisecting (numbers are handed out in order, so the held ones form a run; a gap inside it
    only makes the next claim meet a conflict again and come back here)."""
    held, step = n, 1
    while step <= limit and await holds(format_case_no(prefix, year, n + step)):
        held, step = n + step, step * 2
    free = n + step
    while free - held > 1:
        mid = (held + free) // 2
        if await holds(format_case_no(prefix, year, mid)):
            held = mid
        else:
            free = mid
    return held


async def sweep_claimed(session: AsyncSession, *, now: datetime, older_than: timedelta,
                        holds: Callable[[str], Awaitable[bool | None]], batch: int = 200) -> dict[str, int]:
    """Settles the numbers claimed more than `older_than` ago: `started` when the register or Temporal
    holds their case, `void` with the reason when Temporal does not (the API died between claiming
    and starting). A number whose fate Temporal cannot tell now stays claimed until the next sweep.
    Returns how many went each way. Commits."""
    cutoff = now - older_than
    stale = (CaseNumber.state == CLAIMED) & (CaseNumber.claimed_at < cutoff)
    projected = await session.execute(update(CaseNumber).where(
        stale, CaseNumber.case_no.in_(select(Case.case_no))).values(state=STARTED, settled_at=now))
    counts = {"started": projected.rowcount or 0, "void": 0}
    await session.commit()
    for case_no in (await session.scalars(select(CaseNumber.case_no).where(stale).limit(batch))).all():
        held = await holds(case_no)
        if held is None:
            continue
        state = STARTED if held else VOID
        done = await session.execute(update(CaseNumber).where(CaseNumber.case_no == case_no, stale).values(
            state=state, settled_at=now, reason=None if held else VOID_REASON))
        await session.commit()
        counts[state] += done.rowcount or 0
    return counts


async def case_of_key(session: AsyncSession, scope: str, key: str) -> str | None:
    """The case an idempotency key was used for, if any (a form sent again: its case, whatever else changed)."""
    found = await _find(session, scope, key)
    return found.case_no if found is not None else None


async def _find(session: AsyncSession, scope: str, key: str) -> Row | None:
    """The key's record (key, request_hash, case_no), or None."""
    return (await session.execute(_sql(session).find, {"scope": scope, "key": key})).first()


def _same_request(found: Row, fingerprint: str) -> str:
    if found.request_hash != fingerprint:
        raise IdempotencyConflict(f"Idempotency-Key was already used for a different request (case {found.case_no})")
    return found.case_no
