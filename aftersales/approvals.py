"""One approval mechanism for every decision that needs sign-off (A1, A2, A4, C7).

`route_*` functions say who decides, by rule; `Approval` records each step's decision. Only the role
named on the current step may decide it (A4), and each decision keeps who, when, amount and reason.
"""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from aftersales.actor import Actor
from aftersales.errors import conflict, forbidden, invalid
from aftersales.roles import Role

Decision = Literal["approve", "reject", "request_changes"]
StepKind = Literal["review", "approve", "audit", "confirm"]

# A1 [S1 §3.6.1]: ≤ 1,000 cs_manager; 1,000–10,000 deputy_chief_engineer review then deputy_gm;
# > 10,000 also gm.
COST_CS_MANAGER_LIMIT = Decimal("1000")
COST_DEPUTY_GM_LIMIT = Decimal("10000")
# A2 [S1 §3.5.6]: settlements below 20,000 audited by cs_manager, from 20,000 by auditor (rules v1:
# 20,000 itself by cs_manager).
SETTLEMENT_CS_MANAGER_LIMIT = Decimal("20000")


class ApprovalStep(BaseModel):
    role: Role
    kind: StepKind = "approve"
    decision: Decision | None = None
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None


def route_repair_cost(amount: Decimal) -> list[ApprovalStep]:
    """A1: the approvers of a repair cost, in order."""
    if amount <= COST_CS_MANAGER_LIMIT:
        return [ApprovalStep(role=Role.cs_manager)]
    steps = [
        ApprovalStep(role=Role.deputy_chief_engineer, kind="review"),
        ApprovalStep(role=Role.deputy_gm),
    ]
    if amount > COST_DEPUTY_GM_LIMIT:
        steps.append(ApprovalStep(role=Role.gm))
    return steps


def route_settlement_audit(amount: Decimal, rules_version: int = 2) -> list[ApprovalStep]:
    """A2: who audits a repair's cost statement (at exactly 20,000 the stricter reading: auditor)."""
    below = amount < SETTLEMENT_CS_MANAGER_LIMIT if rules_version >= 2 else amount <= SETTLEMENT_CS_MANAGER_LIMIT
    role = Role.cs_manager if below else Role.auditor
    return [ApprovalStep(role=role, kind="audit")]


def route_complaint_solution(major: bool) -> list[ApprovalStep]:
    """C7: cs_manager approves a general complaint's solution, gm a major one's."""
    return [ApprovalStep(role=Role.gm if major else Role.cs_manager)]


def route_complaint_summary() -> list[ApprovalStep]:
    """C7: a major complaint's summary and measures are approved by gm."""
    return [ApprovalStep(role=Role.gm)]


class Approval(BaseModel):
    id: str
    purpose: str
    rule: str
    subject: str
    amount: Decimal | None = None
    requested_by: str
    requested_at: datetime
    steps: list[ApprovalStep]
    status: Literal["pending", "approved", "rejected", "changes_requested"] = "pending"

    def current(self) -> ApprovalStep | None:
        if self.status != "pending":
            return None
        return next((s for s in self.steps if s.decision is None), None)

    def check(self, actor: Actor, decision: Decision, reason: str | None) -> ApprovalStep:
        step = self.current()
        if step is None:
            raise conflict(f"approval {self.id} is already {self.status}")
        if actor.role != step.role:
            raise forbidden(
                f"approval {self.id} waits for {step.role.value} to {step.kind}; role {actor.role.value} may not decide it"
            )
        if decision != "approve" and not (reason and reason.strip()):
            raise invalid(f"a decision '{decision}' needs a reason (A4)")
        return step

    def decide(self, actor: Actor, decision: Decision, reason: str | None, now: datetime) -> None:
        step = self.check(actor, decision, reason)
        step.decision, step.by, step.at, step.reason = decision, actor.username, now, reason
        if decision == "reject":
            self.status = "rejected"
        elif decision == "request_changes":
            self.status = "changes_requested"
        elif self.current() is None:
            self.status = "approved"
