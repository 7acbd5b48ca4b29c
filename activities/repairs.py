"""Activities only repairs need: the quality-deposit deduction (A3), worker scores (R9), and numbering a
repair that a complaint opens (C1 numbering, R1). Each is idempotent, so Temporal may retry it freely."""

import structlog
from temporalio import activity

from adapters.temporal.case_numbers import skip_taken, temporal_holds
from adapters.config import Settings
from adapters.db import ledger
from aftersales.money import DeductionOutcome
from adapters.db.numbering import claim_case_no, request_fingerprint
from aftersales.repair.state import DepositDeduction, WorkerScores
from contracts.case import NumberRequest

log = structlog.get_logger()


class RepairActivities:
    def __init__(self, sessionmaker, settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    @activity.defn(name="deduct_deposit")
    async def deduct_deposit(self, d: DepositDeduction) -> DeductionOutcome:
        """A3: books the deduction once per entry_key, never below zero; the outcome (what the deposit
        covered, the shortfall) goes back to the case, which tells finance and the contractor."""
        async with self.sessionmaker() as session:
            outcome = await ledger.deduct_once(
                session, entry_key=d.entry_key, contractor_id=d.contractor_id, case_no=d.case_no, amount=d.amount,
                note=f"维修单 {d.case_no} A类结算扣款 (A3)", at=activity.info().scheduled_time)
        log.info("deposit deduction", contractor_id=d.contractor_id, amount=str(d.amount),
                 deducted=str(outcome.deducted), shortfall=str(outcome.shortfall), booked_now=outcome.booked_now)
        return outcome

    @activity.defn(name="record_worker_scores")
    async def record_worker_scores(self, w: WorkerScores) -> None:
        """R9: one row per evaluation and worker, added, never written over (a retry adds nothing)."""
        async with self.sessionmaker() as session:
            await ledger.record_evaluation(session, evaluation_key=w.key, case_no=w.case_no, workers=w.workers,
                                           source=w.source, parts=1, quality=w.quality, attitude=w.attitude,
                                           at=w.at, tz=self.settings.timezone)

    @activity.defn(name="number_case")
    async def number_case(self, r: NumberRequest) -> str:
        """A case number for a case another case opens; the key makes a retry return the same number.
        A number Temporal already holds (a register restored behind it) is skipped (C1: never reused): the child
        workflow is started only after this activity completed, so a held number is another case's."""
        async with self.sessionmaker() as session:
            for _ in range(5):
                case_no, _ = await claim_case_no(session, scope=r.scope, prefix=r.prefix, year=r.year,
                                                 idempotency_key=r.idempotency_key,
                                                 fingerprint=request_fingerprint({"key": r.idempotency_key}),
                                                 now=r.now)
                held = await temporal_holds(activity.client(), case_no)
                if held is None:
                    raise RuntimeError(f"Temporal cannot tell now whether it holds {case_no}")  # retried
                if not held:
                    return case_no
                await skip_taken(session, activity.client(), case_no, prefix=r.prefix, year=r.year)
        raise RuntimeError("no free case number in 5 attempts")  # retried

    def all(self) -> list:
        return [self.deduct_deposit, self.record_worker_scores, self.number_case]
