"""The complaint procedure (投诉处理), rules C1–C11, as a pure state machine.

    registered ─classify─┬─ unjustified: unjustified_review ─decide(cs_manager)─ approve: reply, closed (C2)
                         │                                                    / send back with a reason: registered
                         └─ assigned ─department_feedback─ investigated ─propose_solution─
    awaiting_approval ─decide─ approved ─inform_customer─ customer_informed ─record_satisfaction─
    satisfaction_recorded ─summarise─ summarised (major: summary_review ─decide(gm)─ summarised) ─close─ closed

Compensation: the solution's route is C7's approver plus the A1 band of the compensation
(gm last for a major complaint, whatever the amount); `finance` records it paid, with a reference,
before the case closes (record_compensation_paid).

Deadlines: opinion to the customer 3 working days from receipt (C4), close 7 days from receipt (C6),
progress note every 4 working hours (C5), department feedback 3 working days from classification
(C3), solution 1 working day after the investigation (C4). Major complaints (C8) start escalation
at deputy_gm + gm (E2) and need the emergency meeting record and the special report; an authority
referral (C9) needs the manager's in-person answer and written report before closing.
"""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from aftersales import access
from aftersales import actions as A
from aftersales.actions import ShortText, Text
from aftersales.actor import Actor
from aftersales.approvals import (
    route_compensation, route_complaint_solution, route_complaint_summary, route_unjustified_ruling,
)
from aftersales.case import (
    CaseMachine, CaseState, CaseType, Ctx, Customer, EarlyWarningCheck, Effect, not_in_the_past,
)
from aftersales.errors import conflict, forbidden, invalid
from aftersales.messages import CHANNEL_NAMES, DEADLINE_NAMES, STATUS_NAMES, beijing, role_title, status_name, yuan
from aftersales.repair import RepairIntake
from aftersales.roles import Role

CASE_NO_PREFIX = "TS"  # 投诉

OPINION_WORKING_DAYS = 3        # C4 [S2 ch.4 七]
CLOSE_CALENDAR_DAYS = 7         # C6 [S5 第二十六条]
PROGRESS_WORKING_HOURS = 4      # C5 [S3]
FEEDBACK_WORKING_DAYS = 3       # C3 [S1 §3.4.2.2]
SOLUTION_WORKING_DAYS = 1       # C4 [S7]


class Channel(StrEnum):
    phone = "phone"
    visit = "visit"
    letter = "letter"
    online = "online"
    property = "property"
    authority_referral = "authority_referral"


class ComplaintStatus(StrEnum):
    registered = "registered"
    unjustified_review = "unjustified_review"   # C2: cs_manager rules on the unjustified classification
    assigned = "assigned"
    investigated = "investigated"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    customer_informed = "customer_informed"
    satisfaction_recorded = "satisfaction_recorded"
    summary_review = "summary_review"
    summarised = "summarised"
    closed = "closed"


class ComplaintIntake(BaseModel):
    """C1: what the hotline registers (来电、来访登记表)."""
    model_config = ConfigDict(extra="forbid")
    customer: Customer
    channel: Channel
    category: ShortText
    description: Text
    major: StrictBool = False
    group_complaint: StrictBool = False


class CompensationPayment(BaseModel):
    """A1: finance paid the owner the approved compensation: amount, reference, who, when."""
    amount: Decimal
    reference: str
    by: str
    at: datetime


class ComplaintState(CaseState):
    case_type: CaseType = CaseType.complaint
    channel: Channel
    category: str
    group_complaint: bool = False
    major_reason: str | None = None
    justified: bool | None = None
    reply: str | None = None
    findings: str | None = None
    solution: str | None = None
    compensation: Decimal | None = None
    compensation_payment: CompensationPayment | None = None
    customer_message: str | None = None
    satisfaction_comment: str | None = None
    summary: str | None = None
    corrective_measures: str | None = None
    preventive_measures: str | None = None
    meeting_minutes: str | None = None
    meeting_attendees: list[Role] = []
    special_report: str | None = None
    authority_answered_at: datetime | None = None
    authority_report: str | None = None
    early_warning: str | None = None
    progress_notes: int = Field(default=0, description="C5 progress notes recorded")
    solution_round: int = 0
    repairs_requested: int = 0
    linked_case_no: str | None = Field(default=None, description="the repair this complaint opened")
    linked_status: str | None = Field(default=None, description="that repair's status, as it reports it")

    def a1_amount(self) -> Decimal | None:
        """A1: the compensation the company pays the owner, if any."""
        return self.compensation or None

    def decided(self, approval) -> str:
        """A4: the solution (and the findings it answers), the summary and measures, or the reply ruled on."""
        if approval.purpose == "complaint_solution":
            text = f"处理方案：{self.solution or '—'}；补偿 {yuan(self.compensation or Decimal(0))}"
            return text + (f"；部门调查结果：{self.findings}" if self.findings else "") + ("；重大投诉（C8）" if self.major else "")
        if approval.purpose == "complaint_summary":
            return (f"总结：{self.summary or '—'}；整改措施：{self.corrective_measures or '—'}；"
                    f"预防措施：{self.preventive_measures or '—'}")
        if approval.purpose == "unjustified":
            return f"定为不成立投诉（类别 {self.category}），拟答复业主：{self.reply or '—'}"
        return approval.subject

    @property
    def compensation_owed(self) -> bool:
        return self.a1_amount() is not None and self.compensation_payment is None


class OpenLinkedRepair(BaseModel):
    """Effect: number and start the repair a complaint needs; `key` makes it happen once."""
    kind: Literal["open_linked_repair"] = "open_linked_repair"
    key: str
    intake: RepairIntake
    requested_by: Actor


_S = ComplaintStatus
_OPEN_AFTER_CLASSIFY = tuple(s.value for s in _S if s not in (_S.registered, _S.closed))


class ComplaintCase(CaseMachine):
    state: ComplaintState

    # ---- C1: intake ------------------------------------------------------------------------
    @classmethod
    def open(cls, case_no: str, intake: ComplaintIntake, actor: Actor, ctx: Ctx) -> tuple["ComplaintCase", list[Effect]]:
        received = ctx.now
        state = ComplaintState(
            case_no=case_no, status=_S.registered, received_at=received, registered_by=actor.username,
            customer=intake.customer, description=intake.description, channel=intake.channel,
            category=intake.category, group_complaint=intake.group_complaint, rules_version=ctx.rules_version,
        )
        case = cls(state)
        case.note(ctx, "intake", f"{CHANNEL_NAMES.get(intake.channel.value, intake.channel.value)}受理：{intake.category}（C1）", actor)
        cal = ctx.cal
        case.set_deadline(ctx, key="opinion", rule="C4", label=DEADLINE_NAMES["opinion"],
                          due_at=cal.add_working_days(received, OPINION_WORKING_DAYS), owners=[Role.cs_staff])
        case.set_deadline(ctx, key="close", rule="C6", label=DEADLINE_NAMES["close"],
                          due_at=cal.add_days(received, CLOSE_CALENDAR_DAYS,  # T2: a day off rolls on
                                              to_working_day=True), owners=[Role.cs_staff])
        case._next_progress(ctx)
        reasons = [r for r, on in (("受理时报为重大投诉", intake.major),
                                   ("群诉", intake.group_complaint),
                                   ("主管部门转办", intake.channel == Channel.authority_referral)) if on]
        if reasons:
            case._make_major(ctx, "；".join(reasons))
        case.effects.append(EarlyWarningCheck(project=intake.customer.project, building=intake.customer.building))
        return case, case.take_effects()

    def _next_progress(self, ctx: Ctx) -> None:
        """C5: the next progress note is due 4 working hours from now."""
        self.set_deadline(ctx, key="progress", rule="C5", label=DEADLINE_NAMES["progress"],
                          due_at=ctx.cal.add_working_hours(ctx.now, PROGRESS_WORKING_HOURS),
                          owners=[Role.butler, Role.cs_staff], escalates=False)

    def _make_major(self, ctx: Ctx, reason: str) -> None:
        """C8/E2: reported at once to gm, deputy_gm (and the department head); escalation starts at deputy_gm."""
        s = self.state
        s.major, s.major_reason = True, reason
        ladder = ctx.ladder
        s.base_level = max(s.base_level, ladder.index(Role.deputy_gm) + 1 if Role.deputy_gm in ladder else len(ladder))
        self.note(ctx, "major", f"重大投诉：{reason}；已报总经理、副总经理（C8、E2）")
        self.notify([Role.gm, Role.deputy_gm], "重大投诉，请即关注",
                    f"{s.category}：{reason}。按 C8 召开紧急会议决定处理方案。", "C8 major complaint")
        if s.department:
            self._notify_major_department(ctx)

    def _notify_major_department(self, ctx: Ctx) -> None:
        self.note(ctx, "major", f"重大投诉已报{self.state.department}负责人（C8）")
        self.notify([Role.dept_head], "重大投诉由贵部门处理", "处理方案由紧急会议决定（C8），请做好准备。",
                    "C8 major complaint", department=self.state.department)

    def record_early_warning(self, ctx: Ctx, count: int, window_days: int) -> None:
        """C11: several complaints on one building within a short window warn cs_manager."""
        s = self.state
        s.early_warning = f"{s.customer.project}{s.customer.building} {window_days} 天内已有 {count} 件投诉"
        self.note(ctx, "early_warning", f"预警：{s.early_warning}（C11）")
        self.notify([Role.cs_manager], "投诉预警：可能发展为重大投诉",
                    f"{s.customer.project}{s.customer.building} {window_days} 天内已有 {count} 件投诉（C11）。",
                    "C11 early warning")
        s.seq += 1

    # ---- C2/C3: classification and the department -------------------------------------------
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

    def on_assign_handler(self, a: A.AssignHandler, actor: Actor, ctx: Ctx) -> None:
        self.require_status(*_OPEN_AFTER_CLASSIFY, doing="指定经办人")
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

    def _solution_deadline(self, ctx: Ctx) -> None:
        self.waive_key("solution")
        self.set_deadline(ctx, key="solution", rule="C4", label=DEADLINE_NAMES["solution"],
                          due_at=ctx.cal.add_working_days(ctx.now, SOLUTION_WORKING_DAYS),
                          owners=[Role.dept_handler])

    def _require_handler(self, actor: Actor) -> None:
        s = self.state
        if s.handler is None:
            raise conflict("尚未指定经办人：请先「指定经办人」（C3）")
        if actor.role == Role.dept_handler and actor.username != s.handler:
            raise forbidden(f"只有指定的经办人 {s.handler} 或部门负责人可以办理（C3）")

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
        s = self.state
        s.satisfaction, s.satisfaction_comment, s.status = a.score, a.comment, _S.satisfaction_recorded
        self.note(ctx, "satisfaction", f"满意度 {a.score}/5" + (f"：{a.comment}" if a.comment else "") + "（C7）", actor)
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

    # ---- C5: progress ----------------------------------------------------------------------
    def on_progress_note(self, a: A.ProgressNote, actor: Actor, ctx: Ctx) -> None:
        self.meet(ctx, "progress")
        self.state.progress_notes += 1
        self.note(ctx, "progress", f"进展：{a.note}（C5）", actor)
        self._next_progress(ctx)

    # ---- C8: major complaints ----------------------------------------------------------------
    def on_mark_major(self, a: A.MarkMajor, actor: Actor, ctx: Ctx) -> None:
        if self.state.major:
            raise conflict("本投诉已是重大投诉")
        self.note(ctx, "major", f"{role_title(actor.role)}定为重大投诉", actor)
        self._make_major(ctx, a.reason)

    def on_record_meeting(self, a: A.RecordMeeting, actor: Actor, ctx: Ctx) -> None:
        self._require_major("记录紧急会议")
        self.state.meeting_minutes, self.state.meeting_attendees = a.minutes, a.attendees
        self.note(ctx, "meeting", "已提交专题会议纪要（C8）", actor)

    def on_file_special_report(self, a: A.FileSpecialReport, actor: Actor, ctx: Ctx) -> None:
        self._require_major("提交专题报告")
        self.state.special_report = a.report
        self.note(ctx, "report", "已提交专题报告（C8）", actor)

    def _require_major(self, doing: str) -> None:
        if not self.state.major:
            raise conflict(f"不能{doing}：本投诉不是重大投诉（C8）")

    # ---- C9: authority referral --------------------------------------------------------------
    def on_authority_reply(self, a: A.AuthorityReply, actor: Actor, ctx: Ctx) -> None:
        if self.state.channel != Channel.authority_referral:
            raise conflict("本投诉不是主管部门转办的（C9）")
        self.state.authority_answered_at, self.state.authority_report = a.answered_in_person_at, a.written_report
        self.note(ctx, "authority", f"已于 {beijing(a.answered_in_person_at)} 当面答复主管部门，"
                  "书面报告已提交（C9）", actor)

    # ---- C6/C10: closing ---------------------------------------------------------------------
    def on_close(self, a: A.Close, actor: Actor, ctx: Ctx) -> None:
        s = self.state
        self.require_status(_S.summarised, doing="结案（须先记录总结，C7/C10）")
        missing = []
        if s.channel == Channel.authority_referral and s.authority_report is None:
            missing.append("客户服务部经理当面答复主管部门并提交书面报告（C9）")
        if s.major and s.meeting_minutes is None:
            missing.append("紧急会议纪要（C8）")
        if s.major and s.special_report is None:
            missing.append("专题报告（C8）")
        if s.compensation_owed:
            missing.append(f"财务登记补偿 {yuan(s.compensation or Decimal(0))} 已支付（A1）")
        if s.repairs_requested and s.linked_status != "closed":
            missing.append(f"关联维修单 {s.linked_case_no or '（开立中）'} 结案"
                           f"（目前{status_name(s.linked_status) if s.linked_status else '开立中'}）")
        if missing:
            raise conflict("尚不能结案，还缺：" + "；".join(missing))
        self.note(ctx, "closed", f"结案：{a.outcome_note}（C10）", actor)
        self._close(ctx, "resolved")

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

    # ---- complaint -> repair ----------------------------------------------------------------
    def on_open_repair(self, a: A.OpenRepair, actor: Actor, ctx: Ctx) -> None:
        self.require_status(*_OPEN_AFTER_CLASSIFY, doing="转维修（须先对投诉分类，C2）")
        s = self.state
        if s.repairs_requested and s.linked_case_no is None:
            raise conflict("本投诉的维修单正在开立")
        if s.linked_case_no and s.linked_status != "closed":
            raise conflict(f"维修单 {s.linked_case_no} 仍在「{status_name(s.linked_status or '')}」：一件投诉同时只开一张维修单")
        not_in_the_past("requested_appointment", a.requested_appointment, ctx.now, ctx.time_tolerance)
        s.repairs_requested += 1
        s.linked_case_no, s.linked_status = None, None
        intake = RepairIntake(customer=s.customer, trades=a.trades, description=a.description,
                              requested_appointment=a.requested_appointment, paid_service=a.paid_service,
                              parent_case_no=s.case_no)
        self.effects.append(OpenLinkedRepair(key=f"{s.case_no}:repair-{s.repairs_requested}", intake=intake,
                                             requested_by=actor))
        self.note(ctx, "repair_requested", f"转维修：{'、'.join(a.trades)}；本投诉改按维修单的期限跟进，"
                  "维修结案后结案（C6）", actor)
        self.waive_key("close")

    def record_linked_repair(self, ctx: Ctx, repair_no: str) -> None:
        s = self.state
        s.linked_case_no, s.linked_status = repair_no, s.linked_status or "registered"
        self.note(ctx, "repair_opened", f"已为本投诉开立维修单 {repair_no}")
        s.seq += 1

    def record_repair_progress(self, ctx: Ctx, repair_no: str, status: str) -> None:
        """The linked repair reports each status change; the complaint shows it."""
        s = self.state
        if s.linked_case_no not in (None, repair_no) or s.linked_status == status:
            return
        s.linked_case_no, s.linked_status = repair_no, status
        self.note(ctx, "repair_progress", f"维修单 {repair_no}：{STATUS_NAMES.get(status, status)}")
        if status == "closed":
            self.notify([Role.cs_staff], "关联维修已结案", f"维修单 {repair_no} 已结案，本投诉可以结案（C6）。",
                        "repair closed")
        s.seq += 1

    def _close(self, ctx: Ctx, outcome: str) -> None:
        s = self.state
        self.meet(ctx, "close")
        self.meet(ctx, "progress")
        self.waive_open_deadlines()
        s.status, s.outcome, s.closed_at = _S.closed, outcome, ctx.now

