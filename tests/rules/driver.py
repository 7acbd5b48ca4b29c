"""One driver for the pure rule tests of every case type: it opens a case at a moment, applies actions
as a given role (validating on a copy first, like the workflow's Update validator), moves time on
(`tick`) and collects the effects."""

from datetime import datetime, timedelta, timezone

import pytest

from aftersales import access
from aftersales.actions import AssignHandler
from aftersales.actor import Actor, OwnerActor
from aftersales.case import CURRENT_RULES_VERSION, Ctx, Notice, copied
from aftersales.machine import CaseMachine
from aftersales.errors import Rejection
from aftersales.roles import Role
from aftersales.views import case_view, facts_view
from tests.support_calendar import calendar

CST = timezone(timedelta(hours=8))
LADDER = [Role.dept_head, Role.cs_manager, Role.deputy_gm, Role.gm]
CAL = calendar(2026, 2027)
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=CST)


def who(role: Role, username: str | None = None, *, department: str | None = None,
        contractor_id: str | None = None) -> Actor:
    return Actor(username=username or role.value, role=role, department=department, contractor_id=contractor_id)


def bound(case: CaseMachine, role: Role, username: str | None = None) -> Actor:
    """An account of `role` bound where P1 wants it for this case: a department role in the case's
    department, a contractor account for the survey's contractor. Tests of P1 itself build their actors
    with `who(...)` instead."""
    department = case.state.department if role in access.DEPARTMENT_ROLES else None
    contractor_id = access.contractor_of(case.state) if role in access.CONTRACTOR_ROLES else None
    return who(role, username, department=department, contractor_id=contractor_id)


def handler_account(case: CaseMachine, username: str) -> Actor:
    """The account assign_handler names, as the API would resolve it: a dept_handler of the case's department."""
    return who(Role.dept_handler, username, department=case.state.department)


class CaseRun:
    """Subclasses define `open_case(ctx, **kw) -> (machine, effects)`."""

    case: CaseMachine
    rules_version: int = CURRENT_RULES_VERSION  # a subclass with an older version drives a case opened under it

    def __init__(self, at: datetime = MONDAY_10, **kw):
        self.now = at
        self.case, self.effects = self.open_case(self.ctx(), **kw)

    def open_case(self, ctx: Ctx, **kw):
        raise NotImplementedError

    @property
    def s(self):
        return self.case.state

    def ctx(self, action=None) -> Ctx:
        accounts = {}
        if isinstance(action, AssignHandler):
            account = self.accounts[action.handler] if action.handler in self.accounts \
                else handler_account(self.case, action.handler)
            accounts = {action.handler: account} if account else {}
        return Ctx(now=self.now.astimezone(timezone.utc), cal=CAL, ladder=LADDER, rules_version=self.rules_version,
                   accounts=accounts)

    accounts: dict[str, Actor | None] = {}  # accounts assign_handler finds (None: none), where a test wants others

    def actor(self, role: Role | Actor | OwnerActor, username: str | None = None) -> Actor | OwnerActor:
        return role if isinstance(role, (Actor, OwnerActor)) else bound(self.case, role, username)

    def owner(self, means: str = "link", case_no: str | None = None) -> OwnerActor:
        """The case's owner acting on the owner pages (O3), as the API vouches for them."""
        return OwnerActor(case_no=case_no or self.case.state.case_no, means=means)

    def do(self, role: Role | Actor, action, username: str | None = None):
        actor = self.actor(role, username)
        before = self.case.state.model_dump()
        self.case.check(action, actor, self.ctx(action))
        # the dry run shares the timeline's entries and settled deadlines with the case: it never changes them
        assert self.case.state.model_dump() == before, "the dry run changed the case"
        self.effects += self.case.apply(action, actor, self.ctx(action))
        self.check_row_facts()
        return self

    def check_row_facts(self) -> None:
        """P2: the projection's cheap facts of who may see the case are those of its view."""
        s = self.case.state
        view, mine = case_view(s, self.now, LADDER), facts_view(s)
        assert {k: v for k, v in mine.items() if k not in ("a1", "approvals", "deadlines", "timeline")} == {
            k: view.get(k) for k in mine if k not in ("a1", "approvals", "deadlines", "timeline")}
        assert mine["a1"] == ("a1" in view)
        assert mine["approvals"] == [{k: a[k] for k in ("purpose", "status", "steps")} for a in view["approvals"]]
        assert {o for d in mine["deadlines"] for o in d["owners"]} == {o for d in view["deadlines"] for o in d["owners"]}
        assert {t["role"] for t in mine["timeline"]} == {t["role"] for t in view["timeline"] if t["role"]}
        assert access.case_facts(mine) == access.case_facts(view)
        # the validator's dry run copies the state by its dump (case.copied): the copy is the state
        assert copied(s) == s and [copied(d) for d in s.deadlines] == s.deadlines

    def refused(self, role: Role | Actor, action, username: str | None = None) -> Rejection:
        """The action is refused by the dry run and by the real apply, and the case is unchanged."""
        actor = self.actor(role, username)
        before = self.case.state.model_dump()
        with pytest.raises(Rejection) as e:
            self.case.check(action, actor, self.ctx(action))
        with pytest.raises(Rejection):
            self.case.apply(action, actor, self.ctx(action))
        assert self.case.state.model_dump() == before, "a refused action changed the case"
        return e.value

    def at(self, when: datetime):
        self.now = when
        self.effects += self.case.tick(self.ctx())
        self.check_row_facts()
        return self

    def notices(self) -> list[Notice]:
        return [e for e in self.effects if isinstance(e, Notice)]

    @staticmethod
    def about(n: Notice, key_part: str) -> bool:
        """The notice names a deadline whose key contains key_part (E4: its message's items)."""
        return n.message is not None and any(key_part in i.key for i in n.message.items)

    def of(self, kind: type) -> list:
        return [e for e in self.effects if isinstance(e, kind)]

    def due(self, key: str) -> datetime:
        return self.case.deadline(key).due_at.astimezone(CST)
