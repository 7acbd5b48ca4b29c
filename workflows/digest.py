"""Quiet reminders (E4): a case does not remind of its progress notes (C5, R1/S3) itself and does not wake
for them. `ReminderSweepWorkflow`, started by the `reminders-progress` Schedule once per digest window, asks
the register for the notes due (activities/reminders.py) and sends one digest per recipient, listing the
cases: one message per recipient and window, not one per case. Measured when cases still reminded through
their own timers: 10,000 open complaints woke the worker every 4 working hours each (on demo time ~20
wake-ups a second, most of them replays of cases no longer cached), which made escalations late under
load; a sweep is one query per window.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.case import Notification, NotificationResult, ReminderSweep

from workflows.case_workflow import DB_RETRY
from workflows.case_workflow import NOTIFY_RETRY as DIGEST_RETRY  # one retry policy for every message
from workflows.case_workflow import undeliverable_reason


@workflow.defn(name="ReminderSweepWorkflow")
class ReminderSweepWorkflow:
    """E4: once per digest window (the `reminders-progress` Schedule), the register's progress
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
