"""O5 over a whole day on a real dev server and worker, once with the SMS clock inside working hours (09:00 Beijing) and
once inside the quiet hours (22:00): the owner, signed in by code, files a repair (受理 SMS), staff propose a time
(the appointment link), the owner accepts it (预约 SMS), the work is done and inspected (完工签认 link), the owner signs
off (回访调查 link) and answers the survey, and the repair is settled and paid (结案 SMS). The SMS clock is the
product's own setting (sms_clock_offset_seconds), set for the worker that plans and sends them; nothing of the SMS
code is replaced. The rules give the counts: at most 3 of a case a day; past them the sign-off and survey links wait
for the next day's 08:00 and the close notice is dropped (throttled, kept); in the quiet hours every one is held to
08:00, then sent, none dropped. The figures are printed for the note."""

from collections import Counter
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

from adapters.db.models import SmsMessage
from adapters.sms.providers import OutboxProvider
from adapters.sms.queue import dispatch_due
from adapters.temporal.sealing import Sealer
from aftersales.messages import BEIJING
from tests.e2e.conftest import eventually, post_action
from tests.e2e.test_owner_acts_http import file_repair, owner_acts, registered_owner, to_inspected
from tests.e2e.test_owner_http import owner_signed_in

CLOCKS = {"working": time(9, 0), "quiet": time(22, 0)}   # where the SMS clock stands as the owner's flow starts
FLOW = ["received", "proposed", "appointment", "work_done", "survey", "closed"]


@pytest.fixture(params=sorted(CLOCKS))
def settings(request, settings):
    """The e2e settings with the SMS clock moved to today's 09:00 or 22:00 in Beijing (the worker gets it too)."""
    now = datetime.now(timezone.utc)
    start = datetime.combine(now.astimezone(BEIJING).date(), CLOCKS[request.param], BEIJING)
    return settings.model_copy(update={"sms_clock_offset_seconds": (start - now).total_seconds()})


def at_8(day) -> datetime:
    return datetime.combine(day, time(8, 0), BEIJING)


def utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=timezone.utc) if at is not None else None


async def rows_of(sessionmaker, no: str) -> dict[str, SmsMessage]:
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(SmsMessage).where(SmsMessage.case_no == no).order_by(SmsMessage.id)))
    return {r.kind: r for r in rows}


async def release(sessionmaker, settings, no: str, at: datetime) -> dict[str, SmsMessage]:
    """The worker's own send round as it runs at `at` on the SMS clock (the day moved on), until this case's due ones
    are sent (the round takes the read model's 100 earliest due, this case's among them)."""
    provider, unseal = OutboxProvider(settings.sms_outbox_file), Sealer.from_settings(settings).unseal
    for _ in range(20):
        await dispatch_due(sessionmaker, settings, provider, unseal, now=at.astimezone(timezone.utc))
        rows = await rows_of(sessionmaker, no)
        if not any(r.status in ("queued", "held") and utc(r.send_at) <= at for r in rows.values()):
            return rows
    raise AssertionError("the SMS due were not sent")


@pytest.mark.asyncio
async def test_o5_an_owners_whole_repair_by_sms_inside_and_outside_the_quiet_hours(api, staff, settings,
                                                                                  sessionmaker) -> None:
    offset = timedelta(seconds=settings.sms_clock_offset_seconds)
    started = datetime.now(timezone.utc) + offset
    quiet = started.astimezone(BEIJING).time() >= time(21, 0)
    day = started.astimezone(BEIJING).date()

    phone, _ = await registered_owner(settings, sessionmaker, project="短信一日城")
    await owner_signed_in(api, settings, phone)          # O1: the code is sent at once, whatever the hour
    no = await file_repair(api)
    at = (datetime.now(timezone.utc) + timedelta(days=2)).replace(second=0, microsecond=0)
    await post_action(api, staff, no, "cs_staff", {"action": "propose_appointment", "appointment_at": at.isoformat()})
    await owner_acts(api, no, "accept_appointment")
    await to_inspected(api, staff, no)
    await owner_acts(api, no, "owner_sign_off", {"quality": "5", "attitude": "5"})
    await owner_acts(api, no, "revisit", {"satisfaction": "5", "quality": "5", "attitude": "5"})
    await post_action(api, staff, no, "repair_lead", {"action": "cost_statement", "amount": "280.00", "note": "决算"})
    for _ in range(5):                                                                          # A2, A3
        view = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
        if view["status"] != "settlement":
            break
        await post_action(api, staff, no, view["waiting_for"], {"action": "decide", "decision": "approve"})
    view = await post_action(api, staff, no, "finance", {"action": "pay", "amount": "280.00", "reference": "FK-SMS"})
    assert view["status"] == "closed"

    async def planned():   # each SMS of the flow planned, and those due now sent by the worker
        rows = await rows_of(sessionmaker, no)
        return len(rows) == len(FLOW) and not any(r.status in ("queued", "sending") for r in rows.values()) and rows
    rows = await eventually(planned, 90)
    assert list(rows) == FLOW
    for r in rows.values():
        assert r.kind != "closed" or r.status == "throttled"
        assert phone not in r.text and phone not in str(r.params)
    assert "/o/l/" in rows["work_done"].params["link"] and "/o/l/" in rows["survey"].params["link"]  # one act each (O1)
    at_end = Counter(r.status for r in rows.values())

    # O5: 3 a case a day; the 4th and 5th carry the owner's acts (sign-off, survey): held to the next day, not dropped;
    # the close notice past the cap is dropped and kept as throttled
    first, second = (day + timedelta(days=1), day + timedelta(days=2)) if quiet else (day, day + timedelta(days=1))
    for kind in FLOW[:3]:
        if quiet:
            assert rows[kind].status == "held" and utc(rows[kind].send_at) == at_8(first)
        else:
            assert rows[kind].status == "sent" and utc(rows[kind].sent_at).astimezone(BEIJING).date() == first
    for kind in ("work_done", "survey"):
        assert rows[kind].status == "held" and utc(rows[kind].send_at) == at_8(second)
    assert at_end == ({"held": 5, "throttled": 1} if quiet else {"sent": 3, "held": 2, "throttled": 1})

    # held ones are sent at 08:00, not before
    after = await release(sessionmaker, settings, no, at_8(first) - timedelta(seconds=1))
    assert Counter(r.status for r in after.values()) == at_end
    if quiet:
        after = await release(sessionmaker, settings, no, at_8(first) + timedelta(seconds=1))
        assert [k for k, r in after.items() if r.status == "sent"] == FLOW[:3]
        assert all(utc(after[k].sent_at) >= at_8(first) for k in FLOW[:3])
    after = await release(sessionmaker, settings, no, at_8(second) + timedelta(seconds=1))
    assert [k for k, r in after.items() if r.status == "sent"] == FLOW[:5]
    assert all(utc(after[k].sent_at) >= at_8(second) for k in ("work_done", "survey"))
    assert after["closed"].status == "throttled"
    released = Counter(r.status for r in after.values())
    print(f"\nO5 SMS of the owner's repair {no}, SMS clock {'22:00 (quiet hours)' if quiet else '09:00 (working hours)'}: "
          f"at the flow's end sent {at_end['sent']}, held {at_end['held']}, throttled {at_end['throttled']}; "
          f"after 08:00 sent {released['sent']}, held {released['held']}, throttled {released['throttled']}")
