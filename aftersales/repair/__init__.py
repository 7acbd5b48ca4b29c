"""The repair procedure (维修), rules R1–R9 with approvals A1–A3, as a pure state machine.

    registered ─agree_appointment─ scheduled ─record_survey─ surveying ─sign_survey × parties─┬─ estimate 0: surveyed
        ┌──────────────────────────────────────────────────────────────────────────────────┘
        └─ cost_approval ─decide (A1)─┬─ approved: surveyed
                                      └─ rejected / changes: survey_returned ─record_survey─ surveying …
    surveyed ─dispatch─ in_progress ─complete_work─ awaiting_inspection
    ─inspect(cs_staff) + inspect(repair_lead)─┬─ any failure: in_progress (same 'work' due)
                                              └─ both passed: inspected ─owner_sign_off─ completed
    ─revisit─┬─ revisited                              (WorkerScores, R9)
             ├─ reopen: in_progress (new 'work' due)
             └─ cs_manager_follow_up: follow_up ─follow_up─ revisited
    revisited ─cost_statement─ settlement ─decide (A2 audit, A3 contractor / deputy_chief_engineer confirm)─
    awaiting_payment ─pay─ closed                      (type A: DepositDeduction)

Deadlines: survey 1 working day from receipt (R2); work 3 / 7 working days from dispatch for single- /
multi-trade work (R4, R5), extended only with the owner's consent before it is due (R8); revisit 1
working day after the owner's sign-off (R7); cs_manager's follow-up 1 working day (V3); progress
replies to the owner every 4 working hours until the sign-off (R1/S3, non-escalating). Every other
deadline and every pending approval escalates per E1 through the shared tick.

A repair raised from a complaint names it as `parent_case_no`; every status change then emits a
`ParentUpdate` the workflow signals to the parent.

Each step of the procedure is a module of its own, composed here into `RepairCase`: intake.py (R1),
survey.py (R2), work.py (R4, R5, R8), inspection.py (R6, R7, R9), money.py (A1–A3), paid_service.py (R3);
what a repair records is state.py.
"""

from aftersales.repair.inspection import InspectionSteps
from aftersales.repair.intake import Intake
from aftersales.repair.money import MoneySteps
from aftersales.repair.paid_service import PaidServiceSteps
from aftersales.repair.survey import SurveySteps
from aftersales.repair.work import WorkSteps


class RepairCase(Intake, SurveySteps, WorkSteps, InspectionSteps, MoneySteps, PaidServiceSteps):
    """A repair: the steps above on one state (RepairState)."""
