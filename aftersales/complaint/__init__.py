"""The complaint procedure (投诉处理), rules C1–C11, as a pure state machine.

    registered ─classify─┬─ unjustified: unjustified_review ─decide(cs_manager)─ approve: reply, closed (C2)
                         │                                                    / send back with a reason: registered
                         └─ assigned ─department_feedback─ investigated ─propose_solution─
    awaiting_approval ─decide─ approved ─inform_customer─ customer_informed ─record_satisfaction─
    satisfaction_recorded ─summarise─ summarised (major: summary_review ─decide(gm)─ summarised) ─close─ closed

Compensation: the solution's route is C7's approver plus the A1 band of the compensation
(gm last for a major complaint, whatever the amount); `finance` records it paid, with a reference,
before the case closes (record_compensation_paid).

Deadlines: opinion to the customer 3 working days from receipt (C4), close 7 days from receipt (C6),
progress note every 4 working hours (C5), department feedback 3 working days from classification
(C3), solution 1 working day after the investigation (C4). Major complaints (C8) start escalation
at deputy_gm + gm (E2) and need the emergency meeting record and the special report; an authority
referral (C9) needs the manager's in-person answer and written report before closing.

Each step of the procedure is a module of its own, composed here into `ComplaintCase`: intake.py (C1,
C11), classification.py (C2), handling.py (C3, P7), solution.py (C4, C7), major.py (C8, C9), closing.py
(C6, C10, the repair a complaint opens), compensation.py (A1); what a complaint records is state.py.
Progress notes (C5) are every case's (aftersales/machine.py).
"""

from aftersales.complaint.classification import Classification
from aftersales.complaint.closing import Closing
from aftersales.complaint.compensation import Compensation
from aftersales.complaint.handling import Handling
from aftersales.complaint.intake import Intake
from aftersales.complaint.major import MajorComplaint
from aftersales.complaint.solution import Solution


class ComplaintCase(Intake, Classification, Handling, Solution, MajorComplaint, Closing, Compensation):
    """A complaint: the steps above on one state (ComplaintState)."""
