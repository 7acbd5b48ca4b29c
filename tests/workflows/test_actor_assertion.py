"""P4: the case workflow accepts only actions the product's API vouched for, and the worker decodes only
encrypted payloads. What the security review did with the `temporal` CLI — an Update to a case with actor
{"username": "mallory", "role": "cs_staff"} — is done here with the raw temporalio client (the codec's keys
in hand, even): refused by the Update's validator, so nothing reaches the case's history."""

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter

from adapters.temporal import actor_assertion
from aftersales.actions import ActionRequest
from aftersales.actor import Actor
from aftersales.roles import Role
from tests.workflows.helpers import act, running_worker, start_complaint, vouched
from workflows.case_workflow import CaseWorkflow

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
