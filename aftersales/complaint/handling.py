"""C3, P7: the responsible department's head names a handler who follows the complaint throughout, and
the department reports its findings within 3 working days of the classification; the solution is then due
in 1 working day (C4). cs_manager may re-route the complaint to another department at any time (P7)."""


from aftersales import access
from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Ctx
from aftersales.complaint.base import ComplaintSteps
from aftersales.complaint.state import FEEDBACK_WORKING_DAYS, OPEN_AFTER_CLASSIFY, ComplaintStatus
from aftersales.errors import conflict
from aftersales.roles import Role

_S = ComplaintStatus


class Handling(ComplaintSteps):
    # ---- C3: the department and its handler ----------------------------------------------------
    def on_assign_handler(self, a: A.AssignHandler, actor: Actor, ctx: Ctx) -> None:
        self.require_status(*OPEN_AFTER_CLASSIFY, doing="指定经办人")
        access.check_named_handler(self.state, a.handler, ctx.accounts.get(a.handler))
        self.state.handler = a.handler
        self.note(ctx, "assigned", f"经办人 {a.handler} 全程跟进本投诉（C3）", actor)
        self.notify([], "您被指定为投诉处理人", "请全程跟进本投诉并按时反馈（C3）。", "C3 named handler",
                    usernames=[a.handler], items=[self.due_item(d) for d in self.state.deadlines
                                                  if d.open and d.key == "dept_feedback"])

    def on_department_feedback(self, a: A.DepartmentFeedback, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.assigned, doing="记录部门反馈")
        self._require_handler(actor)
        self.state.findings, self.state.status = a.findings, _S.investigated
        self.meet(ctx, "dept_feedback")
        self.note(ctx, "feedback", f"部门反馈：{a.findings}（C3）", actor)
        self._solution_deadline(ctx)

    # ---- P7: re-routing to another department ------------------------------------------------
    def on_reassign(self, a: A.Reassign, actor: Actor, ctx: Ctx) -> None:
        """P7: cs_manager moves the case to another department, from any open state (a wrong department
        must not strand it). The handler, who belongs to the old department, no longer follows it; where the
        department's own work was under way (C3/C4: assigned, investigated) it starts again with the new one:
        its feedback due in 3 working days, its head asked to name a handler. The open deadlines escalate to
        the new department from now on. (A new Update kind: no recorded history holds one, so it needs no
        rules version and a case opened under any rules can be re-routed.)"""
        s = self.state
        if a.department == s.department:
            raise conflict(f"案件已由{a.department}负责；改派须选择另一个部门（P7）")
        before, handler = s.department, s.handler
        s.department, s.handler = a.department, None
        for d in s.deadlines:
            if d.open and d.department is not None:
                d.department = a.department
        self.note(ctx, "reassigned", f"责任部门由 {before or '未分派'} 改为 {a.department}：{a.reason}"
                  + (f"；原经办人 {handler} 不再跟进" if handler else "") + "（P7）", actor)
        if s.status in (_S.assigned, _S.investigated):
            s.status = _S.assigned
            self.waive_key("dept_feedback")
            self.waive_key("solution")
            feedback = self.set_deadline(ctx, key="dept_feedback", rule="C3", label=f"{a.department}反馈",
                                         due_at=ctx.cal.add_working_days(ctx.now, FEEDBACK_WORKING_DAYS),
                                         owners=[Role.dept_handler, Role.dept_head])
            self.notify([Role.dept_head], "投诉改派贵部门处理",
                        f"改派理由：{a.reason}。请指定处理人，并于 {FEEDBACK_WORKING_DAYS} 个工作日内向客户服务部反馈（C3、P7）。",
                        "P7 reassigned", department=a.department, items=[self.due_item(feedback)])
        elif s.status not in (_S.registered, _S.unjustified_review):
            self.notify([Role.dept_head], "投诉改由贵部门负责", f"改派理由：{a.reason}（P7）。",
                        "P7 reassigned", department=a.department)
        if s.major and s.status != _S.registered:
            self._notify_major_department(ctx)
