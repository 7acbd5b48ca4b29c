"""A scheduled report (K1, K2): the schedule starts this workflow; it makes the reports of the last whole
period (once per period, whatever the retries or a buffered catch-up run) and e-mails each to its readers
with the workbook attached; the monthly complaint statistics then open the gm's review (K1,
workflows/report_review.py).

K, P5: each active company gets its own report (its cases only), mailed to that company's readers and reviewed by
its own gm; the group's roll-up goes to the group's accounts and is reviewed by the group's gm. A run started
before this (no `reports-per-company` marker in its history) made the roll-up alone and keeps doing so."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from aftersales.reports import DAILY_ON_WORKING_DAYS, READERS, ReportKind, previous_period
    from aftersales.review import REVIEWED_BY
    from contracts.report import ReportRef, ReviewStart, ScheduledReport, ScheduledRun

from workflows.report_review import ReportReviewWorkflow, review_workflow_id

REPORT_ACTIVITY = dict(start_to_close_timeout=timedelta(minutes=5),
                       retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5),
                                                maximum_attempts=0))
# A report e-mail is retried for a day, then the run fails visibly in the Web UI (E3: never silently).
EMAIL_ACTIVITY = dict(start_to_close_timeout=timedelta(minutes=2), schedule_to_close_timeout=timedelta(hours=24),
                      retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=10)))
PER_COMPANY = "reports-per-company"  # declared in workflows.case_workflow.PATCHES


@workflow.defn(name="ScheduledReportWorkflow")
class ScheduledReportWorkflow:
    @workflow.run
    async def run(self, kind: str) -> ScheduledRun:
        report_kind = ReportKind(kind)
        period = previous_period(report_kind, workflow.now())
        if report_kind in DAILY_ON_WORKING_DAYS:  # K2: the schedule fires daily; a day off has no list
            working = await workflow.execute_activity("is_working_day", period, result_type=bool, **REPORT_ACTIVITY)
            if not working:
                return ScheduledRun(kind=kind, period=period, skipped="非工作日，不出报表")
        if not workflow.patched(PER_COMPANY):  # a run started before companies: the roll-up alone
            return ScheduledRun(kind=kind, period=period, reports=[await self._report(report_kind, period, None)])
        companies = await workflow.execute_activity("report_companies", result_type=list[str], **REPORT_ACTIVITY)
        # each company's, then the group's roll-up (None); one after the other: a company's report is small, and a
        # catch-up run finds those already made
        return ScheduledRun(kind=kind, period=period,
                            reports=[await self._report(report_kind, period, c) for c in [*companies, None]])

    async def _report(self, kind: ReportKind, period: str, company_id: str | None) -> ReportRef:
        ref = await workflow.execute_activity(
            "generate_scheduled_report", ScheduledReport(kind=kind.value, period=period, company_id=company_id),
            result_type=ReportRef, **REPORT_ACTIVITY)
        await workflow.execute_activity("email_report", args=[ref, READERS[kind]], result_type=int, **EMAIL_ACTIVITY)
        if kind in REVIEWED_BY:
            # K1, P5: reviewed by the company's gm (the roll-up: the group's) by the 10th; the review lives on after
            # this run (abandoned, not ended)
            roll_up = company_id is None and workflow.patched(PER_COMPANY)
            try:
                await workflow.start_child_workflow(
                    ReportReviewWorkflow.run, ReviewStart(report_id=ref.id, kind=kind.value, period=period,
                                                          title=ref.title, company_id=ref.company_id,
                                                          company_name=ref.company_name, roll_up=roll_up),
                    id=review_workflow_id(kind.value, period, company_id), parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"{ref.title} {period} · 待总经理审阅")
            except WorkflowAlreadyStartedError:
                pass  # a catch-up run of the same period: the review is already open (or done)
        return ref
