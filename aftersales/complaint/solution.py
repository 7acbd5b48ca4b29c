"""C4, C7: the handler proposes the solution (with any compensation), approved by cs_manager — gm for a
major complaint — and by A1's band of the compensation; the owner is told only once it is approved, the
owner's satisfaction recorded, the summary with its corrective and preventive measures written (approved by
gm for a major complaint). `decide` also takes cs_manager's C2 ruling on an unjustified complaint."""

from decimal import Decimal

from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.approvals import route_compensation, route_complaint_solution, route_complaint_summary
from aftersales.case import Ctx
from aftersales.complaint.base import ComplaintSteps
from aftersales.complaint.state import ComplaintStatus
from aftersales.errors import conflict
from aftersales.messages import yuan
from aftersales.roles import Role

_S = ComplaintStatus


class Solution(ComplaintSteps):
    # ---- C4/C7/C8: solution and its approval -------------------------------------------------
    def on_propose_solution(self, a: A.ProposeSolution, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.investigated, doing="提出处理方案")
        self._require_handler(actor)
        s = self.state
        if s.major and s.meeting_minutes is None:
            raise conflict("重大投诉的处理方案由紧急会议决定：请先「记录会议」（C8）")
        s.solution, s.compensation, s.status = a.solution, a.compensation, _S.awaiting_approval
        s.solution_round += 1
        self.meet(ctx, "solution")
        self.note(ctx, "solution", f"提出处理方案（补偿 {yuan(a.compensation)}）：{a.solution}（C4）", actor)
        steps, rule = route_complaint_solution(s.major), "C7"
        if a.compensation > 0:  # A1: compensation follows the cost bands
            steps, rule = route_compensation(a.compensation, s.major), "C7/A1"
        self.request_approval(ctx, actor, id=f"solution-{s.solution_round}", purpose="complaint_solution", rule=rule,
                              subject=f"处理方案 {s.case_no}", steps=steps, amount=a.compensation)

    def on_decide(self, a: A.Decide, actor: Actor, ctx: Ctx) -> None:
        approval = self.decide_pending(ctx, actor, a.decision, a.reason)
        s = self.state
        if approval.purpose == "complaint_solution":
            if approval.status == "approved":
                s.status = _S.approved
            elif approval.status != "pending":
                s.status = _S.investigated
                self._solution_deadline(ctx)
            if approval.status == "approved" and s.compensation_owed:
                self.notify([Role.finance], "待支付投诉补偿",
                            f"投诉 {s.case_no} 的补偿 {yuan(s.compensation or Decimal(0))} 已批准，请支付并登记凭证号 (A1)。",
                            "A1 compensation approved")
        elif approval.purpose == "complaint_summary":
            if approval.status == "approved":
                s.status = _S.summarised
            elif approval.status != "pending":
                s.status = _S.satisfaction_recorded
        elif approval.purpose == "unjustified":
            if approval.status == "approved":
                self.note(ctx, "unjustified", f"客服经理裁定投诉不成立，已答复业主：{s.reply} (C2)", actor)
                self.meet(ctx, "opinion")
                self._close(ctx, "unjustified")
            elif approval.status != "pending":
                s.status, s.justified, s.reply = _S.registered, None, None
                self.note(ctx, "unjustified_returned", f"客服经理退回不成立认定：{a.reason}；请重新分类 (C2)", actor)
                self.notify([Role.cs_staff], "不成立认定被退回",
                            f"投诉 {s.case_no}：{a.reason}（请重新分类，C2）", "C2 sent back")

    # ---- C7: customer, satisfaction, summary ------------------------------------------------
    def on_inform_customer(self, a: A.InformCustomer, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.approved, doing="告知业主（处理方案须先获批准，C7）")
        self.state.customer_message, self.state.status = a.message, _S.customer_informed
        self.meet(ctx, "opinion")
        self.note(ctx, "customer_informed", f"已告知业主：{a.message}（C4、C7）", actor)

    def on_record_satisfaction(self, a: A.RecordSatisfaction, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.customer_informed, doing="记录满意度")
        given = self.given(a, actor, ctx)   # O4: the owner's own answer on the owner pages, or 代录
        s = self.state
        s.satisfaction, s.satisfaction_comment, s.status = a.score, a.comment, _S.satisfaction_recorded
        s.satisfaction_provenance = given
        self.note(ctx, "satisfaction", f"满意度 {a.score}/5" + (f"：{a.comment}" if a.comment else "") + "（C7）", actor,
                  given)
        if a.score <= 2:
            self.notify([Role.cs_manager], "客户不满意", f"客户满意度 {a.score}/5，请跟进（C7）。",
                        "C7 dissatisfied owner")

    def on_summarise(self, a: A.Summarise, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.satisfaction_recorded, doing="总结")
        s = self.state
        s.summary, s.corrective_measures, s.preventive_measures = a.summary, a.corrective_measures, a.preventive_measures
        self.note(ctx, "summary", "已记录总结及整改、预防措施（C7）", actor)
        if s.major:
            s.status = _S.summary_review
            self.request_approval(ctx, actor, id="summary", purpose="complaint_summary", rule="C7",
                                  subject=f"总结及整改措施 {s.case_no}", steps=route_complaint_summary())
        else:
            s.status = _S.summarised
