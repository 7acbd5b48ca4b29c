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
from adapters.db.models import NotificationDelivery, ReportReview, Staff, StoredReport
from adapters.db.register import utc
from adapters.db.session import dialect_insert
from adapters.spreadsheets import to_xlsx
from aftersales.reports import file_name, parse_period, period_name, tables
from contracts.report import ReportRef, ReviewRecord, ScheduledReport

SCHEDULE = "schedule"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
EMAIL = "email"

log = structlog.get_logger()


class ReportActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker, self.settings = sessionmaker, settings
        self.deliveries = Deliveries(sessionmaker, sending_lease(settings))

    @activity.defn(name="generate_scheduled_report")
    async def generate_scheduled_report(self, r: ScheduledReport) -> ReportRef:
        s = self.settings
        period = parse_period(r.kind, r.period, s.timezone)
        async with self.sessionmaker() as session:
            [*made] = await store.find(session, r.kind, r.period, by=SCHEDULE, limit=1)
            if made:
                report = made[0]
            else:
                snapshot = await calendar_store.load_snapshot(
                    session, sorted({period.start.year, period.end.year}), timezone=s.timezone,
                    day_start=s.work_day_start, day_end=s.work_day_end, demo_seconds_per_working_day=None)
                report = await store.generate(session, period, WorkCalendar(snapshot), by=SCHEDULE)
        return ReportRef(id=report.id, kind=report.kind, period=report.period, title=report.data["title"])

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
        """Mails the report to the active staff of `roles`; returns how many were mailed now."""
        s = self.settings
        notification_id = f"report-{ref.id}"
        async with self.sessionmaker() as session:
            report = await session.get(StoredReport, ref.id)
            if report is None:
                raise ApplicationError(f"no report {ref.id}", non_retryable=True)
            addresses = sorted(set(await session.scalars(select(Staff.email).where(
                Staff.role.in_(roles), Staff.active, Staff.email.is_not(None)))))
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
        return [self.generate_scheduled_report, self.is_working_day, self.email_report, self.record_report_review]


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
