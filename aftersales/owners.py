"""The owner's own channel (O1–O5) as pure rules: the limits of sign-in codes and links (O1), what an owner
sees of a case (O2), and when an SMS to an owner may go out (O5: quiet hours, the cap per case and day, the
opt-out). The adapters keep the counts and times; these functions decide from them."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from aftersales.messages import BEIJING

# ---- O1: sign-in by a one-time code ----------------------------------------------------------------
CODE_DIGITS = 6
CODE_VALID = timedelta(minutes=5)
CODE_TRIES = 5                       # wrong codes before the code is spent
CODE_EVERY = timedelta(minutes=1)    # at most one code a minute per number
CODES_PER_DAY = 10                   # ... and ten a (Beijing) day
LINK_VALID = timedelta(days=7)       # a link for one case and one purpose, used once


class LinkPurpose(StrEnum):
    """What a link sent by SMS lets its owner do, for one case (O1)."""
    sign_off = "sign_off"            # R6
    survey = "survey"                # R7, V3
    quote = "quote"                  # R3
    appointment = "appointment"      # R1
    consent = "consent"              # R8: more time for the work


LINK_PURPOSE_NAMES = {LinkPurpose.sign_off: "签认完工", LinkPurpose.survey: "满意度回访",
                      LinkPurpose.quote: "确认报价", LinkPurpose.appointment: "确认上门时间",
                      LinkPurpose.consent: "同意延期"}


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused now, in words for the owner, and when to try again (seconds)."""
    reason: str
    message: str
    retry_after: int


def _next_midnight(now: datetime) -> datetime:
    day = now.astimezone(BEIJING).date() + timedelta(days=1)
    return datetime.combine(day, time(0), BEIJING)


def code_request_refusal(sent: Iterable[datetime], now: datetime) -> Refusal | None:
    """O1: a code may be sent to a number at most once a minute and CODES_PER_DAY times a Beijing day.
    `sent`: when codes were sent (asked for) to this number, any order. Known and unknown numbers alike:
    the limits must not tell them apart."""
    sent = sorted(sent)
    today = now.astimezone(BEIJING).date()
    if sent and now - sent[-1] < CODE_EVERY:
        wait = CODE_EVERY - (now - sent[-1])
        return Refusal("too_soon", "验证码发送过于频繁，请稍后再试", max(1, int(wait.total_seconds() + 0.999)))
    if sum(1 for at in sent if at.astimezone(BEIJING).date() == today) >= CODES_PER_DAY:
        wait = _next_midnight(now) - now
        return Refusal("daily_limit", "今日获取验证码次数已达上限，请明天再试", max(1, int(wait.total_seconds())))
    return None


def code_usable(created_at: datetime, tries: int, used: bool, now: datetime) -> bool:
    """O1: a code is good for CODE_VALID, CODE_TRIES tries, and once."""
    return not used and tries < CODE_TRIES and now - created_at <= CODE_VALID


def link_usable(created_at: datetime, used: bool, now: datetime) -> bool:
    """O1: a link is good for LINK_VALID and once."""
    return not used and now - created_at <= LINK_VALID


# ---- O5: SMS to owners -----------------------------------------------------------------------------
QUIET_START = time(21, 0)
QUIET_END = time(8, 0)
SMS_PER_CASE_PER_DAY = 3


class SmsKind(StrEnum):
    """The SMS an owner gets (O5), and the sign-in code (O1)."""
    code = "code"
    received = "received"            # case received: its number and a link
    appointment = "appointment"      # appointment agreed or changed (R1)
    work_done = "work_done"          # work done: the sign-off link (R6)
    survey = "survey"                # revisit survey link (R7)
    closed = "closed"                # case closed
    proposed = "proposed"            # a visit time proposed or changed by staff: the link to accept or ask another (R1)
    extension = "extension"          # more time asked (R8): the link to consent or refuse
    campaign_survey = "campaign_survey"  # a revisit campaign's survey for the owner's household (V3): its link


# O5: an owner may stop all but these (they carry the owner's own acts: sign-off and survey)
ALWAYS_SENT = frozenset({SmsKind.code, SmsKind.work_done, SmsKind.survey, SmsKind.campaign_survey})
# Past the day's cap these are held to the next morning, not dropped: each carries a link for an act of the owner
# (R1, R8, R6, R7) that the case waits for. The owner may still stop the appointment and more-time ones (O5 spares
# only sign-off and survey), and then sees them on their case page.
HELD_PAST_CAP = ALWAYS_SENT | {SmsKind.proposed, SmsKind.extension}
SMS_KIND_NAMES = {SmsKind.code: "验证码", SmsKind.received: "受理通知", SmsKind.appointment: "预约通知",
                  SmsKind.work_done: "完工签认", SmsKind.survey: "回访调查", SmsKind.closed: "结案通知",
                  SmsKind.proposed: "确认上门时间", SmsKind.extension: "延期征询", SmsKind.campaign_survey: "业主回访问卷"}


def quiet_until(at: datetime) -> datetime | None:
    """O5: none between 21:00 and 08:00 Beijing time: the 08:00 it is held until, or None (not quiet)."""
    local = at.astimezone(BEIJING)
    if QUIET_END <= local.time() < QUIET_START:
        return None
    day = local.date() if local.time() < QUIET_END else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_END, BEIJING)


@dataclass(frozen=True)
class SmsPlan:
    """What becomes of one case SMS: `send_at` (held past the quiet hours, or to a later day by the cap), or
    not sent at all: `status` opted_out (the owner stopped it) or throttled (the case's cap of the day)."""
    status: str                       # "queued" | "held" | "opted_out" | "throttled"
    send_at: datetime | None = None


def plan_sms(kind: SmsKind, at: datetime, per_day: Mapping[date, int], opted_out: bool) -> SmsPlan:
    """O5 for one SMS of a case raised at `at`: `per_day` counts the case's SMS already planned per Beijing day
    of sending. An opted-out owner gets only ALWAYS_SENT. Quiet hours hold it until 08:00. Past the cap of
    SMS_PER_CASE_PER_DAY a notice the owner may stop is dropped (throttled, recorded), one carrying an act of
    the owner (HELD_PAST_CAP: sign-off, survey, a proposed time, more time) is held to the next day's 08:00: never
    lost."""
    if opted_out and kind not in ALWAYS_SENT:
        return SmsPlan("opted_out")
    held = quiet_until(at)
    send_at = held or at
    for _ in range(366):
        day = send_at.astimezone(BEIJING).date()
        if per_day.get(day, 0) < SMS_PER_CASE_PER_DAY:
            return SmsPlan("held" if send_at != at else "queued", send_at)
        if kind not in HELD_PAST_CAP:
            return SmsPlan("throttled")
        send_at = datetime.combine(day + timedelta(days=1), QUIET_END, BEIJING)
    return SmsPlan("throttled")  # pragma: no cover - a year of full days


# Which timeline entries (by kind) raise which owner SMS (O5), read from the case's projected timeline.
SMS_FOR_ENTRY = {"intake": SmsKind.received, "appointment": SmsKind.appointment,
                 "inspected": SmsKind.work_done, "signed_off": SmsKind.survey, "closed": SmsKind.closed,
                 # rules 4: what staff ask of the owner (R1 a time proposed or changed, R8 more time)
                 "appointment_proposed": SmsKind.proposed, "extension_asked": SmsKind.extension}
# the act each link-carrying SMS is for
SMS_LINK_PURPOSE = {SmsKind.work_done: LinkPurpose.sign_off, SmsKind.survey: LinkPurpose.survey,
                    SmsKind.proposed: LinkPurpose.appointment, SmsKind.extension: LinkPurpose.consent}


def sms_text(kind: SmsKind, params: Mapping[str, str]) -> str:
    """The SMS as the owner reads it (the outbox shows it; a provider sends its approved template with the
    same parameters)."""
    p = params
    return {
        SmsKind.code: f"您的登录验证码为 {p.get('code', '')}，5 分钟内有效。如非本人操作请忽略。",
        SmsKind.received: f"您的{p.get('case_type', '')}已受理，案件编号 {p.get('case_no', '')}。查看进度：{p.get('link', '')}",
        SmsKind.appointment: f"案件 {p.get('case_no', '')} 上门时间已约定为 {p.get('time', '')}。查看：{p.get('link', '')}",
        SmsKind.work_done: f"案件 {p.get('case_no', '')} 维修已完工并验收合格，请签认：{p.get('link', '')}（7 天内有效）",
        SmsKind.survey: f"案件 {p.get('case_no', '')} 邀请您评价本次服务：{p.get('link', '')}（7 天内有效）",
        SmsKind.closed: f"案件 {p.get('case_no', '')} 已结案。感谢您的反馈。查看：{p.get('link', '')}",
        SmsKind.proposed: f"案件 {p.get('case_no', '')} 拟定上门时间 {p.get('time', '')}，请确认或另约：{p.get('link', '')}（7 天内有效）",
        SmsKind.extension: f"案件 {p.get('case_no', '')} 申请将完工期限延至 {p.get('time', '')}，请您同意或不同意：{p.get('link', '')}（7 天内有效）",
        SmsKind.campaign_survey: f"{p.get('project', '')}业主回访（{p.get('case_no', '')}）邀请您为您的房屋和服务评分："
                                 f"{p.get('link', '')}（7 天内有效）",
    }[kind]


# ---- O2: what the owner sees ------------------------------------------------------------------------
# Timeline entries meant for the owner: received, appointment, arrival, work done, inspection result, replies,
# amounts the owner pays. Everything else (internal notes, approvals, company costs, escalations, surveys,
# dispatch with the workers' names, deposits) is never shown.
OWNER_ENTRY_KINDS = frozenset({
    "intake", "appointment", "arrival", "late_arrival", "work_done", "inspection_failed", "inspection_passed",
    "inspected", "signed_off", "revisit", "reopened", "customer_informed", "unjustified", "satisfaction",
    "progress", "deadline_extended", "fee", "quote", "quote_accepted", "declined", "service_paid", "closed",
    # rules 4: what is asked of the owner and what they answered (R1, R8, R6)
    "appointment_proposed", "appointment_requested", "extension_asked", "extension_refused", "sign_off_refused",
})
OWNER_ENTRY_NAMES = {
    "intake": "已受理", "appointment": "预约上门", "arrival": "到场", "late_arrival": "到场", "work_done": "完工",
    "inspection_failed": "验收不合格", "inspection_passed": "验收合格", "inspected": "验收合格", "signed_off": "签认",
    "revisit": "回访", "reopened": "返修", "customer_informed": "答复", "unjustified": "答复", "satisfaction": "评价",
    "progress": "进展", "deadline_extended": "延期", "fee": "费用", "quote": "报价", "quote_accepted": "确认报价",
    "declined": "不接受报价", "service_paid": "付款", "closed": "结案",
    "appointment_proposed": "拟定上门时间", "appointment_requested": "另约时间", "extension_asked": "申请延期",
    "extension_refused": "不同意延期", "sign_off_refused": "未签认",
}


def owner_entry(kind: str) -> bool:
    return kind in OWNER_ENTRY_KINDS


# The status in plain words and what happens next (O2), per case type and status.
_PLAIN: dict[str, tuple[str, str]] = {
    "registered": ("已受理", "客服人员将与您联系"),
    "unjustified_review": ("处理中", "客服部门正在核实"),
    "assigned": ("处理中", "责任部门正在调查"),
    "investigated": ("处理中", "正在制定处理方案"),
    "awaiting_approval": ("处理中", "处理方案审批中"),
    "approved": ("处理中", "客服人员将向您答复处理方案"),
    "customer_informed": ("已答复", "客服人员将询问您的满意度"),
    "satisfaction_recorded": ("即将结案", "案件即将结案"),
    "summary_review": ("即将结案", "案件即将结案"),
    "summarised": ("即将结案", "案件即将结案"),
    "scheduled": ("已约定上门", "维修人员将按约定时间上门查看"),
    "surveying": ("已查勘", "正在确定维修方案"),
    "survey_returned": ("已查勘", "正在确定维修方案"),
    "cost_approval": ("已查勘", "维修方案审批中"),
    "surveyed": ("待派工", "即将安排维修人员"),
    "quoted": ("待确认报价", "请确认有偿服务报价"),
    "quote_accepted": ("待派工", "即将安排维修人员"),
    "in_progress": ("维修中", "维修人员正在施工"),
    "awaiting_inspection": ("待验收", "客服与维修队长将验收"),
    "inspected": ("待您签认", "请签认完工"),
    "completed": ("已完工", "客服人员将回访"),
    "follow_up": ("跟进中", "客服经理将与您联系"),
    "revisited": ("已回访", "即将结案"),
    "settlement": ("已回访", "即将结案"),
    "awaiting_payment": ("已回访", "即将结案"),
    "closed": ("已结案", "案件已结案"),
}
# the deadline whose due time an owner is told ("by when"), first found open
OWNER_DEADLINES = ("survey", "work", "opinion", "close")


def plain_status(status: str) -> tuple[str, str]:
    """(status in plain words, what happens next) for the owner (O2)."""
    return _PLAIN.get(status, ("处理中", "客服人员将与您联系"))
