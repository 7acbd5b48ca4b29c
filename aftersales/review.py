"""K1: the monthly complaint statistics (投诉统计表) are due by the 10th of the next month and reviewed
by `gm`. The scheduled report opens a review; the reviewer closes it with a comment. A review not done
by the end of the 10th (the working day's closing time, Beijing time) escalates per E1: one level up the
ladder above the report's preparer (`cs_manager`) at the due time, one more each further working day
overdue, each level told once; the review stays open until the reviewer does it.

P5: each company's statistics are reviewed by that company's gm, the group's roll-up by the group's gm; another
company's gm (or the group's, on a company's) is refused. A review opened before companies names neither.

Pure: the workflow (workflows/report_review.py) keeps a `Review` and asks it what to do and when."""

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel

from aftersales.actor import Actor
from aftersales.calendar import WorkCalendar
from aftersales.errors import conflict, forbidden, invalid
from aftersales.messages import role_title
from aftersales.reports import ReportKind
from aftersales.roles import Role

# Which scheduled reports are reviewed, and by whom (K1).
REVIEWED_BY: dict[ReportKind, Role] = {ReportKind.monthly_complaints: Role.gm}
REVIEW_DUE_DAY = 10  # "by the 10th of the next month"
PREPARER = Role.cs_manager  # who makes the statistics: the escalation starts above this role
COMMENT_MAX = 2000


class ReviewStatus(StrEnum):
    awaiting = "awaiting"
    reviewed = "reviewed"


class ReviewState(BaseModel):
    report_id: int
    kind: ReportKind
    period: str
    title: str
    reviewer: Role
    due_at: datetime
    # K, P5: whose statistics: a company's (reviewed by that company's reviewer), the group's roll-up (by the
    # group's), or neither (a review opened before companies: the reviewer's role alone, as it was)
    company_id: str | None = None
    company_name: str | None = None
    roll_up: bool = False
    status: ReviewStatus = ReviewStatus.awaiting
    escalation_level: int = 0
    escalated_to: list[Role] = []  # who was told, level by level (E3: recorded)
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    comment: str | None = None
    seq: int = 0  # grows with every change: the read model applies only a higher one


def review_due(period: str, cal: WorkCalendar) -> datetime:
    """The end of the working day (calendar closing time) on the 10th of the month after `period` (YYYY-MM)."""
    year, month = (int(p) for p in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime.combine(date(year, month, REVIEW_DUE_DAY), cal.day_end, tzinfo=cal.tz)


def escalation_roles(ladder: list[Role]) -> list[Role]:
    """E1 for a review: the ladder's roles above the preparer (default: deputy_gm, then gm)."""
    return ladder[ladder.index(PREPARER) + 1:] if PREPARER in ladder else ladder[-2:]


class Review:
    def __init__(self, state: ReviewState, ladder: list[Role]) -> None:
        self.state = state
        self.ladder = escalation_roles(ladder)

    # ---- the reviewer's action ---------------------------------------------------------------
    def check(self, actor: Actor, comment: str) -> None:
        s = self.state
        if actor.role != s.reviewer:
            raise forbidden(f"{role_title(actor.role)}不能审阅{s.title}；审阅人是{role_title(s.reviewer)}（K1）")
        if s.company_id is not None and actor.company_id != s.company_id:  # P5: the company's own reviewer
            raise forbidden(f"{s.title}（{s.period}）是{s.company_name or s.company_id}的报表，由{s.company_name or s.company_id}"
                            f"的{role_title(s.reviewer)}审阅（K1、P5）")
        if s.roll_up and actor.company_id is not None:  # P5: the group's roll-up, the group's reviewer
            raise forbidden(f"{s.title}（{s.period}）是集团汇总，由集团的{role_title(s.reviewer)}审阅（K1、P5）")
        if s.status == ReviewStatus.reviewed:
            raise conflict(f"{s.title} {s.period} 已由 {s.reviewed_by} 审阅")
        if not comment.strip() or len(comment) > COMMENT_MAX:
            raise invalid(f"comment：审阅意见须为 1 至 {COMMENT_MAX} 个字")

    def review(self, actor: Actor, comment: str, now: datetime) -> None:
        self.check(actor, comment)
        s = self.state
        s.status, s.reviewed_by, s.reviewed_at, s.comment = ReviewStatus.reviewed, actor.username, now, comment.strip()
        s.seq += 1

    # ---- E1: the missed review climbs the ladder ----------------------------------------------
    def next_step_at(self, cal: WorkCalendar) -> datetime | None:
        s = self.state
        if s.status == ReviewStatus.reviewed or s.escalation_level >= len(self.ladder):
            return None
        return cal.escalation_at(s.due_at, s.escalation_level + 1)

    def escalate_if_due(self, cal: WorkCalendar, now: datetime) -> list[tuple[int, Role]]:
        """The levels reached by `now` (each once), with the role each one tells."""
        reached = []
        while (at := self.next_step_at(cal)) is not None and now >= at:
            s = self.state
            s.escalation_level += 1
            role = self.ladder[s.escalation_level - 1]
            s.escalated_to.append(role)
            s.seq += 1
            reached.append((s.escalation_level, role))
        return reached
