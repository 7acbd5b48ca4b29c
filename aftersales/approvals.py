"""One approval mechanism for every decision that needs sign-off (A1, A2, A4, C7).

`route_*` functions say who decides, by rule; `Approval` records each step's decision. Only the role
named on the current step may decide it (A4), and each decision keeps who, when, amount and reason.
"""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from aftersales.actor import Actor
from aftersales.errors import conflict, forbidden, invalid
from aftersales.roles import Role
from aftersales.messages import APPROVAL_STATUS_NAMES, DECISION_NAMES, STEP_KIND_NAMES, role_title

Decision = Literal["approve", "reject", "request_changes"]
StepKind = Literal["review", "approve", "audit", "confirm"]

# A1 [S1 §3.6.1]: ≤ 1,000 cs_manager; 1,000–10,000 deputy_chief_engineer review then deputy_gm;
# > 10,000 also gm.
COST_CS_MANAGER_LIMIT = Decimal("1000")
COST_DEPUTY_GM_LIMIT = Decimal("10000")
# A2 [S1 §3.5.6]: settlements below 20,000 audited by cs_manager, from 20,000 by auditor.
SETTLEMENT_CS_MANAGER_LIMIT = Decimal("20000")


class ApprovalStep(BaseModel):
    role: Role
    kind: StepKind = "approve"
    covers: list[str] = Field(default=[], description="the rules this step answers (e.g. A2 and A1 in one step)")
    decision: Decision | None = None
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None


def route_repair_cost(amount: Decimal) -> list[ApprovalStep]:
    """A1: the approvers of a repair cost (or a complaint's compensation), in order."""
    if amount <= COST_CS_MANAGER_LIMIT:
        return [ApprovalStep(role=Role.cs_manager, covers=["A1"])]
    steps = [
        ApprovalStep(role=Role.deputy_chief_engineer, kind="review", covers=["A1"]),
        ApprovalStep(role=Role.deputy_gm, covers=["A1"]),
    ]
    if amount > COST_DEPUTY_GM_LIMIT:
        steps.append(ApprovalStep(role=Role.gm, covers=["A1"]))
    return steps


def a1_band(amount: Decimal) -> str:
    """A1's band of an amount, by its PRC reading (1,000.00 cs_manager's; 10,000.00 the middle band's)."""
    if amount <= COST_CS_MANAGER_LIMIT:
        return "cs_manager"
    return "deputy_gm" if amount <= COST_DEPUTY_GM_LIMIT else "gm"


def route_settlement_audit(amount: Decimal) -> list[ApprovalStep]:
    """A2: who audits a repair's cost statement (at exactly 20,000 the stricter reading: auditor)."""
    role = Role.cs_manager if amount < SETTLEMENT_CS_MANAGER_LIMIT else Role.auditor
    return [ApprovalStep(role=role, kind="audit")]


def route_settlement(amount: Decimal, order_type: str, approvals: list["Approval"]) -> list[ApprovalStep]:
    """A2 + A3 + A1: the audit by amount (A2), the contractor's confirmation of a type-A
    settlement and deputy_chief_engineer's (A3), then whatever A1 still misses for this amount — the
    amount the company finally pays — each role asked once."""
    steps = [s.model_copy(update={"covers": ["A2"]}) for s in route_settlement_audit(amount)]
    if order_type == "A":
        steps.append(ApprovalStep(role=Role.contractor, kind="confirm", covers=["A3"]))
    steps.append(ApprovalStep(role=Role.deputy_chief_engineer, kind="confirm", covers=["A3"]))
    return merge_steps(steps, a1_missing(amount, approvals))


def route_complaint_solution(major: bool) -> list[ApprovalStep]:
    """C7: cs_manager approves a general complaint's solution, gm a major one's."""
    return [ApprovalStep(role=Role.gm if major else Role.cs_manager)]


def route_compensation(compensation: Decimal, major: bool) -> list[ApprovalStep]:
    """C7 + A1: the solution's own approver (C7) and the A1 band of the compensation the
    company pays, each role asked once. A general complaint: cs_manager first (C7, and A1 up to 1,000),
    then the band's approvers. A major complaint: gm decides last whatever the amount; as in A1, where a
    higher band's approvers replace cs_manager, gm's approval stands in for the cs_manager band."""
    if compensation <= 0:
        return route_complaint_solution(major)
    c7 = route_complaint_solution(major)[0]
    c7.covers = ["C7"]
    band = route_repair_cost(compensation)
    if not major:
        return merge_steps([c7], band)
    return merge_steps([s for s in band if s.role != Role.cs_manager], [c7])


def route_unjustified_ruling() -> list[ApprovalStep]:
    """C2: cs_manager rules a complaint unjustified (呈报上级主管裁定) before it closes."""
    return [ApprovalStep(role=Role.cs_manager, kind="approve", covers=["C2"])]


def route_complaint_summary() -> list[ApprovalStep]:
    """C7: a major complaint's summary and measures are approved by gm."""
    return [ApprovalStep(role=Role.gm)]


def merge_steps(first: list[ApprovalStep], then: list[ApprovalStep]) -> list[ApprovalStep]:
    """One route from two: the steps of `first`, then those of `then`; a role already on the route
    decides once, its step answering both rules (A4: one decision per role)."""
    steps = [s.model_copy(deep=True) for s in first]
    for extra in then:
        same = next((s for s in steps if s.role == extra.role), None)
        if same is None:
            steps.append(extra.model_copy(deep=True))
        else:
            same.covers = [*same.covers, *(c for c in extra.covers if c not in same.covers)]
    return steps


class A1Status(BaseModel):
    """What the case view shows of A1 for the amount the company will pay: the band, the approvers it
    needs, who has approved and who is still missing."""
    amount: Decimal
    band: str
    required: list[Role]
    done: list[Role]
    missing: list[Role]


def a1_given(approvals: list["Approval"]) -> tuple[set[Role], Decimal | None]:
    """A1 approvals already given on a case: the roles whose A1 step was approved (in a route approved
    as a whole, or still running; a rejected route's approvals do not count), and the highest amount a
    whole route approved."""
    roles: set[Role] = set()
    highest: Decimal | None = None
    for a in approvals:
        if a.status not in ("approved", "pending"):
            continue
        a1_steps = [s for s in a.steps if "A1" in s.covers or (not s.covers and a.rule == "A1")]
        if not a1_steps:
            continue
        roles |= {s.role for s in a1_steps if s.decision == "approve"}
        if a.status == "approved" and a.amount is not None and (highest is None or a.amount > highest):
            highest = a.amount
    return roles, highest


def a1_missing(amount: Decimal, approvals: list["Approval"]) -> list[ApprovalStep]:
    """A1 on the amount finally paid: the steps of `amount`'s band not yet given. An amount
    within a band already approved as a whole needs nothing more; otherwise a role that has approved
    an A1 step on this case is not asked again, and the band's other approvers are."""
    roles, highest = a1_given(approvals)
    if highest is not None and amount <= highest:
        return []
    return [s for s in route_repair_cost(amount) if s.role not in roles]


def a1_status(amount: Decimal, approvals: list["Approval"]) -> A1Status:
    required = [s.role for s in route_repair_cost(amount)]
    missing = {s.role for s in a1_missing(amount, approvals)}
    return A1Status(amount=amount, band=a1_band(amount), required=required,
                    done=[r for r in required if r not in missing], missing=[r for r in required if r in missing])


def band_text(amount: Decimal) -> str:
    """A1's band of an amount as people read it: its range and who approves it (以内 includes the edge)."""
    steps = route_repair_cost(amount)
    who = "、".join(f"{role_title(st.role)}{STEP_KIND_NAMES.get(st.kind, st.kind)}" for st in steps)
    if amount <= COST_CS_MANAGER_LIMIT:
        span = f"¥{COST_CS_MANAGER_LIMIT:,.2f} 以内"
    elif amount <= COST_DEPUTY_GM_LIMIT:
        span = f"¥{COST_CS_MANAGER_LIMIT + Decimal('0.01'):,.2f}–¥{COST_DEPUTY_GM_LIMIT:,.2f}"
    else:
        span = f"超过 ¥{COST_DEPUTY_GM_LIMIT:,.2f}"
    return f"{span}：{who}（A1）"


class StepBrief(BaseModel):
    """One step of an approval as the approver reads it: who, which kind, and (once decided) the decision."""
    role: Role
    kind: str
    name: str                      # 副总经理审批
    decision: Decision | None = None
    decision_name: str | None = None
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None


class DecisionBrief(BaseModel):
    """A4: what an approver decides — the thing decided (the solution, the survey, the cost statement, the
    ruling), the amount and its A1 band, who asked and when, the steps done and still missing."""
    approval_id: str
    subject: str
    rule: str
    what: str
    amount: Decimal | None = None
    amount_text: str | None = None
    band: str | None = None
    requested_by: str
    requested_at: datetime
    current: StepBrief | None = None
    done: list[StepBrief] = []
    missing: list[StepBrief] = []

    def lines(self, names: dict[str, str] | None = None) -> list[tuple[str, str]]:
        """The brief as rows of a message (Chinese); `names`: username -> '张伟 · 工程部专人'."""
        names = names or {}
        rows = [("审批事项", self.subject), ("决定内容", self.what)]
        if self.amount_text:
            rows.append(("金额", self.amount_text + (f"（{self.band}）" if self.band else "")))
        rows.append(("申请人", names.get(self.requested_by, self.requested_by)))
        rows.append(("已完成", "；".join(f"{s.name} {s.decision_name}" + (f"（{names.get(s.by, s.by)}）" if s.by else "")
                                       for s in self.done) or "（无）"))
        rows.append(("尚待", "、".join(s.name for s in self.missing) or "（无）"))
        return rows


def step_brief(step: ApprovalStep) -> StepBrief:
    return StepBrief(role=step.role, kind=step.kind, name=f"{role_title(step.role)}{STEP_KIND_NAMES.get(step.kind, step.kind)}",
                     decision=step.decision, decision_name=DECISION_NAMES.get(step.decision) if step.decision else None,
                     by=step.by, at=step.at, reason=step.reason)


def decision_brief(approval: "Approval", what: str) -> DecisionBrief:
    """A4: the brief of an approval, with `what` is decided (the case's own words for it)."""
    amount = approval.amount if approval.amount else None
    current = approval.current()
    return DecisionBrief(
        approval_id=approval.id, subject=approval.subject, rule=approval.rule, what=what, amount=amount,
        amount_text=f"¥{amount:,.2f}" if amount is not None else None,
        band=band_text(amount) if amount is not None else None,  # A1 applies to every amount the company pays
        requested_by=approval.requested_by, requested_at=approval.requested_at,
        current=step_brief(current) if current else None,
        done=[step_brief(s) for s in approval.steps if s.decision is not None],
        missing=[step_brief(s) for s in approval.steps if s.decision is None])


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
            raise conflict(f"审批 {self.id} {APPROVAL_STATUS_NAMES.get(self.status, self.status)}")
        if actor.role != step.role:
            raise forbidden(f"审批 {self.id} 等待{role_title(step.role)}{STEP_KIND_NAMES.get(step.kind, step.kind)}；"
                            f"{role_title(actor.role)}不能决定")
        if decision != "approve" and not (reason and reason.strip()):
            raise invalid(f"「{DECISION_NAMES.get(decision, decision)}」须说明理由（A4）")
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
