"""A revisit campaign (V1–V3) as a durable workflow: the plan drawn from the property register, each
visit an Update (validated by the pure rules first, its form kept in the read model), every point raised
that needs work opened as a complaint or repair (a child workflow), the end date escalating per E1 while
coverage is short, progress in the read model and in search attributes (CaseType `campaign`), and the
closing report as the result.

History stays bounded: the plan and counters are the whole state, and the workflow continues as new
before its run reaches its history budget (5,000 events) (or when Temporal suggests it), so a campaign of 5,000
households never nears Temporal's limits."""

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from adapters.temporal import actor_assertion
    from adapters.temporal import search_attributes as sa
    from aftersales.calendar import WorkCalendar, local_year
    from aftersales.campaign import (
        Campaign, CampaignStatus, CloseRequest, OpenPointCase, Plan, SpotCheckRequest, VisitRequest, campaign_summary,
    )
    from aftersales.case import CaseConfig
    from aftersales.complaint.state import CASE_NO_PREFIX as COMPLAINT_PREFIX
    from aftersales.complaint.state import Channel, ComplaintIntake
    from aftersales.errors import Rejection
    from aftersales.repair.state import CASE_NO_PREFIX as REPAIR_PREFIX
    from aftersales.repair.state import RepairIntake
    from aftersales.roles import Role
    from contracts.campaign import (
        CampaignProjection, PlanRequest, PointCaseNumber, RebuiltCampaign, StartCampaign, VisitForm,
    )
    from contracts.case import ConfigRequest, Notification, NumberRequest, StartCheck

from workflows.case_workflow import (
    DB_ACTIVITY, START_VOUCHED, refuse_unvouched_request, rejection_error, send_in_background, until_changed_or_due,
    vouch_for_start,
)
from workflows.complaint import ComplaintWorkflow, StartComplaint
from workflows.repair import RepairWorkflow, StartRepair

PLAN_TIMEOUT = timedelta(minutes=2)


async def refuse_unvouched_campaign(start: StartCampaign) -> None:
    """P4: a campaign's first run only when the API vouched for its start (refuse_unvouched_start's rule for
    cases: a local activity's recorded verdict, first thing); a continued run is Temporal's own."""
    if not workflow.patched(START_VOUCHED):
        return
    info = workflow.info()
    if info.continued_run_id is not None:
        return
    if start.assertion and await workflow.execute_local_activity(
            "verify_start", StartCheck(message=actor_assertion.model_message(info.workflow_id, start),
                                            assertion=start.assertion),
            result_type=bool, start_to_close_timeout=timedelta(seconds=10)):
        return
    workflow.logger.warning("campaign start refused: not vouched for by the product's API (P4)",
                            extra={"campaign_id": info.workflow_id})
    raise ApplicationError(f"回访活动 {info.workflow_id} 的启动未经本系统接口认证，已拒绝（P4）", type="forbidden",
                           non_retryable=True)


@workflow.defn(name="CampaignWorkflow")
class CampaignWorkflow:
    def __init__(self) -> None:
        self._campaign: Campaign | None = None
        self._cal: WorkCalendar | None = None
        self._ladder: list[Role] = []
        self._changed = False
        self._effects: list[OpenPointCase] = []
        self._forms: list[VisitForm] = []
        self._notices: dict[str, Notification] = {}  # in flight, carried over by continue-as-new
        self._projected = -1
        self._attributes: dict[str, Any] = {}
        # C1, the `rebuilt` query: what the register was told in this run, rebuilt on replay from the Updates and
        # the activities' results (no command of its own: a running campaign's history is unchanged). The
        # buildings and the request's key are carried over by continue-as-new; the forms and point-case numbers
        # stay with the run that recorded them (a 5,000-household campaign's forms would not fit one payload).
        self._start: StartCampaign | None = None
        self._buildings: list[str] = []
        self._row: tuple[int, datetime | None] = (-1, None)  # the register row's seq and time (write_campaign_row)
        self._kept_forms: dict[int, VisitForm] = {}
        self._point_cases: list[PointCaseNumber] = []

    # ---- queries and updates -----------------------------------------------------------------
    @workflow.query
    def summary(self) -> dict[str, Any]:
        if self._campaign is None:
            raise ApplicationError("the campaign is still being opened", type="conflict")
        return campaign_summary(self._campaign.state)

    @workflow.query
    def rebuilt(self) -> RebuiltCampaign:
        """C1, `make rebuild-register`: the campaign as its last projection wrote it to the register (the same
        row, computed at the same time, when nothing changed since), its households, the forms and point-case
        numbers of this run, and the request's key. Closed campaigns answer too, within Temporal's retention."""
        if self._campaign is None or self._start is None:
            raise ApplicationError("the campaign is still being opened", type="conflict")
        s = self._campaign.state
        row_seq, row_at = self._row
        at = row_at if row_at is not None and s.seq == row_seq else workflow.now()
        return RebuiltCampaign(
            projection=CampaignProjection(campaign_id=s.campaign_id, seq=s.seq, starts_on=s.starts_on,
                                          ends_on=s.ends_on, at=at, summary=campaign_summary(s)),
            created_at=s.created_at, planned=list(s.planned),
            buildings=list(self._buildings) if len(self._buildings) == len(s.planned) else None,
            forms=[self._kept_forms[n] for n in sorted(self._kept_forms)], point_cases=list(self._point_cases),
            intake_key=self._start.intake_key, intake_fingerprint=self._start.intake_fingerprint)

    @workflow.query
    def run_info(self) -> dict[str, Any]:
        """For ops and tests: this run's history length (events) and whether Temporal suggests a new run."""
        info = workflow.info()
        return {"history_length": info.get_current_history_length(), "history_size": info.get_current_history_size(),
                "continue_as_new_suggested": info.is_continue_as_new_suggested()}

    @workflow.update
    async def record_visit(self, r: VisitRequest) -> dict[str, Any]:
        """Applies the visit at once; its form is kept by the main loop (an effect), so the handler never
        awaits and a run can always continue as new between two Updates."""
        campaign = await self._ready()
        try:
            campaign.visit(r)
        except Rejection as e:
            raise rejection_error(e) from None
        s = campaign.state
        # O4: the form keeps who gave it (the owner's own survey, or staff's record of the visit)
        form = VisitForm(campaign_id=s.campaign_id, visit_no=s.visits, unit_id=r.visit.unit_id,
                         by=r.actor.username, at=workflow.now(), form={
                             **r.visit.model_dump(mode="json"),
                             "provenance": r.provenance(workflow.now()).model_dump(mode="json")})
        self._forms.append(form)
        self._kept_forms[form.visit_no] = form
        self._effects += campaign.take_effects()
        self._changed = True
        return campaign_summary(s)

    @record_visit.validator
    def _check_visit(self, r: VisitRequest) -> None:
        refuse_unvouched_request(r)
        self._check(lambda c: c.check_visit(r))

    @workflow.update
    async def spot_check(self, r: SpotCheckRequest) -> dict[str, Any]:
        campaign = await self._ready()
        try:
            campaign.spot_check(r)
        except Rejection as e:
            raise rejection_error(e) from None
        self._changed = True
        return campaign_summary(campaign.state)

    @spot_check.validator
    def _check_spot_check(self, r: SpotCheckRequest) -> None:
        refuse_unvouched_request(r)
        self._check(lambda c: c.check_spot_check(r))

    @workflow.update
    async def close(self, r: CloseRequest) -> dict[str, Any]:
        campaign = await self._ready()
        try:
            campaign.close(r, workflow.now())
        except Rejection as e:
            raise rejection_error(e) from None
        self._changed = True
        return campaign_summary(campaign.state)

    @close.validator
    def _check_close(self, r: CloseRequest) -> None:
        refuse_unvouched_request(r)
        self._check(lambda c: c.check_close(r))

    async def _ready(self) -> Campaign:
        await workflow.wait_condition(lambda: self._campaign is not None and bool(self._campaign.state.planned))
        assert self._campaign is not None
        return self._campaign

    def _check(self, check) -> None:
        if self._campaign is None or not self._campaign.state.planned:
            return  # still planning: the handler waits, then checks in full
        try:
            check(self._campaign)
        except Rejection as e:
            raise rejection_error(e) from None

    # ---- the main loop -----------------------------------------------------------------------
    @workflow.run
    async def run(self, start: StartCampaign) -> dict[str, Any]:
        await refuse_unvouched_campaign(start)
        campaign = Campaign(start.state)
        s = campaign.state
        self._forms, self._effects = list(start.pending_forms), list(start.pending_cases)
        self._start, self._buildings = start, list(start.buildings)
        self._row = (start.projected_seq, start.projected_at)
        self._kept_forms = {f.visit_no: f for f in start.pending_forms}
        self._local_db_steps = start.local_db_steps
        self._organisation = start.organisation
        year = local_year(workflow.now())
        config = await workflow.execute_activity(
            "load_case_config", ConfigRequest(years=[year, year + 1]), result_type=CaseConfig, **DB_ACTIVITY)
        self._cal = WorkCalendar(config.calendar)
        self._ladder = [r for r in config.ladder if r not in (Role.dept_handler, Role.dept_head)]
        if not s.planned:
            plan = await workflow.execute_activity(
                "plan_campaign", PlanRequest(campaign_id=s.campaign_id, project=s.project, kind=s.kind, share=s.share,
                                             minimum_share=start.minimum_share, seed=s.seed),
                result_type=Plan, start_to_close_timeout=PLAN_TIMEOUT, retry_policy=DB_ACTIVITY["retry_policy"])
            campaign.set_plan(plan)
            self._buildings = list(plan.buildings or [])
        self._campaign = campaign
        for notice in start.pending_notices:
            self._send(notice)
        while True:
            await self._publish()
            await self._carry_out_effects()
            if s.status == CampaignStatus.closed:
                break
            info = workflow.info()
            if info.is_continue_as_new_suggested() or info.get_current_history_length() > start.history_budget:
                # Handlers never await, so none runs between two workflow tasks; what is not done yet
                # (forms, cases to open, notices in flight) goes to the next run with the state.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(start.model_copy(update={
                    "state": s, "pending_forms": self._forms, "pending_cases": self._effects,
                    "pending_notices": list(self._notices.values()), "buildings": self._buildings,
                    "projected_seq": self._row[0], "projected_at": self._row[1]}))
            await until_changed_or_due(lambda: self._changed, self._next_wakeup())
            self._changed = False
            self._escalate_if_due()
        await self._settle()
        return campaign_summary(s)

    async def _settle(self) -> None:
        """Everything done and published, no handler running: the run may end."""
        assert self._campaign is not None
        while True:
            await self._carry_out_effects()
            await self._publish()
            await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._notices)
            if not self._effects and not self._forms and self._campaign.state.seq == self._projected:
                return

    # ---- the end date (E1 while coverage is short) ---------------------------------------------
    def _due_at(self) -> datetime:
        assert self._cal is not None and self._campaign is not None
        return datetime.combine(self._campaign.state.ends_on, self._cal.day_end, tzinfo=self._cal.tz)

    def _step_at(self, level: int) -> datetime:
        """When level `level` is reached: the end date, then one more working day per level (E1)."""
        assert self._cal is not None
        return self._cal.escalation_at(self._due_at(), level)

    def _next_wakeup(self) -> datetime | None:
        s = self._campaign.state if self._campaign else None
        if s is None or not s.coverage_short or s.escalation_level >= len(self._ladder):
            return None
        return self._step_at(s.escalation_level + 1)

    def _escalate_if_due(self) -> None:
        assert self._campaign is not None
        s = self._campaign.state
        while (s.status == CampaignStatus.running and s.coverage_short and s.escalation_level < len(self._ladder)
               and workflow.now() >= self._step_at(s.escalation_level + 1)):
            self._campaign.escalate()
            role = self._ladder[s.escalation_level - 1]
            self._notify(role, s.escalation_level)

    def _notify(self, role: Role, level: int) -> None:
        assert self._campaign is not None
        s = self._campaign.state
        done = f"{len(s.visited)}/{len(s.planned)}"
        notification = Notification(
            notification_id=f"{s.campaign_id}:e{level}", case_no=s.campaign_id, roles=[role],
            subject=f"[{s.campaign_id}] 回访活动逾期未完成（第 {level} 级升级）",
            body=(f"{s.project} 的{'首次' if s.kind.value == 'first' else '年度'}回访活动 {s.campaign_id} 截止日期 "
                  f"{s.ends_on.isoformat()} 已过，回访覆盖 {done}，目标 {s.target} 户，未达标（V1/V2，E1）。"),
            reason=f"E1 escalation level {level}: campaign coverage short")
        self._send(notification)

    def _send(self, notification: Notification) -> None:
        send_in_background(notification, self._notices, self._wake)

    def _wake(self) -> None:
        self._changed = True

    # ---- points raised that need work: complaints and repairs (V3) -----------------------------
    async def _carry_out_effects(self) -> None:
        for form in list(self._forms):  # those there now: later ones wait for the next turn of the loop
            await workflow.execute_activity("record_campaign_visit", form, **DB_ACTIVITY)
            self._forms.remove(form)
        effects, self._effects = self._effects, []
        for effect in effects:
            await self._open_point_case(effect)

    async def _open_point_case(self, e: OpenPointCase) -> None:
        assert self._campaign is not None and self._cal is not None
        now = workflow.now()
        complaint = e.handling == "complaint"
        case_no: str = await workflow.execute_activity(
            "number_case", NumberRequest(scope=e.handling, prefix=COMPLAINT_PREFIX if complaint else REPAIR_PREFIX,
                                         idempotency_key=e.key, now=now, year=local_year(now)),
            result_type=str, **DB_ACTIVITY)
        self._point_cases.append(PointCaseNumber(key=e.key, scope=e.handling, case_no=case_no, at=now))
        summary = f"{case_no} · 回访意见 from campaign {self._campaign.state.campaign_id}"
        if complaint:
            intake = ComplaintIntake(customer=e.customer, channel=Channel.visit, category=e.point.category or "回访意见",
                                     description=e.point.text)
            await workflow.start_child_workflow(
                ComplaintWorkflow.run, vouch_for_start(StartComplaint(  # P4: vouched for by this campaign
                    case_no=case_no, registered_by=e.actor, intake=intake, local_db_steps=self._local_db_steps,
                    organisation=self._organisation), case_no),
                id=case_no, parent_close_policy=workflow.ParentClosePolicy.ABANDON, static_summary=summary)
        else:
            assert e.point.trades and e.point.requested_appointment
            intake = RepairIntake(customer=e.customer, trades=e.point.trades, description=e.point.text,
                                  requested_appointment=e.point.requested_appointment)
            await workflow.start_child_workflow(
                RepairWorkflow.run, vouch_for_start(StartRepair(  # P4: vouched for by this campaign
                    case_no=case_no, registered_by=e.actor, intake=intake, local_db_steps=self._local_db_steps,
                    organisation=self._organisation), case_no),
                id=case_no, parent_close_policy=workflow.ParentClosePolicy.ABANDON, static_summary=summary)
        self._campaign.point_case_opened(case_no)

    # ---- what others see ------------------------------------------------------------------------
    async def _publish(self) -> None:
        assert self._campaign is not None
        s = self._campaign.state
        if s.seq == self._projected:
            return
        summary, seq, at = campaign_summary(s), s.seq, workflow.now()  # a snapshot: Updates may change the state meanwhile
        await workflow.execute_activity(
            "project_campaign", CampaignProjection(campaign_id=s.campaign_id, seq=seq, starts_on=s.starts_on,
                                                   ends_on=s.ends_on, at=at, summary=summary),
            **DB_ACTIVITY)
        self._projected = seq
        if seq > self._row[0]:  # the register keeps the first projection of a seq (only a higher one applies)
            self._row = (seq, at)
        overdue = s.status == CampaignStatus.running and s.coverage_short and workflow.now() >= self._due_at()
        wanted = {sa.CASE_TYPE: "campaign", sa.CASE_STATUS: s.status.value, sa.PROJECT: s.project,
                  sa.ESCALATION_LEVEL: s.escalation_level, sa.OVERDUE: overdue}
        updates = []
        for key, value in wanted.items():
            if self._attributes.get(key.name, object()) != value:
                self._attributes[key.name] = value
                updates.append(key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(
            f"**{s.campaign_id}** · 回访 {s.kind.value} · **{s.status.value}** · {s.project}\n"
            f"覆盖 {len(s.visited)}/{len(s.planned)}（目标 {s.target}）· 满意 {summary['satisfaction_percent']}% · "
            f"意见 {s.points_handled}/{s.points_raised} · 二次回访待办 {len(s.second_visits_due)} · 升级 L{s.escalation_level}")
