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
from tests.workflows.helpers import (
    _STARTED, record_history, running_worker, skip_time, skip_until, vouched_for, wait_for,
)
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
        assert (await skip_until(ts_env, lambda: row(2), settles=h)).escalation_level == 2   # a working day later: gm, the top
        state = await h.query(ReportReviewWorkflow.state)
        assert state["escalated_to"] == ["deputy_gm", "gm"]

        with pytest.raises(WorkflowUpdateFailedError) as refused:          # only the reviewer reviews
            await h.execute_update(ReportReviewWorkflow.review,
                                   vouched_for(h, ReviewRequest(actor=Actor(username="m", role=Role.cs_manager),
                                                                comment="已阅")))
        assert refused.value.cause.type == "forbidden"
        done = await h.execute_update(ReportReviewWorkflow.review,
                                      vouched_for(h, ReviewRequest(actor=GM, comment="同意，关注漏水类投诉")))
        assert done["status"] == "reviewed" and done["reviewed_by"] == "gm"
        assert (await h.result())["comment"] == "同意，关注漏水类投诉"
        reviewed = await wait_for(lambda: row(2, "reviewed"))
        assert reviewed.comment == "同意，关注漏水类投诉" and reviewed.reviewed_by == "gm"
        await record_history(h, "report_review_escalated")


async def _mailed(smtp_server, address: str, words: str):
    return [m for m in smtp_server.messages if address in m.to and words in m.subject]


@pytest.mark.asyncio
async def test_K1_P5_E1_a_companys_review_tells_its_own_gm_and_climbs_its_own_ladder(
        ts_env, settings, sessionmaker, smtp_server):
    """海景置业's statistics: the review is told to 海景置业's gm (its role mailbox: it has no gm account), never to
    融侨置业's gm nor the group's; its escalation reaches 海景置业's deputy_gm; 融侨置业's gm and the group's are
    refused, 海景置业's own gm reviews."""
    from adapters.db.staff import create_staff
    async with sessionmaker() as session:
        await create_staff(session, username="hj_gm", role=Role.gm, password="x" * 12, rounds=4, company_id="hj",
                           email="hj_gm@example.com")
    now = (await ts_env.get_current_time()).astimezone(ZoneInfo("Asia/Shanghai"))
    period = f"{now.year}-{now.month:02d}"
    report_id = uuid.uuid4().int % 10**8
    async with running_worker(ts_env, settings, sessionmaker):
        h = await ts_env.client.start_workflow(
            ReportReviewWorkflow.run, ReviewStart(report_id=report_id, kind="monthly_complaints", period=period,
                                                  title="海景置业 · 投诉统计表（月）", company_id="hj", company_name="海景置业"),
            id=review_workflow_id("monthly_complaints", f"{period}-{report_id}", "hj"), task_queue=settings.task_queue)
        _STARTED.append(h)

        async def row(level: int = 0, status: str = "awaiting"):
            async with sessionmaker() as session:
                r = await session.get(ReportReview, report_id)
                return r if r is not None and r.escalation_level >= level and r.status == status else None
        first = await wait_for(row)
        [told] = await wait_for(lambda: _mailed(smtp_server, "hj_gm@example.com", "待审阅"))
        assert "海景置业" in told.subject
        assert not await _mailed(smtp_server, "gm@example.com", "待审阅")
        assert not await _mailed(smtp_server, "group_gm@example.com", "待审阅")
        due = utc(first.due_at).astimezone(ZoneInfo("Asia/Shanghai"))
        await skip_time(ts_env, due - now + timedelta(hours=1))
        assert (await wait_for(lambda: row(1))).escalation_level == 1
        assert await wait_for(lambda: _mailed(smtp_server, "deputy_gm@haijing.example.com", "审阅逾期"))
        assert not await _mailed(smtp_server, "deputy_gm@example.com", "审阅逾期")

        for other in (Actor(username="gm", role=Role.gm, company_id="rq"), Actor(username="group_gm", role=Role.gm)):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await h.execute_update(ReportReviewWorkflow.review,
                                       vouched_for(h, ReviewRequest(actor=other, comment="已阅")))
            assert refused.value.cause.type == "forbidden"
        done = await h.execute_update(ReportReviewWorkflow.review, vouched_for(h, ReviewRequest(
            actor=Actor(username="hj_gm", role=Role.gm, company_id="hj"), comment="同意")))
        assert done["reviewed_by"] == "hj_gm" and done["company_id"] == "hj"
        await h.result()
        await record_history(h, "report_review_company")


@pytest.mark.asyncio
async def test_K1_P5_the_schedule_makes_each_companys_statistics_and_the_groups_roll_up_each_mailed_and_reviewed_by_its_own(
        ts_env, settings, sessionmaker, smtp_server):
    """The scheduled monthly statistics: one report per active company (its cases only) mailed to that company's
    readers (its role mailbox for a role it has nobody of), each opening its own gm's review; and the group's
    roll-up, mailed to and reviewed by the group's accounts (group_gm), never by a company's."""
    from sqlalchemy import select
    from adapters.db import org
    from adapters.db.models import StoredReport
    from workflows.reports import ScheduledReportWorkflow
    async with sessionmaker() as session:   # a company no longer active gets no report
        await org.put_company(session, "old", "旧公司", active=False)
    async with running_worker(ts_env, settings, sessionmaker):
        h = await ts_env.client.start_workflow(ScheduledReportWorkflow.run, "monthly_complaints",
                                               id=f"report-run-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue)
        _STARTED.append(h)
        run = await h.result()
        period = run.period
        assert [(r.company_id, r.title) for r in run.reports] == [
            ("hj", "海景置业 · 投诉统计表（月）"), ("rq", "融侨置业 · 投诉统计表（月）"), (None, "集团汇总 · 投诉统计表（月）")]
        async with sessionmaker() as session:
            stored = {r.id: r for r in (await session.scalars(select(StoredReport))).all()}
        assert [stored[r.id].data["scope"] for r in run.reports] == [
            {"level": "company", "company_id": "hj", "project": None},
            {"level": "company", "company_id": "rq", "project": None},
            {"level": "group", "company_id": None, "project": None}]

        def mails(address):
            return [m for m in smtp_server.messages if address in m.to and "投诉统计表" in m.subject
                    and "待审阅" not in m.subject]
        hj, rq, group = run.reports
        async def mailed():
            return all(mails(a) for a in ("cs_manager@example.com", "gm@example.com", "cs_manager2@example.com",
                                          "gm@haijing.example.com", "group_gm@example.com")) or None
        assert await wait_for(mailed)
        assert [m.subject for m in mails("cs_manager@example.com")] == [f"融侨置业 · 投诉统计表（月） {_name(period)}"]
        assert [m.subject for m in mails("cs_manager2@example.com")] == [f"海景置业 · 投诉统计表（月） {_name(period)}"]
        assert [m.subject for m in mails("group_gm@example.com")] == [f"集团汇总 · 投诉统计表（月） {_name(period)}"]
        assert len(mails("gm@example.com")) == 1 and len(mails("gm@haijing.example.com")) == 1

        async def reviews():
            async with sessionmaker() as session:
                rows = [await session.get(ReportReview, r.id) for r in run.reports]
            return rows if all(rows) else None
        rows = await wait_for(reviews)
        assert [r.workflow_id for r in rows] == [review_workflow_id("monthly_complaints", period, "hj"),
                                                 review_workflow_id("monthly_complaints", period, "rq"),
                                                 review_workflow_id("monthly_complaints", period)]
        for told, who in (("gm@haijing.example.com", "海景置业"), ("gm@example.com", "融侨置业"),
                          ("group_gm@example.com", "集团汇总")):
            [m] = await wait_for(lambda: _mailed(smtp_server, told, "待审阅"))
            assert who in m.subject
        await record_history(h, "report_scheduled_per_company")


def _name(period: str) -> str:
    from aftersales.reports import period_name
    return period_name(period)
