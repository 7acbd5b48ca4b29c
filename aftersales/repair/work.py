"""R4, R5, R8: the work dispatched once the survey is signed and its cost approved (to the repair team, or
to the contractor through engineering, R5), due in 3 working days (single trade) or 7 (several trades),
extended only with the owner's consent before it is due (R8), and reported done."""


from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Ctx
from aftersales.errors import conflict, forbidden, invalid
from aftersales.files import missing_after_work_photo
from aftersales.messages import beijing
from aftersales.repair.base import RepairSteps
from aftersales.repair.state import BEFORE_SURVEY, INSPECTORS, WORK_OPEN, Consent, ExtensionAsked, RepairStatus
from aftersales.roles import Role

_S = RepairStatus


class WorkSteps(RepairSteps):
    # ---- R4/R5: dispatch -------------------------------------------------------------------------
    def on_dispatch(self, a: A.Dispatch, actor: Actor, ctx: Ctx) -> None:
        s = self.state
        if s.paid_path:
            self.require_status(_S.quote_accepted, doing="派有偿工单（业主须先接受报价并签维修单，R3）")
        else:
            if s.status in BEFORE_SURVEY:
                raise conflict("不能派工：查勘尚未完成会签（R2）")
            if s.status == _S.cost_approval:
                raise conflict("不能派工：维修费用尚未批准；须经审批的工作在批准前不得开工（A1）")
            self.require_status(_S.surveyed, doing="派工")
        if a.to_contractor and actor.role != Role.engineering:
            raise forbidden("派给施工单位的工作须经工程材料部：只有工程材料部可以派工（R5）")
        s.workers, s.to_contractor, s.dispatched_at, s.status = list(a.workers), a.to_contractor, ctx.now, _S.in_progress
        s.work_round += 1
        s.work_round_at = ctx.now
        due = self._work_deadline(ctx)
        to = "施工单位（经工程部，R5）" if a.to_contractor else "维修队"
        order = f"{s.survey.order_type} 类工单" if s.survey else "工单"
        self.note(ctx, "dispatched", f"{order}已派给{to}：{'、'.join(a.workers)}；应于 {beijing(due)} 前完工（R4）",
                  actor)
        self.notify([Role.contractor] if a.to_contractor else [], "派工单",
                    f"请于 {beijing(due)} 前完工（R4）。", "R4 dispatch", usernames=list(a.workers))

    # ---- R8: extension ---------------------------------------------------------------------------
    def on_extend_deadline(self, a: A.ExtendDeadline, actor: Actor, ctx: Ctx) -> None:
        self.require_status(*WORK_OPEN, doing="延长完工期限")
        given = self.given(a, actor, ctx)   # O4: the owner's consent, recorded by staff (代录)
        d = self.extend(ctx, "work", a.new_due_at, actor=actor, reason=f"业主同意：{a.owner_consent}", rule="R8",
                        provenance=given)
        self._consent(ctx, True, d.extensions[-1].from_due_at, a.new_due_at, a.owner_consent, given)

    def _consent(self, ctx: Ctx, consented: bool, from_due, to_due, reason, given) -> None:
        self.state.consents.append(Consent(consented=consented, from_due_at=from_due, to_due_at=to_due, at=ctx.now,
                                           reason=reason, provenance=given))
        self.state.extension_asked = None

    # ---- R8 (rules 4): more time asked of the owner, who consents or refuses ---------------------------------
    def _asked(self, doing: str) -> ExtensionAsked:
        self.owner_rules(doing)
        self.require_status(*WORK_OPEN, doing=doing)
        asked = self.state.extension_asked
        if asked is None:
            raise conflict("没有待业主答复的延期申请（R8）")
        return asked

    def on_ask_extension(self, a: A.AskExtension, actor: Actor, ctx: Ctx) -> None:
        self.owner_rules("申请延期")
        self.require_status(*WORK_OPEN, doing="申请延期")
        d = self.deadline("work")
        if d is None or not d.open or d.missed or ctx.now >= d.due_at:
            raise conflict("完工期限已过，不能再申请延期：延期须在期限之前征得业主同意（R8）")
        if a.new_due_at <= d.due_at:
            raise invalid(f"new_due_at：新的完成时限 {beijing(a.new_due_at)} 须晚于现在的 {beijing(d.due_at)}（R8）")
        self.state.extension_asked = ExtensionAsked(new_due_at=a.new_due_at, reason=a.reason, by=actor.username,
                                                    at=ctx.now)
        self.note(ctx, "extension_asked", f"申请将完工期限由 {beijing(d.due_at)} 延至 {beijing(a.new_due_at)}："
                  f"{a.reason}；须业主同意（R8）", actor)

    def on_consent_extension(self, a: A.ConsentExtension, actor: Actor, ctx: Ctx) -> None:
        asked = self._asked("同意延期")
        d = self.deadline("work")
        if d is None or not d.open or d.missed or ctx.now >= d.due_at:
            raise conflict("完工期限已过：业主的同意须在期限之前（R8）")
        given = self.given(a, actor, ctx)
        d = self.extend(ctx, "work", asked.new_due_at, actor=actor, reason=f"业主同意延期：{asked.reason}", rule="R8",
                        provenance=given)
        self._consent(ctx, True, d.extensions[-1].from_due_at, asked.new_due_at, asked.reason, given)

    def on_refuse_extension(self, a: A.RefuseExtension, actor: Actor, ctx: Ctx) -> None:
        asked = self._asked("记录业主不同意延期")
        d = self.deadline("work")
        due = d.due_at if d is not None else asked.new_due_at
        given = self.given(a, actor, ctx)
        self._consent(ctx, False, due, asked.new_due_at, a.reason, given)
        self.note(ctx, "extension_refused", f"业主不同意延期，仍应于 {beijing(due)} 前完工"
                  + (f"：{a.reason}" if a.reason else "") + "（R8）", actor, given)
        s = self.state
        self.notify([Role.cs_staff, Role.repair_lead] + ([Role.contractor] if s.to_contractor else []),
                    "业主不同意延期", f"业主不同意延期，仍应于 {beijing(due)} 前完工（R8）。", "R8 owner refused more time",
                    usernames=s.workers)

    # ---- R6: completion --------------------------------------------------------------------------
    def on_complete_work(self, a: A.CompleteWork, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.in_progress, doing="报告完工")
        s = self.state
        if (why := missing_after_work_photo(s.files, self.file_rules(ctx), s.work_round_at)) is not None:
            raise conflict(why)
        s.completion_note, s.status, s.inspections = a.note, _S.awaiting_inspection, []
        self.note(ctx, "work_done", f"报告完工：{a.note}（R6）", actor)
        self.notify(list(INSPECTORS), "维修已完工，待验收", "请组织完工验收，并请业主签认（R6）。",
                    "R6 completion inspection")
