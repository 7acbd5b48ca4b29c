"""Reports and KPIs (K1–K3): the periods they cover and how their tables are written out. Pure: the
figures themselves are counted in SQL by adapters.db.reports; this module names the periods, holds
each figure's definition (written into every report) and renders a report as CSV or XLSX.

Periods, in the company's time zone (Beijing time by default):
    weekly_complaints   2026-W48    the ISO week, Monday 00:00 to the next Monday
    monthly_complaints  2026-11     the calendar month
    monthly_repairs     2026-11
    quarterly           2026Q4
    yearly              2026
    paid_services       2026-11     the paid-service register (R3)
    rework_daily        2026-11-23  the day
    campaign            HF-2026-000001  a revisit campaign (its id; the period is the campaign's own)
"""

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from aftersales.messages import yuan


class ReportKind(StrEnum):
    weekly_complaints = "weekly_complaints"
    monthly_complaints = "monthly_complaints"
    monthly_repairs = "monthly_repairs"
    quarterly = "quarterly"
    yearly = "yearly"
    paid_services = "paid_services"
    rework_daily = "rework_daily"
    campaign = "campaign"


# Reports that are lists (adapters.db.listings): a summary and items, not the period's case figures.
LISTINGS = {ReportKind.paid_services, ReportKind.rework_daily, ReportKind.campaign}


TITLES = {
    ReportKind.weekly_complaints: "投诉处理周报",
    ReportKind.monthly_complaints: "投诉统计表（月）",
    ReportKind.monthly_repairs: "维修统计表（月）",
    ReportKind.quarterly: "季度投诉维修汇总",
    ReportKind.yearly: "年度投诉维修汇总",
    ReportKind.paid_services: "有偿服务登记表（月）",
    ReportKind.rework_daily: "返修进度日报表",
    ReportKind.campaign: "回访活动报告",
}

_PATTERNS = {
    ReportKind.weekly_complaints: (re.compile(r"^(\d{4})-W(\d{2})$"), "2026-W48"),
    ReportKind.monthly_complaints: (re.compile(r"^(\d{4})-(\d{2})$"), "2026-11"),
    ReportKind.monthly_repairs: (re.compile(r"^(\d{4})-(\d{2})$"), "2026-11"),
    ReportKind.quarterly: (re.compile(r"^(\d{4})Q([1-4])$"), "2026Q4"),
    ReportKind.yearly: (re.compile(r"^(\d{4})$"), "2026"),
    ReportKind.paid_services: (re.compile(r"^(\d{4})-(\d{2})$"), "2026-11"),
    ReportKind.rework_daily: (re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"), "2026-11-23"),
    ReportKind.campaign: (re.compile(r"^HF-(\d{4})-\d{6}$"), "HF-2026-000001"),
}

# What each figure means: written into every report, so a reader never has to guess (K3 targets too).
DEFINITIONS: dict[str, str] = {
    "received": "本期受理的案件数（按受理时间，北京时间）",
    "closed": "本期受理且已结案（有处理结果）的案件数",
    "handling_rate": "已结案 / 本期受理（目标 100%，C10）",
    "satisfaction_rate": "满意度为 4 或 5 分的案件 / 已记录满意度的案件（目标 ≥ 90%，K3）",
    "median_working_days": "已结案案件从受理到结案的工作日数的中位数",
    "p90_working_days": "已结案案件从受理到结案的工作日数的第 90 百分位数",
    "escalated": "本期受理且曾逾期升级的案件数（按最高升级级别、责任部门）",
    "major": "重大投诉（C8）数",
    "by_channel": "按受理渠道分的受理数",
    "by_category": "按投诉类别分的受理数",
    "by_department": "按责任部门分的受理数",
    "by_project": "按项目分的受理数",
    "on_time_by_rule": "各时限规则（C3 部门反馈、C4 处理意见与方案、C6 结案、R2 查勘、R4 维修完成、R7 返修等）："
                       "本期受理案件中已完成或已到期（不含免除）的时限里，按时（不晚于到期时间，含经业主同意的延期）完成的比例",
    "timeliness_rate": "零修及时率（K2）：维修完成时限（R4）按时完成 / 已完成或已到期的维修完成时限",
    "pass_rate": "合格率（K2）：首次验收即合格的维修 / 已验收的维修",
    "reopen_rate": "返修率：回访后返修（R7）的维修 / 已派工的维修",
    "punctuality_rate": "预约守时率（K3）：迟到不超过 10 分钟的上门 / 全部上门记录（R1）",
    "revisit_rate": "维修回访率（K3，目标 100%）：已回访的已结案维修 / 已结案维修（V3）",
    "households_revisited_rate": "年度回访覆盖率（K3，目标每年 ≥ 30%）：本年 1 月 1 日至本期末回访过的户数（各回访活动"
                                 "去重）/ 房产台账中的已售户数（V2）",
    "compensation_paid": "已由财务记录支付的投诉补偿金额合计（元，A1）",
    "paid_services_total": "业主已付的有偿服务费合计（元，R3）",
    # O4: by who gave the fact — the owner themselves on the owner pages, or staff recording it for them (代录;
    # every such fact of a case opened before owners acted for themselves)
    "satisfaction_rate_owner": "满意率（业主本人）：业主本人在业主页面评分为 4 或 5 分的案件 / 业主本人评分的案件（K3、O4）",
    "satisfaction_rate_staff": "满意率（工作人员代录）：工作人员代录评分为 4 或 5 分的案件 / 代录评分的案件（K3、O4）",
    "sign_off_owner_share": "业主本人签认占比：业主本人签认的维修 / 已签认的维修（R6、O4）",
    "sign_offs_owner": "业主本人在业主页面签认完工的维修数（R6、O4）",
    "sign_offs_staff": "工作人员代录签认的维修数（R6、O4）",
    "consent_rate_owner": "同意延期率（业主本人）：业主本人同意的延期申请 / 业主本人答复的延期申请（R8、O4）",
    "consent_rate_staff": "同意延期率（工作人员代录）：代录为同意的延期 / 代录的答复（R8、O4）",
}
TARGETS = {"handling_rate": 1.0, "satisfaction_rate": 0.9, "revisit_rate": 1.0, "households_revisited_rate": 0.3}
RULE_TARGETS = {"C4": 1.0}  # K3: the opinion within 3 working days



def period_name(label: str) -> str:
    """A report's period as people write it: 2026年11月, 2026年第48周, 2026年第4季度, 2026年, 2026年11月23日."""
    if m := re.fullmatch(r"(\d{4})-(\d{2})", label):
        return f"{m.group(1)}年{int(m.group(2))}月"
    if m := re.fullmatch(r"(\d{4})-W(\d{2})", label):
        return f"{m.group(1)}年第{int(m.group(2))}周"
    if m := re.fullmatch(r"(\d{4})Q([1-4])", label):
        return f"{m.group(1)}年第{m.group(2)}季度"
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", label):
        return f"{m.group(1)}年{int(m.group(2))}月{int(m.group(3))}日"
    if re.fullmatch(r"\d{4}", label):
        return f"{label}年"
    return label


def file_name(title: str, period: str, ext: str) -> str:
    """A report's file as its readers save it: 投诉统计表（月）-2026年11月.xlsx."""
    return f"{title}-{period_name(period)}.{ext}"


class Period(BaseModel):
    kind: ReportKind
    label: str
    start: datetime   # inclusive, aware (UTC)
    end: datetime     # exclusive


def parse_period(kind: str, label: str, timezone: str = "Asia/Shanghai") -> Period:
    """ValueError naming what is wrong for an unknown kind or a period that does not exist (2026-13)."""
    try:
        k = ReportKind(kind)
    except ValueError:
        raise ValueError(f"kind: unknown report kind {kind!r}; one of {', '.join(k.value for k in ReportKind)}") from None
    pattern, example = _PATTERNS[k]
    m = pattern.match(label)
    if not m:
        raise ValueError(f"period: {label!r} is not a period of {k.value} (write it like {example})")
    year = int(m.group(1))
    try:
        if k == ReportKind.weekly_complaints:
            first = date.fromisocalendar(year, int(m.group(2)), 1)
            last = first + timedelta(days=7)
        elif k == ReportKind.rework_daily:
            first = date(year, int(m.group(2)), int(m.group(3)))
            last = first + timedelta(days=1)
        elif k in (ReportKind.monthly_complaints, ReportKind.monthly_repairs, ReportKind.paid_services):
            month = int(m.group(2))
            first = date(year, month, 1)
            last = date(year + month // 12, month % 12 + 1, 1)
        elif k == ReportKind.quarterly:
            q = int(m.group(2))
            first = date(year, 3 * q - 2, 1)
            last = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
        else:  # yearly; a campaign's year (its own dates are in its report)
            first, last = date(year, 1, 1), date(year + 1, 1, 1)
    except ValueError:
        raise ValueError(f"period: {label!r} does not exist") from None
    if not 2000 <= year <= 2100:
        raise ValueError(f"period: year {year} is out of range")
    tz = ZoneInfo(timezone)
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last, time(0), tzinfo=tz)
    return Period(kind=k, label=label, start=start, end=end)


# Who reads each report when the schedule makes it (K1: the GM's office gets the summaries).
READERS = {
    ReportKind.weekly_complaints: ["cs_manager"],
    ReportKind.monthly_complaints: ["cs_manager", "gm"],
    ReportKind.monthly_repairs: ["cs_manager", "deputy_gm"],
    ReportKind.quarterly: ["gm", "deputy_gm", "cs_manager"],
    ReportKind.yearly: ["gm", "deputy_gm", "cs_manager"],
    ReportKind.paid_services: ["cs_manager", "finance"],
    ReportKind.rework_daily: ["cs_manager", "repair_lead"],
    ReportKind.campaign: ["cs_manager", "gm"],
}


# Made every working day by the T-calendar (the schedule fires daily, the workflow skips days off).
DAILY_ON_WORKING_DAYS = {ReportKind.rework_daily}


def previous_period(kind: ReportKind, now: datetime, timezone: str = "Asia/Shanghai") -> str:
    """The last whole period before `now` (local time): what a scheduled report covers. A daily list
    covers its own day (made at 17:00)."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    if kind == ReportKind.rework_daily:
        return today.isoformat()
    if kind == ReportKind.weekly_complaints:
        year, week, _ = (today - timedelta(days=7)).isocalendar()
        return f"{year}-W{week:02d}"
    if kind in (ReportKind.monthly_complaints, ReportKind.monthly_repairs, ReportKind.paid_services):
        last = today.replace(day=1) - timedelta(days=1)
        return f"{last.year}-{last.month:02d}"
    if kind == ReportKind.quarterly:
        q = (today.month - 1) // 3
        return f"{today.year - 1}Q4" if q == 0 else f"{today.year}Q{q}"
    return str(today.year - 1)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0–1) by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (pos - low), 2)


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


# ---- rendering -------------------------------------------------------------------------------------

def listing_tables(report: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """A list report (LISTINGS): its summary as figure / value, and its items under their headings."""
    columns = report["columns"]
    return {
        "汇总": [["指标", "数值"]] + [[key, value] for key, value in report["summary"].items()
                                    if not isinstance(value, (dict, list))],
        "明细": [[heading for _, heading in columns]] + [
            [_cell(item.get(key)) for key, _ in columns] for item in report["items"]],
    }


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value):
        return datetime.fromisoformat(value).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    return value


def tables(report: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The report as named tables with Chinese headings (first row): one CSV section / one XLSX sheet each."""
    if "columns" in report:
        return listing_tables(report)
    s = report["summary"]
    out: dict[str, list[list[Any]]] = {
        "汇总": [["指标", "数值", "目标", "定义"]] + [
            [name, s.get(key), TARGETS.get(key), DEFINITIONS.get(key, "")]
            for key, name in (("received", "受理数"), ("closed", "结案数"), ("handling_rate", "处理率"),
                              ("satisfaction_rate", "满意率"), ("median_working_days", "处理时长中位数（工作日）"),
                              ("p90_working_days", "处理时长 P90（工作日）"), ("major", "重大投诉"),
                              ("escalated", "升级案件"), ("timeliness_rate", "零修及时率"), ("pass_rate", "合格率"),
                              ("reopen_rate", "返修率"), ("punctuality_rate", "预约守时率"),
                              ("revisit_rate", "维修回访率"), ("households_revisited_rate", "年度回访覆盖率"),
                              ("satisfaction_rate_owner", "满意率（业主本人）"),
                              ("satisfaction_rate_staff", "满意率（工作人员代录）"),
                              ("sign_off_owner_share", "业主本人签认占比"),
                              ("consent_rate_owner", "同意延期率（业主本人）"),
                              ("consent_rate_staff", "同意延期率（工作人员代录）"))] + [
            [name, yuan(Decimal(s[key])) if s.get(key) is not None else None, None, DEFINITIONS[key]]
            for key, name in (("compensation_paid", "已付投诉补偿"), ("paid_services_total", "有偿服务收费"))],
        # O4: the rates by who gave the fact, side by side
        "按来源": [["指标", "业主本人", "工作人员代录", "目标", "定义"]] + [
            ["满意率", s.get("satisfaction_rate_owner"), s.get("satisfaction_rate_staff"), TARGETS["satisfaction_rate"],
             f"{DEFINITIONS['satisfaction_rate_owner']}；{DEFINITIONS['satisfaction_rate_staff']}"],
            ["评分案件数", s.get("satisfaction_scored_owner"), s.get("satisfaction_scored_staff"), None, ""],
            ["签认数", s.get("sign_offs_owner"), s.get("sign_offs_staff"), None, DEFINITIONS["sign_off_owner_share"]],
            ["同意延期率", s.get("consent_rate_owner"), s.get("consent_rate_staff"), None,
             f"{DEFINITIONS['consent_rate_owner']}；{DEFINITIONS['consent_rate_staff']}"],
            ["答复延期申请数", s.get("consents_asked_owner"), s.get("consents_asked_staff"), None, ""]],
        "时限按时率": [["时限规则", "已到期或完成", "按时完成", "按时率", "目标"]] + [
            [r["rule"], r["due"], r["on_time"], r["rate"], RULE_TARGETS.get(r["rule"])]
            for r in report.get("on_time_by_rule", [])],
    }
    for key, title, first in (("by_channel", "按渠道", "渠道"), ("by_category", "按类别", "类别"),
                              ("by_department", "按部门", "责任部门"), ("by_project", "按项目", "项目")):
        out[title] = [[first, "受理数", "结案数"]] + [[r["name"], r["received"], r["closed"]] for r in report[key]]
    out["升级"] = [["责任部门", "最高升级级别", "案件数"]] + [
        [r["department"], r["level"], r["cases"]] for r in report["escalations"]]
    return out
