"""Scheduled reports (issue 10 §3, K1, K2) on a real dev server: the Temporal Schedules are created
idempotently, a run makes the report of the last whole period and e-mails it with the workbook attached,
and a second run for the same period (a buffered catch-up) makes and mails nothing twice."""

import uuid

import pytest
from sqlalchemy import func, select

from aftersales.db.models import StoredReport
from aftersales.reports import ReportKind
from aftersales.schedules import CALENDARS, ensure_schedules
from tests.e2e.conftest import eventually


@pytest.mark.asyncio
async def test_K1_schedules_are_created_once_and_a_run_reports_the_last_week(dev_env, settings, sessionmaker,
                                                                               worker_process, smtp_server):
    client = dev_env.client
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    ids = await ensure_schedules(client, settings, prefix=prefix)
    assert ids == await ensure_schedules(client, settings, prefix=prefix)   # idempotent: created once, then updated
    assert len(ids) == len(CALENDARS) == 5
    weekly = client.get_schedule_handle(f"{prefix}report-weekly_complaints")
    desc = await weekly.describe()
    assert desc.schedule.spec.time_zone_name == "Asia/Shanghai"
    assert [r.start for r in desc.schedule.spec.calendars[0].day_of_week] == [1]   # Monday
    assert [r.start for r in desc.schedule.spec.calendars[0].hour] == [9]

    async def count_reports():
        async with sessionmaker() as session:
            return await session.scalar(select(func.count()).select_from(StoredReport).where(
                StoredReport.kind == ReportKind.weekly_complaints.value, StoredReport.generated_by == "schedule"))

    async def mailed():
        return [m for m in smtp_server.messages if "cs_manager@example.com" in m.to]

    try:
        await weekly.trigger()
        assert await eventually(lambda: _at_least(count_reports, 1), timeout=60)
        [message] = await eventually(mailed, timeout=60)
        assert "投诉处理周报" in message.subject and "处理率" in message.body
        [attachment] = list(message.message.iter_attachments())
        assert attachment.get_filename().startswith("weekly_complaints-") and attachment.get_content()[:2] == b"PK"
        await weekly.trigger()   # the same period again (a buffered catch-up run): nothing twice
        async def two_runs():
            d = await weekly.describe()
            done = [a for a in d.info.recent_actions]
            if len(done) < 2:
                return None
            for action in done:
                await client.get_workflow_handle(action.action.workflow_id).result()
            return done
        assert await eventually(two_runs, timeout=60)
        assert await count_reports() == 1
        assert len(await mailed()) == 1
    finally:
        for sid in ids:
            await client.get_schedule_handle(sid).delete()


async def _at_least(fn, n):
    value = await fn()
    return value if value and value >= n else None
