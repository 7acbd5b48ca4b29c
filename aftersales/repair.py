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
"""

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from aftersales import access
from aftersales import actions as A
from aftersales.actions import Instant, ShortText, Text
from aftersales.actor import Actor
from aftersales.approvals import a1_missing, route_settlement
from aftersales.case import (
    CaseMachine, CaseState, CaseType, Ctx, Customer, Effect, not_in_the_future, not_in_the_past,
)
from aftersales.errors import conflict, forbidden, invalid
from aftersales.messages import APPROVAL_STATUS_NAMES, DEADLINE_NAMES, FOLLOW_UP_NAMES, beijing, role_title, yuan
from aftersales.money import DeductionOutcome
from aftersales.fees import PAYMENT_METHODS_CN, PaymentMethod, PricedQuote, price_quote
from aftersales.roles import Role

CASE_NO_PREFIX = "WX"  # 维修

SURVEY_WORKING_DAYS = 1                   # R2 [S1 §3.4.5]
SINGLE_TRADE_WORKING_DAYS = 3             # R4 [S1 §3.4.5]
MULTI_TRADE_WORKING_DAYS = 7              # R4
REVISIT_WORKING_DAYS = 1                  # R7 [S1 §3.5.4]
FOLLOW_UP_WORKING_DAYS = 1                # V3: cs_manager follows a dissatisfied owner up
LATE_ARRIVAL_GRACE = timedelta(minutes=10)  # R1 [S6 §3.2]
CONTRACTOR_SIGNS_FROM = Decimal("500")    # R2: the contractor need not attend at 500 yuan or less
LOW_SATISFACTION = 2                      # R7/V3: satisfaction ≤ 2 needs a follow-up

SURVEY_PARTIES = access.SURVEY_PARTIES  # R2
INSPECTORS = access.INSPECTORS  # R6


class RepairStatus(StrEnum):
    registered = "registered"
    scheduled = "scheduled"                  # appointment agreed (R1)
    surveying = "surveying"                  # survey recorded, co-signing (R2)
    survey_returned = "survey_returned"      # cost rejected or changes asked: re-record the survey (A1)
    cost_approval = "cost_approval"          # waiting for the A1 approvers
    surveyed = "surveyed"                    # survey complete and cost approved: ready to dispatch
    quoted = "quoted"                        # R3 paid service: quoted from the fee schedule, owner to answer
    quote_accepted = "quote_accepted"        # R3: the owner signed the repair slip (维修单): ready to dispatch
    in_progress = "in_progress"              # dispatched (R4, R5)
    awaiting_inspection = "awaiting_inspection"
    inspected = "inspected"                  # both inspections passed; the owner signs off (R6)
    completed = "completed"                  # owner signed off; revisit due (R7)
    follow_up = "follow_up"                  # cs_manager follows a dissatisfied owner up (V3)
    revisited = "revisited"                  # ready for the cost statement (A2)
    settlement = "settlement"                # cost statement under audit and confirmation (A2, A3)
    awaiting_payment = "awaiting_payment"    # settlement approved; finance pays (A3)
    closed = "closed"


OrderType = Literal["A", "B"]


class RepairIntake(BaseModel):
    """R1: what the hotline registers, like a complaint (C1), with location, trades and description."""
    model_config = ConfigDict(extra="forbid")
    customer: Customer
    trades: list[ShortText] = Field(min_length=1, max_length=10)
    description: Text
    requested_appointment: Instant
    paid_service: StrictBool = False
    parent_case_no: str | None = Field(default=None, pattern=r"^[A-Z]{2}-[0-9]{4}-[0-9]{6}$",
                                       description="the complaint this repair serves")


# ---- effects the workflow carries out ---------------------------------------------------------
class WorkerScores(BaseModel):
    """Effect (R9): one evaluation of each worker, kept as a row of its own (never written over): one per
    event — the owner's sign-off and the revisit of each round of work (a reopened repair adds its own)."""
    kind: Literal["worker_scores"] = "worker_scores"
    case_no: str
    workers: list[str]
    quality: int
    attitude: int
    at: datetime
    key: str  # the case, the round of work and the source: a retried write adds nothing
    source: Literal["sign_off", "revisit"]


class DepositDeduction(BaseModel):
    """Effect (A3): deduct a type-A settlement from the contractor's quality deposit, once per entry_key,
    never below zero; the outcome comes back to the case (record_deduction)."""
    kind: Literal["deposit_deduction"] = "deposit_deduction"
    entry_key: str
    contractor_id: str
    amount: Decimal
    case_no: str


class DeductionRecord(BaseModel):
    """A3: what the deposit covered of a deduction, and the shortfall."""
    contractor_id: str
    requested: Decimal
    deducted: Decimal
    shortfall: Decimal
    balance: Decimal
    at: datetime


class ParentUpdate(BaseModel):
    """Effect: tell the parent complaint this repair's new status (the workflow signals it)."""
    kind: Literal["parent_update"] = "parent_update"
    parent_case_no: str
    case_no: str
    status: str


RepairEffect = Effect | WorkerScores | DepositDeduction | ParentUpdate


# ---- what a repair records -------------------------------------------------------------------
class Arrival(BaseModel):
    appointment_at: datetime
    arrived_at: datetime
    owner_contacted: bool
    minutes_late: int
    flagged: bool
    recorded_by: str


class SurveySignature(BaseModel):
    role: Role
    by: str
    at: datetime


class Survey(BaseModel):
    round: int
    responsible_party: str
    contractor_id: str | None
    multi_trade: bool
    estimate: Decimal
    order_type: OrderType
    recorded_by: str
    recorded_at: datetime
    signatures: list[SurveySignature] = []
    completed_at: datetime | None = None

    @property
    def contractor_signs(self) -> bool:
        """R2: 500元以下 includes 500, so the contractor signs from 500.01, and only a contractor the survey
        names (P1)."""
        return self.estimate > CONTRACTOR_SIGNS_FROM and self.contractor_id is not None

    @property
    def required_roles(self) -> list[Role]:
        """R2: cs_staff, engineering, repair_lead, and the contractor above 500 yuan."""
        return [r for r in SURVEY_PARTIES if r != Role.contractor or self.contractor_signs]

    @property
    def missing_roles(self) -> list[Role]:
        signed = {s.role for s in self.signatures}
        return [r for r in self.required_roles if r not in signed]


class Inspection(BaseModel):
    role: Role
    by: str
    at: datetime
    passed: bool
    note: str | None = None
    work_round: int


class SignOff(BaseModel):
    quality: int
    attitude: int
    comment: str | None
    by: str
    at: datetime


class RevisitRecord(BaseModel):
    satisfaction: int
    quality: int
    attitude: int
    note: str | None
    follow_up: A.RevisitFollowUp | None
    by: str
    at: datetime


class QuoteRecord(PricedQuote):
    """R3: the quote told to the owner, with the prices of the schedule version it was made from."""
    round: int
    by: str
    at: datetime


class QuoteAcceptance(BaseModel):
    """R3: the owner accepted the fee and signed the repair slip (维修单)."""
    signed_by: str
    signed_at: datetime
    recorded_by: str
    recorded_at: datetime


class ServicePayment(BaseModel):
    """R3: the owner's payment, recorded by finance with its receipt number."""
    amount: Decimal
    method: PaymentMethod
    receipt_no: str
    by: str
    at: datetime


class Payment(BaseModel):
    amount: Decimal
    reference: str
    by: str
    at: datetime


class RepairState(CaseState):
    case_type: CaseType = CaseType.repair
    trades: list[str]
    requested_appointment: datetime
    paid_service: bool = False
    parent_case_no: str | None = None
    appointment_at: datetime | None = None
    appointment_kept: bool = False
    arrivals: list[Arrival] = []
    late_arrival: bool = Field(default=False, description="R1: a worker came > 10 min late without contacting the owner")
    late_arrivals: int = 0
    survey: Survey | None = None
    workers: list[str] = []
    to_contractor: bool = False
    dispatched_at: datetime | None = None
    work_round: int = 0
    completion_note: str | None = None
    inspections: list[Inspection] = Field(default=[], description="the current round's inspections (R6)")
    inspection_history: list[Inspection] = []
    failed_inspections: int = 0
    sign_off: SignOff | None = None
    sign_offs: list[SignOff] = Field(default=[], description="every sign-off, one per round of work (R9)")
    revisits: list[RevisitRecord] = []
    follow_up_note: str | None = None
    cost_statement: Decimal | None = None
    cost_note: str | None = None
    settlement_round: int = 0
    settled_amount: Decimal | None = None
    payment: Payment | None = None
    deduction: DeductionRecord | None = None
    quote: QuoteRecord | None = None
    quote_acceptance: QuoteAcceptance | None = None
    service_payment: ServicePayment | None = None
    decline_reason: str | None = None

    def decided(self, approval) -> str:
        """A4: the survey a cost approval decides on, or the cost statement a settlement decides on."""
        sv = self.survey
        survey = "—" if sv is None else (
            f"责任方 {sv.responsible_party}，{'多工种' if sv.multi_trade else '单工种'}（{'、'.join(self.trades)}），"
            f"预估 {yuan(sv.estimate)}，{'A 类（保修期内）' if sv.order_type == 'A' else 'B 类（保修期外，公司承担）'}工单"
            + (f"，施工单位 {sv.contractor_id}" if sv.contractor_id else ""))
        if approval.purpose == "repair_cost":
            return f"现场勘察（第 {sv.round if sv else 1} 次）：{survey}"
        if approval.purpose == "settlement":
            return f"维修工程决算书 {yuan(self.cost_statement)}：{self.cost_note or '—'}；查勘：{survey}"
        return approval.subject

    @property
    def paid_path(self) -> bool:
        """R3: an owner-paid repair runs its own path: quote, acceptance, owner's payment."""
        return self.paid_service

    def a1_amount(self) -> Decimal | None:
        """A1 applies to the latest amount: the settlement, else the cost statement, else the estimate."""
        if self.paid_path:
            return None  # R3: the owner pays; no company cost approval
        for amount in (self.settled_amount, self.cost_statement, self.survey.estimate if self.survey else None):
            if amount is not None:
                return amount
        return None


_S = RepairStatus
_BEFORE_SURVEY = (_S.registered, _S.scheduled, _S.surveying, _S.survey_returned)
_BEFORE_DISPATCH = (*_BEFORE_SURVEY, _S.cost_approval, _S.surveyed, _S.quoted, _S.quote_accepted)
_OWNER_WAITING = (*_BEFORE_DISPATCH, _S.in_progress, _S.awaiting_inspection, _S.inspected)
_WORK_OPEN = (_S.in_progress, _S.awaiting_inspection)


class RepairCase(CaseMachine):
    state: RepairState

    PROGRESS_RULE: ClassVar[str] = "R1/S3"

    # ---- R1: intake ------------------------------------------------------------------------
    @classmethod
    def open(cls, case_no: str, intake: RepairIntake, actor: Actor, ctx: Ctx) -> tuple["RepairCase", list[RepairEffect]]:
        received = ctx.now
        state = RepairState(
            case_no=case_no, status=_S.registered, received_at=received, registered_by=actor.username,
            customer=intake.customer, description=intake.description, trades=list(intake.trades),
            requested_appointment=intake.requested_appointment, paid_service=intake.paid_service,
            parent_case_no=intake.parent_case_no, rules_version=ctx.rules_version,
        )
        case = cls(state)
        c = intake.customer
        case.note(ctx, "intake", f"报修受理：{'、'.join(intake.trades)}，{c.project}{c.building}{c.unit}"
                  + ("（有偿服务）" if intake.paid_service else "")
                  + (f"，由投诉 {intake.parent_case_no} 转来" if intake.parent_case_no else "") + "（R1）", actor)
        case.set_deadline(ctx, key="survey", rule="R2", label=DEADLINE_NAMES["survey"],
                          due_at=ctx.cal.add_working_days(received, SURVEY_WORKING_DAYS),
                          owners=[Role.cs_staff, Role.engineering, Role.repair_lead])
        case._next_progress(ctx)
        case._tell_parent()
        return case, case.take_effects()

    def owes_progress(self) -> bool:
        """R1/S3: the butler replies every 4 working hours until the owner signs the work off."""
        return self.state.status in _OWNER_WAITING

    def status_changed(self, ctx: Ctx, before: str) -> None:
        self._tell_parent()

    def _tell_parent(self) -> None:
        s = self.state
        if s.parent_case_no:
            self.effects.append(ParentUpdate(parent_case_no=s.parent_case_no, case_no=s.case_no, status=s.status))

    # ---- R1: appointment and arrival ---------------------------------------------------------
    def on_agree_appointment(self, a: A.AgreeAppointment, actor: Actor, ctx: Ctx) -> None:
        self.require_status(*_BEFORE_DISPATCH, _S.in_progress, doing="约定上门时间")
        s = self.state
        not_in_the_past("appointment_at", a.appointment_at, ctx.now, ctx.time_tolerance)
        s.appointment_at, s.appointment_kept = a.appointment_at, False
        if s.status == _S.registered:
            s.status = _S.scheduled
        self.note(ctx, "appointment", f"已与业主约定上门时间 {beijing(a.appointment_at)}（R1）", actor)

    def on_record_arrival(self, a: A.RecordArrival, actor: Actor, ctx: Ctx) -> None:
        s = self.state
        if s.appointment_at is None or s.appointment_kept:
            raise conflict("尚未约定上门时间：请先「约定上门时间」（R1）")
        not_in_the_future("arrived_at", a.arrived_at, ctx.now, ctx.time_tolerance)
        late = a.arrived_at - s.appointment_at
        minutes_late = max(0, int(late.total_seconds() // 60))
        flagged = late > LATE_ARRIVAL_GRACE and not a.owner_contacted
        s.arrivals.append(Arrival(appointment_at=s.appointment_at, arrived_at=a.arrived_at,
                                  owner_contacted=a.owner_contacted, minutes_late=minutes_late, flagged=flagged,
                                  recorded_by=actor.username))
        s.appointment_kept = True
        if flagged:
            s.late_arrival = True
            s.late_arrivals += 1
            text = f"迟到：比约定的 {beijing(s.appointment_at)} 晚 {minutes_late} 分钟，且未联系业主（R1）"
            self.note(ctx, "late_arrival", text, actor)
            self.notify([Role.cs_manager], "维修人员迟到",
                        f"比约定的 {beijing(s.appointment_at)} 迟到 {minutes_late} 分钟，且未联系业主（R1）。",
                        "R1 late arrival")
        elif late > LATE_ARRIVAL_GRACE:
            self.note(ctx, "arrival", f"迟到 {minutes_late} 分钟到场，已事先联系业主（R1）", actor)
        else:
            self.note(ctx, "arrival", f"于 {beijing(a.arrived_at)} 到场（R1）", actor)

    # ---- R2/R3: survey and its co-signature ---------------------------------------------------
    def on_record_survey(self, a: A.RecordSurvey, actor: Actor, ctx: Ctx) -> None:
        self._not_on_paid_path("记录费用查勘")
        self.require_status(*_BEFORE_SURVEY, doing="记录查勘")
        s = self.state
        previous = s.survey
        s.survey = Survey(round=(previous.round + 1 if previous else 1), responsible_party=a.responsible_party,
                          contractor_id=a.contractor_id, multi_trade=a.multi_trade, estimate=a.estimate,
                          order_type=a.order_type, recorded_by=actor.username, recorded_at=ctx.now)
        s.department = a.responsible_party
        s.status = _S.surveying
        kind = "多工种" if a.multi_trade else "单工种"
        order = "A 类（保修期内）" if a.order_type == "A" else "B 类（保修期外，由公司承担）"
        self.note(ctx, "survey", f"查勘{'重新记录，原有签认作废' if previous else '已记录'}：责任方 {a.responsible_party}，"
                  f"{kind}，预估 {yuan(a.estimate)}，{order}工单（R2、R3）", actor)
        parties = s.survey.required_roles
        self.notify(parties, "现场勘察待会签",
                    f"勘察估价 {yuan(a.estimate)}，待{'、'.join(role_title(r) for r in parties)}会签（R2）。",
                    "R2 survey co-signature")

    def on_sign_survey(self, a: A.SignSurvey, actor: Actor, ctx: Ctx) -> None:
        s = self.state
        if s.status == _S.survey_returned:
            raise conflict("查勘已被审批人退回：请重新「记录查勘」后再签认（A1）")
        self.require_status(_S.surveying, doing="签认查勘")
        survey = s.survey
        assert survey is not None
        if actor.role not in survey.required_roles:
            why = (f"预估 {yuan(survey.estimate)} 未超过 {yuan(CONTRACTOR_SIGNS_FROM)}"
                   if survey.estimate <= CONTRACTOR_SIGNS_FROM else "查勘未指定施工单位")
            raise conflict(f"{role_title(actor.role)}无须签认：{why}（R2）")
        if any(sig.role == actor.role for sig in survey.signatures):
            raise conflict(f"{role_title(actor.role)}已签认过本查勘单（R2）")
        if any(sig.by == actor.username for sig in survey.signatures):
            raise forbidden(f"{actor.username} 已代表另一方签认；各方须用本人的账号签认（R2）")
        survey.signatures.append(SurveySignature(role=actor.role, by=actor.username, at=ctx.now))
        self.note(ctx, "survey_signed", f"{role_title(actor.role)}已在查勘单上签认（R2）", actor)
        if not survey.missing_roles:
            self._survey_complete(ctx, actor)

    def _survey_complete(self, ctx: Ctx, actor: Actor) -> None:
        s = self.state
        survey = s.survey
        assert survey is not None
        survey.completed_at = ctx.now
        self.meet(ctx, "survey")
        self.note(ctx, "survey_complete", "现场勘察已由各方会签（R2）")
        # A1: the route worked out again at every survey, approvals already given on the case counted
        steps = a1_missing(survey.estimate, s.approvals) if survey.estimate > 0 else []
        if steps:
            s.status = _S.cost_approval
            self.request_approval(ctx, actor, id=f"cost-{survey.round}", purpose="repair_cost", rule="A1",
                                  subject=f"维修费用 {yuan(survey.estimate)}（{s.case_no}）",
                                  steps=steps, amount=survey.estimate)
        else:
            s.status = _S.surveyed

    # ---- A1/A2/A3: decisions -----------------------------------------------------------------
    def on_decide(self, a: A.Decide, actor: Actor, ctx: Ctx) -> None:
        approval = self.decide_pending(ctx, actor, a.decision, a.reason)
        s = self.state
        if approval.status == "pending":
            return
        if approval.purpose == "repair_cost":
            if approval.status == "approved":
                s.status = _S.surveyed
                self.notify([Role.cs_staff, Role.engineering], "维修费用已批准", "可以派工（A1）。", "A1 approved")
            else:
                assert s.survey is not None
                s.survey.signatures, s.survey.completed_at = [], None
                s.status = _S.survey_returned
                self.notify([Role.cs_staff, Role.engineering, Role.repair_lead], "勘察退回",
                            f"维修费用未获批准（{APPROVAL_STATUS_NAMES.get(approval.status, approval.status)}），请重新勘察（A1）。", "A1 not approved")
        elif approval.purpose == "settlement":
            if approval.status == "approved":
                s.settled_amount, s.status = approval.amount, _S.awaiting_payment
                self.notify([Role.finance], "结算已批准，待付款",
                            f"结算金额 {yuan(approval.amount)} 已批准，请付款（A3）。", "A3 settlement")
            else:
                s.status = _S.revisited
                self.notify([Role.repair_lead], "决算退回", f"维修工程决算书未获批准（{APPROVAL_STATUS_NAMES.get(approval.status, approval.status)}）（A2）。",
                            "A2 not approved")

    # ---- R4/R5: dispatch -------------------------------------------------------------------------
    def on_dispatch(self, a: A.Dispatch, actor: Actor, ctx: Ctx) -> None:
        s = self.state
        if s.paid_path:
            self.require_status(_S.quote_accepted, doing="派有偿工单（业主须先接受报价并签维修单，R3）")
        else:
            if s.status in _BEFORE_SURVEY:
                raise conflict("不能派工：查勘尚未完成会签（R2）")
            if s.status == _S.cost_approval:
                raise conflict("不能派工：维修费用尚未批准；须经审批的工作在批准前不得开工（A1）")
            self.require_status(_S.surveyed, doing="派工")
        if a.to_contractor and actor.role != Role.engineering:
            raise forbidden("派给施工单位的工作须经工程材料部：只有工程材料部可以派工（R5）")
        s.workers, s.to_contractor, s.dispatched_at, s.status = list(a.workers), a.to_contractor, ctx.now, _S.in_progress
        s.work_round += 1
        due = self._work_deadline(ctx)
        to = "施工单位（经工程部，R5）" if a.to_contractor else "维修队"
        order = f"{s.survey.order_type} 类工单" if s.survey else "工单"
        self.note(ctx, "dispatched", f"{order}已派给{to}：{'、'.join(a.workers)}；应于 {beijing(due)} 前完工（R4）",
                  actor)
        self.notify([Role.contractor] if a.to_contractor else [], "派工单",
                    f"请于 {beijing(due)} 前完工（R4）。", "R4 dispatch", usernames=list(a.workers))

    def _work_deadline(self, ctx: Ctx) -> datetime:
        """R4/R5: 3 working days for single-trade work, 7 for multi-trade, from now."""
        s = self.state
        multi = s.survey.multi_trade if s.survey else len(s.trades) > 1
        days = MULTI_TRADE_WORKING_DAYS if multi else SINGLE_TRADE_WORKING_DAYS
        self.waive_key("work")
        owners = [Role.engineering, Role.contractor] if s.to_contractor else [Role.repair_lead]
        d = self.set_deadline(ctx, key="work", rule="R4",
                              label=f"{DEADLINE_NAMES['work']}（{'多' if multi else '单'}工种，{days} 个工作日）",
                              due_at=ctx.cal.add_working_days(ctx.now, days), owners=owners)
        return d.due_at

    # ---- R8: extension ---------------------------------------------------------------------------
    def on_extend_deadline(self, a: A.ExtendDeadline, actor: Actor, ctx: Ctx) -> None:
        self.require_status(*_WORK_OPEN, doing="延长完工期限")
        self.extend(ctx, "work", a.new_due_at, actor=actor, reason=f"业主同意：{a.owner_consent}", rule="R8")

    # ---- R6: completion and inspection -------------------------------------------------------
    def on_complete_work(self, a: A.CompleteWork, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.in_progress, doing="报告完工")
        s = self.state
        s.completion_note, s.status, s.inspections = a.note, _S.awaiting_inspection, []
        self.note(ctx, "work_done", f"报告完工：{a.note}（R6）", actor)
        self.notify(list(INSPECTORS), "维修已完工，待验收", "请组织完工验收，并请业主签认（R6）。",
                    "R6 completion inspection")

    def on_inspect(self, a: A.Inspect, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.awaiting_inspection, doing="验收")
        s = self.state
        if any(i.role == actor.role for i in s.inspections):
            raise conflict(f"{role_title(actor.role)}已记录过本次工作的验收（R6）")
        record = Inspection(role=actor.role, by=actor.username, at=ctx.now, passed=a.passed, note=a.note,
                            work_round=s.work_round)
        s.inspections.append(record)
        s.inspection_history.append(record)
        if not a.passed:
            s.failed_inspections += 1
            s.status, s.inspections = _S.in_progress, []
            self.note(ctx, "inspection_failed", f"{role_title(actor.role)}验收不合格：{a.note}；退回返工，"
                      "完工期限照常计算（R6）", actor)
            self.notify([Role.repair_lead] + ([Role.contractor] if s.to_contractor else []), "验收不合格，请返工",
                        f"验收意见：{a.note}（R6）", "R6 failed inspection", usernames=s.workers)
            return
        self.note(ctx, "inspection_passed", f"{role_title(actor.role)}验收合格（R6）", actor)
        if {i.role for i in s.inspections if i.passed} >= set(INSPECTORS):
            s.status = _S.inspected
            self.meet(ctx, "work")
            self.note(ctx, "inspected", f"{role_title(Role.cs_staff)}与{role_title(Role.repair_lead)}均已验收合格，请业主签认（R6）")

    def on_owner_sign_off(self, a: A.OwnerSignOff, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.inspected, doing="记录业主签认（两方验收须先合格，R6）")
        s = self.state
        s.sign_off = SignOff(quality=a.quality, attitude=a.attitude, comment=a.comment, by=actor.username, at=ctx.now)
        s.sign_offs.append(s.sign_off)
        self._evaluate(ctx, "sign_off", a.quality, a.attitude)
        s.status = _S.completed
        self.meet(ctx, "progress")
        self.note(ctx, "signed_off", f"业主签认：质量 {a.quality}/5，服务态度 {a.attitude}/5"
                  + (f"：{a.comment}" if a.comment else "") + "（R6、R9）", actor)
        self.set_deadline(ctx, key="revisit", rule="R7", label=DEADLINE_NAMES["revisit"],
                          due_at=ctx.cal.add_working_days(ctx.now, REVISIT_WORKING_DAYS), owners=[Role.cs_staff])

    # ---- R7/R9/V3: revisit ---------------------------------------------------------------------
    def on_revisit(self, a: A.Revisit, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.completed, doing="回访（业主须先签认，R6）")
        if a.satisfaction <= LOW_SATISFACTION and a.follow_up is None:
            raise invalid("业主不满意（满意度 ≤ 2）须填写跟进安排 follow_up（R7、V3）")
        s = self.state
        assert s.sign_off is not None
        s.revisits.append(RevisitRecord(satisfaction=a.satisfaction, quality=a.quality, attitude=a.attitude,
                                        note=a.note, follow_up=a.follow_up, by=actor.username, at=ctx.now))
        s.satisfaction = a.satisfaction
        self.meet(ctx, "revisit")
        self.note(ctx, "revisit", f"回访：满意度 {a.satisfaction}/5，质量 {a.quality}/5，"
                  f"服务态度 {a.attitude}/5" + (f"：{a.note}" if a.note else "")
                  + (f"；跟进：{FOLLOW_UP_NAMES[a.follow_up]}" if a.follow_up else "") + "（R7）", actor)
        self._evaluate(ctx, "revisit", a.quality, a.attitude)
        if a.satisfaction <= LOW_SATISFACTION:
            self.notify([Role.cs_manager], "业主不满意",
                        f"回访满意度 {a.satisfaction}/5，后续：{'返修' if a.follow_up == 'reopen' else '客户服务部经理跟进'}（V3）。",
                        "R7/V3 dissatisfied owner")
        if a.follow_up == "reopen":
            s.status, s.inspections, s.sign_off = _S.in_progress, [], None
            s.work_round += 1
            due = self._work_deadline(ctx)
            self._next_progress(ctx)
            self.note(ctx, "reopened", f"回访后返修，应于 {beijing(due)} 前完工（R7）", actor)
            self.notify([Role.repair_lead] + ([Role.contractor] if s.to_contractor else []), "回访后返修",
                        f"回访后返修：{a.note or '业主不满意'}（R7）。", "R7 reopen",
                        usernames=s.workers)
        elif a.follow_up == "cs_manager_follow_up":
            s.status = _S.follow_up
            self.set_deadline(ctx, key="follow_up", rule="R7/V3", label=DEADLINE_NAMES["follow_up"],
                              due_at=ctx.cal.add_working_days(ctx.now, FOLLOW_UP_WORKING_DAYS),
                              owners=[Role.cs_manager])
        else:
            s.status = _S.revisited
            self._close_paid_if_done(ctx)

    def _evaluate(self, ctx: Ctx, source: Literal["sign_off", "revisit"], quality: int, attitude: int) -> None:
        """R9: one evaluation of the workers of this round of work, added to the earlier ones."""
        s = self.state
        self.effects.append(WorkerScores(case_no=s.case_no, workers=list(s.workers), quality=quality,
                                         attitude=attitude, at=ctx.now, source=source,
                                         key=f"{s.case_no}:round-{s.work_round}:{source}"))

    def on_follow_up(self, a: A.FollowUp, actor: Actor, ctx: Ctx) -> None:
        self.require_status(_S.follow_up, doing="记录跟进")
        s = self.state
        s.follow_up_note, s.status = a.note, _S.revisited
        self.meet(ctx, "follow_up")
        self.note(ctx, "follow_up", f"{role_title(Role.cs_manager)}已跟进业主：{a.note}（V3）", actor)
        self._close_paid_if_done(ctx)

    # ---- A2/A3: settlement and payment ---------------------------------------------------------
    def on_cost_statement(self, a: A.CostStatement, actor: Actor, ctx: Ctx) -> None:
        self._not_on_paid_path("填写公司决算书")
        self.require_status(_S.revisited, doing="填写决算书（须在回访及跟进之后）")
        s = self.state
        assert s.survey is not None
        s.cost_statement, s.cost_note, s.status = a.amount, a.note, _S.settlement
        s.settlement_round += 1
        # A2, A3, and A1 on the amount finally paid: its band's missing approvers join the route
        steps = route_settlement(a.amount, s.survey.order_type, s.approvals)
        self.note(ctx, "cost_statement", f"决算书 {yuan(a.amount)}：{a.note}（A2）", actor)
        self.request_approval(ctx, actor, id=f"settlement-{s.settlement_round}", purpose="settlement", rule="A2/A3",
                              subject=f"结算 {yuan(a.amount)}（{s.case_no}）", steps=steps, amount=a.amount)

    def on_pay(self, a: A.Pay, actor: Actor, ctx: Ctx) -> None:
        self._not_on_paid_path("支付公司结算（业主付款请用「记录收费」）")
        self.require_status(_S.awaiting_payment, doing="付款（结算须先获批准，A2/A3）")
        s = self.state
        assert s.survey is not None and s.settled_amount is not None
        if a.amount != s.settled_amount:
            raise invalid(f"支付金额 {yuan(a.amount)} 须等于批准的结算金额 {yuan(s.settled_amount)}（A3）")
        if missing := a1_missing(a.amount, s.approvals):
            raise conflict(f"不能支付 {yuan(a.amount)}：缺少" + "、".join(role_title(st.role) for st in missing) + "的审批（A1）")
        s.payment = Payment(amount=a.amount, reference=a.reference, by=actor.username, at=ctx.now)
        self.note(ctx, "paid", f"已付款 {yuan(a.amount)}，凭证号 {a.reference}（A3）", actor)
        if s.survey.order_type == "A" and s.to_contractor:
            assert s.survey.contractor_id is not None
            self.effects.append(DepositDeduction(entry_key=f"{s.case_no}:deduction", contractor_id=s.survey.contractor_id,
                                                 amount=a.amount, case_no=s.case_no))
            self.note(ctx, "deposit", f"从{s.survey.contractor_id}质量保证金扣除{yuan(a.amount)} (A3)")
        elif s.survey.order_type == "A":
            self.note(ctx, "deposit", f"A类工单由自有维修队完成, 不扣{s.survey.contractor_id}质量保证金 (A3)")
        self._close(ctx, "completed")

    def record_deduction(self, ctx: Ctx, contractor_id: str, outcome: DeductionOutcome) -> None:
        """A3: what the deposit covered. A shortfall is recorded and told to finance and the
        contractor; the case stays closed (it closed when finance paid)."""
        s = self.state
        s.deduction = DeductionRecord(contractor_id=contractor_id, at=ctx.now,
                                      **outcome.model_dump(exclude={"booked_now"}))
        s.seq += 1
        if outcome.shortfall <= 0:
            return
        text = (f"{contractor_id}质量保证金不足: 应扣{yuan(outcome.requested)}, "
                f"实扣{yuan(outcome.deducted)}, 差额{yuan(outcome.shortfall)}已记录, "
                f"余额{yuan(outcome.balance)} (A3)")
        self.note(ctx, "deposit_shortfall", text)
        self.notify([Role.finance, Role.contractor], "质量保证金不足", f"维修单 {s.case_no}: {text}",
                    "A3 deposit shortfall", contractor_id=contractor_id)

    # ---- R3: owner-paid service ------------------------------------------------------
    def _not_on_paid_path(self, doing: str) -> None:
        if self.state.paid_path:
            raise conflict(f"不能{doing}：有偿服务按收费标准报价、由业主付款，公司的费用审批、结算和质量保证金"
                           "（A1–A3）不适用（R3）")

    def _paid_path_only(self, doing: str) -> None:
        if not self.state.paid_path:
            raise conflict(f"不能{doing}：按现行规则本维修不是有偿服务（R3）")

    def on_quote(self, a: A.Quote, actor: Actor, ctx: Ctx) -> None:
        self._paid_path_only("报价")
        self.require_status(_S.registered, _S.scheduled, _S.quoted, doing="报价（须在业主答复之前）")
        if a.schedule is None:
            raise invalid("报价须按收费标准计价（R3）")
        try:
            priced = price_quote(a.schedule, a.items, a.extras)
        except ValueError as e:
            raise invalid(f"{e} (R3)") from None
        s = self.state
        n = s.quote.round + 1 if s.quote else 1
        s.quote, s.status = QuoteRecord(**priced.model_dump(), round=n, by=actor.username, at=ctx.now), _S.quoted
        self.meet(ctx, "survey")  # the paid job's visit and quote stand for the survey (R2)
        lines = "；".join(f"{ln.name} {ln.quantity}{ln.unit}×{yuan(ln.unit_price)}={yuan(ln.amount)}"
                         + (f"（标准外：{ln.reason}）" if ln.reason else "") for ln in priced.lines)
        self.note(ctx, "quote", f"{'重新' if n > 1 else ''}报价 {yuan(priced.total)}（收费标准第 {priced.schedule_version} 版）："
                  f"{lines}；待业主确认并签维修单 (R3)", actor)

    def on_accept_quote(self, a: A.AcceptQuote, actor: Actor, ctx: Ctx) -> None:
        self._paid_path_only("记录业主接受报价")
        self.require_status(_S.quoted, doing="记录业主接受报价（须先报价，R3）")
        if a.signed_at > ctx.now:
            raise invalid(f"signed_at：签认时间 {beijing(a.signed_at)} 尚未到来")
        s = self.state
        assert s.quote is not None
        s.quote_acceptance = QuoteAcceptance(signed_by=a.signed_by, signed_at=a.signed_at, recorded_by=actor.username,
                                             recorded_at=ctx.now)
        s.status = _S.quote_accepted
        self.note(ctx, "quote_accepted", f"业主 {a.signed_by} 于 {beijing(a.signed_at)} 确认报价 {yuan(s.quote.total)} "
                  "并签维修单 (R3)", actor)

    def on_decline_quote(self, a: A.DeclineQuote, actor: Actor, ctx: Ctx) -> None:
        self._paid_path_only("记录业主拒绝报价")
        self.require_status(_S.quoted, doing="记录业主拒绝报价（须先报价，R3）")
        s = self.state
        assert s.quote is not None
        s.decline_reason = a.reason
        self.note(ctx, "declined", f"业主不接受报价 {yuan(s.quote.total)}：{a.reason}；有偿服务未实施，结案 (R3)", actor)
        self._close(ctx, "declined")

    def on_record_service_payment(self, a: A.RecordServicePayment, actor: Actor, ctx: Ctx) -> None:
        self._paid_path_only("记录业主付款")
        s = self.state
        if s.quote_acceptance is None or s.quote is None:
            raise conflict("业主尚未接受报价：还没有应付的款项（R3）")
        if s.service_payment is not None:
            raise conflict(f"业主付款已登记（收据号 {s.service_payment.receipt_no}）（R3）")
        if a.amount != s.quote.total:
            raise invalid(f"付款金额 {yuan(a.amount)} 须等于业主接受的报价 {yuan(s.quote.total)}（R3）")
        s.service_payment = ServicePayment(amount=a.amount, method=a.method, receipt_no=a.receipt_no,
                                           by=actor.username, at=ctx.now)
        self.note(ctx, "service_paid", f"收到业主付款 {yuan(a.amount)}（{PAYMENT_METHODS_CN[a.method]}），"
                  f"收据号 {a.receipt_no} (R3)", actor)
        self._close_paid_if_done(ctx)

    def _close_paid_if_done(self, ctx: Ctx) -> None:
        """R3: a paid job closes once it is revisited and the owner's payment is recorded."""
        s = self.state
        if not s.paid_path or s.status != _S.revisited:
            return
        if s.service_payment is None:
            self.notify([Role.finance], "待登记有偿服务收费",
                        f"有偿服务 {s.case_no} 已完工回访，请登记业主付款 {yuan(s.quote.total if s.quote else Decimal(0))}。",
                        "R3 payment due")
            return
        self._close(ctx, "completed")

    def _close(self, ctx: Ctx, outcome: str) -> None:
        s = self.state
        self.waive_open_deadlines()
        s.status, s.outcome, s.closed_at = _S.closed, outcome, ctx.now
