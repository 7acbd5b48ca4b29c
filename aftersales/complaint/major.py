"""C8, C9: a major complaint is reported at once to gm and deputy_gm (escalation starts at deputy_gm, E2),
its solution decided by an emergency meeting whose minutes are recorded, and closed with a special report;
a complaint referred by a government authority needs cs_manager's answer in person and written report."""


from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Ctx
from aftersales.complaint.base import ComplaintSteps
from aftersales.complaint.state import Channel
from aftersales.errors import conflict
from aftersales.messages import beijing, role_title



class MajorComplaint(ComplaintSteps):
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
