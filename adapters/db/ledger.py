"""The contractors' quality-deposit ledger (A3) and the workers' evaluations (R9).

A3: a deposit is the sum of its entries — lodged, top-up, adjustment (by an administrator, with who and
why) and deduction (a type-A settlement) — never a balance written over. A deduction takes what is
there and never more: what is missing is recorded as the entry's shortfall. R9: every evaluation is a
row of its own (one per event and worker), never written over.

Every write is keyed so that doing it twice changes nothing: a deposit entry by `entry_key`, an
evaluation by (evaluation_key, worker). Amounts are stored in fen and shown in yuan with two decimals."""

from datetime import datetime, timezone
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.models import Contractor, DepositEntry, WorkerEvaluation
from aftersales.messages import yuan as format_yuan
from aftersales.money import DeductionOutcome
from adapters.db.session import dialect_insert

AdminEntryKind = Literal["top_up", "adjustment"]


class LedgerRefusal(ValueError):
    """A ledger change that cannot be made (the API answers 409 with the message)."""


def to_fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


def to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def quarter_of(at: datetime, tz: str = "Asia/Shanghai") -> str:
    local = at.astimezone(ZoneInfo(tz))
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


# ---- A3: the deposit ledger ------------------------------------------------------------------------
async def _balance_fen(session: AsyncSession, contractor_id: str, *, lock: bool = False) -> int | None:
    """The contractor's balance (None: no such contractor). `lock` holds its row until commit
    (PostgreSQL; SQLite serialises writers), so two changes never both spend the same balance."""
    query = select(Contractor.id).where(Contractor.id == contractor_id)
    if await session.scalar(query.with_for_update() if lock else query) is None:
        return None
    return int(await session.scalar(select(func.coalesce(func.sum(DepositEntry.amount_fen), 0))
                                    .where(DepositEntry.contractor_id == contractor_id)))


async def _entry(session: AsyncSession, entry_key: str) -> DepositEntry | None:
    return await session.scalar(select(DepositEntry).where(DepositEntry.entry_key == entry_key))


async def put_contractor(session: AsyncSession, contractor_id: str, name: str, deposit: Decimal | None, *,
                         by: str, at: datetime) -> None:
    """Registers a contractor with the deposit it lodged (a 'lodged' entry), or renames one. The
    deposit of a registered contractor changes only by an entry (add_entry): a different `deposit`
    for it is refused (LedgerRefusal); the same one (a retried request) changes nothing. Commits."""
    existing = await session.get(Contractor, contractor_id)
    if existing is None:
        session.add(Contractor(id=contractor_id, name=name))
        if deposit:
            session.add(DepositEntry(contractor_id=contractor_id, entry_key=f"{contractor_id}:lodged", kind="lodged",
                                     amount_fen=to_fen(deposit), note="deposit lodged (A3)", recorded_by=by, at=at))
        try:
            await session.commit()
        except IntegrityError:  # registered concurrently: treat as the existing contractor
            await session.rollback()
            return await put_contractor(session, contractor_id, name, deposit, by=by, at=at)
        return
    balance = await _balance_fen(session, contractor_id)
    if deposit is not None and to_fen(deposit) != balance:
        raise LedgerRefusal(
            f"contractor {contractor_id} holds {format_yuan(to_yuan(balance or 0))}: a deposit is changed by an "
            f"entry, not overwritten — POST /admin/contractors/{contractor_id}/deposit/entries with kind top_up or "
            "adjustment, the amount and the reason (A3)")
    existing.name = name
    await session.commit()


async def add_contractor_if_missing(session: AsyncSession, contractor_id: str, name: str, deposit: Decimal, *,
                                    by: str, at: datetime) -> bool:
    """Registers a contractor with the deposit it lodged unless it is registered already (then nothing
    changes). True when added."""
    if await session.get(Contractor, contractor_id) is not None:
        return False
    await put_contractor(session, contractor_id, name, deposit, by=by, at=at)
    return True


async def add_entry(session: AsyncSession, *, contractor_id: str, entry_key: str, kind: AdminEntryKind,
                    amount: Decimal, reason: str, by: str, at: datetime) -> bool:
    """A3: an administrator's change of a deposit — a top-up (> 0) or an adjustment (either sign) —
    with who and why, booked once per entry_key (the same request again returns False; a different
    one under the same key is refused). The balance never goes below zero. Commits."""
    if kind == "top_up" and amount <= 0:
        raise ValueError("a top-up must be more than 0")
    if amount == 0:
        raise ValueError("an adjustment of 0 changes nothing")
    earlier = await _entry(session, entry_key)
    if earlier is not None:
        if (earlier.contractor_id, earlier.kind, earlier.amount_fen, earlier.note) != (
                contractor_id, kind, to_fen(amount), reason):
            raise ValueError("this Idempotency-Key was used for a different deposit entry")
        return False
    balance = await _balance_fen(session, contractor_id, lock=True)
    if balance is None:
        raise LookupError(f"no contractor {contractor_id!r}")
    if balance + to_fen(amount) < 0:
        await session.rollback()
        raise LedgerRefusal(f"the deposit of {contractor_id} holds {format_yuan(to_yuan(balance))}: an adjustment of "
                            f"{format_yuan(amount)} would take it below zero (A3)")
    session.add(DepositEntry(contractor_id=contractor_id, entry_key=entry_key, kind=kind, amount_fen=to_fen(amount),
                             note=reason, recorded_by=by, at=at))
    try:
        await session.commit()
    except IntegrityError:  # the same key booked concurrently: that one stands
        await session.rollback()
        return await add_entry(session, contractor_id=contractor_id, entry_key=entry_key, kind=kind, amount=amount,
                               reason=reason, by=by, at=at)
    return True


def _outcome(entry: DepositEntry, booked_now: bool, balance: int) -> DeductionOutcome:
    deducted = -entry.amount_fen
    return DeductionOutcome(booked_now=booked_now, requested=to_yuan(deducted + entry.shortfall_fen),
                            deducted=to_yuan(deducted), shortfall=to_yuan(entry.shortfall_fen),
                            balance=to_yuan(balance))


async def deduct_once(session: AsyncSession, *, entry_key: str, contractor_id: str, case_no: str,
                      amount: Decimal, note: str, at: datetime) -> DeductionOutcome:
    """A3: deducts `amount` from the contractor's deposit unless `entry_key` was already booked, and
    never more than the deposit holds: the rest is the entry's shortfall. Commits."""
    earlier = await _entry(session, entry_key)
    if earlier is not None:
        return _outcome(earlier, False, await _balance_fen(session, contractor_id) or 0)
    await session.execute(dialect_insert(session)(Contractor).values(id=contractor_id, name=contractor_id)
                          .on_conflict_do_nothing())
    balance = await _balance_fen(session, contractor_id, lock=True) or 0
    deducted = min(to_fen(amount), max(balance, 0))
    entry = DepositEntry(contractor_id=contractor_id, entry_key=entry_key, case_no=case_no, kind="deduction",
                         amount_fen=-deducted, shortfall_fen=to_fen(amount) - deducted, note=note, at=at)
    session.add(entry)
    try:
        await session.commit()
    except IntegrityError:  # booked concurrently under the same key: that one stands
        await session.rollback()
        return await deduct_once(session, entry_key=entry_key, contractor_id=contractor_id, case_no=case_no,
                                 amount=amount, note=note, at=at)
    return _outcome(entry, True, balance - deducted)


async def deposit_statement(session: AsyncSession, contractor_id: str) -> dict | None:
    contractor = await session.get(Contractor, contractor_id)
    if contractor is None:
        return None
    entries = (await session.scalars(select(DepositEntry).where(DepositEntry.contractor_id == contractor_id)
                                     .order_by(DepositEntry.id))).all()
    return {
        "contractor_id": contractor.id, "name": contractor.name,
        "initial_deposit": to_yuan(sum(e.amount_fen for e in entries if e.kind == "lodged")),
        "balance": to_yuan(sum(e.amount_fen for e in entries)),
        "shortfall": to_yuan(sum(e.shortfall_fen for e in entries)),
        # SQLite hands the stored UTC time back without its zone: the API answers ISO times with their offset
        "entries": [{"at": e.at if e.at.tzinfo else e.at.replace(tzinfo=timezone.utc), "kind": e.kind, "case_no": e.case_no, "amount": to_yuan(e.amount_fen),
                     "shortfall": to_yuan(e.shortfall_fen), "by": e.recorded_by, "note": e.note}
                    for e in entries],
    }


# ---- R9: worker evaluations --------------------------------------------------------------------------
async def record_evaluation(session: AsyncSession, *, evaluation_key: str, case_no: str, workers: list[str],
                            source: str, parts: int, quality: int, attitude: int, at: datetime, tz: str) -> None:
    """R9: one row per evaluation and worker, added and never written over (a retry adds nothing)."""
    insert = dialect_insert(session)
    for worker in workers:
        await session.execute(insert(WorkerEvaluation).values(
            evaluation_key=evaluation_key, worker=worker, case_no=case_no, quarter=quarter_of(at, tz), source=source,
            parts=parts, quality=quality, attitude=attitude, at=at,
        ).on_conflict_do_nothing(index_elements=[WorkerEvaluation.evaluation_key, WorkerEvaluation.worker]))
    await session.commit()


async def worker_report(session: AsyncSession, quarter: str, where: tuple = ()) -> list[dict]:
    """R9: each worker's evaluations in the quarter, all of them summed, for the service bonus. The
    averages are per score (1–5): a combined evaluation of the first release counts two scores.
    `where`: conditions on the evaluated case (`Case`), e.g. the reader's visibility (P2)."""
    from adapters.db.models import Case

    E = WorkerEvaluation
    query = select(E.worker, func.count(distinct(E.case_no)), func.count(), func.sum(E.parts), func.sum(E.quality),
                   func.sum(E.attitude))
    if where:
        query = query.join(Case, Case.case_no == E.case_no).where(*where)
    rows = (await session.execute(query.where(E.quarter == quarter).group_by(E.worker).order_by(E.worker))).all()
    return [{"worker": w, "repairs": repairs, "evaluations": n, "quality_total": q, "attitude_total": a,
             "quality_average": round(q / parts, 2), "attitude_average": round(a / parts, 2)}
            for w, repairs, n, parts, q, a in rows]
