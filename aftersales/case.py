"""What every case has, complaint or repair: the customer, the rule book it was opened under, its
deadlines (T2, T5) and approvals (A4), a timeline, and the effects a workflow carries out (notifications,
checks) — the data — and `CaseBase`, how a case records on its timeline and raises notices.

The rules that act on it: `aftersales.deadlines` (deadlines, missed deadlines and escalation, E1) and
`aftersales.machine` (`CaseMachine`: the actions, approvals, progress replies, delivery records), which
the complaint and repair procedures extend.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aftersales import access
from aftersales.actions import text_type
from aftersales.actor import Actor, OwnerActor
from aftersales.approvals import Approval, DecisionBrief, decision_brief
from aftersales.calendar import CalendarSnapshot, WorkCalendar
from aftersales.errors import conflict, invalid
from aftersales.files import FileRef, FileRules
from aftersales.messages import CaseFacts, DueItem, Message, beijing, deadline_name, role_title, status_name
from aftersales.org import CaseOrg
from aftersales.privacy import mask_phone
from aftersales.provenance import Provenance
from aftersales.roles import Role

# ASCII digits only ([0-9], never \d: it takes every script's digits, e.g. "13٨١٢٣٤١٢٣٤"). A mainland
# mobile: 1[3-9] and 9 digits. A landline with its area code: 010 and 02x (Beijing, Shanghai, ...) with
# 8 digits, the other 0xxx codes with 7 or 8; a local number starts with 2-9 (no "000-00000000").
PHONE_PATTERN = r"^(1[3-9][0-9]{9}|0(10|2[0-9])-?[2-9][0-9]{7}|0[3-9][0-9]{2}-?[2-9][0-9]{6,7})$"


class CaseType(StrEnum):
    complaint = "complaint"
    repair = "repair"


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: text_type(64, long=False)  # type: ignore[valid-type]
    phone: str = Field(pattern=PHONE_PATTERN, description="mainland mobile (13812341234) or landline with its "
                       "area code (010-62345678, 0591-87654321), ASCII digits")
    project: text_type(128, long=False)  # type: ignore[valid-type]
    building: text_type(64, long=False)  # type: ignore[valid-type]
    unit: text_type(64, long=False)  # type: ignore[valid-type]
    unit_id: int | None = Field(default=None, description="the unit in the property register (房产台账) when the "
                                "address names a registered one; none: free text, unmatched")

    @field_validator("name", "project", "building", "unit")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()

    def masked(self) -> "Customer":
        return self.model_copy(update={"phone": mask_phone(self.phone)})


class CaseConfig(BaseModel):
    """Configuration a case runs with, loaded once by an activity so the workflow stays deterministic."""

    calendar: CalendarSnapshot
    covered_years: list[int]
    ladder: list[Role]
    early_warning_threshold: int = 3
    early_warning_window_days: int = 7
    notification_give_up_hours: float = 24.0  # E3: a temporary failure is retried this long, then undeliverable
    history_event_budget: int = 2000  # a case's run continues as new before its history reaches this ...
    history_bytes_budget: int = 2_000_000  # ... or this many bytes (or when Temporal suggests it)
    time_tolerance_minutes: float = 10.0  # R1: clock difference allowed for appointments and arrivals
    # D2 (rules 2): the files the work's completion and a type-A deduction need. A configuration recorded
    # before D2 has neither (False), and its cases were opened under rules 1 anyway.
    d2_after_work_photo: bool = False
    d2_signed_cost_statement: bool = False

    def file_rules(self) -> FileRules:
        return FileRules(after_work_photo=self.d2_after_work_photo, signed_cost_statement=self.d2_signed_cost_statement)


# The rule book a case is opened under (domain.md changes over time; a case keeps its rules for life).
# The workflow pins the version at open (`workflows.case_workflow.opening_rules_version`, a `rules-vN`
# patch marker per version after the first) in the state's `rules_version`. A change of what the rules
# decide for a case under way adds a version: CURRENT_RULES_VERSION + 1, its date and what changed listed
# below, and the new behaviour written `if self.state.rules_version >= N:` beside the old one, so that a
# case opened before the change replays and runs on to its end under the rules it was opened with.
#   1: the release baseline (2027-01): domain.md as this code implements it; every case opened so far.
#   2: photos and documents (D1–D4): the work's completion needs a photo after the work and a type-A
#      deduction the signed cost statement (D2), each as the case's configuration says. Files themselves
#      may be added to a case of any version (a new action: no recorded history has one).
#   3: the group (P5, 2027-01): a case belongs to a project and its company (CaseState.company_id, project_key,
#      from the opener's CaseOrg); only the accounts within the case's scope act on it (access.check_acting);
#      escalations (E1, E2), approvals (A1, A2) and every other notice go to the people of the case's company
#      (Notice.company_id), a major complaint's (C8) to the group's executives too (Notice.group). A case of
#      before knows no company: its notices reach every account of their roles, as they did.
#   4: the owner's own channel (O3–O5): the owner acts for themselves on the owner pages (accepts or asks for
#      another appointment R1, consents to or refuses more time R8, accepts or declines a quote signing the
#      repair slip R3, signs off or refuses the work R6, answers the revisit survey R7/C7), each fact with its
#      provenance (O4); staff recording such a fact for an owner who called or wrote say how (代录: told_via,
#      required); staff propose a time (R1) and ask for more time (R8) for the owner to answer; an owner who has
#      not signed off within 3 working days of the inspection is called by cs_staff (O5: the `sign_off`
#      deadline). A case opened before keeps its rules: staff record for its owner as before.
BASELINE_RULES_VERSION = 1
CURRENT_RULES_VERSION = 4
FILE_RULES_FROM = 2  # D2's checks apply (as configured) to cases opened from this version on
ORG_RULES_FROM = 3   # P5: the case's company and project, its people (cases opened from this version on)
OWNER_ACTS_FROM = access.OWNER_ACTS_FROM  # O3–O5 apply to cases opened from this version on (4)
SIGN_OFF_WORKING_DAYS = 3  # O5: the owner's sign-off awaited this long after the inspection, then cs_staff calls


def register_reminds(d: "Deadline") -> bool:
    """E4: a deadline that does not escalate (a progress note, C5, R1/S3) is the register's to remind of,
    not the case's: the case neither wakes for it nor marks it missed (it is late once its due time has
    passed)."""
    return not d.escalates


@dataclass
class Ctx:
    now: datetime
    cal: WorkCalendar
    ladder: list[Role]
    rules_version: int = CURRENT_RULES_VERSION
    # Staff accounts an action names (e.g. assign_handler's handler), as the API found them in the read
    # model when it sent the action (the workflow cannot read the database): username -> account.
    accounts: dict[str, Actor] = field(default_factory=dict)
    time_tolerance: timedelta = timedelta(minutes=10)  # CaseConfig.time_tolerance_minutes
    file_rules: FileRules = field(default_factory=FileRules)  # D2 (CaseConfig): none unless configured
    organisation: CaseOrg | None = None  # P5: the project and company of a case being opened (StartCase)

    def case_org(self) -> dict[str, Any]:
        """The company and project an opening case keeps (rules 3; none for a case of an older version)."""
        if self.organisation is None or self.rules_version < ORG_RULES_FROM:
            return {}
        return {"company_id": self.organisation.company_id, "project_key": self.organisation.project_key}


def not_in_the_past(name: str, at: datetime, now: datetime, tolerance: timedelta) -> None:
    """R1: a time agreed for the future (an appointment) may not lie in the past, beyond the
    clock tolerance."""
    if at < now - tolerance:
        raise invalid(f"{name}：{beijing(at)} 已经过去（现在 {beijing(now)}）；请约定今后的时间（R1）")


def not_in_the_future(name: str, at: datetime, now: datetime, tolerance: timedelta) -> None:
    """R1: a time recorded as having happened (an arrival) may not lie in the future, beyond
    the clock tolerance."""
    if at > now + tolerance:
        raise invalid(f"{name}：{beijing(at)} 尚未到来（现在 {beijing(now)}）；请在发生之后再记录（R1）")


# Input edges: a time a person gives for the future lies within reach (a year 9999 was accepted). R1: the
# owner's requested or agreed appointment within 90 calendar days; R8: an extension moves the work deadline
# to at most 60 calendar days from now.
APPOINTMENT_REACH = timedelta(days=90)
EXTENSION_REACH = timedelta(days=60)


def within_reach(name: str, at: datetime, now: datetime, reach: timedelta, rule: str) -> None:
    if at > now + reach:
        raise invalid(f"{name}：{beijing(at)} 超出 {reach.days} 个自然日（至 {beijing(now + reach)}）；"
                      f"请约定更近的时间（{rule}）")


def check_time_reach(action: Any, now: datetime) -> None:
    """The times an action names for the future, within reach (R1, R8). The API checks them before the
    Update; the case's Update validator again (validators are not replayed: a case that accepted a far
    time before keeps its history)."""
    kind = getattr(action, "action", None)
    if kind in ("agree_appointment", "propose_appointment", "request_appointment"):
        within_reach("appointment_at", action.appointment_at, now, APPOINTMENT_REACH, "R1")
    elif kind == "open_repair":
        within_reach("requested_appointment", action.requested_appointment, now, APPOINTMENT_REACH, "R1")
    elif kind in ("extend_deadline", "ask_extension"):
        within_reach("new_due_at", action.new_due_at, now, EXTENSION_REACH, "R8")


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    text: str
    actor: str | None = None
    role: Role | None = None
    # D3: the reference of a file added (kind "file"): the case's files are the timeline's references.
    # Left out of the dump when there is none, so entries without a file are as they were.
    file: FileRef | None = Field(default=None, exclude_if=lambda v: v is None)
    # O4: how a fact the owner gave was given (the owner by code or link; 代录 by staff, who and how); none for
    # the entries of staff's own work (and every entry of a case opened before owners acted for themselves)
    provenance: Provenance | None = None


DeadlineState = Literal["open", "met", "missed", "met_late", "waived"]


class DeadlineExtension(BaseModel):
    """A person moved a deadline (T5, R8): when, who, from and to which due time, and why."""

    at: datetime
    by: str
    role: Role | None = None   # none: the owner themselves consented on the owner pages (R8, rules 4)
    from_due_at: datetime
    to_due_at: datetime
    reason: str


class Deadline(BaseModel):
    key: str
    rule: str
    label: str
    owners: list[Role]
    department: str | None = None
    started_at: datetime
    due_at: datetime
    met_at: datetime | None = None
    waived: bool = False
    missed: bool = False
    escalates: bool = True
    level: int = 0
    next_step_at: datetime | None = None
    extensions: list[DeadlineExtension] = []

    @property
    def open(self) -> bool:
        return self.met_at is None and not self.waived

    @property
    def state(self) -> DeadlineState:
        if self.waived and self.met_at is None:
            return "waived"
        if self.met_at is not None:
            return "met" if self.met_at <= self.due_at else "met_late"
        return "missed" if self.missed else "open"

    def view(self, now: datetime | None = None, dumped: dict[str, Any] | None = None) -> dict[str, Any]:
        """As the API shows it; an open deadline past its due time reads `missed` also when its case has not
        marked it (E4: a progress note the register reminds of does not wake the case). `dumped`: this
        deadline as its case's `model_dump(mode="json")` already has it (a case view dumps them all at once)."""
        state = "missed" if self.state == "open" and now is not None and now >= self.due_at else self.state
        fields = self.model_dump(mode="json") if dumped is None else dumped
        return {
            **{k: v for k, v in fields.items() if k not in ("next_step_at", "missed")},
            "state": state,
            "met": None if state in ("open", "waived") else state == "met",
        }


class Notice(BaseModel):
    """Effect: notify people (by role and/or username); the workflow sends it through an activity."""

    kind: Literal["notice"] = "notice"
    notification_id: str
    roles: list[Role] = []
    usernames: list[str] = []
    department: str | None = None
    contractor_id: str | None = None  # narrows the contractor role to this contractor's accounts (P1)
    # P5 (rules 3): the case's company: the notice's roles are that company's people (access.notice_recipients),
    # its role mailbox where none of them can be reached; `group`: the group's executives too (C8)
    company_id: str | None = None
    group: bool = False
    # P2: who may see the case when the notice was raised (access.case_facts): the notification activity
    # sends to nobody outside it, whatever the notice names (set by CaseMachine.notify on every notice)
    audience: dict[str, Any] | None = None
    subject: str
    body: str
    reason: str
    message: Message | None = None  # E4: what the activity renders for its readers (aftersales.messages)


def recipients(notice: Notice) -> str:
    """Who a notice is for, as the timeline names them (role titles, or the named staff)."""
    return "、".join(role_title(r) for r in notice.roles) or "、".join(notice.usernames)


class EarlyWarningCheck(BaseModel):
    """Effect (C11): count recent complaints on the same building; the workflow asks the read model."""

    kind: Literal["early_warning_check"] = "early_warning_check"
    project: str
    building: str


Effect = Notice | EarlyWarningCheck

# The register reminds of a missed progress note (C5, R1/S3) again after this many working hours (E4).
REMINDER_EVERY_WORKING_HOURS = 4
# A pending approval is due within this many working days, then escalates like any deadline (E1).
APPROVAL_WORKING_DAYS = 1


class CaseState(BaseModel):
    case_no: str
    case_type: CaseType
    status: str
    received_at: datetime
    registered_by: str
    customer: Customer
    description: str
    department: str | None = None
    handler: str | None = None
    # P5 (rules 3): the company and project the case belongs to; None for a case opened before
    company_id: str | None = None
    project_key: str | None = None
    major: bool = False
    base_level: int = 0
    deadlines: list[Deadline] = []
    approvals: list[Approval] = []
    timeline: list[TimelineItem] = []
    outcome: str | None = None
    closed_at: datetime | None = None
    satisfaction: int | None = None
    progress_notes: int = Field(default=0, description="progress notes recorded (C5, R1/S3)")
    rules_version: int = Field(default=BASELINE_RULES_VERSION, description="the rule book the case was opened under "
                               "(CURRENT_RULES_VERSION when it opened)")
    seq: int = 0
    notice_seq: int = 0
    fallback_years_noted: list[int] = []

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def files(self) -> list[FileRef]:
        """D3: the references of the files added to the case, oldest first (each on its timeline entry)."""
        return [t.file for t in self.timeline if t.file is not None]

    def a1_amount(self) -> Decimal | None:
        """The amount the company will pay, to which A1's bands apply (None: no company money)."""
        return None

    @property
    def escalation_level(self) -> int:
        return max([self.base_level, *(d.level for d in self.deadlines)])

    def overdue(self, now: datetime) -> bool:
        """A case deadline is open past its due time. E4: a missed progress note (C5, R1/S3: a deadline that
        does not escalate) reminds; it does not make the case overdue."""
        return any(d.open and d.escalates and (d.missed or d.due_at <= now) for d in self.deadlines)

    def decided(self, approval: Approval) -> str:
        """A4: what an approval of this case decides, in words (the case types say it of their approvals)."""
        return approval.subject

    def decision(self) -> DecisionBrief | None:
        """A4: the pending approval's brief — what is decided, amount and band, who asked, steps done and
        missing — or None when nothing waits for a decision."""
        pending = next((a for a in reversed(self.approvals) if a.status == "pending"), None)
        return decision_brief(pending, self.decided(pending)) if pending is not None else None

    def facts_view(self) -> dict[str, Any]:
        """The parts of the case's view that `access.case_facts` reads (P2: who may see it), taken from the
        state without dumping all of it (aftersales.views.facts_view; notices carry them, see `Notice.audience`)."""
        def dumped(name: str) -> dict[str, Any] | None:
            value = getattr(self, name, None)
            return None if value is None else value.model_dump(mode="json")
        return {
            "case_type": self.case_type.value,
            "status": getattr(self.status, "value", self.status),
            "department": self.department,
            "handler": self.handler,
            "company_id": self.company_id,
            "project_key": self.project_key,
            "survey": dumped("survey"),
            "payment": dumped("payment"),
            "quote_acceptance": dumped("quote_acceptance"),
            "compensation_payment": dumped("compensation_payment"),
            "approvals": [a.model_dump(mode="json", include={"purpose", "status", "steps"}) for a in self.approvals],
            "a1": self.a1_amount() is not None,
            # reached_roles reads only which roles own a deadline or acted: each role once, not once per entry
            # (a case's C5 notes add a deadline and an entry each: at 300 notes these lists were most of a row)
            "deadlines": [{"owners": sorted({o.value for o in {o for d in self.deadlines for o in d.owners}})}],
            "timeline": [{"role": r} for r in sorted({r.value for r in {t.role for t in self.timeline} if r})],
        }

    def facts(self) -> CaseFacts:
        """What a message names about the case (E4): number, place, category, department, handler."""
        c = self.customer
        category = getattr(self, "category", None) or "、".join(getattr(self, "trades", []) or []) or None
        return CaseFacts(case_no=self.case_no, case_type=self.case_type.value, project=c.project,
                         building=c.building, unit=c.unit, category=category, department=self.department,
                         handler=self.handler)


ModelT = TypeVar("ModelT", bound=BaseModel)


def copied(model: ModelT) -> ModelT:
    """A deep copy of a state model, by dumping it and validating the dump (pydantic-core). `copy.deepcopy`
    copies every datetime's tzinfo through pickling: 150 µs per deadline, 170 µs for a complaint's state
    without its lists, against 18 and 70 µs this way (the Update validator's dry run). A state
    survives this round trip by design — continue-as-new carries it as its dump — and tests/rules/driver.py
    asserts it after every step of every rule test."""
    return type(model).model_validate(model.model_dump())


class CaseBase:
    """A case machine's state and the effects it raises, and how it records: a timeline entry, a notice."""

    def __init__(self, state: CaseState) -> None:
        self.state = state
        self.effects: list[Effect] = []

    def require_status(self, *statuses: str, doing: str) -> None:
        if self.state.status not in statuses:
            raise conflict(f"案件目前「{status_name(self.state.status)}」，不能{doing}；"
                           f"须为「{'」或「'.join(status_name(s) for s in statuses)}」")

    # ---- timeline and notifications -------------------------------------------------------
    def note(self, ctx: Ctx, kind: str, text: str, actor: Actor | OwnerActor | None = None,
             provenance: Provenance | None = None) -> None:
        self.state.timeline.append(
            TimelineItem(
                at=ctx.now, kind=kind, text=text,
                actor=actor.username if actor else None, role=actor.role if actor else None,
                provenance=provenance,
            )
        )

    def notify(self, roles: list[Role], subject: str, body: str, reason: str,
               usernames: list[str] | None = None, department: str | None = None,
               items: list[DueItem] | None = None, level: int | None = None,
               contractor_id: str | None = None, details: list[tuple[str, str]] | None = None,
               requested_by: str | None = None, group: bool = False) -> None:
        """A notice to roles and/or named staff. `subject` is its one-line title and `body` a sentence,
        both Chinese; the message adds the case's facts, the items due or missed and the level (E4).
        `contractor_id` narrows the contractor role to that contractor's accounts (P1); the case's company (rules 3)
        its roles to that company's people, `group` adds the group's executives (P5, C8)."""
        s = self.state
        s.notice_seq += 1
        # P2/P7: a department role is this case's department's, the contractor role this case's contractor's:
        # never every department head, never every contractor (the activity sends to nobody for a role without them)
        if department is None and any(r in access.DEPARTMENT_ROLES for r in roles):
            department = s.department
        if contractor_id is None and Role.contractor in roles:
            contractor_id = access.contractor_of(s)
        message = Message(title=subject, text=body, case=s.facts(), items=items or [], level=level,
                          level_role=roles[0] if level and roles else None, details=details or [],
                          requested_by=requested_by)
        self.effects.append(
            Notice(
                notification_id=f"{s.case_no}:n{s.notice_seq}",
                roles=roles, usernames=usernames or [], department=department, contractor_id=contractor_id,
                company_id=s.company_id, group=group and s.company_id is not None,
                audience=access.case_facts(s.facts_view()),
                subject=f"[{s.case_no}] {subject}", body=body, reason=reason, message=message,
            )
        )

    @staticmethod
    def due_item(d: "Deadline") -> DueItem:
        return DueItem(key=d.key, name=deadline_name(d.key, d.owners), rule=d.rule, due_at=d.due_at,
                       missed=d.missed)

    def take_effects(self) -> list[Effect]:
        effects, self.effects = self.effects, []
        return effects
