"""Payloads between the scheduled report workflow and its activities."""

from pydantic import BaseModel


class ScheduledReport(BaseModel):
    kind: str
    period: str


class ReportRef(BaseModel):
    id: int
    kind: str
    period: str
    title: str
