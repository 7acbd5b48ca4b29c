"""Unified case numbers (C1: 统一编号, unique, never reused) and Idempotency-Key bookkeeping.

A number is taken from a per-prefix, per-year counter in the same transaction that records the
idempotency key, so a retried request finds its case instead of taking a second number."""

import hashlib
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.db.models import CaseCounter, IdempotencyKey


class IdempotencyConflict(Exception):
    """The key was already used for a different request body."""


def request_fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def format_case_no(prefix: str, year: int, n: int) -> str:
    return f"{prefix}-{year}-{n:06d}"


async def next_case_no(session: AsyncSession, prefix: str, year: int) -> str:
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(CaseCounter).values(prefix=prefix, year=year, last_value=1)
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


async def _find(session: AsyncSession, scope: str, key: str) -> IdempotencyKey | None:
    return await session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))


def _same_request(found: IdempotencyKey, fingerprint: str) -> str:
    if found.request_hash != fingerprint:
        raise IdempotencyConflict(f"Idempotency-Key was already used for a different request (case {found.case_no})")
    return found.case_no
