"""The repair procedure R1–R9, approvals A1–A3 and escalation E1 as pure rules (no Temporal)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from aftersales import actions as A
from aftersales.case import Ctx, Customer
from aftersales.errors import Rejection
from aftersales.repair import RepairCase
from aftersales.repair.state import CASE_NO_PREFIX, DepositDeduction, ParentUpdate, RepairIntake, RepairStatus, WorkerScores
from aftersales.approvals import route_repair_cost
from aftersales.money import DeductionOutcome
from aftersales.roles import Role

from tests.rules.driver import CAL, CST, LADDER, MONDAY_10, CaseRun, who  # noqa: F401

CASE_NO = f"{CASE_NO_PREFIX}-2026-000001"
R = Role


def intake(**kw) -> RepairIntake:
    base = dict(customer=Customer(name="李先生", phone="13812341234", project="融侨城", building="5栋", unit="1203"),
                trades=["水电"], description="厨房水管漏水", requested_appointment=MONDAY_10 + timedelta(hours=4))
    return RepairIntake(**{**base, **kw})


def survey(estimate="300", order_type="B", multi_trade=False, contractor_id="C-001") -> A.RecordSurvey:
    return A.RecordSurvey(action="record_survey", responsible_party="维修队", contractor_id=contractor_id,
                          multi_trade=multi_trade, estimate=Decimal(estimate), order_type=order_type)


SIGN = A.SignSurvey(action="sign_survey")
APPROVE = A.Decide(action="decide", decision="approve")


def dispatch(*workers: str, to_contractor=False) -> A.Dispatch:
    return A.Dispatch(action="dispatch", workers=list(workers or ["wang.worker"]), to_contractor=to_contractor)


def inspect(passed=True, note=None) -> A.Inspect:
    return A.Inspect(action="inspect", passed=passed, note=note)


class Run(CaseRun):
    """Drives one repair through time and actions, collecting effects."""

    def open_case(self, ctx: Ctx, **kw):
        return RepairCase.open(CASE_NO, intake(**kw), who(R.hotline), ctx)

    def escalations(self, label_part: str) -> list[Role]:
        return [n.roles[0] for n in self.notices() if n.reason.startswith("E1") and self.about(n, label_part)]

    def waiting_for(self) -> list[Role]:
        approval = self.case.pending_approval()
        return [st.role for st in approval.steps] if approval else []

    # the path, step by step
    def scheduled(self, at: datetime | None = None):
        return self.do(R.cs_staff, A.AgreeAppointment(action="agree_appointment", told_via="phone", appointment_at=at or self.now))

    def signed(self):
        for role in list(self.s.survey.missing_roles):
            self.do(role, SIGN)
        return self

    def approve_all(self):
        while (approval := self.case.pending_approval()) is not None:
            self.do(approval.current().role, APPROVE)
        return self

    def surveyed(self, **kw):
        return self.do(R.engineering, survey(**kw)).signed().approve_all()

    def dispatched(self, *workers: str, to_contractor=False, **kw):
        return self.surveyed(**kw).do(R.engineering if to_contractor else R.cs_staff,
                                      dispatch(*workers, to_contractor=to_contractor))

    def inspected(self, **kw):
        self.dispatched(**kw).do(R.repair_lead, A.CompleteWork(action="complete_work", note="换了水管"))
        return self.do(R.cs_staff, inspect()).do(R.repair_lead, inspect())

    def signed_off(self, quality=4, attitude=5, **kw):
        return self.inspected(**kw).do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=quality,
                                                                 attitude=attitude))

    def revisited(self, satisfaction=5, quality=5, attitude=4, follow_up=None, **kw):
        return self.signed_off(**kw).do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=satisfaction,
                                                              quality=quality, attitude=attitude, follow_up=follow_up))

    def settling(self, amount="300", **kw):
        return self.revisited(**kw).do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal(amount),
                                                                      note="材料+人工"))


# ---- R1: intake, appointment, arrival ---------------------------------------------------------
def test_R1_intake_registers_the_repair_with_survey_and_progress_deadlines():
    r = Run()
    s = r.s
    assert s.case_no.startswith("WX") and s.case_type == "repair" and s.status == RepairStatus.registered
    assert s.trades == ["水电"] and s.customer.building == "5栋" and not s.paid_service
    assert r.due("survey") == datetime(2026, 11, 24, 10, 0, tzinfo=CST)    # R2: 1 working day
    assert r.due("progress") == datetime(2026, 11, 23, 14, 0, tzinfo=CST)  # S3: 4 working hours
    assert r.case.deadline("progress").rule == "R1/S3" and not r.case.deadline("progress").escalates
    assert s.timeline[0].kind == "intake"


def test_R1_intake_validates_trades():
    with pytest.raises(ValueError):
        intake(trades=[])
    with pytest.raises(ValueError):
        intake(trades=[f"t{i}" for i in range(11)])


def test_R1_S3_butler_progress_reply_every_4_working_hours_without_escalating():
    r = Run()
    r.effects.clear()
    assert r.case.next_wakeup() == r.due("survey")  # E4: the register reminds of progress, not the case
    r.at(datetime(2026, 11, 23, 14, 0, tzinfo=CST))
    assert r.notices() == [] and r.case.deadline("progress").state == "open"
    assert r.case.deadline("progress").level == 0 and not r.s.overdue(r.ctx().now)
    r.do(R.butler, A.ProgressNote(action="progress_note", note="已约好上门"))
    assert r.s.progress_notes == 1 and r.due("progress") == datetime(2026, 11, 23, 18, 0, tzinfo=CST)
    assert r.refused(R.engineering, A.ProgressNote(action="progress_note", note="x")).kind == "forbidden"


def test_R1_appointment_is_agreed_by_hotline_cs_staff_or_butler():
    r = Run()
    agree = A.AgreeAppointment(action="agree_appointment", told_via="phone", appointment_at=MONDAY_10 + timedelta(hours=4))
    assert r.refused(R.repair_lead, agree).kind == "forbidden"
    r.do(R.butler, agree)
    assert r.s.status == RepairStatus.scheduled and r.s.appointment_at == MONDAY_10 + timedelta(hours=4)


def test_R1_arrival_needs_an_agreed_appointment():
    r = Run()
    arrival = A.RecordArrival(action="record_arrival", arrived_at=MONDAY_10, owner_contacted=False)
    assert r.refused(R.repair_lead, arrival).kind == "conflict"
    r.scheduled(MONDAY_10)
    assert r.refused(R.cs_staff, arrival).kind == "forbidden"
    r.do(R.repair_lead, arrival)
    assert r.refused(R.repair_lead, arrival).kind == "conflict"   # one arrival per appointment


@pytest.mark.parametrize("late, contacted, flagged", [
    (timedelta(minutes=5), False, False),
    (timedelta(minutes=10), False, False),                 # exactly 10 minutes is still on time
    (timedelta(minutes=10, seconds=1), False, True),
    (timedelta(minutes=11), False, True),
    (timedelta(minutes=40), True, False),                  # late, but the owner was contacted: recorded only
])
def test_R1_late_arrival_flagged_only_after_10_minutes_without_contacting_the_owner(late, contacted, flagged):
    appointment = MONDAY_10 + timedelta(hours=2)
    r = Run().scheduled(appointment)
    r.effects.clear()
    r.now = appointment + late                                # recorded when the worker is there (R1)
    r.do(R.repair_lead, A.RecordArrival(action="record_arrival", arrived_at=appointment + late,
                                        owner_contacted=contacted))
    s = r.s
    assert s.late_arrival is flagged and s.late_arrivals == int(flagged)
    assert [n.roles for n in r.notices() if n.reason == "R1 late arrival"] == ([[R.cs_manager]] if flagged else [])
    assert any(t.kind == "late_arrival" for t in s.timeline) is flagged
    if contacted:
        assert "已事先联系业主" in s.timeline[-1].text


def test_R1_late_arrivals_are_counted():
    appointment = MONDAY_10 + timedelta(hours=2)
    r = Run().scheduled(appointment)
    r.now = appointment + timedelta(minutes=30)
    r.do(R.repair_lead, A.RecordArrival(action="record_arrival", arrived_at=appointment + timedelta(minutes=30)))
    r.scheduled(appointment + timedelta(days=1))
    arrival = A.RecordArrival(action="record_arrival", arrived_at=appointment + timedelta(days=1, minutes=15))
    r.now = appointment + timedelta(days=1, minutes=20)
    assert r.refused(R.contractor, arrival).kind == "forbidden"  # no survey names a contractor yet (P1)
    r.do(R.engineering, arrival)
    assert r.s.late_arrivals == 2 and len(r.s.arrivals) == 2


@pytest.mark.parametrize("field, offset, refused", [
    ("appointment_at", -timedelta(minutes=10, seconds=1), True),   # in the past beyond the 10-minute tolerance
    ("appointment_at", -timedelta(minutes=10), False),
    ("appointment_at", timedelta(days=3), False),
    ("arrived_at", timedelta(minutes=10, seconds=1), True),        # in the future beyond the tolerance
    ("arrived_at", timedelta(minutes=10), False),
    ("arrived_at", -timedelta(hours=5), False),                    # recorded afterwards: fine
])
def test_R1_appointments_to_come_and_arrivals_gone_within_the_tolerance(field, offset, refused):
    r = Run()
    if field == "appointment_at":
        role, action = R.cs_staff, A.AgreeAppointment(action="agree_appointment", told_via="phone", appointment_at=r.now + offset)
    else:
        role, action = R.repair_lead, A.RecordArrival(action="record_arrival", arrived_at=r.scheduled().now + offset)
    if refused:
        rejection = r.refused(role, action)
        assert rejection.kind == "invalid" and rejection.message.startswith(f"{field}：")
        assert ("已经过去" if field == "appointment_at" else "尚未到来") in rejection.message
    else:
        r.do(role, action)


def test_R1_the_clock_tolerance_is_a_setting():
    from aftersales.case import not_in_the_past
    from aftersales.errors import Rejection
    hour = timedelta(minutes=60)
    not_in_the_past("appointment_at", MONDAY_10 - timedelta(minutes=59), MONDAY_10, hour)
    with pytest.raises(Rejection):
        not_in_the_past("appointment_at", MONDAY_10 - timedelta(minutes=61), MONDAY_10, hour)


# ---- R2: survey --------------------------------------------------------------------------------
def test_R2_survey_due_in_1_working_day_and_met_when_co_signed():
    r = Run()
    assert r.due("survey") == datetime(2026, 11, 24, 10, 0, tzinfo=CST)
    r.do(R.cs_staff, survey("0"))
    assert r.case.deadline("survey").state == "open"
    r.signed()
    assert r.case.deadline("survey").state == "met"
    assert r.s.status == RepairStatus.surveyed and r.s.approvals == []   # nothing to approve at 0 yuan


def test_R2_T2_survey_received_friday_evening_is_due_tuesday_opening():
    r = Run(at=datetime(2026, 11, 27, 20, 30, tzinfo=CST))
    assert r.due("survey") == datetime(2026, 12, 1, 9, 0, tzinfo=CST)


@pytest.mark.parametrize("estimate, contractor_signs", [
    ("0", False), ("499", False), ("499.99", False), ("500", False), ("500.01", True), ("501", True), ("8000", True)])
def test_R2_contractor_co_signs_above_500_yuan(estimate, contractor_signs):
    """R2: 500元以下 includes 500: at 500.00 the contractor need not attend, from 500.01 it signs."""
    r = Run().do(R.engineering, survey(estimate))
    expected = [R.cs_staff, R.engineering, R.repair_lead] + ([R.contractor] if contractor_signs else [])
    assert r.s.survey.required_roles == expected
    if not contractor_signs:
        assert r.refused(R.contractor, SIGN).kind == "conflict"


def test_R2_every_survey_party_signs_with_its_own_role_others_refused():
    r = Run().do(R.engineering, survey("800"))
    for role in (R.hotline, R.butler, R.cs_manager, R.finance, R.gm, R.auditor):
        assert r.refused(role, SIGN).kind == "forbidden"              # not a survey party at all
    r.do(R.cs_staff, SIGN, "zhang.cs")
    assert r.refused(R.cs_staff, SIGN, "other.cs").kind == "conflict"  # cs_staff already signed
    assert r.refused(R.engineering, SIGN, "zhang.cs").kind == "forbidden"  # one account, one party
    r.do(R.engineering, SIGN, "liu.eng").do(R.repair_lead, SIGN, "chen.lead")
    assert r.s.status == RepairStatus.surveying and r.s.survey.missing_roles == [R.contractor]
    r.do(R.contractor, SIGN, "jian.contractor")
    assert [(x.role, x.by) for x in r.s.survey.signatures] == [
        (R.cs_staff, "zhang.cs"), (R.engineering, "liu.eng"), (R.repair_lead, "chen.lead"),
        (R.contractor, "jian.contractor")]
    assert r.s.status == RepairStatus.cost_approval
    assert r.refused(R.contractor, SIGN, "x").kind == "conflict"      # nothing left to sign


def test_R2_re_recording_the_survey_clears_the_signatures():
    r = Run().do(R.engineering, survey("800")).do(R.cs_staff, SIGN).do(R.engineering, SIGN)
    r.do(R.engineering, survey("300"))
    assert r.s.survey.signatures == [] and r.s.survey.round == 2
    assert r.s.survey.missing_roles == [R.cs_staff, R.engineering, R.repair_lead]
    assert r.refused(R.hotline, survey()).kind == "forbidden"


def test_R3_type_A_survey_needs_the_contractor():
    with pytest.raises(ValueError, match="contractor"):
        A.RecordSurvey(action="record_survey", responsible_party="x", multi_trade=False, estimate=Decimal("1"),
                       order_type="A")


def test_money_is_decimal_with_two_places():
    assert survey("12.50").estimate == Decimal("12.50")
    with pytest.raises(ValueError):
        survey("12.345")
    with pytest.raises(ValueError):
        survey("-1")


# ---- A1: repair cost approval ---------------------------------------------------------------
@pytest.mark.parametrize("estimate, approvers", [
    ("499", [R.cs_manager]),
    ("500", [R.cs_manager]),
    ("501", [R.cs_manager]),
    ("999", [R.cs_manager]),
    ("1000", [R.cs_manager]),
    ("1001", [R.deputy_chief_engineer, R.deputy_gm]),
    ("9999", [R.deputy_chief_engineer, R.deputy_gm]),
    ("10000", [R.deputy_chief_engineer, R.deputy_gm]),
    ("10001", [R.deputy_chief_engineer, R.deputy_gm, R.gm]),
])
def test_A1_cost_approvers_by_amount_through_the_machine(estimate, approvers):
    r = Run().do(R.engineering, survey(estimate)).signed()
    approval = r.case.pending_approval()
    assert approval.purpose == "repair_cost" and approval.rule == "A1" and approval.amount == Decimal(estimate)
    assert r.waiting_for() == approvers and r.s.status == RepairStatus.cost_approval
    for role in approvers:
        for other in (R.cs_staff, R.repair_lead, R.finance, *[a for a in approvers if a != role]):
            assert r.refused(other, APPROVE).kind == "forbidden"
        r.do(role, APPROVE)
    assert approval.status == "approved" and r.s.status == RepairStatus.surveyed


def test_A1_work_refused_before_the_survey_and_before_approval():
    r = Run()
    assert "查勘" in r.refused(R.cs_staff, dispatch()).message
    r.do(R.engineering, survey("5000")).signed()
    e = r.refused(R.cs_staff, dispatch())
    assert e.kind == "conflict" and "A1" in e.message
    r.do(R.deputy_chief_engineer, APPROVE)
    assert "A1" in r.refused(R.cs_staff, dispatch()).message      # reviewed, not yet approved
    r.do(R.deputy_gm, APPROVE).do(R.cs_staff, dispatch())
    assert r.s.status == RepairStatus.in_progress


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_A1_rejected_cost_sends_the_survey_back_to_be_re_recorded(decision):
    r = Run().do(R.engineering, survey("800")).signed()
    r.do(R.cs_manager, A.Decide(action="decide", decision=decision, reason="估价过高"))
    assert r.s.status == RepairStatus.survey_returned and r.s.survey.signatures == []
    assert r.refused(R.cs_staff, SIGN).kind == "conflict"
    assert r.refused(R.cs_staff, dispatch()).kind == "conflict"
    r.do(R.engineering, survey("600")).signed()
    assert r.case.pending_approval().id == "cost-2"
    r.do(R.cs_manager, APPROVE)
    assert r.s.status == RepairStatus.surveyed


# ---- R4/R5: dispatch and the work deadline ------------------------------------------------------
@pytest.mark.parametrize("dispatched_at, multi_trade, due", [
    # Thursday: the weekend is skipped
    (datetime(2026, 11, 26, 10, 0, tzinfo=CST), False, datetime(2026, 12, 1, 10, 0, tzinfo=CST)),
    (datetime(2026, 11, 26, 10, 0, tzinfo=CST), True, datetime(2026, 12, 7, 10, 0, tzinfo=CST)),
    # Tuesday before National Day: Oct 1–7 off, Saturday Oct 10 is a make-up working day
    (datetime(2026, 9, 29, 10, 0, tzinfo=CST), False, datetime(2026, 10, 9, 10, 0, tzinfo=CST)),
    (datetime(2026, 9, 29, 10, 0, tzinfo=CST), True, datetime(2026, 10, 14, 10, 0, tzinfo=CST)),
])
def test_R4_work_due_3_working_days_single_trade_7_multi_trade(dispatched_at, multi_trade, due):
    r = Run(at=dispatched_at).dispatched(multi_trade=multi_trade)
    d = r.case.deadline("work")
    assert r.due("work") == due and d.rule == "R4" and d.escalates


def test_R5_contractor_dispatch_only_by_engineering_same_deadline():
    r = Run(at=datetime(2026, 11, 26, 10, 0, tzinfo=CST)).surveyed(order_type="A", estimate="800")
    e = r.refused(R.cs_staff, dispatch("jian.worker", to_contractor=True))
    assert e.kind == "forbidden" and "R5" in e.message
    assert r.refused(R.contractor, dispatch("jian.worker")).kind == "forbidden"
    r.effects.clear()
    r.do(R.engineering, dispatch("jian.worker", to_contractor=True))
    assert r.s.to_contractor and r.due("work") == datetime(2026, 12, 1, 10, 0, tzinfo=CST)
    assert r.case.deadline("work").owners == [R.engineering, R.contractor]
    assert [(n.roles, n.usernames) for n in r.notices() if n.reason == "R4 dispatch"] == [
        ([R.contractor], ["jian.worker"])]


def test_R4_dispatch_validates_the_workers():
    with pytest.raises(ValueError):
        A.Dispatch(action="dispatch", workers=[])
    with pytest.raises(ValueError):
        A.Dispatch(action="dispatch", workers=["a", "a"])


# ---- R8: extension ------------------------------------------------------------------------------
def extend(new_due: datetime, consent="业主电话同意 (王女士 13:05)") -> A.ExtendDeadline:
    return A.ExtendDeadline(action="extend_deadline", told_via="phone", new_due_at=new_due, owner_consent=consent)


def test_R8_extension_before_the_due_time_with_the_owners_consent():
    r = Run().dispatched()
    due = r.due("work")                                      # Thursday 26th 10:00
    later = due + timedelta(days=4)
    assert r.refused(R.repair_lead, extend(later)).kind == "forbidden"
    r.at(due - timedelta(minutes=1)).do(R.cs_manager, extend(later))
    d = r.case.deadline("work")
    assert r.due("work") == later and d.extensions[0].from_due_at == due and "王女士" in d.extensions[0].reason
    assert d.extensions[0].by == "cs_manager" and r.s.timeline[-1].kind == "deadline_extended"
    r.effects.clear()
    r.at(due + timedelta(hours=1))
    assert r.escalations("work") == [] and not d.missed       # the old due time no longer counts


def test_R8_extension_after_the_due_time_is_refused():
    r = Run().dispatched()
    due = r.due("work")
    r.at(due)
    e = r.refused(R.cs_staff, extend(due + timedelta(days=3)))
    assert e.kind == "conflict" and e.message == "期限已过，不能延期（R8）"
    r2 = Run().dispatched()
    r2.now = due + timedelta(minutes=1)                        # not ticked yet: still refused
    assert r2.refused(R.cs_staff, extend(due + timedelta(days=3))).message == "期限已过，不能延期（R8）"


def test_R8_extension_must_move_the_deadline_later():
    r = Run().dispatched()
    due = r.due("work")
    assert r.refused(R.cs_staff, extend(due - timedelta(hours=1))).kind == "invalid"
    assert r.refused(R.cs_staff, extend(due)).kind == "invalid"


def test_R8_T5_extension_needs_open_work():
    r = Run().surveyed()
    assert r.refused(R.cs_staff, extend(MONDAY_10 + timedelta(days=9))).kind == "conflict"


# ---- R6: completion and inspection -----------------------------------------------------------
def test_R6_failed_inspection_sends_the_work_back_with_the_same_due():
    r = Run().dispatched()
    due = r.due("work")
    done = A.CompleteWork(action="complete_work", note="done")
    assert r.refused(R.cs_staff, done).kind == "forbidden"
    assert r.refused(R.cs_staff, inspect()).kind == "conflict"  # nothing to inspect yet
    r.do(R.repair_lead, done)
    assert r.s.status == RepairStatus.awaiting_inspection
    r.do(R.repair_lead, inspect())
    assert r.refused(R.repair_lead, inspect()).kind == "conflict"  # each role records its own, once
    assert r.refused(R.engineering, inspect()).kind == "forbidden"
    r.do(R.cs_staff, inspect(False, "接口仍渗水"))
    assert r.s.status == RepairStatus.in_progress and r.s.inspections == [] and r.s.failed_inspections == 1
    assert r.due("work") == due and r.case.deadline("work").state == "open"
    assert r.refused(R.contractor, done).kind == "forbidden"  # the work went to the repair team (R5, P1)
    r.do(R.engineering, done).do(R.cs_staff, inspect())
    assert r.s.status == RepairStatus.awaiting_inspection
    r.do(R.repair_lead, inspect())
    assert r.s.status == RepairStatus.inspected and r.case.deadline("work").state == "met"


def test_R6_failed_inspection_needs_a_note():
    with pytest.raises(ValueError):
        A.Inspect(action="inspect", passed=False)


def test_R6_owner_signs_off_after_both_inspections():
    r = Run().dispatched().do(R.repair_lead, A.CompleteWork(action="complete_work", note="x")).do(R.cs_staff, inspect())
    sign_off = A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=4, attitude=5)
    assert r.refused(R.butler, sign_off).kind == "conflict"
    r.do(R.repair_lead, inspect())
    assert r.refused(R.repair_lead, sign_off).kind == "forbidden"
    r.do(R.butler, sign_off)
    assert r.s.status == RepairStatus.completed and r.case.deadline("progress").state in ("met", "met_late")


# ---- R7/R9: revisit -----------------------------------------------------------------------------
def test_R7_revisit_due_1_working_day_after_sign_off():
    r = Run(at=datetime(2026, 11, 27, 10, 0, tzinfo=CST)).signed_off()   # Friday
    assert r.due("revisit") == datetime(2026, 11, 30, 10, 0, tzinfo=CST)
    assert r.case.deadline("revisit").rule == "R7"
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))
    assert r.case.deadline("revisit").state == "met" and r.s.status == RepairStatus.revisited
    assert r.s.satisfaction == 5


def test_R7_dissatisfied_owner_needs_a_follow_up():
    with pytest.raises(ValueError, match="follow_up"):
        A.Revisit(action="revisit", told_via="phone", satisfaction=2, quality=3, attitude=3)
    A.Revisit(action="revisit", told_via="phone", satisfaction=3, quality=3, attitude=3)   # 3 is not dissatisfied
    r = Run().signed_off()
    bad = A.Revisit.model_construct(action="revisit", told_via="phone", satisfaction=1, quality=1, attitude=1, note=None, follow_up=None)
    assert r.refused(R.cs_staff, bad).kind == "invalid"                  # the machine checks too


def test_R7_reopen_sends_the_work_back_with_a_new_deadline_from_now():
    r = Run().signed_off()
    first_due = r.due("work")
    r.at(datetime(2026, 11, 26, 15, 0, tzinfo=CST))                        # Thursday afternoon
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=1, quality=2, attitude=3, note="还漏", follow_up="reopen"))
    assert r.s.status == RepairStatus.in_progress and r.s.work_round == 2
    assert r.due("work") == datetime(2026, 12, 1, 15, 0, tzinfo=CST) != first_due
    assert r.case.deadline("progress").state == "open"                    # owner gets progress replies again
    assert [n.roles for n in r.notices() if n.reason == "R7/V3 dissatisfied owner"] == [[R.cs_manager]]
    r.do(R.repair_lead, A.CompleteWork(action="complete_work", note="重做")).do(R.cs_staff, inspect())
    r.do(R.repair_lead, inspect()).do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5))
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))
    assert r.s.status == RepairStatus.revisited and len(r.s.revisits) == 2


def test_R7_V3_cs_manager_follow_up_is_due_in_1_working_day():
    r = Run().signed_off()
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=2, quality=3, attitude=3,
                               follow_up="cs_manager_follow_up"))
    assert r.s.status == RepairStatus.follow_up
    assert r.due("follow_up") == r.now + timedelta(days=1) and r.case.deadline("follow_up").owners == [R.cs_manager]
    cost = A.CostStatement(action="cost_statement", amount=Decimal("100"), note="x")
    assert r.refused(R.repair_lead, cost).kind == "conflict"              # settlement waits for the follow-up
    assert r.refused(R.cs_staff, A.FollowUp(action="follow_up", note="x")).kind == "forbidden"
    r.do(R.cs_manager, A.FollowUp(action="follow_up", note="经理上门致歉"))
    assert r.s.status == RepairStatus.revisited and r.case.deadline("follow_up").state == "met"
    r.do(R.repair_lead, cost)


def test_R9_every_evaluation_is_kept_one_per_sign_off_and_per_revisit():
    r = Run()
    r.surveyed().do(R.cs_staff, dispatch("wang.worker", "zhao.worker"))
    r.do(R.repair_lead, A.CompleteWork(action="complete_work", note="x")).do(R.cs_staff, inspect())
    r.do(R.repair_lead, inspect()).do(R.cs_staff, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=4, attitude=3))
    [sign_off] = r.of(WorkerScores)
    assert (sign_off.source, sign_off.quality, sign_off.attitude) == ("sign_off", 4, 3)
    assert sign_off.workers == ["wang.worker", "zhao.worker"] and sign_off.at == r.ctx().now
    assert sign_off.key == f"{CASE_NO}:round-1:sign_off"
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=4, quality=5, attitude=2))
    [_, revisit] = r.of(WorkerScores)
    assert (revisit.source, revisit.quality, revisit.attitude, revisit.key) == ("revisit", 5, 2,
                                                                                 f"{CASE_NO}:round-1:revisit")


def test_R9_a_reopened_repair_keeps_the_first_evaluation_and_adds_the_second():
    """Round 1 is scored 1/1 at the sign-off and 1/1 at the revisit (2/2), the owner is dissatisfied and
    the work reopened; round 2 is scored 5/5 and 5/5 (10/10). All four evaluations are kept."""
    r = Run().signed_off(quality=1, attitude=1)
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=1, quality=1, attitude=1, follow_up="reopen"))
    assert r.s.status == RepairStatus.in_progress
    r.do(R.repair_lead, A.CompleteWork(action="complete_work", note="重做")).do(R.cs_staff, inspect())
    r.do(R.repair_lead, inspect()).do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5))
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))
    evaluations = r.of(WorkerScores)
    assert [(e.key.removeprefix(CASE_NO + ":"), e.quality, e.attitude) for e in evaluations] == [
        ("round-1:sign_off", 1, 1), ("round-1:revisit", 1, 1), ("round-2:sign_off", 5, 5), ("round-2:revisit", 5, 5)]
    assert sum(e.quality for e in evaluations[:2]) == 2 and sum(e.quality for e in evaluations[2:]) == 10
    assert [(x.quality, x.attitude) for x in r.s.sign_offs] == [(1, 1), (5, 5)]  # the case keeps both too


# ---- A2/A3: settlement and payment -------------------------------------------------------------
@pytest.mark.parametrize("amount, auditor", [("19999.99", R.cs_manager), ("20000", R.auditor),
                                             ("20000.01", R.auditor)])
def test_A2_settlement_audited_by_cs_manager_below_20000_from_20000_by_auditor(amount, auditor):
    r = Run().settling(amount, estimate=amount)                             # A1 given at the survey
    approval = r.case.pending_approval()
    assert approval.purpose == "settlement" and approval.rule == "A2/A3" and approval.amount == Decimal(amount)
    assert r.s.status == RepairStatus.settlement
    assert r.waiting_for() == [auditor, R.deputy_chief_engineer]           # type B: no contractor step
    assert approval.steps[0].kind == "audit"


def test_A2_cost_statement_only_by_repair_lead_after_the_revisit():
    r = Run().signed_off()
    cost = A.CostStatement(action="cost_statement", amount=Decimal("300"), note="x")
    assert r.refused(R.repair_lead, cost).kind == "conflict"
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))
    assert r.refused(R.cs_staff, cost).kind == "forbidden"


def test_A3_type_A_contractor_confirms_then_deputy_chief_engineer():
    r = Run().settling("25000", order_type="A", estimate="25000")
    approval = r.case.pending_approval()
    assert r.waiting_for() == [R.auditor, R.contractor, R.deputy_chief_engineer]
    assert [st.kind for st in approval.steps] == ["audit", "confirm", "confirm"]
    assert r.refused(R.contractor, APPROVE).kind == "forbidden"            # the auditor asks first
    r.do(R.auditor, APPROVE)
    assert r.refused(R.deputy_chief_engineer, APPROVE).kind == "forbidden"
    r.do(R.contractor, APPROVE).do(R.deputy_chief_engineer, APPROVE)
    assert r.s.status == RepairStatus.awaiting_payment and r.s.settled_amount == Decimal("25000")


@pytest.mark.parametrize("estimate, settlement, order_type, settlement_steps", [
    ("800", "800", "B", 2), ("5000", "20000", "A", 4), ("15000", "25000", "A", 3)])
def test_A4_every_cost_and_settlement_step_refuses_every_other_role(estimate, settlement, order_type,
                                                                    settlement_steps):
    """A1–A4 through the machine: at each pending step every other role is refused (403) and the case
    is unchanged; the named role decides and the next step waits."""
    def decide_each_step_refusing_the_others(r: Run) -> int:
        decided = 0
        while (approval := r.case.pending_approval()) is not None:
            step = approval.current()
            for role in Role:
                if role != step.role:
                    assert r.refused(role, APPROVE).kind == "forbidden", (step.role, role)
            r.do(step.role, APPROVE)
            decided += 1
        return decided

    r = Run().do(R.engineering, survey(estimate, order_type=order_type)).signed()
    assert decide_each_step_refusing_the_others(r) == len(route_repair_cost(Decimal(estimate)))      # A1
    r.do(R.cs_staff, dispatch()).do(R.repair_lead, A.CompleteWork(action="complete_work", note="done"))
    r.do(R.cs_staff, inspect()).do(R.repair_lead, inspect())
    r.do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5))
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))
    r.do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal(settlement), note="决算"))
    assert decide_each_step_refusing_the_others(r) == settlement_steps   # A2, A3 (+ gm for 20,000 over 5,000: A1)
    assert r.s.status == RepairStatus.awaiting_payment


def test_A3_type_B_skips_the_contractor():
    r = Run().settling("300")
    assert r.waiting_for() == [R.cs_manager, R.deputy_chief_engineer]
    r.do(R.cs_manager, APPROVE)
    assert r.refused(R.contractor, APPROVE).kind == "forbidden"
    r.do(R.deputy_chief_engineer, APPROVE)
    assert r.s.status == RepairStatus.awaiting_payment


def test_A2_rejected_settlement_goes_back_to_the_cost_statement():
    r = Run().settling("300").do(R.cs_manager, A.Decide(action="decide", decision="reject", reason="材料单价不符"))
    assert r.s.status == RepairStatus.revisited
    r.do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal("280"), note="改"))
    assert r.case.pending_approval().id == "settlement-2"


def pay(amount: str) -> A.Pay:
    return A.Pay(action="pay", amount=Decimal(amount), reference="PAY-0001")


def test_A3_pay_type_A_done_by_the_contractor_emits_the_deposit_deduction_and_closes():
    r = Run().settling("1200.50", order_type="A", contractor_id="C-042", estimate="800", to_contractor=True)
    r.approve_all()
    assert r.refused(R.cs_manager, pay("1200.50")).kind == "forbidden"
    assert r.refused(R.finance, pay("1200")).kind == "invalid"            # must pay the approved settlement
    r.do(R.finance, pay("1200.50"))
    [deduction] = r.of(DepositDeduction)
    assert deduction == DepositDeduction(entry_key=f"{CASE_NO}:deduction", contractor_id="C-042",
                                         amount=Decimal("1200.50"), case_no=CASE_NO)
    s = r.s
    assert s.status == RepairStatus.closed and s.outcome == "completed" and s.closed_at is not None
    assert all(d.state != "open" for d in s.deadlines)
    assert r.refused(R.finance, pay("1200.50")).kind == "conflict"        # closed


def test_A3_type_A_work_done_by_the_in_house_team_is_not_deducted():
    """A3: only work the contractor is responsible for is deducted: a type-A order the in-house team
    did (not dispatched to the contractor, R5) is paid by the company, the deposit untouched."""
    r = Run().settling("1200.50", order_type="A", contractor_id="C-042", estimate="800").approve_all()
    assert not r.s.to_contractor
    r.do(R.finance, pay("1200.50"))
    assert r.of(DepositDeduction) == [] and r.s.status == RepairStatus.closed
    assert "不扣C-042质量保证金" in r.s.timeline[-2].text and r.s.timeline[-1].kind == "closed"   # O5: then the close


def _outcome(requested: str, deducted: str, balance: str) -> DeductionOutcome:
    return DeductionOutcome(booked_now=True, requested=Decimal(requested), deducted=Decimal(deducted),
                            shortfall=Decimal(requested) - Decimal(deducted), balance=Decimal(balance))


def test_A3_a_deposit_short_of_the_deduction_is_recorded_and_told_to_finance_and_the_contractor():
    r = Run().settling("1200.50", order_type="A", contractor_id="C-042", estimate="800", to_contractor=True)
    r.approve_all().do(R.finance, pay("1200.50"))
    r.effects.clear()
    r.case.record_deduction(r.ctx(), "C-042", _outcome("1200.50", "1050.50", "0"))
    s = r.s
    assert s.status == RepairStatus.closed                                   # the case still closes
    assert (s.deduction.deducted, s.deduction.shortfall, s.deduction.balance) == (
        Decimal("1050.50"), Decimal("150.00"), Decimal("0"))
    [notice] = r.case.take_effects()
    assert notice.roles == [R.finance, R.contractor] and notice.contractor_id == "C-042"
    assert "差额¥150.00" in notice.body and "应扣¥1,200.50" in notice.body
    assert s.timeline[-1].kind == "deposit_shortfall"


def test_A3_a_deduction_the_deposit_covers_tells_nobody():
    r = Run().settling("300", order_type="A", contractor_id="C-042", estimate="300", to_contractor=True)
    r.approve_all().do(R.finance, pay("300"))
    r.effects.clear()
    r.case.record_deduction(r.ctx(), "C-042", _outcome("300", "300", "99700"))
    assert r.case.take_effects() == [] and r.s.deduction.shortfall == 0


def test_A3_pay_type_B_has_no_deposit_deduction():
    r = Run().settling("300").approve_all().do(R.finance, pay("300"))
    assert r.of(DepositDeduction) == [] and r.s.status == RepairStatus.closed


def test_pay_refused_before_the_settlement_is_approved():
    r = Run().settling("300")
    assert r.refused(R.finance, pay("300")).kind == "conflict"


# ---- E1: escalation -------------------------------------------------------------------------------
def test_E1_missed_work_deadline_climbs_the_ladder():
    r = Run().dispatched()
    work = r.case.deadline("work")
    due = r.due("work")                                                   # Thursday 26th 10:00
    r.effects.clear()
    r.at(due - timedelta(minutes=1))
    assert work.level == 0 and r.escalations("work") == []
    r.at(due)
    assert work.level == 1 and r.escalations("work") == [R.dept_head]
    assert [n.department for n in r.notices() if r.about(n, "work") and n.message.level] == ["维修队"]  # the responsible party
    expected = [(datetime(2026, 11, 27, 10, tzinfo=CST), 2, R.cs_manager),
                (datetime(2026, 11, 30, 10, tzinfo=CST), 3, R.deputy_gm),   # weekend skipped
                (datetime(2026, 12, 1, 10, tzinfo=CST), 4, R.gm)]
    for when, level, role in expected:
        r.effects.clear()
        r.at(when)
        assert work.level == level and r.escalations("work") == [role]
    assert work.next_step_at is None and r.s.escalation_level == 4
    assert len([t for t in r.s.timeline if t.kind == "escalation" and "维修完工" in t.text]) == 4


def test_E1_missed_survey_escalates_and_pending_cost_approval_escalates():
    r = Run()
    r.effects.clear()
    r.at(datetime(2026, 11, 24, 10, 0, tzinfo=CST))
    assert r.escalations("survey") == [R.dept_head]
    r.do(R.engineering, survey("800")).signed()
    r.effects.clear()
    r.at(datetime(2026, 11, 25, 10, 0, tzinfo=CST))
    assert r.escalations("approval:") == [R.dept_head]


def test_E1_progress_never_escalates():
    r = Run()
    r.at(datetime(2026, 11, 30, 10, 0, tzinfo=CST))
    assert r.case.deadline("progress").level == 0


# ---- the parent complaint --------------------------------------------------------------------
def test_parent_complaint_is_told_every_status_change():
    r = Run(parent_case_no="TS-2026-000007")
    assert r.s.parent_case_no == "TS-2026-000007"
    assert r.of(ParentUpdate) == [ParentUpdate(parent_case_no="TS-2026-000007", case_no=CASE_NO, status="registered")]
    r.scheduled()
    r.do(R.butler, A.ProgressNote(action="progress_note", note="x"))    # no status change: nothing sent
    r.settling("300").approve_all().do(R.finance, pay("300"))
    statuses = [u.status for u in r.of(ParentUpdate)]
    assert statuses == ["registered", "scheduled", "surveying", "cost_approval", "surveyed", "in_progress",
                        "awaiting_inspection", "inspected", "completed", "revisited", "settlement",
                        "awaiting_payment", "closed"]
    assert all(u.kind == "parent_update" and u.case_no == CASE_NO for u in r.of(ParentUpdate))


def test_no_parent_no_parent_updates():
    r = Run().scheduled()
    assert r.of(ParentUpdate) == []


def test_repair_actions_do_not_apply_to_complaints_and_vice_versa():
    from aftersales.complaint import ComplaintCase
    from aftersales.complaint.state import Channel, ComplaintIntake
    complaint, _ = ComplaintCase.open("TS-1", ComplaintIntake(customer=intake().customer, channel=Channel.phone,
                                                               category="c", description="d"), who(R.hotline),
                                      Run().ctx())
    with pytest.raises(Rejection) as e:
        complaint.apply(SIGN, who(R.cs_staff), Run().ctx())
    assert e.value.kind == "conflict"
    with pytest.raises(Rejection) as e:
        Run().case.apply(A.Close(action="close", outcome_note="x"), who(R.cs_staff), Run().ctx())
    assert e.value.kind == "conflict"


def test_action_union_parses_repair_and_complaint_bodies():
    from pydantic import TypeAdapter
    ta = TypeAdapter(A.CaseAction)
    assert isinstance(ta.validate_python({"action": "sign_survey"}), A.SignSurvey)
    assert isinstance(ta.validate_python({"action": "classify", "category": "c", "department": "d",
                                          "justified": True}), A.Classify)
    assert isinstance(ta.validate_python({"action": "decide", "decision": "approve"}), A.Decide)
