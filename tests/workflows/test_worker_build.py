"""The build a worker reports to Temporal is the release's name from the settings (AFTERSALES_WORKER_BUILD_ID):
ops see per task in the Web UI which build ran it, and a start does not pay the SDK's default, a hash of the
bytecode of every loaded module (0.37 s of CPU, a third of a worker's start)."""

import pytest
from temporalio.api.enums.v1 import EventType

from tests.workflows.helpers import running_worker, start_complaint


@pytest.mark.asyncio
async def test_a_workers_tasks_carry_the_build_id_of_its_settings(ts_env, settings, sessionmaker, smtp_server):
    settings = settings.model_copy(update={"worker_build_id": "aftersales-2027.01-rc1"})
    async with running_worker(ts_env, settings, sessionmaker):
        handle = await start_complaint(ts_env.client, settings)
        await handle.query("state")
        history = await handle.fetch_history()
    completed = [e.workflow_task_completed_event_attributes for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    assert completed
    assert all(a.binary_checksum == "aftersales-2027.01-rc1" or a.worker_version.build_id == "aftersales-2027.01-rc1"
               for a in completed), [(a.binary_checksum, a.worker_version.build_id) for a in completed]
