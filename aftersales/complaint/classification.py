"""C2: customer service classifies the complaint — justified, to a responsible department (C3 from then
on), or unjustified (the owner's own doing) with the reply to give, which cs_manager rules on before the
case closes (approve) or sends back to be classified again."""


from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.approvals import route_unjustified_ruling
from aftersales.case import Ctx
from aftersales.complaint.base import ComplaintSteps
from aftersales.complaint.state import FEEDBACK_WORKING_DAYS, ComplaintStatus
from aftersales.roles import Role

_S = ComplaintStatus


class Classification(ComplaintSteps):
    # ---- C2: classification ----------------------------------------------------------------
    def on_classify(self, a: A.Classify, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.registered, doing="分类")
        s = self.state
        s.category, s.department, s.justified = a.category, a.department, a.justified
        if not a.justified:
            s.reply = a.reply
            # C2: closes only once cs_manager has ruled it unjustified (呈报上级主管裁定)
            s.status = _S.unjustified_review
            n = sum(1 for ap in s.approvals if ap.purpose == "unjustified") + 1
            self.note(ctx, "classified", f"定为不成立投诉（业主自身原因），拟答复：{a.reply}；呈报客服经理裁定 (C2)",
                      actor)
            self.request_approval(ctx, actor, id=f"unjustified-{n}", purpose="unjustified", rule="C2",
                                  subject=f"不成立投诉裁定 {s.case_no}", steps=route_unjustified_ruling())
            return
        s.status = _S.assigned
        self.note(ctx, "classified", f"类别 {a.category}，责任部门 {a.department}（C2）", actor)
        feedback = self.set_deadline(ctx, key="dept_feedback", rule="C3", label=f"{a.department}反馈",
                                     due_at=ctx.cal.add_working_days(ctx.now, FEEDBACK_WORKING_DAYS),
                                     owners=[Role.dept_handler, Role.dept_head])
        self.notify([Role.dept_head], "新投诉待贵部门处理",
                    f"请指定处理人，并于 {FEEDBACK_WORKING_DAYS} 个工作日内向客户服务部反馈（C3）。",
                    "C3 complaint assigned", department=a.department, items=[self.due_item(feedback)])
        if s.major:
            self._notify_major_department(ctx)
