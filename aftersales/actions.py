"""The body of `POST /cases/{case_no}/actions`: one typed model per action, told apart by `action`.
Each case type accepts its own actions; an action of the other type answers 409."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aftersales.actor import Actor
from aftersales.approvals import Decision
from aftersales.roles import Role

Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"\S")]
ShortText = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Score = Annotated[int, Field(ge=1, le=5)]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- shared by complaints and repairs -------------------------------------------------------
class Decide(_Action):
    """A4: the role named on the current approval step approves, rejects or asks for changes."""
    action: Literal["decide"]
    decision: Decision
    reason: str | None = Field(default=None, max_length=2000)


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
    justified: bool
    reply: str | None = Field(default=None, max_length=4000, description="required when justified is false")

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
    comment: str | None = Field(default=None, max_length=2000)


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
    answered_in_person_at: datetime
    written_report: Text


class Close(_Action):
    """C6/C10: close with the recorded outcome."""
    action: Literal["close"]
    outcome_note: Text


ComplaintAction = Union[
    Classify, AssignHandler, DepartmentFeedback, ProposeSolution, Decide, InformCustomer,
    RecordSatisfaction, Summarise, ProgressNote, MarkMajor, RecordMeeting, FileSpecialReport,
    AuthorityReply, Close,
]

CaseAction = Annotated[ComplaintAction, Field(discriminator="action")]


class ActionRequest(BaseModel):
    """What the API sends to the workflow's `act` Update: the action and who does it."""
    action: CaseAction
    actor: Actor
