"""A1 on the amount finally paid: the route is worked out again whenever an
amount changes, approvals already given count, payment waits for the band of the amount paid, and a
zero or missing estimate is no way around it."""

from decimal import Decimal

import pytest

from aftersales import actions as A
from aftersales.approvals import a1_missing, a1_status, route_settlement
from aftersales.repair.state import RepairStatus
from aftersales.roles import Role
from aftersales.views import case_view
from tests.rules.driver import LADDER
from tests.rules.test_repair_machine import APPROVE, Run, pay

R = Role


def decide_all(r: Run) -> list[Role]:
    """Every pending step decided by its role, in order; returns who was asked."""
    asked = []
    while (approval := r.case.pending_approval()) is not None:
        role = approval.current().role
        asked.append(role)
        r.do(role, APPROVE)
    return asked


def test_A1_estimate_0_cost_statement_50000_asks_deputy_chief_engineer_deputy_gm_and_gm_before_payment():
    r = Run().settling("50000", estimate="0")
    assert r.s.survey.estimate == 0
    assert r.waiting_for() == [R.auditor, R.deputy_chief_engineer, R.deputy_gm, R.gm]
    assert "A1" in r.case.pending_approval().steps[1].covers                  # DCE reviews (A1) and confirms (A3)
    for role in (R.auditor, R.deputy_chief_engineer, R.deputy_gm):
        r.do(role, APPROVE)
        assert r.refused(R.finance, pay("50000")).kind == "conflict"          # not before gm
    r.do(R.gm, APPROVE)
    assert r.s.status == RepairStatus.awaiting_payment
    r.do(R.finance, pay("50000"))
    assert r.s.status == RepairStatus.closed


def test_A1_estimate_900_then_settlement_19999_99_asks_the_middle_band_and_gm():
    r = Run().settling("19999.99", estimate="900")
    assert [a.steps[0].role for a in r.s.approvals if a.purpose == "repair_cost"] == [R.cs_manager]
    assert decide_all(r) == [R.cs_manager, R.deputy_chief_engineer, R.deputy_gm, R.gm]


def test_A1_approvals_already_given_are_not_asked_again():
    r = Run().settling("15000", estimate="5000")                               # DCE + deputy_gm approved 5,000
    assert r.waiting_for() == [R.cs_manager, R.deputy_chief_engineer, R.gm]
    assert r.case.pending_approval().steps[1].covers == ["A3"]                 # DCE confirms only (A1 given)


def test_A1_an_amount_within_the_band_already_approved_needs_nothing_more():
    r = Run().settling("800", estimate="5000")
    assert r.waiting_for() == [R.cs_manager, R.deputy_chief_engineer]
    assert a1_missing(Decimal("800"), r.s.approvals) == []


@pytest.mark.parametrize("amount, band, route", [
    ("1000.00", "cs_manager", [R.cs_manager]),
    ("1000.01", "deputy_gm", [R.deputy_chief_engineer, R.deputy_gm]),
    ("10000.00", "deputy_gm", [R.deputy_chief_engineer, R.deputy_gm]),
    ("10000.01", "gm", [R.deputy_chief_engineer, R.deputy_gm, R.gm]),
])
def test_A1_band_edges_apply_to_the_settlement(amount, band, route):
    r = Run().settling(amount, estimate="0")
    assert a1_status(Decimal(amount), []).band == band
    steps = route_settlement(Decimal(amount), "B", [])
    assert [s.role for s in steps if "A1" in s.covers] == route
    assert set(route) <= {s.role for s in r.case.pending_approval().steps}


def test_A1_the_case_view_shows_the_band_the_steps_done_and_missing():
    r = Run().settling("50000", estimate="900")
    r.do(R.auditor, APPROVE).do(R.deputy_chief_engineer, APPROVE)
    a1 = case_view(r.s, r.now, LADDER)["a1"]
    assert a1["amount"] == "50000" and a1["band"] == "gm"
    assert a1["required"] == ["deputy_chief_engineer", "deputy_gm", "gm"]
    assert a1["done"] == ["deputy_chief_engineer"] and a1["missing"] == ["deputy_gm", "gm"]


def test_A1_a_re_recorded_survey_works_the_route_out_again():
    r = Run().do(R.engineering, A.RecordSurvey(action="record_survey", responsible_party="维修队", contractor_id=None,
                                               multi_trade=False, estimate=Decimal("800"), order_type="B")).signed()
    r.do(R.cs_manager, A.Decide(action="decide", decision="request_changes", reason="估价偏低"))
    r.do(R.engineering, A.RecordSurvey(action="record_survey", responsible_party="维修队", contractor_id=None,
                                       multi_trade=False, estimate=Decimal("12000"), order_type="B")).signed()
    assert r.waiting_for() == [R.deputy_chief_engineer, R.deputy_gm, R.gm]


