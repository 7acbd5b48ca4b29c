"""A1, A2, A4, C7: who decides, at every amount boundary and one fen either side... and one yuan."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from aftersales.actor import Actor
from aftersales.approvals import (
    Approval, route_complaint_solution, route_complaint_summary, route_repair_cost, route_settlement_audit,
)
from aftersales.errors import Rejection
from aftersales.roles import Role

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
R = Role


def roles(steps):
    return [s.role for s in steps]


@pytest.mark.parametrize("amount, expected", [
    ("0", [R.cs_manager]),
    ("999", [R.cs_manager]),
    ("0.01", [R.cs_manager]),
    ("999.99", [R.cs_manager]),
    ("1000", [R.cs_manager]),                                    # ≤ 1,000
    ("1000.01", [R.deputy_chief_engineer, R.deputy_gm]),
    ("1001", [R.deputy_chief_engineer, R.deputy_gm]),
    ("9999", [R.deputy_chief_engineer, R.deputy_gm]),
    ("9999.99", [R.deputy_chief_engineer, R.deputy_gm]),
    ("10000", [R.deputy_chief_engineer, R.deputy_gm]),           # 1,000–10,000
    ("10000.01", [R.deputy_chief_engineer, R.deputy_gm, R.gm]),
    ("10001", [R.deputy_chief_engineer, R.deputy_gm, R.gm]),    # > 10,000 also gm
])
def test_A1_repair_cost_route_by_amount(amount, expected):
    assert roles(route_repair_cost(Decimal(amount))) == expected


def test_A1_deputy_chief_engineer_reviews_before_deputy_gm_approves():
    steps = route_repair_cost(Decimal("5000"))
    assert [s.kind for s in steps] == ["review", "approve"]


@pytest.mark.parametrize("amount, expected", [
    ("0.01", R.cs_manager), ("19999", R.cs_manager), ("19999.99", R.cs_manager), ("20000", R.auditor),
    ("20000.01", R.auditor), ("20001", R.auditor)])
def test_A2_settlement_audit_by_amount_20000_goes_to_the_auditor(amount, expected):
    assert roles(route_settlement_audit(Decimal(amount))) == [expected]


def test_C7_solution_approver_general_and_major():
    assert roles(route_complaint_solution(major=False)) == [R.cs_manager]
    assert roles(route_complaint_solution(major=True)) == [R.gm]
    assert roles(route_complaint_summary()) == [R.gm]


def _approval(amount: str) -> Approval:
    return Approval(id="cost-1", purpose="repair_cost", rule="A1", subject="cost", amount=Decimal(amount),
                    requested_by="repair_lead", requested_at=NOW, steps=route_repair_cost(Decimal(amount)))


def actor(role: Role) -> Actor:
    return Actor(username=f"{role.value}-1", role=role)


@pytest.mark.parametrize("amount", ["800", "5000", "20000"])
def test_A4_every_step_refuses_every_other_role(amount):
    approval = _approval(amount)
    while approval.current() is not None:
        step = approval.current()
        for role in Role:
            if role != step.role:
                with pytest.raises(Rejection) as e:
                    approval.decide(actor(role), "approve", None, NOW)
                assert e.value.kind == "forbidden"
        approval.decide(actor(step.role), "approve", None, NOW)
    assert approval.status == "approved"
    assert all(s.by and s.at == NOW and s.decision == "approve" for s in approval.steps)


def test_A4_reject_needs_a_reason_and_ends_the_approval():
    approval = _approval("5000")
    with pytest.raises(Rejection) as e:
        approval.decide(actor(R.deputy_chief_engineer), "reject", "  ", NOW)
    assert e.value.kind == "invalid"
    approval.decide(actor(R.deputy_chief_engineer), "reject", "price too high", NOW)
    assert approval.status == "rejected"
    assert approval.steps[0].reason == "price too high" and approval.steps[0].by == "deputy_chief_engineer-1"
    with pytest.raises(Rejection) as e:
        approval.decide(actor(R.deputy_gm), "approve", None, NOW)
    assert e.value.kind == "conflict"


def test_A4_request_changes():
    approval = _approval("500")
    approval.decide(actor(R.cs_manager), "request_changes", "split the labour cost", NOW)
    assert approval.status == "changes_requested"
