"""Payloads exchanged between the workflows and their activities (kept apart from the activity code
so the workflow sandbox imports nothing heavy)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from aftersales.actor import Actor
from aftersales.case import CaseConfig, Notice, TimelineItem
from aftersales.messages import Digest, Message
from aftersales.org import CaseOrg
from aftersales.roles import Role
from aftersales.views import CaseRow


class RecentComplaints(BaseModel):
    project: str
    building: str
    since: datetime


class CaseProjection(BaseModel):
    case_no: str
    seq: int
    row: CaseRow
    timeline_start: int
    timeline: list[TimelineItem]
    # C11: a complaint's opening projection also counts the complaints on its building once its row is
    # written, in the same step (project_case answers the count).
    count_recent: RecentComplaints | None = None


class ConfigRequest(BaseModel):
    years: list[int]


class ReminderSweep(BaseModel):
    """E4: one sweep of the register for progress notes due (activities/reminders.py)."""
    sweep_id: str  # the sweeping workflow's id: a retry of the same sweep is recognised by it
    now: datetime  # the workflow's time: what is due by then is reminded of


class CaseResult(BaseModel):
    case_no: str
    status: str
    outcome: str | None
    closed_at: datetime | None


class Notification(BaseModel):
    """Mirror of activities.notify.Notification (same JSON shape)."""
    notification_id: str
    case_no: str
    roles: list[Role] = []
    usernames: list[str] = []
    department: str | None = None
    contractor_id: str | None = None
    company_id: str | None = None
    group: bool = False
    group_only: bool = False
    project_key: str | None = None
    audience: dict[str, Any] | None = None
    subject: str
    body: str
    reason: str
    message: Message | None = None
    digest: Digest | None = None


class NotificationResult(BaseModel):
    notification_id: str
    emails: list[str]
    webhooks: int
    unreachable_roles: list[Role]
    delivered_at: datetime


class CarriedCase(BaseModel):
    """What a case's next run takes over when it continues as new (bounded history): the machine's
    state (deadlines included), the notices not yet delivered (sent again under the same ids: the delivery
    records make that idempotent), what was already published, which actions' requests were applied (so a
    retried request is not applied twice across runs), and the configuration it ran with."""
    state: dict[str, Any]
    notices: list[Notice] = []
    projected_seq: int = -1
    projected_timeline: int = 0
    attributes: dict[str, Any] = {}
    applied_updates: list[str] = []  # the last actions' Update ids, hashed: a repeat is not applied again
    request_keys: dict[str, str] = {}  # the last actions' Idempotency-Keys (hashed) -> their body's fingerprint
    config: CaseConfig  # what the last run ran with: the case answers queries at once, before the new run
                        # reads the configuration as it is now
    projected_at: datetime | None = None  # the time the last projection's row was computed at (see RebuiltCase)


class CaseAnswer(BaseModel):
    """What the `opened` and `act` Updates answer: the same few fields whatever the case's
    age, so a case's history does not grow with the square of its timeline. The whole case is read by
    the `state` query (the API does so after each Update)."""
    case_no: str
    status: str
    version: int = Field(description="the case's change counter (CaseState.seq) after the Update")
    timeline_length: int
    added: list[dict[str, Any]] = Field(default=[], description="the timeline entries this Update added")
    # D3: an upload's `add_files` answers no entries (the caller has the references: sent back they would double
    # each file in the history), only the time they were added at (None: a repeat, nothing added)
    at: datetime | None = Field(default=None, exclude_if=lambda v: v is None)


class StartCase(BaseModel):
    case_no: str
    registered_by: Actor
    # the case's configuration and projection (with the C11 count) as local activities (Settings.
    # local_db_steps, set by whoever opens the case). Fixed for the case's life: its history replays as it ran.
    local_db_steps: bool = False
    # the configuration the opener read for the case (calendar_store.case_config: the API does), so
    # that the case opens without a load_case_config step of its own; None: the case loads it (cases opened by
    # a campaign or a complaint).
    config: CaseConfig | None = None
    carried: CarriedCase | None = None
    # C1: the intake's Idempotency-Key and its body's fingerprint, as the register keeps them, so that a register
    # rebuilt from Temporal (`make rebuild-register`) answers a retried intake with its case (None: not given).
    # Encrypted like every payload (P4); not personal data.
    intake_key: str | None = None
    intake_fingerprint: str | None = None
    # P5: the project and company the case belongs to, as the opener resolved them (kept from rules 3)
    organisation: CaseOrg | None = None
    # P4: the opener's HMAC over this start (adapters.temporal.actor_assertion.sign_start): the API's for an intake,
    # the parent case's or campaign's (signed in its workflow code with the worker's key) for a case it opens. The
    # case refuses a first run without a fitting one before it does anything (start_vouched).
    assertion: str | None = None


class StartCheck(BaseModel):
    """P4: a case's start and the assertion over it, checked by the worker's key (activity verify_start)."""
    message: str  # adapters.temporal.actor_assertion.start_message
    assertion: str


class RebuiltCase(BaseModel):
    """C1, `make rebuild-register`: a case as the register holds it, answered by the case itself (the `rebuilt`
    query, open or closed within Temporal's retention): its row and whole timeline as its last projection wrote
    them, and its intake's key."""
    projection: CaseProjection
    scope: str
    intake_key: str | None = None
    intake_fingerprint: str | None = None


class NumberRequest(BaseModel):
    """A case number for a case opened by another case (a complaint's repair)."""
    scope: str
    prefix: str
    year: int
    idempotency_key: str
    now: datetime


class RepairProgress(BaseModel):
    """Signal from a repair to the complaint that opened it: its new status."""
    case_no: str
    status: str
    at: datetime
