"""The case machine every procedure extends (complaints C1–C11, repairs R1–R9): one action at a time,
refused whole or applied whole (P1 first), the owner's progress replies (C5, R1/S3), approvals (A4) and
what became of each notice (E3).

A `CaseMachine` is pure: given the time and the working calendar it decides; the workflow around it
only waits, runs activities and records. Subclasses add their own actions as `on_<action>` methods;
time acts through `tick` (aftersales/deadlines.py).
"""

from typing import Any, ClassVar

from pydantic import BaseModel

from aftersales import access
from aftersales.actor import Actor, OwnerActor, is_owner
from aftersales.approvals import Approval, ApprovalStep, decision_brief
from aftersales.case import (
    APPROVAL_WORKING_DAYS, FILE_RULES_FROM, OWNER_ACTS_FROM, REMINDER_EVERY_WORKING_HOURS, Ctx, Effect, Notice, TimelineItem, copied,
    recipients,
)
from aftersales.deadlines import DeadlineRules
from aftersales.errors import conflict, forbidden, invalid
from aftersales.files import CASE_STEPS, FILES_PER_STEP, STEP_NAMES, FileRef, FileRules, file_note, room_left, too_many
from aftersales.messages import (
    CASE_TYPE_NAMES, DECISION_NAMES, DEADLINE_NAMES, STEP_KIND_NAMES, action_name, role_title, yuan,
)
from aftersales.provenance import TOLD_VIA_NAMES, Means, Provenance
from aftersales.roles import Role


class CaseMachine(DeadlineRules):
    """Shared mechanics. Subclasses define `on_<action>` methods; who may do each action is the table
    in `aftersales.access` (P1)."""

    # ---- actions -------------------------------------------------------------------------
    def apply(self, action: BaseModel, actor: Actor, ctx: Ctx) -> list[Effect]:
        """Applies one action or raises Rejection, leaving the state untouched on refusal
        (callers validate on a copy first: see `check`)."""
        name: str = getattr(action, "action")
        handler = getattr(self, f"on_{name}", None)
        if handler is None:
            raise conflict(f"「{action_name(name)}」不适用于{CASE_TYPE_NAMES.get(self.state.case_type.value, '')}案件")
        if self.state.closed:
            raise conflict(f"案件 {self.state.case_no} 已结案")
        if is_owner(actor):  # O3: the owner's own acts on their own case, from rules 4
            access.check_owner_acting(self.state, name, actor)
        else:
            allowed = access.action_roles(self.state.case_type.value, name)
            if allowed is not None and actor.role not in allowed:
                names = "、".join(role_title(r) for r in sorted(allowed, key=lambda r: r.value))
                raise forbidden(f"{role_title(actor.role)}不能「{action_name(name)}」；可以办理的：{names}")
            access.check_acting(self.state, name, actor)  # P1: own department, named handler, own contractor
        before = self.state.status
        handler(action, actor, ctx)
        if self.state.status != before:
            self.status_changed(ctx, before)
        self.state.seq += 1
        return self.take_effects()

    # ---- O4: who gave a fact the owner gives (rules 4) -----------------------------------------------
    def given(self, a: Any, actor: Actor | OwnerActor, ctx: Ctx) -> Provenance | None:
        """O4: how an owner-given fact was given — by the owner (code or link, now), or recorded by staff for
        them (代录: the staff member, and how the owner told them, `told_via`: required from rules 4). None for a
        case opened before that staff recorded without saying how. Called by a handler after its state checks
        and before it changes anything (a refusal leaves the case as it was)."""
        if is_owner(actor):
            return Provenance.by_owner(Means(actor.means), ctx.now)
        told = getattr(a, "told_via", None)
        if told is None:
            if self.state.rules_version >= OWNER_ACTS_FROM:
                raise invalid(f"told_via：代录业主的意见须注明业主告知的方式（{'、'.join(TOLD_VIA_NAMES.values())}）（O4）")
            return None
        return Provenance.recorded_by(actor.username, Means(told), ctx.now)

    def owner_rules(self, doing: str) -> None:
        """A step of the owner's channel (rules 4) on a case opened before it: not there (it keeps its rules)."""
        if self.state.rules_version < OWNER_ACTS_FROM:
            raise conflict(f"本案件按受理时的规则办理，没有这一步，不能{doing}（O3）")

    def status_changed(self, ctx: Ctx, before: str) -> None:
        """Hook: called after an action changed the status (a repair tells its parent complaint)."""

    def check(self, action: BaseModel, actor: Actor, ctx: Ctx) -> None:
        """Dry run on a deep copy: the validator and the handler can never disagree. The timeline is only
        ever appended to, so the copy takes a new list of the same entries rather than copies of them
        (a long case's timeline is most of its state: copying it was most of an action's validation);
        likewise a deadline met or waived never changes again (only open ones are met, extended, waived
        or escalated), so only the open ones are copied: a case's C5 deadlines grow with its age."""
        timeline, deadlines = self.state.timeline, self.state.deadlines
        self.state.timeline, self.state.deadlines = [], []
        try:
            copy = copied(self.state)
        finally:
            self.state.timeline, self.state.deadlines = timeline, deadlines
        copy.timeline = list(timeline)
        copy.deadlines = [copied(d) if d.open else d for d in deadlines]
        type(self)(copy).apply(action, actor, ctx)

    # ---- photos and documents (D1, D3) -----------------------------------------------------------
    def on_attach_file(self, a: Any, actor: Actor, ctx: Ctx) -> None:
        """D1: a file's reference added to a step (the bytes are in the blob store: claim check, D3). Who may:
        the step's roles (aftersales.files.ATTACH_ROLES) within P1's scope; at most 20 files a step."""
        ref: FileRef = a.file
        s = self.state
        if ref.step not in CASE_STEPS[s.case_type.value]:
            raise invalid(f"step：{CASE_TYPE_NAMES.get(s.case_type.value, '')}案件没有「{STEP_NAMES[ref.step]}」环节（D1）")
        access.check_attaching(s, ref.step, actor)
        if any(f.id == ref.id for f in s.files):
            raise conflict(f"文件 {ref.id} 已在本案件中（D1）")
        if room_left(s.files, ref.step) <= 0:
            raise invalid(too_many(ref.step))
        ref = ref.model_copy(update={"by": actor.username, "role": actor.role, "at": ctx.now})
        s.timeline.append(TimelineItem(at=ctx.now, kind="file", text=file_note(ref), actor=actor.username,
                                       role=actor.role, file=ref))

    def on_attach_files(self, a: Any, actor: Actor, ctx: Ctx) -> None:
        """D1: the files of one upload added together or not at all: every file is checked as `on_attach_file`
        checks one (and the step's room for all of them) before any is added. An owner's upload (O3) carries how
        the owner gave it (O4) on each entry."""
        self._attach(a.files, a.provenance, actor, ctx)

    def on_add_files(self, a: Any, actor: Actor, ctx: Ctx) -> None:
        """D1/D3: as `on_attach_files`, the upload's references in their compact form (actions.AddFiles)."""
        self._attach(a.refs(self.state.case_no), a.provenance, actor, ctx)

    def _attach(self, refs: list[FileRef], provenance: Any, actor: Actor, ctx: Ctx) -> None:
        s = self.state
        if len({r.id for r in refs}) != len(refs):
            raise invalid("同一文件在本次上传中出现了两次（D1）")
        for ref in refs:
            if ref.step not in CASE_STEPS[s.case_type.value]:
                raise invalid(f"step：{CASE_TYPE_NAMES.get(s.case_type.value, '')}案件没有「{STEP_NAMES[ref.step]}」环节（D1）")
            access.check_attaching(s, ref.step, actor)
            if any(f.id == ref.id for f in s.files):
                raise conflict(f"文件 {ref.id} 已在本案件中（D1）")
        for step in {r.step for r in refs}:
            wanted, room = sum(r.step == step for r in refs), room_left(s.files, step)
            if wanted > room:
                raise invalid(f"「{STEP_NAMES[step]}」环节最多 {FILES_PER_STEP} 个文件（D1）：本次 {wanted} 个，"
                              f"只能再加 {room} 个")
        by_owner = provenance is not None and provenance.by == "owner"
        for ref in refs:
            ref = ref.model_copy(update={"by": actor.username, "role": actor.role, "at": ctx.now})
            s.timeline.append(TimelineItem(at=ctx.now, kind="file", text=file_note(ref, by_owner), actor=actor.username,
                                           role=actor.role, file=ref, provenance=provenance))

    def file_rules(self, ctx: Ctx) -> FileRules:
        """D2 as this case applies it: as configured from rules 2 on, not at all before."""
        return ctx.file_rules if self.state.rules_version >= FILE_RULES_FROM else FileRules()

    # ---- progress replies to the owner every 4 working hours (C5, R1/S3) ------------------
    PROGRESS_RULE: ClassVar[str] = "C5"

    def owes_progress(self) -> bool:
        """Hook: whether the owner is still owed progress replies (a repair: until the sign-off)."""
        return not self.state.closed

    def _next_progress(self, ctx: Ctx) -> None:
        """The next progress note is due 4 working hours from now; it reminds, it does not escalate."""
        self.set_deadline(ctx, key="progress", rule=self.PROGRESS_RULE, label=DEADLINE_NAMES["progress"],
                          due_at=ctx.cal.add_working_hours(ctx.now, REMINDER_EVERY_WORKING_HOURS),
                          owners=[Role.butler, Role.cs_staff], escalates=False)

    def on_progress_note(self, a: Any, actor: Actor, ctx: Ctx) -> None:
        self.meet(ctx, "progress")
        self.state.progress_notes += 1
        self.note(ctx, "progress", f"进展：{a.note}（{self.PROGRESS_RULE}）", actor)
        if self.owes_progress():
            self._next_progress(ctx)

    # ---- approvals (A4) --------------------------------------------------------------------
    def request_approval(self, ctx: Ctx, actor: Actor, *, id: str, purpose: str, rule: str,
                         subject: str, steps: list[ApprovalStep], amount=None) -> Approval:
        approval = Approval(id=id, purpose=purpose, rule=rule, subject=subject, amount=amount,
                            requested_by=actor.username, requested_at=ctx.now, steps=steps)
        self.state.approvals.append(approval)
        self._await_step(ctx, approval)
        return approval

    def approval(self, id: str) -> Approval | None:
        return next((a for a in self.state.approvals if a.id == id), None)

    def pending_approval(self) -> Approval | None:
        return next((a for a in reversed(self.state.approvals) if a.status == "pending"), None)

    def decide_pending(self, ctx: Ctx, actor: Actor, decision, reason: str | None) -> Approval:
        approval = self.pending_approval()
        if approval is None:
            raise conflict("目前没有待决定的审批")
        approval.decide(actor, decision, reason, ctx.now)
        self.meet(ctx, f"approval:{approval.id}")
        amount = f"，金额 {yuan(approval.amount)}" if approval.amount is not None else ""
        self.note(ctx, "approval", f"{approval.subject}：{role_title(actor.role)}{DECISION_NAMES.get(decision, decision)}"
                  f"{amount}" + (f"——{reason}" if reason else ""), actor)
        if approval.status == "pending":
            self._await_step(ctx, approval)
        return approval

    def _await_step(self, ctx: Ctx, approval: Approval) -> None:
        step = approval.current()
        assert step is not None
        key = f"approval:{approval.id}"
        self.waive_key(key)
        d = self.set_deadline(ctx, key=key, rule="A4/E1", label=f"{role_title(step.role)}{STEP_KIND_NAMES.get(step.kind, step.kind)}：{approval.subject}",
                          due_at=ctx.cal.add_working_days(ctx.now, APPROVAL_WORKING_DAYS), owners=[step.role])
        brief = decision_brief(approval, self.state.decided(approval))  # A4: what is decided, in the mail
        self.notify([step.role], f"待您审批：{approval.subject}",
                    f"{approval.subject} 等待{role_title(step.role)}{STEP_KIND_NAMES.get(step.kind, step.kind)}"
                    f"（{approval.rule}）。",
                    f"approval {approval.id} ({approval.rule})", items=[self.due_item(d)],
                    details=brief.lines(), requested_by=approval.requested_by)

    # ---- notification results (E3) ---------------------------------------------------------
    UNDELIVERABLE_REASON: ClassVar[str] = "E3 undeliverable notification"

    def record_undeliverable(self, ctx: Ctx, notice: Notice, why: str) -> None:
        """E3: a notice that can never be delivered is recorded on the case and ops (cs_manager) are told
        (unless that notice was itself the ops message: no loop)."""
        who, title = recipients(notice), notice.message.title if notice.message else notice.subject
        self.note(ctx, "notification_undeliverable", f"通知无法送达（E3）：{title} → {who}：{why}")
        if notice.reason != self.UNDELIVERABLE_REASON:
            self.notify([Role.cs_manager], "通知无法送达，请人工处理",
                        f"发给{who}的通知“{title}”无法送达：{why}。请核对收件人的邮箱或机器人地址，并人工告知。",
                        self.UNDELIVERABLE_REASON)
        self.state.seq += 1

    def record_delivery(self, ctx: Ctx, notice: Notice, emails: list[str], webhooks: int,
                        unreachable: list[Role]) -> None:
        what = notice.message.title if notice.message else notice.reason
        text = f"已通知{recipients(notice)}（邮件 {len(emails)} 封，群机器人 {webhooks} 条）：{what}"
        if unreachable:
            text += f"；{'、'.join(role_title(r) for r in unreachable)}未配置收件人"
        self.note(ctx, "notification", text)
        self.state.seq += 1
