"""A complaint (投诉) as a durable workflow: the complaint machine (C1–C11) in the case shell."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from aftersales.complaint import ComplaintCase, ComplaintIntake
    from workflows.messages import CaseResult, StartCase

from workflows.case_workflow import CaseWorkflow


class StartComplaint(StartCase):
    intake: ComplaintIntake


@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflow(CaseWorkflow):
    @workflow.run
    async def run(self, start: StartComplaint) -> CaseResult:
        return await self._run_case(
            lambda ctx: ComplaintCase.open(start.case_no, start.intake, start.registered_by, ctx))
