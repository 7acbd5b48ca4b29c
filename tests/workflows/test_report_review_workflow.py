"""K1 with E1 on the time-skipping server: the gm's review of the monthly complaint statistics, opened
by the scheduled report, told to the gm, escalating above the preparer once the 10th has passed, and done
by the gm's Update (a cs_manager is refused; the read model shows each step)."""

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowUpdateFailedError

from aftersales.actor import Actor
from adapters.db.models import ReportReview
from adapters.db.register import utc
from aftersales.roles import Role
from tests.workflows.helpers import _STARTED, record_history, running_worker, skip_time, skip_until, wait_for
from contracts.report import ReviewRequest, ReviewStart
from workflows.report_review import ReportReviewWorkflow, review_workflow_id

GM = Actor(username="gm", role=Role.gm)


@pytest.mark.asyncio
async def test_K1_E1_the_gms_review_escalates_when_the_10th_passes_and_ends_with_the_review(
        ts_env, settings, sessionmaker, smtp_server):
    now = (await ts_env.get_current_time()).astimezone(ZoneInfo("Asia/Shanghai"))
    period = f"{now.year}-{now.month:02d}"           # this month's statistics: due the 10th of the next
    report_id = uuid.uuid4().int % 10**8
    async with running_worker(ts_env, settings, sessionmaker):
        h = await ts_env.client.start_workflow(
            ReportReviewWorkflow.run, ReviewStart(report_id=report_id, kind="monthly_complaints", period=period,
                                                  title="投诉统计表"),
            id=review_workflow_id("monthly_complaints", f"{period}-{report_id}"), task_queue=settings.task_queue)
        _STARTED.append(h)

        async def row(level: int = 0, status: str = "awaiting"):
            async with sessionmaker() as session:
                r = await session.get(ReportReview, report_id)
                return r if r is not None and r.escalation_level >= level and r.status == status else None
        first = await wait_for(row)
        due = utc(first.due_at).astimezone(ZoneInfo("Asia/Shanghai"))
        assert due.day == 10 and due.month == (now.month % 12) + 1 and first.reviewer == "gm"
        assert await wait_for(lambda: _mailed(smtp_server, "gm@example.com", "待审阅"))

        await skip_time(ts_env, due - now + timedelta(hours=1))           # the 10th has passed: deputy_gm told
        assert (await wait_for(lambda: row(1))).escalation_level == 1
        [told] = await wait_for(lambda: _mailed(smtp_server, "deputy_gm@example.com", "审阅逾期"))
        assert "第 1 级" in told.subject and "投诉统计表" in told.body
        assert (await skip_until(ts_env, lambda: row(2))).escalation_level == 2   # a working day later: gm, the top
        state = await h.query(ReportReviewWorkflow.state)
        assert state["escalated_to"] == ["deputy_gm", "gm"]

        with pytest.raises(WorkflowUpdateFailedError) as refused:          # only the reviewer reviews
            await h.execute_update(ReportReviewWorkflow.review,
                                   ReviewRequest(actor=Actor(username="m", role=Role.cs_manager), comment="已阅"))
        assert refused.value.cause.type == "forbidden"
        done = await h.execute_update(ReportReviewWorkflow.review, ReviewRequest(actor=GM, comment="同意，关注漏水类投诉"))
        assert done["status"] == "reviewed" and done["reviewed_by"] == "gm"
        assert (await h.result())["comment"] == "同意，关注漏水类投诉"
        reviewed = await wait_for(lambda: row(2, "reviewed"))
        assert reviewed.comment == "同意，关注漏水类投诉" and reviewed.reviewed_by == "gm"
        await record_history(h, "report_review_escalated")


async def _mailed(smtp_server, address: str, words: str):
    return [m for m in smtp_server.messages if address in m.to and words in m.subject]
