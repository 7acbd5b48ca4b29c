"""K1 (with E1): the gm's review of the monthly complaint statistics, as pure rules."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aftersales.actor import Actor
from aftersales.errors import Rejection
from aftersales.reports import ReportKind
from aftersales.review import Review, ReviewState, ReviewStatus, escalation_roles, review_due
from aftersales.roles import Role
from tests.support_calendar import calendar

BJ = ZoneInfo("Asia/Shanghai")
LADDER = [Role.dept_handler, Role.dept_head, Role.cs_manager, Role.deputy_gm, Role.gm]
GM = Actor(username="gm", role=Role.gm)


def review(period: str = "2026-11") -> tuple[Review, object]:
    cal = calendar(2026, 2027)
    state = ReviewState(report_id=7, kind=ReportKind.monthly_complaints, period=period, title="投诉统计表",
                        reviewer=Role.gm, due_at=review_due(period, cal))
    return Review(state, LADDER), cal


def test_K1_the_review_is_due_at_the_close_of_the_10th_of_the_next_month_beijing_time():
    r, cal = review("2026-11")
    assert r.state.due_at.astimezone(BJ).replace(tzinfo=None) == datetime(2026, 12, 10, cal.day_end.hour,
                                                                          cal.day_end.minute)
    r, _ = review("2026-12")   # December's statistics: due in January of the next year
    assert r.state.due_at.astimezone(BJ).date().isoformat() == "2027-01-10"


def test_K1_E1_a_missed_review_climbs_the_ladder_above_the_preparer_one_working_day_at_a_time():
    assert escalation_roles(LADDER) == [Role.deputy_gm, Role.gm]
    r, cal = review("2026-11")
    due = r.state.due_at
    assert r.escalate_if_due(cal, due - timedelta(seconds=1)) == []          # not yet missed
    assert r.escalate_if_due(cal, due) == [(1, Role.deputy_gm)]             # missed: deputy_gm told
    assert r.escalate_if_due(cal, due + timedelta(hours=1)) == []           # told once
    # 2026-12-10 is a Thursday: the next working day is Friday the 11th, same clock time
    assert r.next_step_at(cal) == cal.add_working_days(due, 1)
    assert r.escalate_if_due(cal, cal.add_working_days(due, 1)) == [(2, Role.gm)]
    assert r.next_step_at(cal) is None and r.state.escalated_to == [Role.deputy_gm, Role.gm]
    assert r.escalate_if_due(cal, cal.add_working_days(due, 5)) == []       # the top of the ladder: no more


def test_K1_E1_a_worker_that_was_down_for_days_reaches_each_level_once():
    r, cal = review("2026-11")
    assert r.escalate_if_due(cal, r.state.due_at + timedelta(days=10)) == [(1, Role.deputy_gm), (2, Role.gm)]
    assert r.state.escalation_level == 2


def test_K1_only_the_gm_reviews_once_with_a_comment():
    r, cal = review()
    with pytest.raises(Rejection) as e:
        r.review(Actor(username="m", role=Role.cs_manager), "看过了", r.state.due_at)
    assert e.value.kind == "forbidden" and "审阅人是总经理" in e.value.message
    with pytest.raises(Rejection) as e:
        r.review(GM, "   ", r.state.due_at)
    assert e.value.kind == "invalid" and "comment" in e.value.message
    assert r.state.status == ReviewStatus.awaiting and r.state.seq == 0   # a refusal changes nothing
    r.review(GM, " 同意，请各部门关注漏水类投诉 ", r.state.due_at - timedelta(days=1))
    assert (r.state.status, r.state.reviewed_by, r.state.comment) == (ReviewStatus.reviewed, "gm",
                                                                      "同意，请各部门关注漏水类投诉")
    assert r.escalate_if_due(cal, r.state.due_at + timedelta(days=3)) == [] and r.next_step_at(cal) is None
    with pytest.raises(Rejection) as e:
        r.review(GM, "again", r.state.due_at)
    assert e.value.kind == "conflict"


def test_K1_P5_a_companys_statistics_are_reviewed_by_that_companys_gm_the_roll_up_by_the_groups():
    cal = calendar(2026, 2027)
    hj = Review(ReviewState(report_id=8, kind=ReportKind.monthly_complaints, period="2026-11", title="投诉统计表",
                            reviewer=Role.gm, due_at=review_due("2026-11", cal), company_id="hj",
                            company_name="海景置业"), LADDER)
    for other in (Actor(username="gm", role=Role.gm, company_id="rq"),      # another company's gm
                  Actor(username="group_gm", role=Role.gm)):               # the group's: reviews the roll-up
        with pytest.raises(Rejection) as e:
            hj.check(other, "已阅")
        assert e.value.kind == "forbidden" and "海景置业" in e.value.message
    hj.review(Actor(username="gm2", role=Role.gm, company_id="hj"), "同意", hj.state.due_at)
    assert hj.state.reviewed_by == "gm2"

    roll_up = Review(ReviewState(report_id=9, kind=ReportKind.monthly_complaints, period="2026-11", title="投诉统计表",
                                 reviewer=Role.gm, due_at=review_due("2026-11", cal), roll_up=True), LADDER)
    with pytest.raises(Rejection) as e:
        roll_up.check(Actor(username="gm", role=Role.gm, company_id="rq"), "已阅")
    assert e.value.kind == "forbidden" and "集团" in e.value.message
    roll_up.review(Actor(username="group_gm", role=Role.gm), "同意", roll_up.state.due_at)
    # a review opened before companies (neither set) is the gm's, whichever (as it was)
    old, _ = review()
    old.review(Actor(username="gm", role=Role.gm, company_id="rq"), "同意", old.state.due_at)
