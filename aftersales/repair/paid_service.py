"""R3: an owner-paid repair (有偿服务) runs its own path — quoted from the versioned fee schedule, the
owner accepting (signing the repair slip) or declining, the work, and the owner's payment recorded by
finance — with no company survey, cost approval, settlement or deposit (A1–A3)."""

from datetime import timedelta

from aftersales import actions as A
from aftersales.actor import Actor, is_owner
from aftersales.case import Ctx
from aftersales.errors import conflict, invalid
from aftersales.fees import PAYMENT_METHODS_CN, price_quote
from aftersales.messages import beijing, yuan
from aftersales.repair.base import RepairSteps
from aftersales.repair.state import QuoteAcceptance, QuoteRecord, RepairStatus, ServicePayment

_S = RepairStatus


class PaidServiceSteps(RepairSteps):
    def _paid_path_only(self, doing: str) -> None:
        if not self.state.paid_path:
            raise conflict(f"不能{doing}：按现行规则本维修不是有偿服务（R3）")

    def on_quote(self, a: A.Quote, actor: Actor, ctx: Ctx) -> None:
        self._paid_path_only("报价")
        self.require_status(_S.registered, _S.scheduled, _S.quoted, doing="报价（须在业主答复之前）")
        if a.schedule is None:
            raise invalid("报价须按收费标准计价（R3）")
        try:
            priced = price_quote(a.schedule, a.items, a.extras)
        except ValueError as e:
            raise invalid(f"{e} (R3)") from None
        s = self.state
        n = s.quote.round + 1 if s.quote else 1
        s.quote, s.status = QuoteRecord(**priced.model_dump(), round=n, by=actor.username, at=ctx.now), _S.quoted
        self.meet(ctx, "survey")  # the paid job's visit and quote stand for the survey (R2)
        lines = "；".join(f"{ln.name} {ln.quantity}{ln.unit}×{yuan(ln.unit_price)}={yuan(ln.amount)}"
                         + (f"（标准外：{ln.reason}）" if ln.reason else "") for ln in priced.lines)
        self.note(ctx, "quote", f"{'重新' if n > 1 else ''}报价 {yuan(priced.total)}（收费标准第 {priced.schedule_version} 版）："
                  f"{lines}；待业主确认并签维修单 (R3)", actor)

    def on_accept_quote(self, a: A.AcceptQuote, actor: Actor, ctx: Ctx) -> None:
        self._paid_path_only("记录业主接受报价")
        self.require_status(_S.quoted, doing="记录业主接受报价（须先报价，R3）")
        # the owner's own signature is timed by the API as it sends it: its clock may run a little ahead (R1's tolerance)
        if a.signed_at > ctx.now + (ctx.time_tolerance if is_owner(actor) else timedelta(0)):
            raise invalid(f"signed_at：签认时间 {beijing(a.signed_at)} 尚未到来")
        given = self.given(a, actor, ctx)   # O4: signed on the owner pages (the typed name and now), or 代录
        s = self.state
        assert s.quote is not None
        s.quote_acceptance = QuoteAcceptance(signed_by=a.signed_by, signed_at=a.signed_at, recorded_by=actor.username,
                                             recorded_at=ctx.now, provenance=given)
        s.status = _S.quote_accepted
        self.note(ctx, "quote_accepted", f"业主 {a.signed_by} 于 {beijing(a.signed_at)} 确认报价 {yuan(s.quote.total)} "
                  "并签维修单 (R3)", actor, given)

    def on_decline_quote(self, a: A.DeclineQuote, actor: Actor, ctx: Ctx) -> None:
        self._paid_path_only("记录业主拒绝报价")
        self.require_status(_S.quoted, doing="记录业主拒绝报价（须先报价，R3）")
        given = self.given(a, actor, ctx)
        s = self.state
        assert s.quote is not None
        s.decline_reason, s.decline_provenance = a.reason, given
        self.note(ctx, "declined", f"业主不接受报价 {yuan(s.quote.total)}：{a.reason}；有偿服务未实施，结案 (R3)", actor,
                  given)
        self._close(ctx, "declined")

    def on_record_service_payment(self, a: A.RecordServicePayment, actor: Actor, ctx: Ctx) -> None:
        self._paid_path_only("记录业主付款")
        s = self.state
        if s.quote_acceptance is None or s.quote is None:
            raise conflict("业主尚未接受报价：还没有应付的款项（R3）")
        if s.service_payment is not None:
            raise conflict(f"业主付款已登记（收据号 {s.service_payment.receipt_no}）（R3）")
        if a.amount != s.quote.total:
            raise invalid(f"付款金额 {yuan(a.amount)} 须等于业主接受的报价 {yuan(s.quote.total)}（R3）")
        s.service_payment = ServicePayment(amount=a.amount, method=a.method, receipt_no=a.receipt_no,
                                           by=actor.username, at=ctx.now)
        self.note(ctx, "service_paid", f"收到业主付款 {yuan(a.amount)}（{PAYMENT_METHODS_CN[a.method]}），"
                  f"收据号 {a.receipt_no} (R3)", actor)
        self._close_paid_if_done(ctx)
