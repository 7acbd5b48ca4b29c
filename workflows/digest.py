"""Quiet reminders (E4): the reminders that fall due for one recipient within one digest window go out
as one message listing the cases, not one message per case.

One small workflow per recipient and window, id `digest-<task queue>-<recipient>-<window end>`, started by the
first reminder of the window and signalled by the others (signal-with-start, from the
`queue_reminder` activity of each case). It sleeps until the window closes, then sends one
notification (the ordinary `send_notification` activity: the same channels, retries and delivery
records as any notice) and completes. A reminder signalled while the digest is being sent goes out in
a second message of the same run; one that arrives after the run completed starts a new run under the
same id (a late digest rather than a lost reminder). Duplicate signals (a retried activity) are
dropped by reminder id.

Rules 5: cases opened from rules 5 on no longer remind of their progress notes themselves:
`ReminderSweepWorkflow`, started by the `reminders-progress` Schedule once per digest window, asks the
register for the notes due and sends one digest per recipient. Measured: with the cases' own timers,
10,000 open complaints woke the worker every 4 working hours each (on demo time ~20 wake-ups a second,
most of them replays of cases no longer cached), which is what made escalations late under load; a sweep
is one query per window. The per-window digest workflows above remain for the cases of rules 2–4.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from aftersales.messages import Digest
    from contracts.case import Notification, NotificationResult, ReminderSweep
    from contracts.digest import DIGEST_SIGNAL, DigestEntry, DigestStart

from workflows.case_workflow import DB_RETRY
from workflows.case_workflow import NOTIFY_RETRY as DIGEST_RETRY  # one retry policy for every message
from workflows.case_workflow import undeliverable_reason

@workflow.defn(name="DigestWorkflow")
class DigestWorkflow:
    def __init__(self) -> None:
        self._entries: dict[str, DigestEntry] = {}

    @workflow.signal(name=DIGEST_SIGNAL)
    def add(self, entry: DigestEntry) -> None:
        self._entries.setdefault(entry.reminder_id, entry)

    @workflow.run
    async def run(self, start: DigestStart) -> int:
        wait = start.window_end - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        sent: set[str] = set()
        part = 0
        while pending := [e for k, e in self._entries.items() if k not in sent]:
            part += 1
            digest = Digest(recipient=start.recipient, window_end=start.window_end,
                            messages=[e.message for e in pending])
            try:
                await workflow.execute_activity(
                    "send_notification",
                    Notification(notification_id=f"{workflow.info().workflow_id}:{part}", case_no="digest",
                                 roles=[start.recipient], department=start.department, subject="", body="",
                                 reason=f"E4 digest of {len(pending)} reminders", digest=digest),
                    result_type=NotificationResult, start_to_close_timeout=timedelta(seconds=60),
                    schedule_to_close_timeout=timedelta(hours=start.give_up_hours), retry_policy=DIGEST_RETRY)
            except ActivityError as e:  # E3: given up; the digest ends rather than waiting for ever
                workflow.logger.error("digest undeliverable: %s", undeliverable_reason(e))
            sent |= {e.reminder_id for e in pending}
        return len(sent)



@workflow.defn(name="ReminderSweepWorkflow")
class ReminderSweepWorkflow:
    """E4 (rules 5): once per digest window (the `reminders-progress` Schedule), the register's progress
    reminders (activities/reminders.py) go out, one digest per recipient. The sweep's id is the
    scheduled run's workflow id, so a retried collection finds the same reminders and no others."""

    @workflow.run
    async def run(self, give_up_hours: float = 24.0) -> int:
        sweep = ReminderSweep(sweep_id=workflow.info().workflow_id, now=workflow.now())
        notifications = await workflow.execute_activity(
            "collect_due_reminders", sweep, result_type=list[Notification],
            start_to_close_timeout=timedelta(minutes=2), retry_policy=DB_RETRY)

        async def send(n: Notification) -> int:
            try:
                await workflow.execute_activity(
                    "send_notification", n, result_type=NotificationResult,
                    start_to_close_timeout=timedelta(seconds=60), schedule_to_close_timeout=timedelta(hours=give_up_hours),
                    retry_policy=DIGEST_RETRY)
            except ActivityError as e:  # E3: given up; the sweep ends rather than waiting for ever
                workflow.logger.error("progress reminders undeliverable: %s", undeliverable_reason(e))
                return 0
            return len(n.digest.messages) + n.digest.more if n.digest else 0

        return sum(await asyncio.gather(*(send(n) for n in notifications)))
