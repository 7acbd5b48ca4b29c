"""C1, C11: a complaint registered by the hotline (来电、来访登记表) with its deadlines — the opinion to the
owner in 3 working days (C4), closing in 7 days (C6), a progress note every 4 working hours (C5) — major
from the start when reported so, a group complaint or an authority's referral (C8); and the early warning
when the building has had several complaints within a short window (C11, counted by the workflow)."""

from typing import Self

from aftersales.actor import Actor
from aftersales.case import Ctx, EarlyWarningCheck, Effect
from aftersales.complaint.base import ComplaintSteps
from aftersales.complaint.state import (
    CLOSE_CALENDAR_DAYS, OPINION_WORKING_DAYS, Channel, ComplaintIntake, ComplaintState, ComplaintStatus,
)
from aftersales.messages import CHANNEL_NAMES, DEADLINE_NAMES
from aftersales.roles import Role

_S = ComplaintStatus


class Intake(ComplaintSteps):
    # ---- C1: intake ------------------------------------------------------------------------
    @classmethod
    def open(cls, case_no: str, intake: ComplaintIntake, actor: Actor, ctx: Ctx) -> tuple[Self, list[Effect]]:
        received = ctx.now
        state = ComplaintState(
            case_no=case_no, status=_S.registered, received_at=received, registered_by=actor.username,
            customer=intake.customer, description=intake.description, channel=intake.channel,
            category=intake.category, group_complaint=intake.group_complaint, rules_version=ctx.rules_version,
            **ctx.case_org(),
        )
        case = cls(state)
        case.note(ctx, "intake", f"{CHANNEL_NAMES.get(intake.channel.value, intake.channel.value)}受理：{intake.category}（C1）", actor,
                  intake.provenance)
        cal = ctx.cal
        case.set_deadline(ctx, key="opinion", rule="C4", label=DEADLINE_NAMES["opinion"],
                          due_at=cal.add_working_days(received, OPINION_WORKING_DAYS), owners=[Role.cs_staff])
        case.set_deadline(ctx, key="close", rule="C6", label=DEADLINE_NAMES["close"],
                          due_at=cal.add_days(received, CLOSE_CALENDAR_DAYS,  # T2: a day off rolls on
                                              to_working_day=True), owners=[Role.cs_staff])
        case._next_progress(ctx)
        reasons = [r for r, on in (("受理时报为重大投诉", intake.major),
                                   ("群诉", intake.group_complaint),
                                   ("主管部门转办", intake.channel == Channel.authority_referral)) if on]
        if reasons:
            case._make_major(ctx, "；".join(reasons))
        case.effects.append(EarlyWarningCheck(project=intake.customer.project, building=intake.customer.building))
        return case, case.take_effects()

    # ---- C11: early warning ----------------------------------------------------------------
    def record_early_warning(self, ctx: Ctx, count: int, window_days: int) -> None:
        """C11: several complaints on one building within a short window warn cs_manager."""
        s = self.state
        s.early_warning = f"{s.customer.project}{s.customer.building} {window_days} 天内已有 {count} 件投诉"
        self.note(ctx, "early_warning", f"预警：{s.early_warning}（C11）")
        self.notify([Role.cs_manager], "投诉预警：可能发展为重大投诉",
                    f"{s.customer.project}{s.customer.building} {window_days} 天内已有 {count} 件投诉（C11）。",
                    "C11 early warning")
        s.seq += 1
