"""Revisit campaigns on the time-skipping server (V1–V3, E1): the plan drawn from the property register,
visits as Updates, points raised opened as cases, the end date escalating while coverage is short, and
continue-as-new keeping a 5,000-household campaign's runs small."""

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from adapters.temporal import search_attributes as sa
from aftersales.actor import Actor
from aftersales.campaign import CampaignKind, CampaignState, CloseRequest, VisitBody, VisitRequest
from aftersales.case import Customer
from adapters.db import properties as register
from adapters.db.models import CampaignHousehold, CampaignRow, CampaignVisit
from aftersales.properties import UnitRecord
from aftersales.roles import Role
from tests.workflows.helpers import _STARTED, record_history, running_worker, skip_until, vouched_for, wait_for
from workflows.campaign import CampaignWorkflow
from contracts.campaign import StartCampaign

STAFF = Actor(username="cs_staff", role=Role.cs_staff)
MANAGER = Actor(username="cs_manager", role=Role.cs_manager)


async def seed_register(sessionmaker, project: str, buildings: int, per_building: int, occupied_every: int = 1) -> list[int]:
    records = [UnitRecord(project=project, building=f"{b}栋", unit=f"{u:04d}", sold=True,
                          occupied=(u % occupied_every == 0), owner_name="业主", owner_phone="13812341234")
               for b in range(1, buildings + 1) for u in range(1, per_building + 1)]
    async with sessionmaker() as session:
        await register.import_units(session, records, by="test", filename="t.csv",
                                    now=__import__("datetime").datetime.now(__import__("datetime").timezone.utc),
                                    seal=lambda phone: "sealed")
        return [u.id for u in await register.list_units(session, project)]


async def start_campaign(env, settings, project: str, kind: CampaignKind, ends_on: date, budget: int = 5_000,
                         share: Decimal | None = None):
    now = await env.get_current_time()
    campaign_id = f"HF-2026-{uuid.uuid4().int % 10**6:06d}"
    state = CampaignState(campaign_id=campaign_id, project=project, kind=kind, share=share, starts_on=now.date(),
                          ends_on=ends_on, staff=["cs_staff"], created_by="cs_manager", created_at=now)
    handle = await env.client.start_workflow(
        CampaignWorkflow.run, vouched_for(campaign_id, StartCampaign(state=state, minimum_share=Decimal("0.10"),
                                                                     history_budget=budget)),
        id=campaign_id, task_queue=settings.task_queue)
    _STARTED.append(handle)
    return handle


def visit(unit_id: int, scores=(5, 4), **kw) -> VisitRequest:
    return VisitRequest(visit=VisitBody(unit_id=unit_id, mode="phone", items=[{"item": "总体", "score": s} for s in scores],
                                        **kw), actor=STAFF, customer=kw.pop("customer", None))


@pytest.mark.asyncio
async def test_V1_E1_short_coverage_escalates_after_the_end_date_and_closes_with_a_report(
        ts_env, settings, sessionmaker, smtp_server):
    project = f"测试苑{uuid.uuid4().hex[:4]}"
    units = await seed_register(sessionmaker, project, buildings=2, per_building=5, occupied_every=1)
    async with running_worker(ts_env, settings, sessionmaker):
        now = await ts_env.get_current_time()
        h = await start_campaign(ts_env, settings, project, CampaignKind.first, ends_on=(now + timedelta(days=3)).date())
        summary = await h.execute_update(CampaignWorkflow.record_visit, vouched_for(h, visit(units[0], (5, 2))))
        assert (summary["planned"], summary["target"], summary["visited"]) == (10, 9, 1)
        assert summary["second_visits_due"] == 1
        summary = await skip_until(ts_env, lambda: _level(h, 3), settles=h)   # past the end date and every further working day
        assert summary["escalation_level"] == 3  # cs_manager → deputy_gm → gm (E1, one working day each)
        desc = await h.describe()
        assert desc.typed_search_attributes.get(sa.CASE_TYPE) == "campaign"
        assert desc.typed_search_attributes.get(sa.OVERDUE) is True
        await h.execute_update(CampaignWorkflow.record_visit,
                               vouched_for(h, visit(units[0], (4, 4), second_visit=True, participants=["cs_manager"])))
        report = await h.execute_update(CampaignWorkflow.close,
                                        vouched_for(h, CloseRequest(actor=MANAGER, note="覆盖不足，下月补访")))
        assert report["status"] == "closed"
        assert await h.result() == (await h.query(CampaignWorkflow.summary))
        await record_history(h, "campaign_first_escalated")
    recipients = {rcpt for m in smtp_server.messages for rcpt in m.to}
    assert {"cs_manager@example.com", "deputy_gm@example.com", "gm@example.com"} <= recipients
    async with sessionmaker() as session:
        row = await session.get(CampaignRow, h.id)
        assert row is not None, "no row"
        assert (row.status, row.visited) == ("closed", 1), row.summary
        assert await session.scalar(select(func.count()).select_from(CampaignVisit).where(
            CampaignVisit.campaign_id == h.id)) == 2


async def _level(h, level: int):
    summary = await h.query(CampaignWorkflow.summary)
    return summary if summary["escalation_level"] >= level else None


@pytest.mark.asyncio
async def test_V3_points_raised_open_cases_as_child_workflows(ts_env, settings, sessionmaker, smtp_server):
    project = f"测试苑{uuid.uuid4().hex[:4]}"
    units = await seed_register(sessionmaker, project, buildings=1, per_building=4)
    owner = Customer(name="业主", phone="13812341234", project=project, building="1栋", unit="0001", unit_id=units[0])
    async with running_worker(ts_env, settings, sessionmaker):
        now = await ts_env.get_current_time()
        h = await start_campaign(ts_env, settings, project, CampaignKind.first, ends_on=(now + timedelta(days=30)).date())
        body = VisitBody(unit_id=units[0], mode="in_person", items=[{"item": "维修", "score": 3}],
                         points=[{"text": "卫生间渗水", "handling": "repair", "trades": ["防水"],
                                  "requested_appointment": (now + timedelta(days=2)).isoformat()},
                                 {"text": "物业收费有疑问", "handling": "answered", "answer": "已解释收费标准"}])
        await h.execute_update(CampaignWorkflow.record_visit,
                               vouched_for(h, VisitRequest(visit=body, actor=STAFF, customer=owner)))
        summary = await wait_for(lambda: _points_handled(h, 2))
        [repair_no] = summary["cases_opened"]
        assert repair_no.startswith("WX-")
        repair = ts_env.client.get_workflow_handle(repair_no)
        _STARTED.append(repair)
        assert (await repair.describe()).status is not None


async def _points_handled(h, n: int):
    summary = await h.query(CampaignWorkflow.summary)
    return summary if summary["points_handled"] >= n else None


RUN_BOUND = 1_000  # events a run of the campaign below may reach: its budget (150) and everything 60 visits add


@pytest.mark.asyncio
async def test_V2_5000_households_stay_small_through_continue_as_new(ts_env, settings, sessionmaker, smtp_server):
    """5,000 households, an annual 10% sample spread over 50 buildings; with a small history budget the
    campaign continues as new and every run stays far inside Temporal's limits (10,240 events / 10 MB
    warning), its state carried over."""
    project = f"大社区{uuid.uuid4().hex[:4]}"
    units = await seed_register(sessionmaker, project, buildings=50, per_building=100)
    assert len(units) == 5_000
    async with running_worker(ts_env, settings, sessionmaker):
        now = await ts_env.get_current_time()
        h = await start_campaign(ts_env, settings, project, CampaignKind.annual, ends_on=(now + timedelta(days=60)).date(),
                                 budget=150, share=Decimal("0.10"))
        summary = await wait_for(lambda: _planned(h))
        assert summary["planned"] == 500 and summary["seed"] is not None
        async with sessionmaker() as session:
            planned = list(await session.scalars(select(CampaignHousehold.unit_id).where(
                CampaignHousehold.campaign_id == h.id).order_by(CampaignHousehold.unit_id)))
        assert len(planned) == 500
        latest = ts_env.client.get_workflow_handle(h.id)  # one campaign across its runs
        for unit_id in planned[:60]:
            await latest.execute_update(CampaignWorkflow.record_visit, vouched_for(latest, visit(unit_id)))
        summary = await latest.query(CampaignWorkflow.summary)
        assert (summary["visited"], summary["planned"]) == (60, 500)
        # The budget is checked once per wake-up: Updates answered while the run publishes (its activities take
        # longer on a busy machine) land in the same iteration, so a run can pass the budget by what those 60
        # visits add (~6 events each), never more. 1,000 is that bound, a tenth of Temporal's 10,240.
        assert (await latest.query(CampaignWorkflow.run_info))["history_length"] < RUN_BOUND

        async def forms_kept():
            async with sessionmaker() as session:
                return await session.scalar(select(func.count()).select_from(CampaignVisit).where(
                    CampaignVisit.campaign_id == h.id)) == 60
        assert await wait_for(forms_kept)  # every form kept once, across the runs
        runs = []
        async for event_page in _runs(ts_env, h.id):
            runs.append(event_page)
        assert len(runs) >= 2, "the campaign continued as new at least once"
        print(f"\n5,000 households, 500 sampled, 60 visits: {len(runs)} runs, (events, bytes) per run: {runs}")
        for events, size in runs:
            assert events < RUN_BOUND and size < 2_000_000, (events, size)


async def _planned(h):
    try:
        summary = await h.query(CampaignWorkflow.summary)
    except Exception:
        return None
    return summary if summary["planned"] else None


async def _runs(env, workflow_id: str):
    """(events, bytes) of every run of the workflow, newest first (following continued_execution_run_id)."""
    run_id = None
    while True:
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        yield len(history.events), len(history.to_json())
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return
        run_id = started.continued_execution_run_id
