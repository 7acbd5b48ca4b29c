"""E4: messages written for their readers — Chinese, Beijing time, the case's facts, what is due or
missed and since when, the escalation level, a link to the case; never a full phone number."""

from datetime import datetime, timedelta, timezone

import pytest

from activities.notify import Notification, NotificationActivities
from aftersales import messages as M
from aftersales.roles import Role
from tests.rules.test_complaint_machine import Run
from tests.support.http_receiver import HTTPReceiver
from tests.test_notify import maker, make_settings, smtp  # noqa: F401 (fixtures)

BASE = "https://cases.example.cn"
CST = timezone(timedelta(hours=8))


def facts(**kw) -> M.CaseFacts:
    return M.CaseFacts(**{"case_no": "TS-2026-000001", "case_type": "complaint", "project": "融侨城",
                          "building": "5栋", "unit": "1203", "category": "漏水", "department": "工程部",
                          "handler": "li.handler", **kw})


def escalation() -> M.Message:
    due = datetime(2026, 11, 26, 17, 30, tzinfo=CST)
    return M.Message(title="责任部门反馈逾期，已升级至客户服务部经理", text="请督办。", case=facts(), level=2,
                     level_role=Role.cs_manager,
                     items=[M.DueItem(key="dept_feedback", name="责任部门反馈", rule="C3", due_at=due)])


def test_E4_beijing_time_and_amounts():
    assert M.beijing(datetime(2026, 11, 26, 9, 30, tzinfo=timezone.utc)) == "2026-11-26 17:30"
    assert M.yuan(1234.5) == "¥1,234.50"


def test_E4_escalation_email_names_case_place_category_handler_due_level_and_link():
    m = escalation()
    subject, text = M.subject(m), M.email_text(m, BASE + "/")
    assert subject == "【投诉·升级2级】TS-2026-000001 责任部门反馈逾期，已升级至客户服务部经理（融侨城5栋1203）"
    for part in ("案件编号：TS-2026-000001（投诉）", "项目：融侨城", "楼栋房号：5栋 1203", "类别：漏水",
                 "责任部门：工程部", "处理人：li.handler", "升级级别：第2级（客户服务部经理）",
                 "责任部门反馈（C3）：应于 2026-11-26 17:30 完成，自 2026-11-26 17:30 起逾期未办",
                 f"查看案件：{BASE}/app/cases/TS-2026-000001"):
        assert part in text, part
    assert "T" not in text.split("查看案件")[0].replace("TS-", "")  # no ISO times


def test_E4_webhook_markdown_for_wecom_and_dingtalk():
    m = escalation()
    payload = M.robot_markdown(M.subject(m), M.markdown(m, BASE))
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["content"] == payload["markdown"]["text"]          # WeCom / DingTalk
    assert payload["markdown"]["title"] == M.subject(m)
    assert f"[查看案件]({BASE}/app/cases/TS-2026-000001)" in payload["markdown"]["content"]
    assert "**第2级（客户服务部经理）**" in payload["markdown"]["content"]


def test_E4_no_full_phone_number_in_any_rendering():
    m = escalation().model_copy(update={"text": "业主电话 13812341234，请回电", "case": facts(handler="13812341234")})
    d = M.Digest(recipient="butler", window_end=datetime(2026, 11, 26, 10, tzinfo=timezone.utc), messages=[m])
    for out in (M.subject(m), M.email_text(m, BASE), M.markdown(m, BASE), M.digest_text(d, BASE),
                M.digest_markdown(d, BASE)):
        assert "13812341234" not in out
    assert "138****1234" in M.email_text(m, BASE)


def test_E4_digest_lists_each_case_with_its_items_and_link():
    m1, m2 = escalation(), escalation().model_copy(update={"case": facts(case_no="TS-2026-000002", unit="0801")})
    d = M.Digest(recipient="butler", window_end=datetime(2026, 11, 26, 10, tzinfo=timezone.utc), messages=[m1, m2])
    text = M.digest_text(d, BASE)
    assert M.digest_subject(d) == "【提醒汇总】2 件案件待办（截至 2026-11-26 18:00）"
    assert text.startswith("贴心管家：以下 2 件案件有待办事项")
    assert "1. TS-2026-000001 投诉 · 融侨城5栋1203 · 漏水 · 处理人 li.handler" in text
    assert f"{BASE}/app/cases/TS-2026-000002" in text


def test_E1_E4_the_machine_fills_the_message_of_an_escalation():
    r = Run().classified()
    r.at(r.due("dept_feedback"))
    [n] = [n for n in r.notices() if n.message.level and r.about(n, "dept_feedback")]
    m = n.message
    assert m.level == 1 and m.level_role == Role.dept_head and m.case.department == "工程部"
    assert m.case.project == "融侨城" and m.case.unit == "1203" and m.case.category == "漏水"
    [item] = [i for i in m.items if i.key == "dept_feedback"]
    assert (item.rule, item.missed, M.beijing(item.due_at)) == ("C3", True, "2026-11-26 10:00")
    assert "13812341234" not in n.model_dump_json()


@pytest.mark.asyncio
async def test_E4_activity_sends_the_rendered_message_by_email_and_robot(maker, smtp):  # noqa: F811
    with HTTPReceiver() as hooks:
        url = hooks.url("/cgi-bin/webhook/send") + "?key=secret"
        acts = NotificationActivities(maker, make_settings(smtp, public_base_url=BASE,
                                                           webhook_urls={"cs_manager": [url]}))
        n = Notification(notification_id="TS-2026-000001:n9", case_no="TS-2026-000001", roles=[Role.cs_manager],
                         subject="unused", body="unused", reason="E1 escalation level 2: C3 overdue",
                         message=escalation())
        await acts.send_notification(n)
        [msg] = await smtp.wait_for(1)
        assert msg.subject == M.subject(escalation())
        assert f"{BASE}/app/cases/TS-2026-000001" in msg.body and "2026-11-26 17:30" in msg.body
        [post] = await hooks.wait_for(1, path="/cgi-bin/webhook/send")
        assert post["msgtype"] == "markdown" and "融侨城" in post["markdown"]["content"]
