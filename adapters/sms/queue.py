"""The SMS outbox (O5): every SMS to an owner is a row of `sms_messages`, the number sealed and masked.

- A case's notices are queued from its projection (`enqueue_case_sms`, called by the projection activity once
  the case's new timeline entries are written): case received (number and link), appointment agreed or
  changed, work done (the sign-off link), signed off (the revisit survey link), closed. One SMS per timeline
  entry (dedupe_key = case and entry), so a retried projection queues nothing twice, and no workflow change
  is needed: the entries are the facts the case already records.
- The rules decide each one (aftersales.owners.plan_sms): held past 21:00–08:00, at most 3 per case a day, the
  owner's opt-out of all but sign-off and survey. Those not sent are kept with their reason (opted_out,
  throttled).
- The worker sends what is due (`dispatch_due`, every sms_dispatch_seconds): a temporary failure is tried again
  with backoff for sms_give_up_hours, a permanent one (or one past that time) is recorded undeliverable and
  logged for ops (E3); nothing is dropped silently, and nothing holds a case open.
- A sign-in code (O1) is sent at once (`send_code`), never kept: its row has the code blanked."""

import asyncio
import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.config import Settings
from adapters.db import owners as owner_store
from adapters.db.models import Case, Project, PropertyUnit, SmsMessage
from adapters.db.visibility import visible_cases_clause
from adapters.db.register import utc
from adapters.sms.providers import SmsFailed, SmsProvider, SmsSend
from aftersales.actor import Actor
from aftersales.messages import BEIJING, CASE_TYPE_NAMES
from aftersales.owners import (
    SMS_FOR_ENTRY, SMS_LINK_PURPOSE, LinkPurpose, SmsKind, plan_sms, quiet_until, sms_text,
)
from aftersales.privacy import mask_phone, phone_lookup_hash

log = structlog.get_logger()

MOBILE = re.compile(r"^1[3-9][0-9]{9}$")     # only a mainland mobile gets SMS (a landline given at intake does not)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
COUNTED = ("queued", "held", "sending", "sent")  # what fills a case's day (O5: at most 3)
DUE = ("queued", "held")
STUCK_SENDING = timedelta(minutes=5)            # a send whose worker died: tried again (at least once)
MAX_BACKOFF = timedelta(minutes=10)
CODE_BLANK = "******"


def sms_now(settings: Settings) -> datetime:
    """The SMS clock (O5): the system clock, moved by sms_clock_offset_seconds in drills and tests."""
    return datetime.now(timezone.utc) + timedelta(seconds=settings.sms_clock_offset_seconds)


def is_mobile(phone: str | None) -> bool:
    return bool(phone and MOBILE.match(re.sub(r"\D", "", phone)))


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(0, attempts - 1)), MAX_BACKOFF)


async def _per_day(session: AsyncSession, case_no: str) -> Counter[date]:
    rows = await session.scalars(select(SmsMessage.send_at).where(
        SmsMessage.case_no == case_no, SmsMessage.status.in_(COUNTED), SmsMessage.send_at.is_not(None)))
    return Counter(utc(at).astimezone(BEIJING).date() for at in rows)


async def enqueue_case_sms(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, seal, *,
                           case_no: str, case_type: str, phone: str | None,
                           entries: list[tuple[int, str, str]], now: datetime | None = None) -> list[str]:
    """Queues the SMS the case's new timeline entries raise (`entries`: (index, kind, text)); returns the
    status each got. Idempotent per entry."""
    wanted = [(idx, SmsKind(SMS_FOR_ENTRY[kind]), text) for idx, kind, text in entries if kind in SMS_FOR_ENTRY]
    if not wanted or not is_mobile(phone):
        return []
    phone = re.sub(r"\D", "", phone)
    # O5 plans by the SMS clock; a link's 7 days (O1) run on the system clock, as the owner's tap is checked by it
    linked_at = now or datetime.now(timezone.utc)
    now = now or sms_now(settings)
    phone_hmac = phone_lookup_hash(phone, settings.phone_lookup_key)
    base = settings.public_base_url.rstrip("/")
    statuses = []
    async with sessionmaker() as session:
        opted_out = await owner_store.opted_out(session, phone_hmac)
        for idx, kind, text in wanted:
            key = f"{case_no}:{idx}"
            if await session.scalar(select(SmsMessage.id).where(SmsMessage.dedupe_key == key)) is not None:
                continue
            plan = plan_sms(kind, now, await _per_day(session, case_no), opted_out)
            params = {"case_no": case_no, "case_type": "报修" if case_type == "repair" else CASE_TYPE_NAMES.get(case_type, "")}
            if kind in SMS_LINK_PURPOSE and plan.send_at is not None:
                token = await owner_store.create_link(session, case_no=case_no, purpose=SMS_LINK_PURPOSE[kind],
                                                      phone_hmac=phone_hmac, now=linked_at, secret=settings.jwt_secret)
                params["link"] = f"{base}/o/l/{token}"
            else:
                params["link"] = f"{base}/o/cases/{case_no}"
            if kind in (SmsKind.appointment, SmsKind.proposed, SmsKind.extension) and (times := _TIME.findall(text)):
                params["time"] = times[-1]   # the time agreed or proposed; R8's entry names the old due time, then the new
            session.add(SmsMessage(
                dedupe_key=key, kind=kind.value, case_no=case_no, phone_hmac=phone_hmac, phone_masked=mask_phone(phone),
                phone_sealed=seal(phone), params=params, text=sms_text(kind, params), status=plan.status,
                created_at=now, send_at=plan.send_at.astimezone(timezone.utc) if plan.send_at else None))
            try:
                await session.commit()
            except IntegrityError:   # a concurrent projection of the same entry queued it
                await session.rollback()
                continue
            statuses.append(plan.status)
            log.info("sms queued", case_no=case_no, kind=kind.value, status=plan.status,
                     send_at=plan.send_at.isoformat() if plan.send_at else None)
    return statuses


async def enqueue_campaign_surveys(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, seal, unseal, *,
                                   campaign_id: str, project: str, unit_ids: list[int],
                                   now: datetime | None = None) -> list[str]:
    """V3, O1, O5: each planned household's owner (the register's number, a mobile) gets the campaign's survey by SMS
    with a link for that one survey (a survey: sent even to an owner who stopped notices; held past the quiet hours).
    Idempotent per household (dedupe_key = campaign and unit): a retried plan queues nothing twice."""
    linked_at = now or datetime.now(timezone.utc)
    now = now or sms_now(settings)
    base = settings.public_base_url.rstrip("/")
    statuses = []
    async with sessionmaker() as session:
        units = (await session.execute(select(PropertyUnit.id, PropertyUnit.owner_phone_sealed, PropertyUnit.owner_phone_hmac)
                                       .where(PropertyUnit.id.in_(unit_ids)).order_by(PropertyUnit.id))).all()
        for unit_id, sealed, phone_hmac in units:
            key = f"{campaign_id}:unit:{unit_id}"
            if not sealed or not phone_hmac or await session.scalar(
                    select(SmsMessage.id).where(SmsMessage.dedupe_key == key)) is not None:
                continue
            phone = re.sub(r"\D", "", unseal(sealed))
            if not is_mobile(phone):
                continue
            plan = plan_sms(SmsKind.campaign_survey, now, {}, opted_out=False)  # one a household: no day's cap
            token = await owner_store.create_link(session, case_no=campaign_id, purpose=LinkPurpose.survey,
                                                  phone_hmac=phone_hmac, now=linked_at, secret=settings.jwt_secret)
            params = {"case_no": campaign_id, "project": project, "link": f"{base}/o/l/{token}"}
            session.add(SmsMessage(
                dedupe_key=key, kind=SmsKind.campaign_survey.value, case_no=campaign_id, phone_hmac=phone_hmac,
                phone_masked=mask_phone(phone), phone_sealed=seal(phone), params=params,
                text=sms_text(SmsKind.campaign_survey, params), status=plan.status, created_at=now,
                send_at=plan.send_at.astimezone(timezone.utc) if plan.send_at else None))
            statuses.append(plan.status)
        try:
            await session.commit()       # the plan's households at once (one write transaction, however many)
        except IntegrityError:           # a concurrent attempt of the same plan queued them
            await session.rollback()
            return []
    log.info("campaign survey sms queued", campaign_id=campaign_id, queued=len(statuses))
    return statuses


async def send_code(sessionmaker: async_sessionmaker[AsyncSession], provider: SmsProvider, seal, *,
                    phone: str, phone_hmac: str, code: str, now: datetime | None = None) -> bool:
    """O1: the sign-in code, sent at once (the owner asked for it now: no quiet hours). Its row keeps the code
    blanked. Returns whether the provider took it; a failure is logged (the owner asks again)."""
    now = now or datetime.now(timezone.utc)
    params = {"code": code}
    blank = {"code": CODE_BLANK}
    async with sessionmaker() as session:
        row = SmsMessage(kind=SmsKind.code.value, phone_hmac=phone_hmac, phone_masked=mask_phone(phone),
                         phone_sealed=seal(phone), params=blank, text=sms_text(SmsKind.code, blank), status="sending",
                         created_at=now, send_at=now, attempts=1, provider=provider.name)
        session.add(row)
        await session.commit()
        try:
            row.provider_ref = (await provider.send(SmsSend(phone=phone, kind=SmsKind.code, params=params,
                                                            text=sms_text(SmsKind.code, params), ref=str(row.id))))[:128]
            row.status, row.sent_at = "sent", datetime.now(timezone.utc)
        except SmsFailed as e:
            row.status, row.last_error = "undeliverable", str(e)[:500]
            log.warning("sms code not sent", error=str(e)[:200], permanent=e.permanent)
        await session.commit()
        return row.status == "sent"


async def _claim(session: AsyncSession, row_id: int, now: datetime) -> bool:
    result = await session.execute(update(SmsMessage).where(
        SmsMessage.id == row_id, SmsMessage.status.in_((*DUE, "sending")), SmsMessage.send_at <= now)
        .values(status="sending", send_at=now, attempts=SmsMessage.attempts + 1))
    await session.commit()
    return result.rowcount == 1


async def dispatch_due(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, provider: SmsProvider,
                       unseal, now: datetime | None = None, limit: int = 100) -> Counter[str]:
    """Sends the case SMS due by `now` (and any left `sending` by a worker that died); returns what became of
    them (sent, held, retry, undeliverable). `now` on the SMS clock (sms_now); sent_at is recorded on it too."""
    now = now or sms_now(settings)
    ahead = now - datetime.now(timezone.utc)      # the SMS clock against the system clock while sending
    outcome: Counter[str] = Counter()
    async with sessionmaker() as session:
        ids = list(await session.scalars(select(SmsMessage.id).where(
            ((SmsMessage.status.in_(DUE)) & (SmsMessage.send_at <= now))
            | ((SmsMessage.status == "sending") & (SmsMessage.send_at <= now - STUCK_SENDING))
        ).order_by(SmsMessage.send_at, SmsMessage.id).limit(limit)))
        for row_id in ids:
            if (held := quiet_until(now)) is not None:   # a retry that slipped into the quiet hours waits for 08:00
                await session.execute(update(SmsMessage).where(SmsMessage.id == row_id, SmsMessage.status.in_(DUE))
                                      .values(status="held", send_at=held.astimezone(timezone.utc)))
                await session.commit()
                outcome["held"] += 1
                continue
            if not await _claim(session, row_id, now):
                continue
            row = await session.get(SmsMessage, row_id, populate_existing=True)
            sms = SmsSend(phone=unseal(row.phone_sealed), kind=SmsKind(row.kind), params=dict(row.params),
                          text=row.text, ref=str(row.id))
            row.provider = provider.name
            try:
                row.provider_ref = (await provider.send(sms))[:128]
                row.status, row.sent_at, row.last_error = "sent", datetime.now(timezone.utc) + ahead, None
                outcome["sent"] += 1
                log.info("sms sent", case_no=row.case_no, kind=row.kind, provider=provider.name)
            except SmsFailed as e:
                row.last_error = str(e)[:500]
                give_up = now - utc(row.created_at) >= timedelta(hours=settings.sms_give_up_hours)
                if e.permanent or give_up:
                    row.status = "undeliverable"
                    outcome["undeliverable"] += 1
                    # E3: recorded with the SMS (the case's 短信记录) and reported to ops; it holds nothing open
                    log.warning("sms undeliverable", case_no=row.case_no, kind=row.kind, error=str(e)[:200],
                                permanent=e.permanent)
                else:
                    row.status, row.send_at = "queued", now + _backoff(row.attempts)
                    outcome["retry"] += 1
                    log.info("sms failed for now; retried", case_no=row.case_no, kind=row.kind, error=str(e)[:200])
            await session.commit()
    return outcome


async def dispatch_forever(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, provider: SmsProvider,
                           unseal) -> None:
    """The worker's SMS loop; a failed round is logged and the next one tries again."""
    while True:
        try:
            await dispatch_due(sessionmaker, settings, provider, unseal)
        except Exception as e:  # noqa: BLE001 — the database away for a moment
            log.warning("sms dispatch failed; trying again", error=repr(e)[:200])
        await asyncio.sleep(settings.sms_dispatch_seconds)


async def case_sms(session: AsyncSession, case_no: str) -> list[SmsMessage]:
    return list(await session.scalars(select(SmsMessage).where(SmsMessage.case_no == case_no).order_by(SmsMessage.id)))


def _numbers_in_scope(actor: Actor):
    """P5: the owners' numbers of the units in the reader's scope (a project's, a company's projects', the group's
    all): whose sign-in codes the reader's SMS log shows."""
    units = select(PropertyUnit.owner_phone_hmac).where(PropertyUnit.owner_phone_hmac.is_not(None))
    if actor.project:
        return units.where(PropertyUnit.project_key == actor.project)
    if actor.company_id:
        return units.where(PropertyUnit.project_key.in_(select(Project.key).where(Project.company_id == actor.company_id)))
    return units


async def visible_sms(session: AsyncSession, actor: Actor, *, before: int | None = None,
                      limit: int = 100) -> list[SmsMessage]:
    """The SMS log (短信记录) of one reader, newest first: the SMS of the cases the reader may see (P2 within P5,
    the register's own condition), and the sign-in codes (O1) sent to the numbers of those cases or of the units
    in the reader's scope; `before` an id, for the older ones."""
    visible = visible_cases_clause(actor)
    of_cases = SmsMessage.case_no.in_(select(Case.case_no).where(visible))
    codes = and_(SmsMessage.case_no.is_(None), or_(
        SmsMessage.phone_hmac.in_(select(Case.customer_phone_hmac).where(visible, Case.customer_phone_hmac.is_not(None))),
        SmsMessage.phone_hmac.in_(_numbers_in_scope(actor))))
    # V3: a campaign's survey SMS, to the owners of the units in the reader's scope (like the codes)
    surveys = and_(SmsMessage.kind == SmsKind.campaign_survey.value, SmsMessage.phone_hmac.in_(_numbers_in_scope(actor)))
    query = select(SmsMessage).where(or_(of_cases, codes, surveys))
    if before is not None:
        query = query.where(SmsMessage.id < before)
    return list(await session.scalars(query.order_by(SmsMessage.id.desc()).limit(limit)))
