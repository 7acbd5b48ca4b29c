"""The quiet reminders' digest (E4): the workflow id and signal that each case's `queue_reminder` activity
meets with signal-with-start, and the payloads of both (the workflow is `workflows.digest`)."""

from datetime import datetime

from pydantic import BaseModel

from aftersales.messages import Message
from aftersales.roles import Role

DIGEST_SIGNAL = "add_reminder"


class DigestStart(BaseModel):
    recipient: Role
    department: str | None = None
    window_end: datetime
    give_up_hours: float = 24.0  # E3: as any notification (AFTERSALES_NOTIFICATION_GIVE_UP_HOURS)


class DigestEntry(BaseModel):
    reminder_id: str
    message: Message


def digest_workflow_id(task_queue: str, recipient: str, department: str | None, window_end: datetime) -> str:
    """Derived from the recipient and the window: every case's reminder of the window meets the same one
    (per task queue: the digest runs on the workers of the cases that fill it)."""
    return f"digest-{task_queue}-{recipient}{'-' + department if department else ''}-{window_end:%Y%m%dT%H%M%S}"
