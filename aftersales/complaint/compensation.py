"""A1: the approved compensation is paid to the owner by finance, who records the amount (the approved
one) and its reference before the complaint may close."""


from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Ctx
from aftersales.complaint.base import ComplaintSteps
from aftersales.complaint.state import CompensationPayment
from aftersales.errors import conflict, invalid
from aftersales.messages import yuan



class Compensation(ComplaintSteps):
    # ---- A1: the compensation paid ----------------------------------------------------------
    def on_record_compensation_paid(self, a: A.RecordCompensationPaid, actor: Actor, ctx: Ctx) -> None:
        s = self.state
        if s.a1_amount() is None:
            raise conflict("本投诉无须补偿（A1）")
        approval = next((ap for ap in reversed(s.approvals) if ap.purpose == "complaint_solution"), None)
        if approval is None or approval.status != "approved":
            raise conflict("补偿尚未批准：须先由其金额档次的每位审批人决定（A1）")
        if s.compensation_payment is not None:
            raise conflict(f"补偿已登记为已支付（凭证号 {s.compensation_payment.reference}）")
        if a.amount != s.compensation:
            raise invalid(f"支付金额 {yuan(a.amount)} 须等于批准的补偿 {yuan(s.compensation)}（A1）")
        s.compensation_payment = CompensationPayment(amount=a.amount, reference=a.reference, by=actor.username,
                                                     at=ctx.now)
        self.note(ctx, "compensation_paid", f"财务已支付补偿 {yuan(a.amount)}，凭证号 {a.reference} (A1)", actor)
