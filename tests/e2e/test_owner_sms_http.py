"""O5 with R1 and R8 over HTTP on a real dev server and worker: staff proposing a visit time, changing it, and asking
for more time each send the owner an SMS with a one-case link for that act (the appointment link: accept or ask
another; the consent link: consent or refuse), planned by the same rules as every case SMS (quiet hours, 3 a case a
day, the opt-out). The owner opens each link in a fresh browser (no session) and acts through it alone: the time
asked for, the changed time accepted, the more time consented to. The 4th SMS of the day that carries an act waits
for the next morning; an agreed-time notice past the cap is dropped (throttled). The figures are printed."""

import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from adapters.db.models import SmsMessage
from aftersales.messages import BEIJING
from aftersales.owners import quiet_until
from tests.e2e.conftest import eventually, post_action
from tests.e2e.test_owner_acts_http import owner_acts


@pytest.fixture
def settings(settings):
    """The SMS clock at 10:00 Beijing as the test starts (the product's sms_clock_offset_seconds, the worker's too):
    the figures are those of working hours whatever the hour the test runs (the quiet hours: test_owner_sms_day_http)."""
    now = datetime.now(timezone.utc)
    start = datetime.combine(now.astimezone(BEIJING).date(), datetime.min.time().replace(hour=10), BEIJING)
    return settings.model_copy(update={"sms_clock_offset_seconds": (start - now).total_seconds()})


async def sms_of(sessionmaker, no: str) -> list[SmsMessage]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(SmsMessage).where(SmsMessage.case_no == no).order_by(SmsMessage.id)))


async def the_sms(sessionmaker, no: str, kind: str, count: int = 1) -> SmsMessage:
    async def found():
        rows = [r for r in await sms_of(sessionmaker, no) if r.kind == kind]
        return len(rows) >= count and rows[count - 1]
    return await eventually(found, 60)


async def follow(api, sms: SmsMessage, no: str) -> None:
    """The owner taps the SMS's link on a phone with no session: signed in for that one case."""
    api.cookies.clear()
    path = re.search(r"/o/l/[A-Za-z0-9_\-.]+", sms.params["link"]).group(0)
    assert path in sms.text
    r = await api.get(path)
    assert r.status_code == 303 and r.headers["location"] == f"/o/cases/{no}", r.text
    assert (await api.get("/o/home")).status_code == 404            # a link's session: that one case only


@pytest.mark.asyncio
async def test_o5_r1_r8_a_proposed_changed_time_and_more_time_reach_the_owner_by_sms(api, staff, settings,
                                                                                      sessionmaker) -> None:
    phone = f"134{random.randrange(10**8):08d}"
    when = datetime.now(BEIJING) + timedelta(days=2)
    filed = await api.post("/repairs", headers=await staff.headers("hotline"), json={
        "customer": {"name": "郑先生", "phone": phone, "project": "融侨城", "building": "2栋",
                     "unit": str(random.randrange(100, 3000))},
        "trades": ["水电"], "description": "客厅插座不通电", "paid_service": False,
        "requested_appointment": when.replace(hour=10, minute=0, second=0, microsecond=0).isoformat()})
    assert filed.status_code == 201, filed.text
    no = filed.json()["case_no"]
    await the_sms(sessionmaker, no, "received")

    # R1: staff propose a time; the SMS names it and carries the appointment link
    first = when.replace(hour=9, minute=30, second=0, microsecond=0)
    await post_action(api, staff, no, "cs_staff", {"action": "propose_appointment", "appointment_at": first.isoformat()})
    proposed = await the_sms(sessionmaker, no, "proposed")
    assert proposed.params["time"] == first.strftime("%Y-%m-%d %H:%M") and first.strftime("%Y-%m-%d %H:%M") in proposed.text
    assert phone not in proposed.text and phone not in str(proposed.params)
    await follow(api, proposed, no)
    page = (await api.get(f"/o/cases/{no}")).text
    assert "确认此时间" in page and "同意延期" not in page
    other = when.replace(hour=15, minute=0, second=0, microsecond=0)
    await owner_acts(api, no, "request_appointment", {"appointment_at": other.strftime("%Y-%m-%dT%H:%M"),
                                                      "note": "上午要上班"})

    # R1: staff change the time to the owner's; a second SMS, a second link, accepted through it
    await post_action(api, staff, no, "cs_staff", {"action": "propose_appointment", "appointment_at": other.isoformat()})
    changed = await the_sms(sessionmaker, no, "proposed", 2)
    assert changed.params["time"] == other.strftime("%Y-%m-%d %H:%M") and changed.params["link"] != proposed.params["link"]
    await follow(api, changed, no)
    await owner_acts(api, no, "accept_appointment")
    view = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
    assert view["status"] == "scheduled"
    assert datetime.fromisoformat(view["appointment_at"]) == other.astimezone(timezone.utc)
    agreed = await the_sms(sessionmaker, no, "appointment")
    assert agreed.status == "throttled"             # the 4th of the day, a notice the owner may stop: dropped (kept)

    # R8: more time asked after dispatch; its SMS (the 5th) carries the consent link and waits for tomorrow 08:00
    await post_action(api, staff, no, "cs_staff", {"action": "record_survey", "responsible_party": "工程部",
                                                   "multi_trade": False, "estimate": "0.00", "order_type": "B"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        await post_action(api, staff, no, who, {"action": "sign_survey"})
    view = await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]})
    work = next(d for d in view["deadlines"] if d["key"] == "work" and d.get("open", True))
    new_due = datetime.fromisoformat(work["due_at"]) + timedelta(days=5)
    await post_action(api, staff, no, "repair_lead", {"action": "ask_extension", "new_due_at": new_due.isoformat(),
                                                      "reason": "需更换整段暗管，材料三天后到"})
    asked = await the_sms(sessionmaker, no, "extension")
    assert asked.params["time"] == new_due.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    assert asked.status == "held" and asked.send_at is not None
    created = asked.created_at.replace(tzinfo=timezone.utc)
    first_day = (quiet_until(created) or created).astimezone(BEIJING).date()
    assert asked.send_at.replace(tzinfo=timezone.utc).astimezone(BEIJING) == \
        datetime.combine(first_day + timedelta(days=1), datetime.min.time().replace(hour=8), BEIJING)
    await follow(api, asked, no)
    page = (await api.get(f"/o/cases/{no}")).text
    assert "同意延期" in page and "确认此时间" not in page
    await owner_acts(api, no, "consent_extension")
    view = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
    moved = [d for d in view["deadlines"] if d["key"] == "work"][-1]
    assert datetime.fromisoformat(moved["due_at"]) == new_due

    async def settled():  # the worker's sender takes what is due in its own time: none left queued or sending
        rows = await sms_of(sessionmaker, no)
        return not any(r.status in ("queued", "sending") for r in rows) and rows
    rows = await eventually(settled, 60)
    assert [r.kind for r in rows] == ["received", "proposed", "proposed", "appointment", "extension"]
    figures = Counter(r.status for r in rows)
    print(f"\nO5 SMS of {no}: {dict(figures)} (sent/queued/held for quiet hours or the cap, throttled)")
    assert figures == {"sent": 3, "throttled": 1, "held": 1}, figures   # 3 a day, at 10:00: none held for the night


@pytest.mark.asyncio
async def test_v3_o1_o5_a_campaigns_survey_reaches_the_owner_by_sms_with_a_link_for_that_survey(api, staff, settings,
                                                                                              sessionmaker) -> None:
    """V3 with O1/O5: a campaign planned for the owner's household sends its owner the survey by SMS (sent whatever
    the owner stopped: a survey), with a link for that one survey; the owner taps it on a phone with no session,
    answers for their household (provenance: the link), and the link and the session reach nothing else."""
    import uuid

    from tests.e2e.test_owner_acts_http import registered_owner
    from tests.e2e.test_owner_http import _csrf, owner_signed_in
    project = f"回访短信苑{uuid.uuid4().hex[:6]}"
    phone, _ = await registered_owner(settings, sessionmaker, project=project)
    await owner_signed_in(api, settings, phone)
    home = (await api.get("/o/home")).text
    stop = await api.post("/o/settings/sms", data={"csrf": _csrf(home), "stop": "1"})    # O5: notices stopped
    assert stop.status_code == 303, stop.text
    r = await api.post("/campaigns", json={"project": project, "kind": "first", "starts_on": "2026-11-23",
                                           "ends_on": "2027-12-31", "staff": ["cs_staff"]},
                       headers=await staff.headers("cs_manager"))
    assert r.status_code == 201, r.text
    cid = r.json()["campaign_id"]

    async def sent():
        rows = [m for m in await sms_of(sessionmaker, cid) if m.kind == "campaign_survey"]
        return rows and rows[0].status == "sent" and rows
    [sms] = await eventually(sent, 60)
    assert project in sms.text and cid in sms.text and phone not in sms.text and phone not in str(sms.params)
    path = re.search(r"/o/l/[A-Za-z0-9_\-.]+", sms.params["link"]).group(0)
    assert path in sms.text

    api.cookies.clear()                                             # the owner's phone: no session
    opened = await api.get(path)
    assert opened.status_code == 303 and re.fullmatch(rf"/o/surveys/{cid}/\d+", opened.headers["location"]), opened.text
    page = await api.get(opened.headers["location"])
    assert page.status_code == 200 and "回访调查" in page.text
    assert (await api.get("/o/home")).status_code == 404           # a link's session: that survey only (O1)
    form = {"csrf": _csrf(page.text), "score_0": "5", "score_1": "5", "score_2": "4", "score_3": "5"}
    done = await api.post(opened.headers["location"], data=form)
    assert done.status_code == 200 and "感谢您参加回访调查" in done.text, done.text     # no home page for a link
    summary = (await api.get(f"/campaigns/{cid}", headers=await staff.headers("cs_manager"))).json()
    assert (summary["visited"], summary["visits_owner"]) == (1, 1)
    api.cookies.clear()
    assert (await api.get(path)).status_code == 404                # used once
    # 短信记录 (cs_manager): the campaign's SMS with the others, its campaign linked
    token = (await staff.headers("cs_manager"))["Authorization"].split()[1]
    log_page = (await api.get("/app/sms", headers={"Cookie": f"aftersales_session={token}"})).text
    assert f'href="/app/campaigns/{cid}"' in log_page
