"""R6, R7, R9, V3: the finished work inspected by cs_staff and the repair team (a failure sends it back,
the same deadline running), signed off by the owner, revisited within 1 working day (a dissatisfied owner:
the work reopened, or cs_manager follows up), each sign-off and revisit an evaluation of the workers (R9)."""

from typing import Literal

from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Ctx
from aftersales.errors import conflict, invalid
from aftersales.messages import DEADLINE_NAMES, FOLLOW_UP_NAMES, beijing, role_title
from aftersales.repair.base import RepairSteps
from aftersales.repair.state import (
    FOLLOW_UP_WORKING_DAYS, INSPECTORS, LOW_SATISFACTION, REVISIT_WORKING_DAYS, Inspection, RepairStatus,
    RevisitRecord, SignOff, WorkerScores,
)
from aftersales.roles import Role

_S = RepairStatus


class InspectionSteps(RepairSteps):
    # ---- R6: inspection and the owner's sign-off ---------------------------------------------------
    def on_inspect(self, a: A.Inspect, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.awaiting_inspection, doing="验收")
        s = self.state
        if any(i.role == actor.role for i in s.inspections):
            raise conflict(f"{role_title(actor.role)}已记录过本次工作的验收（R6）")
        record = Inspection(role=actor.role, by=actor.username, at=ctx.now, passed=a.passed, note=a.note,
                            work_round=s.work_round)
        s.inspections.append(record)
        s.inspection_history.append(record)
        if not a.passed:
            s.failed_inspections += 1
            s.status, s.inspections = _S.in_progress, []
            self.note(ctx, "inspection_failed", f"{role_title(actor.role)}验收不合格：{a.note}；退回返工，"
                      "完工期限照常计算（R6）", actor)
            self.notify([Role.repair_lead] + ([Role.contractor] if s.to_contractor else []), "验收不合格，请返工",
                        f"验收意见：{a.note}（R6）", "R6 failed inspection", usernames=s.workers)
            return
        self.note(ctx, "inspection_passed", f"{role_title(actor.role)}验收合格（R6）", actor)
        if {i.role for i in s.inspections if i.passed} >= set(INSPECTORS):
            s.status = _S.inspected
            self.meet(ctx, "work")
            self.note(ctx, "inspected", f"{role_title(Role.cs_staff)}与{role_title(Role.repair_lead)}均已验收合格，请业主签认（R6）")

    def on_owner_sign_off(self, a: A.OwnerSignOff, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.inspected, doing="记录业主签认（两方验收须先合格，R6）")
        s = self.state
        s.sign_off = SignOff(quality=a.quality, attitude=a.attitude, comment=a.comment, by=actor.username, at=ctx.now)
        s.sign_offs.append(s.sign_off)
        self._evaluate(ctx, "sign_off", a.quality, a.attitude)
        s.status = _S.completed
        self.meet(ctx, "progress")
        self.note(ctx, "signed_off", f"业主签认：质量 {a.quality}/5，服务态度 {a.attitude}/5"
                  + (f"：{a.comment}" if a.comment else "") + "（R6、R9）", actor)
        self.set_deadline(ctx, key="revisit", rule="R7", label=DEADLINE_NAMES["revisit"],
                          due_at=ctx.cal.add_working_days(ctx.now, REVISIT_WORKING_DAYS), owners=[Role.cs_staff])

    # ---- R7/R9/V3: revisit ---------------------------------------------------------------------
    def on_revisit(self, a: A.Revisit, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.completed, doing="回访（业主须先签认，R6）")
        if a.satisfaction <= LOW_SATISFACTION and a.follow_up is None:
            raise invalid("业主不满意（满意度 ≤ 2）须填写跟进安排 follow_up（R7、V3）")
        s = self.state
        assert s.sign_off is not None
        s.revisits.append(RevisitRecord(satisfaction=a.satisfaction, quality=a.quality, attitude=a.attitude,
                                        note=a.note, follow_up=a.follow_up, by=actor.username, at=ctx.now))
        s.satisfaction = a.satisfaction
        self.meet(ctx, "revisit")
        self.note(ctx, "revisit", f"回访：满意度 {a.satisfaction}/5，质量 {a.quality}/5，"
                  f"服务态度 {a.attitude}/5" + (f"：{a.note}" if a.note else "")
                  + (f"；跟进：{FOLLOW_UP_NAMES[a.follow_up]}" if a.follow_up else "") + "（R7）", actor)
        self._evaluate(ctx, "revisit", a.quality, a.attitude)
        if a.satisfaction <= LOW_SATISFACTION:
            self.notify([Role.cs_manager], "业主不满意",
                        f"回访满意度 {a.satisfaction}/5，后续：{'返修' if a.follow_up == 'reopen' else '客户服务部经理跟进'}（V3）。",
                        "R7/V3 dissatisfied owner")
        if a.follow_up == "reopen":
            s.status, s.inspections, s.sign_off = _S.in_progress, [], None
            s.work_round += 1
            s.work_round_at = ctx.now
            due = self._work_deadline(ctx)
            self._next_progress(ctx)
            self.note(ctx, "reopened", f"回访后返修，应于 {beijing(due)} 前完工（R7）", actor)
            self.notify([Role.repair_lead] + ([Role.contractor] if s.to_contractor else []), "回访后返修",
                        f"回访后返修：{a.note or '业主不满意'}（R7）。", "R7 reopen",
                        usernames=s.workers)
        elif a.follow_up == "cs_manager_follow_up":
            s.status = _S.follow_up
            self.set_deadline(ctx, key="follow_up", rule="R7/V3", label=DEADLINE_NAMES["follow_up"],
                              due_at=ctx.cal.add_working_days(ctx.now, FOLLOW_UP_WORKING_DAYS),
                              owners=[Role.cs_manager])
        else:
            s.status = _S.revisited
            self._close_paid_if_done(ctx)

    def _evaluate(self, ctx: Ctx, source: Literal["sign_off", "revisit"], quality: int, attitude: int) -> None:
        """R9: one evaluation of the workers of this round of work, added to the earlier ones."""
        s = self.state
        self.effects.append(WorkerScores(case_no=s.case_no, workers=list(s.workers), quality=quality,
                                         attitude=attitude, at=ctx.now, source=source,
                                         key=f"{s.case_no}:round-{s.work_round}:{source}"))

    def on_follow_up(self, a: A.FollowUp, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.follow_up, doing="记录跟进")
        s = self.state
        s.follow_up_note, s.status = a.note, _S.revisited
        self.meet(ctx, "follow_up")
        self.note(ctx, "follow_up", f"{role_title(Role.cs_manager)}已跟进业主：{a.note}（V3）", actor)
        self._close_paid_if_done(ctx)
