"""A complaint (投诉) as a durable workflow: the complaint machine (C1–C11) in the case shell, plus the
repair a complaint may open (a child workflow that reports its progress back by signal)."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from aftersales.calendar import local_year
    from aftersales.complaint import ComplaintCase
    from aftersales.complaint.state import ComplaintIntake, ComplaintState, OpenLinkedRepair
    from aftersales.repair.state import CASE_NO_PREFIX as REPAIR_PREFIX
    from contracts.case import CaseResult, NumberRequest, RepairProgress, StartCase

from workflows.case_workflow import DB_ACTIVITY, CaseWorkflow, vouch_for_start
from workflows.repair import REPAIR_PROGRESS_SIGNAL, RepairWorkflow, StartRepair


class StartComplaint(StartCase):
    intake: ComplaintIntake


@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflow(CaseWorkflow):
    AWAITED_EFFECTS = (OpenLinkedRepair,)

    @workflow.run
    async def run(self, start: StartComplaint) -> CaseResult:
        return await self._run_case(
            lambda ctx: ComplaintCase.open(start.case_no, start.intake, start.registered_by, ctx), start,
            lambda state: ComplaintCase(ComplaintState.model_validate(state)))

    async def _carry_out(self, effect) -> None:
        if isinstance(effect, OpenLinkedRepair):
            await self._open_repair(effect)
        else:
            await super()._carry_out(effect)

    async def _open_repair(self, e: OpenLinkedRepair) -> None:
        """Numbers the repair (once per request, whatever retries) and starts it as a child workflow that
        outlives nothing: the complaint cannot close before it (ABANDON only spares it a cancel on reset)."""
        assert self._machine is not None and self._config is not None
        now = workflow.now()
        repair_no: str = await workflow.execute_activity(
            "number_case", NumberRequest(scope="repair", prefix=REPAIR_PREFIX, idempotency_key=e.key, now=now,
                                         year=local_year(now, self._config.calendar.timezone)),
            result_type=str, **DB_ACTIVITY)
        await workflow.start_child_workflow(
            RepairWorkflow.run, vouch_for_start(StartRepair(  # P4: this complaint vouches for its repair
                case_no=repair_no, registered_by=e.requested_by, intake=e.intake, local_db_steps=self._local_db_steps,
                organisation=e.organisation), repair_no),
            id=repair_no, task_queue=workflow.info().task_queue,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=f"{repair_no} · 维修 repair for complaint {self._machine.state.case_no}")
        machine: ComplaintCase = self._machine  # type: ignore[assignment]
        machine.record_linked_repair(self._ctx(), repair_no)

    @workflow.signal(name=REPAIR_PROGRESS_SIGNAL)
    async def repair_progress(self, p: RepairProgress) -> None:
        await workflow.wait_condition(lambda: self._machine is not None)
        machine: ComplaintCase = self._machine  # type: ignore[assignment]
        machine.record_repair_progress(self._ctx(), p.case_no, p.status)
        self._effects += machine.take_effects()
        self._changed = True
