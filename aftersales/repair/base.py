"""What every step of a repair shares: the state it works on, the work deadline (set at dispatch and
again when a revisit reopens the work), the paid path's guard, and closing."""

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from aftersales.case import OWNER_ACTS_FROM, Ctx
from aftersales.errors import conflict
from aftersales.machine import CaseMachine
from aftersales.messages import DEADLINE_NAMES, yuan
from aftersales.repair.state import MULTI_TRADE_WORKING_DAYS, SINGLE_TRADE_WORKING_DAYS, RepairState, RepairStatus
from aftersales.roles import Role

_S = RepairStatus
_CLOSED = {"completed": "维修已完成，已结案", "declined": "业主不接受有偿服务报价，已结案（R3）"}


class RepairSteps(CaseMachine):
    """The base of the repair's steps (aftersales/repair/*.py), composed into `RepairCase`."""
    state: RepairState

    PROGRESS_RULE: ClassVar[str] = "R1/S3"

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

    def _not_on_paid_path(self, doing: str) -> None:
        if self.state.paid_path:
            raise conflict(f"不能{doing}：有偿服务按收费标准报价、由业主付款，公司的费用审批、结算和质量保证金"
                           "（A1–A3）不适用（R3）")

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
        if s.rules_version >= OWNER_ACTS_FROM:
            # O5 (rules 4): the close is the owner's to know, a repair's as a complaint's: the entry raises the close SMS.
            # Only the case's state changes (no command): recorded histories replay as they ran.
            self.note(ctx, "closed", _CLOSED.get(outcome, "已结案"))
