"""Each message once per recipient (E3), across every attempt that may send it: a deadline's in-task try, the
activity that follows it, the activity's retries, on any worker (activities/notify.py, activities/reports.py).

A delivery to one recipient is one transaction (`Deliveries.once`):

1. it is held in ``notification_sending`` (a row per notification, channel and recipient): while another
   attempt holds it, nothing is sent — on the same worker this attempt waits for that transaction's outcome,
   on another it fails for now and Temporal retries it;
2. the message is handed over (SMTP MAIL, RCPT, DATA; a webhook's POST) and this runs on to the server's answer
   even when the attempt is cut meanwhile (the in-task try's bound, an activity's timeout): cut after the server
   took the message but before its 250 was read, the next attempt sent it again;
3. on the server's yes (250, 2xx) the row in ``notification_deliveries`` is written and the hold dropped, in one
   database transaction; on its no (or no answer) the hold is dropped and the next attempt may send at once.

The register's writes of a delivery wait out a busy database (SQLite's one writer held by another process past
its busy timeout, a PostgreSQL deadlock) inside the attempt, the record for as long as the hold is this attempt's
(its lease): failing the record after the message went out would have the next attempt send it again.

What stays at least once (docs/decisions.md, "Notices: once per recipient"): a message the server took whose
answer never came (the connection dropped or timed out after the end of DATA), a worker that died between
the server's yes and the record (its hold is taken over after `sending_lease`), a record that could not be
written. The message then goes again, with the same Message-ID."""

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.config import Settings
from adapters.db.models import NotificationDelivery, NotificationSending
from adapters.db.session import dialect_insert, retry_contention
from aftersales.privacy import mask_mobile_numbers

SENDING_MARGIN = 30.0  # seconds a delivery's record may take on top of its transaction (sending_lease)
BUSY = "busy"  # _hold: another attempt holds the recipient
HOLD_PATIENCE = 30.0  # seconds a hold waits out a busy database before the attempt fails for now (nothing sent)


class Failure(NamedTuple):
    """One delivery that failed, and whether retrying can never help (E3)."""
    text: str
    permanent: bool = False


def sending_lease(settings: Settings) -> timedelta:
    """How long a delivery under way may hold its recipient: its transaction's four answers (MAIL, RCPT, DATA,
    end of data) or a POST, each bounded by its timeout, and the record. A hold older than this belongs to an
    attempt whose worker died: taken over, the message is sent again (at least once)."""
    return timedelta(seconds=4 * max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds)
                     + SENDING_MARGIN)


_LONG_DIGITS = re.compile(r"\d{7,}")


def scrub(text: str) -> str:
    """Masks mobile numbers (138****1234) and any other run of 7+ digits, for logs and errors."""
    text = mask_mobile_numbers(text)
    return _LONG_DIGITS.sub(lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 3), text)


class Deliveries:
    """The deliveries of one worker's activities: their holds and records in the register, and the
    transactions under way in this process (a later attempt here joins one rather than failing for now)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], lease: timedelta) -> None:
        self.sessionmaker, self.lease = sessionmaker, lease
        self._running: dict[tuple[str, str, str], asyncio.Future[Failure | None]] = {}

    def running(self, notification_id: str, channel: str, recipient: str) -> "asyncio.Future[Failure | None] | None":
        """The transaction under way in this process for that recipient, if any."""
        return self._running.get((notification_id, channel, recipient))

    def once(self, notification_id: str, case_no: str, channel: str, recipient: str, logger,
             send: Callable[[], Awaitable[Failure | None]]) -> "asyncio.Future[Failure | None]":
        """The delivery to one recipient as a transaction that no cut attempt interrupts: awaited under
        asyncio.shield, it runs on to the server's answer and its record. One under way in this process is
        joined, not started again. Its outcome: None when delivered (now or before), else the failure.
        `send` hands the message over: None when the server took it, else the failure."""
        key = (notification_id, channel, recipient)
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(self._held(key, case_no, logger, send))
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        return running

    async def _held(self, key: tuple[str, str, str], case_no: str, logger,
                    send: Callable[[], Awaitable[Failure | None]]) -> Failure | None:
        _, channel, recipient = key
        shown = scrub(recipient)
        held_at = time.monotonic()
        try:
            token = await retry_contention(lambda: self._hold(key, logger), within=HOLD_PATIENCE, logger=logger,
                                           what="delivery hold")
        except Exception as e:  # noqa: BLE001 - the register cannot say whether it is under way: not sent now
            logger.warning("delivery not started", channel=channel, recipient=shown, error=_describe(e))
            return Failure(f"{channel} to {recipient}: not started, the register did not answer: {_describe(e)}")
        if token is None:
            return None  # delivered meanwhile by the attempt that held it
        if token == BUSY:
            logger.info("delivery under way elsewhere", channel=channel, recipient=shown)
            return Failure(f"{channel} to {recipient}: being sent by an earlier attempt that may still be answered; "
                           "not sent again now")
        try:
            failure = await send()
        except BaseException:
            await self._release(key, token, held_at, logger)
            raise
        if failure is None:
            return await self._record(key, case_no, token, held_at, logger)
        await self._release(key, token, held_at, logger)
        return failure

    def _patience(self, held_at: float) -> float:
        """How long a write of this hold may wait out a busy database: while the hold is this attempt's (the
        lease), as no other attempt sends meanwhile; a second at least."""
        return max(self.lease.total_seconds() - (time.monotonic() - held_at), 1.0)

    @staticmethod
    def _where(model, key: tuple[str, str, str]) -> list:
        notification_id, channel, recipient = key
        return [model.notification_id == notification_id, model.channel == channel, model.recipient == recipient]

    async def _hold(self, key: tuple[str, str, str], logger) -> str | None:
        """Takes the recipient for this attempt: its token; None when the delivery is recorded already; BUSY
        while another attempt holds it within the lease."""
        notification_id, channel, recipient = key
        token, now = uuid.uuid4().hex, datetime.now(UTC)
        async with self.sessionmaker() as session, session.begin():
            taken = await session.execute(dialect_insert(session)(NotificationSending).values(
                notification_id=notification_id, channel=channel, recipient=recipient, token=token,
                started_at=now).on_conflict_do_nothing())
            if not taken.rowcount:
                over = await session.execute(update(NotificationSending).where(
                    *self._where(NotificationSending, key), NotificationSending.started_at < now - self.lease)
                    .values(token=token, started_at=now))
                if not over.rowcount:
                    return BUSY
                logger.warning("delivery taken over from an attempt that ended without a word: sent again if "
                               "the server took it then (at least once)", channel=channel, recipient=scrub(recipient))
            # recorded by an attempt that let go of it between this attempt's look at the deliveries and now
            if await session.scalar(select(NotificationDelivery.notification_id)
                                    .where(*self._where(NotificationDelivery, key))) is not None:
                await session.execute(delete(NotificationSending).where(
                    *self._where(NotificationSending, key), NotificationSending.token == token))
                return None
        return token

    async def _release(self, key: tuple[str, str, str], token: str, held_at: float, logger) -> None:
        """The server said no (or never answered): the next attempt may send at once."""
        async def release() -> None:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(delete(NotificationSending).where(
                    *self._where(NotificationSending, key), NotificationSending.token == token))
        try:
            await retry_contention(release, within=self._patience(held_at), logger=logger, what="delivery release")
        except Exception as e:  # noqa: BLE001 - then the hold runs out after the lease
            logger.warning("delivery not let go", channel=key[1], recipient=scrub(key[2]), error=_describe(e))

    async def _record(self, key: tuple[str, str, str], case_no: str, token: str, held_at: float,
                      logger) -> Failure | None:
        """Records one delivery and lets go of its hold, together, in one short transaction (two statements);
        a busy database is waited out while the hold lasts. A failure if it still could not be written (the retry
        then sends again once the hold runs out: at least once rather than not at all)."""
        notification_id, channel, recipient = key

        async def record() -> None:
            async with self.sessionmaker() as session, session.begin():  # Core statements: no unit of work to flush
                await session.execute(dialect_insert(session)(NotificationDelivery).values(
                    notification_id=notification_id, channel=channel, recipient=recipient,
                    case_no=case_no, delivered_at=datetime.now(UTC)).on_conflict_do_nothing())
                await session.execute(delete(NotificationSending).where(
                    *self._where(NotificationSending, key), NotificationSending.token == token))
        try:
            await retry_contention(record, within=self._patience(held_at), logger=logger, what="delivery record")
        except Exception as e:  # noqa: BLE001
            logger.error("delivery sent but not recorded", channel=channel, recipient=scrub(recipient),
                         error=_describe(e))
            return Failure(f"{channel} to {recipient}: sent but not recorded: {_describe(e)}")
        logger.debug("delivered", channel=channel, recipient=scrub(recipient))
        return None


def _describe(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".replace("\n", " ")
    return scrub(text[:300])
