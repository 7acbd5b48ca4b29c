"""C2 (an unjustified complaint closes only after cs_manager rules on it) and a complaint's
compensation routed by the A1 bands, paid by finance before the case closes."""

from decimal import Decimal

import pytest

from aftersales import actions as A
from aftersales.approvals import route_compensation
from aftersales.roles import Role
from aftersales.views import case_row, case_view
from tests.rules.driver import LADDER
from tests.rules.test_complaint_machine import Run

R = Role
APPROVE = A.Decide(action="decide", decision="approve")
UNJUSTIFIED = A.Classify(action="classify", category="使用不当", department="工程部", justified=False,
                         reply="系业主自行改造导致")


def paid(amount: str, reference: str = "BC-2026-0001") -> A.RecordCompensationPaid:
    return A.RecordCompensationPaid(action="record_compensation_paid", amount=Decimal(amount), reference=reference)


# ---- C2 -----------------------------------------------------------------------------------------
def test_C2_unjustified_waits_for_cs_manager_then_closes_with_the_reply():
    r = Run().do(R.cs_staff, UNJUSTIFIED)
    assert r.s.status == "unjustified_review" and not r.s.closed
    approval = r.case.pending_approval()
    assert approval.purpose == "unjustified" and [st.role for st in approval.steps] == [R.cs_manager]
    for role in (R.cs_staff, R.dept_head, R.gm):
        assert r.refused(role, APPROVE).kind == "forbidden"
    assert r.refused(R.cs_staff, A.Close(action="close", outcome_note="x")).kind == "conflict"
    r.do(R.cs_manager, APPROVE)
    s = r.s
    assert s.status == "closed" and s.outcome == "unjustified" and s.reply == "系业主自行改造导致"
    assert r.case.deadline("opinion").state == "met"
    assert all(d.state in ("met", "waived") for d in s.deadlines)
    assert case_row(s, r.now, LADDER).justified is False                     # still counted in statistics


def test_C2_cs_manager_sends_it_back_with_a_reason_and_it_is_classified_again():
    r = Run().do(R.cs_staff, UNJUSTIFIED)
    assert r.refused(R.cs_manager, A.Decide(action="decide", decision="reject")).kind == "invalid"  # a reason
    r.do(R.cs_manager, A.Decide(action="decide", decision="reject", reason="现场照片显示为渗漏，属施工原因"))
    assert r.s.status == "registered" and r.s.justified is None and not r.s.closed
    assert any(n.roles == [R.cs_staff] and "C2" in n.reason for n in r.notices())
    r.do(R.cs_staff, A.Classify(action="classify", category="漏水", department="工程部", justified=True))
    assert r.s.status == "assigned"


def test_C2_ruling_again_after_a_second_unjustified_classification():
    r = Run().do(R.cs_staff, UNJUSTIFIED)
    r.do(R.cs_manager, A.Decide(action="decide", decision="request_changes", reason="请补充答复依据"))
    r.do(R.cs_staff, UNJUSTIFIED)
    assert r.case.pending_approval().id == "unjustified-2"
    r.do(R.cs_manager, APPROVE)
    assert r.s.outcome == "unjustified"


# ---- A1 for compensation ------------------------------------------------------------------------
def proposed(compensation: str, major: bool = False, run=Run) -> Run:
    r = run(major=major)
    if major:
        r.do(R.cs_manager, A.RecordMeeting(action="record_meeting", minutes="紧急会议", attendees=[R.gm]))
    r.investigated()
    return r.do(R.dept_handler, A.ProposeSolution(action="propose_solution", solution="赔偿", compensation=Decimal(compensation)),
                "li.handler")


@pytest.mark.parametrize("amount, major, route", [
    ("0", False, [R.cs_manager]),
    ("1000.00", False, [R.cs_manager]),
    ("1000.01", False, [R.cs_manager, R.deputy_chief_engineer, R.deputy_gm]),
    ("10000.00", False, [R.cs_manager, R.deputy_chief_engineer, R.deputy_gm]),
    ("10000.01", False, [R.cs_manager, R.deputy_chief_engineer, R.deputy_gm, R.gm]),
    ("999999", False, [R.cs_manager, R.deputy_chief_engineer, R.deputy_gm, R.gm]),
    ("0", True, [R.gm]),
    ("500", True, [R.gm]),
    ("1000.01", True, [R.deputy_chief_engineer, R.deputy_gm, R.gm]),
    ("5000", True, [R.deputy_chief_engineer, R.deputy_gm, R.gm]),
    ("10000.01", True, [R.deputy_chief_engineer, R.deputy_gm, R.gm]),
])
def test_A1_C7_compensation_routed_by_the_bands_and_gm_for_a_major_complaint(amount, major, route):
    assert [st.role for st in route_compensation(Decimal(amount), major)] == route
    r = proposed(amount, major)
    asked = []
    while (approval := r.case.pending_approval()) is not None:
        step = approval.current()
        for role in route:
            if role != step.role:
                assert r.refused(role, APPROVE).kind == "forbidden"
        asked.append(step.role)
        r.do(step.role, APPROVE)
    assert asked == route and r.s.status == "approved"


def test_A1_999999_compensation_is_not_approved_by_cs_manager_alone():
    r = proposed("999999").do(R.cs_manager, APPROVE)
    assert r.s.status == "awaiting_approval" and r.case.pending_approval().current().role == R.deputy_chief_engineer
    view = case_view(r.s, r.now, LADDER)
    assert view["a1"]["band"] == "gm" and view["a1"]["missing"] == ["deputy_chief_engineer", "deputy_gm", "gm"]


def test_A1_finance_records_the_compensation_paid_before_the_case_closes():
    r = proposed("5000")
    assert r.refused(R.finance, paid("5000")).kind == "conflict"             # not approved yet
    for role in (R.cs_manager, R.deputy_chief_engineer, R.deputy_gm):
        r.do(role, APPROVE)
    assert any(n.roles == [R.finance] for n in r.notices())
    assert r.refused(R.cs_staff, paid("5000")).kind == "forbidden"
    assert r.refused(R.finance, paid("4999.99")).kind == "invalid"
    r.do(R.cs_staff, A.InformCustomer(action="inform_customer", message="赔偿5000元"))
    r.do(R.cs_staff, A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=4))
    r.do(R.cs_staff, A.Summarise(action="summarise", summary="s", corrective_measures="c", preventive_measures="p"))
    e = r.refused(R.cs_staff, A.Close(action="close", outcome_note="已赔偿"))
    assert e.kind == "conflict" and "¥5,000.00" in e.message
    r.do(R.finance, paid("5000.00", "BC-9"))
    assert r.refused(R.finance, paid("5000.00", "BC-9")).kind == "conflict"  # recorded once
    payment = r.s.compensation_payment
    assert (payment.amount, payment.reference, payment.by) == (Decimal("5000.00"), "BC-9", "finance")
    row = case_row(r.s, r.now, LADDER)
    assert row.compensation_fen == 500000 and row.compensation_paid is True
    r.do(R.cs_staff, A.Close(action="close", outcome_note="已赔偿"))
    assert r.s.status == "closed"


def test_A1_no_compensation_no_payment_step():
    r = proposed("0").do(R.cs_manager, APPROVE)
    assert r.refused(R.finance, paid("0")).kind == "conflict"
    assert case_row(r.s, r.now, LADDER).compensation_paid is None


