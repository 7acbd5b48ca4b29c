"""P1 in the workflow: a refused action is refused by the Update's validator (the machine's dry run), so
it never reaches the case's history; the named account the API resolved travels with the action."""

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from aftersales.actions import ActionRequest
from aftersales.actor import Actor
from aftersales.roles import Role
from tests.workflows.helpers import act, running_worker, start_complaint, vouched, wait_for
from workflows.case_workflow import CaseWorkflow

R = Role
ASSIGN = {"action": "assign_handler", "handler": "wy_handler"}


async def refused(handle, actor: Actor, action: dict, accounts: list[Actor]) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await handle.execute_update(CaseWorkflow.act, vouched(handle, ActionRequest.model_validate(
            {"action": action, "actor": actor.model_dump(), "accounts": [a.model_dump() for a in accounts]})))
    return f"{getattr(e.value.cause, 'type', None)}: {e.value.cause}"


@pytest.mark.asyncio
async def test_P1_refused_actions_never_reach_the_history(ts_env, settings, sessionmaker, smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_complaint(ts_env.client, settings)
        await act(h, R.cs_staff, {"action": "classify", "category": "漏水", "department": "工程部", "justified": True})
        wy_head = Actor(username="wy_head", role=R.dept_head, department="物业部")
        wy_handler = Actor(username="wy_handler", role=R.dept_handler, department="物业部")
        eng_head = Actor(username="dept_head", role=R.dept_head, department="工程部")
        assert (await refused(h, wy_head, ASSIGN, [wy_handler])).startswith("forbidden")     # not its department
        assert (await refused(h, eng_head, ASSIGN, [wy_handler])).startswith("invalid")      # another's handler
        assert (await refused(h, eng_head, ASSIGN, [])).startswith("invalid")                # no such account
        view = await act(h, R.dept_head, {"action": "assign_handler", "handler": "li.handler"})
        assert view["handler"] == "li.handler"
        history = await h.fetch_history()
        accepted = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
        assert len(accepted) == 3  # opened, classify, the one good assign_handler: nothing refused was written
        assert "wy_handler" not in history.to_json()
        await wait_for(lambda: _quiet(h), timeout=60)  # leave no activity running on the shared test server


async def _quiet(handle) -> bool:
    """No activity of the case is pending (its projection and notifications are done)."""
    return not (await handle.describe()).raw_description.pending_activities
