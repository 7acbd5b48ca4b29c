"""One driver for the pure rule tests of every case type: it opens a case at a moment, applies actions
as a given role (validating on a copy first, like the workflow's Update validator), moves time on
(`tick`) and collects the effects."""

from datetime import datetime, timedelta, timezone

import pytest

from aftersales.actor import Actor
from aftersales.case import CURRENT_RULES_VERSION, CaseMachine, Ctx, Notice
from aftersales.errors import Rejection
from aftersales.roles import Role
from tests.support_calendar import calendar

CST = timezone(timedelta(hours=8))
LADDER = [Role.dept_head, Role.cs_manager, Role.deputy_gm, Role.gm]
CAL = calendar(2026, 2027)
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=CST)


def who(role: Role, username: str | None = None) -> Actor:
    return Actor(username=username or role.value, role=role)


class CaseRun:
    """Subclasses define `open_case(ctx, **kw) -> (machine, effects)`."""

    case: CaseMachine
    rules_version: int = CURRENT_RULES_VERSION  # a subclass with 1 drives a case opened under the first rules

    def __init__(self, at: datetime = MONDAY_10, **kw):
        self.now = at
        self.case, self.effects = self.open_case(self.ctx(), **kw)

    def open_case(self, ctx: Ctx, **kw):
        raise NotImplementedError

    @property
    def s(self):
        return self.case.state

    def ctx(self) -> Ctx:
        return Ctx(now=self.now.astimezone(timezone.utc), cal=CAL, ladder=LADDER, rules_version=self.rules_version)

    def do(self, role: Role, action, username: str | None = None):
        self.case.check(action, who(role, username), self.ctx())
        self.effects += self.case.apply(action, who(role, username), self.ctx())
        return self

    def refused(self, role: Role, action, username: str | None = None) -> Rejection:
        """The action is refused by the dry run and by the real apply, and the case is unchanged."""
        before = self.case.state.model_dump()
        with pytest.raises(Rejection) as e:
            self.case.check(action, who(role, username), self.ctx())
        with pytest.raises(Rejection):
            self.case.apply(action, who(role, username), self.ctx())
        assert self.case.state.model_dump() == before, "a refused action changed the case"
        return e.value

    def at(self, when: datetime):
        self.now = when
        self.effects += self.case.tick(self.ctx())
        return self

    def notices(self) -> list[Notice]:
        return [e for e in self.effects if isinstance(e, Notice)]

    def of(self, kind: type) -> list:
        return [e for e in self.effects if isinstance(e, kind)]

    def due(self, key: str) -> datetime:
        return self.case.deadline(key).due_at.astimezone(CST)
