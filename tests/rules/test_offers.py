"""P1, C2–C10, R6: what a case offers a user now is what its machine would accept now — a dry run of the
machine's own check (the Update validator's) with a probe of each action, so a closed complaint offers
nothing and an inspector who has inspected is offered no second inspection; and who acts next (我的待办)
names only those whose step it still is."""

from aftersales import actions as A
from aftersales.complaint import ComplaintCase
from aftersales.complaint.state import ComplaintState
from aftersales.next_actors import next_actors
from aftersales.offers import offered_actions, state_from_view
from aftersales.repair import RepairCase
from aftersales.repair.state import RepairState
from aftersales.roles import Role
from aftersales.views import case_view
from tests.rules.driver import LADDER, bound, who
from tests.rules.test_complaint_machine import Run as Complaint
from tests.rules.test_repair_machine import Run as Repair


def offered(run, role: Role, username: str | None = None) -> list[str]:
    return offered_actions(run.case, bound(run.case, role, username), run.ctx())


def test_C2_a_new_complaint_offers_cs_staff_classification_not_closing():
    r = Complaint()
    mine = offered(r, Role.cs_staff)
    assert "classify" in mine and "progress_note" in mine and "mark_major" in mine
    assert "close" not in mine and "summarise" not in mine and "inform_customer" not in mine
    assert "decide" not in mine and "department_feedback" not in mine
    assert offered(r, Role.hotline) == []                                    # P1: the hotline only registers


def test_C10_a_closed_complaint_offers_nothing_to_anyone():
    r = Complaint().summarised().do(Role.cs_staff, A.Close(action="close", outcome_note="已修复"))
    for role in Role:
        assert offered(r, role) == [], role


def test_C3_P1_only_the_named_handler_of_the_department_is_offered_the_feedback():
    r = Complaint().classified().do(Role.dept_head, A.AssignHandler(action="assign_handler", handler="li.handler"))
    assert "department_feedback" in offered(r, Role.dept_handler, "li.handler")
    assert "department_feedback" not in offered(r, Role.dept_handler, "zhang.handler")
    other = who(Role.dept_handler, "li.handler", department="物业部")
    assert offered_actions(r.case, other, r.ctx()) == []


def test_A4_only_the_approver_of_the_current_step_is_offered_the_decision():
    r = Complaint().proposed()
    assert "decide" in offered(r, Role.cs_manager)
    assert "decide" not in offered(r, Role.gm) and "decide" not in offered(r, Role.cs_staff)


def test_R6_an_inspector_who_has_inspected_is_offered_no_second_inspection_and_is_no_longer_next():
    r = Repair().dispatched()
    r.do(Role.repair_lead, A.CompleteWork(action="complete_work", note="换了水管"))
    assert {(a.role, a.action) for a in next_actors(r.s)} == {(Role.cs_staff, "inspect"), (Role.repair_lead, "inspect")}
    r.do(Role.repair_lead, A.Inspect(action="inspect", passed=True))
    assert "inspect" not in offered(r, Role.repair_lead)
    assert "inspect" in offered(r, Role.cs_staff)
    assert [(a.role, a.action) for a in next_actors(r.s)] == [(Role.cs_staff, "inspect")]


def test_the_state_rebuilt_from_the_case_view_is_the_case_state():
    c = Complaint().proposed()
    assert state_from_view(case_view(c.s, c.now, LADDER)).model_dump() == \
        c.s.model_copy(update={"seq": 0, "notice_seq": 0, "fallback_years_noted": [], "base_level": 0}).model_dump()
    r = Repair().inspected()
    rebuilt = state_from_view(case_view(r.s, r.now, LADDER))
    assert isinstance(rebuilt, RepairState) and rebuilt.inspections == r.s.inspections
    assert isinstance(state_from_view(case_view(c.s, c.now, LADDER)), ComplaintState)
    assert ComplaintCase and RepairCase
