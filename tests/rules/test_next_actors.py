"""who acts next, for every state of both case types, checked along the general complaint
path (C2, C3, C4, C7, A1, C10): at each step the role (and the named handler) the rules expect."""

from decimal import Decimal

from aftersales import actions as A
from aftersales.complaint.state import ComplaintStatus
from aftersales.next_actors import STEPS, next_actors, next_columns
from aftersales.repair.state import RepairStatus
from aftersales.roles import Role
from tests.rules.test_complaint_machine import Run


def who_next(r: Run) -> list[tuple[str, str | None, str]]:
    return [(a.role.value, a.username, a.action) for a in next_actors(r.s)]


def test_every_state_of_both_case_types_says_who_acts_next():
    assert {s.value for s in ComplaintStatus} <= set(STEPS["complaint"])
    assert {s.value for s in RepairStatus} <= set(STEPS["repair"])


def test_C2_C3_C4_C7_A1_C10_the_general_complaint_path_names_each_next_actor():
    r = Run()
    assert who_next(r) == [("cs_staff", None, "classify")]                            # C2
    r.classified()
    assert who_next(r) == [("dept_head", None, "assign_handler")]                     # C3: the head names a handler
    assert next_actors(r.s)[0].department == "工程部"
    r.do(Role.dept_head, A.AssignHandler(action="assign_handler", handler="li.handler"))
    assert who_next(r) == [("dept_handler", "li.handler", "department_feedback")]     # the named handler
    assert next_columns(next_actors(r.s)) == {"next_roles": "|dept_handler|", "next_user": "li.handler"}
    r.do(Role.dept_handler, A.DepartmentFeedback(action="department_feedback", findings="防水层破损"), "li.handler")
    assert who_next(r) == [("dept_handler", "li.handler", "propose_solution")]        # C4
    r.do(Role.dept_handler, A.ProposeSolution(action="propose_solution", solution="重做防水",
                                             compensation=Decimal("800.00")), "li.handler")
    assert who_next(r) == [("cs_manager", None, "decide")]                            # C7: the pending approval
    r.do(Role.cs_manager, A.Decide(action="decide", decision="approve"))
    assert who_next(r) == [("cs_staff", None, "inform_customer")]
    r.do(Role.cs_staff, A.InformCustomer(action="inform_customer", message="下周一重做防水"))
    assert ("finance", None, "record_compensation_paid") in who_next(r)               # A1: paid before close
    assert ("cs_staff", None, "record_satisfaction") in who_next(r)
    r.do(Role.finance, A.RecordCompensationPaid(action="record_compensation_paid", amount=Decimal("800.00"),
                                                reference="BC-2026-001"))
    assert who_next(r) == [("cs_staff", None, "record_satisfaction")]
    r.do(Role.cs_staff, A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=4))
    r.do(Role.cs_staff, A.Summarise(action="summarise", summary="防水施工缺陷", corrective_measures="重做",
                                    preventive_measures="闭水试验"))
    assert who_next(r) == [("cs_staff", None, "close")]
    r.do(Role.cs_staff, A.Close(action="close", outcome_note="已修复"))
    assert who_next(r) == [] and next_columns([]) == {"next_roles": "", "next_user": None}
