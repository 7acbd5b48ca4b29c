"""What a repair (维修) records, R1–R9 with approvals A1–A3: its status, the intake, the survey, the
arrivals, inspections, sign-offs and revisits, the money (quote, settlement, payment, deduction), and the
effects only repairs raise (the deposit deduction, worker scores, the parent complaint told). The steps
that change it are the modules beside this one (aftersales/repair/__init__.py)."""

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from aftersales import access
from aftersales import actions as A
from aftersales.actions import Instant, ShortText, Text
from aftersales.case import CaseState, CaseType, Customer, Effect
from aftersales.messages import yuan
from aftersales.provenance import Provenance
from aftersales.fees import PaymentMethod, PricedQuote
from aftersales.roles import Role

CASE_NO_PREFIX = "WX"  # 维修

SURVEY_WORKING_DAYS = 1                   # R2 [S1 §3.4.5]
SINGLE_TRADE_WORKING_DAYS = 3             # R4 [S1 §3.4.5]
MULTI_TRADE_WORKING_DAYS = 7              # R4
REVISIT_WORKING_DAYS = 1                  # R7 [S1 §3.5.4]
FOLLOW_UP_WORKING_DAYS = 1                # V3: cs_manager follows a dissatisfied owner up
LATE_ARRIVAL_GRACE = timedelta(minutes=10)  # R1 [S6 §3.2]
CONTRACTOR_SIGNS_FROM = Decimal("500")    # R2: the contractor need not attend at 500 yuan or less
LOW_SATISFACTION = 2                      # R7/V3: satisfaction ≤ 2 needs a follow-up

SURVEY_PARTIES = access.SURVEY_PARTIES  # R2
INSPECTORS = access.INSPECTORS  # R6


class RepairStatus(StrEnum):
    registered = "registered"
    scheduled = "scheduled"                  # appointment agreed (R1)
    surveying = "surveying"                  # survey recorded, co-signing (R2)
    survey_returned = "survey_returned"      # cost rejected or changes asked: re-record the survey (A1)
    cost_approval = "cost_approval"          # waiting for the A1 approvers
    surveyed = "surveyed"                    # survey complete and cost approved: ready to dispatch
    quoted = "quoted"                        # R3 paid service: quoted from the fee schedule, owner to answer
    quote_accepted = "quote_accepted"        # R3: the owner signed the repair slip (维修单): ready to dispatch
    in_progress = "in_progress"              # dispatched (R4, R5)
    awaiting_inspection = "awaiting_inspection"
    inspected = "inspected"                  # both inspections passed; the owner signs off (R6)
    completed = "completed"                  # owner signed off; revisit due (R7)
    follow_up = "follow_up"                  # cs_manager follows a dissatisfied owner up (V3)
    revisited = "revisited"                  # ready for the cost statement (A2)
    settlement = "settlement"                # cost statement under audit and confirmation (A2, A3)
    awaiting_payment = "awaiting_payment"    # settlement approved; finance pays (A3)
    closed = "closed"


OrderType = Literal["A", "B"]


class RepairIntake(BaseModel):
    """R1: what the hotline registers, like a complaint (C1), with location, trades and description."""
    model_config = ConfigDict(extra="forbid")
    customer: Customer
    trades: list[ShortText] = Field(min_length=1, max_length=10)
    description: Text
    requested_appointment: Instant
    paid_service: StrictBool = False
    parent_case_no: str | None = Field(default=None, pattern=r"^[A-Z]{2}-[0-9]{4}-[0-9]{6}$",
                                       description="the complaint this repair serves")
    channel: Literal["owner_app"] | None = Field(default=None, description="O3: owner_app when the owner filed it "
                                                 "on the owner pages; none: registered by staff")
    provenance: Provenance | None = Field(default=None, description="O4: how the owner gave it (the owner pages)")


# ---- effects the workflow carries out ---------------------------------------------------------
class WorkerScores(BaseModel):
    """Effect (R9): one evaluation of each worker, kept as a row of its own (never written over): one per
    event — the owner's sign-off and the revisit of each round of work (a reopened repair adds its own)."""
    kind: Literal["worker_scores"] = "worker_scores"
    case_no: str
    workers: list[str]
    quality: int
    attitude: int
    at: datetime
    key: str  # the case, the round of work and the source: a retried write adds nothing
    source: Literal["sign_off", "revisit"]


class DepositDeduction(BaseModel):
    """Effect (A3): deduct a type-A settlement from the contractor's quality deposit, once per entry_key,
    never below zero; the outcome comes back to the case (record_deduction)."""
    kind: Literal["deposit_deduction"] = "deposit_deduction"
    entry_key: str
    contractor_id: str
    amount: Decimal
    case_no: str


class DeductionRecord(BaseModel):
    """A3: what the deposit covered of a deduction, and the shortfall."""
    contractor_id: str
    requested: Decimal
    deducted: Decimal
    shortfall: Decimal
    balance: Decimal
    at: datetime


class ParentUpdate(BaseModel):
    """Effect: tell the parent complaint this repair's new status (the workflow signals it)."""
    kind: Literal["parent_update"] = "parent_update"
    parent_case_no: str
    case_no: str
    status: str


RepairEffect = Effect | WorkerScores | DepositDeduction | ParentUpdate


# ---- what a repair records -------------------------------------------------------------------
class Arrival(BaseModel):
    appointment_at: datetime
    arrived_at: datetime
    owner_contacted: bool
    minutes_late: int
    flagged: bool
    recorded_by: str


class SurveySignature(BaseModel):
    role: Role
    by: str
    at: datetime


class Survey(BaseModel):
    round: int
    responsible_party: str
    contractor_id: str | None
    multi_trade: bool
    estimate: Decimal
    order_type: OrderType
    recorded_by: str
    recorded_at: datetime
    signatures: list[SurveySignature] = []
    completed_at: datetime | None = None

    @property
    def contractor_signs(self) -> bool:
        """R2: 500元以下 includes 500, so the contractor signs from 500.01, and only a contractor the survey
        names (P1)."""
        return self.estimate > CONTRACTOR_SIGNS_FROM and self.contractor_id is not None

    @property
    def required_roles(self) -> list[Role]:
        """R2: cs_staff, engineering, repair_lead, and the contractor above 500 yuan."""
        return [r for r in SURVEY_PARTIES if r != Role.contractor or self.contractor_signs]

    @property
    def missing_roles(self) -> list[Role]:
        signed = {s.role for s in self.signatures}
        return [r for r in self.required_roles if r not in signed]


class Inspection(BaseModel):
    role: Role
    by: str
    at: datetime
    passed: bool
    note: str | None = None
    work_round: int


class SignOff(BaseModel):
    quality: int
    attitude: int
    comment: str | None
    by: str
    at: datetime
    provenance: Provenance | None = None   # O4 (rules 4): the owner's own, or 代录


class SignOffRefusal(BaseModel):
    """R6 (rules 4): the owner did not sign the work off: why, the scores if given (R9), who gave it (O4)."""
    reason: str
    quality: int | None = None
    attitude: int | None = None
    work_round: int
    at: datetime
    provenance: Provenance | None = None


class ExtensionAsked(BaseModel):
    """R8 (rules 4): more time asked of the owner: the work would be due at `new_due_at`."""
    new_due_at: datetime
    reason: str
    by: str
    at: datetime


class Consent(BaseModel):
    """R8: the owner's answer to more time, consented or refused, and who gave it (O4)."""
    consented: bool
    from_due_at: datetime
    to_due_at: datetime
    at: datetime
    reason: str | None = None
    provenance: Provenance | None = None


class RevisitRecord(BaseModel):
    satisfaction: int
    quality: int
    attitude: int
    note: str | None
    follow_up: A.RevisitFollowUp | None
    by: str
    at: datetime
    provenance: Provenance | None = None   # O4 (rules 4): the owner's survey, or 代录


class QuoteRecord(PricedQuote):
    """R3: the quote told to the owner, with the prices of the schedule version it was made from."""
    round: int
    by: str
    at: datetime


class QuoteAcceptance(BaseModel):
    """R3: the owner accepted the fee and signed the repair slip (维修单)."""
    signed_by: str
    signed_at: datetime
    recorded_by: str
    recorded_at: datetime
    provenance: Provenance | None = None   # O4 (rules 4): signed by the owner on the owner pages, or 代录


class ServicePayment(BaseModel):
    """R3: the owner's payment, recorded by finance with its receipt number."""
    amount: Decimal
    method: PaymentMethod
    receipt_no: str
    by: str
    at: datetime


class Payment(BaseModel):
    amount: Decimal
    reference: str
    by: str
    at: datetime


class RepairState(CaseState):
    case_type: CaseType = CaseType.repair
    trades: list[str]
    requested_appointment: datetime
    paid_service: bool = False
    parent_case_no: str | None = None
    channel: str | None = None   # O3: owner_app when the owner filed it; none: registered by staff
    appointment_at: datetime | None = None
    appointment_kept: bool = False
    arrivals: list[Arrival] = []
    late_arrival: bool = Field(default=False, description="R1: a worker came > 10 min late without contacting the owner")
    late_arrivals: int = 0
    survey: Survey | None = None
    workers: list[str] = []
    to_contractor: bool = False
    dispatched_at: datetime | None = None
    work_round: int = 0
    work_round_at: datetime | None = Field(default=None, description="when the current round of work began "
                                           "(dispatch, or a reopening): D2's photo after the work is of this round")
    completion_note: str | None = None
    inspections: list[Inspection] = Field(default=[], description="the current round's inspections (R6)")
    inspection_history: list[Inspection] = []
    failed_inspections: int = 0
    sign_off: SignOff | None = None
    sign_offs: list[SignOff] = Field(default=[], description="every sign-off, one per round of work (R9)")
    revisits: list[RevisitRecord] = []
    follow_up_note: str | None = None
    cost_statement: Decimal | None = None
    cost_note: str | None = None
    settlement_round: int = 0
    settled_amount: Decimal | None = None
    payment: Payment | None = None
    deduction: DeductionRecord | None = None
    quote: QuoteRecord | None = None
    quote_acceptance: QuoteAcceptance | None = None
    service_payment: ServicePayment | None = None
    decline_reason: str | None = None
    decline_provenance: Provenance | None = None
    # rules 4 (O3, O4): the time staff proposed for the owner to accept (R1) and who agreed the appointment, the
    # more time asked of the owner and the owner's answers (R8), the sign-offs refused (R6)
    proposed_appointment: datetime | None = None
    appointment_provenance: Provenance | None = None
    extension_asked: ExtensionAsked | None = None
    consents: list[Consent] = []
    sign_off_refusals: list[SignOffRefusal] = []

    def decided(self, approval) -> str:
        """A4: the survey a cost approval decides on, or the cost statement a settlement decides on."""
        sv = self.survey
        survey = "—" if sv is None else (
            f"责任方 {sv.responsible_party}，{'多工种' if sv.multi_trade else '单工种'}（{'、'.join(self.trades)}），"
            f"预估 {yuan(sv.estimate)}，{'A 类（保修期内）' if sv.order_type == 'A' else 'B 类（保修期外，公司承担）'}工单"
            + (f"，施工单位 {sv.contractor_id}" if sv.contractor_id else ""))
        if approval.purpose == "repair_cost":
            return f"现场勘察（第 {sv.round if sv else 1} 次）：{survey}"
        if approval.purpose == "settlement":
            return f"维修工程决算书 {yuan(self.cost_statement)}：{self.cost_note or '—'}；查勘：{survey}"
        return approval.subject

    @property
    def paid_path(self) -> bool:
        """R3: an owner-paid repair runs its own path: quote, acceptance, owner's payment."""
        return self.paid_service

    def a1_amount(self) -> Decimal | None:
        """A1 applies to the latest amount: the settlement, else the cost statement, else the estimate."""
        if self.paid_path:
            return None  # R3: the owner pays; no company cost approval
        for amount in (self.settled_amount, self.cost_statement, self.survey.estimate if self.survey else None):
            if amount is not None:
                return amount
        return None


_S = RepairStatus
BEFORE_SURVEY = (_S.registered, _S.scheduled, _S.surveying, _S.survey_returned)
BEFORE_DISPATCH = (*BEFORE_SURVEY, _S.cost_approval, _S.surveyed, _S.quoted, _S.quote_accepted)
OWNER_WAITING = (*BEFORE_DISPATCH, _S.in_progress, _S.awaiting_inspection, _S.inspected)  # R1/S3 replies owed
WORK_OPEN = (_S.in_progress, _S.awaiting_inspection)


