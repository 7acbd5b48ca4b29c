"""A3 deposit ledger (entries, exactly once, never below zero) and R9 worker evaluations (every one
kept, summed per quarter) — on a real SQLite read model."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from adapters.db import ledger

AT = datetime(2026, 11, 23, 2, tzinfo=timezone.utc)
D = Decimal


async def _deduct(s, key: str, amount: str, contractor: str = "C-001"):
    return await ledger.deduct_once(s, entry_key=key, contractor_id=contractor, case_no=key.split(":")[0],
                                    amount=D(amount), note="type A", at=AT)


@pytest.mark.asyncio
async def test_A3_a_deduction_is_booked_exactly_once(sessionmaker):
    async with sessionmaker() as s:
        await ledger.put_contractor(s, "C-001", "青岛建工", D("500000.00"), by="finance", at=AT)
        outcomes = [await _deduct(s, "WX-2026-000001:deduction", "1234.56") for _ in range(3)]
        assert [o.booked_now for o in outcomes] == [True, False, False]
        assert {(o.deducted, o.shortfall, o.balance) for o in outcomes} == {(D("1234.56"), D("0.00"), D("498765.44"))}
        statement = await ledger.deposit_statement(s, "C-001")
    assert statement["balance"] == D("498765.44") and statement["initial_deposit"] == D("500000.00")
    assert [(e["kind"], e["amount"], e["by"]) for e in statement["entries"]] == [
        ("lodged", D("500000.00"), "finance"), ("deduction", D("-1234.56"), None)]


@pytest.mark.asyncio
async def test_A3_a_statements_entries_carry_their_time_in_utc(sessionmaker):
    """The API answers ISO times with their offset (the OpenAPI `date-time`): SQLite hands a stored time back
    without its zone, the statement gives it back as the UTC it was stored as."""
    async with sessionmaker() as s:
        await ledger.put_contractor(s, "C-001", "青岛建工", D("500000.00"), by="finance", at=AT)
        await _deduct(s, "WX-2026-000001:deduction", "1234.56")
        statement = await ledger.deposit_statement(s, "C-001")
    assert [e["at"] for e in statement["entries"]] == [AT, AT]
    assert all(e["at"].utcoffset() is not None for e in statement["entries"])


@pytest.mark.asyncio
async def test_A3_a_deposit_never_goes_below_zero_the_shortfall_is_recorded(sessionmaker):
    """Deposit 1,050.50; a settlement of 1,200.50 takes 1,050.50 and records 150.00 short; a later
    deduction finds nothing and records all of it short; a retry books nothing more."""
    async with sessionmaker() as s:
        await ledger.put_contractor(s, "C-001", "青岛建工", D("1050.50"), by="finance", at=AT)
        first = await _deduct(s, "WX-1:deduction", "1200.50")
        again = await _deduct(s, "WX-1:deduction", "1200.50")
        second = await _deduct(s, "WX-2:deduction", "80.00")
        statement = await ledger.deposit_statement(s, "C-001")
    assert (first.booked_now, first.requested, first.deducted, first.shortfall, first.balance) == (
        True, D("1200.50"), D("1050.50"), D("150.00"), D("0.00"))
    assert again.model_dump() == {**first.model_dump(), "booked_now": False}
    assert (second.deducted, second.shortfall, second.balance) == (D("0.00"), D("80.00"), D("0.00"))
    assert statement["balance"] == D("0.00") and statement["shortfall"] == D("230.00")
    assert [(e["amount"], e["shortfall"]) for e in statement["entries"][1:]] == [
        (D("-1050.50"), D("150.00")), (D("0.00"), D("80.00"))]


@pytest.mark.asyncio
async def test_A3_an_administrator_changes_a_deposit_by_an_entry_never_an_overwrite(sessionmaker):
    async with sessionmaker() as s:
        await ledger.put_contractor(s, "C-001", "青岛建工", D("1000.00"), by="finance", at=AT)
        await _deduct(s, "WX-1:deduction", "300.00")
        with pytest.raises(ledger.LedgerRefusal, match="entry"):
            await ledger.put_contractor(s, "C-001", "青岛建工", D("5000.00"), by="finance", at=AT)
        await ledger.put_contractor(s, "C-001", "青岛建工集团", D("700.00"), by="finance", at=AT)  # a retry: same
        await ledger.put_contractor(s, "C-001", "青岛建工集团", None, by="finance", at=AT)  # renamed only
        booked = [await ledger.add_entry(s, contractor_id="C-001", entry_key="admin:C-001:t1", kind="top_up",
                                         amount=D("2000.00"), reason="补缴保证金", by="li.finance", at=AT)
                  for _ in range(2)]
        await ledger.add_entry(s, contractor_id="C-001", entry_key="admin:C-001:a1", kind="adjustment",
                               amount=D("-200.00"), reason="更正录入错误", by="li.finance", at=AT)
        with pytest.raises(ledger.LedgerRefusal, match="below zero"):
            await ledger.add_entry(s, contractor_id="C-001", entry_key="admin:C-001:a2", kind="adjustment",
                                   amount=D("-2500.01"), reason="x", by="li.finance", at=AT)
        with pytest.raises(ValueError, match="different"):
            await ledger.add_entry(s, contractor_id="C-001", entry_key="admin:C-001:t1", kind="top_up",
                                   amount=D("1.00"), reason="补缴保证金", by="li.finance", at=AT)
        with pytest.raises(ValueError, match="top-up"):
            await ledger.add_entry(s, contractor_id="C-001", entry_key="k", kind="top_up", amount=D("-1"),
                                   reason="x", by="li.finance", at=AT)
        with pytest.raises(LookupError):
            await ledger.add_entry(s, contractor_id="C-NONE", entry_key="k", kind="top_up", amount=D("1"),
                                   reason="x", by="li.finance", at=AT)
        statement = await ledger.deposit_statement(s, "C-001")
    assert booked == [True, False]
    assert statement["name"] == "青岛建工集团" and statement["balance"] == D("2500.00")
    assert [(e["kind"], e["amount"], e["by"], e["note"]) for e in statement["entries"]] == [
        ("lodged", D("1000.00"), "finance", "deposit lodged (A3)"), ("deduction", D("-300.00"), None, "type A"),
        ("top_up", D("2000.00"), "li.finance", "补缴保证金"), ("adjustment", D("-200.00"), "li.finance", "更正录入错误")]


@pytest.mark.asyncio
async def test_A3_unknown_contractor_gets_a_ledger_and_no_float_rounding(sessionmaker):
    async with sessionmaker() as s:
        await ledger.put_contractor(s, "C-NEW", "新公司", D("1.00"), by="finance", at=AT)
        for i in range(10):
            await _deduct(s, f"WX-{i}:deduction", "0.10", contractor="C-NEW")
        assert (await ledger.deposit_statement(s, "C-NEW"))["balance"] == D("0.00")
        outcome = await _deduct(s, "WX-X:deduction", "0.10", contractor="C-UNREGISTERED")
        assert (outcome.deducted, outcome.shortfall) == (D("0.00"), D("0.10"))  # registered as it goes, empty
        assert await ledger.deposit_statement(s, "C-NONE") is None


@pytest.mark.parametrize("at, quarter", [
    (datetime(2026, 9, 30, 15, 59, tzinfo=timezone.utc), "2026Q3"),
    (datetime(2026, 9, 30, 16, 0, tzinfo=timezone.utc), "2026Q4"),   # 00:00 on 1 Oct in Shanghai
    (datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc), "2027Q1"),
])
def test_R9_quarter_is_counted_in_local_time(at, quarter):
    assert ledger.quarter_of(at) == quarter


async def _evaluate(s, key: str, workers: list[str], quality: int, attitude: int, source="revisit", parts=1):
    await ledger.record_evaluation(s, evaluation_key=key, case_no=key.split(":")[0], workers=workers, source=source,
                                   parts=parts, quality=quality, attitude=attitude, at=AT, tz="Asia/Shanghai")


@pytest.mark.asyncio
async def test_R9_every_evaluation_is_kept_and_the_quarter_sums_them_all(sessionmaker):
    """A reopened repair WX-1: round 1 scored 1/1 + 1/1 (2/2), round 2 5/5 + 5/5 (10/10): the report
    sums both; a retried write adds nothing; a first-release row (combined, 2 parts) counts too."""
    async with sessionmaker() as s:
        for _ in range(2):  # a retried activity
            await _evaluate(s, "WX-1:round-1:sign_off", ["wang", "li"], 1, 1, "sign_off")
        await _evaluate(s, "WX-1:round-1:revisit", ["wang", "li"], 1, 1)
        await _evaluate(s, "WX-1:round-2:sign_off", ["wang", "li"], 5, 5, "sign_off")
        await _evaluate(s, "WX-1:round-2:revisit", ["wang", "li"], 5, 5)
        await _evaluate(s, "WX-0:sign_off+revisit@2026-11-20", ["wang"], 9, 8, "sign_off+revisit", parts=2)
        report = await ledger.worker_report(s, "2026Q4")
        assert await ledger.worker_report(s, "2026Q3") == []
    assert report == [
        {"worker": "li", "repairs": 1, "evaluations": 4, "quality_total": 12, "attitude_total": 12,
         "quality_average": 3.0, "attitude_average": 3.0},
        {"worker": "wang", "repairs": 2, "evaluations": 5, "quality_total": 21, "attitude_total": 20,
         "quality_average": 3.5, "attitude_average": 3.33},
    ]
