"""K1: the gm's review of the monthly complaint statistics, as a durable workflow opened by the scheduled
report. It tells the reviewer, waits for the `review` Update (the reviewer's comment) or for the due time
(the 10th of the next month at the close of the working day), and while the review is missing climbs the
ladder above the preparer per E1 (deputy_gm at the due time, gm a working day later), each level told once
and recorded. The read model (report_reviews) shows the review beside the report."""

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from aftersales.calendar import WorkCalendar, local_year
    from aftersales.case import CaseConfig
    from aftersales.errors import Rejection
    from aftersales.messages import beijing, role_title
    from aftersales.reports import ReportKind
    from aftersales.review import REVIEWED_BY, Review, ReviewState, ReviewStatus, review_due
    from aftersales.roles import Role
    from contracts.case import ConfigRequest, Notification
    from contracts.report import ReviewRecord, ReviewRequest, ReviewStart

from workflows.case_workflow import (
    DB_ACTIVITY, refuse_unvouched_request, rejection_error, send_in_background, until_changed_or_due,
)


def review_workflow_id(kind: str, period: str, company_id: str | None = None) -> str:
    """One review per report kind, period and company (K, P5), whatever the retries or catch-up runs; the group's
    roll-up keeps the id every review had before companies."""
    return f"report-review-{kind}-{period}" + (f"-{company_id}" if company_id else "")


@workflow.defn(name="ReportReviewWorkflow")
class ReportReviewWorkflow:
    def __init__(self) -> None:
        self._review: Review | None = None
        self._changed = False
        self._recorded = -1
        self._notices: dict[str, Notification] = {}

    @workflow.query
    def state(self) -> dict[str, Any]:
        if self._review is None:
            raise rejection_error(Rejection("conflict", "the review is still being opened"))
        return self._review.state.model_dump(mode="json")

    @workflow.update
    async def review(self, r: ReviewRequest) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self._review is not None)
        assert self._review is not None
        try:
            self._review.review(r.actor, r.comment, workflow.now())
        except Rejection as e:
            raise rejection_error(e) from None
        self._changed = True
        return self._review.state.model_dump(mode="json")

    @review.validator
    def _check_review(self, r: ReviewRequest) -> None:
        refuse_unvouched_request(r)  # P4: the reviewer as the API vouched for it
        if self._review is not None:
            try:
                self._review.check(r.actor, r.comment)
            except Rejection as e:
                raise rejection_error(e) from None

    @workflow.run
    async def run(self, start: ReviewStart) -> dict[str, Any]:
        year = local_year(workflow.now())
        config = await workflow.execute_activity(
            "load_case_config", ConfigRequest(years=[year, year + 1]), result_type=CaseConfig, **DB_ACTIVITY)
        cal = WorkCalendar(config.calendar)
        kind = ReportKind(start.kind)
        state = ReviewState(report_id=start.report_id, kind=kind, period=start.period, title=start.title,
                            reviewer=REVIEWED_BY[kind], due_at=review_due(start.period, cal),
                            company_id=start.company_id, company_name=start.company_name, roll_up=start.roll_up)
        review = self._review = Review(state, config.ladder)
        self._tell(state.reviewer, "review", f"[待审阅] {state.title} {state.period}",
                   f"{state.title}（{state.period}）已生成，请于 {beijing(state.due_at)} 前审阅（K1）。")
        while True:
            await self._record()
            if state.status == ReviewStatus.reviewed:
                break
            await until_changed_or_due(lambda: self._changed, review.next_step_at(cal))
            self._changed = False
            for level, role in review.escalate_if_due(cal, workflow.now()):
                self._tell(role, f"e{level}", f"[审阅逾期·第 {level} 级] {state.title} {state.period}",
                           f"{state.title}（{state.period}）应由{role_title(state.reviewer)}于 {beijing(state.due_at)} 前审阅，"
                           f"至今未审阅，已升级至第 {level} 级（{role_title(role)}）（K1，E1）。")
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._notices)
        await self._record()
        return state.model_dump(mode="json")

    def _tell(self, role: Role, step: str, subject: str, body: str) -> None:
        s = self._review.state if self._review else None
        assert s is not None
        send_in_background(Notification(
            notification_id=f"{workflow.info().workflow_id}:{step}", case_no=f"report-{s.report_id}", roles=[role],
            # K, P5: a company's review is its own people's (its role mailbox the fallback); the roll-up the group's
            company_id=s.company_id, group_only=s.roll_up, subject=subject, body=body, reason=f"K1 review of report {s.report_id} ({step})"), self._notices, self._wake)

    def _wake(self) -> None:
        self._changed = True

    async def _record(self) -> None:
        assert self._review is not None
        s = self._review.state
        if s.seq != self._recorded:
            seq = s.seq
            await workflow.execute_activity(
                "record_report_review", ReviewRecord(workflow_id=workflow.info().workflow_id, state=s.model_copy()),
                **DB_ACTIVITY)
            self._recorded = seq
