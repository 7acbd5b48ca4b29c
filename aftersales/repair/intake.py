"""R1: a repair registered like a complaint (C1), the appointment agreed with the owner and the worker's
arrival recorded against it (late by more than 10 minutes without telling the owner: flagged), and the
butler's progress replies every 4 working hours until the owner signs the work off (S3)."""

from typing import Self

from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.case import Ctx, not_in_the_future, not_in_the_past
from aftersales.errors import conflict
from aftersales.messages import DEADLINE_NAMES, beijing
from aftersales.repair.base import RepairSteps
from aftersales.repair.state import (
    BEFORE_DISPATCH, LATE_ARRIVAL_GRACE, OWNER_WAITING, SURVEY_WORKING_DAYS, Arrival, ParentUpdate, RepairEffect,
    RepairIntake, RepairState, RepairStatus,
)
from aftersales.roles import Role

_S = RepairStatus


class Intake(RepairSteps):
    # ---- R1: intake ------------------------------------------------------------------------
    @classmethod
    def open(cls, case_no: str, intake: RepairIntake, actor: Actor, ctx: Ctx) -> tuple[Self, list[RepairEffect]]:
        received = ctx.now
        state = RepairState(
            case_no=case_no, status=_S.registered, received_at=received, registered_by=actor.username,
            customer=intake.customer, description=intake.description, trades=list(intake.trades),
            requested_appointment=intake.requested_appointment, paid_service=intake.paid_service,
            parent_case_no=intake.parent_case_no, rules_version=ctx.rules_version, channel=intake.channel,
            **ctx.case_org(),
        )
        case = cls(state)
        c = intake.customer
        case.note(ctx, "intake", ("业主自助" if intake.channel == "owner_app" else "") + f"报修受理：{'、'.join(intake.trades)}，{c.project}{c.building}{c.unit}"
                  + ("（有偿服务）" if intake.paid_service else "")
                  + (f"，由投诉 {intake.parent_case_no} 转来" if intake.parent_case_no else "") + "（R1）", actor,
                  intake.provenance)
        case.set_deadline(ctx, key="survey", rule="R2", label=DEADLINE_NAMES["survey"],
                          due_at=ctx.cal.add_working_days(received, SURVEY_WORKING_DAYS),
                          owners=[Role.cs_staff, Role.engineering, Role.repair_lead])
        case._next_progress(ctx)
        case._tell_parent()
        return case, case.take_effects()

    def owes_progress(self) -> bool:
        """R1/S3: the butler replies every 4 working hours until the owner signs the work off."""
        return self.state.status in OWNER_WAITING

    def status_changed(self, ctx: Ctx, before: str) -> None:
        self._tell_parent()

    def _tell_parent(self) -> None:
        s = self.state
        if s.parent_case_no:
            self.effects.append(ParentUpdate(parent_case_no=s.parent_case_no, case_no=s.case_no, status=s.status))

    # ---- R1: appointment and arrival ---------------------------------------------------------
    def on_agree_appointment(self, a: A.AgreeAppointment, actor: Actor, ctx: Ctx) -> None:
        self.require_status(*BEFORE_DISPATCH, _S.in_progress, doing="约定上门时间")
        not_in_the_past("appointment_at", a.appointment_at, ctx.now, ctx.time_tolerance)
        given = self.given(a, actor, ctx)   # O4: the owner agreed it with staff (代录)
        self._agreed(ctx, a.appointment_at, actor, given, f"已与业主约定上门时间 {beijing(a.appointment_at)}（R1）")

    def _agreed(self, ctx: Ctx, at, actor, given, text: str) -> None:
        s = self.state
        s.appointment_at, s.appointment_kept, s.proposed_appointment = at, False, None
        s.appointment_provenance = given
        if s.status == _S.registered:
            s.status = _S.scheduled
        self.note(ctx, "appointment", text, actor, given)

    # ---- R1 (rules 4): a time proposed to the owner, accepted or another asked for ----------------------------
    def on_propose_appointment(self, a: A.ProposeAppointment, actor: Actor, ctx: Ctx) -> None:
        self.owner_rules("拟定上门时间")
        self.require_status(*BEFORE_DISPATCH, _S.in_progress, doing="拟定上门时间")
        not_in_the_past("appointment_at", a.appointment_at, ctx.now, ctx.time_tolerance)
        self.state.proposed_appointment = a.appointment_at
        self.note(ctx, "appointment_proposed", f"拟定上门时间 {beijing(a.appointment_at)}，请业主确认或另约（R1）", actor)

    def on_accept_appointment(self, a: A.AcceptAppointment, actor: Actor, ctx: Ctx) -> None:
        self.owner_rules("确认上门时间")
        self.require_status(*BEFORE_DISPATCH, _S.in_progress, doing="确认上门时间")
        at = self.state.proposed_appointment
        if at is None:
            raise conflict("没有待确认的上门时间：请等客服拟定时间，或另约时间（R1）")
        not_in_the_past("appointment_at", at, ctx.now, ctx.time_tolerance)
        given = self.given(a, actor, ctx)
        self._agreed(ctx, at, actor, given, f"业主确认上门时间 {beijing(at)}（R1）")

    def on_request_appointment(self, a: A.RequestAppointment, actor: Actor, ctx: Ctx) -> None:
        self.owner_rules("另约上门时间")
        self.require_status(*BEFORE_DISPATCH, _S.in_progress, doing="另约上门时间")
        not_in_the_past("appointment_at", a.appointment_at, ctx.now, ctx.time_tolerance)
        given = self.given(a, actor, ctx)
        s = self.state
        s.requested_appointment, s.proposed_appointment = a.appointment_at, None
        self.note(ctx, "appointment_requested", f"业主希望上门时间改为 {beijing(a.appointment_at)}"
                  + (f"：{a.note}" if a.note else "") + "（R1）", actor, given)
        self.notify([Role.cs_staff, Role.butler], "业主希望另约上门时间",
                    f"业主希望上门时间改为 {beijing(a.appointment_at)}，请约定或另拟时间（R1）。", "R1 owner asks another time")

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
