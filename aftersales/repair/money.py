"""A1–A3: the company's money on a repair — the survey's estimate approved by A1's band, the cost statement
audited (A2) and confirmed (A3: the contractor for a type-A order, deputy_chief_engineer), with whatever
A1 still misses for the amount finally paid; finance pays the approved settlement, and a type-A order the
contractor did is deducted from its quality deposit, never below zero (A3)."""


from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.approvals import a1_missing, route_settlement
from aftersales.case import Ctx
from aftersales.errors import conflict, invalid
from aftersales.files import missing_signed_cost_statement
from aftersales.messages import APPROVAL_STATUS_NAMES, role_title, yuan
from aftersales.money import DeductionOutcome
from aftersales.repair.base import RepairSteps
from aftersales.repair.state import DeductionRecord, DepositDeduction, Payment, RepairStatus
from aftersales.roles import Role

_S = RepairStatus


class MoneySteps(RepairSteps):
    # ---- A1/A2/A3: decisions -----------------------------------------------------------------
    def on_decide(self, a: A.Decide, actor: Actor, ctx: Ctx) -> None:
        approval = self.decide_pending(ctx, actor, a.decision, a.reason)
        s = self.state
        if approval.status == "pending":
            return
        if approval.purpose == "repair_cost":
            if approval.status == "approved":
                s.status = _S.surveyed
                self.notify([Role.cs_staff, Role.engineering], "维修费用已批准", "可以派工（A1）。", "A1 approved")
            else:
                assert s.survey is not None
                s.survey.signatures, s.survey.completed_at = [], None
                s.status = _S.survey_returned
                self.notify([Role.cs_staff, Role.engineering, Role.repair_lead], "勘察退回",
                            f"维修费用未获批准（{APPROVAL_STATUS_NAMES.get(approval.status, approval.status)}），请重新勘察（A1）。", "A1 not approved")
        elif approval.purpose == "settlement":
            if approval.status == "approved":
                s.settled_amount, s.status = approval.amount, _S.awaiting_payment
                self.notify([Role.finance], "结算已批准，待付款",
                            f"结算金额 {yuan(approval.amount)} 已批准，请付款（A3）。", "A3 settlement")
            else:
                s.status = _S.revisited
                self.notify([Role.repair_lead], "决算退回", f"维修工程决算书未获批准（{APPROVAL_STATUS_NAMES.get(approval.status, approval.status)}）（A2）。",
                            "A2 not approved")

    # ---- A2/A3: settlement and payment ---------------------------------------------------------
    def on_cost_statement(self, a: A.CostStatement, actor: Actor, ctx: Ctx) -> None:
        self._not_on_paid_path("填写公司决算书")
        self.require_status(_S.revisited, doing="填写决算书（须在回访及跟进之后）")
        s = self.state
        assert s.survey is not None
        s.cost_statement, s.cost_note, s.status = a.amount, a.note, _S.settlement
        s.settlement_round += 1
        # A2, A3, and A1 on the amount finally paid: its band's missing approvers join the route
        steps = route_settlement(a.amount, s.survey.order_type, s.approvals)
        self.note(ctx, "cost_statement", f"决算书 {yuan(a.amount)}：{a.note}（A2）", actor)
        self.request_approval(ctx, actor, id=f"settlement-{s.settlement_round}", purpose="settlement", rule="A2/A3",
                              subject=f"结算 {yuan(a.amount)}（{s.case_no}）", steps=steps, amount=a.amount)

    def on_pay(self, a: A.Pay, actor: Actor, ctx: Ctx) -> None:
        self._not_on_paid_path("支付公司结算（业主付款请用「记录收费」）")
        self.require_status(_S.awaiting_payment, doing="付款（结算须先获批准，A2/A3）")
        s = self.state
        assert s.survey is not None and s.settled_amount is not None
        if a.amount != s.settled_amount:
            raise invalid(f"支付金额 {yuan(a.amount)} 须等于批准的结算金额 {yuan(s.settled_amount)}（A3）")
        if missing := a1_missing(a.amount, s.approvals):
            raise conflict(f"不能支付 {yuan(a.amount)}：缺少" + "、".join(role_title(st.role) for st in missing) + "的审批（A1）")
        deducts = s.survey.order_type == "A" and s.to_contractor
        if deducts and (why := missing_signed_cost_statement(s.files, self.file_rules(ctx))) is not None:
            raise conflict(why)
        s.payment = Payment(amount=a.amount, reference=a.reference, by=actor.username, at=ctx.now)
        self.note(ctx, "paid", f"已付款 {yuan(a.amount)}，凭证号 {a.reference}（A3）", actor)
        if deducts:
            assert s.survey.contractor_id is not None
            self.effects.append(DepositDeduction(entry_key=f"{s.case_no}:deduction", contractor_id=s.survey.contractor_id,
                                                 amount=a.amount, case_no=s.case_no))
            self.note(ctx, "deposit", f"从{s.survey.contractor_id}质量保证金扣除{yuan(a.amount)} (A3)")
        elif s.survey.order_type == "A":
            self.note(ctx, "deposit", f"A类工单由自有维修队完成, 不扣{s.survey.contractor_id}质量保证金 (A3)")
        self._close(ctx, "completed")

    def record_deduction(self, ctx: Ctx, contractor_id: str, outcome: DeductionOutcome) -> None:
        """A3: what the deposit covered. A shortfall is recorded and told to finance and the
        contractor; the case stays closed (it closed when finance paid)."""
        s = self.state
        s.deduction = DeductionRecord(contractor_id=contractor_id, at=ctx.now,
                                      **outcome.model_dump(exclude={"booked_now"}))
        s.seq += 1
        if outcome.shortfall <= 0:
            return
        text = (f"{contractor_id}质量保证金不足: 应扣{yuan(outcome.requested)}, "
                f"实扣{yuan(outcome.deducted)}, 差额{yuan(outcome.shortfall)}已记录, "
                f"余额{yuan(outcome.balance)} (A3)")
        self.note(ctx, "deposit_shortfall", text)
        self.notify([Role.finance, Role.contractor], "质量保证金不足", f"维修单 {s.case_no}: {text}",
                    "A3 deposit shortfall", contractor_id=contractor_id)
