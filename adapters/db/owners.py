"""The owner's own channel in the read model (O1, O2, O5): who is an owner (a phone registered for a unit, or
given at a case's intake — both kept only as keyed hashes), sign-in codes (hashed, counted), owner sessions
(revocable), one-purpose links, the opt-out, and what an owner may see. The decisions are the rules'
(aftersales.owners); this module keeps the counts and times."""

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.models import (
    CampaignHousehold, CampaignRow, CampaignVisit, Case, CaseDeadline, OwnerCode, OwnerLink, OwnerPreference, OwnerSession, PropertyUnit, TimelineEntry,
)
from adapters.db.register import utc
from aftersales.owners import CODE_TRIES, CODE_VALID, LinkPurpose, code_usable, link_usable
from aftersales.privacy import phone_lookup_hash


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ---- who is an owner --------------------------------------------------------------------------------
async def is_owner(session: AsyncSession, phone_hmac: str) -> bool:
    """O1: a phone registered for a unit, or given at a case's intake."""
    unit = await session.scalar(select(PropertyUnit.id).where(PropertyUnit.owner_phone_hmac == phone_hmac).limit(1))
    if unit is not None:
        return True
    return await session.scalar(select(Case.case_no).where(Case.customer_phone_hmac == phone_hmac).limit(1)) is not None


async def owner_units(session: AsyncSession, phone_hmac: str) -> list[PropertyUnit]:
    return list(await session.scalars(select(PropertyUnit).where(PropertyUnit.owner_phone_hmac == phone_hmac)
                                      .order_by(PropertyUnit.project, PropertyUnit.building, PropertyUnit.unit)))


def _owner_clause(phone_hmac: str, unit_ids: list[int]):
    return or_(Case.customer_phone_hmac == phone_hmac, Case.unit_id.in_(unit_ids)) if unit_ids \
        else Case.customer_phone_hmac == phone_hmac


async def owner_cases(session: AsyncSession, phone_hmac: str) -> list[Case]:
    """O2: the cases of the owner's phone and of their units, newest first."""
    unit_ids = [u.id for u in await owner_units(session, phone_hmac)]
    return list(await session.scalars(select(Case).where(_owner_clause(phone_hmac, unit_ids))
                                      .order_by(Case.received_at.desc(), Case.case_no.desc()).limit(200)))


async def owner_case(session: AsyncSession, phone_hmac: str, case_no: str) -> Case | None:
    """The case if it is the owner's (their phone or one of their units), else None (the page answers 404)."""
    case = await session.get(Case, case_no)
    if case is None:
        return None
    if case.customer_phone_hmac == phone_hmac:
        return case
    if case.unit_id is not None and await session.scalar(select(PropertyUnit.id).where(
            PropertyUnit.id == case.unit_id, PropertyUnit.owner_phone_hmac == phone_hmac)) is not None:
        return case
    return None


async def open_surveys(session: AsyncSession, phone_hmac: str) -> list[tuple[CampaignRow, PropertyUnit]]:
    """V3, O3: the running campaigns whose plan holds one of the owner's units not yet visited: the surveys the
    owner may answer themselves."""
    units = {u.id: u for u in await owner_units(session, phone_hmac)}
    if not units:
        return []
    H, V = CampaignHousehold, CampaignVisit
    visited = select(V.unit_id).where(V.campaign_id == H.campaign_id)
    rows = await session.execute(select(CampaignRow, H.unit_id).join(H, H.campaign_id == CampaignRow.campaign_id)
                                 .where(CampaignRow.status == "running", H.unit_id.in_(list(units)),
                                        H.unit_id.not_in(visited))
                                 .order_by(CampaignRow.ends_on, CampaignRow.campaign_id))
    return [(campaign, units[unit_id]) for campaign, unit_id in rows]


async def owner_unit(session: AsyncSession, phone_hmac: str, unit_id: int) -> PropertyUnit | None:
    unit = await session.get(PropertyUnit, unit_id)
    return unit if unit is not None and unit.owner_phone_hmac == phone_hmac else None


async def timeline(session: AsyncSession, case_no: str) -> list[TimelineEntry]:
    return list(await session.scalars(select(TimelineEntry).where(TimelineEntry.case_no == case_no)
                                      .order_by(TimelineEntry.idx)))


async def open_deadlines(session: AsyncSession, case_no: str) -> dict[str, datetime]:
    rows = await session.execute(select(CaseDeadline.key, CaseDeadline.due_at).where(
        CaseDeadline.case_no == case_no, CaseDeadline.met_at.is_(None), CaseDeadline.waived.is_(False)))
    return {key: utc(due) for key, due in rows}


async def backfill_unit_hashes(session: AsyncSession, unseal, key: str) -> int:
    """Units imported before owners signed in have their phone sealed only: give them the keyed hash (O1)."""
    rows = list(await session.scalars(select(PropertyUnit).where(
        PropertyUnit.owner_phone_hmac.is_(None), PropertyUnit.owner_phone_sealed.is_not(None)).limit(10_000)))
    for row in rows:
        row.owner_phone_hmac = phone_lookup_hash(unseal(row.owner_phone_sealed), key)
    if rows:
        await session.commit()
    return len(rows)


# ---- O1: codes ----------------------------------------------------------------------------------------
def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(phone_hmac: str, code: str, key: str) -> str:
    """A code is kept as an HMAC keyed by the server's secret over the number's hash and the code: the table
    alone tells nothing (a million codes per number cannot be tried without the key)."""
    return hmac.new(key.encode(), f"owner-code:{phone_hmac}:{code}".encode(), hashlib.sha256).hexdigest()


async def codes_asked(session: AsyncSession, phone_hmac: str, since: datetime) -> list[datetime]:
    return [utc(at) for at in await session.scalars(select(OwnerCode.created_at).where(
        OwnerCode.phone_hmac == phone_hmac, OwnerCode.created_at >= since))]


async def add_code(session: AsyncSession, phone_hmac: str, hashed: str, now: datetime) -> None:
    """The new code replaces any earlier one of the number (only the latest may be used)."""
    await session.execute(update(OwnerCode).where(OwnerCode.phone_hmac == phone_hmac, OwnerCode.used_at.is_(None))
                          .values(used_at=now))
    session.add(OwnerCode(phone_hmac=phone_hmac, code_hash=hashed, created_at=now, tries=0))
    await session.commit()


async def check_code(session: AsyncSession, phone_hmac: str, code: str, key: str, now: datetime) -> bool:
    """O1: the number's latest code, if still usable (5 minutes, 5 tries, once), compared in constant time;
    each wrong try counts, the right one spends the code. Commits."""
    row = await session.scalar(select(OwnerCode).where(
        OwnerCode.phone_hmac == phone_hmac, OwnerCode.created_at >= now - CODE_VALID)
        .order_by(OwnerCode.created_at.desc(), OwnerCode.id.desc()).limit(1).with_for_update())
    given = code_hash(phone_hmac, code, key)
    if row is None or not code_usable(utc(row.created_at), row.tries, row.used_at is not None, now):
        hmac.compare_digest(given, given)  # the same work as a check
        return False
    if hmac.compare_digest(row.code_hash, given):
        row.used_at = now
        await session.commit()
        return True
    row.tries += 1
    if row.tries >= CODE_TRIES:
        row.used_at = now
    await session.commit()
    return False


# ---- O1: sessions ----------------------------------------------------------------------------------
def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(session: AsyncSession, phone_hmac: str, *, means: str, now: datetime, ttl: timedelta,
                       case_no: str | None = None, purpose: str | None = None) -> str:
    """A new owner session: the token for the cookie (only its hash is kept). Commits."""
    token = secrets.token_urlsafe(32)
    session.add(OwnerSession(id=_session_id(token), phone_hmac=phone_hmac, means=means, case_no=case_no,
                             purpose=purpose, created_at=now, expires_at=now + ttl))
    await session.commit()
    return token


async def session_of(session: AsyncSession, token: str, now: datetime) -> OwnerSession | None:
    if not token or len(token) > 128:
        return None
    row = await session.get(OwnerSession, _session_id(token))
    if row is None or row.revoked_at is not None or utc(row.expires_at) <= now:
        return None
    return row


async def revoke_session(session: AsyncSession, token: str, now: datetime) -> None:
    await session.execute(update(OwnerSession).where(OwnerSession.id == _session_id(token)).values(revoked_at=now))
    await session.commit()


async def revoke_sessions_of(session: AsyncSession, phone_hmac: str, now: datetime) -> int:
    """Every session of a number ends at once (a phone lost, a number given up)."""
    result = await session.execute(update(OwnerSession).where(
        OwnerSession.phone_hmac == phone_hmac, OwnerSession.revoked_at.is_(None)).values(revoked_at=now))
    await session.commit()
    return result.rowcount or 0


# ---- O1: links --------------------------------------------------------------------------------------
def _link_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"aftersales-owner-link", hashlib.sha256).digest()


def _signature(link_id: str, secret: str) -> str:
    digest = hmac.new(_link_key(secret), link_id.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_token(link_id: str, secret: str) -> str:
    """The URL's opaque token: the link's id and a signature of it (a guessed id without the secret is refused
    before any database read)."""
    return f"{link_id}.{_signature(link_id, secret)}"


async def create_link(session: AsyncSession, *, case_no: str, purpose: LinkPurpose, phone_hmac: str,
                      now: datetime, secret: str) -> str:
    """A link for one case and one purpose, to be sent by SMS (not committed: the caller's transaction)."""
    link_id = secrets.token_urlsafe(12)
    session.add(OwnerLink(id=link_id, case_no=case_no, purpose=purpose.value, phone_hmac=phone_hmac,
                          created_at=now))
    return link_token(link_id, secret)


async def use_link(session: AsyncSession, token: str, secret: str, now: datetime) -> OwnerLink | None:
    """O1: the link if its signature holds and it is unused and within 7 days; it is spent. Commits."""
    link_id, _, signature = (token or "").partition(".")
    if not link_id or len(token) > 96 or not hmac.compare_digest(signature, _signature(link_id, secret)):
        return None
    row = await session.scalar(select(OwnerLink).where(OwnerLink.id == link_id).with_for_update())
    if row is None or not link_usable(utc(row.created_at), row.used_at is not None, now):
        return None
    row.used_at = now
    await session.commit()
    return row


# ---- O5: the opt-out --------------------------------------------------------------------------------
async def opted_out(session: AsyncSession, phone_hmac: str) -> bool:
    row = await session.get(OwnerPreference, phone_hmac)
    return bool(row and row.sms_opt_out)


async def set_opt_out(session: AsyncSession, phone_hmac: str, value: bool, now: datetime) -> None:
    row = await session.get(OwnerPreference, phone_hmac)
    if row is None:
        session.add(OwnerPreference(phone_hmac=phone_hmac, sms_opt_out=value, updated_at=now))
    else:
        row.sms_opt_out, row.updated_at = value, now
    await session.commit()
