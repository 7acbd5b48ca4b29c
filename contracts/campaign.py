"""Payloads between the campaign workflow, its activities and the API."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from aftersales.org import CaseOrg

from aftersales.campaign import CampaignKind, CampaignState, OpenPointCase, Proposal
from contracts.case import Notification


class PlanRequest(BaseModel):
    campaign_id: str
    project: str
    kind: CampaignKind
    share: Decimal | None
    minimum_share: Decimal
    seed: int | None = None


class VisitForm(BaseModel):
    campaign_id: str
    visit_no: int
    unit_id: int
    by: str
    at: datetime
    form: dict[str, Any]


class CampaignProjection(BaseModel):
    campaign_id: str
    seq: int
    starts_on: date
    ends_on: date
    at: datetime
    summary: dict[str, Any]


class StartCampaign(BaseModel):
    """A new campaign (state without a plan), or one carried over by continue-as-new."""
    state: CampaignState
    minimum_share: Decimal
    history_budget: int = 5_000  # events per run before the campaign continues as new
    pending_forms: list[VisitForm] = []           # carried over by continue-as-new: not yet kept
    pending_cases: list[OpenPointCase] = []       # points raised whose case is not opened yet
    pending_notices: list[Notification] = []      # escalation notices still being delivered
    local_db_steps: bool = False                  # the cases it opens take it over (StartCase.local_db_steps)
    organisation: CaseOrg | None = None           # P5: the project's company, for the cases it opens (rules 3)


class ProposalCheck(BaseModel):
    """V1/V2: the scheduled check of one day (company time zone)."""
    kind: CampaignKind
    on: date


class ProposalBatch(BaseModel):
    """The campaigns proposed by the check of that day (the same answer however often it is retried)."""
    share: Decimal
    proposals: list[Proposal]
