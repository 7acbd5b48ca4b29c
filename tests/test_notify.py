"""The notification activity (E1–E3) against a real SMTP server and a real HTTP webhook receiver on
loopback, with the delivery records in a real SQLite file."""

import asyncio
import dataclasses
import socket
import traceback
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import activities.notify as notify_module
from aftersales import messages
from activities.notify import (
    RETRY_POLICY,
    START_TO_CLOSE,
    UNDELIVERABLE_TYPE,
    Notification,
    NotificationActivities,
    NotificationResult,
    robot_payload,
    usernames_named,
    webhook_label,
)
from adapters.config import Settings
from adapters.db import org
from adapters.db.models import Base, NotificationDelivery, Staff
from adapters.db.session import make_engine, make_sessionmaker
from aftersales.roles import Role
from tests.support.http_receiver import HTTPReceiver
from tests.support.smtp import SMTPServer
from tests.support.sqlite_lock import WriteLock, short_busy_timeout

PHONE = "13812341234"
SUBJECT = "[TS-2026-000001] 升级 L1: 责任部门反馈 逾期"
BODY = "王女士（融侨城 5栋1203）卫生间天花板漏水，责任部门未在时限内反馈。"


@pytest_asyncio.fixture
async def maker(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        session.add_all([
            staff("head_eng", Role.dept_head, "head.eng@example.com", "工程部"),
            staff("head_pm", Role.dept_head, "head.pm@example.com", "物业部"),
            staff("handler_eng", Role.dept_handler, "handler.eng@example.com", "工程部"),
            staff("csm", Role.cs_manager, "csm@example.com", "客户服务部"),
            staff("csm_old", Role.cs_manager, "csm.old@example.com", "客户服务部", active=False),
            staff("csm_nomail", Role.cs_manager, None, "客户服务部"),
            staff("gm", Role.gm, "gm@example.com", None),
            staff("butler1", Role.butler, f"{PHONE}@163.com", "客户服务部"),
        ])
        await session.commit()
    yield maker
    await engine.dispose()


def staff(username: str, role: Role, email: str | None, department: str | None, active: bool = True) -> Staff:
    return Staff(username=username, role=role.value, display_name=username, email=email, department=department,
                 password_hash="-", active=active)


@pytest.fixture
def smtp() -> SMTPServer:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def hooks() -> HTTPReceiver:
    with HTTPReceiver() as receiver:
        yield receiver


def make_settings(smtp: SMTPServer | None = None, port: int | None = None, **kw) -> Settings:
    return Settings(**{"_env_file": None, "smtp_host": "127.0.0.1", "smtp_port": port or smtp.port,
                       "smtp_timeout_seconds": 5, "webhook_timeout_seconds": 5, **kw})


def notification(seq: int = 1, **kw) -> Notification:
    base = dict(notification_id=f"TS-2026-000001:n{seq}", case_no="TS-2026-000001", subject=SUBJECT, body=BODY,
                reason="deadline dept_feedback missed (C3)")
    return Notification(**{**base, **kw})


async def deliveries(maker, notification_id: str) -> set[tuple[str, str]]:
    async with maker() as session:
        rows = await session.execute(select(NotificationDelivery.channel, NotificationDelivery.recipient)
                                     .where(NotificationDelivery.notification_id == notification_id))
        return {(channel, recipient) for channel, recipient in rows.all()}


def unused_port() -> int:
    from tests.support.smtp import free_port
    return free_port()


# ---- e-mail -------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_e1_email_reaches_every_active_staff_of_the_role_with_chinese_intact(maker, smtp):
    """E1: the level's role is told by e-mail; inactive staff and staff without an address are not."""
    acts = NotificationActivities(maker, make_settings(smtp))
    n = notification(roles=[Role.cs_manager])

    result = await acts.send_notification(n)

    [msg] = await smtp.wait_for(1)
    assert msg.to == ["csm@example.com"]
    assert msg.subject == SUBJECT
    assert BODY in msg.body and "deadline dept_feedback missed (C3)" in msg.body
    assert msg.mail_from == "aftersales@example.com"
    assert msg.headers["X-Aftersales-Case"] == "TS-2026-000001"
    assert result.emails == ["csm@example.com"] and result.webhooks == 0 and result.unreachable_roles == []
    assert await deliveries(maker, n.notification_id) == {("email", "csm@example.com")}


@pytest.mark.asyncio
async def test_e1_one_message_per_recipient_and_named_staff(maker, smtp):
    """E1: roles and named staff (the handler) together, each address once, one message each."""
    acts = NotificationActivities(maker, make_settings(smtp))
    result = await acts.send_notification(
        notification(roles=[Role.gm, Role.cs_manager], usernames=["handler_eng", "csm"]))

    msgs = await smtp.wait_for(3)
    assert sorted(m.to[0] for m in msgs) == ["csm@example.com", "gm@example.com", "handler.eng@example.com"]
    assert all(len(m.to) == 1 for m in msgs)
    # one message built per notification and addressed to each in turn: each names its own recipient
    # alone (never another's address) and has its own Message-ID (the same on a resend to that address)
    assert all(m.message.get_all("To") == m.to for m in msgs)
    assert all(len(m.message.get_all("Message-ID")) == 1 for m in msgs)
    assert len({m.headers["Message-ID"] for m in msgs}) == 3
    assert all(m.subject == SUBJECT and BODY in m.body for m in msgs)
    assert result.emails == ["csm@example.com", "gm@example.com", "handler.eng@example.com"]
    assert result.unreachable_usernames == []
    async with maker() as session, session.begin():  # as if the records were lost: a resend
        await session.execute(delete(NotificationDelivery))
    await acts.send_notification(notification(roles=[Role.gm, Role.cs_manager], usernames=["handler_eng", "csm"]))
    again = (await smtp.wait_for(6))[3:]
    assert {m.to[0]: m.headers["Message-ID"] for m in again} == {m.to[0]: m.headers["Message-ID"] for m in msgs}


@pytest.mark.asyncio
async def test_e1_an_address_in_chinese_is_sent_with_smtputf8(maker, smtp):
    """E1: staff addresses may be internationalised (张三@例子.中国): sent with SMTPUTF8, the To header
    in UTF-8, the rest of the message as for anyone."""
    async with maker() as session, session.begin():
        session.add(staff("zhangsan", Role.gm, "张三@例子.中国", None))
    acts = NotificationActivities(maker, make_settings(smtp))
    result = await acts.send_notification(notification(usernames=["zhangsan"]))
    [msg] = await smtp.wait_for(1)
    assert msg.to == ["张三@例子.中国"] and msg.message.get_all("To") == ["张三@例子.中国"]
    assert msg.subject == SUBJECT and BODY in msg.body
    assert result.emails == ["张三@例子.中国"]


@pytest.mark.asyncio
async def test_e1_department_roles_are_narrowed_to_the_department(maker, smtp):
    """E1: dept_head of the case's department only; other roles are not narrowed."""
    acts = NotificationActivities(maker, make_settings(smtp))
    result = await acts.send_notification(
        notification(roles=[Role.dept_head, Role.dept_handler, Role.cs_manager], department="工程部"))

    assert result.emails == ["csm@example.com", "handler.eng@example.com", "head.eng@example.com"]
    await smtp.wait_for(3)
    assert not smtp.to("head.pm@example.com")


@pytest.mark.asyncio
async def test_P2_P7_a_department_without_anyone_of_the_role_is_unreachable_not_every_department(maker, smtp):
    """P2/P7 (formerly E1's fall-back to everyone of the role): nobody of the role in that department means
    nobody is mailed — the other departments' heads may not see the case (its link is 404 for them) — and
    the role is reported unreachable, which the case's timeline records."""
    acts = NotificationActivities(maker, make_settings(smtp))
    result = await acts.send_notification(notification(roles=[Role.dept_head], department="营销部"))

    assert result.emails == [] and result.unreachable_roles == [Role.dept_head]
    result = await acts.send_notification(notification(2, roles=[Role.dept_head]))
    assert result.emails == [] and result.unreachable_roles == [Role.dept_head]  # a department role needs its department
    assert smtp.messages == []


# ---- webhooks -----------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_e3_webhook_receives_the_robot_json(maker, smtp, hooks):
    """E3: a role's group robot gets the WeCom / DingTalk text message; its key never shows."""
    url = hooks.url("/cgi-bin/webhook/send?key=SECRET-ROBOT-KEY")
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"gm": [url]}))

    result = await acts.send_notification(notification(roles=[Role.gm]))

    [body] = await hooks.wait_for(1, path="/cgi-bin/webhook/send")
    assert body == {"msgtype": "text", "text": {"content": f"{SUBJECT}\n{BODY}"}}
    assert hooks.hits[0].query == "key=SECRET-ROBOT-KEY"
    assert hooks.hits[0].headers["Content-Type"] == "application/json"
    assert result.webhooks == 1 and result.emails == ["gm@example.com"]
    recorded = await deliveries(maker, "TS-2026-000001:n1")
    assert ("webhook", webhook_label(url)) in recorded
    assert not any("SECRET" in recipient for _, recipient in recorded)


@pytest.mark.asyncio
async def test_e3_webhook_failing_once_is_retried_without_resending_the_email(maker, smtp, hooks):
    """E3: the first attempt delivers the e-mail but the webhook answers 500, so the activity raises
    (Temporal retries it); the second attempt posts the webhook only; a third sends nothing."""
    url = hooks.url("/robot?access_token=SECRET-TOKEN")
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"cs_manager": [url]}))
    n = notification(roles=[Role.cs_manager])
    hooks.fail_next(1)

    with pytest.raises(ApplicationError) as failed:
        await acts.send_notification(n)
    assert "webhook" in str(failed.value) and "500" in str(failed.value)
    assert webhook_label(url) in str(failed.value) and "SECRET" not in str(failed.value)
    assert not failed.value.non_retryable
    assert smtp.count == 1 and hooks.hit_count() == 1 and hooks.received() == []
    assert await deliveries(maker, n.notification_id) == {("email", "csm@example.com")}

    result = await acts.send_notification(n)
    assert smtp.count == 1, "the e-mail delivered by the first attempt must not be sent again"
    assert hooks.hit_count() == 2 and len(hooks.received()) == 1
    assert result.emails == ["csm@example.com"] and result.webhooks == 1

    again = await acts.send_notification(n)
    assert smtp.count == 1 and hooks.hit_count() == 2
    assert again.emails == ["csm@example.com"] and again.webhooks == 1


@pytest.mark.asyncio
async def test_e3_robot_errcode_with_http_200_is_a_failure(maker, smtp, hooks):
    """E3: WeCom / DingTalk robots refuse with HTTP 200 and a non-zero errcode: not delivered."""
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"gm": [hooks.url("/robot")]}))
    hooks.fail_next(1, status=200, body={"errcode": 45009, "errmsg": "api freq out of limit"})

    with pytest.raises(ApplicationError, match="errcode 45009"):
        await acts.send_notification(notification(roles=[Role.gm]))
    result = await acts.send_notification(notification(roles=[Role.gm]))
    assert result.webhooks == 1 and len(hooks.received("/robot")) == 1 and smtp.count == 1


# ---- nobody to tell -----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_e3_role_with_nobody_configured_is_reported_unreachable(maker, smtp, hooks):
    """E3: never silently dropped — a role with no address and no webhook is named in the result."""
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"gm": [hooks.url("/gm")]}))
    result = await acts.send_notification(
        notification(roles=[Role.deputy_gm, Role.finance, Role.gm], usernames=["ghost", "csm_old"]))

    assert result.unreachable_roles == [Role.deputy_gm, Role.finance]
    assert result.unreachable_usernames == ["ghost", "csm_old"]
    assert result.emails == ["gm@example.com"] and result.webhooks == 1
    assert smtp.count == 1


@pytest.mark.asyncio
async def test_e3_role_reachable_by_webhook_only_is_not_unreachable(maker, hooks):
    """E3: deputy_gm has no staff with an address, but a webhook: reachable."""
    acts = NotificationActivities(maker, make_settings(port=unused_port(),
                                                       webhook_urls={"deputy_gm": [hooks.url("/dgm")]}))
    result = await acts.send_notification(notification(roles=[Role.deputy_gm]))
    assert result.unreachable_roles == [] and result.webhooks == 1 and result.emails == []


# ---- failures -----------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_e3_smtp_down_raises_naming_no_phone_number(maker):
    """E3: SMTP unreachable: the activity raises (to be retried); neither the error nor the logs
    carry the phone number in the recipient's address, nor the body text."""
    acts = NotificationActivities(maker, make_settings(port=unused_port()))
    n = notification(roles=[Role.butler])

    with capture_logs() as logs, pytest.raises(ApplicationError) as failed:
        await acts.send_notification(n)

    message = str(failed.value)
    assert "email" in message and "138****1234@163.com" in message
    assert PHONE not in message
    assert PHONE not in repr(logs) and BODY not in repr(logs)
    assert all(e.get("case_no") == n.case_no and e.get("notification_id") == n.notification_id for e in logs)
    assert await deliveries(maker, n.notification_id) == set()


@pytest.mark.asyncio
async def test_e3_refused_recipient_does_not_hold_back_the_others(maker, smtp):
    """E3: one recipient refused (550): the others are delivered and recorded, the activity raises
    naming the refused one; once accepted, the retry sends to that one only."""
    acts = NotificationActivities(maker, make_settings(smtp))
    n = notification(usernames=["head_eng", "head_pm"])
    smtp.reject("head.eng@example.com")

    with pytest.raises(ApplicationError, match="head.eng@example.com") as failed:
        await acts.send_notification(n)
    assert "head.pm" not in str(failed.value)
    assert [m.to for m in smtp.messages] == [["head.pm@example.com"]]

    smtp.accept("head.eng@example.com")
    result = await acts.send_notification(n)
    assert sorted(m.to[0] for m in smtp.messages) == ["head.eng@example.com", "head.pm@example.com"]
    assert result.emails == ["head.eng@example.com", "head.pm@example.com"]


@pytest.mark.asyncio
async def test_e3_temporary_smtp_failure_is_retried(maker, smtp):
    """E3: a 451 at DATA is a failure; the retry delivers."""
    acts = NotificationActivities(maker, make_settings(smtp))
    smtp.fail_next(1)
    with pytest.raises(ApplicationError, match="451"):
        await acts.send_notification(notification(roles=[Role.gm]))
    await acts.send_notification(notification(roles=[Role.gm]))
    assert smtp.count == 1 and smtp.attempts == 2


# ---- as a Temporal activity ---------------------------------------------------------------------
@pytest.mark.asyncio
async def test_e3_runs_as_a_temporal_activity(maker, smtp, hooks):
    """E3: the same code runs as the `send_notification` activity, with the retry policy callers use."""
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"dept_head": [hooks.url("/dh")],
                                                                           "gm": [hooks.url("/dh")]}))
    env = ActivityEnvironment()

    result = await env.run(acts.send_notification, notification(roles=[Role.dept_head], department="物业部"))

    assert isinstance(result, NotificationResult)
    # P2/P7: the department roles' group robot reaches every department: not for one department's notice
    assert result.emails == ["head.pm@example.com"] and result.webhooks == 0
    result = await env.run(acts.send_notification, notification(2, roles=[Role.gm]))
    assert result.webhooks == 1
    assert (await smtp.wait_for(1))[0].subject == SUBJECT
    assert len(await hooks.wait_for(1, path="/dh")) == 1
    assert acts.send_notification.__temporal_activity_definition.name == "send_notification"
    assert RETRY_POLICY.maximum_attempts == 0 and RETRY_POLICY.initial_interval == timedelta(seconds=5)
    assert RETRY_POLICY.backoff_coefficient == 2.0 and RETRY_POLICY.maximum_interval == timedelta(minutes=10)
    assert START_TO_CLOSE == timedelta(seconds=60)


@pytest.mark.asyncio
async def test_e3_webhook_timeout_raises_without_the_robot_key(maker, hooks):
    """E3: a webhook that does not answer within the timeout is a failure; its key never shows."""
    url = hooks.url("/robot/send?key=SECRET-ROBOT-KEY")
    acts = NotificationActivities(maker, make_settings(port=unused_port(), webhook_timeout_seconds=0.3,
                                                       webhook_urls={"deputy_gm": [url]}))
    hooks.delay = 1.0
    with capture_logs() as logs, pytest.raises(ApplicationError, match="Timeout") as failed:
        await acts.send_notification(notification(roles=[Role.deputy_gm]))
    assert webhook_label(url) in str(failed.value)
    assert "SECRET" not in str(failed.value) and "SECRET" not in repr(logs)


@pytest.mark.asyncio
async def test_P3_no_message_carries_a_full_phone_number(maker, smtp, hooks):
    """P3: a phone number in a message's subject or body (a note typed by staff) is masked in the
    e-mail and in the webhook, whoever receives them."""
    url = hooks.url("/cgi-bin/webhook/send?key=K")
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"gm": [url]}))
    await acts.send_notification(notification(roles=[Role.gm], subject="回电 13812341234",
                                              body="业主电话 13812341234, 座机 0532-88886666"))
    [msg] = await smtp.wait_for(1)
    [body] = await hooks.wait_for(1, path="/cgi-bin/webhook/send")
    for text in (msg.subject, msg.body, body["text"]["content"]):
        assert "13812341234" not in text and "88886666" not in text
    assert "138****1234" in msg.body and "053*****6666" in body["text"]["content"]


# ---- undeliverable (E3) -------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_e3_no_such_mailbox_is_permanent_and_not_retried(maker, smtp):
    """E3: an SMTP 5xx for the recipient (550 no such mailbox) can never succeed: non-retryable."""
    smtp.reject("csm@example.com")
    acts = NotificationActivities(maker, make_settings(smtp))
    with pytest.raises(ApplicationError) as failed:
        await acts.send_notification(notification(roles=[Role.cs_manager]))
    assert failed.value.non_retryable and failed.value.type == UNDELIVERABLE_TYPE
    assert "550" in str(failed.value)


@pytest.mark.asyncio
async def test_e3_a_permanent_and_a_temporary_failure_together_are_retried(maker, smtp, hooks):
    """E3: one recipient gone for good, the other's robot answering 500: the attempt is retried (the
    temporary one may still go through); only failures that are all permanent end the retries."""
    smtp.reject("csm@example.com")
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"cs_manager": [hooks.url("/robot")]}))
    hooks.fail_next(1, status=503)
    with pytest.raises(ApplicationError) as failed:
        await acts.send_notification(notification(roles=[Role.cs_manager]))
    assert not failed.value.non_retryable and failed.value.type == "NotificationDeliveryFailed"
    with pytest.raises(ApplicationError) as failed:   # the robot went through; the mailbox never will
        await acts.send_notification(notification(roles=[Role.cs_manager]))
    assert failed.value.non_retryable and len(hooks.received()) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("status,body,permanent", [(404, None, True), (403, None, True), (429, None, False),
                                                   (200, {"errcode": 93000, "errmsg": "invalid webhook url"}, True),
                                                   (200, {"errcode": 45009, "errmsg": "api freq out of limit"}, False)])
async def test_e3_webhook_4xx_or_revoked_robot_key_is_permanent(maker, smtp, hooks, status, body, permanent):
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"gm": [hooks.url("/robot")]}))
    hooks.fail_next(1, status=status, body=body)
    with pytest.raises(ApplicationError) as failed:
        await acts.send_notification(notification(roles=[Role.gm]))
    assert failed.value.non_retryable is permanent


@pytest.mark.asyncio
async def test_P7_A4_a_mail_names_people_by_name_and_title_and_says_what_is_decided(maker, smtp):
    """P7: the handler, who asked and who decided appear by name and title, not by username; A4: the rows of
    what is decided come first."""
    from aftersales.messages import CaseFacts, Message
    async with maker() as session:
        (await session.get(Staff, "handler_eng")).display_name = "张伟"
        (await session.get(Staff, "csm")).display_name = "赵敏"
        await session.commit()
    message = Message(title="待您审批：处理方案 TS-2026-000001", case=CaseFacts(
        case_no="TS-2026-000001", case_type="complaint", project="融侨城", building="5栋", unit="1203",
        category="漏水", department="工程部", handler="handler_eng"), requested_by="handler_eng",
        details=[("决定内容", "处理方案：重做防水；补偿 ¥1,500.00"), ("金额", "¥1,500.00（¥1,000.01–¥10,000.00：…）"),
                 ("申请人", "handler_eng"), ("已完成", "客户服务部经理审批 批准（csm）"), ("尚待", "副总经理审批")])
    acts = NotificationActivities(maker, make_settings(smtp))
    await acts.send_notification(notification(roles=[Role.gm], message=message))
    text = (await smtp.wait_for(1))[0].body
    assert "处理人：张伟 · 工程部专人" in text and "申请人：张伟 · 工程部专人" in text
    assert "客户服务部经理审批 批准（赵敏 · 客户服务部经理）" in text and "决定内容：处理方案：重做防水" in text
    assert "handler_eng" not in text and "（csm）" not in text


@pytest.mark.asyncio
async def test_P7_E3_a_mail_whose_text_names_an_account_shows_its_name_and_title(maker, smtp):
    """P7: the text the case wrote (E3: "发给handler_eng的通知…无法送达", written with the username, the machine's
    key) reads with the person's name and title in the mail and the robot's message; words that are no
    account stay as they are."""
    from aftersales.messages import CaseFacts, Message
    async with maker() as session:
        (await session.get(Staff, "handler_eng")).display_name = "张伟"
        await session.commit()
    message = Message(title="通知无法送达，请人工处理", text="发给handler_eng的通知“待您审批”无法送达：smtp 550。请核对。",
                      case=CaseFacts(case_no="TS-2026-000001", case_type="complaint", project="融侨城", building="5栋",
                                     unit="1203", category="漏水", department="工程部", handler=None))
    n = notification(roles=[Role.gm], message=message)
    acts = NotificationActivities(maker, make_settings(smtp))
    await acts.send_notification(n)
    text = (await smtp.wait_for(1))[0].body
    assert "发给张伟 · 工程部专人的通知" in text and "handler_eng" not in text and "smtp 550" in text
    async with maker() as session:
        names = {u: p.label for u, p in (await org.people(session, usernames_named(n))).items()}
    assert "handler_eng" not in str(robot_payload(n, "http://x", names))


# ---- an attempt cut after the server took the message (E3: once, not twice) ---------------------
async def _cut_once_taken(attempt: asyncio.Task, taken) -> None:
    """Cuts an attempt the moment the server has taken its message but not yet answered (what the 1 s bound
    of a deadline notice's in-task try does on a busy machine, or an activity's timeout)."""
    for _ in range(200):
        if taken():
            break
        await asyncio.sleep(0.01)
    assert taken(), "the server never took the message"
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt


@pytest.mark.asyncio
async def test_e3_an_attempt_cut_after_the_mail_server_took_the_message_is_not_followed_by_a_resend(maker, smtp):
    """E3: the server keeps the message and answers its DATA late; the attempt is cut in between. The next
    attempt (the activity after the in-task try, on the same worker) sends nothing again: the cut transaction
    finishes and is recorded, and the next attempt answers with it."""
    acts = NotificationActivities(maker, make_settings(smtp))
    n = notification(roles=[Role.gm])
    smtp.late_answer_seconds = 1.0

    await _cut_once_taken(asyncio.create_task(acts.send_notification(n)), lambda: smtp.count == 1)
    result = await acts.send_notification(n)

    assert result.emails == ["gm@example.com"]
    await asyncio.sleep(1.5)  # had anything been sent again, the server would have it by now
    assert [m.to for m in smtp.messages] == [["gm@example.com"]], "the notice was e-mailed twice"
    assert smtp.attempts == 1
    assert await deliveries(maker, n.notification_id) == {("email", "gm@example.com")}


@pytest.mark.asyncio
async def test_e3_another_worker_does_not_resend_while_a_cut_attempt_may_still_be_answered(maker, smtp):
    """E3: as above, the next attempt on another worker (its own process, the same register): while the cut
    transaction is still open it sends nothing and fails for now (Temporal retries it); once that transaction
    is recorded, the retry answers delivered, without a second message."""
    first, second = (NotificationActivities(maker, make_settings(smtp)) for _ in range(2))
    n = notification(roles=[Role.gm])
    smtp.late_answer_seconds = 1.0

    await _cut_once_taken(asyncio.create_task(first.send_notification(n)), lambda: smtp.count == 1)
    with pytest.raises(ApplicationError) as busy:
        await second.send_notification(n)
    assert not busy.value.non_retryable and busy.value.type == "NotificationDeliveryFailed"
    assert smtp.count == 1

    async def recorded():
        while await deliveries(maker, n.notification_id) != {("email", "gm@example.com")}:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(recorded(), 5)
    result = await second.send_notification(n)
    assert result.emails == ["gm@example.com"]
    assert smtp.count == 1 and smtp.attempts == 1, "the notice was e-mailed twice"


@pytest.mark.asyncio
async def test_e3_a_register_locked_past_its_busy_timeout_after_the_mail_went_out_neither_fails_nor_resends(
        maker, smtp, tmp_path):
    """E3 on SQLite's one writer: another process (a projection batch, an intake) holds the write lock for a
    second, longer than the busy timeout, from the moment the server keeps the first message. The delivery's
    record (and the next recipient's hold) waits its turn inside the activity rather than failing after the mail
    went out: the activity succeeds, each recipient has the notice once, and its retry sends nothing."""
    engine = short_busy_timeout(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}"), 100)
    lock = WriteLock(tmp_path / "notify.db")
    smtp.on_message = lambda: lock.hold(1.0) if not lock.taken else None
    try:
        acts = NotificationActivities(make_sessionmaker(engine), make_settings(smtp))
        n = notification(roles=[Role.cs_manager, Role.gm])
        result = await acts.send_notification(n)
        assert lock.taken == 1
        assert result.emails == ["csm@example.com", "gm@example.com"]
        assert await deliveries(maker, n.notification_id) == {("email", "csm@example.com"), ("email", "gm@example.com")}
        again = await acts.send_notification(n)  # Temporal's retry, had anything failed
        assert again.emails == result.emails
        assert sorted(m.to[0] for m in smtp.messages) == ["csm@example.com", "gm@example.com"], "a notice went twice"
    finally:
        await asyncio.to_thread(lock.wait_released)
        await engine.dispose()


@pytest.mark.asyncio
async def test_e1_a_notice_costs_one_read_and_no_name_lookup_per_connection(maker, smtp, monkeypatch):
    """A heavy action's notice, as its activity's first attempt: one read of the register for its recipients and
    the people its text names, its recipients held in one transaction and recorded in one (E3), and this host's name for the EHLO looked
    up once per process, not per SMTP connection (a resolver call and a thread each time); a configured name
    is used as it is."""
    lookups = []
    real = socket.getfqdn

    def getfqdn(*a):  # counted for the client's side (the test server looks its own name up per session)
        if not any("aiosmtpd" in f.filename for f in traceback.extract_stack()):
            lookups.append(a)
        return real(*a)
    monkeypatch.setattr(socket, "getfqdn", getfqdn)
    if hasattr(notify_module, "_fqdn"):  # this process's name, looked up afresh for the count
        notify_module._fqdn.cache_clear()
    engine = make_engine(f"sqlite+aiosqlite:///{maker.kw['bind'].url.database}")
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql.split()[0].upper()))
    event.listen(engine.sync_engine, "commit", lambda conn: statements.append("COMMIT"))
    try:
        acts = NotificationActivities(make_sessionmaker(engine), make_settings(smtp))
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, is_local=False, attempt=1)
        for seq in range(1, 4):
            statements.clear()
            message = messages.Message(title="新投诉待处理", text="请 head_eng 处理", requested_by="csm",
                                       case=messages.CaseFacts(case_no="TS-2026-000001", case_type="complaint",
                                                               project="融侨城", building="5栋", unit="1203"))
            result = await env.run(acts.send_notification,
                                   notification(seq, roles=[Role.cs_manager, Role.gm], message=message))
            assert result.emails == ["csm@example.com", "gm@example.com"]
            # one read for the recipients and named people, one in the recipients' hold; two write transactions
            # for both recipients (their holds, their records), not two each
            assert statements.count("SELECT") == 2, statements
            assert statements.count("COMMIT") == 2, statements
        assert len(lookups) <= 1, lookups
        assert {m.helo for m in smtp.messages} == {real()}
        smtp.clear()
        named = NotificationActivities(make_sessionmaker(engine), make_settings(smtp, smtp_local_hostname="worker-1.example"))
        await named.send_notification(notification(9, roles=[Role.gm]))
        assert [m.helo for m in smtp.messages] == ["worker-1.example"]
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_e3_a_webhook_post_cut_after_the_robot_took_it_is_not_posted_again(maker, hooks):
    """E3: the same for a group robot: the POST is taken, the answer is late, the attempt is cut; the next
    attempt does not post again."""
    url = hooks.url("/robot/send?key=SECRET-ROBOT-KEY")
    acts = NotificationActivities(maker, make_settings(port=unused_port(), webhook_urls={"cs_manager": [url]}))
    n = notification(roles=[Role.cs_manager], usernames=[])
    async with maker() as session, session.begin():  # the role reachable by its robot only
        for s in (await session.scalars(select(Staff).where(Staff.role == "cs_manager"))).all():
            s.email = None
    hooks.late_answer = 1.0

    await _cut_once_taken(asyncio.create_task(acts.send_notification(n)), lambda: hooks.hit_count() == 1)
    result = await acts.send_notification(n)

    assert result.webhooks == 1
    await asyncio.sleep(1.5)
    assert hooks.hit_count() == 1, "the robot was posted twice"
    assert await deliveries(maker, n.notification_id) == {("webhook", webhook_label(url))}


# ---- P5: the people of the case's company --------------------------------------------------------------
async def group_of_two(maker, hooks: HTTPReceiver) -> str:
    """Two companies: rq with its gm (own robot) and cs_manager, hj with a cs_manager and role mailboxes for gm and
    deputy_gm; the group's executive (no company); a project's butler of each."""
    from adapters.db.models import Company
    robot = hooks.url("/cgi-bin/webhook/send?key=GM-OWN-KEY")
    async with maker() as session:
        session.add_all([
            Company(id="rq", name="融侨置业", mailboxes={}, robots={}),
            Company(id="hj", name="海景置业", mailboxes={"gm": "zongjingli@hj.example.com",
                                                        "deputy_gm": "fuzong@hj.example.com"},
                    robots={"deputy_gm": hooks.url("/hj/deputy?key=HJ-ROBOT")}),
        ])
        for s in (staff("rq_gm", Role.gm, "rq.gm@example.com", None), staff("rq_csm", Role.cs_manager, "rq.csm@example.com", None),
                  staff("hj_csm", Role.cs_manager, "hj.csm@example.com", None),
                  staff("group_gm", Role.gm, "group.gm@example.com", None),
                  staff("rq_butler", Role.butler, "rq.butler@example.com", None),
                  staff("hj_butler", Role.butler, "hj.butler@example.com", None)):
            s.company_id = {"rq_gm": "rq", "rq_csm": "rq", "hj_csm": "hj", "rq_butler": "rq", "hj_butler": "hj"}.get(s.username)
            s.project = {"rq_butler": "融侨城", "hj_butler": "海景苑"}.get(s.username)
            s.webhook_url = robot if s.username == "rq_gm" else None
            session.add(s)
        # the fixture's accounts of before P5 (no company: the group's) are left out of these notices' roles
        await session.execute(delete(Staff).where(Staff.username.in_(["gm", "csm", "csm_nomail", "butler1"])))
        await session.commit()
    return robot


def audience(company: str, project: str) -> dict:
    return {"case_type": "complaint", "department": None, "handler": None, "contractor_id": None,
            "reached_roles": [], "company_id": company, "project_key": project}


@pytest.mark.asyncio
async def test_P5_E1_a_notice_reaches_the_cases_company_by_its_own_email_and_robot(maker, smtp, hooks):
    await group_of_two(maker, hooks)
    acts = NotificationActivities(maker, make_settings(smtp, webhook_urls={"gm": [hooks.url("/group-gm-robot")]}))
    result = await acts.send_notification(notification(roles=[Role.gm, Role.cs_manager, Role.butler], company_id="rq",
                                                       audience=audience("rq", "融侨城")))
    msgs = await smtp.wait_for(3)
    assert sorted(m.to[0] for m in msgs) == ["rq.butler@example.com", "rq.csm@example.com", "rq.gm@example.com"]
    [robot] = await hooks.wait_for(1, path="/cgi-bin/webhook/send")  # rq's gm's own robot, not the group's role robot
    assert hooks.hits[0].query == "key=GM-OWN-KEY" and result.webhooks == 1 and result.unreachable_roles == []


@pytest.mark.asyncio
async def test_P5_E1_A1_a_role_the_company_has_nobody_of_goes_to_its_role_mailbox(maker, smtp, hooks):
    await group_of_two(maker, hooks)
    acts = NotificationActivities(maker, make_settings(smtp))
    result = await acts.send_notification(notification(roles=[Role.deputy_gm, Role.gm, Role.cs_manager],
                                                       company_id="hj", audience=audience("hj", "海景苑")))
    msgs = await smtp.wait_for(3)
    assert sorted(m.to[0] for m in msgs) == ["fuzong@hj.example.com", "hj.csm@example.com", "zongjingli@hj.example.com"]
    await hooks.wait_for(1, path="/hj/deputy")
    assert result.unreachable_roles == [] and result.webhooks == 1
    # rq has no role mailbox for deputy_gm and nobody of the role: unreachable, never another company's people
    result = await acts.send_notification(notification(2, roles=[Role.deputy_gm], company_id="rq",
                                                       audience=audience("rq", "融侨城")))
    assert result.emails == [] and result.unreachable_roles == [Role.deputy_gm]


@pytest.mark.asyncio
async def test_P5_C8_a_major_complaint_tells_the_groups_executives_too(maker, smtp, hooks):
    await group_of_two(maker, hooks)
    acts = NotificationActivities(maker, make_settings(smtp))
    await acts.send_notification(notification(roles=[Role.gm], company_id="hj", group=True,
                                              audience=audience("hj", "海景苑")))
    msgs = await smtp.wait_for(2)
    assert sorted(m.to[0] for m in msgs) == ["group.gm@example.com", "zongjingli@hj.example.com"]


@pytest.mark.asyncio
async def test_P5_a_notice_of_a_case_opened_before_reaches_the_role_as_it_did(maker, smtp, hooks):
    await group_of_two(maker, hooks)
    acts = NotificationActivities(maker, make_settings(smtp))
    await acts.send_notification(notification(roles=[Role.cs_manager], audience={
        "case_type": "complaint", "department": None, "handler": None, "contractor_id": None, "reached_roles": []}))
    msgs = await smtp.wait_for(2)
    assert sorted(m.to[0] for m in msgs) == ["hj.csm@example.com", "rq.csm@example.com"]
