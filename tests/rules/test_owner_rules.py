"""O1, O2, O4, O5 as pure rules: the code and link limits, quiet hours, the cap of 3 SMS per case and day,
the opt-out, what an owner's timeline shows, and provenance."""

from datetime import date, datetime, timedelta

import pytest
from pydantic import ValidationError

from aftersales.messages import BEIJING
from aftersales.owners import (
    CODE_TRIES, CODES_PER_DAY, SMS_FOR_ENTRY, SMS_LINK_PURPOSE, LinkPurpose, SmsKind, SmsPlan, code_request_refusal,
    code_usable, link_usable, owner_entry, plain_status, plan_sms, quiet_until, sms_text,
)
from aftersales.provenance import GivenBy, Means, Provenance


def bj(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=BEIJING)


# ---- O1 ---------------------------------------------------------------------------------------------
def test_o1_one_code_a_minute() -> None:
    now = bj(10, 10)
    assert code_request_refusal([], now) is None
    refused = code_request_refusal([now - timedelta(seconds=20)], now)
    assert refused.reason == "too_soon" and refused.retry_after == 40
    assert code_request_refusal([now - timedelta(seconds=60)], now) is None


def test_o1_ten_codes_a_beijing_day() -> None:
    now = bj(10, 22)
    today = [bj(10, 8, m * 5) for m in range(CODES_PER_DAY)]
    refused = code_request_refusal(today, now)
    assert refused.reason == "daily_limit" and refused.retry_after == 2 * 3600   # until midnight, Beijing
    yesterday = [bj(9, 8, m * 5) for m in range(CODES_PER_DAY)]
    assert code_request_refusal(yesterday + today[:-1], now) is None


def test_o1_a_code_is_good_for_five_minutes_five_tries_and_once() -> None:
    made = bj(10, 10)
    assert code_usable(made, 0, False, made + timedelta(minutes=5))
    assert not code_usable(made, 0, False, made + timedelta(minutes=5, seconds=1))
    assert code_usable(made, CODE_TRIES - 1, False, made)
    assert not code_usable(made, CODE_TRIES, False, made)
    assert not code_usable(made, 0, True, made)


def test_o1_a_link_is_good_for_seven_days_and_once() -> None:
    made = bj(1, 10)
    assert link_usable(made, False, made + timedelta(days=7))
    assert not link_usable(made, False, made + timedelta(days=7, seconds=1))
    assert not link_usable(made, True, made)


# ---- O5 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("at, held_until", [
    (bj(10, 20, 59), None), (bj(10, 21, 0), bj(11, 8)), (bj(10, 23, 30), bj(11, 8)), (bj(11, 0, 0), bj(11, 8)),
    (bj(11, 7, 59), bj(11, 8)), (bj(11, 8, 0), None), (bj(11, 12), None),
])
def test_o5_quiet_hours_21_to_08_beijing(at: datetime, held_until: datetime | None) -> None:
    assert quiet_until(at) == held_until
    assert quiet_until(at.astimezone(BEIJING).replace(tzinfo=BEIJING)) == held_until


def test_o5_quiet_hours_hold_not_drop() -> None:
    plan = plan_sms(SmsKind.appointment, bj(10, 22), {}, opted_out=False)
    assert plan.status == "held" and plan.send_at == bj(11, 8)
    assert plan_sms(SmsKind.appointment, bj(10, 10), {}, opted_out=False).status == "queued"


def test_o5_at_most_three_a_case_a_day() -> None:
    full = {date(2026, 12, 10): 3}
    assert plan_sms(SmsKind.appointment, bj(10, 10), {date(2026, 12, 10): 2}, False).status == "queued"
    assert plan_sms(SmsKind.appointment, bj(10, 10), full, False).status == "throttled"   # a notice: dropped
    assert plan_sms(SmsKind.closed, bj(10, 10), full, False).status == "throttled"
    kept = plan_sms(SmsKind.work_done, bj(10, 10), full, False)       # the owner's act: the next morning
    assert kept.status == "held" and kept.send_at == bj(11, 8)
    both_full = {date(2026, 12, 10): 3, date(2026, 12, 11): 3}
    assert plan_sms(SmsKind.survey, bj(10, 10), both_full, False).send_at == bj(12, 8)
    # held by the quiet hours into a day that is full already
    assert plan_sms(SmsKind.survey, bj(10, 23), {date(2026, 12, 11): 3}, False).send_at == bj(12, 8)


def test_o5_opt_out_of_all_but_sign_off_and_survey() -> None:
    for kind in (SmsKind.received, SmsKind.appointment, SmsKind.closed):
        assert plan_sms(kind, bj(10, 10), {}, opted_out=True).status == "opted_out"
    for kind in (SmsKind.work_done, SmsKind.survey):
        assert plan_sms(kind, bj(10, 10), {}, opted_out=True).status == "queued"


# ---- O2 ---------------------------------------------------------------------------------------------
def test_o2_the_owner_sees_only_the_entries_meant_for_them() -> None:
    for kind in ("intake", "appointment", "arrival", "work_done", "inspection_passed", "customer_informed",
                 "quote", "service_paid", "closed"):
        assert owner_entry(kind), kind
    for kind in ("approval", "escalation", "assigned", "cost_statement", "paid", "deposit", "survey", "dispatched",
                 "feedback", "solution", "notification_undeliverable", "deadline_missed", "major", "meeting"):
        assert not owner_entry(kind), kind


def test_o2_status_in_plain_words() -> None:
    assert plain_status("inspected") == ("待您签认", "请签认完工")
    assert plain_status("closed")[0] == "已结案"
    assert plain_status("something_new")[0] == "处理中"


# ---- O4 ---------------------------------------------------------------------------------------------
def test_o4_provenance_owner_or_recorded_by_staff() -> None:
    at = bj(10, 10)
    own = Provenance.by_owner(Means.link, at)
    assert own.by is GivenBy.owner and own.words() == "业主本人（短信链接）"
    staff = Provenance.recorded_by("cs_staff", Means.phone, at)
    assert staff.words() == "代录（cs_staff，电话）"
    with pytest.raises(ValidationError):
        Provenance(by=GivenBy.owner, means=Means.phone, at=at)            # an owner acts by code or link
    with pytest.raises(ValidationError):
        Provenance(by=GivenBy.staff, means=Means.paper, at=at)            # 代录 names who
    with pytest.raises(ValidationError):
        Provenance(by=GivenBy.staff, means=Means.code, at=at, staff="cs_staff")


def test_o5_r1_r8_staff_asking_the_owner_raises_an_sms_with_the_acts_link() -> None:
    """A visit time proposed or changed (R1) and more time asked (R8) each send the owner a one-case link for that
    act, under the same rules: quiet hours hold it, the owner may stop it, and past the day's cap it waits for the
    next morning (it carries an act the case waits for) rather than being dropped."""
    assert SMS_FOR_ENTRY["appointment_proposed"] is SmsKind.proposed
    assert SMS_FOR_ENTRY["extension_asked"] is SmsKind.extension
    assert SMS_LINK_PURPOSE[SmsKind.proposed] is LinkPurpose.appointment
    assert SMS_LINK_PURPOSE[SmsKind.extension] is LinkPurpose.consent
    for kind in (SmsKind.proposed, SmsKind.extension):
        assert plan_sms(kind, bj(10, 22), {}, opted_out=False) == SmsPlan("held", bj(11, 8))
        assert plan_sms(kind, bj(10, 10), {}, opted_out=True).status == "opted_out"
        assert plan_sms(kind, bj(10, 10), {date(2026, 12, 10): 3}, False) == SmsPlan("held", bj(11, 8))
        text = sms_text(kind, {"case_no": "WX-2026-000001", "time": "2026-12-12 10:00", "link": "https://x/o/l/t"})
        assert "WX-2026-000001" in text and "2026-12-12 10:00" in text and "https://x/o/l/t" in text
    assert plan_sms(SmsKind.appointment, bj(10, 10), {date(2026, 12, 10): 3}, False).status == "throttled"
