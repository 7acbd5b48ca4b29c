"""Every message a person reads (E4), in one place: e-mail subject and text, and the markdown of the
WeCom / DingTalk group robots, for one case's notice and for a digest of several cases.

Pure: the machine fills a `Message` with facts (the case, what is due or missed and since when, the
escalation level); the notification activity renders it with the public base URL (the link to the
case). Chinese, Beijing time (`2026-11-26 17:30`), and never a full phone number: every rendering
passes through `privacy.mask_mobile_numbers` last, whatever free text a person typed into the case.
"""

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from aftersales.privacy import mask_mobile_numbers
from aftersales.roles import ROLE_TITLES, Role

BEIJING = ZoneInfo("Asia/Shanghai")
CASE_TYPE_NAMES = {"complaint": "投诉", "repair": "维修"}
CHANNEL_NAMES = {"phone": "来电", "visit": "来访", "letter": "来信", "online": "网络", "property": "物业公司",
                 "authority_referral": "主管部门转办", "owner_app": "业主自助"}
STATUS_NAMES = {   # every state of both case types (aftersales.complaint.ComplaintStatus, aftersales.repair.RepairStatus)
    "registered": "已受理", "unjustified_review": "不属实待裁定", "assigned": "已分派", "investigated": "已调查",
    "awaiting_approval": "方案待审批", "approved": "方案已批准", "customer_informed": "已答复业主",
    "satisfaction_recorded": "已记录满意度", "summary_review": "总结待审核", "summarised": "已总结", "closed": "已结案",
    "scheduled": "已预约", "surveying": "查勘中", "survey_returned": "查勘退回", "cost_approval": "费用待审批",
    "surveyed": "已查勘", "quoted": "已报价", "quote_accepted": "业主已接受报价", "in_progress": "维修中",
    "awaiting_inspection": "待验收", "inspected": "已验收", "completed": "已完工", "follow_up": "跟进中",
    "revisited": "已回访", "settlement": "结算中", "awaiting_payment": "待付款", "declined": "业主已拒绝",
}
ACTION_NAMES = {
    "classify": "分类", "assign_handler": "指定经办人", "department_feedback": "部门反馈", "propose_solution": "提出方案",
    "decide": "审批", "inform_customer": "告知业主", "record_satisfaction": "记录满意度", "summarise": "总结",
    "progress_note": "进展记录", "mark_major": "定为重大投诉", "record_meeting": "记录会议", "file_special_report": "专题报告",
    "authority_reply": "回复主管部门", "open_repair": "转维修", "close": "结案", "record_compensation_paid": "补偿已支付",
    "agree_appointment": "约定上门时间", "record_arrival": "记录到场", "record_survey": "记录查勘", "sign_survey": "查勘签认",
    "dispatch": "派工", "extend_deadline": "延期", "complete_work": "完工",
    "inspect": "验收", "owner_sign_off": "业主签认", "revisit": "回访", "follow_up": "跟进", "cost_statement": "费用结算单",
    "pay": "付款", "quote": "报价", "accept_quote": "业主接受报价", "decline_quote": "业主拒绝报价",
    "record_service_payment": "记录收费", "reassign": "改派责任部门",
    "propose_appointment": "拟定上门时间", "accept_appointment": "确认上门时间", "request_appointment": "另约上门时间",
    "ask_extension": "申请延期", "consent_extension": "业主同意延期", "refuse_extension": "业主不同意延期",
    "refuse_sign_off": "业主不签认",
}
APPROVAL_STATUS_NAMES = {"pending": "待决定", "approved": "已通过", "rejected": "已驳回", "changes_requested": "已退回修改"}
DECISION_NAMES = {"approve": "批准", "reject": "驳回", "request_changes": "退回修改"}
FOLLOW_UP_NAMES = {"reopen": "返修", "cs_manager_follow_up": "客户服务部经理跟进"}   # R7/V3
STEP_KIND_NAMES = {"review": "审核", "approve": "审批", "audit": "审计", "confirm": "确认"}

# What each deadline is called in a message (keys of aftersales.case.Deadline); approvals are
# "approval:<id>" and named after the approver's step.
DEADLINE_NAMES = {
    "opinion": "处理意见答复客户",
    "close": "投诉结案",
    "progress": "向业主通报进度",
    "dept_feedback": "责任部门反馈",
    "solution": "提出处理方案",
    "survey": "现场勘察会签",
    "work": "维修完工",
    "revisit": "完工电话回访",
    "follow_up": "客户服务部经理跟进业主",
    "sign_off": "业主签认（逾期由客服致电）",
}


def beijing(m: datetime) -> str:
    """'2026-11-26 17:30' in Beijing time."""
    return m.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def yuan(amount: Decimal | int | float | None) -> str:
    """'¥1,234.50' (an unknown amount: '—')."""
    return "—" if amount is None else f"¥{Decimal(amount):,.2f}"


def role_title(role: Role | str) -> str:
    return ROLE_TITLES.get(Role(role), str(role))


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status)


def action_name(action: str) -> str:
    return ACTION_NAMES.get(action, action)


def deadline_name(key: str, owners: list[Role] | None = None) -> str:
    if key.startswith("approval:"):
        who = "、".join(role_title(r) for r in owners or [])
        return f"{who}审批" if who else "审批"
    return DEADLINE_NAMES.get(key, key)


def case_link(base_url: str, case_no: str) -> str:
    return f"{base_url.rstrip('/')}/app/cases/{case_no}"


class CaseFacts(BaseModel):
    """Who and where: what a reader needs to recognise the case (no phone number)."""
    case_no: str
    case_type: str
    project: str
    building: str
    unit: str
    category: str | None = None
    department: str | None = None
    handler: str | None = None

    @property
    def place(self) -> str:
        return f"{self.project}{self.building}{self.unit}"


class DueItem(BaseModel):
    """One thing that is due or was missed: its name, rule, due time and whether it is overdue."""
    key: str
    name: str
    rule: str
    due_at: datetime
    missed: bool = True


class Message(BaseModel):
    """One case's notice: a one-line title, an optional sentence, the case, what is due or missed,
    and the escalation level it reached (E1)."""
    title: str
    text: str = ""
    case: CaseFacts
    items: list[DueItem] = []
    level: int | None = None
    level_role: Role | None = None
    # A4: what the reader is to decide, as rows (决定内容, 金额, 申请人, 已完成, 尚待); usernames in them are
    # replaced by names (`names` of the renderers) where the sender knows them
    details: list[tuple[str, str]] = []
    requested_by: str | None = None  # the username of who asked (shown by name and title)


class Digest(BaseModel):
    """Several reminders for one recipient that fell due in one window, as one message (E4)."""
    recipient: str  # a role id
    window_end: datetime
    messages: list[Message]
    more: int = 0  # further cases due that the message does not list one by one (a long backlog)


# ---- rendering -------------------------------------------------------------------------------

def _level(m: Message) -> str | None:
    if not m.level:
        return None
    return f"第{m.level}级" + (f"（{role_title(m.level_role)}）" if m.level_role else "")


def _item_line(i: DueItem) -> str:
    line = f"{i.name}（{i.rule}）：应于 {beijing(i.due_at)} 完成"
    return line + (f"，自 {beijing(i.due_at)} 起逾期未办" if i.missed else "")


def subject(m: Message) -> str:
    tag = CASE_TYPE_NAMES.get(m.case.case_type, m.case.case_type)
    if m.level:
        tag += f"·升级{m.level}级"
    return mask_mobile_numbers(f"【{tag}】{m.case.case_no} {m.title}（{m.case.place}）")


def _facts(m: Message, names: dict[str, str] | None = None) -> list[tuple[str, str]]:
    c, names = m.case, names or {}
    rows = [("案件编号", f"{c.case_no}（{CASE_TYPE_NAMES.get(c.case_type, c.case_type)}）"),
            ("项目", c.project), ("楼栋房号", f"{c.building} {c.unit}"),
            ("类别", c.category or "—"), ("责任部门", c.department or "未分派"),
            ("处理人", names.get(c.handler, c.handler) if c.handler else "未指定")]
    level = _level(m)
    if level:
        rows.append(("升级级别", level))
    return rows


USERNAME_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")  # a word that may be an account's username


def named(text: str, names: dict[str, str]) -> str:
    """A text the case wrote with usernames (the machine's key: "发给dept_handler的通知…") with each account it
    names shown by name and title (P7, `names`: username -> label); other words stay as they are."""
    return USERNAME_WORD.sub(lambda w: names.get(w.group(0), w.group(0)), text) if names and text else text


def _details(m: Message, names: dict[str, str]) -> list[tuple[str, str]]:
    """A4's rows, people by name and title (P7) where known."""
    return [(k, named(v, names)) for k, v in m.details]


def email_text(m: Message, base_url: str, names: dict[str, str] | None = None) -> str:
    names = names or {}
    lines = [m.title, ""]
    if m.text:
        lines += [named(m.text, names), ""]
    if m.details:
        lines += [f"{k}：{v}" for k, v in _details(m, names)] + [""]
    lines += [f"{k}：{v}" for k, v in _facts(m, names)]
    if m.items:
        lines += ["", "事项："] + [f"  - {_item_line(i)}" for i in m.items]
    lines += ["", f"查看案件：{case_link(base_url, m.case.case_no)}", "", "（本邮件由售后案件系统自动发送，请勿直接回复）"]
    return mask_mobile_numbers("\n".join(lines)) + "\n"


def markdown(m: Message, base_url: str, names: dict[str, str] | None = None) -> str:
    names = names or {}
    lines = [f"### {m.title}"]
    if m.text:
        lines.append(named(m.text, names))
    lines += [f"- **{k}**：{v}" for k, v in _details(m, names)]
    lines += [f"> {k}：**{v}**" if k in ("案件编号", "升级级别") else f"> {k}：{v}" for k, v in _facts(m, names)]
    lines += [f"- {_item_line(i)}" for i in m.items]
    lines.append(f"[查看案件]({case_link(base_url, m.case.case_no)})")
    return mask_mobile_numbers("\n".join(lines))


def digest_subject(d: Digest) -> str:
    return f"【提醒汇总】{len(d.messages) + d.more} 件案件待办（截至 {beijing(d.window_end)}）"


def digest_text(d: Digest, base_url: str, names: dict[str, str] | None = None) -> str:
    names = names or {}
    lines = [f"{role_title(d.recipient)}：以下 {len(d.messages) + d.more} 件案件有待办事项（截至 {beijing(d.window_end)}）。", ""]
    for n, m in enumerate(d.messages, 1):
        c = m.case
        lines.append(f"{n}. {c.case_no} {CASE_TYPE_NAMES.get(c.case_type, c.case_type)} · {c.place} · "
                     f"{c.category or '—'} · 处理人 {names.get(c.handler, c.handler) if c.handler else '未指定'}")
        lines += [f"   - {_item_line(i)}" for i in m.items]
        lines.append(f"   {case_link(base_url, c.case_no)}")
    if d.more:
        lines += ["", f"另有 {d.more} 件未逐一列出，请在工作台查看：{base_url.rstrip('/')}/app/cases"]
    lines += ["", "（本邮件由售后案件系统自动发送，请勿直接回复）"]
    return mask_mobile_numbers("\n".join(lines)) + "\n"


def digest_markdown(d: Digest, base_url: str) -> str:
    lines = [f"### 提醒汇总：{len(d.messages) + d.more} 件案件待办", f"> 截至 {beijing(d.window_end)}"]
    for m in d.messages:
        c = m.case
        items = "；".join(_item_line(i) for i in m.items)
        lines.append(f"- [{c.case_no}]({case_link(base_url, c.case_no)}) {c.place} {c.category or ''}：{items}")
    if d.more:
        lines.append(f"- 另有 {d.more} 件未逐一列出，[在工作台查看]({base_url.rstrip('/')}/app/cases)")
    return mask_mobile_numbers("\n".join(lines))


def robot_markdown(title: str, text: str) -> dict:
    """The markdown message of the group robots: WeCom reads `markdown.content`, DingTalk
    `markdown.title` and `markdown.text`; each ignores the other's keys."""
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text, "content": text}}
