"""Typed answers of the case endpoints for the OpenAPI document. A case view has a long
tail that differs by case type and grows with the rules: the fields every view carries are typed here,
the rest passes through (extra allowed)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aftersales.roles import Role


class TimelineEntryOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: datetime
    kind: str
    text: str


class CustomerOut(BaseModel):
    """The owner; `phone` is masked (138****1234) for the roles P3 does not let see it."""
    model_config = ConfigDict(extra="allow")
    name: str
    phone: str
    project: str
    building: str
    unit: str


class CaseView(BaseModel):
    """A case as its workflow shows it (or, past Temporal's retention, as the register last stored it:
    `source: "register"`). Complaint and repair fields follow these."""
    model_config = ConfigDict(extra="allow")
    case_no: str = Field(examples=["TS-2026-000123"])
    type: str = Field(description="complaint or repair")
    status: str
    received_at: datetime
    customer: CustomerOut
    department: str | None = None
    handler: str | None = None
    company_id: str | None = Field(default=None, description="the company the case belongs to (P5)")
    project_key: str | None = Field(default=None, description="its project, as the property register keys it (P5)")
    escalation_level: int
    escalated_to: Role | None = None
    overdue: bool
    waiting_for: Role | None = Field(default=None, description="the role whose decision the case waits for, if any")
    next_actors: list[dict[str, Any]] = Field(default=[], description=(
        "who acts next: role, the named person or department or contractor where there is one, and the action "
        "(empty once closed)"))
    deadlines: list[dict[str, Any]] = []
    timeline: list[TimelineEntryOut] = []
    version: int = Field(description="grows with every change")


class CaseAnswerOut(BaseModel):
    """The answer to a write sent with `Prefer: return=minimal` (RFC 7240): what the Update itself
    answered, without reading the whole case back (GET /cases/{no}, the `Location`, reads it)."""
    case_no: str = Field(examples=["TS-2026-000123"])
    status: str
    version: int = Field(description="the case's version after the write (as `version` of the case view)")
    timeline_length: int = Field(description="entries in the case's timeline after the write")
    added: list[TimelineEntryOut] = Field(default=[], description=(
        "the timeline entries this write added (none for a repeat of an applied request); phone numbers masked"))
