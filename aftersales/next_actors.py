"""Who acts next on a case: for every state of both case types, the roles (and the named
person, the department or the contractor where there is one) whose action moves the case on. The
workbench's 我的待办 and the register's `next_role` / `next_user` filters read it; the API shows it as
`next_actors` on the case. A pure function of the state: what the rules (C1–C10, R1–R9, A1–A3) expect."""

from typing import Any

from pydantic import BaseModel

from aftersales.case import CaseState
from aftersales.roles import Role

R = Role


class NextActor(BaseModel):
    role: Role
    username: str | None = None       # the named person (the handler)
    department: str | None = None     # narrows dept_head / dept_handler
    contractor_id: str | None = None  # narrows the contractor role
    action: str                       # what they are to do (the action's name)


# status → (action, roles) of the step that moves the case on; None: decided by the state (below).
COMPLAINT_STEPS: dict[str, tuple[str, tuple[Role, ...]] | None] = {
    "registered": ("classify", (R.cs_staff,)),
    "unjustified_review": None,          # C2: the pending ruling (waiting_for)
    "assigned": None,                    # C3: the head names a handler, then the handler's feedback
    "investigated": None,                # C4: the handler proposes the solution
    "awaiting_approval": None,           # C7: the pending approval step
    "approved": ("inform_customer", (R.cs_staff,)),
    "customer_informed": ("record_satisfaction", (R.cs_staff,)),
    "satisfaction_recorded": ("summarise", (R.cs_staff,)),
    "summary_review": None,              # the pending review of the summary
    "summarised": ("close", (R.cs_staff,)),
    "closed": (),                        # type: ignore[dict-item]
}
REPAIR_STEPS: dict[str, tuple[str, tuple[Role, ...]] | None] = {
    "registered": ("agree_appointment", (R.cs_staff, R.butler)),
    "scheduled": ("record_survey", (R.repair_lead, R.engineering)),
    "surveying": None,                   # R2: the parties that have not signed yet
    "survey_returned": ("record_survey", (R.repair_lead, R.engineering)),
    "cost_approval": None,               # A1: the pending approval step
    "surveyed": ("dispatch", (R.cs_staff, R.engineering)),
    "quoted": ("accept_quote", (R.cs_staff, R.butler)),
    "quote_accepted": ("dispatch", (R.cs_staff, R.engineering)),
    "in_progress": None,                 # R5: whoever the work went to
    "awaiting_inspection": None,         # R6: the inspectors who have not inspected this round yet
    "inspected": ("owner_sign_off", (R.cs_staff, R.butler)),
    "completed": ("revisit", (R.cs_staff,)),
    "follow_up": ("follow_up", (R.cs_manager,)),
    "revisited": ("cost_statement", (R.repair_lead,)),
    "settlement": None,                  # A2: the pending approval step
    "awaiting_payment": ("pay", (R.finance,)),
    "declined": (),                      # type: ignore[dict-item]
    "closed": (),                        # type: ignore[dict-item]
}
STEPS = {"complaint": COMPLAINT_STEPS, "repair": REPAIR_STEPS}


def waiting_for(state: CaseState) -> Role | None:
    """The role whose approval the case waits for, if any."""
    pending = next((a for a in reversed(state.approvals) if a.status == "pending"), None)
    return pending.current().role if pending and pending.current() else None


def next_actors(state: CaseState) -> list[NextActor]:
    steps = STEPS[state.case_type.value]
    step = steps.get(state.status, ())
    dept = state.department
    out: list[NextActor] = []
    if state.status == "revisited" and getattr(state, "paid_path", False):
        # R3: a paid job waits for the owner's payment, recorded by finance (no cost statement on this path)
        out = [NextActor(role=R.finance, action="record_service_payment")]
    elif step:
        action, roles = step
        out = [NextActor(role=r, action=action) for r in roles]
    elif step is None:
        if (approver := waiting_for(state)) is not None:
            out = [NextActor(role=approver, action="decide",
                             department=dept if approver in (R.dept_head, R.dept_handler) else None)]
        elif state.status in ("unjustified_review", "summary_review"):
            out = [NextActor(role=R.cs_manager, action="decide")]
        elif state.status == "assigned" and not state.handler:
            out = [NextActor(role=R.dept_head, department=dept, action="assign_handler")]
        elif state.status in ("assigned", "investigated"):
            action = "department_feedback" if state.status == "assigned" else "propose_solution"
            out = [NextActor(role=R.dept_handler, username=state.handler, department=dept, action=action)]
        elif state.status == "surveying":
            survey = getattr(state, "survey", None)
            missing = survey.missing_roles if survey is not None else []
            out = [NextActor(role=r, action="sign_survey",
                             contractor_id=survey.contractor_id if r == R.contractor and survey else None)
                   for r in missing]
        elif state.status == "awaiting_inspection":
            done = {i.role for i in getattr(state, "inspections", [])}
            out = [NextActor(role=r, action="inspect") for r in (R.cs_staff, R.repair_lead) if r not in done]
        elif state.status == "in_progress":
            contractor = getattr(state, "survey", None) and state.survey.contractor_id  # type: ignore[attr-defined]
            if getattr(state, "to_contractor", False) and contractor:
                out = [NextActor(role=R.contractor, contractor_id=contractor, action="complete_work")]
            else:
                out = [NextActor(role=r, action="complete_work") for r in (R.repair_lead, R.engineering)]
    if getattr(state, "compensation_owed", False) and state.status in ("summarised", "satisfaction_recorded",
                                                                       "customer_informed"):
        out.append(NextActor(role=R.finance, action="record_compensation_paid"))   # A1: paid before close
    return out


def next_columns(actors: list[NextActor]) -> dict[str, Any]:
    """The register's columns: "|cs_staff|butler|" (matched with LIKE '%|role|%') and the named person."""
    roles = sorted({a.role.value for a in actors})
    return {"next_roles": f"|{'|'.join(roles)}|" if roles else "",
            "next_user": next((a.username for a in actors if a.username), None)}
