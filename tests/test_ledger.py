"""A3 deposit ledger exactly once; R9 worker scores per quarter — on a real SQLite read model."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from aftersales.db import ledger


@pytest.mark.asyncio
async def test_A3_a_deduction_is_booked_exactly_once(sessionmaker):
    at = datetime(2026, 11, 23, 2, tzinfo=timezone.utc)
    async with sessionmaker() as s:
        await ledger.put_contractor(s, "C-001", "青岛建工", Decimal("500000.00"))
        booked = [await ledger.deduct_once(s, entry_key="WX-2026-000001:deduction", contractor_id="C-001",
                                           case_no="WX-2026-000001", amount=Decimal("1234.56"), note="type A", at=at)
                  for _ in range(3)]
        assert booked == [True, False, False]
        statement = await ledger.deposit_statement(s, "C-001")
    assert statement["balance"] == Decimal("498765.44")
    assert [e["amount"] for e in statement["entries"]] == [Decimal("-1234.56")]


@pytest.mark.asyncio
async def test_A3_unknown_contractor_gets_a_ledger_and_no_float_rounding(sessionmaker):
    at = datetime(2026, 11, 23, 2, tzinfo=timezone.utc)
    async with sessionmaker() as s:
        for i in range(10):
            await ledger.deduct_once(s, entry_key=f"k{i}", contractor_id="C-NEW", case_no=f"WX-{i}",
                                     amount=Decimal("0.10"), note="x", at=at)
        assert (await ledger.deposit_statement(s, "C-NEW"))["balance"] == Decimal("-1.00")
        assert await ledger.deposit_statement(s, "C-NONE") is None


@pytest.mark.parametrize("at, quarter", [
    (datetime(2026, 9, 30, 15, 59, tzinfo=timezone.utc), "2026Q3"),
    (datetime(2026, 9, 30, 16, 0, tzinfo=timezone.utc), "2026Q4"),   # 00:00 on 1 Oct in Shanghai
    (datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc), "2027Q1"),
])
def test_R9_quarter_is_counted_in_local_time(at, quarter):
    assert ledger.quarter_of(at) == quarter


@pytest.mark.asyncio
async def test_R9_scores_summed_per_worker_per_quarter(sessionmaker):
    at = datetime(2026, 11, 23, 2, tzinfo=timezone.utc)
    async with sessionmaker() as s:
        await ledger.record_scores(s, case_no="WX-1", workers=["wang", "li"], quality=9, attitude=10, at=at, tz="Asia/Shanghai")
        await ledger.record_scores(s, case_no="WX-1", workers=["wang", "li"], quality=9, attitude=10, at=at, tz="Asia/Shanghai")
        await ledger.record_scores(s, case_no="WX-2", workers=["wang"], quality=5, attitude=6, at=at, tz="Asia/Shanghai")
        report = await ledger.worker_report(s, "2026Q4")
        assert await ledger.worker_report(s, "2026Q3") == []
    assert report == [
        {"worker": "li", "repairs": 1, "quality_total": 9, "attitude_total": 10, "quality_average": 9.0, "attitude_average": 10.0},
        {"worker": "wang", "repairs": 2, "quality_total": 14, "attitude_total": 16, "quality_average": 7.0, "attitude_average": 8.0},
    ]
