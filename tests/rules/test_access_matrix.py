"""P1–P3 as a role × action × state matrix for both case types, generated from the one table
(`aftersales.access`) and the actions of `aftersales/actions.py`: a new action without a table entry
or a sample here fails, and every role (bound to the right or to another department / contractor) is
tried on every action in every state the paths below pass through.

The oracle below restates P1 from domain.md independently of `access.check_acting`:
  - the role is one the table names for the action (`decide`: the role of the current approval step);
  - department roles only on their own department's cases, and a handler's action only by the named
    handler (or the head);
  - a contractor only on work of its own contractor (the survey's contractor_id), the work itself only
    when it was dispatched to the contractor.
The machine must refuse with `forbidden` exactly when the oracle says no (other refusals are 409/422:
wrong state or bad input), and never write a refused action. P2 (who sees the case) and P3 (who sees
the full phone) are checked on the same states, and whoever could act on a case can see it.

P5 adds the scope dimension: every case here belongs to 融侨城 of the company rq, and every account is tried in
each scope its role may have (aftersales.org.ROLE_SCOPES): the group, the company rq or the other company hj, the
project 融侨城 or the other company's 海景苑. P1–P3 hold within the scope: outside it nothing is permitted, seen
or shown in full."""

import typing
from datetime import timedelta
from decimal import Decimal

import pytest

from aftersales import access
from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.machine import CaseMachine
from aftersales.errors import Rejection
from aftersales.roles import Role
from aftersales.views import case_view
from tests.rules import test_complaint_machine as C
from tests.rules import test_paid_service as PS
from tests.rules import test_repair_machine as RP
from tests.rules.driver import LADDER, MONDAY_10, who

R = Role
HOME, OTHER = "工程部", "物业部"
OUR, THEIR = "C-001", "C-DEMO2"
HANDLER = "li.handler"


def union_members(union) -> list[type]:
    return list(typing.get_args(union))


SAMPLES: dict[type, object] = {
    A.Classify: A.Classify(action="classify", category="漏水", department=HOME, justified=True),
    A.AssignHandler: A.AssignHandler(action="assign_handler", handler=HANDLER),
    A.DepartmentFeedback: A.DepartmentFeedback(action="department_feedback", findings="f"),
    A.ProposeSolution: A.ProposeSolution(action="propose_solution", solution="s", compensation=Decimal("800")),
    A.Decide: A.Decide(action="decide", decision="approve"),
    A.InformCustomer: A.InformCustomer(action="inform_customer", message="m"),
    A.RecordSatisfaction: A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=4),
    A.Summarise: A.Summarise(action="summarise", summary="s", corrective_measures="c", preventive_measures="p"),
    A.ProgressNote: A.ProgressNote(action="progress_note", note="n"),
    A.MarkMajor: A.MarkMajor(action="mark_major", reason="media"),
    A.RecordMeeting: A.RecordMeeting(action="record_meeting", minutes="m", attendees=[R.gm]),
    A.FileSpecialReport: A.FileSpecialReport(action="file_special_report", report="r"),
    A.AuthorityReply: A.AuthorityReply(action="authority_reply", answered_in_person_at=MONDAY_10, written_report="w"),
    A.OpenRepair: A.OpenRepair(action="open_repair", trades=["水电"], description="d",
                               requested_appointment=MONDAY_10 + timedelta(days=1)),
    A.Close: A.Close(action="close", outcome_note="o"),
    A.Reassign: A.Reassign(action="reassign", department=OTHER, reason="r"),
    A.AgreeAppointment: A.AgreeAppointment(action="agree_appointment", told_via="phone", appointment_at=MONDAY_10 + timedelta(hours=2)),
    A.RecordArrival: A.RecordArrival(action="record_arrival", arrived_at=MONDAY_10 + timedelta(hours=2)),
    A.RecordSurvey: RP.survey("1500", order_type="A", contractor_id=OUR),
    A.SignSurvey: RP.SIGN,
    A.Dispatch: RP.dispatch("wang"),
    A.ExtendDeadline: A.ExtendDeadline(action="extend_deadline", told_via="phone", new_due_at=MONDAY_10 + timedelta(days=30),
                                       owner_consent="业主同意"),
    A.CompleteWork: A.CompleteWork(action="complete_work", note="done"),
    A.Inspect: RP.inspect(),
    A.OwnerSignOff: A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5, comment=None),
    A.Revisit: A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5, note=None),
    A.FollowUp: A.FollowUp(action="follow_up", note="n"),
    A.CostStatement: A.CostStatement(action="cost_statement", amount=Decimal("1200"), note="n"),
    A.Pay: A.Pay(action="pay", amount=Decimal("1200"), reference="FIN-1"),
    A.RecordCompensationPaid: A.RecordCompensationPaid(action="record_compensation_paid", amount=Decimal("800"),
                                                       reference="BC-1"),
    A.Quote: PS.quote(("TAP", "1")),
    A.AcceptQuote: A.AcceptQuote(action="accept_quote", told_via="phone", signed_by="李先生", signed_at=MONDAY_10),
    A.DeclineQuote: A.DeclineQuote(action="decline_quote", told_via="phone", reason="嫌贵"),
    A.RecordServicePayment: PS.payment("45.00"),
    # rules 4 (O3, O4): what is asked of the owner, and the owner's answers recorded by staff (代录)
    A.ProposeAppointment: A.ProposeAppointment(action="propose_appointment", appointment_at=MONDAY_10 + timedelta(hours=3)),
    A.AcceptAppointment: A.AcceptAppointment(action="accept_appointment", told_via="phone"),
    A.RequestAppointment: A.RequestAppointment(action="request_appointment", appointment_at=MONDAY_10 + timedelta(days=1),
                                               told_via="wechat"),
    A.AskExtension: A.AskExtension(action="ask_extension", new_due_at=MONDAY_10 + timedelta(days=30), reason="材料待货"),
    A.ConsentExtension: A.ConsentExtension(action="consent_extension", told_via="phone"),
    A.RefuseExtension: A.RefuseExtension(action="refuse_extension", told_via="letter"),
    A.RefuseSignOff: A.RefuseSignOff(action="refuse_sign_off", reason="墙面仍有水渍", told_via="visit"),
}

UNIONS = {"complaint": A.ComplaintAction, "repair": A.RepairAction}


def action_samples(case_type: str) -> list:
    return [SAMPLES[cls] for cls in union_members(UNIONS[case_type])]


HOME_COMPANY, HOME_PROJECT = "rq", "融侨城"      # P5: the cases' company and project
SCOPES = {"group": [(None, None)], "company": [("rq", None), ("hj", None)],
          "project": [("rq", "融侨城"), ("hj", "海景苑")]}


def actors() -> list[Actor]:
    """Every role in each scope it may have (P5); department roles in the case's department, another one and
    none; the handler and another handler; the contractor of the survey, another one and none."""
    from aftersales.org import ROLE_SCOPES
    return [a.model_copy(update={"company_id": company, "project": project})
            for a in role_actors() for kind in sorted(ROLE_SCOPES[a.role]) for company, project in SCOPES[kind]]


def p5_in_scope(actor: Actor) -> bool:
    """P5, restated: the group's accounts, the case's company's, its project's."""
    if actor.project is not None:
        return actor.project == HOME_PROJECT
    return actor.company_id in (None, HOME_COMPANY)


def role_actors() -> list[Actor]:
    out = []
    for role in Role:
        if role in access.DEPARTMENT_ROLES:
            names = [HANDLER, "other.handler"] if role == R.dept_handler else [role.value]
            out += [who(role, n, department=d) for n in names for d in (HOME, OTHER, None)]
        elif role in access.CONTRACTOR_ROLES:
            out += [who(role, f"{role.value}-{c}", contractor_id=c) for c in (OUR, THEIR, None)]
        else:
            out.append(who(role))
    return out


# ---- the states: each path's case after every step --------------------------------------------------
def snapper(states: list[CaseMachine]):
    def snap(run):
        state = run.case.state.model_copy(deep=True, update={"company_id": HOME_COMPANY, "project_key": HOME_PROJECT})
        states.append(type(run.case)(state))
        return run
    return snap


def complaint_states() -> list[CaseMachine]:
    states: list[CaseMachine] = []
    snap = snapper(states)
    r = snap(C.Run())
    snap(r.classified())
    snap(r.do(R.dept_head, A.AssignHandler(action="assign_handler", handler=HANDLER)))
    snap(r.do(R.dept_handler, SAMPLES[A.DepartmentFeedback], HANDLER))
    snap(r.do(R.dept_handler, SAMPLES[A.ProposeSolution], HANDLER))
    snap(r.do(R.cs_manager, SAMPLES[A.Decide]))
    snap(r.do(R.cs_staff, SAMPLES[A.InformCustomer]))
    snap(r.do(R.finance, SAMPLES[A.RecordCompensationPaid]))                 # A1: before closing
    snap(r.do(R.cs_staff, SAMPLES[A.RecordSatisfaction]))
    snap(r.do(R.cs_staff, SAMPLES[A.Summarise]))
    snap(r.do(R.cs_staff, SAMPLES[A.Close]))
    m = snap(C.Run(major=True, channel="authority_referral"))  # C8, C9: gm approves, summary review
    m.classified().do(R.dept_head, A.AssignHandler(action="assign_handler", handler=HANDLER))
    m.do(R.dept_handler, SAMPLES[A.DepartmentFeedback], HANDLER).do(R.gm, SAMPLES[A.RecordMeeting])
    snap(m.do(R.dept_handler, SAMPLES[A.ProposeSolution], HANDLER))
    m.do(R.gm, SAMPLES[A.Decide]).do(R.cs_staff, SAMPLES[A.InformCustomer])
    snap(m.do(R.cs_staff, SAMPLES[A.RecordSatisfaction]).do(R.cs_staff, SAMPLES[A.Summarise]))
    snap(C.Run().classified().do(R.cs_staff, SAMPLES[A.OpenRepair]))
    return states


def repair_states() -> list[CaseMachine]:
    states: list[CaseMachine] = []
    snap = snapper(states)
    r = snap(RP.Run())
    snap(r.scheduled(MONDAY_10 + timedelta(hours=2)))
    snap(r.do(R.cs_staff, SAMPLES[A.ProposeAppointment]))               # R1 (rules 4): a time for the owner to accept
    snap(r.do(R.engineering, SAMPLES[A.RecordSurvey]))
    for role in list(r.s.survey.missing_roles):
        snap(r.do(role, RP.SIGN))
    while (approval := r.case.pending_approval()) is not None:      # A1: deputy_chief_engineer, deputy_gm
        snap(r.do(approval.current().role, RP.APPROVE))
    snap(r.do(R.engineering, RP.dispatch("wang", to_contractor=True)))
    snap(r.do(R.repair_lead, SAMPLES[A.AskExtension]))                 # R8 (rules 4): more time asked of the owner
    snap(r.do(R.contractor, SAMPLES[A.CompleteWork]))
    snap(r.do(R.cs_staff, RP.inspect()).do(R.repair_lead, RP.inspect()))
    snap(r.do(R.cs_staff, SAMPLES[A.OwnerSignOff]))
    snap(r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=2, quality=3, attitude=3, note="x",
                                    follow_up="cs_manager_follow_up")))
    snap(r.do(R.cs_manager, SAMPLES[A.FollowUp]))
    snap(r.do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal("25000"), note="n")))
    while (approval := r.case.pending_approval()) is not None:      # A2 auditor, A3 contractor, dce
        snap(r.do(approval.current().role, RP.APPROVE))
    snap(r.do(R.finance, A.Pay(action="pay", amount=Decimal("25000"), reference="FIN-1")))
    # (the rules-v1 paid path, survey + fee acceptance, is in tests/rules/test_paid_service.py: P1 scopes are v2's)
    q = snap(RP.Run(paid_service=True).do(R.cs_staff, SAMPLES[A.Quote]))       # R3: the paid path
    snap(q.do(R.cs_staff, SAMPLES[A.AcceptQuote]))
    snap(q.do(R.finance, SAMPLES[A.RecordServicePayment]).do(R.cs_staff, RP.dispatch("wang")))
    return states


STATES = {"complaint": complaint_states, "repair": repair_states}


# ---- the oracle --------------------------------------------------------------------------------------
def p1_permits(case: CaseMachine, action, actor: Actor) -> bool:
    s = case.state
    if s.closed:
        return True  # a closed case refuses everything as a conflict (409), whoever asks (P5: outside the scope
        # the API answers 404 before the case is asked, as for every action of an account outside it)
    if not p5_in_scope(actor):
        return False  # P5: outside the scope, nothing
    rule = access.ACTIONS[s.case_type.value][action.action]
    if rule.approver:
        pending = case.pending_approval()
        role_ok = pending is None or pending.current().role == actor.role
    else:
        role_ok = actor.role in rule.roles
    if not role_ok:
        return False
    if actor.role in (R.dept_handler, R.dept_head):
        if actor.department is None or actor.department != s.department:
            return False
        if rule.handler and actor.role == R.dept_handler and s.handler is not None and s.handler != actor.username:
            return False
    if actor.role == R.contractor:
        survey = getattr(s, "survey", None)
        if actor.contractor_id is None or survey is None or survey.contractor_id != actor.contractor_id:
            return False
        if rule.dispatched and not s.to_contractor:
            return False
    return True


def p2_sees(case: CaseMachine, actor: Actor) -> bool:
    s = case.state
    role = actor.role
    if not p5_in_scope(actor):
        return False
    if role in (R.hotline, R.cs_staff, R.butler, R.cs_manager, R.deputy_gm, R.gm):
        return True
    if role in (R.dept_handler, R.dept_head):
        return actor.department is not None and actor.department == s.department
    if role in (R.repair_lead, R.engineering):
        return s.case_type.value == "repair"
    if role == R.contractor:
        survey = getattr(s, "survey", None)
        return survey is not None and actor.contractor_id is not None and survey.contractor_id == actor.contractor_id
    # deputy_chief_engineer, auditor, finance: the case reached their approval or settlement
    asked = {st.role for a in s.approvals for st in a.steps if st.decision is not None or st is a.current()}
    paid = s.status == "awaiting_payment" or getattr(s, "payment", None) is not None
    paid = paid or getattr(s, "quote_acceptance", None) is not None or getattr(s, "compensation_payment", None) \
        is not None or (s.a1_amount() is not None and s.case_type.value == "complaint" and any(
            a.purpose == "complaint_solution" and a.status == "approved" for a in s.approvals))
    owned = {o for d in s.deadlines for o in d.owners}
    acted = {t.role for t in s.timeline}
    return role in asked | owned | acted or (role == R.finance and paid)


def p3_full_phone(case: CaseMachine, actor: Actor) -> bool:
    s = case.state
    if not p5_in_scope(actor):
        return False
    if actor.role in (R.hotline, R.cs_staff, R.butler, R.cs_manager, R.deputy_gm, R.gm):
        return True
    if actor.role == R.dept_handler:
        return s.handler == actor.username and s.department == actor.department
    return actor.role == R.repair_lead and s.case_type.value == "repair"


def outcome(case: CaseMachine, action, actor: Actor) -> str:
    ctx = RP.Run().ctx()
    if isinstance(action, A.AssignHandler):
        ctx.accounts = {HANDLER: who(R.dept_handler, HANDLER, department=case.state.department)}
    ctx.now = max(ctx.now, case.state.timeline[-1].at)
    before = case.state.model_dump()
    try:
        case.check(action, actor, ctx)
    except Rejection as e:
        assert case.state.model_dump() == before
        return e.kind
    return "ok"


# ---- the tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case_type", ["complaint", "repair"])
def test_P1_the_table_names_every_action_of_actions_py(case_type):
    """A new action in aftersales/actions.py needs its row in access.ACTIONS and a sample here."""
    names = {cls.model_fields["action"].annotation.__args__[0] for cls in union_members(UNIONS[case_type])}
    assert set(access.ACTIONS[case_type]) == names
    assert all(cls in SAMPLES for cls in union_members(UNIONS[case_type]))


@pytest.mark.parametrize("case_type", ["complaint", "repair"])
def test_P1_P2_P3_role_action_state_matrix(case_type):
    states = STATES[case_type]()
    everyone = actors()
    statuses = {c.state.status for c in states}
    assert len(statuses) >= (9 if case_type == "complaint" else 12)  # the paths cover the procedure
    done = outside = 0
    for case in states:
        view = case_view(case.state, case.state.timeline[-1].at, LADDER)
        facts = access.case_facts(view)
        for actor in everyone:
            assert access.may_see(actor, facts) == p2_sees(case, actor), (case.state.status, actor)
            assert access.sees_full_phone(actor, facts) == p3_full_phone(case, actor), (case.state.status, actor)
            for action in action_samples(case_type):
                got = outcome(case, action, actor)
                permitted = p1_permits(case, action, actor)
                assert (got == "forbidden") == (not permitted), \
                    f"{action.action} by {actor.role.value} ({actor.department or actor.contractor_id or ''}, " \
                    f"{actor.username}) in {case.state.status}: {got}, P1 {'permits' if permitted else 'refuses'}"
                if got == "ok":
                    assert access.may_see(actor, facts), f"{actor.username} acts on a case it cannot see"
                done += 1
                outside += not p5_in_scope(actor)
    print(f"\nP1–P3 × P5 matrix, {case_type}: {len(states)} states × {len(everyone)} scoped accounts × "
          f"{len(action_samples(case_type))} actions = {done} checks, {outside} of them outside the scope")
    assert done > 1000 and outside > done / 3


@pytest.mark.parametrize(("account", "problem"), [
    (None, "不是在职员工账号"),
    (who(R.gm, "boss"), "不是责任部门专人"),
    (who(R.dept_handler, "wy_handler", department=OTHER), "不是工程部的"),
])
def test_P1_assign_handler_names_an_active_dept_handler_of_the_department(account, problem):
    r = C.Run().classified()
    r.accounts = {"x": account} if account else {"x": None}
    e = r.refused(R.dept_head, A.AssignHandler(action="assign_handler", handler="x"))
    assert e.kind == "invalid" and problem in e.message


def test_P1_the_other_departments_head_neither_assigns_nor_proposes():
    r = C.Run().classified()
    wy_head = who(R.dept_head, "wy_head", department=OTHER)
    assert r.refused(wy_head, A.AssignHandler(action="assign_handler", handler=HANDLER)).kind == "forbidden"
    r.do(R.dept_head, A.AssignHandler(action="assign_handler", handler=HANDLER))
    assert r.refused(wy_head, SAMPLES[A.DepartmentFeedback]).kind == "forbidden"
    assert r.refused(who(R.dept_handler, "other.handler", department=HOME), SAMPLES[A.DepartmentFeedback]).kind \
        == "forbidden"
    r.do(R.dept_handler, SAMPLES[A.DepartmentFeedback], HANDLER)
    assert r.refused(wy_head, SAMPLES[A.ProposeSolution]).kind == "forbidden"


def test_P1_a_contractor_confirms_only_its_own_settlement():
    r = RP.Run().settling("1200.50", order_type="A", contractor_id=OUR, estimate="800")
    while r.case.pending_approval().current().role != R.contractor:
        r.do(r.case.pending_approval().current().role, RP.APPROVE)
    assert r.refused(who(R.contractor, "ct2", contractor_id=THEIR), RP.APPROVE).kind == "forbidden"
    r.do(who(R.contractor, "ct1", contractor_id=OUR), RP.APPROVE)


def test_P1_P2_the_table_says_what_domain_md_says():
    """The table itself, against domain.md's role table and P1/P2: who acts on which kind of case."""
    def acting(case_type: str) -> dict[Role, set[str]]:
        out: dict[Role, set[str]] = {}
        for name, rule in access.ACTIONS[case_type].items():
            for role in rule.roles:
                out.setdefault(role, set()).add(name)
        return out

    complaint, repair = acting("complaint"), acting("repair")
    assert access.ACTIONS["complaint"]["decide"].approver and access.ACTIONS["repair"]["decide"].approver  # A4
    # department roles: the named handler's steps and naming the handler, on complaints only (C3, P1)
    assert complaint[R.dept_head] == {"assign_handler", "department_feedback", "propose_solution"}
    assert complaint[R.dept_handler] == {"department_feedback", "propose_solution"}
    assert R.dept_head not in repair and R.dept_handler not in repair
    # repair_lead, engineering and the contractor act on repairs only (P2: they see repairs)
    assert not {R.repair_lead, R.engineering, R.contractor} & set(complaint)
    assert repair[R.contractor] == {"record_arrival", "sign_survey", "complete_work"}  # + its settlement (decide)
    # deputy_chief_engineer and auditor act only by deciding the steps routed to them (A1–A3)
    assert R.deputy_chief_engineer not in complaint | repair and R.auditor not in complaint | repair
    assert repair[R.finance] == {"pay", "record_service_payment"}  # A3; R3: the owner's payment
    assert complaint[R.finance] == {"record_compensation_paid"}  # A1: the compensation paid
    # whoever acts on a kind of case sees that kind (P2)
    for case_type, table in (("complaint", complaint), ("repair", repair)):
        for role in table:
            assert role in access.SEES_ALL | access.SEES_DEPARTMENT | access.SEES_REACHED | (
                access.SEES_REPAIRS | access.SEES_DISPATCHED if case_type == "repair" else set()), role
    # P3: those who call owners
    assert access.CALLS_OWNERS == {R.hotline, R.cs_staff, R.butler, R.cs_manager, R.deputy_gm, R.gm}
