"""Unified case numbers (C1: 统一编号, unique, never reused) and Idempotency-Key bookkeeping.

A number is taken from a per-prefix, per-year counter in the same transaction that records the
idempotency key, so a retried request finds its case instead of taking a second number. The same
key → request-fingerprint record makes a retried action (`POST /cases/{no}/actions`) recognisable,
and a key reused for a different body a 422 (`IdempotencyConflict`)."""

import hashlib
import json
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.db.models import CaseCounter, IdempotencyKey


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


def _insert(session: AsyncSession):
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


async def next_case_no(session: AsyncSession, prefix: str, year: int) -> str:
    stmt = _insert(session)(CaseCounter).values(prefix=prefix, year=year, last_value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[CaseCounter.prefix, CaseCounter.year],
        set_={"last_value": CaseCounter.last_value + 1},
    ).returning(CaseCounter.last_value)
    n = (await session.execute(stmt)).scalar_one()
    return format_case_no(prefix, year, n)


async def claim_case_no(session: AsyncSession, *, scope: str, prefix: str, year: int,
                        idempotency_key: str | None, fingerprint: str, now: datetime) -> tuple[str, bool]:
    """Returns (case_no, is_new). With a key seen before: that case (IdempotencyConflict if the
    body differs). Commits."""
    if idempotency_key:
        found = await _find(session, scope, idempotency_key)
        if found is not None:
            return _same_request(found, fingerprint), False
    case_no = await next_case_no(session, prefix, year)
    if idempotency_key:
        session.add(IdempotencyKey(scope=scope, key=idempotency_key, request_hash=fingerprint,
                                   case_no=case_no, created_at=now))
    try:
        await session.commit()
    except IntegrityError:  # the same key raced us: use the winner's case
        await session.rollback()
        found = await _find(session, scope, idempotency_key or "")
        if found is None:
            raise
        return _same_request(found, fingerprint), False
    return case_no, True


async def remember_request(session: AsyncSession, *, scope: str, key: str, fingerprint: str, case_no: str,
                           now: datetime) -> bool:
    """Records that `key` (in `scope`) stands for the request with this fingerprint on this case.
    True the first time, False for a repeat of the same request (concurrent repeats included);
    IdempotencyConflict if the key already stands for a different request. Commits."""
    found = await _find(session, scope, key)
    if found is None:
        session.add(IdempotencyKey(scope=scope, key=key, request_hash=fingerprint, case_no=case_no, created_at=now))
        try:
            await session.commit()
            return True
        except IntegrityError:  # a concurrent repeat recorded it first
            await session.rollback()
            found = await _find(session, scope, key)
            if found is None:
                raise
    if found.request_hash != fingerprint or found.case_no != case_no:
        raise IdempotencyConflict(f"Idempotency-Key was already used for a different request (case {found.case_no})")
    return False


async def forget_request(session: AsyncSession, *, scope: str, key: str, fingerprint: str) -> None:
    """Frees a key whose request was refused (nothing was applied), so it may be used for a corrected body."""
    await session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.request_hash == fingerprint))
    await session.commit()


async def _find(session: AsyncSession, scope: str, key: str) -> IdempotencyKey | None:
    return await session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))


def _same_request(found: IdempotencyKey, fingerprint: str) -> str:
    if found.request_hash != fingerprint:
        raise IdempotencyConflict(f"Idempotency-Key was already used for a different request (case {found.case_no})")
    return found.case_no
