"""P3: the record of each showing of an owner's full phone number (who, when, which case, which
endpoint), and how cs_manager reads it (GET /audit/personal-data)."""

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.actor import Actor
from adapters.db.models import PersonalDataAccess


async def record_full_phone_shown(session: AsyncSession, actor: Actor, case_no: str, endpoint: str) -> None:
    """Commits one access record."""
    session.add(PersonalDataAccess(at=datetime.now(timezone.utc), username=actor.username, role=actor.role.value,
                                   case_no=case_no, endpoint=endpoint))
    await session.commit()


async def accesses(session: AsyncSession, *, case_no: str | None = None, username: str | None = None,
                   since: datetime | None = None, limit: int = 100, offset: int = 0) -> list[PersonalDataAccess]:
    """Access records, newest first, filtered by case, user and time."""
    q = select(PersonalDataAccess)
    if case_no:
        q = q.where(PersonalDataAccess.case_no == case_no)
    if username:
        q = q.where(PersonalDataAccess.username == username)
    if since is not None:
        q = q.where(PersonalDataAccess.at >= since.astimezone(timezone.utc))
    q = q.order_by(PersonalDataAccess.at.desc(), PersonalDataAccess.id.desc()).offset(offset).limit(limit)
    return list((await session.execute(q)).scalars())
