"""Once per recipient (E3, activities/deliveries.py) on the register itself: a hold keeps every other attempt
from sending, the record ends it, a hold whose worker died is taken over after the lease, a refusal lets the
next attempt send at once. On SQLite here, on PostgreSQL in tests/test_postgres.py."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select, update

from activities.deliveries import Deliveries, Failure
from adapters.db.models import Base, NotificationDelivery, NotificationSending
from adapters.db.session import make_engine, make_sessionmaker

KEY = ("TS-2026-000001:n1", "email", "gm@example.com")
LEASE = timedelta(seconds=70)


async def check_once_per_recipient(maker) -> None:
    log = structlog.get_logger()
    sent: list[str] = []
    gate = asyncio.Event()

    def send(by: str, answer: Failure | None = None, wait: bool = False):
        async def go() -> Failure | None:
            sent.append(by)
            if wait:
                await gate.wait()  # the server has the message; its answer is late
            return answer
        return go

    first, second = Deliveries(maker, LEASE), Deliveries(maker, LEASE)  # two workers
    under_way = first.once(KEY[0], "TS-2026-000001", *KEY[1:], log, send("first", wait=True))
    while not sent:
        await asyncio.sleep(0.01)
    # the same worker joins the transaction under way; another sends nothing and fails for now
    assert first.once(KEY[0], "TS-2026-000001", *KEY[1:], log, send("joined")) is under_way
    busy = await second.once(KEY[0], "TS-2026-000001", *KEY[1:], log, send("second"))
    assert busy is not None and not busy.permanent and "earlier attempt" in busy.text
    gate.set()
    assert await under_way is None
    assert await second.once(KEY[0], "TS-2026-000001", *KEY[1:], log, send("second")) is None
    assert sent == ["first"]
    async with maker() as session:
        assert (await session.scalars(select(NotificationDelivery.recipient))).all() == [KEY[2]]
        assert (await session.scalars(select(NotificationSending.recipient))).all() == []  # let go

    # a refusal lets go at once: the next attempt sends
    other = ("TS-2026-000001:n2", "email", "gm@example.com")
    refused = await first.once(other[0], "TS-2026-000001", *other[1:], log,
                               send("refused", Failure("451 try later")))
    assert refused == Failure("451 try later")
    assert await second.once(other[0], "TS-2026-000001", *other[1:], log, send("after")) is None
    assert sent[-2:] == ["refused", "after"]

    # a hold whose worker died (no record, no release) blocks until the lease runs out, then is taken over
    third = ("TS-2026-000001:n3", "webhook", "https://robot#abc")
    async with maker() as session, session.begin():
        session.add(NotificationSending(notification_id=third[0], channel=third[1], recipient=third[2],
                                        token="dead", started_at=datetime.now(UTC)))
    assert (await second.once(third[0], "TS-2026-000001", *third[1:], log, send("early"))) is not None
    async with maker() as session, session.begin():
        await session.execute(update(NotificationSending).values(started_at=datetime.now(UTC) - LEASE * 2))
    assert await second.once(third[0], "TS-2026-000001", *third[1:], log, send("taken over")) is None
    assert "early" not in sent and sent[-1] == "taken over"


async def check_batch_once_per_recipient(maker) -> None:
    """A message's recipients held, sent and recorded as one batch (`Deliveries.batch`): a recipient another
    worker holds is not sent (busy, for now), one delivered already is not sent again, the others are each sent
    once and recorded together; a joined attempt of the same worker gets each one's outcome; a recipient the
    server refused is let go for the next attempt."""
    log = structlog.get_logger()
    nid, case = "TS-2026-000002:n1", "TS-2026-000002"
    first, second = Deliveries(maker, LEASE), Deliveries(maker, LEASE)  # two workers
    sent: list[tuple[str, str]] = []
    gate = asyncio.Event()

    def send(by: str, refuse: frozenset[str] = frozenset(), wait: bool = False):
        async def go(held: list[str]) -> dict[str, Failure | None]:
            out = {}
            for r in held:
                sent.append((by, r))
                if wait:
                    await gate.wait()
                out[r] = Failure(f"550 {r}", permanent=True) if r in refuse else None
            return out
        return go

    assert await second.once(nid, case, "email", "a@example.com", log, _ok) is None  # delivered before
    held_elsewhere = second.batch(nid, case, "email", ["d@example.com"], log, send("second", wait=True))
    while not sent:
        await asyncio.sleep(0.01)
    batch = first.batch(nid, case, "email", ["a@example.com", "b@example.com", "c@example.com", "d@example.com"], log,
                        send("first", refuse=frozenset({"c@example.com"})))
    assert first.running(nid, "email", "b@example.com") is batch["b@example.com"]  # joined by a later attempt here
    outcomes = {r: await f for r, f in batch.items()}
    assert outcomes["a@example.com"] is None and outcomes["b@example.com"] is None  # a: recorded before, not sent
    assert outcomes["c@example.com"].permanent and "earlier attempt" in outcomes["d@example.com"].text
    assert sent == [("second", "d@example.com"), ("first", "b@example.com"), ("first", "c@example.com")]
    gate.set()
    assert await held_elsewhere["d@example.com"] is None
    async with maker() as session:
        assert sorted((await session.scalars(select(NotificationDelivery.recipient)
                                             .where(NotificationDelivery.notification_id == nid))).all()) == [
            "a@example.com", "b@example.com", "d@example.com"]
        assert (await session.scalars(select(NotificationSending.recipient)
                                      .where(NotificationSending.notification_id == nid))).all() == []  # let go


async def _ok() -> Failure | None:
    return None


@pytest.mark.asyncio
async def test_E3_once_per_recipient_across_attempts_and_workers_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'deliveries.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        await check_once_per_recipient(make_sessionmaker(engine))
        await check_batch_once_per_recipient(make_sessionmaker(engine))
    finally:
        await engine.dispose()
