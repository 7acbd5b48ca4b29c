"""Payloads between the scheduled report workflow and its activities."""

from pydantic import BaseModel

from aftersales.actor import Actor
from aftersales.review import ReviewState


class ScheduledReport(BaseModel):
    kind: str
    period: str
    # K, P5: a company's report (its id), or the group's roll-up (none: as every scheduled report was before)
    company_id: str | None = None


class ReportRef(BaseModel):
    id: int
    kind: str
    period: str
    title: str
    company_id: str | None = None     # K, P5: a company's report; none: the group's roll-up
    company_name: str | None = None


class ScheduledRun(BaseModel):
    """What a scheduled report's run made (K, P5): each active company's report, then the group's roll-up; none on
    a day off of a daily list (`skipped` says why)."""
    kind: str
    period: str
    reports: list[ReportRef] = []
    skipped: str | None = None


class ReviewStart(BaseModel):
    """K1: what the scheduled report hands to the review it opens."""
    report_id: int
    kind: str
    period: str
    title: str
    company_id: str | None = None     # K, P5: a company's statistics, reviewed by that company's reviewer
    company_name: str | None = None
    roll_up: bool = False             # the group's roll-up, reviewed by the group's


class ReviewRequest(BaseModel):
    """The reviewer's review (the API sends it as the `review` Update)."""
    actor: Actor
    comment: str
    assertion: str | None = None  # P4: the API's (adapters.temporal.actor_assertion.sign_model)


class ReviewRecord(BaseModel):
    """The review as the read model keeps it (report_reviews)."""
    workflow_id: str
    state: ReviewState
