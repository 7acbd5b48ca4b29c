"""P4: the case workflow accepts only actions the product's API vouched for, and the worker decodes only
encrypted payloads. What the security review did with the `temporal` CLI — an Update to a case with actor
{"username": "mallory", "role": "cs_staff"} — is done here with the raw temporalio client (the codec's keys
in hand, even): refused by the Update's validator, so nothing reaches the case's history."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from adapters.db.models import Case as CaseRow
from adapters.db.models import TimelineEntry
from adapters.temporal import actor_assertion
from aftersales.actions import ActionRequest
from aftersales.actor import Actor
from aftersales.campaign import CampaignKind, VisitBody, VisitRequest
from aftersales.case import Customer
from aftersales.roles import Role
from aftersales.org import CaseOrg
from contracts.case import CarriedCase
from tests.workflows.helpers import (
    LOCAL_DB_STEPS, _STARTED, act, complaint_intake, opening_config, record_history, repair_intake, running_worker,
    signed, start_complaint, vouched, vouched_for, wait_for,
)
from workflows.campaign import CampaignWorkflow
from workflows.case_workflow import CaseWorkflow
from workflows.complaint import ComplaintWorkflow, StartComplaint
from workflows.repair import RepairWorkflow, StartRepair

NOTE = {"action": "progress_note", "note": "已联系业主，约好明天上门"}
MALLORY = Actor(username="mallory", role=Role.cs_staff)


def request(actor: Actor, action: dict = NOTE) -> ActionRequest:
    return ActionRequest.model_validate({"action": action, "actor": actor.model_dump()})


async def refused(handle, req: ActionRequest) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await handle.execute_update(CaseWorkflow.act, req)
    assert getattr(e.value.cause, "type", None) == "forbidden", e.value.cause
    return str(e.value.cause)


def accepted_updates(history) -> int:
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in history.events)


@pytest.mark.asyncio
async def test_P4_an_update_with_a_forged_actor_sent_straight_to_temporal_is_refused(ts_env, settings, sessionmaker,
                                                                                    smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_complaint(ts_env.client, settings)
        before = accepted_updates(await h.fetch_history())
        assert "P4" in await refused(h, request(MALLORY))                               # no assertion at all
        forged = request(MALLORY)
        forged.assertion = actor_assertion.sign(h.id, forged, "a key the attacker made up, 32+ chars long")
        await refused(h, forged)                                                        # signed with another key
        moved = vouched(h, request(Actor(username="cs_staff", role=Role.cs_staff)))
        moved.actor = MALLORY
        await refused(h, moved)                                                         # a real one, actor changed
        other_action = vouched(h, request(Actor(username="cs_staff", role=Role.cs_staff)))
        other_action.action = request(MALLORY, {"action": "progress_note", "note": "别的内容"}).action
        await refused(h, other_action)                                                  # ... or action changed
        other_case = await start_complaint(ts_env.client, settings)
        await refused(other_case, vouched(h, request(Actor(username="cs_staff", role=Role.cs_staff))))  # other case
        history = await h.fetch_history()
        assert accepted_updates(history) == before                                      # nothing reached the case
        view = await act(h, Role.cs_staff, NOTE)                                        # what the API sends: applied
        assert [t["actor"] for t in view["timeline"] if t["kind"] == "progress"] == ["cs_staff"]
        assert "mallory" not in str(view)


@pytest.mark.asyncio
async def test_P4_the_worker_refuses_an_unencrypted_update(ts_env, settings, sessionmaker, smtp_server):
    """Sent without the codec (plain JSON, as the CLI sends it) and even with a valid assertion: the worker
    does not decode it, so it is never applied (the caller gets no answer). The case's workflow task fails
    while Temporal keeps offering that Update (docs/security.md: why Temporal's own authorization matters)."""
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_complaint(ts_env.client, settings)
        plain = Client(**{**ts_env.client.config(), "data_converter": pydantic_data_converter})
        req = vouched(h, request(Actor(username="cs_staff", role=Role.cs_staff)))
        with pytest.raises(Exception):
            await asyncio.wait_for(plain.get_workflow_handle(h.id).execute_update(
                CaseWorkflow.act, req, rpc_timeout=timedelta(seconds=5)), timeout=8)
        history = await h.fetch_history()                 # the server's record, not the (busy) worker's answer
        assert accepted_updates(history) == 1             # `opened` only: the plain Update was never accepted
        failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
        assert not failed or "unencrypted payload" in failed[-1].workflow_task_failed_event_attributes.failure.message


# ---- a case's start (P4): what `temporal workflow start` would do, done over the raw client with the codec ----
HOTLINE_MALLORY = Actor(username="mallory", role=Role.hotline)


async def refused_start(client: Client, settings, sessionmaker, smtp_server, start, record: str | None = None) -> str:
    """Starts the case as given, straight in Temporal, and asserts it was refused as the first thing it did: failed
    (forbidden, the Web UI shows why), no activity, timer or search attribute, no register row, no notice."""
    mails = len(smtp_server.messages)
    handle = await client.start_workflow(ComplaintWorkflow.run if isinstance(start, StartComplaint) else
                                         RepairWorkflow.run, start, id=start.case_no, task_queue=settings.task_queue)
    _STARTED.append(handle)
    with pytest.raises(WorkflowFailureError) as e:
        await asyncio.wait_for(handle.result(), 30)
    cause = e.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "forbidden", cause
    assert "P4" in cause.message and "未建案" in cause.message
    history = await handle.fetch_history()
    kinds = {ev.event_type for ev in history.events}
    assert kinds.isdisjoint({EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_TIMER_STARTED,
                             EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED}), kinds
    upserted = {k for ev in history.events if ev.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
                for k in ev.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields}
    assert upserted <= {"TemporalChangeVersion"}, upserted  # the patch marker's own, none of the case's
    local = [ev.marker_recorded_event_attributes for ev in history.events  # no local activity but the check's
             if ev.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
             and ev.marker_recorded_event_attributes.marker_name != "core_patch"]
    assert len(local) <= 1 and all(b"verify_start" in m.details["data"].payloads[0].data for m in local), local
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    async with sessionmaker() as s:
        assert await s.get(CaseRow, start.case_no) is None
        assert (await s.execute(select(func.count()).select_from(TimelineEntry)
                                .where(TimelineEntry.case_no == start.case_no))).scalar_one() == 0
    await asyncio.sleep(0.5)
    assert len(smtp_server.messages) == mails
    assert "mallory" not in cause.message and "13812341234" not in cause.message  # the sender's text is not echoed
    if record:
        await record_history(handle, record)
    return cause.message


def forged_complaint(**kw) -> StartComplaint:
    return StartComplaint(case_no=f"TS-2026-{uuid.uuid4().int % 10**6:06d}", registered_by=HOTLINE_MALLORY,
                          intake=complaint_intake(), local_db_steps=LOCAL_DB_STEPS, **kw)


@pytest.mark.asyncio
async def test_P4_a_case_started_straight_in_temporal_with_a_forged_intake_is_refused_at_once(
        ts_env, settings, sessionmaker, smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        config = await opening_config(settings)
        # no assertion at all (as `temporal workflow start` sends it, the codec's keys in hand)
        assert "缺少" in await refused_start(ts_env.client, settings, sessionmaker, smtp_server,
                                             forged_complaint(config=config), record="complaint_start_forged_refused")
        # signed with a key the sender made up
        made_up = forged_complaint(config=config)
        made_up.assertion = actor_assertion.sign_start(made_up.case_no, made_up, "a key the attacker made up, 32+ chars")
        assert "不符" in await refused_start(ts_env.client, settings, sessionmaker, smtp_server, made_up)
        # a repair the same way, by a made-up account of no role it may have
        repair = StartRepair(case_no=f"WX-2026-{uuid.uuid4().int % 10**6:06d}", registered_by=HOTLINE_MALLORY,
                             intake=repair_intake(), local_db_steps=LOCAL_DB_STEPS, config=config)
        await refused_start(ts_env.client, settings, sessionmaker, smtp_server, repair)
        # a start posing as a continued run (its state carried over) without Temporal having continued it
        carried = forged_complaint(config=config)
        carried.carried = CarriedCase(state={}, config=config)
        assert "延续" in await refused_start(ts_env.client, settings, sessionmaker, smtp_server, carried)


@pytest.mark.asyncio
async def test_P4_a_real_assertion_over_an_altered_start_is_refused(ts_env, settings, sessionmaker, smtp_server):
    """The API's assertion binds the actor, the number, the intake and the organisation: any of them changed, it
    no longer fits."""
    async with running_worker(ts_env, settings, sessionmaker):
        config = await opening_config(settings)
        honest = dict(registered_by=Actor(username="hotline", role=Role.hotline), intake=complaint_intake(),
                      local_db_steps=LOCAL_DB_STEPS, config=config)
        for change in ({"intake": complaint_intake(description="别的内容，另一个诉求")},
                       {"registered_by": HOTLINE_MALLORY},
                       {"organisation": CaseOrg(project_key="海景苑", company_id="hj")},
                       {"case_no": f"TS-2026-{uuid.uuid4().int % 10**6:06d}"}):
            start = signed(StartComplaint(case_no=f"TS-2026-{uuid.uuid4().int % 10**6:06d}", **honest))
            altered = start.model_copy(update=change)
            await refused_start(ts_env.client, settings, sessionmaker, smtp_server, altered)
        # the same start unaltered opens its case (and the register has it)
        h = await ts_env.client.start_workflow(ComplaintWorkflow.run, start, id=start.case_no,
                                               task_queue=settings.task_queue)
        _STARTED.append(h)
        await h.execute_update(CaseWorkflow.opened)
        await wait_for(lambda: _in_register(sessionmaker, start.case_no))
        await record_history(h, "complaint_start_vouched")  # the patch's marker, then the case as before


async def _in_register(sessionmaker, case_no: str):
    async with sessionmaker() as s:
        return await s.get(CaseRow, case_no)


@pytest.mark.asyncio
async def test_P4_V3_a_campaigns_raised_complaint_and_a_complaints_repair_are_vouched_for_by_their_parent(
        ts_env, settings, sessionmaker, smtp_server):
    from tests.workflows.test_campaign_workflow import STAFF, seed_register, start_campaign
    project = f"测试苑{uuid.uuid4().hex[:4]}"
    units = await seed_register(sessionmaker, project, buildings=1, per_building=2)
    owner = Customer(name="业主", phone="13812341234", project=project, building="1栋", unit="0001", unit_id=units[0])
    async with running_worker(ts_env, settings, sessionmaker):
        now = await ts_env.get_current_time()
        campaign = await start_campaign(ts_env, settings, project, CampaignKind.first,
                                        ends_on=(now + timedelta(days=30)).date())
        body = VisitBody(unit_id=units[0], mode="in_person", items=[{"item": "服务", "score": 2}],
                         points=[{"text": "物业人员态度差", "handling": "complaint", "category": "服务态度"}])
        await campaign.execute_update(CampaignWorkflow.record_visit,
                                      vouched_for(campaign, VisitRequest(visit=body, actor=STAFF, customer=owner)))
        summary = await wait_for(lambda: _points_opened(campaign, 1))
        [complaint_no] = summary["cases_opened"]
        complaint = ts_env.client.get_workflow_handle(complaint_no)
        _STARTED.append(complaint)
        await complaint.execute_update(CaseWorkflow.opened)
        assert (await complaint.describe()).status == WorkflowExecutionStatus.RUNNING
        assert await wait_for(lambda: _in_register(sessionmaker, complaint_no))
        # the complaint, in turn, vouches for the repair it opens (C6)
        soon = (now + timedelta(days=7)).isoformat()
        from tests.workflows.test_complaint_workflow import general_path
        await general_path(complaint)
        view = await act(complaint, Role.cs_staff, {"action": "open_repair", "trades": ["防水"],
                                                    "description": "重做卫生间防水", "requested_appointment": soon})
        repair = ts_env.client.get_workflow_handle(view["linked_case_no"])
        _STARTED.append(repair)
        await repair.execute_update(CaseWorkflow.opened)
        assert (await repair.describe()).status == WorkflowExecutionStatus.RUNNING


async def _points_opened(h, n: int):
    try:
        summary = await h.query(CampaignWorkflow.summary)
    except Exception:  # still being opened (planned)
        return None
    return summary if len(summary["cases_opened"]) >= n else None


@pytest.mark.asyncio
async def test_P4_V3_a_campaign_vouches_only_for_what_the_api_vouched_for(ts_env, settings, sessionmaker, smtp_server):
    """A campaign opens cases in its own name for the points its visits raise, so its start and its Updates are
    the API's too: a campaign started straight in Temporal fails at once (no plan, no register row); a visit
    sent straight to a real campaign, raising a complaint by mallory, is refused and opens nothing."""
    from decimal import Decimal

    from aftersales.campaign import CampaignState
    from adapters.db.models import CampaignRow
    from contracts.campaign import StartCampaign
    from tests.workflows.test_campaign_workflow import seed_register, start_campaign
    project = f"测试苑{uuid.uuid4().hex[:4]}"
    units = await seed_register(sessionmaker, project, buildings=1, per_building=2)
    owner = Customer(name="业主", phone="13812341234", project=project, building="1栋", unit="0001", unit_id=units[0])
    async with running_worker(ts_env, settings, sessionmaker):
        now = await ts_env.get_current_time()
        campaign_id = f"HF-2026-{uuid.uuid4().int % 10**6:06d}"
        forged = StartCampaign(state=CampaignState(
            campaign_id=campaign_id, project=project, kind=CampaignKind.first, share=None, starts_on=now.date(),
            ends_on=(now + timedelta(days=30)).date(), staff=["mallory"], created_by="mallory", created_at=now),
            minimum_share=Decimal("0.10"))
        h = await ts_env.client.start_workflow(CampaignWorkflow.run, forged, id=campaign_id,
                                               task_queue=settings.task_queue)
        _STARTED.append(h)
        with pytest.raises(WorkflowFailureError) as e:
            await asyncio.wait_for(h.result(), 30)
        assert getattr(e.value.cause, "type", None) == "forbidden" and "P4" in str(e.value.cause)
        history = await h.fetch_history()
        assert not any(ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for ev in history.events)
        async with sessionmaker() as s:
            assert await s.get(CampaignRow, campaign_id) is None
        await record_history(h, "campaign_start_forged_refused")

        campaign = await start_campaign(ts_env, settings, project, CampaignKind.first,
                                        ends_on=(now + timedelta(days=30)).date())
        await wait_for(lambda: _points_opened(campaign, 0))  # planned: it answers
        body = VisitBody(unit_id=units[0], mode="in_person", items=[{"item": "服务", "score": 1}],
                         points=[{"text": "伪造的投诉", "handling": "complaint", "category": "服务态度"}])
        mallory = Actor(username="mallory", role=Role.cs_staff)
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await campaign.execute_update(CampaignWorkflow.record_visit,
                                          VisitRequest(visit=body, actor=mallory, customer=owner))
        assert getattr(e.value.cause, "type", None) == "forbidden"
        real = vouched_for(campaign, VisitRequest(visit=body, actor=Actor(username="cs_staff", role=Role.cs_staff),
                                                  customer=owner))
        real.actor = mallory                                                           # a real one, actor changed
        with pytest.raises(WorkflowUpdateFailedError):
            await campaign.execute_update(CampaignWorkflow.record_visit, real)
        summary = await campaign.query(CampaignWorkflow.summary)
        assert summary["visited"] == 0 and summary["cases_opened"] == []


@pytest.mark.asyncio
async def test_P4_K1_a_review_sent_straight_to_temporal_is_refused(ts_env, settings, sessionmaker, smtp_server):
    """The gm's review of the statistics (K1) is an actor's act too: a `review` Update by a made-up gm, or a real
    assertion with its comment changed, is refused; the review stays open."""
    from contracts.report import ReviewRequest, ReviewStart
    from workflows.report_review import ReportReviewWorkflow
    async with running_worker(ts_env, settings, sessionmaker):
        h = await ts_env.client.start_workflow(ReportReviewWorkflow.run, ReviewStart(
            report_id=1, kind="monthly_complaints", period="2026-11", title="月度投诉统计"),
            id=f"report-review-test-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue)
        _STARTED.append(h)
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await h.execute_update(ReportReviewWorkflow.review,
                                   ReviewRequest(actor=Actor(username="mallory", role=Role.gm), comment="已阅"))
        assert e.value.cause.type == "forbidden" and "P4" in str(e.value.cause)
        changed = vouched_for(h, ReviewRequest(actor=Actor(username="gm", role=Role.gm), comment="已阅"))
        changed.comment = "同意全部"
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await h.execute_update(ReportReviewWorkflow.review, changed)
        assert "P4" in str(e.value.cause)
        async def opened_state():
            try:
                return await h.query(ReportReviewWorkflow.state)
            except Exception:  # still being opened
                return None
        assert (await wait_for(opened_state))["status"] != "reviewed"
