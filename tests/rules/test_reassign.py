"""P7: a complaint whose department turns out wrong is re-routed by cs_manager (reassign, with a reason, on the
timeline) from any open state; the organisation's lists refuse a typo with the valid values."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from aftersales import actions as A
from aftersales.errors import Rejection
from aftersales.org import OrgLists, Person, default_title, person_label
from aftersales.roles import Role
from tests.rules.driver import who
from tests.rules.test_complaint_machine import Run


def reassign(department: str = "物业部", reason: str = "漏水源自公共管道，归物业部") -> A.Reassign:
    return A.Reassign(action="reassign", department=department, reason=reason)


def test_P7_reassign_from_assigned_moves_the_department_its_deadlines_and_asks_the_new_head_for_a_handler():
    r = Run().classified().do(Role.dept_head, A.AssignHandler(action="assign_handler", handler="li.handler"))
    r.at(r.now + timedelta(days=4))  # the old department let its feedback slip (C3): escalated
    assert r.case.deadline("dept_feedback").missed
    r.effects.clear()
    r.do(Role.cs_manager, reassign())
    s = r.s
    assert (s.department, s.handler, s.status) == ("物业部", None, "assigned")
    entry = s.timeline[-1]
    assert entry.kind == "reassigned" and entry.actor == "cs_manager"
    assert "工程部" in entry.text and "物业部" in entry.text and "公共管道" in entry.text and "P7" in entry.text
    old = [d for d in s.deadlines if d.key == "dept_feedback" and d.department == "工程部"]
    assert old == [] or all(d.waived for d in old)
    new = r.case.deadline("dept_feedback")
    assert new.open and not new.missed and new.department == "物业部" and new.started_at == r.now
    assert all(d.department == "物业部" for d in s.deadlines if d.open and d.department)
    notices = r.notices()
    assert [(n.roles, n.department) for n in notices] == [([Role.dept_head], "物业部")]
    # the new department's head names the handler; the old department no longer acts on it (P1)
    assert r.refused(who(Role.dept_head, department="工程部"),
                     A.AssignHandler(action="assign_handler", handler="li.handler")).kind == "forbidden"
    r.do(who(Role.dept_head, department="物业部"), A.AssignHandler(action="assign_handler", handler="wy.handler"))
    assert r.s.handler == "wy.handler"


@pytest.mark.parametrize("step", ["registered", "investigated", "proposed", "approved", "summarised"])
def test_P7_reassign_works_from_every_open_state(step):
    r = Run()
    if step != "registered":
        getattr(r, step)()
    before = r.s.status
    r.do(Role.cs_manager, reassign())
    assert r.s.department == "物业部" and r.s.timeline[-1].kind == "reassigned"
    # where the department's own work was under way it starts again with the new department (C3)
    assert r.s.status == ("assigned" if before in ("assigned", "investigated") else before)


def test_P7_reassign_is_cs_managers_with_a_reason_to_another_department_of_an_open_case():
    r = Run().classified()
    for role in (Role.cs_staff, Role.dept_head, Role.gm, Role.hotline):
        assert r.refused(role, reassign()).kind == "forbidden"
    e = r.refused(Role.cs_manager, reassign("工程部"))
    assert e.kind == "conflict" and "工程部" in e.message
    with pytest.raises(ValidationError):
        A.Reassign(action="reassign", department="物业部", reason=" ")
    r = Run().summarised().do(Role.cs_staff, A.Close(action="close", outcome_note="已修复"))
    assert r.refused(Role.cs_manager, reassign()).kind == "conflict"


def test_P7_the_lists_refuse_a_typo_naming_the_valid_values():
    lists = OrgLists(departments=["工程部", "物业部"], categories=["漏水", "噪音"], contractors={"CT-DEMO": "示范建工公司"},
                     handlers=[Person(username="dept_handler", display_name="张伟", title="工程部专人",
                                      role=Role.dept_handler, department="工程部")])
    assert lists.department("工程部") == "工程部"
    with pytest.raises(Rejection) as e:
        lists.department("工程")
    assert e.value.kind == "invalid" and "「工程」" in e.value.message and "工程部、物业部" in e.value.message
    with pytest.raises(Rejection, match="漏水、噪音"):
        lists.category("渗水了")
    with pytest.raises(Rejection, match=r"CT-DEMO（示范建工公司）"):
        lists.contractor("CT-77")
    with pytest.raises(Rejection, match=r"dept_handler（张伟 · 工程部专人）"):
        lists.handler("zhang", department="工程部")
    with pytest.raises(Rejection, match="列表为空"):
        lists.handler("dept_handler", department="物业部")


def test_P7_people_by_name_and_title():
    assert person_label("张伟", "工程部专人") == "张伟 · 工程部专人"
    assert person_label("责任部门专人", "工程部专人") == "工程部专人"  # an account named after its role (before P7)
    assert default_title(Role.dept_handler, "物业部") == "物业部专人"
    assert default_title(Role.dept_head, "工程部") == "工程部经理"
    assert default_title(Role.contractor, contractor_name="示范建工公司") == "示范建工公司（施工单位）"
    assert default_title(Role.gm) == "总经理"
