"""What the workbench's readers read, in Chinese (E4, P7): field labels and hints, the options of each
choice, the scales of scores, and every refusal — the schemas' and the API's own messages are written for
API clients (English, field ids); a page shows them translated, by field label, never in English."""

import re
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError

from aftersales.messages import DECISION_NAMES
from aftersales.reports import period_name  # noqa: F401 - the workbench's filter

FIELD_LABELS = {
    "told_via": "业主告知方式（代录）",
    "name": "姓名", "phone": "电话", "project": "项目", "building": "楼栋", "unit": "房号", "unit_id": "台账房屋",
    "channel": "渠道", "accepted": "业主接受", "amount": "金额（元）", "answered_in_person_at": "当面答复时间",
    "appointment_at": "上门时间", "arrived_at": "到场时间", "attendees": "参会人", "attitude": "服务态度评分",
    "category": "类别", "comment": "意见", "compensation": "补偿金额（元）", "contractor_id": "施工单位",
    "corrective_measures": "整改措施", "decision": "审批结果", "department": "责任部门", "description": "描述",
    "estimate": "预估金额（元）", "extras": "附加项目", "findings": "调查或查勘结果",
    "follow_up": "跟进安排", "handler": "经办人", "items": "项目明细", "justified": "投诉属实", "message": "内容",
    "method": "支付方式", "minutes": "会议纪要", "multi_trade": "多工种", "new_due_at": "新的完成时限",
    "note": "进展说明", "order_type": "工单类型", "outcome_note": "结案说明", "owner_consent": "业主同意",
    "owner_contacted": "已联系业主", "paid_service": "有偿服务", "passed": "验收合格", "preventive_measures": "预防措施",
    "quality": "质量评分", "reason": "理由", "receipt_no": "收据号", "reference": "凭证号", "reply": "答复业主",
    "report": "报告", "requested_appointment": "业主希望的上门时间", "responsible_party": "责任方",
    "satisfaction": "满意度", "schedule": "收费标准", "score": "评分", "signed_at": "签认时间", "signed_by": "签认人",
    "solution": "处理方案", "summary": "总结", "to_contractor": "派给施工单位", "trades": "工种", "workers": "维修人员",
    "written_report": "书面报告", "period": "期间", "kind": "报表", "major": "重大投诉", "share": "抽样比例",
    "starts_on": "开始日期", "ends_on": "结束日期", "staff": "回访人员", "mode": "回访方式", "comments": "业主意见",
    "points": "业主提出的问题", "text": "问题", "handling": "处理方式", "answer": "答复", "second_visit": "二次回访",
    "participants": "参加人", "unit_ids": "抽查的房屋", "result": "抽查结果", "quantity": "数量", "code": "项目编号",
    "unit_price": "单价（元）", "customer": "业主", "case_no": "案件编号", "campaign_id": "回访活动",
}
# Hints beside a field, where the label alone does not say what is wanted (never the schema's English).
FIELD_HELP = {
    ("classify", "reply"): "投诉不属实时必填：向业主说明的理由（C2）",
    ("record_survey", "contractor_id"): "A 类（保修期内）工单必选（R3）",
    ("record_survey", "order_type"): "A 保修期内，由施工单位负责；B 保修期外，由公司承担（R3）",
    ("record_survey", "responsible_party"): "由查勘确定的责任部门（R2）",
    ("accept_quote", "signed_by"): "签维修单的业主（或其代理人）姓名",
    ("extend_deadline", "owner_consent"): "业主何时、以何种方式同意延期（R8）",
    **{(name, "told_via"): "代录：业主以何种方式告诉您（电话、当面、微信、信函），与您的账号一起记在处理记录上（O4）"
       for name in ("agree_appointment", "accept_appointment", "request_appointment", "extend_deadline",
                    "consent_extension", "refuse_extension", "accept_quote", "decline_quote", "owner_sign_off",
                    "refuse_sign_off", "revisit", "record_satisfaction")},
    ("inspect", "note"): "不合格时必填：需返工的内容（R6）",
    ("revisit", "follow_up"): "业主不满意（1 或 2 分）时必选（R7、V3）",
    ("dispatch", "workers"): "可多选（按住 Ctrl 点选）",
    ("dispatch", "to_contractor"): "经工程材料部派给施工单位（R5）",
    ("record_meeting", "attendees"): "可多选（按住 Ctrl 点选）",
    ("open_repair", "trades"): "可多选（按住 Ctrl 点选）",
    ("propose_solution", "compensation"): "无补偿可不填；如 1500 或 1,500.00",
    ("decide", "reason"): "驳回或退回修改时必填（A4）",
}
OPTION_NAMES = {
    **DECISION_NAMES, "A": "A 类工单（保修期内）", "B": "B 类工单（保修期外）", "in_person": "上门", "phone": "电话",
    "visit": "当面", "letter": "信函",
    "cash": "现金", "transfer": "转账", "wechat": "微信", "alipay": "支付宝", "bank": "银行转账",
    "reopen": "返修", "cs_manager_follow_up": "客户服务部经理跟进", "complaint": "立为投诉", "repair": "立为报修",
    "answered": "当场答复并关闭", "first": "首次回访（V1）", "annual": "年度回访（V2）",
}
SATISFACTION_SCALE = [("5", "5 非常满意"), ("4", "4 满意"), ("3", "3 一般"), ("2", "2 不满意"), ("1", "1 非常不满意")]
QUALITY_SCALE = [("5", "5 很好"), ("4", "4 好"), ("3", "3 一般"), ("2", "2 差"), ("1", "1 很差")]
SCALES = {"score": SATISFACTION_SCALE, "satisfaction": SATISFACTION_SCALE, "quality": QUALITY_SCALE,
          "attitude": QUALITY_SCALE}

# pydantic's error types, as a field is told what is wrong with it.
INPUT_ERRORS = {
    "missing": "必填", "string_too_short": "不能为空", "string_too_long": "太长（最多 {max_length} 个字）",
    "string_pattern_mismatch": "格式不正确", "int_parsing": "须为整数", "int_type": "须为整数",
    "int_from_float": "须为整数", "decimal_parsing": "须为金额（如 1234.50）", "decimal_type": "须为金额（如 1234.50）",
    "float_parsing": "须为数字", "datetime_parsing": "须为日期时间", "datetime_from_date_parsing": "须为日期时间",
    "datetime_type": "须为日期时间", "timezone_aware": "须为日期时间", "date_from_datetime_parsing": "须为日期",
    "date_parsing": "须为日期", "date_type": "须为日期", "bool_parsing": "须为是或否", "bool_type": "须为是或否",
    "greater_than": "须大于 {gt}", "greater_than_equal": "须不小于 {ge}", "less_than": "须小于 {lt}",
    "less_than_equal": "须不大于 {le}", "enum": "须为给出的选项之一", "literal_error": "须为给出的选项之一",
    "decimal_max_places": "最多 {decimal_places} 位小数", "too_short": "至少选 {min_length} 项",
    "too_long": "最多 {max_length} 项", "extra_forbidden": "不是此表单的栏目", "list_type": "须为列表",
    "string_type": "须为文字", "model_type": "格式不正确", "model_attributes_type": "格式不正确",
    "json_invalid": "格式不正确", "union_tag_invalid": "未知操作",
}
# The schemas' own messages (a validator's ValueError), by how they begin.
VALUE_ERRORS = [   # (how the message begins, what the page says, the field it is about)
    ("must not be blank", "不能为空", None),
    ("must not contain control characters", "不能含控制字符", None),
    ("an amount", "须为金额，如 1500 或 1,500.00（最多两位小数，不带正负号）", None),
    ("a time is an ISO 8601 string", "须为日期时间", None),
    ("an unjustified complaint needs the reply", "投诉不属实时须填写答复业主的理由（C2）", "reply"),
    ("a type A (warranty) work order needs", "A 类（保修期内）工单须选择施工单位（R3）", "contractor_id"),
    ("quantity must be more than 0", "数量须大于 0", None),
    ("a quote needs at least one item", "报价至少须有一项收费标准项目或附加项目（R3）", "items"),
    ("each fee-schedule item appears once", "每个收费项目在报价中只出现一次，请填写数量", "items"),
    ("each worker is named once", "每位维修人员只能选一次", "workers"),
    ("a failed inspection needs a note", "验收不合格须说明需返工的内容（R6）", "note"),
    ("a dissatisfied owner", "业主不满意（满意度 1 或 2）须选择跟进安排：返修或客户服务部经理跟进（R7、V3）", "follow_up"),
    ("write the share as a plain decimal", "抽样比例须为 0 到 1 之间的小数，如 0.15", "share"),
    ("ends_on must not be before starts_on", "结束日期不能早于开始日期", "ends_on"),
    ("share: a first revisit", "首次回访（V1）覆盖全部入住户，不抽样", "share"),
    ("staff: each username once", "每位回访人员只能选一次", "staff"),
    ("an answered point needs the answer", "当场答复的问题须填写答复（V3）", "answer"),
    ("a point opened as a complaint needs", "立为投诉的问题须选择类别", "category"),
    ("a point opened as a repair needs", "立为报修的问题须填写工种和业主希望的上门时间", "trades"),
]
# The API's refusals written for API clients, as a page says them (the rest of the API's refusals are
# the machine's own, already in Chinese).
HTTP_DETAILS = [
    (r"^no case '?([A-Z]{2}-\d{4}-\d{6}|[^':]*)'?", lambda m: f"没有案件 {m.group(1)}，或您无权查看"),
    (r"^case (\S+) is closed", lambda m: f"案件 {m.group(1)} 已结案"),
    (r"^contractor_id: no contractor '?([^' ]*)'? is registered", lambda m: f"施工单位：{m.group(1)} 未登记"),
    (r"^no campaign '?([^':]*)'?", lambda m: f"没有回访活动 {m.group(1)}"),
    (r"^no open campaign (\S+)", lambda m: f"回访活动 {m.group(1)} 已结束或不存在"),
    (r"^project: no project '?([^']*)'? in the property register", lambda m: f"项目：房产台账中没有 {m.group(1)}"),
    (r"^project (.+) is ([\d.]+)% occupied \((\d+) of (\d+) units\)",
     lambda m: f"{m.group(1)} 入住率 {m.group(2)}%（{m.group(4)} 户中入住 {m.group(3)} 户）：首次回访（V1）须入住率达到 50%"),
    (r"^share: (.*)", lambda m: f"抽样比例：{m.group(1)}"),
    (r"^unit_id: no unit (\d+)", lambda m: f"台账房屋：房产台账中没有编号 {m.group(1)} 的房屋"),
    (r"^unit_id: the register has no phone", lambda m: "台账房屋：房产台账中没有该业主的电话，请先补充后再立案"),
    (r"^no report (\d+)", lambda m: f"没有报表 {m.group(1)}"),
    (r"^period: '?([^']*)'? is not a period of", lambda m: f"期间：{m.group(1)} 不是此报表的期间"),
    (r"^period: '?([^']*)'? does not exist", lambda m: f"期间：{m.group(1)} 不存在"),
    (r"^period: year (\d+) is out of range", lambda m: f"期间：{m.group(1)} 年超出范围"),
    (r"no fee schedule has been published", lambda m: "收费标准尚未发布（R3）：请客户服务部经理先发布"),
    (r"^items not in fee schedule version (\d+): (.*?) \(R3\)",
     lambda m: f"项目明细：{m.group(2)} 不在第 {m.group(1)} 版收费标准中（R3）"),
]
BY_STATUS = {400: "请求有误", 403: "您无权这样做", 404: "找不到，或您无权查看", 409: "目前不能这样做",
             413: "文件太大", 422: "填写有误", 429: "操作太频繁，请稍后再试", 503: "系统繁忙，请稍后再试"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LEADING_FIELD = re.compile(r"^([a-z_]+)\s*[：:]\s*")


def value_error(message: str) -> tuple[str, str | None]:
    """A validator's message in Chinese, and the field it is about when the message is the whole form's."""
    text = message.removeprefix("Value error, ")
    if _CJK.search(text):
        return text, None
    for start, chinese, field in VALUE_ERRORS:
        if text.startswith(start):
            return chinese, field
    return "填写有误", None


def http_detail(detail: Any, status_code: int) -> str:
    """An API refusal as a page says it: the machine's Chinese as written, the API's English translated."""
    text = str(detail)
    for pattern, say in HTTP_DETAILS:
        if m := re.search(pattern, text):
            return say(m)
    if _CJK.search(text):
        m = _LEADING_FIELD.match(text)   # the machine names the field first ("handler：…"): by its label
        return f"{FIELD_LABELS[m.group(1)]}：{text[m.end():]}" if m and m.group(1) in FIELD_LABELS else text
    return BY_STATUS.get(status_code, "未能完成") + ("" if status_code >= 500 else "")


def field_of(text: str) -> str | None:
    """The field a refusal names first ("handler：…"), if any."""
    m = _LEADING_FIELD.match(str(text))
    return m.group(1) if m else None


def refusal(e: HTTPException | ValidationError) -> tuple[str, dict[str, str]]:
    """Why a form was refused, for the person who sent it, and what is wrong with each field named: each
    field by its Chinese label (the schema's field ids and English never shown)."""
    if isinstance(e, HTTPException):
        text = http_detail(e.detail, e.status_code)
        field = field_of(str(e.detail))
        return text, ({field: text} if field else {})
    parts, fields = [], {}
    for err in e.errors():
        names = [str(p) for p in err["loc"] if not isinstance(p, int) and str(p) in FIELD_LABELS]
        name = names[-1] if names else ""   # (a union's tag, "body" and the like are no field)
        template = INPUT_ERRORS.get(err["type"])
        if template is None:
            why, about = value_error(str(err["msg"])) if err["type"] == "value_error" else ("填写有误", None)
            name = name or about or ""
        else:
            why = template.format(**{k: v for k, v in (err.get("ctx") or {}).items()})
        label = FIELD_LABELS.get(name)
        parts.append(f"{label}：{why}" if label else why)
        if name:
            fields.setdefault(name, why)
    return "；".join(dict.fromkeys(parts)), fields


_QUARTERS = {"一": "1", "二": "2", "三": "3", "四": "4"}


def period_label(text: str) -> str:
    """What a person writes for a period (2026年12月, 2026年第48周, 2026年第四季度, 2026/12, 2026-1) as
    the report's own label (2026-12, 2026-W48, 2026Q4, 2026-01); anything else unchanged."""
    t = re.sub(r"\s+", "", text).replace("／", "/").upper()
    if m := re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日?", t) or re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", t):
        return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    if m := re.fullmatch(r"(\d{4})年第?(\d{1,2})周", t) or re.fullmatch(r"(\d{4})-?W(\d{1,2})", t):
        return f"{m.group(1)}-W{int(m.group(2)):02d}"
    if m := re.fullmatch(r"(\d{4})年?第?([1-4一二三四])季度?", t) or re.fullmatch(r"(\d{4})-?Q([1-4])", t):
        return f"{m.group(1)}Q{_QUARTERS.get(m.group(2), m.group(2))}"
    if m := re.fullmatch(r"(\d{4})年(\d{1,2})月?", t) or re.fullmatch(r"(\d{4})[-/.](\d{1,2})", t):
        return f"{m.group(1)}-{int(m.group(2)):02d}"
    if m := re.fullmatch(r"(\d{4})年?(度)?", t):
        return m.group(1)
    return text.strip()
