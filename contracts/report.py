"""Payloads between the scheduled report workflow and its activities."""

from pydantic import BaseModel

from aftersales.actor import Actor
from aftersales.review import ReviewState


class ScheduledReport(BaseModel):
    kind: str
    period: str


class ReportRef(BaseModel):
    id: int
    kind: str
    period: str
    title: str


class ReviewStart(BaseModel):
    """K1: what the scheduled report hands to the review it opens."""
    report_id: int
    kind: str
    period: str
    title: str


class ReviewRequest(BaseModel):
    """The reviewer's review (the API sends it as the `review` Update)."""
    actor: Actor
    comment: str


class ReviewRecord(BaseModel):
    """The review as the read model keeps it (report_reviews)."""
    workflow_id: str
    state: ReviewState
