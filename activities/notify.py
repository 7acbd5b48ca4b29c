"""Notifications (E1–E3): e-mail by real SMTP and a JSON POST to webhooks (the WeCom / DingTalk group
robot format), sent from an activity that Temporal retries until everything went through.

Once per (notification, channel, recipient) across every attempt (a deadline's in-task try, the activity
that follows it, its retries, on any worker): each delivery is a transaction of activities/deliveries.py,
held in ``notification_sending`` while under way, run on to the server's answer even when its attempt is
cut, and recorded in ``notification_deliveries`` on the server's yes; an attempt only sends what is neither
recorded nor under way. (At least once, never dropped, where the server's answer is lost: see there.) Every
pending delivery is tried on each attempt, so one bad recipient does not hold back the others; if any
failed, the activity raises and Temporal retries it with ``RETRY_POLICY`` (unlimited attempts, E3).

Privacy: no log line or error message carries a body text or a phone number (recipient addresses
such as ``13812341234@163.com`` are masked), and webhook URLs — whose query or path holds the
robot's secret key — appear only as a label (scheme, host and a hash of the full URL), also in the
delivery table.
"""

import asyncio
import functools
import hashlib
import socket
import time
from datetime import UTC, date, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import httpx
import structlog
from pydantic import BaseModel
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from aftersales import access, messages
from aftersales.actor import Actor
from adapters.config import Settings
from adapters.db import org
from activities.deliveries import Deliveries, Failure, scrub, sending_lease
from adapters.db.models import Company, NotificationDelivery, Staff
from aftersales.privacy import mask_mobile_numbers
from aftersales.roles import Role

log = structlog.get_logger()

# E3: retried with backoff, never dropped (maximum_attempts=0 means unlimited).
RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=0,
)
START_TO_CLOSE = timedelta(seconds=60)
IN_TASK_PAUSE = 60.0  # seconds after a failed delivery during which no notice is tried inside a workflow task

EMAIL = "email"
WEBHOOK = "webhook"
DEPARTMENT_ROLES = frozenset({Role.dept_head, Role.dept_handler})
FAILURE_TYPE = "NotificationDeliveryFailed"
# E3: every failure left is permanent (SMTP 5xx such as no such mailbox, a webhook answering 4xx, a robot
# whose key is revoked): retrying cannot help, the activity fails for good and the case records it.
UNDELIVERABLE_TYPE = "NotificationUndeliverable"
# Robot errcodes that no retry fixes: WeCom 93000 invalid webhook URL (key revoked), DingTalk 300001 /
# 310000 token missing, keyword or signature refused. Others (45009 rate limit, -1 busy) are retried.
PERMANENT_ROBOT_ERRCODES = frozenset({93000, 300001, 310000})



class Notification(BaseModel):
    notification_id: str  # deterministic, unique per message (case_no + a sequence)
    case_no: str
    roles: list[Role] = []  # every active staff member with this role
    usernames: list[str] = []  # and these named staff members (e.g. the handler)
    department: str | None = None  # narrows dept_head / dept_handler to this department
    contractor_id: str | None = None  # narrows the contractor role to this contractor's accounts, no webhook
    company_id: str | None = None  # P5: the roles are this company's people, its role mailbox the fallback
    group: bool = False  # P5, C8: and the group's executives
    group_only: bool = False  # P5, K: the roles' group accounts only (the group's roll-up: no company's people)
    project_key: str | None = None  # P5: a digest of one project's cases (its project's accounts); else the audience's
    audience: dict[str, Any] | None = None  # P2: who may see the case (access.case_facts); nobody else is sent to
    subject: str
    body: str
    reason: str  # why, e.g. "deadline dept_feedback missed (C3)"
    message: messages.Message | None = None  # E4: when set, the text is rendered from it (subject, body unused)
    digest: messages.Digest | None = None  # E4: several cases' reminders for one recipient, as one message


class NotificationResult(BaseModel):
    notification_id: str
    emails: list[str]  # addresses delivered to, by this attempt or an earlier one
    webhooks: int  # webhook URLs delivered to, by this attempt or an earlier one
    unreachable_roles: list[Role]  # roles with neither an e-mail address nor a webhook configured
    delivered_at: datetime
    # Named staff (Notification.usernames) that are unknown, inactive or have no e-mail address.
    unreachable_usernames: list[str] = []


def without_phone_numbers(n: Notification) -> Notification:
    """The notification with every phone number in its subject and body masked (138****1234), whoever
    it goes to: e-mails and webhooks leave the system and are forwarded (P3)."""
    return n.model_copy(update={"subject": mask_mobile_numbers(n.subject), "body": mask_mobile_numbers(n.body)})


_HEX_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def webhook_label(url: str) -> str:
    """How a webhook URL is shown and recorded: without its path, query or credentials (robot keys
    live there), plus a short hash of the whole URL so that two robots on one host stay apart."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    # Letters only, so that scrubbing long digit runs from messages never alters a label.
    digest = hashlib.sha256(url.encode()).hexdigest()[:12].translate(_HEX_AS_LETTERS)
    return f"{parts.scheme or '?'}://{netloc}#{digest}"


class Rendered(BaseModel):
    """What the readers get (E4): e-mail subject and text, and the robots' JSON."""
    subject: str
    text: str
    robot: dict


def render(n: Notification, base_url: str, names: dict[str, str] | None = None) -> Rendered:
    """From the message's facts (aftersales.messages, Chinese, Beijing time, a link to the case), people by
    name and title (`names`: username -> label, P7); a notification scheduled before messages existed keeps
    its subject and body."""
    if n.digest is not None:
        subject = messages.digest_subject(n.digest)
        return Rendered(subject=subject, text=messages.digest_text(n.digest, base_url, names),
                        robot=messages.robot_markdown(subject, messages.digest_markdown(n.digest, base_url)))
    if n.message is not None:
        subject = messages.subject(n.message)
        return Rendered(subject=subject, text=messages.email_text(n.message, base_url, names),
                        robot=messages.robot_markdown(subject, messages.markdown(n.message, base_url, names)))
    text = mask_mobile_numbers(f"{n.body}\n\n原因 Reason: {n.reason}\n案件 Case: {n.case_no}\n")
    subject = mask_mobile_numbers(n.subject)
    return Rendered(subject=subject, text=text,
                    robot={"msgtype": "text", "text": {"content": mask_mobile_numbers(f"{n.subject}\n{n.body}")}})


def robot_payload(n: Notification, base_url: str = "", names: dict[str, str] | None = None) -> dict:
    """The group robots' message (WeCom and DingTalk)."""
    return render(n, base_url, names).robot


def usernames_named(n: Notification) -> set[str]:
    """The words of a message that may be the usernames of staff it names (the handler, who asked, who decided,
    an account in its text), to be shown by name (P7): those that are accounts are looked up, the rest stay."""
    found: set[str] = set()
    for m in ([n.message] if n.message else []) + (list(n.digest.messages) if n.digest else []):
        found |= {u for u in (m.case.handler, m.requested_by) if u}
        for text in [m.text or ""] + [value for _, value in m.details]:
            found |= set(messages.USERNAME_WORD.findall(text))
    return found


def digest_window(settings: Settings) -> timedelta:
    """E4: how long reminders are gathered per recipient: DIGEST_WINDOW_WORKING_HOURS working hours,
    scaled like every deadline when demo time is on."""
    hours = settings.digest_window_working_hours
    if settings.demo_seconds_per_working_day:
        day = (datetime.combine(date.min, settings.work_day_end)
               - datetime.combine(date.min, settings.work_day_start)) / timedelta(hours=1)
        return timedelta(seconds=hours * settings.demo_seconds_per_working_day / day)
    return timedelta(hours=hours)


def _smtp_code(e: BaseException) -> int:
    """The SMTP reply code of an aiosmtplib error (0 when it has none: a connection problem)."""
    code = getattr(e, "code", 0)
    if not code and getattr(e, "recipients", None):  # SMTPRecipientsRefused: every recipient's code
        code = min(getattr(r, "code", 0) for r in e.recipients)
    return code if isinstance(code, int) else 0


def _describe(exc: BaseException, secret: str | None = None, shown_as: str = "") -> str:
    detail = str(exc).strip().replace("\n", " ")
    if secret:
        detail = detail.replace(secret, shown_as)
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return scrub(text[:300])


def _attempt() -> int | None:
    return activity.info().attempt if activity.in_activity() else None


def _first_try() -> bool:
    """The notice's activity on its first attempt, not inside a workflow task: nothing of it can have been
    delivered yet but by a deadline's in-task try, whose deliveries each recipient's hold finds anyway."""
    return activity.in_activity() and activity.info().attempt == 1 and not activity.info().is_local


@functools.cache
def _fqdn() -> str:
    return socket.getfqdn()


def local_hostname(settings: Settings) -> str:
    """The EHLO name: the setting, else this host's name, looked up once per process (the SMTP client looks it
    up on every connection otherwise: a thread and a resolver call per notice)."""
    return settings.smtp_local_hostname.strip() or _fqdn()


class NotificationActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self._failed_at: float | None = None  # when a delivery of this worker last failed for now (monotonic)
        self.deliveries = Deliveries(sessionmaker, sending_lease(settings))

    @activity.defn(name="send_notification")
    async def send_notification(self, n: Notification) -> NotificationResult:
        """E3. Sent inside a case's workflow task (a local activity: a deadline's notice, its one try), it is not
        tried at all for IN_TASK_PAUSE after a delivery of this worker failed for now (refused, timed out): it goes
        straight to the retries, so a hung mail server costs the case's task its short try once, not per notice."""
        in_task = activity.in_activity() and activity.info().is_local
        if in_task and self._failed_at is not None and time.monotonic() - self._failed_at < IN_TASK_PAUSE:
            raise ApplicationError("a delivery failed moments ago: this one is left to the retries, outside the "
                                   "case's workflow task", type=FAILURE_TYPE)
        try:
            result = await self._send(n)
        except ApplicationError as e:
            if not e.non_retryable:
                self._failed_at = time.monotonic()
            raise
        except asyncio.CancelledError:  # its time ran out (the one try inside a workflow task): as a failure
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None
        return result

    async def _send(self, n: Notification) -> NotificationResult:
        logger = log.bind(case_no=n.case_no, notification_id=n.notification_id, attempt=_attempt())
        n = without_phone_numbers(n)  # P3: no message carries an owner's full phone number
        roles = list(dict.fromkeys(n.roles))
        async with self.sessionmaker() as session:
            # one read for the recipients and the people the text names (P7: by name and title, not username)
            emails, roles_without_email, unreachable_users, own_hooks, names = await self._resolve(
                session, n, roles, logger)
            # what is delivered already: only a retry can find any (on the first try a deadline's in-task try may
            # have delivered some: each recipient's hold finds those, `Deliveries._hold`)
            done: set[tuple[str, str]] = set()
            if not _first_try():
                rows = await session.execute(
                    select(NotificationDelivery.channel, NotificationDelivery.recipient)
                    .where(NotificationDelivery.notification_id == n.notification_id))
                done = {(channel, recipient) for channel, recipient in rows.all()}

        hooks: dict[str, str] = {webhook_label(url): url for url in own_hooks}  # label -> URL; the accounts' own
        # A role's group robot reaches all of the role: not for a notice narrowed to a department or a contractor
        # (P2/P7: the other departments' heads, the other contractors may not see the case), nor for a notice of
        # a case of one company (P5: the group's role robots reach every company's people)
        hook_roles = [r for r in roles if not (r == Role.contractor and n.contractor_id)
                      and not (r in DEPARTMENT_ROLES and (n.department or n.audience is not None))
                      and n.company_id is None and not n.group_only]  # the role robots reach every company
        for role in hook_roles:
            for url in self.settings.webhook_urls.get(role.value, []):
                hooks.setdefault(webhook_label(url), url)
        unreachable_roles = [r for r in roles_without_email
                             if r not in hook_roles or not self.settings.webhook_urls.get(r.value)]
        fallback = [r for r in unreachable_roles if r not in DEPARTMENT_ROLES and r != Role.contractor]
        company = None
        if n.company_id and fallback:  # read only when a role needs it
            async with self.sessionmaker() as session:
                company = await session.get(Company, n.company_id)
        if company is not None:  # P5 (E1, A1, A2): a role none of the company's accounts answers: its role mailbox
            for role in fallback:
                mailbox, robot = (company.mailboxes or {}).get(role.value), (company.robots or {}).get(role.value)
                if mailbox:
                    emails.add(mailbox.strip())
                if robot:
                    hooks.setdefault(webhook_label(robot), robot)
                if mailbox or robot:
                    unreachable_roles.remove(role)
                    logger.info("to the company's role mailbox", role=role.value, company=company.id)

        pending_emails = [a for a in sorted(emails) if (EMAIL, a) not in done]
        pending_hooks = [(label, url) for label, url in sorted(hooks.items()) if (WEBHOOK, label) not in done]
        failed: list[Failure] = []
        if pending_emails:
            failed += await self._send_emails(n, pending_emails, logger, names)
        if pending_hooks:
            failed += await self._post_webhooks(n, pending_hooks, logger, names)
        if failed:
            failures = [scrub(f.text) for f in failed]
            permanent = all(f.permanent for f in failed)
            logger.warning("notification not fully delivered", failures=failures, permanent=permanent)
            raise ApplicationError(
                scrub(f"{len(failures)} of {len(pending_emails) + len(pending_hooks)} deliveries failed"
                      + (" for good" if permanent else "") + ": " + "; ".join(failures)),
                type=UNDELIVERABLE_TYPE if permanent else FAILURE_TYPE, non_retryable=permanent,
            )

        if unreachable_roles or unreachable_users:
            logger.warning("nobody reachable", roles=[r.value for r in unreachable_roles],
                           usernames=unreachable_users)
        all_emails = sorted(emails | {r for c, r in done if c == EMAIL})
        all_hooks = set(hooks) | {r for c, r in done if c == WEBHOOK}
        logger.info("notification delivered", emails=len(all_emails), webhooks=len(all_hooks),
                    sent_now=len(pending_emails) + len(pending_hooks), reason=scrub(n.reason))
        return NotificationResult(
            notification_id=n.notification_id, emails=all_emails, webhooks=len(all_hooks),
            unreachable_roles=unreachable_roles, unreachable_usernames=unreachable_users,
            delivered_at=datetime.now(UTC),
        )

    # ---- recipients -------------------------------------------------------------------------
    async def _resolve(self, session: AsyncSession, n: Notification, roles: list[Role],
                       logger) -> tuple[set[str], list[Role], list[str], list[str], dict[str, str]]:
        """E-mail addresses (and own robots) of the active staff the notice is for (`access.notice_recipients`,
        P2/P5/P7): its roles' — of the case's company (rules 3), a department role only in the notice's department,
        the contractor role only of its contractor, never all of the role — and the named staff, each only if they
        may see the case. With them, in the same read, the accounts the text names (active or not: P7, shown by
        name and title), as `names` (username -> label)."""
        usernames = list(dict.fromkeys(n.usernames))
        named = sorted(usernames_named(n))
        wanted = and_(Staff.active.is_(True), or_(Staff.role.in_([r.value for r in roles]),
                                                  Staff.username.in_(usernames)))
        everyone = (await session.scalars(select(Staff).where(or_(wanted, Staff.username.in_(named)) if named
                                                               else wanted))).all()
        rows = [s for s in everyone if s.active and (s.role in {r.value for r in roles} or s.username in usernames)]
        people = [s for s in everyone if s.username in named]
        contractor_names = await org.contractors(session) if any(s.contractor_id for s in people) else {}
        names = {s.username: org.person(s, contractor_names).label for s in people}
        by_username = {s.username: s for s in rows}
        accounts = [Actor(username=s.username, role=Role(s.role), department=s.department,
                          contractor_id=s.contractor_id, company_id=s.company_id, project=s.project) for s in rows]
        chosen = [by_username[a.username] for a in access.notice_recipients(n, accounts)]
        # P5: each account's own e-mail and, where it has one, its own robot
        reachable = [s for s in chosen if (s.email and s.email.strip()) or s.webhook_url]
        emails = {s.email.strip() for s in reachable if s.email and s.email.strip()}
        own_hooks = sorted({s.webhook_url for s in reachable if s.webhook_url})
        # P5: of a case's company, a role is answered by the company's own people (the group's executives, told
        # of a major complaint too, do not stand in for the company's: its role mailbox then does)
        own = [s for s in reachable if n.company_id is None or s.company_id == n.company_id]
        roles_without_email = [r for r in roles if not any(s.role == r.value and s.username not in n.usernames
                                                           for s in own)]
        unreachable_users = [u for u in usernames if u not in {s.username for s in reachable}]
        if len(chosen) < len(accounts):
            logger.info("recipients narrowed to the notice's department, contractor and audience (P2, P7)",
                        accounts=len(accounts), recipients=len(chosen))
        return emails, roles_without_email, unreachable_users, own_hooks, names

    # ---- channels ---------------------------------------------------------------------------
    def _email(self, n: Notification, rendered: Rendered) -> bytes:
        """The notification's e-mail without its recipient, as the bytes sent: built once, then addressed
        to each in turn (`_addressed`). The standard library's header handling was most of what a send
        cost (a sixth of the worker's CPU per escalation), so it runs once per notification."""
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.smtp_sender
        # Encoded here (RFC 2047, UTF-8) rather than by the email policy: Python's folding of long
        # CJK subjects drops the space at a fold ("反馈 逾期" arrives as "反馈逾期").
        subject = " ".join(rendered.subject.splitlines())
        msg.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["X-Aftersales-Case"] = n.case_no
        msg["X-Aftersales-Notification"] = n.notification_id
        msg.set_content(rendered.text, charset="utf-8")
        return msg.as_bytes(policy=SMTP_POLICY)

    def _addressed(self, message: bytes, n: Notification, address: str) -> bytes:
        """`message` to `address`, with its Message-ID: deterministic, so that should a crash force a
        resend, mail systems can tell it is the same message. An address is one word without spaces
        (api/accounts.py), in UTF-8 when it is not ASCII (sent with SMTPUTF8)."""
        digest = hashlib.sha256(f"{n.notification_id}\n{address}".encode()).hexdigest()[:32]
        domain = self.settings.smtp_sender.rpartition("@")[2] or "aftersales"
        return f"To: {address}\r\nMessage-ID: <{digest}@{domain}>\r\n".encode() + message

    async def _send_emails(self, n: Notification, addresses: list[str], logger,
                           names: dict[str, str] | None = None) -> list["Failure"]:
        """One message per recipient over one SMTP connection, each its own SMTP transaction, the recipients held and
        recorded together (`Deliveries.batch`); returns the failures (a 5xx answer for the recipient is permanent,
        anything else temporary)."""
        s = self.settings
        failures: list[Failure] = []
        remaining: list[str] = []
        for address in addresses:  # being sent by an earlier attempt of this worker (a cut in-task try): its outcome
            running = self.deliveries.running(n.notification_id, EMAIL, address)
            if running is None:
                remaining.append(address)
            elif failure := await asyncio.shield(running):
                failures.append(failure)
        if not remaining:
            return failures
        email = self._email(n, render(n, s.public_base_url, names))
        sender = parseaddr(s.smtp_sender)[1] or s.smtp_sender
        # held, sent over one connection and recorded as one batch (`Deliveries.batch`): a cut attempt's batch
        # runs on to its end, and the next attempt here joins it
        batch = self.deliveries.batch(n.notification_id, n.case_no, EMAIL, remaining, logger,
                                      lambda held: self._smtp_session(n, email, sender, held, logger))
        for address in remaining:
            if failure := await asyncio.shield(batch[address]):
                failures.append(failure)
        return failures

    async def _smtp_session(self, n: Notification, email: bytes, sender: str, addresses: list[str],
                            logger) -> dict[str, "Failure | None"]:
        """One SMTP connection for every recipient of the message: one transaction (MAIL, RCPT, DATA) each, in
        turn; each one's outcome (None: the server took it). Connecting, TLS or login failing, or the connection
        dropping, fails the recipients not yet answered."""
        s = self.settings
        outcomes: dict[str, Failure | None] = {}
        smtp = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
                               password=s.smtp_password, start_tls=s.smtp_starttls, timeout=s.smtp_timeout_seconds,
                               local_hostname=local_hostname(s))
        try:
            await smtp.connect()
            for address in addresses:
                if not smtp.is_connected:
                    raise aiosmtplib.SMTPServerDisconnected("the connection was lost")
                outcomes[address] = await self._smtp_transaction(smtp, sender, email, n, address, logger)
        except Exception as e:  # noqa: BLE001 - connecting, TLS, login or the connection dropped: the rest failed
            why = _describe(e)
            rest = [a for a in addresses if a not in outcomes]
            logger.warning("smtp failed", host=s.smtp_host, port=s.smtp_port, error=why,
                           recipients=[scrub(a) for a in rest])
            outcomes.update({a: Failure(f"email to {a} via {s.smtp_host}:{s.smtp_port}: {why}") for a in rest})
            smtp.close()
            return outcomes
        except BaseException:
            smtp.close()
            raise
        try:
            await smtp.quit()
        except Exception:  # noqa: BLE001 - everything is sent; a QUIT unanswered changes nothing
            smtp.close()
        return outcomes

    async def _smtp_transaction(self, smtp: aiosmtplib.SMTP, sender: str, email: bytes, n: Notification,
                                address: str, logger) -> "Failure | None":
        """MAIL, RCPT, DATA of one message to one recipient: None when the server took it (250)."""
        try:
            refused, _ = await smtp.sendmail(sender, [address], self._addressed(email, n, address),
                                             mail_options=[] if address.isascii() else ["SMTPUTF8"])
            problem = (f"refused: {' '.join(f'{r.code} {r.message}' for r in refused.values())}"
                       if refused else None)
            permanent = bool(refused) and all(r.code >= 500 for r in refused.values())
        except aiosmtplib.SMTPException as e:
            problem, permanent = _describe(e), _smtp_code(e) >= 500
        except Exception as e:  # noqa: BLE001 - the connection broke: the caller fails the rest
            problem, permanent = _describe(e), False
        if not problem:
            return None
        logger.warning("email failed", recipient=scrub(address), error=scrub(problem))
        return Failure(scrub(f"email to {address}: {problem}"), permanent)

    async def _post_webhooks(self, n: Notification, hooks: list[tuple[str, str]], logger,
                             names: dict[str, str] | None = None) -> list["Failure"]:
        """POSTs the robot JSON to each URL, each its own transaction (`Deliveries.once`); a non-2xx answer, or a robot's
        non-zero errcode (WeCom and DingTalk answer 200 with an errcode), is a failure. Returns the failures."""
        failures: list[Failure] = []
        payload = robot_payload(n, self.settings.public_base_url, names)
        for label, url in hooks:
            if failure := await asyncio.shield(self.deliveries.once(
                    n.notification_id, n.case_no, WEBHOOK, label, logger,
                    lambda label=label, url=url: self._post(label, url, payload, logger))):
                failures.append(failure)
        return failures

    async def _post(self, label: str, url: str, payload: dict, logger) -> "Failure | None":
        """One POST to one robot, on a client of its own (a cut attempt's POST outlives the attempt)."""
        permanent = False
        try:
            async with httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds) as client:
                response = await client.post(url, json=payload)
            problem, permanent = self._webhook_problem(response)
        except Exception as e:  # noqa: BLE001
            problem = _describe(e, secret=url, shown_as=label)
        if not problem:
            return None
        logger.warning("webhook failed", webhook=label, error=problem, permanent=permanent)
        return Failure(f"webhook {label}: {problem}", permanent)

    @staticmethod
    def _webhook_problem(response: httpx.Response) -> tuple[str | None, bool]:
        """(what went wrong, whether it is permanent): a 4xx other than 408/429, or a robot errcode
        that no retry fixes, is permanent."""
        if not response.is_success:
            code = response.status_code
            return f"answered HTTP {code}", 400 <= code < 500 and code not in (408, 429)
        try:
            answer = response.json()
        except ValueError:
            return None, False
        if isinstance(answer, dict) and answer.get("errcode") not in (None, 0, "0"):
            try:
                permanent = int(answer.get("errcode")) in PERMANENT_ROBOT_ERRCODES
            except (TypeError, ValueError):
                permanent = False
            return scrub(f"answered errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:200]}"), permanent
        return None, False
