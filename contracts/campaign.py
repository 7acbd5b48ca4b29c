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


class PointCaseNumber(BaseModel):
    """V3, C1: the number a point raised was given (number_case, its key), kept by the campaign so that a register
    rebuilt from Temporal answers a retried numbering with the same case."""
    key: str
    scope: str
    case_no: str
    at: datetime


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
    # C1: what only the register kept otherwise, carried over by continue-as-new so that every run answers the
    # `rebuilt` query: the plan's buildings (one per `state.planned`, as plan_campaign wrote the households;
    # empty for campaigns planned before they were kept) and the creating request's Idempotency-Key and
    # fingerprint (None: not given). Encrypted like every payload (P4); no personal data.
    buildings: list[str] = []
    intake_key: str | None = None
    intake_fingerprint: str | None = None
    # C1: the register's row as the campaign's projections left it: the highest seq projected and the time of its
    # first projection (a later run projecting the same seq again changes nothing in the register)
    projected_seq: int = -1
    projected_at: datetime | None = None
    # P4: the API's assertion over a new campaign's start (sign_model); a continued run is not signed again
    assertion: str | None = None


class ProposalCheck(BaseModel):
    """V1/V2: the scheduled check of one day (company time zone)."""
    kind: CampaignKind
    on: date


class ProposalBatch(BaseModel):
    """The campaigns proposed by the check of that day (the same answer however often it is retried)."""
    share: Decimal
    proposals: list[Proposal]


class RebuiltCampaign(BaseModel):
    """C1, `make rebuild-register`: a campaign as the register holds it, answered by one run of its workflow (the
    `rebuilt` query, open or closed within Temporal's retention): the row as its last projection wrote it, the
    plan's households (their buildings None: planned before the campaign kept them), the forms and point-case
    numbers this run knows (those of earlier runs: ask those runs), and the creating request's key."""
    projection: CampaignProjection
    created_at: datetime
    planned: list[int] = []
    buildings: list[str] | None = None
    forms: list[VisitForm] = []
    point_cases: list[PointCaseNumber] = []
    intake_key: str | None = None
    intake_fingerprint: str | None = None
