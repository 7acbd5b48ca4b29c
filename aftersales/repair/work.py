"""R4, R5, R8: the work dispatched once the survey is signed and its cost approved (to the repair team, or
to the contractor through engineering, R5), due in 3 working days (single trade) or 7 (several trades),
extended only with the owner's consent before it is due (R8), and reported done."""


from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Ctx
from aftersales.errors import conflict, forbidden
from aftersales.files import missing_after_work_photo
from aftersales.messages import beijing
from aftersales.repair.base import RepairSteps
from aftersales.repair.state import BEFORE_SURVEY, INSPECTORS, WORK_OPEN, RepairStatus
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
        self.extend(ctx, "work", a.new_due_at, actor=actor, reason=f"业主同意：{a.owner_consent}", rule="R8")

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
