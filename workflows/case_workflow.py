"""The durable shell every case runs in, complaint or repair.

One state object (a pure `CaseMachine`) changes only through the `act` Update (validated on a dry-run
copy first) and through time (`tick`). The main loop waits for whichever comes first — a person's
action or the next deadline — then carries out the effects: notifications in the background, retried
within E3's bounds, the read-model projection, search attributes and the UI details.
"""

import asyncio
import hashlib
from datetime import datetime, timedelta
from typing import Any, Callable

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from adapters.temporal import actor_assertion
    from adapters.temporal import search_attributes as sa
    from aftersales.actions import ActionRequest
    from aftersales.calendar import DEFAULT_TIMEZONE, WorkCalendar, local_year
    from aftersales.case import (
        BASELINE_RULES_VERSION, CURRENT_RULES_VERSION, CaseConfig, Ctx, EarlyWarningCheck, Effect, Notice,
        check_time_reach,
    )
    from aftersales.errors import Rejection
    from aftersales.machine import CaseMachine
    from aftersales.messages import beijing
    from aftersales.views import CaseRow, case_row, case_view, escalated_to, waiting_for
    from contracts.case import (
        CarriedCase, CaseAnswer, CaseProjection, CaseResult, ConfigRequest, Notification, NotificationResult, RebuiltCase,
        RecentComplaints, StartCase, StartCheck,
    )

# E3: a notification is retried with backoff; a case's notices for CaseConfig.notification_give_up_hours
# (then recorded undeliverable), a campaign's or a review's until they go through.
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                           maximum_interval=timedelta(minutes=10), maximum_attempts=0)
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=1), maximum_attempts=0)
# Read-model writes are short: a worker that dies mid-activity costs the case at most this long.
DB_ACTIVITY: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=15), retry_policy=DB_RETRY)
NOTIFY_TIMEOUT = timedelta(seconds=60)
NOTICE_SETTLE = timedelta(seconds=2)  # how long a wake-up's projection waits for its notices' delivery
# E3: delivery never holds a case. A deadline's notice gets one try inside its timer's workflow task, bounded by
# TIMER_NOTICE_ATTEMPT; a temporary failure hands it to an activity with E3's retries. A local activity that
# retried inside the task kept it open meanwhile: with the mail server refusing, every action of the minute
# after an escalation waited 11-13.5 s, and escalations came 4-12 s late.
TIMER_NOTICE_ATTEMPT = timedelta(seconds=1)
ONE_TRY = RetryPolicy(maximum_attempts=1)
CARRY_AFTER = timedelta(minutes=1)  # how long a run about to continue as new lets deliveries finish
# A retried request never acts twice: Temporal answers a repeated Update id only within one run, so the
# ids of the last actions applied (hashed: short, and no caller text in the payload) go with the case
# into its next run, where a repeat is answered with the case as it is, without applying it again.
RECENT_UPDATES_KEPT = 500


def update_key() -> str | None:
    """The current Update's id, hashed: what a case remembers of an applied action's request."""
    info = workflow.current_update_info()
    return hashlib.sha256(info.id.encode()).hexdigest()[:24] if info else None


# ---- changing a running case (docs/architecture.md, "How to change a running workflow safely") -----------
# The release baseline (2027-01) has no patch: every case runs the code below. A later change of what
# the workflow does (its commands: activities, timers, child workflows, markers; or their order) goes
# behind `workflow.patched(<id>)`, the id declared in PATCHES below with the date and the reason, and a history of
# the new behaviour recorded beside the others in tests/histories; a change of what the rules decide
# bumps CURRENT_RULES_VERSION (aftersales/case.py) instead.
NOTICE_OUTCOME_UNPROJECTED = "notice-outcome-unprojected"
PATCHES: dict[str, str] = {
    # "<id>": "<date>: what changed, and why (rule ids)",
    "reports-per-company": "2026-12-04: a scheduled report is made per active company, mailed to and reviewed by "
                           "that company's people, beside the group's roll-up for the group's (K, P5); a run "
                           "started before made the roll-up alone (workflows/reports.py)",
    "start-vouched": "2026-12-04: a case's first run checks the opener's assertion over its start (the API's for an "
                     "intake, the parent's for a case a complaint or campaign opens) and a continued run that it "
                     "was continued by Temporal, before anything else; an unvouched start fails at once (P4); a "
                     "campaign's first run the same (it opens cases). A case or campaign started before replays "
                     "without the check",
    NOTICE_OUTCOME_UNPROJECTED: "2026-12-04: a notice's delivery is recorded on the case without projecting the "
                                "case again (E3): its entry goes to the register with the case's next projection, "
                                "its bookkeeping row is the activity's own; before, every notice an action raised "
                                "cost a second projection in the task its completion woke (P5's busy day)",
}
START_VOUCHED = "start-vouched"


def opening_rules_version() -> int:
    """The rule book a new case opens under, pinned for its life in its state (`rules_version`). The baseline
    is version 1 and records nothing. Version N > 1 is pinned by a patch marker `rules-vN` the case records at
    its opening: a new case records the newest version's marker, a case opened before version N replays
    without that marker and keeps the version it was opened with."""
    for version in range(CURRENT_RULES_VERSION, BASELINE_RULES_VERSION, -1):
        if workflow.patched(f"rules-v{version}"):
            return version
    return BASELINE_RULES_VERSION


# What a send given up raises: an activity's failure wraps its cause in ActivityError; a local activity's
# is the cause itself (the activity's ApplicationError, or Temporal's TimeoutError when its time ran out).
GIVEN_UP = (ActivityError, ApplicationError, TemporalTimeout)


def undeliverable_reason(e: Exception) -> str:
    """Why a notification was given up (E3): the permanent failure, or the retries that ran out."""
    cause = e.cause if isinstance(e, ActivityError) else e
    if isinstance(cause, TemporalTimeout):
        return f"temporary failures for longer than the retry limit ({cause.type.name.lower()})"
    return str(getattr(cause, "message", None) or cause or e)[:300]


def rejection_error(r: Rejection) -> ApplicationError:
    return ApplicationError(r.message, type=r.kind, non_retryable=True)


def send_in_background(notification: Notification, pending: dict[str, Notification], wake: Callable[[], None]) -> None:
    """E3 for workflows other than cases (campaigns, report reviews): the notification is delivered in the
    background, retried until it goes through (the send is idempotent per notification id); `pending`
    holds it until then (a workflow carries it over continue-as-new), and `wake` tells the main loop."""
    pending[notification.notification_id] = notification

    async def deliver() -> None:
        try:
            await workflow.execute_activity("send_notification", notification, start_to_close_timeout=NOTIFY_TIMEOUT,
                                            retry_policy=NOTIFY_RETRY)
        finally:
            pending.pop(notification.notification_id, None)
            wake()

    asyncio.create_task(deliver())


async def until_changed_or_due(changed: Callable[[], bool], wake: datetime | None) -> None:
    """The main loop's wait of a workflow that acts on people's Updates and on its deadlines (campaigns,
    report reviews): until `changed()` or the wake-up time, whichever comes
    first (a durable timer, started for this wait); at once when the time has passed."""
    timeout = None if wake is None else wake - workflow.now()
    if timeout is None or timeout > timedelta(0):
        try:
            await workflow.wait_condition(changed, timeout=timeout)
        except asyncio.TimeoutError:
            pass


async def refuse_unvouched_start(start: StartCase) -> None:
    """P4: a case opens only when the product vouched for its start — the API's assertion over an intake, a
    parent workflow's over a case it opens (vouch_for_start) — checked first thing, before any projection,
    notice, deadline or search attribute: a start sent straight to Temporal (`temporal workflow start`, a raw
    client, even with the codec's keys) fails at once with no register row, no notice and nothing else done.
    The keyed check is a local activity (verify_start), so that its verdict is recorded: a replay needs
    no key and reaches the same verdict after a key was rotated out. A continued run is not signed again: only
    Temporal's continue-as-new sets its continued_run_id. The log and the failure name the case and the claimed
    role, never the claimed username or the intake (the sender's text, possibly personal data)."""
    if not workflow.patched(START_VOUCHED):  # a case started before the check: replays as it ran
        return
    info = workflow.info()
    if start.carried is not None:
        if info.continued_run_id is not None:
            return
        why = "带着延续状态却不是由 Temporal 延续的运行"
    elif not start.assertion:
        why = "缺少本系统接口的凭证"
    elif await workflow.execute_local_activity(
            "verify_start", StartCheck(message=actor_assertion.start_message(info.workflow_id, start),
                                            assertion=start.assertion),
            result_type=bool, start_to_close_timeout=timedelta(seconds=10)):
        return
    else:
        why = "凭证与启动内容不符"
    workflow.logger.warning("case start refused: not vouched for by the product's API (P4)",
                            extra={"case_no": info.workflow_id, "claimed_role": start.registered_by.role.value})
    raise ApplicationError(f"案件 {info.workflow_id} 的启动未经本系统接口认证（{why}，登记人角色 "
                           f"{start.registered_by.role.value}），已拒绝，未建案（P4）", type="forbidden",
                           non_retryable=True)


def refuse_unvouched_request(r: Any) -> None:
    """P4 for the Updates of campaigns and report reviews (a visit, spot-check, close, review): only when the API
    vouched for it (its HMAC over this workflow and the whole request, actor_assertion.sign_model). Called first
    in the Update's validator: a validator does not run on replay and writes nothing when it refuses (no patch)."""
    if not actor_assertion.model_vouched(workflow.info().workflow_id, r):
        raise ApplicationError("操作未经本系统接口认证（无有效凭证），已拒绝（P4）", type="forbidden", non_retryable=True)


def vouch_for_start(start: StartCase, workflow_id: str) -> StartCase:
    """P4: a case this workflow opens (a complaint's repair, a campaign's point raised) is vouched for by it,
    with the worker's key, as the API vouches for an intake. Deterministic (an HMAC of the start), so a replay
    makes the same. A worker without a key (a replay without the worker's configuration) leaves it unsigned."""
    if not actor_assertion.configured():
        return start
    return start.model_copy(update={"assertion": actor_assertion.sign_start(workflow_id, start)})


class CaseWorkflow:
    # Effects an action's answer waits for (carried out by the main loop before the Update returns).
    AWAITED_EFFECTS: tuple[type, ...] = ()

    def __init__(self) -> None:
        self._done: set[int] = set()
        self._machine: CaseMachine | None = None
        self._config: CaseConfig | None = None
        self._cal: WorkCalendar | None = None
        self._effects: list[Effect] = []
        self._changed = False
        self._inflight = 0
        self._projected_seq = -1
        self._projected_timeline = 0
        self._attributes: dict[str, Any] = {}
        self._undelivered: dict[str, Notice] = {}  # in flight: carried over by continue-as-new
        self._applied_updates: dict[str, None] = {}  # update_key() of actions applied, oldest first
        self._request_keys: dict[str, str] = {}  # ActionRequest.request_key -> fingerprint, oldest first
        self._local_db_steps = False
        self._timer: asyncio.Task | None = None  # the durable timer of the next wake-up ...
        self._timer_at: Any = None               # ... and the time it fires at
        self._timer_notices: set[str] = set()  # notification ids a deadline's timer raised
        self._timer_notices_sending: set[str] = set()  # ... and of those, the ones being sent
        self._projected_at: datetime | None = None  # the time the last projected row was computed at (rebuilt)
        self._intake: tuple[str | None, str | None] = (None, None)  # the intake's Idempotency-Key and fingerprint
        # E3 (patch NOTICE_OUTCOME_UNPROJECTED): deliveries are recorded without a projection of their own; the
        # seq the case reached by such records alone since its last projection (then nothing new to project)
        self._unprojected_deliveries = False
        self._delivered_seq = -1
        self._projected_row: CaseRow | None = None  # the row the last projection wrote (the `rebuilt` query)

    # ---- queries and updates ---------------------------------------------------------------
    @workflow.query
    def state(self) -> dict[str, Any]:
        if self._machine is None or self._config is None:
            raise ApplicationError("the case is still being opened", type="conflict")
        return case_view(self._machine.state, workflow.now(), self._config.ladder)

    def _answer(self, since: int, request: ActionRequest | None = None) -> CaseAnswer:
        """An Update's compact answer: the case's status and the timeline entries added since `since`; for an
        upload's `add_files` (D3) only when they were added, not the entries (the caller sent the references)."""
        assert self._machine is not None
        s = self._machine.state
        if request is not None and request.action.action == "add_files":
            return CaseAnswer(case_no=s.case_no, status=s.status, version=s.seq, timeline_length=len(s.timeline),
                              at=s.timeline[-1].at if len(s.timeline) > since else None)
        return CaseAnswer(case_no=s.case_no, status=s.status, version=s.seq, timeline_length=len(s.timeline),
                          added=[t.model_dump(mode="json") for t in s.timeline[since:]])

    @workflow.query
    def rebuilt(self) -> RebuiltCase:
        """C1, `make rebuild-register`: the case as its last projection wrote it to the register (the same row,
        computed at the same time, when nothing changed since), with its whole timeline and its intake's key.
        Answered by closed cases too, within Temporal's retention (the worker replays their history)."""
        if self._machine is None or self._config is None:
            raise ApplicationError("the case is still being opened", type="conflict")
        state = self._machine.state
        seq, timeline = state.seq, list(state.timeline)
        if state.seq == self._delivered_seq and self._projected_row is not None:
            # E3: deliveries recorded since the last projection wait for the next one, in the register as rebuilt too
            seq, row, timeline = self._projected_seq, self._projected_row, timeline[:self._projected_timeline]
        else:
            at = (self._projected_at if self._projected_at is not None and state.seq == self._projected_seq
                  else workflow.now())
            row = case_row(state, at, self._config.ladder)
        return RebuiltCase(projection=CaseProjection(case_no=state.case_no, seq=seq, row=row, timeline_start=0,
                                                     timeline=timeline),
                           scope=row.case_type, intake_key=self._intake[0], intake_fingerprint=self._intake[1])

    @workflow.update
    async def opened(self) -> CaseAnswer:
        """Answers once the case is open (numbered, deadlines set); the POST reads the case by query."""
        await workflow.wait_condition(lambda: self._machine is not None)
        return self._answer(since=0)

    @workflow.update
    async def act(self, request: ActionRequest) -> CaseAnswer:
        await workflow.wait_condition(lambda: self._machine is not None)
        assert self._machine is not None
        since = len(self._machine.state.timeline)
        key = update_key()
        if key in self._applied_updates or self._seen_request(request):  # a repeat: answered, not applied
            return self._answer(since, request)
        try:
            effects = self._machine.apply(request.action, request.actor, self._ctx(request))
        except Rejection as r:
            raise rejection_error(r) from None
        if key:
            self._applied_updates[key] = None
        if request.request_key and request.fingerprint:
            self._request_keys[request.request_key] = request.fingerprint
        self._effects += effects
        self._changed = True
        awaited = [e for e in effects if isinstance(e, self.AWAITED_EFFECTS)]
        if awaited:  # the answer shows their outcome (e.g. the number of the repair just opened)
            await workflow.wait_condition(lambda: all(id(e) in self._done for e in awaited))
        return self._answer(since, request)

    @workflow.query
    def applied_request(self, request_key: str) -> str | None:
        """The fingerprint of the request of this Idempotency-Key (ActionRequest.request_key) applied, or None: an
        upload to a step without room for it asks before reading its body, so that a retry of the one that filled
        the step is answered as the first time (D1) and any other is refused before it is read."""
        return self._request_keys.get(request_key)

    def _seen_request(self, request: ActionRequest) -> bool:
        """True for a repeat of an applied request (same Idempotency-Key, same body); the same key with
        another body is refused (422), applied or not."""
        if not request.request_key or (known := self._request_keys.get(request.request_key)) is None:
            return False
        if known != request.fingerprint:
            raise ApplicationError("Idempotency-Key 已用于另一个请求（内容不同）：同一键只能对应同一操作",
                                   type="invalid", non_retryable=True)
        return True

    @act.validator
    def _validate_act(self, request: ActionRequest) -> None:
        # P4: only actions the product's API vouched for (its HMAC over this case, the actor and the action),
        # checked first, for every new Update. A validator does not run when a history replays (Core
        # replays the accepted Updates as recorded), so cases recorded before it replay unchanged and need
        # no patch marker; a refused Update writes nothing to the history.
        if not actor_assertion.vouched(workflow.info().workflow_id, request):
            raise ApplicationError(f"操作未经本系统接口认证（操作人 {request.actor.username} 无有效凭证），已拒绝（P4）",
                                   type="forbidden", non_retryable=True)
        if self._machine is None or update_key() in self._applied_updates or self._seen_request(request):
            return  # still opening (the handler applies with full checks), or a repeat (answered as it is)
        try:
            ctx = self._ctx(request)
            self._machine.check(request.action, request.actor, ctx)
            check_time_reach(request.action, ctx.now)  # R1, R8: a validator only (not replayed), no patch needed
        except Rejection as r:
            raise rejection_error(r) from None

    # ---- the main loop ---------------------------------------------------------------------
    async def _run_case(self, open_case: Callable[[Ctx], tuple[CaseMachine, list[Effect]]], start: StartCase,
                        restore: Callable[[dict[str, Any]], CaseMachine]) -> CaseResult:
        await refuse_unvouched_start(start)
        self._local_db_steps = start.local_db_steps
        self._intake = (start.intake_key, start.intake_fingerprint)
        if start.carried is None:
            if start.config is None:
                await self._load_config()
            else:  # read by the opener (the API): the case opens in its first workflow task, no step of its own
                self._config, self._cal = start.config, WorkCalendar(start.config.calendar)
            opening = self._ctx()
            opening.rules_version = opening_rules_version()
            self._unprojected_deliveries = workflow.patched(NOTICE_OUTCOME_UNPROJECTED)
            opening.organisation = start.organisation  # P5 (rules 3): kept in the case's state
            machine, effects = open_case(opening)
        else:  # a run continued from an earlier one: the same case, carried over
            c = start.carried
            self._unprojected_deliveries = workflow.patched(NOTICE_OUTCOME_UNPROJECTED)
            machine, effects = restore(c.state), list(c.notices)
            self._projected_seq, self._projected_timeline, self._attributes = (
                c.projected_seq, c.projected_timeline, dict(c.attributes))
            self._applied_updates = dict.fromkeys(c.applied_updates)
            self._projected_at = c.projected_at
            self._request_keys = dict(c.request_keys)
            # queries and Updates are answered at once, with what the last run ran with; then the new run
            # reads the configuration as it is now (an escalation ladder or a calendar changed meanwhile)
            self._config, self._cal = c.config, WorkCalendar(c.config.calendar)
            self._machine, self._effects = machine, effects
            await self._load_config()
        if self._machine is None:
            self._machine, self._effects = machine, effects
        while True:
            await self._load_config_if_year_changed()
            await self._send_timer_notices_first()
            await self._publish()
            await self._carry_out_effects()
            if machine.state.closed and self._inflight == 0 and not self._effects:
                break
            if not machine.state.closed and self._history_over_budget():
                await workflow.wait_condition(workflow.all_handlers_finished)
                try:  # deliveries under way mostly end in seconds; one still retrying is carried over
                    await workflow.wait_condition(lambda: self._inflight == 0, timeout=CARRY_AFTER)
                except asyncio.TimeoutError:
                    pass
                if self._effects:
                    continue  # what the last Updates caused is carried out (or carried) first
                await self._publish()
                workflow.continue_as_new(start.model_copy(update={"config": None, "carried": CarriedCase(
                    state=machine.state.model_dump(mode="json"),
                    notices=list(self._undelivered.values()),
                    projected_seq=self._projected_seq, projected_timeline=self._projected_timeline,
                    attributes=self._attributes,
                    applied_updates=list(self._applied_updates)[-RECENT_UPDATES_KEPT:], config=self._config,
                    request_keys=dict(list(self._request_keys.items())[-RECENT_UPDATES_KEPT:]),
                    projected_at=self._projected_at)}))
            # Effects that arose meanwhile (an early warning's notice, an Update's) go out now rather
            # than at the next wake-up.
            if self._effects:
                continue
            await self._wait_for_action_or_deadline(machine)
            ticked = machine.tick(self._ctx())
            self._timer_notices.update(e.notification_id for e in ticked if isinstance(e, Notice))
            self._effects += ticked
        self._cancel_timer()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._publish(settle=True)  # the closed case whole in the register, its last deliveries too
        s = machine.state
        return CaseResult(case_no=s.case_no, status=s.status, outcome=s.outcome, closed_at=s.closed_at)

    async def _send_timer_notices_first(self) -> None:
        """The notices a deadline raised go out before the case is projected, and
        the projection waits for their delivery — it mostly comes within the same workflow task (a local
        activity) — so that the register gets the escalation and its delivery in one write. A mail server
        that is slow or down holds the register back by seconds (NOTICE_SETTLE, after the workflow task that
        Temporal's SDK holds open for a running local activity hands over); the delivery comes later."""
        if not self._timer_notices:
            return
        await self._carry_out_effects()
        try:
            await workflow.wait_condition(lambda: not self._timer_notices_sending, timeout=NOTICE_SETTLE)
        except asyncio.TimeoutError:
            pass

    async def _wait_for_action_or_deadline(self, machine: CaseMachine) -> None:
        """Waits for an action, a delivery or the next wake-up, with one durable timer per wake-up time.
        Waiting with `wait_condition(timeout=)` would start a timer on every wait and cancel it when an
        action came first: two history events and a server timer per action, for a wake-up time the
        action mostly leaves as it was. The timer stays until the time moves or it fires."""
        wake = machine.next_wakeup()
        now = workflow.now()
        if wake != self._timer_at:
            self._cancel_timer()
            if wake is not None and wake > now:
                self._timer_at = wake
                self._timer = asyncio.create_task(workflow.sleep(wake - now, summary="next deadline"))
        if wake is None or wake > now:
            await workflow.wait_condition(lambda: self._changed or (self._timer is not None and self._timer.done()))
        if self._timer is not None and self._timer.done():
            self._timer, self._timer_at = None, None
        self._changed = False

    def _cancel_timer(self) -> None:
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer, self._timer_at = None, None

    def _history_over_budget(self) -> bool:
        """Bounded history: the run has reached its budget of events or bytes, or Temporal suggests
        continuing as new."""
        assert self._config is not None
        info = workflow.info()
        return (info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= self._config.history_event_budget
                or info.get_current_history_size() >= self._config.history_bytes_budget)

    def _ctx(self, request: ActionRequest | None = None) -> Ctx:
        assert self._config is not None and self._cal is not None
        return Ctx(now=workflow.now(), cal=self._cal, ladder=self._config.ladder,
                   rules_version=self._machine.state.rules_version if self._machine else CURRENT_RULES_VERSION,
                   accounts=request.named_accounts() if request else {},
                   time_tolerance=timedelta(minutes=self._config.time_tolerance_minutes),
                   file_rules=self._config.file_rules())

    async def _db_step(self, activity: str, arg: Any, result_type: type | None = None) -> Any:
        """One short read or write of the read model (DB_ACTIVITY's timeout and retries). as a
        local activity (StartCase.local_db_steps) it runs in the worker that holds the case, inside the same
        workflow task, so an action costs Temporal one workflow task instead of two plus an activity task,
        and its answer comes once the register shows it. Cases opened without it keep activities."""
        if self._local_db_steps:
            return await workflow.execute_local_activity(activity, arg, result_type=result_type, **DB_ACTIVITY)
        return await workflow.execute_activity(activity, arg, result_type=result_type, **DB_ACTIVITY)

    # ---- configuration and the calendar (T4) -----------------------------------------------
    def _local_year(self) -> int:
        return local_year(workflow.now(), self._config.calendar.timezone if self._config else DEFAULT_TIMEZONE)

    async def _load_config(self) -> None:
        year = self._local_year()
        self._config = await self._db_step("load_case_config", ConfigRequest(years=[year, year + 1]), CaseConfig)
        self._cal = WorkCalendar(self._config.calendar)

    async def _load_config_if_year_changed(self) -> None:
        assert self._config is not None
        if self._local_year() + 1 not in self._config.covered_years:
            await self._load_config()

    # ---- effects ---------------------------------------------------------------------------
    async def _carry_out_effects(self) -> None:
        effects, self._effects = self._effects, []
        for effect in effects:
            await self._carry_out(effect)
            if isinstance(effect, self.AWAITED_EFFECTS):
                self._done.add(id(effect))

    async def _carry_out(self, effect: Any) -> None:
        """One effect of the machine; case types with effects of their own extend this."""
        if isinstance(effect, Notice):
            self._inflight += 1
            self._undelivered[effect.notification_id] = effect
            if effect.notification_id in self._timer_notices:
                self._timer_notices_sending.add(effect.notification_id)
            asyncio.create_task(self._deliver(effect))
        else:  # EarlyWarningCheck goes with the opening's projection (_count_with_projection)
            raise TypeError(f"no way to carry out {type(effect).__name__}")  # a bug: the task retries

    async def _deliver(self, notice: Notice) -> None:
        assert self._machine is not None and self._config is not None
        # A deadline's notice (an escalation, E1) is tried once as a local activity inside the workflow task its
        # timer woke: nobody waits on that task, and a delivery that goes through saves an activity task and a
        # second workflow task to record it. A notice an action raised, or a deadline's whose one try failed
        # for now, is an activity, so that no answer and no workflow task waits on a mail server. E3 either
        # way: retried for CaseConfig.notification_give_up_hours, a permanent failure (SMTP 5xx, webhook 4xx)
        # not at all; then recorded undeliverable.
        from_timer = notice.notification_id in self._timer_notices
        self._timer_notices.discard(notice.notification_id)
        notification = Notification(case_no=self._machine.state.case_no, **notice.model_dump(exclude={"kind"}))
        try:
            try:
                result = await self._try_in_task(notification) if from_timer else None
                if result is None:  # an action's notice, or a deadline's handed over after its one try (the
                    # projection does not wait for the retries)
                    self._timer_notices_sending.discard(notice.notification_id)
                    result = await workflow.execute_activity(
                        "send_notification", notification, result_type=NotificationResult,
                        start_to_close_timeout=NOTIFY_TIMEOUT, retry_policy=NOTIFY_RETRY,
                        schedule_to_close_timeout=timedelta(hours=self._config.notification_give_up_hours))
            except GIVEN_UP as e:
                self._machine.record_undeliverable(self._ctx(), notice, undeliverable_reason(e))
                self._effects += self._machine.take_effects()
                return
            unchanged = self._machine.state.seq in (self._projected_seq, self._delivered_seq)
            self._machine.record_delivery(self._ctx(), notice, result.emails, result.webhooks, result.unreachable_roles)
            if self._unprojected_deliveries and unchanged:  # nothing else to project: it waits for the next change
                self._delivered_seq = self._machine.state.seq
        finally:
            self._undelivered.pop(notice.notification_id, None)
            self._timer_notices_sending.discard(notice.notification_id)
            self._inflight -= 1
            self._changed = True

    @staticmethod
    async def _try_in_task(notification: Notification) -> NotificationResult | None:
        """A deadline's notice: one attempt inside the workflow task, of at most TIMER_NOTICE_ATTEMPT; None when
        it failed for now (refused, timed out, 4xx of SMTP), to be retried as an activity; a permanent failure
        (SMTP 5xx, webhook 4xx) is raised, as the retries would end the same way (E3)."""
        try:
            return await workflow.execute_local_activity(
                "send_notification", notification, result_type=NotificationResult,
                start_to_close_timeout=TIMER_NOTICE_ATTEMPT, retry_policy=ONE_TRY)
        except GIVEN_UP as e:
            cause = e.cause if isinstance(e, ActivityError) else e
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                raise
            return None

    def _recent(self, check: EarlyWarningCheck) -> RecentComplaints:
        assert self._config is not None
        return RecentComplaints(project=check.project, building=check.building,
                                since=workflow.now() - timedelta(days=self._config.early_warning_window_days))

    def _early_warning_counted(self, count: int) -> None:
        """C11: an early warning on the case when the building has had enough complaints in the window."""
        assert self._config is not None and self._machine is not None
        if count >= self._config.early_warning_threshold:
            record = getattr(self._machine, "record_early_warning")
            record(self._ctx(), count, self._config.early_warning_window_days)
            self._effects += self._machine.take_effects()

    def _count_with_projection(self) -> RecentComplaints | None:
        """C11: the check a complaint's opening raises, taken from the effects to go with the opening's
        projection (project_case counts the complaints on the building once the row is written and answers
        the count): one step less per complaint opened."""
        check = next((e for e in self._effects if isinstance(e, EarlyWarningCheck)), None)
        if check is None:
            return None
        self._effects.remove(check)
        return self._recent(check)

    # ---- what others see: read model, search attributes, UI details ------------------------
    async def _publish(self, settle: bool = False) -> None:
        """Projects the case if it changed since its last projection; a change that is only deliveries recorded
        (E3, patch NOTICE_OUTCOME_UNPROJECTED) waits for the next change, or for `settle` (the case closing)."""
        assert self._machine is not None and self._config is not None
        state = self._machine.state
        if state.seq == self._projected_seq or (state.seq == self._delivered_seq and not settle):
            return
        # A snapshot: Updates may change the state while the activity runs; they are published next.
        at = workflow.now()
        row = case_row(state, at, self._config.ladder)
        seq, start, end = state.seq, self._projected_timeline, len(state.timeline)
        count_recent = self._count_with_projection()
        count = await self._db_step("project_case", CaseProjection(
            case_no=state.case_no, seq=seq, row=row, timeline_start=start, timeline=state.timeline[start:end],
            count_recent=count_recent))
        self._projected_seq, self._projected_timeline, self._projected_at = seq, end, at
        self._projected_row = row
        self._upsert_attributes(row)
        workflow.set_current_details(self._details(row, state, self._config.ladder))
        if count_recent is not None:
            self._early_warning_counted(int(count))

    def _upsert_attributes(self, row: CaseRow) -> None:
        wanted = {
            sa.CASE_TYPE: row.case_type, sa.CASE_STATUS: row.status, sa.DEPARTMENT: row.department,
            sa.PROJECT: row.project, sa.MAJOR: row.major, sa.ESCALATION_LEVEL: row.escalation_level,
            sa.OVERDUE: row.overdue,
        }
        updates = []
        for key, value in wanted.items():
            if self._attributes.get(key.name, object()) != value:
                self._attributes[key.name] = value
                updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)

    @staticmethod
    def _details(row: CaseRow, state: Any, ladder: list) -> str:
        lines = [
            f"**{row.case_no}** · {row.case_type} · **{row.status}**",
            f"Department: {row.department or '—'} · handler: {row.handler or '—'} · "
            f"escalation level {row.escalation_level} ({escalated_to(row.escalation_level, ladder) or 'handler'})"
            + (" · **OVERDUE**" if row.overdue else ""),
        ]
        if (role := waiting_for(state)) is not None:
            lines.append(f"Waiting for approval by: {role}")
        # open or missed, due in Beijing time as staff read it; from the deadline's fields, not its API view
        # (a dump per deadline at every projection)
        lines += [f"- {d.label} ({d.rule}): due {beijing(d.due_at)} Beijing time — {d.state}"
                  for d in state.deadlines if d.open]
        return "\n".join(lines)
