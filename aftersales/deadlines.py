"""Deadlines and time passing (T2, T5, E1, E4), for every case: a deadline is set with its due time fixed
from then on (T5), met, waived, or extended by a person before it is due (R8); missed, it climbs the
escalation ladder one level per further working day (E1), the deadlines of a case that reach a level
together told in one message (E4). A progress note (a deadline that does not escalate) is the register's
to remind of, not the case's (E4, activities/reminders.py).
"""

from datetime import datetime


from aftersales.actor import Actor, OwnerActor
from aftersales.case import CaseBase, Ctx, Deadline, DeadlineExtension, Effect, register_reminds
from aftersales.errors import conflict, invalid
from aftersales.messages import beijing, deadline_name, role_title
from aftersales.provenance import Provenance
from aftersales.roles import Role


class DeadlineRules(CaseBase):
    """The deadlines of a case and their escalation; `CaseMachine` (aftersales/machine.py) builds on it."""

    # ---- deadlines (T2, T5) ----------------------------------------------------------------
    def set_deadline(self, ctx: Ctx, *, key: str, rule: str, label: str, due_at: datetime,
                     owners: list[Role], escalates: bool = True) -> Deadline:
        """Adds a deadline; its due time is fixed from now on (T5) unless a person extends it."""
        d = Deadline(key=key, rule=rule, label=label, owners=owners, department=self.state.department,
                     started_at=ctx.now, due_at=due_at, escalates=escalates)
        self.state.deadlines.append(d)
        self._note_fallback(ctx, ctx.now, due_at)
        return d

    def deadline(self, key: str) -> Deadline | None:
        return next((d for d in reversed(self.state.deadlines) if d.key == key), None)

    def meet(self, ctx: Ctx, key: str) -> None:
        d = self.deadline(key)
        if d is not None and d.open:
            d.met_at = ctx.now
            d.next_step_at = None

    def extend(self, ctx: Ctx, key: str, new_due: datetime, *, actor: Actor | OwnerActor, reason: str,
               rule: str = "R8", provenance: Provenance | None = None) -> Deadline:
        """The one way a set deadline moves (T5): a person extends it, before it is due, to a later
        time, with the reason recorded (R8: the owner's consent)."""
        d = self.deadline(key)
        if d is None or not d.open:
            raise conflict(f"没有可以延期的「{deadline_name(key)}」期限")
        if d.missed or ctx.now >= d.due_at:
            raise conflict(f"期限已过，不能延期（{rule}）")
        if new_due <= d.due_at:
            raise invalid(f"新的完成时限 {beijing(new_due)} 须晚于现在的 {beijing(d.due_at)}（{rule}）")
        d.extensions.append(DeadlineExtension(at=ctx.now, by=actor.username, role=actor.role,
                                              from_due_at=d.due_at, to_due_at=new_due, reason=reason))
        d.due_at = new_due
        self._note_fallback(ctx, ctx.now, new_due)
        self.note(ctx, "deadline_extended", f"{d.label}的期限由 {beijing(d.extensions[-1].from_due_at)} "
                  f"延至 {beijing(new_due)}：{reason}（{rule}）", actor, provenance)
        return d

    def waive_open_deadlines(self) -> None:
        for d in self.state.deadlines:
            if d.open:
                d.waived, d.next_step_at = True, None

    def waive_key(self, key: str) -> None:
        for d in self.state.deadlines:
            if d.key == key and d.open:
                d.waived, d.next_step_at = True, None

    def _note_fallback(self, ctx: Ctx, start: datetime, end: datetime) -> None:
        """T4: a year without holiday data runs on the fallback; say so once in the timeline."""
        for year in ctx.cal.fallback_years(start, end):
            if year not in self.state.fallback_years_noted:
                self.state.fallback_years_noted.append(year)
                self.note(ctx, "calendar", f"{year}年尚无节假日数据: 期限按周一至周五扣除法定节假日计算"
                          "(农历节日与节气已推算, 调休未知) (T4)")

    # ---- time passing: missed deadlines and escalation (E1, E4) ----------------------------
    def next_wakeup(self) -> datetime | None:
        times = [d.next_step_at if d.missed else d.due_at for d in self.state.deadlines
                 if d.open and not register_reminds(d)]
        times = [t for t in times if t is not None]
        return min(times) if times else None

    def tick(self, ctx: Ctx) -> list[Effect]:
        # E4: the deadlines of this case that reach the same level together give that level one message
        # naming them all.
        steps: list[tuple[int, Role, Deadline]] = []
        for d in self.state.deadlines:
            if not d.open or register_reminds(d):
                continue
            if not d.missed and ctx.now >= d.due_at:
                d.missed = True
                self.note(ctx, "deadline_missed", f"已逾期：{d.label}（{d.rule}），应于 {beijing(d.due_at)} 完成")
                if self.first_missed(ctx, d):   # its owners told first; the ladder one working day later (E1)
                    d.next_step_at = ctx.cal.add_working_days(d.due_at, 1)
                else:
                    self._step(ctx, d, d.due_at, steps)
            while d.missed and d.next_step_at is not None and ctx.now >= d.next_step_at:
                self._step(ctx, d, d.next_step_at, steps)
        for level in sorted({level for level, _, _ in steps}):
            at_level = [(role, d) for lv, role, d in steps if lv == level]
            self._notify_escalation(level, at_level[0][0], [d for _, d in at_level])
        if self.effects:
            self.state.seq += 1
        return self.take_effects()

    def first_missed(self, ctx: Ctx, d: Deadline) -> bool:
        """Hook: a deadline whose owners are told first when it is missed (O5: cs_staff calls an owner who has
        not signed off), True; the ladder then starts one working day later. False: the ladder at once (E1)."""
        return False

    def _step(self, ctx: Ctx, d: Deadline, at: datetime, steps: list[tuple[int, Role, "Deadline"]]) -> None:
        """One escalation step for an overdue deadline: up one level of the ladder (E1). The escalation's
        message is left to the caller, which groups the steps by level (E4)."""
        ladder = ctx.ladder
        level = max(d.level, self.state.base_level) + 1
        if level > len(ladder):
            d.next_step_at = None
            return
        d.level = level
        role = ladder[level - 1]
        self.note(ctx, "escalation", f"升级至第 {level} 级（{role_title(role)}）：{d.label}（{d.rule}）逾期")
        steps.append((level, role, d))
        d.next_step_at = ctx.cal.add_working_days(at, 1) if level < len(ladder) else None

    def _notify_escalation(self, level: int, role: Role, missed: list[Deadline]) -> None:
        """E1: the level is told what is overdue; several deadlines of the case at once, in one message (E4)."""
        names = "、".join(deadline_name(d.key, d.owners) for d in missed)
        rules = "/".join(d.rule for d in missed)
        text = (f"{names}（{rules}）应于 {beijing(missed[0].due_at)} 完成，至今未办，请督办。" if len(missed) == 1
                else f"{names}均已逾期未办，请督办。")
        self.notify([role], f"{names}逾期，已升级至{role_title(role)}", text,
                    f"E1 escalation level {level}: {rules} overdue",
                    department=self.state.department if role in (Role.dept_head, Role.dept_handler) else None,
                    items=[self.due_item(d) for d in missed], level=level)
