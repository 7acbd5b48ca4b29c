"""A repair (维修) as a durable workflow: the repair machine (R1–R9, A1–A3) in the case shell, plus
the effects only repairs have: the deposit deduction (A3), worker scores (R9) and progress reports
to the complaint that opened it."""

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from aftersales.money import DeductionOutcome
    from aftersales.repair import RepairCase
    from aftersales.repair.state import DepositDeduction, ParentUpdate, RepairIntake, RepairState, WorkerScores
    from contracts.case import CaseResult, RepairProgress, StartCase

from workflows.case_workflow import DB_ACTIVITY, CaseWorkflow

REPAIR_PROGRESS_SIGNAL = "repair_progress"


class StartRepair(StartCase):
    intake: RepairIntake


@workflow.defn(name="RepairWorkflow")
class RepairWorkflow(CaseWorkflow):
    @workflow.run
    async def run(self, start: StartRepair) -> CaseResult:
        return await self._run_case(lambda ctx: RepairCase.open(start.case_no, start.intake, start.registered_by, ctx),
                                    start, lambda state: RepairCase(RepairState.model_validate(state)))

    async def _carry_out(self, effect) -> None:
        if isinstance(effect, DepositDeduction):  # A3: booked once, never below zero; the outcome told to the case
            outcome = await workflow.execute_activity("deduct_deposit", effect, result_type=DeductionOutcome,
                                                      **DB_ACTIVITY)
            assert isinstance(self._machine, RepairCase)
            self._machine.record_deduction(self._ctx(), effect.contractor_id, outcome)
            self._effects += self._machine.take_effects()
        elif isinstance(effect, WorkerScores):
            await workflow.execute_activity("record_worker_scores", effect, **DB_ACTIVITY)
        elif isinstance(effect, ParentUpdate):
            await self._tell_parent(effect)
        else:
            await super()._carry_out(effect)

    async def _tell_parent(self, u: ParentUpdate) -> None:
        parent = workflow.get_external_workflow_handle(u.parent_case_no)
        try:
            await parent.signal(REPAIR_PROGRESS_SIGNAL, RepairProgress(case_no=u.case_no, status=u.status,
                                                                      at=workflow.now()))
        except ApplicationError as e:  # the complaint is gone: the repair goes on regardless
            workflow.logger.warning("could not tell complaint %s: %s", u.parent_case_no, e)
