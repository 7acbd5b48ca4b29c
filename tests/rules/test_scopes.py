"""P5 as pure rules: the scopes each role may have, which cases lie within a scope, a case of rules 3 keeping its
project and company from its opening, acting only within the scope, and notices reaching the people of the case's
own company (a major complaint also the group's executives), while a case opened before keeps its behaviour."""

import pytest

from aftersales import access
from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import CURRENT_RULES_VERSION, ORG_RULES_FROM
from aftersales.org import CaseOrg, Scope, check_scope, in_scope
from aftersales.roles import Role
from tests.rules import test_complaint_machine as C
from tests.rules.driver import who

R = Role
RQ, HJ = CaseOrg(project_key="融侨城", company_id="rq"), CaseOrg(project_key="海景苑", company_id="hj")


def scoped(role: Role, username: str | None = None, company: str | None = None, project: str | None = None,
           department: str | None = None) -> Actor:
    return Actor(username=username or role.value, role=role, company_id=company, project=project,
                 department=department or ("工程部" if role in access.DEPARTMENT_ROLES else None))


class Org(C.Run):
    """A complaint opened by the API with its project and company (P5)."""
    organisation: CaseOrg | None = RQ

    def ctx(self, action=None):
        ctx = super().ctx(action)
        ctx.organisation = self.organisation
        return ctx


class OrgV2(Org):
    rules_version = 2


class HaiJing(Org):
    organisation = HJ


def test_P5_the_scopes_each_role_may_have():
    assert check_scope(R.butler, "rq", "融侨城") == Scope.project
    assert check_scope(R.hotline, None, None) == Scope.group            # the group's 400 line
    assert check_scope(R.hotline, "rq", "融侨城") == Scope.project       # a project's service centre
    assert check_scope(R.gm, None, None) == Scope.group                 # the group's executive
    assert check_scope(R.dept_handler, "rq", None) == Scope.company
    for role, company, project, message in ((R.butler, "rq", None, "贴心管家的范围须为项目，不能是城市公司"),
                                            (R.butler, None, None, "不能是集团"),
                                            (R.dept_head, None, None, "责任部门负责人的范围须为城市公司"),
                                            (R.finance, "rq", "融侨城", "不能是项目"),
                                            (R.contractor, "rq", None, "施工单位的范围须为集团")):
        with pytest.raises(ValueError, match=message):
            check_scope(role, company, project)


def test_P5_a_case_lies_within_the_group_its_company_and_its_project():
    assert in_scope(None, None, "hj", "海景苑") and in_scope(None, None, None, "x")
    assert in_scope("rq", None, "rq", "融侨城") and not in_scope("rq", None, "hj", "海景苑")
    assert in_scope("rq", "融侨城", "rq", "融侨城") and not in_scope("rq", "融侨城", "rq", "融侨城二期")
    assert not in_scope("rq", None, None, "无主项目")  # a project no company holds: the group's alone


def test_P5_a_case_of_rules_3_keeps_its_project_and_company_and_one_of_before_none():
    assert CURRENT_RULES_VERSION >= ORG_RULES_FROM == 3
    r = Org()
    assert (r.s.company_id, r.s.project_key, r.s.rules_version) == ("rq", "融侨城", CURRENT_RULES_VERSION)
    old = OrgV2()
    assert (old.s.company_id, old.s.project_key) == (None, None)
    assert all(n.company_id is None for n in old.notices())


def test_P5_P1_only_accounts_within_the_scope_act():
    r = Org().classified()
    cs2 = scoped(R.cs_staff, "cs2", company="hj")
    e = r.refused(cs2, A.ProgressNote(action="progress_note", note="n"))
    assert e.kind == "forbidden" and "不在 cs2 的范围内（P5）" in e.message
    assert r.refused(scoped(R.butler, "butler2", "hj", "海景苑"), A.ProgressNote(action="progress_note", note="n")
                     ).kind == "forbidden"
    r.do(scoped(R.butler, "butler", "rq", "融侨城"), A.ProgressNote(action="progress_note", note="n"))
    r.do(scoped(R.cs_staff, "cs", company=None), A.ProgressNote(action="progress_note", note="n"))  # the group's


ACCOUNTS = [scoped(R.gm, "gm"), scoped(R.gm, "group_gm"), scoped(R.gm, "gm2"), scoped(R.deputy_gm, "dgm"),
            scoped(R.dept_head, "head"), scoped(R.dept_head, "head2"), scoped(R.cs_manager, "csm"),
            scoped(R.cs_manager, "csm2"), scoped(R.butler, "butler"), scoped(R.butler, "butler2")]
SCOPES = {"gm": ("rq", None), "group_gm": (None, None), "gm2": ("hj", None), "dgm": ("rq", None),
          "head": ("rq", None), "head2": ("hj", None), "csm": ("rq", None), "csm2": ("hj", None),
          "butler": ("rq", "融侨城"), "butler2": ("hj", "海景苑")}
PEOPLE = [a.model_copy(update={"company_id": SCOPES[a.username][0], "project": SCOPES[a.username][1]})
          for a in ACCOUNTS]


def reached(notice) -> set[str]:
    return {a.username for a in access.notice_recipients(notice, PEOPLE)}


def test_P5_E2_C8_a_major_complaint_tells_its_companys_executives_and_the_groups():
    r = HaiJing(major=True)
    [c8] = [n for n in r.notices() if n.reason == "C8 major complaint"]
    assert c8.company_id == "hj" and c8.group
    assert reached(c8) == {"gm2", "group_gm"}


def test_P5_E1_escalations_and_approvals_reach_the_people_of_the_cases_company():
    r = Org().classified()
    r.at(r.s.deadlines[0].due_at)  # the department's feedback (C3) and more missed: up the ladder
    escalations = [n for n in r.notices() if n.reason.startswith("E1")]
    assert escalations and all(n.company_id == "rq" and not n.group for n in escalations)
    assert all(reached(n) <= {"head", "csm", "dgm", "gm"} for n in escalations)
    assert any(reached(n) for n in escalations)
    # C11, C5 and the rest: every notice of the case names its company
    assert all(n.company_id == "rq" for n in r.notices())


def test_P5_a_notice_of_a_case_of_before_reaches_the_role_as_it_did():
    r = OrgV2(major=True)
    [c8] = [n for n in r.notices() if n.reason == "C8 major complaint"]
    assert c8.company_id is None and not c8.group
    assert reached(c8) == {"gm", "group_gm", "gm2", "dgm"}
