"""Each message once per recipient (E3), across every attempt that may send it: a deadline's in-task try, the
activity that follows it, the activity's retries, on any worker (activities/notify.py, activities/reports.py).

A delivery to one recipient is one transaction (`Deliveries.once`; a message's e-mails to several recipients over
one connection are held together and recorded together, `Deliveries.batch`, each recipient still held before it
is sent and until its record):

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

    def batch(self, notification_id: str, case_no: str, channel: str, recipients: list[str], logger,
              send: Callable[[list[str]], Awaitable[dict[str, Failure | None]]]
              ) -> "dict[str, asyncio.Future[Failure | None]]":
        """The deliveries of one message to several recipients over one connection (`send`: hands it to each
        recipient given, in turn, and answers each one's outcome), as one transaction of the register on either
        side: every recipient held in one, then sent, then every record and release in one — two write
        transactions a message instead of two a recipient. Once per recipient as `once`: each is held before it
        is sent and until its record, so no other attempt sends it meanwhile; what grows is only the time between
        a recipient's 250 and its record (the rest of the message's recipients), in which a worker that dies
        leaves it to be sent again after the lease (at least once, as before). Like `once`, it runs on under
        asyncio.shield when its attempt is cut, and an attempt here joins it: the outcome of each recipient."""
        task = asyncio.ensure_future(self._held_batch(notification_id, case_no, channel, recipients, logger, send))
        futures: dict[str, asyncio.Future[Failure | None]] = {}
        for recipient in recipients:
            one = asyncio.get_running_loop().create_future()
            futures[recipient] = one
            rkey = (notification_id, channel, recipient)
            self._running[rkey] = one
            one.add_done_callback(lambda _, rkey=rkey: self._running.pop(rkey, None))

        def settle(done: asyncio.Future) -> None:
            outcomes = done.result() if not done.cancelled() and done.exception() is None else {}
            error = None if done.cancelled() else done.exception()
            for recipient, one in futures.items():
                if one.done():
                    continue
                if recipient in outcomes:
                    one.set_result(outcomes[recipient])
                else:
                    one.set_result(Failure(f"{channel} to {recipient}: not sent: "
                                           f"{_describe(error) if error else 'the attempt ended'}"))
        task.add_done_callback(settle)
        return futures

    async def _held_batch(self, notification_id: str, case_no: str, channel: str, recipients: list[str], logger,
                          send: Callable[[list[str]], Awaitable[dict[str, Failure | None]]]
                          ) -> dict[str, Failure | None]:
        held_at, token = time.monotonic(), uuid.uuid4().hex
        try:
            holds = await retry_contention(lambda: self._hold_batch(notification_id, channel, recipients, token,
                                                                    logger),
                                           within=HOLD_PATIENCE, logger=logger, what="delivery hold")
        except Exception as e:  # noqa: BLE001 - the register cannot say whether any is under way: none sent now
            logger.warning("delivery not started", channel=channel, recipients=len(recipients), error=_describe(e))
            return {r: Failure(f"{channel} to {r}: not started, the register did not answer: {_describe(e)}")
                    for r in recipients}
        outcomes: dict[str, Failure | None] = {}
        for r, state in holds.items():
            if state is None:
                outcomes[r] = None  # delivered by an attempt that let go of it meanwhile
            elif state == BUSY:
                logger.info("delivery under way elsewhere", channel=channel, recipient=scrub(r))
                outcomes[r] = Failure(f"{channel} to {r}: being sent by an earlier attempt that may still be "
                                      "answered; not sent again now")
        held = [r for r in recipients if holds.get(r) == token]
        if not held:
            return outcomes
        sent: dict[str, Failure | None] = {}
        try:
            sent = await send(held)
        finally:  # also when cut at the loop's end: what the server took is recorded, the rest let go
            taken = [r for r in held if r in sent and sent[r] is None]

            async def settle() -> None:
                async with self.sessionmaker() as session, session.begin():
                    if taken:
                        now = datetime.now(UTC)
                        await session.execute(dialect_insert(session)(NotificationDelivery).on_conflict_do_nothing(), [
                            {"notification_id": notification_id, "channel": channel, "recipient": r,
                             "case_no": case_no, "delivered_at": now} for r in taken])
                    await session.execute(delete(NotificationSending).where(
                        NotificationSending.notification_id == notification_id, NotificationSending.channel == channel,
                        NotificationSending.recipient.in_(held), NotificationSending.token == token))
            try:
                await retry_contention(settle, within=self._patience(held_at), logger=logger,
                                       what="delivery records")
            except Exception as e:  # noqa: BLE001
                logger.error("deliveries sent but not recorded", channel=channel, recipients=len(taken),
                             error=_describe(e))
                sent = {**sent, **{r: Failure(f"{channel} to {r}: sent but not recorded: {_describe(e)}")
                                   for r in taken}}
        for r in held:
            outcomes[r] = sent.get(r, Failure(f"{channel} to {r}: not sent"))
            if outcomes[r] is None:
                logger.debug("delivered", channel=channel, recipient=scrub(r))
        return outcomes

    async def _hold_batch(self, notification_id: str, channel: str, recipients: list[str], token: str,
                          logger) -> dict[str, str | None]:
        """Takes the recipients for this attempt, in one transaction: per recipient the token when taken, None
        when delivered already, BUSY while another attempt holds it within the lease."""
        now, out = datetime.now(UTC), {}
        async with self.sessionmaker() as session, session.begin():
            for r in recipients:
                key = (notification_id, channel, r)
                taken = await session.execute(dialect_insert(session)(NotificationSending).values(
                    notification_id=notification_id, channel=channel, recipient=r, token=token,
                    started_at=now).on_conflict_do_nothing())
                if not taken.rowcount:
                    over = await session.execute(update(NotificationSending).where(
                        *self._where(NotificationSending, key), NotificationSending.started_at < now - self.lease)
                        .values(token=token, started_at=now))
                    if not over.rowcount:
                        out[r] = BUSY
                        continue
                    logger.warning("delivery taken over from an attempt that ended without a word: sent again if "
                                   "the server took it then (at least once)", channel=channel, recipient=scrub(r))
                out[r] = token
            mine = [r for r in recipients if out[r] == token]
            if mine:  # recorded by an attempt that let go of them between this attempt's look and now
                delivered = set((await session.scalars(select(NotificationDelivery.recipient).where(
                    NotificationDelivery.notification_id == notification_id, NotificationDelivery.channel == channel,
                    NotificationDelivery.recipient.in_(mine)))).all())
                if delivered:
                    await session.execute(delete(NotificationSending).where(
                        NotificationSending.notification_id == notification_id, NotificationSending.channel == channel,
                        NotificationSending.recipient.in_(delivered), NotificationSending.token == token))
                    out.update({r: None for r in delivered})
        return out

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
