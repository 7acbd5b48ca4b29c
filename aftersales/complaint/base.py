"""What every step of a complaint shares: the state it works on, the major complaint's reports (C8/E2:
at intake, on classification, when marked major), the named handler's check (C3), the solution's deadline
(C4: after the investigation, and again when a solution is sent back), and closing."""


from aftersales.actor import Actor
from aftersales.case import Ctx
from aftersales.complaint.state import SOLUTION_WORKING_DAYS, ComplaintState, ComplaintStatus
from aftersales.errors import conflict, forbidden
from aftersales.machine import CaseMachine
from aftersales.messages import DEADLINE_NAMES
from aftersales.roles import Role

_S = ComplaintStatus


class ComplaintSteps(CaseMachine):
    """The base of the complaint's steps (aftersales/complaint/*.py), composed into `ComplaintCase`."""
    state: ComplaintState

    def _make_major(self, ctx: Ctx, reason: str) -> None:
        """C8/E2: reported at once to gm, deputy_gm (and the department head); escalation starts at deputy_gm."""
        s = self.state
        s.major, s.major_reason = True, reason
        ladder = ctx.ladder
        s.base_level = max(s.base_level, ladder.index(Role.deputy_gm) + 1 if Role.deputy_gm in ladder else len(ladder))
        self.note(ctx, "major", f"重大投诉：{reason}；已报总经理、副总经理（C8、E2）")
        self.notify([Role.gm, Role.deputy_gm], "重大投诉，请即关注",
                    f"{s.category}：{reason}。按 C8 召开紧急会议决定处理方案。", "C8 major complaint",
                    group=True)  # P5: the group's executives too (a case of rules 3, which knows its company)
        if s.department:
            self._notify_major_department(ctx)

    def _notify_major_department(self, ctx: Ctx) -> None:
        self.note(ctx, "major", f"重大投诉已报{self.state.department}负责人（C8）")
        self.notify([Role.dept_head], "重大投诉由贵部门处理", "处理方案由紧急会议决定（C8），请做好准备。",
                    "C8 major complaint", department=self.state.department)

    def _require_handler(self, actor: Actor) -> None:
        s = self.state
        if s.handler is None:
            raise conflict("尚未指定经办人：请先「指定经办人」（C3）")
        if actor.role == Role.dept_handler and actor.username != s.handler:
            raise forbidden(f"只有指定的经办人 {s.handler} 或部门负责人可以办理（C3）")

    def _solution_deadline(self, ctx: Ctx) -> None:
        self.waive_key("solution")
        self.set_deadline(ctx, key="solution", rule="C4", label=DEADLINE_NAMES["solution"],
                          due_at=ctx.cal.add_working_days(ctx.now, SOLUTION_WORKING_DAYS),
                          owners=[Role.dept_handler])

    def _close(self, ctx: Ctx, outcome: str) -> None:
        s = self.state
        self.meet(ctx, "close")
        self.meet(ctx, "progress")
        self.waive_open_deadlines()
        s.status, s.outcome, s.closed_at = _S.closed, outcome, ctx.now
