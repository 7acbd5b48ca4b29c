"""The complaint procedure C1–C11 and escalation E1–E3 as pure rules (no Temporal)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from aftersales import actions as A
from aftersales.case import CURRENT_RULES_VERSION, Ctx, Customer, EarlyWarningCheck
from aftersales.complaint import ComplaintCase
from aftersales.complaint.state import Channel, ComplaintIntake
from aftersales.roles import Role

from tests.rules.driver import CAL, CST, LADDER, MONDAY_10, CaseRun, who  # noqa: F401


def intake(**kw) -> ComplaintIntake:
    base = dict(customer=Customer(name="王女士", phone="13812341234", project="融侨城", building="5栋", unit="1203"),
                channel=Channel.phone, category="漏水", description="卫生间天花板漏水")
    return ComplaintIntake(**{**base, **kw})


class Run(CaseRun):
    """Drives one complaint through time and actions, collecting effects."""

    def open_case(self, ctx: Ctx, **kw):
        return ComplaintCase.open("TS-2026-000001", intake(**kw), who(Role.hotline), ctx)

    # the general path, step by step
    def escalations(self, label_part: str) -> list[Role]:
        return [n.roles[0] for n in self.notices() if n.reason.startswith("E1") and self.about(n, label_part)]

    def classified(self):
        return self.do(Role.cs_staff, A.Classify(action="classify", category="漏水", department="工程部", justified=True))

    def investigated(self):
        self.classified().do(Role.dept_head, A.AssignHandler(action="assign_handler", handler="li.handler"))
        return self.do(Role.dept_handler, A.DepartmentFeedback(action="department_feedback", findings="防水层破损"),
                       "li.handler")

    def proposed(self):
        return self.investigated().do(Role.dept_handler, A.ProposeSolution(
            action="propose_solution", solution="重做防水", compensation=Decimal("800.00")), "li.handler")

    def approved(self, approver=Role.cs_manager):
        return self.proposed().do(approver, A.Decide(action="decide", decision="approve"))

    def summarised(self):
        self.approved().do(Role.cs_staff, A.InformCustomer(action="inform_customer", message="下周一重做防水"))
        if self.s.compensation_owed:  # finance pays the approved compensation before closing (A1)
            self.do(Role.finance, A.RecordCompensationPaid(action="record_compensation_paid", amount=Decimal("800.00"),
                                                           reference="BC-2026-001"))
        self.do(Role.cs_staff, A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=4))
        return self.do(Role.cs_staff, A.Summarise(action="summarise", summary="防水施工缺陷",
                                                  corrective_measures="重做", preventive_measures="闭水试验"))


def test_C1_intake_sets_the_deadlines_in_working_days():
    r = Run()
    s = r.case.state
    assert s.status == "registered" and s.received_at == MONDAY_10
    assert r.due("opinion") == datetime(2026, 11, 26, 10, 0, tzinfo=CST)   # C4: 3 working days
    assert r.due("close") == datetime(2026, 11, 30, 10, 0, tzinfo=CST)     # C6: 7 days
    assert r.due("progress") == datetime(2026, 11, 23, 14, 0, tzinfo=CST)  # C5: 4 working hours
    assert any(isinstance(e, EarlyWarningCheck) for e in r.effects)        # C11 checked at intake
    assert s.timeline[0].kind == "intake"


def test_T2_complaint_received_on_friday_evening_counts_from_monday_opening():
    r = Run(at=datetime(2026, 11, 27, 20, 30, tzinfo=CST))
    assert r.due("opinion") == datetime(2026, 12, 3, 9, 0, tzinfo=CST)


def test_C2_unjustified_needs_a_reply():
    with pytest.raises(ValueError, match="reply"):
        A.Classify(action="classify", category="x", department="y", justified=False)


def test_C3_department_feedback_within_3_working_days_by_the_named_handler():
    r = Run().classified()
    assert r.due("dept_feedback") == datetime(2026, 11, 26, 10, 0, tzinfo=CST)
    e = r.refused(Role.dept_handler, A.DepartmentFeedback(action="department_feedback", findings="x"), "li.handler")
    assert e.kind == "conflict" and "指定经办人" in e.message
    r.do(Role.dept_head, A.AssignHandler(action="assign_handler", handler="li.handler"))
    e = r.refused(Role.dept_handler, A.DepartmentFeedback(action="department_feedback", findings="x"), "zhang.other")
    assert e.kind == "forbidden"
    r.do(Role.dept_handler, A.DepartmentFeedback(action="department_feedback", findings="x"), "li.handler")
    assert r.case.deadline("dept_feedback").state == "met"
    assert r.due("solution") == datetime(2026, 11, 24, 10, 0, tzinfo=CST)  # C4: 1 working day


def test_C7_general_solution_is_approved_by_cs_manager_before_the_customer_is_told():
    r = Run().proposed()
    assert r.case.state.status == "awaiting_approval"
    e = r.refused(Role.cs_staff, A.InformCustomer(action="inform_customer", message="x"))
    assert e.kind == "conflict"
    for role in (Role.gm, Role.dept_head, Role.cs_staff):
        assert r.refused(role, A.Decide(action="decide", decision="approve")).kind == "forbidden"
    r.do(Role.cs_manager, A.Decide(action="decide", decision="approve"))
    assert r.case.state.status == "approved"
    r.do(Role.cs_staff, A.InformCustomer(action="inform_customer", message="重做防水"))
    assert r.case.deadline("opinion").state == "met"


def test_C7_rejected_solution_goes_back_to_the_handler():
    r = Run().proposed().do(Role.cs_manager, A.Decide(action="decide", decision="reject", reason="赔偿过高"))
    assert r.case.state.status == "investigated"
    assert r.case.state.approvals[-1].steps[0].reason == "赔偿过高"
    r.do(Role.dept_handler, A.ProposeSolution(action="propose_solution", solution="only repair"), "li.handler")
    assert r.case.state.approvals[-1].id == "solution-2"


def test_C7_C10_full_general_path_closes_with_an_outcome():
    r = Run().summarised()
    assert r.refused(Role.hotline, A.Close(action="close", outcome_note="done")).kind == "forbidden"
    r.do(Role.cs_staff, A.Close(action="close", outcome_note="已修复"))
    s = r.case.state
    assert s.status == "closed" and s.outcome == "resolved" and s.satisfaction == 4
    assert r.case.deadline("close").state == "met"
    assert r.refused(Role.cs_staff, A.ProgressNote(action="progress_note", note="x")).kind == "conflict"


def test_C10_cannot_close_before_the_summary():
    r = Run().approved()
    assert r.refused(Role.cs_staff, A.Close(action="close", outcome_note="x")).kind == "conflict"


def test_E1_missed_feedback_climbs_the_ladder_one_working_day_at_a_time():
    r = Run().classified()
    fb = r.case.deadline("dept_feedback")
    due = r.due("dept_feedback")                                    # Thu 26th 10:00
    r.at(due - timedelta(minutes=1))
    assert fb.level == 0 and r.escalations("feedback") == []
    r.at(due)
    assert fb.level == 1 and r.escalations("feedback") == [Role.dept_head]
    assert [n.department for n in r.notices() if r.about(n, "feedback") and n.message.level] == ["工程部"]
    assert r.case.state.overdue(r.ctx().now)
    expected = [(datetime(2026, 11, 27, 10, tzinfo=CST), 2, Role.cs_manager),   # Friday
                (datetime(2026, 11, 30, 10, tzinfo=CST), 3, Role.deputy_gm),    # weekend skipped
                (datetime(2026, 12, 1, 10, tzinfo=CST), 4, Role.gm)]
    for when, level, role in expected:
        r.effects.clear()
        r.at(when - timedelta(seconds=1))
        assert fb.level == level - 1
        r.at(when)
        assert fb.level == level and r.escalations("feedback") == [role]
    assert fb.next_step_at is None                                  # gm is the top: no level 5
    r.effects.clear()
    r.at(datetime(2026, 12, 10, 10, tzinfo=CST))
    assert fb.level == 4 and r.case.state.escalation_level == 4
    assert r.escalations("feedback") == []
    assert len([t for t in r.case.state.timeline if t.kind == "escalation" and "工程部反馈" in t.text]) == 4  # E3


def test_E1_catching_up_after_downtime_sends_every_missed_step():
    r = Run().classified()
    r.effects.clear()
    r.at(datetime(2026, 11, 30, 12, tzinfo=CST))  # worker was down from Thursday to Monday
    assert r.case.deadline("dept_feedback").level == 3
    assert r.escalations("feedback") == [Role.dept_head, Role.cs_manager, Role.deputy_gm]


def test_E1_meeting_a_deadline_stops_its_escalation():
    r = Run().classified()
    r.at(r.due("dept_feedback") + timedelta(minutes=5))
    r.do(Role.dept_head, A.AssignHandler(action="assign_handler", handler="h"))
    r.do(Role.dept_head, A.DepartmentFeedback(action="department_feedback", findings="x"))
    assert r.case.deadline("dept_feedback").state == "met_late"
    r.effects.clear()
    r.at(datetime(2026, 11, 27, 10, 30, tzinfo=CST))
    assert r.escalations("feedback") == []


def test_C8_E2_major_complaint_reported_at_once_and_starts_at_deputy_gm():
    r = Run(major=True)
    s = r.case.state
    assert s.major and s.escalation_level == 3
    assert [n.roles for n in r.notices()] == [[Role.gm, Role.deputy_gm]]
    r.effects.clear()
    r.classified()
    assert [n.roles for n in r.notices() if n.reason == "C8 major complaint"] == [[Role.dept_head]]
    r.effects.clear()
    r.at(r.due("dept_feedback"))
    assert r.escalations("feedback") == [Role.gm]


def test_C8_group_complaint_is_major():
    assert Run(group_complaint=True).case.state.major


def test_C8_major_solution_needs_the_meeting_gm_approval_and_report_before_close():
    r = Run(major=True).investigated()
    propose = A.ProposeSolution(action="propose_solution", solution="全楼排查")
    assert "记录会议" in r.refused(Role.dept_handler, propose, "li.handler").message
    r.do(Role.cs_manager, A.RecordMeeting(action="record_meeting", minutes="紧急会议决定全楼排查",
                                          attendees=[Role.gm, Role.deputy_gm, Role.dept_head]))
    r.do(Role.dept_handler, propose, "li.handler")
    assert r.refused(Role.cs_manager, A.Decide(action="decide", decision="approve")).kind == "forbidden"
    r.do(Role.gm, A.Decide(action="decide", decision="approve"))
    r.do(Role.cs_staff, A.InformCustomer(action="inform_customer", message="全楼排查"))
    r.do(Role.cs_staff, A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=3))
    r.do(Role.cs_staff, A.Summarise(action="summarise", summary="s", corrective_measures="c", preventive_measures="p"))
    assert r.case.state.status == "summary_review"
    r.do(Role.gm, A.Decide(action="decide", decision="approve"))
    close = A.Close(action="close", outcome_note="done")
    assert "专题报告" in r.refused(Role.cs_manager, close).message
    r.do(Role.cs_manager, A.FileSpecialReport(action="file_special_report", report="专题报告"))
    r.do(Role.cs_manager, close)
    assert r.case.state.status == "closed"


def test_C9_authority_referral_needs_the_in_person_answer_and_report():
    r = Run(channel=Channel.authority_referral)
    assert r.case.state.major  # authority involvement makes it major (C8)
    r.do(Role.cs_manager, A.RecordMeeting(action="record_meeting", minutes="m", attendees=[Role.gm]))
    r.do(Role.cs_manager, A.FileSpecialReport(action="file_special_report", report="r"))
    r.investigated()
    r.do(Role.dept_handler, A.ProposeSolution(action="propose_solution", solution="s"), "li.handler")
    r.do(Role.gm, A.Decide(action="decide", decision="approve"))
    r.do(Role.cs_staff, A.InformCustomer(action="inform_customer", message="m"))
    r.do(Role.cs_staff, A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=5))
    r.do(Role.cs_staff, A.Summarise(action="summarise", summary="s", corrective_measures="c", preventive_measures="p"))
    r.do(Role.gm, A.Decide(action="decide", decision="approve"))
    close = A.Close(action="close", outcome_note="done")
    assert "主管部门" in r.refused(Role.cs_manager, close).message
    reply = A.AuthorityReply(action="authority_reply", answered_in_person_at=datetime(2026, 11, 24, 15, tzinfo=CST),
                             written_report="书面汇报")
    assert r.refused(Role.cs_staff, reply).kind == "forbidden"
    r.do(Role.cs_manager, reply).do(Role.cs_manager, close)
    assert r.case.state.status == "closed"


def test_C9_authority_reply_only_for_referrals():
    reply = A.AuthorityReply(action="authority_reply", answered_in_person_at=MONDAY_10, written_report="x")
    assert Run().refused(Role.cs_manager, reply).kind == "conflict"


def test_C5_E4_a_progress_note_due_does_not_wake_the_case_the_register_reminds():
    r = Run()
    assert r.s.rules_version == CURRENT_RULES_VERSION
    r.effects.clear()
    assert r.case.next_wakeup() == r.due("opinion")            # C4 in 3 working days, not C5 in 4 hours
    r.at(datetime(2026, 11, 24, 17, 0, tzinfo=CST))            # two progress notes overdue
    progress = r.case.deadline("progress")
    assert r.notices() == [] and not progress.missed and progress.state == "open"
    assert not r.s.timeline[-1].text.startswith("已逾期")        # nothing written while nobody acted
    assert not r.s.overdue(r.ctx().now)
    from aftersales.views import case_view
    view = case_view(r.s, r.ctx().now, LADDER)                 # the view reads it as missed all the same
    assert [d["state"] for d in view["deadlines"] if d["key"] == "progress"] == ["missed"] and not view["overdue"]
    r.do(Role.butler, A.ProgressNote(action="progress_note", note="已联系工程部"))
    assert [d.state for d in r.s.deadlines if d.key == "progress"] == ["met_late", "open"]
    assert r.due("progress") == datetime(2026, 11, 25, 12, 0, tzinfo=CST)  # 17:00 + 4 working hours


def test_C11_early_warning_notifies_cs_manager():
    r = Run()
    r.effects.clear()
    r.case.record_early_warning(r.ctx(), 3, 7)
    assert r.case.state.early_warning.endswith("7 天内已有 3 件投诉")
    assert [n.roles for n in r.case.take_effects()] == [[Role.cs_manager]]


def test_actions_of_another_case_type_or_closed_case_are_conflicts():
    r = Run().do(Role.cs_staff, A.Classify(action="classify", category="c", department="d", justified=False, reply="r"))
    r.do(Role.cs_manager, A.Decide(action="decide", decision="approve"))                  # C2: cs_manager rules
    assert r.refused(Role.cs_staff, A.ProgressNote(action="progress_note", note="x")).kind == "conflict"


def test_T4_fallback_year_is_noted_on_the_case():
    r = Run(at=datetime(2026, 12, 29, 10, 0, tzinfo=CST))
    kinds = [t.text for t in r.case.state.timeline if t.kind == "calendar"]
    assert kinds and "2027" in kinds[0] and "T4" in kinds[0]


def test_T2_C6_seven_days_ending_in_the_national_day_holiday_end_on_the_next_working_day():
    """Filed 2026-09-30 10:00: 7 calendar days end on 7 October, a holiday; C6 is due 8 October 10:00,
    and nothing is missed or escalated during the holiday."""
    r = Run(at=datetime(2026, 9, 30, 10, 0, tzinfo=CST))
    assert r.due("close") == datetime(2026, 10, 8, 10, 0, tzinfo=CST)
    r.at(datetime(2026, 10, 7, 23, 59, tzinfo=CST))
    assert not r.case.deadline("close").missed
    assert not [n for n in r.notices() if "complaint closed" in n.subject]
    r.at(datetime(2026, 10, 8, 10, 0, tzinfo=CST))
    assert r.case.deadline("close").missed


def test_E4_deadlines_missed_together_give_each_level_one_message_naming_them_all():
    r = Run().classified()                              # C3 feedback and C4 opinion both due Thu 26th 10:00
    assert r.due("dept_feedback") == r.due("opinion")
    r.effects.clear()
    r.at(r.due("opinion"))
    [n] = [n for n in r.notices() if n.reason.startswith("E1")]
    assert n.roles == [Role.dept_head] and n.message.level == 1
    assert {i.key for i in n.message.items} == {"opinion", "dept_feedback"}
    assert "处理意见答复客户" in n.subject and "责任部门反馈" in n.subject
    assert r.case.state.overdue(r.ctx().now)            # a case deadline missed: overdue


def test_the_temporal_ui_details_name_open_deadlines_due_in_beijing_time():
    """What ops read on a case in the Temporal Web UI (its current details, set at each projection): status,
    department and handler, and each open deadline with its rule and due time in Beijing time; met ones
    are gone."""
    from aftersales.views import case_row
    from workflows.case_workflow import CaseWorkflow

    def details(r: Run) -> str:
        return CaseWorkflow._details(case_row(r.s, r.now, LADDER), r.s, LADDER)
    r = Run().classified()
    assert f"**{r.s.case_no}** · complaint · **" in details(r) and "Department: 工程部" in details(r)
    # C3: 3 working days from Monday 10:00 (Beijing)
    assert "(C3): due 2026-11-26 10:00 Beijing time — open" in details(r)
    r.do(Role.dept_head, A.AssignHandler(action="assign_handler", handler="li.handler"))
    r.do(Role.dept_handler, A.DepartmentFeedback(action="department_feedback", findings="x"), "li.handler")
    assert "handler: li.handler" in details(r)
    assert "(C3)" not in details(r)  # met
    assert "(C4): due 2026-11-24 10:00 Beijing time — open" in details(r)
