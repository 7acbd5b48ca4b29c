"""A scheduled report's e-mail (K1, E3) against a real SMTP server on loopback and the test's read model: each
reader gets it once, also when an attempt is cut after the server took the message."""

import asyncio

import pytest

from activities.reports import ReportActivities
from contracts.report import ScheduledReport


@pytest.mark.asyncio
async def test_E3_K1_a_report_mail_cut_after_the_server_took_it_is_not_sent_again(settings, sessionmaker, smtp_server):
    acts = ReportActivities(sessionmaker, settings)
    ref = await acts.generate_scheduled_report(ScheduledReport(kind="weekly_complaints", period="2026-W40",
                                                                     company_id="rq"))  # P5: 融侨置业's readers
    smtp_server.late_answer_seconds = 1.0  # the server keeps the message, then answers late

    attempt = asyncio.create_task(acts.email_report(ref, ["cs_manager"]))
    for _ in range(500):
        if smtp_server.count:
            break
        await asyncio.sleep(0.01)
    assert smtp_server.count == 1
    attempt.cancel()  # the activity's timeout, or its worker shutting down
    with pytest.raises(asyncio.CancelledError):
        await attempt

    await acts.email_report(ref, ["cs_manager"])  # Temporal's retry
    await asyncio.sleep(1.5)  # had it been sent again, the server would have it by now
    # 融侨置业's report: its cs_manager alone (P5: not 海景置业's), once
    mailed = [address for m in smtp_server.messages for address in m.to]
    assert mailed == ["cs_manager@example.com"], f"the report was mailed twice or to another company: {mailed}"
    mail = smtp_server.messages[0]
    assert mail.headers["Message-ID"].endswith("@example.com>")
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_filename().endswith(".xlsx")
    assert await acts.email_report(ref, ["cs_manager"]) == 0  # recorded: nothing left to send
