"""The body of `POST /cases/{case_no}/actions`: one typed model per action, told apart by `action`.
Each case type accepts its own actions; an action of the other type answers 409."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt,
                      WithJsonSchema, model_validator)

from aftersales.actor import Actor, OwnerActor
from aftersales.approvals import Decision
from aftersales.files import FILES_PER_STEP, FileKind, FileRef, FileStep, PackedFile, unpack
from aftersales.provenance import Provenance, ToldVia
from aftersales.roles import Role

# ---- the types every request body is made of ----------------------------------------
# (the patterns and why: aftersales/text_patterns.py)
from aftersales.text_patterns import (  # noqa: E402,F401
    _CONTROLS, _CONTROLS_BUT_NEWLINE_TAB, INVISIBLE, LONG_TEXT_PATTERN, SHORT_TEXT_PATTERN,
)


def _text_checker(pattern: str, allowed: str):
    # INVISIBLE is in the schema's pattern (the rule, as clients read it) but not checked here: the models
    # are read back from Temporal's history too, where a case opened before the rule must replay; requests
    # are refused by api.text_guard.
    compiled = re.compile(pattern.replace(INVISIBLE, "").replace("$", r"\Z"))

    def check(value: str) -> str:
        if not compiled.match(value):
            if not value.strip():
                raise ValueError("must not be blank")
            raise ValueError(f"must not contain control characters (NUL and the like{allowed})")
        return value

    return check


def text_type(max_length: int, *, long: bool) -> Any:
    """A non-blank string of at most `max_length` characters without control characters (long text
    may hold newlines and tabs)."""
    pattern = LONG_TEXT_PATTERN if long else SHORT_TEXT_PATTERN
    check = _text_checker(pattern, "; newline and tab are fine" if long else "")
    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(check),
                     WithJsonSchema({"type": "string", "minLength": 1, "maxLength": max_length, "pattern": pattern})]


Text = text_type(4000, long=True)
ShortText = text_type(128, long=False)
NoteText = text_type(2000, long=True)

# Money: a plain decimal string of yuan, at most 2 decimals, ASCII digits only: no sign, no "_", no
# spaces, no exponent, no full-width or other scripts' digits, no leading zeros ("-0", "1_000", " 5 ",
# "１２３" are refused; Decimal() itself would take them all). SignedMoney (a ledger correction) may
# start with "-", but not "-0".
MONEY_PATTERN = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$"
SIGNED_MONEY_PATTERN = r"^(-?[1-9][0-9]{0,11}(\.[0-9]{1,2})?|0(\.[0-9]{1,2})?|-0\.(0[1-9]|[1-9][0-9]?))$"


def money_type(*, signed: bool) -> Any:
    pattern = SIGNED_MONEY_PATTERN if signed else MONEY_PATTERN
    compiled = re.compile(pattern.replace("$", r"\Z"))
    sign = 'an optional "-" (not "-0"), ' if signed else "no sign, "

    def plain(value: Any) -> Decimal:
        if isinstance(value, Decimal):  # built in Python (rules, tests): the same limits
            if value.is_finite() and (signed or not value.is_signed()) and value == value.quantize(Decimal("0.01")) \
                    and abs(value) < Decimal("1e12") and not (value.is_signed() and value == 0):
                return value
            raise ValueError(f"an amount has {sign}at most 12 digits before and 2 after the point")
        if not isinstance(value, str) or not compiled.match(value):
            raise ValueError(f'an amount is a decimal string of yuan with at most 2 decimals, ASCII digits only, '
                             f'like "1234.50" ({sign}no spaces, "_" or leading zeros)')
        return Decimal(value)

    return Annotated[Decimal, BeforeValidator(plain),
                     WithJsonSchema({"type": "string", "pattern": pattern, "examples": ["1234.50"]})]


Money = money_type(signed=False)
SignedMoney = money_type(signed=True)
# A time in a request: an ISO 8601 string with its offset ("2026-11-26T17:30:00+08:00"); numbers (which
# pydantic would read as Unix seconds) and times without an offset are refused.
_ISO_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def _iso_time(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_TIME.match(value)):
        return value
    raise ValueError("a time is an ISO 8601 string with its offset, like 2026-11-26T17:30:00+08:00")


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_time)]

# The years a time given to the API as a filter may lie in: the product's dates (2026 …) with room on both
# sides. Outside them, Python's dates overflow when moved to UTC or to the next day (year 9999 answered 500).
YEARS = (2000, 2100)


def _within_years(value: datetime) -> datetime:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"a time between the years {YEARS[0]} and {YEARS[1]}, not {value.year}")
    return value


# A time in a query (a filter: received from/to, since): an Instant within YEARS.
QueryInstant = Annotated[AwareDatetime, BeforeValidator(_iso_time), AfterValidator(_within_years)]

Score = Annotated[StrictInt, Field(ge=1, le=5)]
# Request bodies take JSON's true/false and integers as they are: "true", 1 or "5" are refused, not coerced.
Flag = StrictBool

# A fact the owner gives, recorded by staff for an owner who called, came or wrote (代录), says how the
# owner told them; the staff member is the actor. Required from rules 4 (the case machine refuses it missing); an
# owner acting on the owner pages sends none (their own act: the code or link is the provenance).
TOLD_VIA_FIELD = Field(default=None, description="代录 (rules 4, required for staff): how the owner told you — phone, "
                       "visit (in person), wechat, letter; the owner's own act on the owner pages has none")


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- shared by complaints and repairs -------------------------------------------------------
class Decide(_Action):
    """A4: the role named on the current approval step approves, rejects or asks for changes."""
    action: Literal["decide"]
    decision: Decision
    reason: NoteText | None = None


class ProgressNote(_Action):
    """C5: progress reported to the owner (every 4 working hours while open)."""
    action: Literal["progress_note"]
    note: Text


# ---- complaints (C) -------------------------------------------------------------------------
class Classify(_Action):
    """C2: category, responsible department, justified or not (if not: the reply that closes it)."""
    action: Literal["classify"]
    category: ShortText
    department: ShortText
    justified: Flag
    reply: Text | None = Field(default=None, description="required when justified is false")

    @model_validator(mode="after")
    def _reply_when_unjustified(self) -> "Classify":
        if not self.justified and not (self.reply and self.reply.strip()):
            raise ValueError("an unjustified complaint needs the reply explaining why (C2)")
        return self


class AssignHandler(_Action):
    """C3: the named handler in the responsible department."""
    action: Literal["assign_handler"]
    handler: ShortText


class DepartmentFeedback(_Action):
    """C3: the department's feedback to customer service after investigating."""
    action: Literal["department_feedback"]
    findings: Text


class ProposeSolution(_Action):
    """C4/C7: the handler's solution, then approval before the customer is told."""
    action: Literal["propose_solution"]
    solution: Text
    compensation: Money = Decimal("0")


class InformCustomer(_Action):
    """C4/C7: the approved handling opinion goes to the customer."""
    action: Literal["inform_customer"]
    message: Text


class RecordSatisfaction(_Action):
    """C7: satisfaction asked and recorded (1 very dissatisfied … 5 very satisfied)."""
    action: Literal["record_satisfaction"]
    score: Score
    comment: NoteText | None = None
    told_via: ToldVia | None = TOLD_VIA_FIELD


class Summarise(_Action):
    """C7: summary with corrective and preventive measures (预防纠正措施)."""
    action: Literal["summarise"]
    summary: Text
    corrective_measures: Text
    preventive_measures: Text


class MarkMajor(_Action):
    """C8: a complaint found to be major is reported at once."""
    action: Literal["mark_major"]
    reason: Text


class RecordMeeting(_Action):
    """C8: the emergency meeting's record (专题会议纪要)."""
    action: Literal["record_meeting"]
    minutes: Text
    attendees: list[Role] = Field(min_length=1)


class FileSpecialReport(_Action):
    """C8: the special report (专题报告)."""
    action: Literal["file_special_report"]
    report: Text


class AuthorityReply(_Action):
    """C9: the manager's in-person answer to the authority and the written report."""
    action: Literal["authority_reply"]
    answered_in_person_at: Instant
    written_report: Text


class Close(_Action):
    """C6/C10: close with the recorded outcome."""
    action: Literal["close"]
    outcome_note: Text


class OpenRepair(_Action):
    """C6/R1: the complaint needs repair work: open a linked repair (numbered WX-…) at the same home.
    The complaint then follows the repair's R deadlines and closes only after the repair."""
    action: Literal["open_repair"]
    trades: list[ShortText] = Field(min_length=1, max_length=10)
    description: Text
    requested_appointment: Instant
    paid_service: Flag = False


class RecordCompensationPaid(_Action):
    """A1: finance records the approved compensation as paid to the owner, with its reference."""
    action: Literal["record_compensation_paid"]
    amount: Money
    reference: ShortText


class Reassign(_Action):
    """P7: cs_manager re-routes the complaint to another department (one of the organisation's), from any open
    state, with the reason; the new department's head names its handler."""
    action: Literal["reassign"]
    department: ShortText
    reason: Text


ComplaintAction = Union[
    Classify, AssignHandler, DepartmentFeedback, ProposeSolution, Decide, InformCustomer,
    RecordSatisfaction, Summarise, ProgressNote, MarkMajor, RecordMeeting, FileSpecialReport,
    AuthorityReply, OpenRepair, Close, RecordCompensationPaid, Reassign,
]



# ---- repairs (R) ----------------------------------------------------------------------------
Note = Annotated[NoteText | None, Field(default=None)]


class AgreeAppointment(_Action):
    """R1: the visit time agreed with the owner (a new one replaces the last)."""
    action: Literal["agree_appointment"]
    appointment_at: Instant
    told_via: ToldVia | None = TOLD_VIA_FIELD


class ProposeAppointment(_Action):
    """R1 (rules 4): staff propose a visit time; the owner accepts it on the owner pages (or tells staff, 代录), or
    asks for another."""
    action: Literal["propose_appointment"]
    appointment_at: Instant


class AcceptAppointment(_Action):
    """R1 (rules 4): the owner accepts the proposed visit time: it is the agreed appointment."""
    action: Literal["accept_appointment"]
    told_via: ToldVia | None = TOLD_VIA_FIELD


class RequestAppointment(_Action):
    """R1 (rules 4): the owner asks for another visit time instead of the one proposed (or before any is)."""
    action: Literal["request_appointment"]
    appointment_at: Instant
    note: NoteText | None = None
    told_via: ToldVia | None = TOLD_VIA_FIELD


class RecordArrival(_Action):
    """R1: when the worker arrived; more than 10 minutes late without contacting the owner is flagged."""
    action: Literal["record_arrival"]
    arrived_at: Instant
    owner_contacted: Flag = False


class RecordSurvey(_Action):
    """R2/R3: the site survey (现场勘察): responsible party, trades, estimate, work-order type.
    Recording again clears the signatures collected so far."""
    action: Literal["record_survey"]
    responsible_party: ShortText
    contractor_id: ShortText | None = Field(default=None, description="required for type A (warranty)")
    multi_trade: Flag
    estimate: Money
    order_type: Literal["A", "B"] = Field(description="A warranty work; B out of warranty, borne by the company")

    @model_validator(mode="after")
    def _contractor_for_warranty(self) -> "RecordSurvey":
        if self.order_type == "A" and not (self.contractor_id and self.contractor_id.strip()):
            raise ValueError("a type A (warranty) work order needs the contractor_id (R3)")
        return self


class SignSurvey(_Action):
    """R2: one survey party co-signs (会签) with its own account and role."""
    action: Literal["sign_survey"]


# ---- R3 paid service: the fee schedule's items and a quote's lines -------------------------------------
ItemCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Unit = text_type(16, long=False)
PaymentMethod = Literal["cash", "wechat", "alipay", "bank"]


class FeeItem(BaseModel):
    """One line of the fee schedule (有偿服务收费标准): an item, its unit and its unit price (yuan)."""
    model_config = ConfigDict(extra="forbid")
    code: ItemCode
    name: ShortText
    unit: Unit
    unit_price: Money


class FeeSchedule(BaseModel):
    """One version of the fee schedule."""
    version: int
    items: list[FeeItem]

    def item(self, code: str) -> FeeItem | None:
        return next((i for i in self.items if i.code == code), None)


class QuoteItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: ItemCode
    quantity: Money = Field(description="how many units (up to 2 decimals), more than 0")

    @model_validator(mode="after")
    def _positive(self) -> "QuoteItem":
        if self.quantity <= 0:
            raise ValueError("quantity must be more than 0")
        return self


class ExtraItem(QuoteItem):
    """An item not in the schedule: priced by hand, with the reason it is needed."""
    code: ItemCode | None = None
    name: ShortText
    unit: Unit
    unit_price: Money
    reason: NoteText


class Quote(_Action):
    """R3 (paid service, 有偿服务): the fee told to the owner, items × quantities from the published fee
    schedule plus any extra item with its reason. The API prices it from the current schedule version
    (`schedule`, filled in by the API: a value sent by a client is replaced)."""
    action: Literal["quote"]
    items: list[QuoteItem] = Field(default=[], max_length=50)
    extras: list[ExtraItem] = Field(default=[], max_length=20)
    schedule: FeeSchedule | None = Field(default=None, description="set by the API from the fee schedule")

    @model_validator(mode="after")
    def _something_to_quote(self) -> "Quote":
        if not self.items and not self.extras:
            raise ValueError("a quote needs at least one item from the fee schedule or an extra item (R3)")
        codes = [i.code for i in self.items]
        if len(set(codes)) != len(codes):
            raise ValueError("each fee-schedule item appears once in a quote; give its quantity")
        return self


class AcceptQuote(_Action):
    """R3: the owner accepted the quote and signed the repair slip (维修单): who signed, when."""
    action: Literal["accept_quote"]
    signed_by: ShortText = Field(description="the name of the owner (or the owner's agent) who signed")
    signed_at: AwareDatetime
    told_via: ToldVia | None = TOLD_VIA_FIELD


class DeclineQuote(_Action):
    """R3: the owner declined the fee; the case ends as declined (still counted)."""
    action: Literal["decline_quote"]
    reason: Text
    told_via: ToldVia | None = TOLD_VIA_FIELD


class RecordServicePayment(_Action):
    """R3: finance records the owner's payment of the quoted fee: amount, method and receipt number."""
    action: Literal["record_service_payment"]
    amount: Money
    method: PaymentMethod
    receipt_no: ShortText


class Dispatch(_Action):
    """R4/R5: the work order goes to the workers (to_contractor: through engineering to the contractor)."""
    action: Literal["dispatch"]
    workers: list[ShortText] = Field(min_length=1, max_length=10)
    to_contractor: Flag = False

    @model_validator(mode="after")
    def _distinct_workers(self) -> "Dispatch":
        if len(set(self.workers)) != len(self.workers):
            raise ValueError("each worker is named once")
        return self


class ExtendDeadline(_Action):
    """R8: more time for a complex repair, only with the owner's consent given before the deadline."""
    action: Literal["extend_deadline"]
    new_due_at: Instant
    owner_consent: Text = Field(description="how and by whom the owner consented")
    told_via: ToldVia | None = TOLD_VIA_FIELD


class AskExtension(_Action):
    """R8 (rules 4): staff ask the owner for more time for a complex repair: the new due time and why. The work
    deadline moves only once the owner consents, before it is due."""
    action: Literal["ask_extension"]
    new_due_at: Instant
    reason: Text


class ConsentExtension(_Action):
    """R8 (rules 4): the owner consents to the time asked for (before the deadline)."""
    action: Literal["consent_extension"]
    told_via: ToldVia | None = TOLD_VIA_FIELD


class RefuseExtension(_Action):
    """R8 (rules 4): the owner refuses more time: the work stays due when it was."""
    action: Literal["refuse_extension"]
    reason: NoteText | None = None
    told_via: ToldVia | None = TOLD_VIA_FIELD


class CompleteWork(_Action):
    """R6: the workers report the work done; the inspection follows."""
    action: Literal["complete_work"]
    note: Text


class Inspect(_Action):
    """R6: the completion inspection, recorded by cs_staff and by repair_lead; a failure needs a note."""
    action: Literal["inspect"]
    passed: Flag
    note: Note

    @model_validator(mode="after")
    def _why_failed(self) -> "Inspect":
        if not self.passed and not (self.note and self.note.strip()):
            raise ValueError("a failed inspection needs a note saying what to redo (R6)")
        return self


class OwnerSignOff(_Action):
    """R6/R9: the owner signs the work off, scoring quality and attitude (recorded on the owner's behalf)."""
    action: Literal["owner_sign_off"]
    quality: Score
    attitude: Score
    comment: Note
    told_via: ToldVia | None = TOLD_VIA_FIELD


class RefuseSignOff(_Action):
    """R6 (rules 4): the owner does not sign the work off, with the reason (and, if they give them, quality and
    attitude scores, R9): the work goes back to the workers as a new round."""
    action: Literal["refuse_sign_off"]
    reason: Text
    quality: Score | None = None
    attitude: Score | None = None
    told_via: ToldVia | None = TOLD_VIA_FIELD


RevisitFollowUp = Literal["reopen", "cs_manager_follow_up"]


class Revisit(_Action):
    """R7/R9/V3: the phone revisit; satisfaction ≤ 2 needs a follow-up (reopen, or cs_manager follows up)."""
    action: Literal["revisit"]
    satisfaction: Score
    quality: Score
    attitude: Score
    note: Note
    follow_up: RevisitFollowUp | None = None
    told_via: ToldVia | None = TOLD_VIA_FIELD

    @model_validator(mode="after")
    def _dissatisfied_needs_follow_up(self) -> "Revisit":
        if self.satisfaction <= 2 and self.follow_up is None:
            raise ValueError("a dissatisfied owner (satisfaction ≤ 2) needs a follow_up: reopen or "
                             "cs_manager_follow_up (R7, V3)")
        return self


class FollowUp(_Action):
    """V3: cs_manager's follow-up with a dissatisfied owner."""
    action: Literal["follow_up"]
    note: Text


class CostStatement(_Action):
    """A2: the repair lead's cost statement (维修工程决算书), then audit and confirmation."""
    action: Literal["cost_statement"]
    amount: Money
    note: Text


class Pay(_Action):
    """A3: finance pays the approved settlement (type A: deducted from the contractor's deposit)."""
    action: Literal["pay"]
    amount: Money
    reference: ShortText


RepairAction = Union[
    AgreeAppointment, RecordArrival, RecordSurvey, SignSurvey, Dispatch, ExtendDeadline,
    CompleteWork, Inspect, OwnerSignOff, Revisit, FollowUp, CostStatement, Pay, Decide, ProgressNote,
    Quote, AcceptQuote, DeclineQuote, RecordServicePayment,
    ProposeAppointment, AcceptAppointment, RequestAppointment, AskExtension, ConsentExtension, RefuseExtension,
    RefuseSignOff,
]

CaseAction = Annotated[Union[ComplaintAction, RepairAction], Field(discriminator="action")]


class AttachFile(_Action):
    """D1/D3: a file added to a step of the case, as its reference only (claim check). Sent by the API's upload
    route once the bytes are stored (POST /cases/{no}/files), never by a client as an action: a reference
    names a blob by its hash, which only the upload that stored it may vouch for."""
    action: Literal["attach_file"]
    file: FileRef


class AttachFiles(_Action):
    """D1/D3: several files of one upload added at once, as references only — all of them or none (each checked:
    its step, who may add to it, room on the step, not on the case already). `provenance`: the owner added them
    on their own pages (O3, O4); none for staff's uploads. Sent by the API's upload routes only, as AttachFile."""
    action: Literal["attach_files"]
    files: list[FileRef] = Field(min_length=1, max_length=FILES_PER_STEP)
    provenance: Provenance | None = None


class AddFiles(_Action):
    """D1/D3: the files of one upload, all or none, as AttachFiles adds them, in the compact form a case's history
    can carry a step's twenty of (aftersales.files.pack): the step, kind and flags once, each file as its hashes,
    size and type; the ids are the case's to compute, who and when the Update's. Sent by the API's upload routes."""
    action: Literal["add_files"]
    step: FileStep
    kind: FileKind
    for_owner: bool = False
    shows_person: bool = False
    files: list[PackedFile] = Field(min_length=1, max_length=FILES_PER_STEP)
    provenance: Provenance | None = None

    def refs(self, case_no: str) -> list[FileRef]:
        return [unpack(case_no, self.step, self.kind, self.for_owner, self.shows_person, f) for f in self.files]


# What the workflow's `act` Update takes: the actions of POST /cases/{no}/actions and the API's own.
WorkflowAction = Annotated[Union[ComplaintAction, RepairAction, AttachFile, AttachFiles, AddFiles],
                           Field(discriminator="action")]


class ActionRequest(BaseModel):
    """What the API sends to the workflow's `act` Update: the action, who does it, and the staff
    accounts the action names (assign_handler's handler) as the read model holds them now: the
    workflow cannot read the database, so the API resolves them (P1)."""
    action: WorkflowAction
    actor: Actor | OwnerActor   # O3 (rules 4): the owner acting on the owner pages, vouched for like staff (P4)
    accounts: list[Actor] = []
    # Idempotency-Key: the key scoped to case and user, and the body's fingerprint,
    # both hashed (no caller text). The case remembers them: the same key with the same body is applied
    # once, with another body it is refused — no write to the read model on the way.
    request_key: str | None = None
    fingerprint: str | None = None
    # P4: the API's HMAC over the case, the actor, the accounts, the action and its fingerprint
    # (adapters.temporal.actor_assertion): the case's validator refuses an action without a fitting one.
    assertion: str | None = None

    def named_accounts(self) -> dict[str, Actor]:
        return {a.username: a for a in self.accounts}
