"""C6, C10: a complaint closes once summarised and nothing is missing (C8's minutes and report, C9's
answer, the compensation paid, the linked repair closed); a complaint that needs work opens a repair (a
case of its own that reports its progress back) and follows the repair's deadlines instead of C6's."""

from decimal import Decimal

from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Ctx, not_in_the_past
from aftersales.complaint.base import ComplaintSteps
from aftersales.org import CaseOrg
from aftersales.complaint.state import OPEN_AFTER_CLASSIFY, Channel, ComplaintStatus, OpenLinkedRepair
from aftersales.errors import conflict
from aftersales.messages import STATUS_NAMES, status_name, yuan
from aftersales.repair.state import RepairIntake
from aftersales.roles import Role

_S = ComplaintStatus


class Closing(ComplaintSteps):
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

    # ---- complaint -> repair ----------------------------------------------------------------
    def on_open_repair(self, a: A.OpenRepair, actor: Actor, ctx: Ctx) -> None:
        self.require_status(*OPEN_AFTER_CLASSIFY, doing="转维修（须先对投诉分类，C2）")
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
        self.effects.append(OpenLinkedRepair(
            key=f"{s.case_no}:repair-{s.repairs_requested}", intake=intake, requested_by=actor,
            organisation=CaseOrg(project_key=s.project_key, company_id=s.company_id) if s.project_key else None))
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
