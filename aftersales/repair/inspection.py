"""R6, R7, R9, V3: the finished work inspected by cs_staff and the repair team (a failure sends it back,
the same deadline running), signed off by the owner, revisited within 1 working day (a dissatisfied owner:
the work reopened, or cs_manager follows up), each sign-off and revisit an evaluation of the workers (R9)."""

from typing import Literal

from aftersales import actions as A
from aftersales.actor import Actor, is_owner
from aftersales.case import OWNER_ACTS_FROM, SIGN_OFF_WORKING_DAYS, Ctx
from aftersales.errors import conflict, forbidden, invalid
from aftersales.messages import DEADLINE_NAMES, FOLLOW_UP_NAMES, beijing, role_title
from aftersales.repair.base import RepairSteps
from aftersales.repair.state import (
    FOLLOW_UP_WORKING_DAYS, INSPECTORS, LOW_SATISFACTION, REVISIT_WORKING_DAYS, Inspection, RepairStatus,
    RevisitRecord, SignOff, SignOffRefusal, WorkerScores,
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
            if s.rules_version >= OWNER_ACTS_FROM:
                # O5: the step waits for the owner's sign-off or, after 3 working days, cs_staff's call (代录)
                self.set_deadline(ctx, key="sign_off", rule="O5", label=DEADLINE_NAMES["sign_off"],
                                  due_at=ctx.cal.add_working_days(ctx.now, SIGN_OFF_WORKING_DAYS), owners=[Role.cs_staff])

    def first_missed(self, ctx: Ctx, d) -> bool:
        """O5: an owner who has not signed off within 3 working days is called by cs_staff, who records the
        sign-off (代录) or the refusal; still not done a working day later, the ladder takes it up (E1)."""
        if d.key != "sign_off":
            return False
        self.notify([Role.cs_staff], "业主未签认，请致电业主",
                    f"验收合格已 {SIGN_OFF_WORKING_DAYS} 个工作日，业主仍未签认：请致电业主，代录签认或不签认的理由（O5）。",
                    "O5 owner silent: call the owner", items=[self.due_item(d)])
        return True

    def on_owner_sign_off(self, a: A.OwnerSignOff, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.inspected, doing="记录业主签认（两方验收须先合格，R6）")
        given = self.given(a, actor, ctx)   # O4: the owner's own sign-off, or 代录
        s = self.state
        s.sign_off = SignOff(quality=a.quality, attitude=a.attitude, comment=a.comment, by=actor.username, at=ctx.now,
                             provenance=given)
        s.sign_offs.append(s.sign_off)
        self._evaluate(ctx, "sign_off", a.quality, a.attitude)
        s.status = _S.completed
        self.meet(ctx, "progress")
        self.meet(ctx, "sign_off")   # O5: whichever came first, the owner or cs_staff's call
        self.note(ctx, "signed_off", f"业主签认：质量 {a.quality}/5，服务态度 {a.attitude}/5"
                  + (f"：{a.comment}" if a.comment else "") + "（R6、R9）", actor, given)
        self.set_deadline(ctx, key="revisit", rule="R7", label=DEADLINE_NAMES["revisit"],
                          due_at=ctx.cal.add_working_days(ctx.now, REVISIT_WORKING_DAYS), owners=[Role.cs_staff])

    def on_refuse_sign_off(self, a: A.RefuseSignOff, actor: Actor, ctx: Ctx) -> None:
        """R6 (rules 4): the owner does not sign off: the reason recorded (scores, if given, are an evaluation,
        R9), the work back to the workers as a new round with its own R4 deadline."""
        self.owner_rules("记录业主不签认")
        self.require_status(_S.inspected, doing="记录业主不签认（两方验收须先合格，R6）")
        if (a.quality is None) != (a.attitude is None):
            raise invalid("quality、attitude：评分须两项都填，或都不填（R9）")
        given = self.given(a, actor, ctx)
        s = self.state
        s.sign_off_refusals.append(SignOffRefusal(reason=a.reason, quality=a.quality, attitude=a.attitude,
                                                  work_round=s.work_round, at=ctx.now, provenance=given))
        if a.quality is not None and a.attitude is not None:
            self._evaluate(ctx, "sign_off", a.quality, a.attitude)
        self.meet(ctx, "sign_off")
        s.status, s.inspections = _S.in_progress, []
        s.work_round += 1
        s.work_round_at = ctx.now
        due = self._work_deadline(ctx)
        self.note(ctx, "sign_off_refused", f"业主未签认：{a.reason}；退回返工，应于 {beijing(due)} 前完工（R6）",
                  actor, given)
        self.notify([Role.repair_lead, Role.cs_staff] + ([Role.contractor] if s.to_contractor else []),
                    "业主未签认，请返工", f"业主未签认：{a.reason}（R6）。请于 {beijing(due)} 前完工。",
                    "R6 owner refused sign-off", usernames=s.workers)

    # ---- R7/R9/V3: revisit ---------------------------------------------------------------------
    def on_revisit(self, a: A.Revisit, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.completed, doing="回访（业主须先签认，R6）")
        follow_up = a.follow_up
        if is_owner(actor):
            # the owner answers the survey; whether the work reopens is staff's to decide: a dissatisfied owner is
            # followed up by cs_manager (V3), who may have it reopened
            if follow_up == "reopen":
                raise forbidden("返修由客服决定：业主回访只记录满意度（R7、V3）")
            if a.satisfaction <= LOW_SATISFACTION:
                follow_up = "cs_manager_follow_up"
        if a.satisfaction <= LOW_SATISFACTION and follow_up is None:
            raise invalid("业主不满意（满意度 ≤ 2）须填写跟进安排 follow_up（R7、V3）")
        given = self.given(a, actor, ctx)   # O4: the owner's survey, or the revisit call (代录)
        s = self.state
        assert s.sign_off is not None
        s.revisits.append(RevisitRecord(satisfaction=a.satisfaction, quality=a.quality, attitude=a.attitude,
                                        note=a.note, follow_up=follow_up, by=actor.username, at=ctx.now,
                                        provenance=given))
        s.satisfaction = a.satisfaction
        self.meet(ctx, "revisit")
        self.note(ctx, "revisit", f"{'业主评价' if is_owner(actor) else '回访'}：满意度 {a.satisfaction}/5，质量 {a.quality}/5，"
                  f"服务态度 {a.attitude}/5" + (f"：{a.note}" if a.note else "")
                  + (f"；跟进：{FOLLOW_UP_NAMES[follow_up]}" if follow_up else "") + "（R7）", actor, given)
        self._evaluate(ctx, "revisit", a.quality, a.attitude)
        if a.satisfaction <= LOW_SATISFACTION:
            self.notify([Role.cs_manager], "业主不满意",
                        f"回访满意度 {a.satisfaction}/5，后续：{'返修' if follow_up == 'reopen' else '客户服务部经理跟进'}（V3）。",
                        "R7/V3 dissatisfied owner")
        if follow_up == "reopen":
            s.status, s.inspections, s.sign_off = _S.in_progress, [], None
            s.work_round += 1
            s.work_round_at = ctx.now
            due = self._work_deadline(ctx)
            self._next_progress(ctx)
            self.note(ctx, "reopened", f"回访后返修，应于 {beijing(due)} 前完工（R7）", actor)
            self.notify([Role.repair_lead] + ([Role.contractor] if s.to_contractor else []), "回访后返修",
                        f"回访后返修：{a.note or '业主不满意'}（R7）。", "R7 reopen",
                        usernames=s.workers)
        elif follow_up == "cs_manager_follow_up":
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
