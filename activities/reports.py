"""Activities of scheduled reports: make a period's report once, and e-mail it with the workbook attached.

The e-mail is sent here rather than through send_notification because it carries an attachment; each
recipient's message is a delivery of activities/deliveries.py like a notice's (held while under way, run on to
the server's answer when the attempt is cut by its timeout, recorded in notification_deliveries), so neither a
retry nor a cut attempt mails anyone twice (E3)."""

import asyncio
import hashlib
from datetime import datetime
from email.header import Header
from email.message import EmailMessage

import aiosmtplib
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deliveries import Deliveries, Failure, scrub, sending_lease
from aftersales.calendar import WorkCalendar
from adapters.config import Settings
from adapters.db import calendar_store
from adapters.db import reports as store
from adapters.db import org
from adapters.db.models import Company, NotificationDelivery, ReportReview, Staff, StoredReport
from adapters.db.register import utc
from adapters.db.session import dialect_insert
from adapters.spreadsheets import to_xlsx
from aftersales.reports import file_name, parse_period, period_name, tables
from contracts.report import ReportRef, ReviewRecord, ScheduledReport

SCHEDULE = "schedule"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
EMAIL = "email"
GROUP_ROLL_UP = "集团汇总"  # K, P5: how the group's roll-up is named beside the companies' reports

log = structlog.get_logger()


class ReportActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker, self.settings = sessionmaker, settings
        self.deliveries = Deliveries(sessionmaker, sending_lease(settings))

    @activity.defn(name="generate_scheduled_report")
    async def generate_scheduled_report(self, r: ScheduledReport) -> ReportRef:
        """The period's report of a company (K, P5: its cases only) or the group's roll-up, made once: a retry or a
        catch-up run finds the one already made for that period and scope."""
        s = self.settings
        period = parse_period(r.kind, r.period, s.timezone)
        async with self.sessionmaker() as session:
            company = await session.get(Company, r.company_id) if r.company_id else None
            if r.company_id and company is None:
                raise ApplicationError(f"no company {r.company_id}", non_retryable=True)
            made = [m for m in await store.find(session, r.kind, r.period, by=SCHEDULE, limit=500)
                    if _scope_key(m.data) == (r.company_id, None)]
            if made:
                report = made[0]
            else:
                snapshot = await calendar_store.load_snapshot(
                    session, sorted({period.start.year, period.end.year}), timezone=s.timezone,
                    day_start=s.work_day_start, day_end=s.work_day_end, demo_seconds_per_working_day=None)
                report = await store.generate(session, period, WorkCalendar(snapshot), by=SCHEDULE,
                                              scope=store.ReportScope(r.company_id))
        whose = company.name if company is not None else GROUP_ROLL_UP
        return ReportRef(id=report.id, kind=report.kind, period=report.period, title=f"{whose} · {report.data['title']}",
                         company_id=r.company_id, company_name=company.name if company is not None else None)

    @activity.defn(name="report_companies")
    async def report_companies(self) -> list[str]:
        """K, P5: the companies a scheduled report is made for (the active ones, by id)."""
        async with self.sessionmaker() as session:
            return [c.id for c in await org.companies(session, active_only=True)]

    @activity.defn(name="is_working_day")
    async def is_working_day(self, day: str) -> bool:
        """T1–T4: whether the day (YYYY-MM-DD, company time zone) is a working day by the holiday calendar."""
        s = self.settings
        d = datetime.fromisoformat(day).date()
        async with self.sessionmaker() as session:
            snapshot = await calendar_store.load_snapshot(
                session, [d.year], timezone=s.timezone, day_start=s.work_day_start, day_end=s.work_day_end,
                demo_seconds_per_working_day=None)
        return WorkCalendar(snapshot).is_working_day(d)

    @activity.defn(name="email_report")
    async def email_report(self, ref: ReportRef, roles: list[str]) -> int:
        """Mails the report to the active staff of `roles` within its scope (`readers`, P5); returns how many were
        mailed now."""
        s = self.settings
        notification_id = f"report-{ref.id}"
        async with self.sessionmaker() as session:
            report = await session.get(StoredReport, ref.id)
            if report is None:
                raise ApplicationError(f"no report {ref.id}", non_retryable=True)
            addresses = await readers(session, store.ReportScope.of(report.data), roles)
            done = set(await session.scalars(select(NotificationDelivery.recipient).where(
                NotificationDelivery.notification_id == notification_id, NotificationDelivery.channel == "email")))
        pending = [a for a in addresses if a not in done]
        if not pending:
            return 0
        workbook = to_xlsx(report.data)
        summary = report.data["summary"]
        if "received" in summary:
            figures = (f"受理 {summary['received']} 件，结案 {summary['closed']} 件，处理率 {_pct(summary['handling_rate'])}"
                       f"（目标 100%），满意率 {_pct(summary['satisfaction_rate'])}（目标 ≥ 90%）。")
        else:  # a list report (rework_daily, paid_services, campaign): its summary's counts
            figures = "；".join(f"{row[0]} {row[1]}" for row in tables(report.data)["汇总"][1:]) + "。"
        body = (f"{ref.title}（{period_name(ref.period)}）已生成，详见附件。\n\n{figures}\n\n"
                f"在线查看：{s.public_base_url.rstrip('/')}/app/reports/{ref.id}\n")
        logger = log.bind(report_id=ref.id, notification_id=notification_id)
        failures: list[Failure] = []
        answered = 0
        smtp = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
                               password=s.smtp_password, start_tls=s.smtp_starttls, timeout=s.smtp_timeout_seconds)
        current: asyncio.Future[Failure | None] | None = None
        try:
            await smtp.connect()
            for address in pending:
                msg = EmailMessage()
                msg["From"], msg["To"] = s.smtp_sender, address
                msg.set_raw("Subject", Header(f"{ref.title} {period_name(ref.period)}", "utf-8", header_name="Subject").encode())
                # the same on a resend (a lost answer, E3), so that mail systems can tell it is the same message
                digest = hashlib.sha256(f"{notification_id}\n{address}".encode()).hexdigest()[:32]
                msg["Message-ID"] = f"<{digest}@{s.smtp_sender.rpartition('@')[2] or 'aftersales'}>"
                msg.set_content(body, charset="utf-8")
                msg.add_attachment(workbook, maintype=XLSX[0], subtype=XLSX[1], filename=file_name(ref.title, ref.period, "xlsx"))
                current = self.deliveries.once(notification_id, f"report-{ref.id}", EMAIL, address, logger,
                                               lambda msg=msg, address=address: _transaction(smtp, msg, address))
                if failure := await asyncio.shield(current):
                    failures.append(failure)
                current = None
                answered += 1
                if not smtp.is_connected:
                    break
        except asyncio.CancelledError:  # cut by its timeout: a transaction under way runs on to its answer and record
            if current is not None and not current.done():
                current.add_done_callback(lambda _: smtp.close())
            else:
                smtp.close()
            raise
        except Exception:  # connecting, TLS or login: retried
            smtp.close()
            raise
        try:
            await smtp.quit()
        except Exception:  # noqa: BLE001 - what was sent is recorded; a QUIT unanswered changes nothing
            smtp.close()
        if failures or answered < len(pending):  # E3: retried, without those delivered
            raise ApplicationError(scrub("; ".join(f.text for f in failures) or "the connection was lost")[:1000])
        return len(pending)

    @activity.defn(name="record_report_review")
    async def record_report_review(self, r: ReviewRecord) -> None:
        """K1: the review as its workflow has it now (a retried or late write with a lower seq changes nothing)."""
        async with self.sessionmaker() as session:
            await write_review(session, r)
            await session.commit()

    def all(self) -> list:
        return [self.generate_scheduled_report, self.report_companies, self.is_working_day, self.email_report,
                self.record_report_review]


async def readers(session: AsyncSession, scope: "store.ReportScope", roles: list[str]) -> list[str]:
    """K, P5: the addresses a report is mailed to: the active accounts of `roles` of the report's scope — a
    company's report its company's accounts (its role mailbox for a role it has nobody reachable of, as its notices
    do), a project's its project's, the group's roll-up the group's accounts alone (a company's people never get
    the other companies' figures)."""
    q = select(Staff.role, Staff.email).where(Staff.role.in_(roles), Staff.active, Staff.email.is_not(None),
                                              Staff.email != "")
    if scope.project:
        q = q.where(Staff.project == scope.project)
    elif scope.company_id:
        q = q.where(Staff.company_id == scope.company_id, Staff.project.is_(None))
    else:
        q = q.where(Staff.company_id.is_(None))
    found = (await session.execute(q)).all()
    addresses = {email.strip() for _, email in found}
    if scope.company_id and not scope.project:
        company = await session.get(Company, scope.company_id)
        reached = {role for role, _ in found}
        for role in roles:
            if role not in reached and company is not None and (company.mailboxes or {}).get(role):
                addresses.add(company.mailboxes[role].strip())
    return sorted(addresses)


def _scope_key(data: dict) -> tuple[str | None, str | None]:
    scope = store.ReportScope.of(data)
    return scope.company_id, scope.project


async def write_review(session: AsyncSession, r: ReviewRecord) -> None:
    """K1: the review's row in the caller's transaction (the activity's, and the register's rebuild, C1); only a
    higher seq applies."""
    s = r.state
    values = dict(report_id=s.report_id, workflow_id=r.workflow_id, reviewer=s.reviewer.value, status=s.status.value,
                  due_at=utc(s.due_at), escalation_level=s.escalation_level, reviewed_by=s.reviewed_by,
                  reviewed_at=s.reviewed_at and utc(s.reviewed_at), comment=s.comment, seq=s.seq)
    stmt = dialect_insert(session)(ReportReview).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=[ReportReview.report_id],
                                      set_={k: stmt.excluded[k] for k in values if k != "report_id"},
                                      where=ReportReview.seq < stmt.excluded.seq)
    await session.execute(stmt)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


async def _transaction(smtp: aiosmtplib.SMTP, msg: EmailMessage, address: str) -> Failure | None:
    """One report mail to one recipient: None when the server took it."""
    try:
        await smtp.send_message(msg)
    except Exception as e:  # noqa: BLE001
        return Failure(f"email to {address}: {type(e).__name__}: {e}")
    return None
