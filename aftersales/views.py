"""How a case is shown: the live view (`GET /cases/{case_no}`, the workflow's query) and the row the
projection writes to the read model. Both are pure functions of the case state."""

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from aftersales import access
from aftersales.approvals import a1_status
from aftersales.case import CaseState, CaseType, register_reminds
from aftersales.fees import fen
from aftersales.next_actors import next_actors, next_columns, waiting_for
from aftersales.privacy import mask_personal
from aftersales.properties import normalize_building, normalize_text
from aftersales.roles import Role

_INTERNAL = {"seq", "notice_seq", "fallback_years_noted", "base_level"}


def escalated_to(level: int, ladder: list[Role]) -> Role | None:
    return ladder[level - 1] if 0 < level <= len(ladder) else None


def case_view(state: CaseState, now: datetime, ladder: list[Role], *, timeline: bool = True) -> dict[str, Any]:
    view = state.model_dump(mode="json", exclude=_INTERNAL if timeline else _INTERNAL | {"timeline"})
    level = state.escalation_level
    view.update(
        type=state.case_type.value,  # as the API contract names it (also `case_type`)
        deadlines=[d.view(now, dumped) for d, dumped in zip(state.deadlines, view["deadlines"])],
        escalation_level=level,
        escalated_to=escalated_to(level, ladder),
        overdue=state.overdue(now),
        waiting_for=waiting_for(state),
        next_actors=[a.model_dump(mode="json") for a in next_actors(state)],
        version=state.seq,
        files=[f.model_dump(mode="json") for f in state.files],  # D3: the references, also without the timeline
    )
    brief = state.decision()
    if brief is not None:  # A4: what the pending approval decides, for the approver
        view["decision"] = brief.model_dump(mode="json")
    amount = state.a1_amount()
    if amount is not None:  # A1: the band of the amount to be paid, the approvals done and missing
        view["a1"] = a1_status(amount, state.approvals).model_dump(mode="json")
    return view


class DeadlineFact(BaseModel):
    """A deadline as the reports count it (case_deadlines): its rule, when it was due, when it was met."""
    key: str
    rule: str
    due_at: datetime
    met_at: datetime | None = None
    missed: bool = False
    waived: bool = False
    # E4: a deadline the register reminds its owners of (a progress note), and who they are
    reminds: bool = False
    owners: list[Role] = []
    department: str | None = None


class CaseRow(BaseModel):
    """Columns of the `cases` table (typed, so datetimes survive the trip to the activity)."""
    case_no: str
    case_type: str
    status: str
    channel: str | None
    category: str | None
    project: str
    building: str
    unit: str
    unit_id: int | None = None
    building_key: str = ""
    department: str | None
    handler: str | None
    major: bool
    justified: bool | None
    escalation_level: int
    overdue: bool
    customer_name: str
    customer_phone_masked: str
    # The full number travels to the projection activity only (encrypted by the payload codec, P4); the
    # activity keeps its keyed hash (customer_phone_hmac) and never writes the number (P3).
    customer_phone: str | None = None
    customer_phone_hmac: str | None = None
    received_at: datetime
    closed_at: datetime | None
    outcome: str | None
    satisfaction: int | None
    linked_case_no: str | None
    company_id: str | None = None     # P5: the case's company (rules 3; else kept as the register has it)
    project_key: str | None = None    # P5: its project, as the property register keys it
    contractor_id: str | None = None  # P2: the contractor the survey names (who sees a repair)
    reached_roles: str = ""           # P2: ",finance,auditor," the roles of access.SEES_REACHED it reached
    next_roles: str = ""              # "|cs_staff|butler|", who acts next
    next_user: str | None = None      # and the named person, when there is one (the handler)
    compensation_fen: int | None = None
    compensation_paid: bool | None = None
    paid_service: bool = False
    service_fee_fen: int | None = None
    service_paid_fen: int | None = None
    work_rounds: int | None = None
    first_pass: bool | None = None
    arrivals: int = 0
    arrivals_on_time: int = 0
    revisits: int = 0
    satisfaction_by: str | None = None   # O4: "owner" or "staff" (provenance_facts)
    sign_off_by: str | None = None
    consents_owner: int = 0
    consents_owner_yes: int = 0
    consents_staff: int = 0
    consents_staff_yes: int = 0
    seq: int
    updated_at: datetime
    deadlines: list[DeadlineFact] = []  # into case_deadlines, not a column of `cases`
    # Sent once, when the case closes (the register's answer to GET /cases/{no} past Temporal's
    # retention), without the timeline, which the projection sends entry by entry; None while open.
    view: dict[str, Any] | None = None

    def columns(self) -> dict[str, Any]:
        """The values of the `cases` table's columns: without the deadlines (their own table) and without
        the owner's number, which is never written (P3; its keyed hash is)."""
        return self.model_dump(exclude={"deadlines", "customer_phone"})


def case_row(state: CaseState, now: datetime, ladder: list[Role]) -> CaseRow:
    """The read-model row of a case: its columns, and the case's view (without the timeline) once it is
    closed. The phone is masked, and so is any number typed into the free text: the read model holds
    no phone number (P3)."""
    view = case_view(state, now, ladder, timeline=False) if state.closed else None
    facts = access.case_facts(facts_view(state))
    return CaseRow(
        case_no=state.case_no,
        case_type=state.case_type.value,
        status=state.status,
        channel=getattr(state, "channel", None),
        category=getattr(state, "category", None),
        project=state.customer.project,
        building=state.customer.building,
        unit=state.customer.unit,
        unit_id=state.customer.unit_id,
        building_key=normalize_building(state.customer.building),
        department=state.department,
        handler=state.handler,
        major=state.major,
        justified=getattr(state, "justified", None),
        escalation_level=state.escalation_level,
        overdue=state.overdue(now),
        customer_name=state.customer.name,
        customer_phone_masked=state.customer.masked().phone,
        customer_phone=state.customer.phone,
        received_at=state.received_at,
        closed_at=state.closed_at,
        outcome=state.outcome,
        satisfaction=state.satisfaction,
        linked_case_no=getattr(state, "linked_case_no", None) or getattr(state, "parent_case_no", None),
        company_id=state.company_id,
        project_key=state.project_key or normalize_text(state.customer.project),
        contractor_id=facts["contractor_id"],
        reached_roles=access.reached_column(facts["reached_roles"]),
        **next_columns(next_actors(state)),
        **money_columns(state),
        **repair_facts(state),
        **provenance_facts(state),
        deadlines=[DeadlineFact(key=d.key, rule=d.rule, due_at=d.due_at, met_at=d.met_at, missed=d.missed,
                                waived=d.waived, reminds=register_reminds(d),
                                owners=d.owners, department=d.department) for d in latest_deadlines(state)],
        seq=state.seq,
        updated_at=now,
        view=mask_personal(view) if view is not None else None,
    )


def facts_view(state: CaseState) -> dict[str, Any]:
    """The parts of a case's view that `access.case_facts` reads (P2: who may see it), taken from the state
    without dumping all of it: the projection needs them at every step of every case, and the whole view
    was a fifth of an action's workflow task. tests/rules/driver.py checks at every step of
    every rule test that these give the same facts as the case's view."""
    return state.facts_view()


def latest_deadlines(state: CaseState) -> list:
    """The latest deadline of each key, as the register keeps them (case_deadlines): a case sets a key
    again with each progress note or round of work, so its list grows with its age, while what the
    projection sends per step stays the size of its keys."""
    return list({d.key: d for d in state.deadlines}.values())


ON_TIME_ARRIVAL = timedelta(minutes=10)  # K3: arrived no more than 10 minutes late (R1)


def repair_facts(state: CaseState) -> dict[str, Any]:
    """A repair's facts for the reports (K2, K3): rounds of work (2+ = reworked, R7), whether its work
    passed the first inspection (R6: no inspection failed; None before any), arrivals and those on
    time, revisits (V3). A complaint has none."""
    if state.case_type != CaseType.repair:
        return {}
    inspected = bool(getattr(state, "inspection_history", None) or getattr(state, "inspections", None))
    arrivals = getattr(state, "arrivals", [])
    return dict(
        work_rounds=getattr(state, "work_round", 0) or None,
        first_pass=(getattr(state, "failed_inspections", 0) == 0) if inspected else None,
        arrivals=len(arrivals),
        arrivals_on_time=sum(1 for a in arrivals if a.arrived_at - a.appointment_at <= ON_TIME_ARRIVAL),
        revisits=len(getattr(state, "revisits", [])),
    )


def given_by(provenance: Any) -> str:
    """O4: "owner" for a fact the owner gave themselves (code or link), else "staff": recorded for them (代录), which
    every owner fact of a case opened before rules 4 was."""
    return "owner" if provenance is not None and provenance.by.value == "owner" else "staff"


def provenance_facts(state: CaseState) -> dict[str, Any]:
    """O4, K3: who gave the facts the reports count by provenance — the satisfaction (a complaint's, C7; a repair's
    latest revisit, R7), the latest sign-off (R6), and the owner's answers to more time asked (R8)."""
    if state.case_type == CaseType.repair:
        revisits, sign_offs = getattr(state, "revisits", []), getattr(state, "sign_offs", [])
        satisfaction = revisits[-1].provenance if revisits else None
        sign_off_by = given_by(sign_offs[-1].provenance) if sign_offs else None
    else:
        satisfaction, sign_off_by = getattr(state, "satisfaction_provenance", None), None
    consents = getattr(state, "consents", [])
    owner = [c for c in consents if given_by(c.provenance) == "owner"]
    staff = [c for c in consents if given_by(c.provenance) == "staff"]
    return dict(satisfaction_by=given_by(satisfaction) if state.satisfaction is not None else None,
                sign_off_by=sign_off_by, consents_owner=len(owner), consents_owner_yes=sum(c.consented for c in owner),
                consents_staff=len(staff), consents_staff_yes=sum(c.consented for c in staff))


def money_columns(state: CaseState) -> dict[str, Any]:
    """The register's money columns (fen): a complaint's compensation and whether finance paid it (A1;
    None without compensation), an owner-paid repair's quoted and paid amounts (R3)."""
    compensation = getattr(state, "compensation", None) or None
    quote = getattr(state, "quote", None)
    service_payment = getattr(state, "service_payment", None)
    return dict(
        compensation_fen=fen(compensation),
        compensation_paid=(getattr(state, "compensation_payment", None) is not None
                           if compensation else None),
        paid_service=bool(getattr(state, "paid_service", False)),
        service_fee_fen=fen(quote.total) if quote is not None else None,
        service_paid_fen=fen(service_payment.amount) if service_payment is not None else None,
    )
