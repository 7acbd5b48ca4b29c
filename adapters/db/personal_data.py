"""P3: the record of each showing of an owner's full phone number (who, when, which case, which
endpoint), and how cs_manager reads it (GET /audit/personal-data)."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.actor import Actor
from adapters.db.models import PersonalDataAccess


async def record_full_phone_shown(session: AsyncSession, actor: Actor, case_no: str, endpoint: str) -> None:
    """Commits one access record."""
    await record_shown(session, actor.username, actor.role.value, case_no, endpoint)


async def record_shown(session: AsyncSession, username: str, role: str, case_no: str, endpoint: str) -> None:
    """Commits one access record of whoever it was: a staff account, or an owner by their opaque id (P3)."""
    session.add(PersonalDataAccess(at=datetime.now(timezone.utc), username=username, role=role, case_no=case_no,
                                   endpoint=endpoint))
    await session.commit()


PHONE_LOOKUP = "POST /owners/cases"  # the endpoint recorded for a look-up of cases by phone (API and workbench)


async def record_phone_lookup(session: AsyncSession, actor: Actor, masked_phone: str, *, limit: int,
                              window_seconds: int) -> float | None:
    """P3: a look-up of cases by phone, recorded (who, when, the number masked) and counted: None when it
    may go ahead (recorded and committed), else the seconds until this account may look up again (nothing
    recorded). Counted from the records themselves, so the limit holds across API processes."""
    now = datetime.now(timezone.utc)
    since = now - timedelta(seconds=window_seconds)
    mine = (PersonalDataAccess.username == actor.username, PersonalDataAccess.endpoint == PHONE_LOOKUP,
            PersonalDataAccess.at > since)
    count, oldest = (await session.execute(
        select(func.count(), func.min(PersonalDataAccess.at)).where(*mine))).one()
    if count >= limit:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
        return max(1.0, (oldest + timedelta(seconds=window_seconds) - now).total_seconds())
    session.add(PersonalDataAccess(at=now, username=actor.username, role=actor.role.value, case_no=masked_phone,
                                   endpoint=PHONE_LOOKUP))
    await session.commit()
    return None


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
