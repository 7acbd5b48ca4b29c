"""R3: owner-paid repairs (有偿服务) as their own path — a quote from the versioned fee
schedule (items × quantities, extra items with a reason), the owner's acceptance on the repair slip,
work as for any repair, the owner's payment recorded by finance; no A1, A2 or A3; a declined quote
ends the case as declined."""

from datetime import timedelta
from decimal import Decimal

import pytest

from aftersales import actions as A
from aftersales.fees import ExtraItem, FeeItem, FeeSchedule, FeeScheduleBody, QuoteItem, price_quote
from aftersales.messages import yuan
from aftersales.next_actors import next_actors
from aftersales.repair.state import DepositDeduction, RepairStatus, WorkerScores
from aftersales.roles import Role
from aftersales.views import case_row, case_view
from tests.rules.driver import LADDER
from tests.rules.test_repair_machine import Run, dispatch, inspect, pay, survey

R = Role
SCHEDULE = FeeSchedule(version=3, items=[
    FeeItem(code="TAP", name="更换水龙头", unit="个", unit_price=Decimal("45.00")),
    FeeItem(code="PIPE", name="更换水管", unit="米", unit_price=Decimal("32.50")),
])


def quote(*items: tuple[str, str], extras: list[ExtraItem] | None = None, schedule=SCHEDULE) -> A.Quote:
    return A.Quote(action="quote", items=[QuoteItem(code=c, quantity=Decimal(q)) for c, q in items],
                   extras=extras or [], schedule=schedule)


def accept(r: Run) -> A.AcceptQuote:
    return A.AcceptQuote(action="accept_quote", told_via="phone", signed_by="李先生", signed_at=r.now - timedelta(minutes=5))


def payment(amount: str, method="wechat", receipt_no="SJ-2026-0001") -> A.RecordServicePayment:
    return A.RecordServicePayment(action="record_service_payment", amount=Decimal(amount), method=method,
                                  receipt_no=receipt_no)


def revisited(r: Run) -> Run:
    r.do(R.repair_lead, A.CompleteWork(action="complete_work", note="已换"))
    r.do(R.cs_staff, inspect()).do(R.repair_lead, inspect())
    r.do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5))
    return r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))


def test_R3_price_quote_items_times_quantities_plus_extras_to_the_fen():
    priced = price_quote(SCHEDULE, [QuoteItem(code="TAP", quantity=Decimal("2")),
                                    QuoteItem(code="PIPE", quantity=Decimal("1.5"))],
                         [ExtraItem(name="角阀", unit="个", unit_price=Decimal("18.33"), quantity=Decimal("1.5"),
                                    reason="原角阀锈死")])
    assert [ln.amount for ln in priced.lines] == [Decimal("90.00"), Decimal("48.75"), Decimal("27.50")]
    assert priced.total == Decimal("166.25") and priced.schedule_version == 3
    assert priced.lines[2].code is None and priced.lines[2].reason == "原角阀锈死"
    with pytest.raises(ValueError, match="'SINK' is not in fee schedule version 3"):
        price_quote(SCHEDULE, [QuoteItem(code="SINK", quantity=Decimal("1"))], [])
    assert yuan(Decimal("1234.5")) == "¥1,234.50"


def test_R3_fee_schedule_and_quote_bodies_are_validated():
    with pytest.raises(ValueError, match="repeated: TAP"):
        FeeScheduleBody(items=[SCHEDULE.items[0], SCHEDULE.items[0]])
    with pytest.raises(ValueError):
        A.Quote(action="quote")                                                   # nothing to quote
    with pytest.raises(ValueError):
        ExtraItem(name="x", unit="个", unit_price=Decimal("1"), quantity=Decimal("1"), reason=" ")  # a reason
    with pytest.raises(ValueError):
        QuoteItem(code="TAP", quantity=Decimal("0"))


def test_R3_paid_path_quote_accept_work_pay_closes_without_A1_A2_A3():
    r = Run(paid_service=True)
    r.do(R.cs_staff, A.AgreeAppointment(action="agree_appointment", told_via="phone", appointment_at=r.now))
    assert r.refused(R.engineering, survey()).kind == "conflict"                 # no company cost survey
    assert r.refused(R.cs_staff, dispatch()).kind == "conflict"                  # not before the quote
    assert r.refused(R.hotline, quote(("TAP", "1"))).kind == "forbidden"
    r.do(R.repair_lead, quote(("TAP", "2"), ("PIPE", "1.5")))
    assert r.s.status == RepairStatus.quoted and r.s.quote.total == Decimal("138.75")
    assert r.case.deadline("survey").state == "met"                              # the visit and quote (R2)
    assert r.refused(R.cs_staff, dispatch()).kind == "conflict"                  # not before the owner signs
    future = A.AcceptQuote(action="accept_quote", told_via="phone", signed_by="李先生", signed_at=r.now + timedelta(hours=1))
    assert r.refused(R.cs_staff, future).kind == "invalid"
    r.do(R.cs_staff, accept(r))
    assert r.s.status == RepairStatus.quote_accepted and r.s.quote_acceptance.signed_by == "李先生"
    assert r.s.approvals == []                                                    # no A1
    r.do(R.cs_staff, dispatch("wang.worker"))
    revisited(r)
    assert r.s.status == RepairStatus.revisited and not r.s.closed               # waits for the owner's payment
    assert any(n.roles == [R.finance] and n.reason == "R3 payment due" for n in r.notices())
    # 我的待办: the owner's payment is finance's next step, never a cost statement the paid path refuses (A4, R3)
    assert [(a.role, a.action) for a in next_actors(r.s)] == [(R.finance, "record_service_payment")]
    assert r.refused(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal("138.75"),
                                                    note="x")).kind == "conflict"  # no A2
    assert r.refused(R.finance, pay("138.75")).kind == "conflict"                 # no company payment (A3)
    assert r.refused(R.cs_staff, payment("138.75")).kind == "forbidden"
    assert r.refused(R.finance, payment("138.70")).kind == "invalid"
    r.do(R.finance, payment("138.75", method="alipay", receipt_no="SJ-88"))
    s = r.s
    assert s.status == RepairStatus.closed and s.outcome == "completed"
    assert (s.service_payment.method, s.service_payment.receipt_no, s.service_payment.by) == ("alipay", "SJ-88",
                                                                                             "finance")
    assert r.of(DepositDeduction) == [] and [w.source for w in r.of(WorkerScores)] == ["sign_off", "revisit"]  # R9
    assert any("¥138.75" in t.text and "支付宝" in t.text for t in s.timeline)
    row = case_row(s, r.now, LADDER)
    assert row.paid_service and row.service_fee_fen == 13875 and row.service_paid_fen == 13875
    assert "a1" not in case_view(s, r.now, LADDER)


def test_R3_payment_before_the_revisit_closes_the_case_at_the_revisit():
    r = Run(paid_service=True).do(R.cs_staff, quote(("TAP", "1")))
    r.do(R.cs_staff, accept(r)).do(R.finance, payment("45.00", method="cash"))
    assert r.refused(R.finance, payment("45.00")).kind == "conflict"             # recorded once
    r.do(R.cs_staff, dispatch())
    revisited(r)
    assert r.s.status == RepairStatus.closed and r.s.outcome == "completed"


def test_R3_a_quote_keeps_the_prices_of_its_schedule_version():
    r = Run(paid_service=True).do(R.cs_staff, quote(("TAP", "1")))
    newer = FeeSchedule(version=4, items=[FeeItem(code="TAP", name="更换水龙头", unit="个", unit_price=Decimal("60"))])
    assert newer.item("TAP").unit_price != r.s.quote.lines[0].unit_price
    assert r.s.quote.schedule_version == 3 and r.s.quote.total == Decimal("45.00")
    r.do(R.cs_staff, quote(("TAP", "1"), schedule=newer))                       # re-quoted: the new version
    assert r.s.quote.round == 2 and r.s.quote.total == Decimal("60.00")


def test_R3_extra_items_need_a_reason_and_unknown_items_are_refused():
    r = Run(paid_service=True)
    assert r.refused(R.cs_staff, quote(("SINK", "1"))).kind == "invalid"
    unpriced = A.Quote(action="quote", items=[QuoteItem(code="TAP", quantity=Decimal("1"))])
    assert r.refused(R.cs_staff, unpriced).kind == "invalid"                     # the API prices it
    r.do(R.cs_staff, quote(extras=[ExtraItem(name="疏通下水", unit="次", unit_price=Decimal("80"),
                                             quantity=Decimal("1"), reason="标准内无此项")]))
    assert r.s.quote.total == Decimal("80.00") and r.s.quote.lines[0].reason == "标准内无此项"


def test_R3_an_owner_who_declines_ends_the_case_as_declined_and_reminders_stop():
    r = Run(paid_service=True).do(R.cs_staff, quote(("PIPE", "4")))
    r.do(R.butler, A.DeclineQuote(action="decline_quote", told_via="phone", reason="业主认为价格过高，自行找人维修"))
    s = r.s
    assert s.status == RepairStatus.closed and s.outcome == "declined" and s.decline_reason
    assert all(not d.open for d in s.deadlines) and r.case.next_wakeup() is None  # no endless reminders
    row = case_row(s, r.now, LADDER)
    assert row.outcome == "declined" and row.paid_service and row.service_fee_fen == 13000
    assert r.refused(R.cs_staff, accept(r)).kind == "conflict"


def test_R3_quote_actions_are_only_for_a_paid_service():
    r = Run()
    assert r.refused(R.cs_staff, quote(("TAP", "1"))).kind == "conflict"
    assert r.refused(R.finance, payment("1")).kind == "conflict"


