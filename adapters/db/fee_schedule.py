"""The fee schedule (有偿服务收费标准, R3) in the read model: every change is a new version; earlier
versions stay, so a quote keeps the prices it was made with."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.ledger import to_fen, to_yuan
from adapters.db.models import FeeScheduleItem, FeeScheduleVersion
from aftersales.fees import FeeItem, FeeSchedule


async def load(session: AsyncSession, version: int | None = None) -> tuple[FeeSchedule, FeeScheduleVersion] | None:
    """One version of the schedule (the current one by default), or None when there is none."""
    if version is None:
        version = await session.scalar(select(func.max(FeeScheduleVersion.version)))
        if version is None:
            return None
    head = await session.get(FeeScheduleVersion, version)
    if head is None:
        return None
    rows = (await session.scalars(select(FeeScheduleItem).where(FeeScheduleItem.version == version)
                                  .order_by(FeeScheduleItem.position))).all()
    items = [FeeItem(code=r.code, name=r.name, unit=r.unit, unit_price=to_yuan(r.unit_price_fen)) for r in rows]
    return FeeSchedule(version=version, items=items), head


async def publish(session: AsyncSession, items: list[FeeItem], *, by: str, note: str | None,
                  at: datetime) -> tuple[FeeSchedule, bool]:
    """Makes `items` the current schedule as a new version. The same items as the current version
    change nothing (a retried request never acts twice): returns (schedule, created)."""
    for _ in range(3):
        current = await load(session)
        if current is not None and current[0].items == items:
            return current[0], False
        version = (current[0].version + 1) if current else 1
        session.add(FeeScheduleVersion(version=version, created_by=by, created_at=at, note=note))
        session.add_all(FeeScheduleItem(version=version, position=i, code=item.code, name=item.name, unit=item.unit,
                                        unit_price_fen=to_fen(item.unit_price)) for i, item in enumerate(items))
        try:
            await session.commit()
            return FeeSchedule(version=version, items=items), True
        except IntegrityError:  # another administrator published the same version number first
            await session.rollback()
    raise RuntimeError("the fee schedule is being changed concurrently; try again")
