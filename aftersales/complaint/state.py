"""What a complaint (投诉) records, C1–C11: its channel and status, the intake, classification, the
department's findings, the solution and its compensation (A1), the major complaint's meeting and report
(C8), the authority's answer (C9), the linked repair, and the effect only complaints raise (the repair
opened). The steps that change it are the modules beside this one (aftersales/complaint/__init__.py)."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from aftersales.actions import ShortText, Text
from aftersales.actor import Actor
from aftersales.case import CaseState, CaseType, Customer
from aftersales.messages import yuan
from aftersales.provenance import Provenance
from aftersales.org import CaseOrg
from aftersales.repair.state import RepairIntake
from aftersales.roles import Role

CASE_NO_PREFIX = "TS"  # 投诉

OPINION_WORKING_DAYS = 3        # C4 [S2 ch.4 七]
CLOSE_CALENDAR_DAYS = 7         # C6 [S5 第二十六条]
FEEDBACK_WORKING_DAYS = 3       # C3 [S1 §3.4.2.2]
SOLUTION_WORKING_DAYS = 1       # C4 [S7]


class Channel(StrEnum):
    phone = "phone"
    visit = "visit"
    letter = "letter"
    online = "online"
    property = "property"
    authority_referral = "authority_referral"
    owner_app = "owner_app"          # O3: filed by the owner on the owner pages


class ComplaintStatus(StrEnum):
    registered = "registered"
    unjustified_review = "unjustified_review"   # C2: cs_manager rules on the unjustified classification
    assigned = "assigned"
    investigated = "investigated"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    customer_informed = "customer_informed"
    satisfaction_recorded = "satisfaction_recorded"
    summary_review = "summary_review"
    summarised = "summarised"
    closed = "closed"


class ComplaintIntake(BaseModel):
    """C1: what the hotline registers (来电、来访登记表)."""
    model_config = ConfigDict(extra="forbid")
    customer: Customer
    channel: Channel
    category: ShortText
    description: Text
    major: StrictBool = False
    group_complaint: StrictBool = False
    provenance: Provenance | None = Field(default=None, description="O4: how the owner gave it (the owner pages)")


class CompensationPayment(BaseModel):
    """A1: finance paid the owner the approved compensation: amount, reference, who, when."""
    amount: Decimal
    reference: str
    by: str
    at: datetime


class ComplaintState(CaseState):
    case_type: CaseType = CaseType.complaint
    channel: Channel
    category: str
    group_complaint: bool = False
    major_reason: str | None = None
    justified: bool | None = None
    reply: str | None = None
    findings: str | None = None
    solution: str | None = None
    compensation: Decimal | None = None
    compensation_payment: CompensationPayment | None = None
    customer_message: str | None = None
    satisfaction_comment: str | None = None
    satisfaction_provenance: Provenance | None = None   # O4 (rules 4): the owner's own answer, or 代录
    summary: str | None = None
    corrective_measures: str | None = None
    preventive_measures: str | None = None
    meeting_minutes: str | None = None
    meeting_attendees: list[Role] = []
    special_report: str | None = None
    authority_answered_at: datetime | None = None
    authority_report: str | None = None
    early_warning: str | None = None
    progress_notes: int = Field(default=0, description="C5 progress notes recorded")
    solution_round: int = 0
    repairs_requested: int = 0
    linked_case_no: str | None = Field(default=None, description="the repair this complaint opened")
    linked_status: str | None = Field(default=None, description="that repair's status, as it reports it")

    def a1_amount(self) -> Decimal | None:
        """A1: the compensation the company pays the owner, if any."""
        return self.compensation or None

    def decided(self, approval) -> str:
        """A4: the solution (and the findings it answers), the summary and measures, or the reply ruled on."""
        if approval.purpose == "complaint_solution":
            text = f"处理方案：{self.solution or '—'}；补偿 {yuan(self.compensation or Decimal(0))}"
            return text + (f"；部门调查结果：{self.findings}" if self.findings else "") + ("；重大投诉（C8）" if self.major else "")
        if approval.purpose == "complaint_summary":
            return (f"总结：{self.summary or '—'}；整改措施：{self.corrective_measures or '—'}；"
                    f"预防措施：{self.preventive_measures or '—'}")
        if approval.purpose == "unjustified":
            return f"定为不成立投诉（类别 {self.category}），拟答复业主：{self.reply or '—'}"
        return approval.subject

    @property
    def compensation_owed(self) -> bool:
        return self.a1_amount() is not None and self.compensation_payment is None


class OpenLinkedRepair(BaseModel):
    """Effect: number and start the repair a complaint needs; `key` makes it happen once."""
    kind: Literal["open_linked_repair"] = "open_linked_repair"
    key: str
    intake: RepairIntake
    requested_by: Actor
    organisation: CaseOrg | None = None  # P5: the repair belongs to the complaint's project and company


_S = ComplaintStatus
OPEN_AFTER_CLASSIFY = tuple(s.value for s in _S if s not in (_S.registered, _S.closed))


