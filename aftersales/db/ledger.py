"""The contractors' quality-deposit ledger (A3) and the workers' quarterly scores (R9).

Every write is keyed so that doing it twice changes nothing: a deduction by `entry_key`, a score by
(case_no, worker). Amounts are stored in fen and shown in yuan with two decimals."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.db.models import Contractor, DepositEntry, WorkerScore


def to_fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


def to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def quarter_of(at: datetime, tz: str = "Asia/Shanghai") -> str:
    local = at.astimezone(ZoneInfo(tz))
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def _insert(session: AsyncSession):
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


async def put_contractor(session: AsyncSession, contractor_id: str, name: str, deposit: Decimal) -> None:
    stmt = _insert(session)(Contractor).values(id=contractor_id, name=name, deposit_initial_fen=to_fen(deposit))
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[Contractor.id], set_={"name": name, "deposit_initial_fen": to_fen(deposit)}))
    await session.commit()


async def add_contractor_if_missing(session: AsyncSession, contractor_id: str, name: str, deposit: Decimal) -> bool:
    """Registers a contractor unless it is registered already (then nothing changes). True when added."""
    result = await session.execute(_insert(session)(Contractor).values(
        id=contractor_id, name=name, deposit_initial_fen=to_fen(deposit)).on_conflict_do_nothing())
    await session.commit()
    return bool(result.rowcount)


async def deduct_once(session: AsyncSession, *, entry_key: str, contractor_id: str, case_no: str,
                      amount: Decimal, note: str, at: datetime) -> bool:
    """A3: deducts `amount` from the contractor's deposit unless `entry_key` was already booked.
    Returns True when this call booked it. Commits."""
    insert = _insert(session)
    await session.execute(insert(Contractor).values(id=contractor_id, name=contractor_id, deposit_initial_fen=0)
                          .on_conflict_do_nothing())
    result = await session.execute(
        insert(DepositEntry).values(contractor_id=contractor_id, entry_key=entry_key, case_no=case_no,
                                    amount_fen=-to_fen(amount), note=note, at=at)
        .on_conflict_do_nothing(index_elements=[DepositEntry.entry_key]))
    await session.commit()
    return result.rowcount == 1


async def deposit_statement(session: AsyncSession, contractor_id: str) -> dict | None:
    contractor = await session.get(Contractor, contractor_id)
    if contractor is None:
        return None
    entries = (await session.scalars(select(DepositEntry).where(DepositEntry.contractor_id == contractor_id)
                                     .order_by(DepositEntry.id))).all()
    balance = contractor.deposit_initial_fen + sum(e.amount_fen for e in entries)
    return {
        "contractor_id": contractor.id, "name": contractor.name,
        "initial_deposit": to_yuan(contractor.deposit_initial_fen), "balance": to_yuan(balance),
        "entries": [{"at": e.at, "case_no": e.case_no, "amount": to_yuan(e.amount_fen), "note": e.note}
                    for e in entries],
    }


async def record_scores(session: AsyncSession, *, case_no: str, workers: list[str], quality: int, attitude: int,
                        at: datetime, tz: str) -> None:
    """R9: one row per worker and case; a repeated call overwrites the same row (idempotent)."""
    insert = _insert(session)
    for worker in workers:
        stmt = insert(WorkerScore).values(case_no=case_no, worker=worker, quarter=quarter_of(at, tz),
                                          quality=quality, attitude=attitude, at=at)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=[WorkerScore.case_no, WorkerScore.worker],
            set_={"quality": quality, "attitude": attitude, "quarter": stmt.excluded.quarter, "at": at}))
    await session.commit()


async def worker_report(session: AsyncSession, quarter: str) -> list[dict]:
    """R9: each worker's quality and attitude summed over the quarter, for the service bonus."""
    rows = (await session.execute(
        select(WorkerScore.worker, func.count(), func.sum(WorkerScore.quality), func.sum(WorkerScore.attitude))
        .where(WorkerScore.quarter == quarter).group_by(WorkerScore.worker).order_by(WorkerScore.worker))).all()
    return [{"worker": w, "repairs": n, "quality_total": q, "attitude_total": a,
             "quality_average": round(q / n, 2), "attitude_average": round(a / n, 2)} for w, n, q, a in rows]
