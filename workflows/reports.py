"""A scheduled report (K1, K2): the schedule starts this workflow; it makes the report of the last whole
period (once per period, whatever the retries or a buffered catch-up run) and e-mails it to its readers
with the workbook attached; the monthly complaint statistics then open the gm's review (K1,
workflows/report_review.py)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from aftersales.reports import DAILY_ON_WORKING_DAYS, READERS, ReportKind, previous_period
    from aftersales.review import REVIEWED_BY
    from contracts.report import ReportRef, ReviewStart, ScheduledReport

from workflows.report_review import ReportReviewWorkflow, review_workflow_id

REPORT_ACTIVITY = dict(start_to_close_timeout=timedelta(minutes=5),
                       retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5),
                                                maximum_attempts=0))
# A report e-mail is retried for a day, then the run fails visibly in the Web UI (E3: never silently).
EMAIL_ACTIVITY = dict(start_to_close_timeout=timedelta(minutes=2), schedule_to_close_timeout=timedelta(hours=24),
                      retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=10)))


@workflow.defn(name="ScheduledReportWorkflow")
class ScheduledReportWorkflow:
    @workflow.run
    async def run(self, kind: str) -> ReportRef:
        report_kind = ReportKind(kind)
        period = previous_period(report_kind, workflow.now())
        if report_kind in DAILY_ON_WORKING_DAYS:  # K2: the schedule fires daily; a day off has no list
            working = await workflow.execute_activity("is_working_day", period, result_type=bool, **REPORT_ACTIVITY)
            if not working:
                return ReportRef(id=0, kind=kind, period=period, title="非工作日，不出报表")
        ref = await workflow.execute_activity("generate_scheduled_report", ScheduledReport(kind=kind, period=period),
                                              result_type=ReportRef, **REPORT_ACTIVITY)
        await workflow.execute_activity("email_report", args=[ref, READERS[report_kind]], result_type=int,
                                        **EMAIL_ACTIVITY)
        if report_kind in REVIEWED_BY:
            try:  # K1: reviewed by the gm by the 10th; the review lives on after this run (abandoned, not ended)
                await workflow.start_child_workflow(
                    ReportReviewWorkflow.run, ReviewStart(report_id=ref.id, kind=kind, period=period, title=ref.title),
                    id=review_workflow_id(kind, period), parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"{ref.title} {period} · 待总经理审阅")
            except WorkflowAlreadyStartedError:
                pass  # a catch-up run of the same period: the review is already open (or done)
        return ref
