"""P2/P7: every notice a case sends reaches only people who may see that case — a notice for a contractor goes
to that contractor's own accounts, one for a department to that department's — for every kind of notice the
machines send (found in their source, so a new kind without a path here fails).

The recipients are worked out by `access.notice_recipients` (what the notification activity uses) among a
staff of every role with two departments and two contractors, *without* the activity's final P2 filter: the
machine's own addressing must already be right. Who may see is the independent oracle of the access matrix
(`p2_sees`), on the case as it is once the step that raised the notice is done."""

import ast
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from aftersales import access
from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Notice, copied
from aftersales.machine import CaseMachine
from aftersales.money import DeductionOutcome
from aftersales.roles import Role
from tests.rules import test_complaint_machine as C
from tests.rules import test_repair_machine as RP
from tests.rules.driver import who
from tests.rules.test_access_matrix import p2_sees

R = Role
HOME, OTHER = "工程部", "物业部"
OURS, THEIRS = "C-001", "C-DEMO2"
RULES = Path(access.__file__).parent
SOURCES = [RULES / "case.py", RULES / "deadlines.py", RULES / "machine.py",
           *sorted((RULES / "complaint").glob("*.py")), *sorted((RULES / "repair").glob("*.py"))]


def staff() -> list[Actor]:
    """Every role; department roles in both departments (the handler li.handler in 工程部), both contractors."""
    out = []
    for role in Role:
        if role in access.DEPARTMENT_ROLES:
            out += [who(role, f"{role.value}.{d}", department=d) for d in (HOME, OTHER)]
        elif role in access.CONTRACTOR_ROLES:
            out += [who(role, f"{role.value}.{c}", contractor_id=c) for c in (OURS, THEIRS)]
        else:
            out.append(who(role))
    return out + [who(R.dept_handler, "li.handler", department=HOME)]


SENT: list[tuple[object, Notice]] = []  # (the case once the step was done, the notice it raised)


class Watched:
    """A run that records each notice with the case as it is after the step that raised it."""
    _seen = 0

    def _record(self):
        new = [e for e in self.effects[self._seen:] if isinstance(e, Notice)]
        self._seen = len(self.effects)
        snapshot = type(self.case)(copied(self.case.state))
        SENT.extend((snapshot, n) for n in new)
        return self

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._record()

    def do(self, *a, **kw):
        super().do(*a, **kw)
        return self._record()

    def at(self, when):
        super().at(when)
        return self._record()

    def took(self):  # effects a test raised by calling the machine directly
        self.effects += self.case.take_effects()
        return self._record()


class Complaint(Watched, C.Run):
    pass


class Repair(Watched, RP.Run):
    pass


def complaint_paths() -> None:
    r = Complaint().classified()
    r.at(r.now + timedelta(days=6))            # C3 missed: E1 up the ladder, the department's head first
    r.do(R.cs_manager, A.Reassign(action="reassign", department=OTHER, reason="归物业部"))
    r.do(who(R.dept_head, department=OTHER), A.AssignHandler(action="assign_handler", handler="wy.handler"))
    r = Complaint().proposed()                  # C7 + A1: compensation 800 approved, finance pays
    r.do(R.cs_manager, A.Decide(action="decide", decision="approve"))
    r.do(R.cs_staff, A.InformCustomer(action="inform_customer", message="m"))
    r.do(R.cs_staff, A.RecordSatisfaction(action="record_satisfaction", told_via="phone", score=1))   # C7 dissatisfied
    r.case.record_early_warning(r.ctx(), 3, 7)                                       # C11
    r.took()
    notice = r.notices()[0]
    r.case.record_undeliverable(r.ctx(), notice, "550 no such mailbox")             # E3
    r.took()
    m = Complaint(major=True)                                                        # C8 at intake
    m.classified()                                                                   # C8: the department told
    Complaint().do(R.cs_staff, A.Classify(action="classify", category="使用不当", department=HOME, justified=False,
                                          reply="业主自行改造")).do(R.cs_manager, A.Decide(
                                              action="decide", decision="reject", reason="须再查"))  # C2 sent back
    c = Complaint().classified().do(R.cs_staff, A.OpenRepair(action="open_repair", trades=["水电"], description="d",
                                                             requested_appointment=C.MONDAY_10 + timedelta(days=1)))
    c.case.record_linked_repair(c.ctx(), "WX-2026-000009")
    c.case.record_repair_progress(c.ctx(), "WX-2026-000009", "closed")                # the repair closed
    c.took()


def repair_paths() -> None:
    r = Repair().scheduled(RP.MONDAY_10 + timedelta(hours=2))
    r.at(RP.MONDAY_10 + timedelta(hours=3, minutes=5))
    r.do(R.repair_lead, A.RecordArrival(action="record_arrival", arrived_at=RP.MONDAY_10 + timedelta(hours=3)))  # R1 late
    r.do(R.engineering, RP.survey("1500", order_type="A", contractor_id=OURS))     # R2: the contractor co-signs
    r.signed().approve_all()                                                         # A1: its approvers
    r.do(R.engineering, RP.dispatch("wang.worker", to_contractor=True))            # R4/R5: to the contractor
    r.do(R.contractor, A.CompleteWork(action="complete_work", note="done"))         # R6
    r.do(R.cs_staff, RP.inspect(passed=False, note="渗水"))                          # R6 failed: back to the contractor
    r.do(R.contractor, A.CompleteWork(action="complete_work", note="again"))
    r.do(R.cs_staff, RP.inspect()).do(R.repair_lead, RP.inspect())
    r.do(R.cs_staff, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=4, attitude=4, comment=None))
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=2, quality=2, attitude=3, note="仍渗水",
                               follow_up="reopen"))                                 # R7/V3: reopened
    r.do(R.contractor, A.CompleteWork(action="complete_work", note="third"))
    r.do(R.cs_staff, RP.inspect()).do(R.repair_lead, RP.inspect())
    r.do(R.cs_staff, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=4, attitude=4, comment=None))
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=4, quality=4, attitude=4, note=None))
    r.do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal("3200"), note="n"))
    r.do(R.cs_manager, A.Decide(action="decide", decision="reject", reason="单价过高"))  # A2 not approved
    r.do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal("3200"), note="n2"))
    r.approve_all()                                                                  # A2/A3: the contractor confirms
    r.do(R.finance, A.Pay(action="pay", amount=Decimal("3200"), reference="FIN-1"))
    r.case.record_deduction(r.ctx(), OURS, DeductionOutcome(requested=Decimal("3200"), deducted=Decimal("1000"),
                                                            shortfall=Decimal("2200"), balance=Decimal("0"),
                                                            booked_now=True))       # A3 shortfall
    r.took()
    x = Repair().scheduled(RP.MONDAY_10 + timedelta(hours=2))
    x.do(R.engineering, RP.survey("1500", order_type="A", contractor_id=OURS)).signed()
    x.do(R.deputy_chief_engineer, A.Decide(action="decide", decision="reject", reason="先查原因"))  # A1 not approved
    Repair().at(RP.MONDAY_10 + timedelta(days=5))                                     # E1 on a repair (R2 missed)
    p = Repair(paid_service=True)                                                    # R3: payment due
    from tests.rules import test_paid_service as PS
    p.do(R.cs_staff, PS.quote(("TAP", "1")))
    p.do(R.cs_staff, A.AcceptQuote(action="accept_quote", told_via="phone", signed_by="李先生", signed_at=RP.MONDAY_10))
    p.do(R.cs_staff, RP.dispatch("wang.worker")).do(R.repair_lead, A.CompleteWork(action="complete_work", note="d"))
    p.do(R.cs_staff, RP.inspect()).do(R.repair_lead, RP.inspect())
    p.do(R.cs_staff, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5, comment=None))
    p.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5, note=None))
    # rules 4: the owner asks for another time (R1); silent 3 working days after the inspection, cs_staff is told to
    # call (O5); the owner refuses the sign-off (R6) and then more time (R8)
    Repair().do(R.cs_staff, A.RequestAppointment(action="request_appointment", told_via="phone",
                                                 appointment_at=RP.MONDAY_10 + timedelta(days=1)))
    o = Repair().inspected()
    o.at(RP.MONDAY_10 + timedelta(days=3, minutes=1))
    o.do(o.owner(), A.RefuseSignOff(action="refuse_sign_off", reason="墙面仍渗水"))
    o.do(R.repair_lead, A.AskExtension(action="ask_extension", new_due_at=o.now + timedelta(days=20), reason="材料待货"))
    o.do(o.owner(), A.RefuseExtension(action="refuse_extension"))


def notice_kinds() -> dict[str, re.Pattern]:
    """Every `self.notify(...)` of the machines, by its reason (f-string parts as wildcards)."""
    kinds = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "notify"):
                continue
            reason = next((k.value for k in node.keywords if k.arg == "reason"), None) or node.args[3]
            if isinstance(reason, ast.Attribute):  # a class constant (CaseMachine.UNDELIVERABLE_REASON)
                pattern = re.escape(getattr(CaseMachine, reason.attr))
            elif isinstance(reason, ast.Constant):
                pattern = re.escape(reason.value)
            else:
                pattern = "".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in reason.values)
            kinds[f"{path.name}:{node.lineno} {ast.unparse(reason)}"] = re.compile(pattern)
    return kinds


@pytest.fixture(scope="module")
def sent() -> list[tuple[object, Notice]]:
    SENT.clear()
    complaint_paths()
    repair_paths()
    return list(SENT)


def test_P2_every_kind_of_notice_is_sent_on_some_path_here(sent):
    kinds = notice_kinds()
    assert len(kinds) >= 25
    missing = [k for k, pattern in kinds.items() if not any(pattern.fullmatch(n.reason) for _, n in sent)]
    assert missing == []


def test_P2_P7_every_notice_reaches_only_people_who_may_see_its_case(sent):
    accounts = staff()
    leaks = []
    for case, n in sent:
        for account in access.notice_recipients(n, accounts, guard=False):
            if not p2_sees(case, account):
                leaks.append(f"{n.reason} [{n.subject}] → {account.username}")
    assert leaks == []


def test_P7_a_contractors_notices_go_to_its_own_accounts_and_reach_them(sent):
    to_contractors = [(case, n) for case, n in sent if R.contractor in n.roles]
    assert {n.reason for _, n in to_contractors} >= {"R2 survey co-signature", "R4 dispatch", "R6 failed inspection",
                                                     "R7 reopen", "A3 deposit shortfall"}
    assert any(n.reason.startswith("approval settlement") for _, n in to_contractors)  # A3: confirms the settlement
    for _, n in to_contractors:
        assert [a.username for a in access.notice_recipients(n, staff()) if a.role == R.contractor] == [
            f"contractor.{OURS}"], n.reason


def test_P2_the_last_filter_drops_whoever_may_not_see_the_case(sent):
    """The activity's own P2 filter (the notice carries who may see its case): a username named on a notice,
    or a role without its department, never reaches an account that may not see the case."""
    case, notice = next((c, n) for c, n in sent if n.reason == "C3 complaint assigned")
    odd = notice.model_copy(update={"usernames": ["finance", "contractor.C-001", "dept_handler.物业部"],
                                    "roles": [R.dept_head], "department": None})
    assert access.notice_recipients(odd, staff()) == []
    assert {a.username for a in access.notice_recipients(odd, staff(), guard=False)} >= {"finance"}
