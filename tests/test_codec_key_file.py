"""P4, a fault drill: the embedded default's codec key file is written on a first start only. With it moved
away while Temporal holds cases, nothing starts (the API, the worker and `make run` connect through
`connect`): the error names the file and the key ids Temporal's cases use, and no new key is written; with the
file back, the cases read as before."""

import asyncio
import shutil

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.temporal.codec import CodecKeyError
from adapters.config import Settings
from adapters.temporal.setup import connect
from tests.conftest import binary
from tests.workflows.helpers import complaint_intake


@pytest.mark.asyncio
async def test_P4_a_lost_key_file_refuses_to_start_instead_of_being_replaced(tmp_path):
    key_file = tmp_path / "data" / "codec-keys.json"
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=binary("temporal"), ip="127.0.0.1",
                                                     ui=False) as env:
        settings = Settings(temporal_address=env.client.service_client.config.target_host,
                            codec_key_file=str(key_file))
        assert not key_file.exists()
        client = await connect(settings)  # a first start: Temporal holds nothing, the key file is written
        written = key_file.read_text()
        key_id = next(iter(__import__("json").loads(written)["keys"]))
        handle = await client.start_workflow("ComplaintWorkflow", complaint_intake(), id="TS-2026-900001",
                                             task_queue="nobody-runs-this")  # its input encrypted with that key
        for _ in range(300):  # bounded: what Temporal holds is found through its visibility, which follows a start
            if (await client.count_workflows()).count:
                break
            await asyncio.sleep(0.1)

        shutil.move(key_file, tmp_path / "moved.json")
        with pytest.raises(CodecKeyError) as refused:
            await connect(settings)
        message = str(refused.value)
        assert str(key_file) in message and key_id in message and "restore" in message, message
        assert not key_file.exists()  # no orphan key written

        shutil.move(tmp_path / "moved.json", key_file)
        again = await connect(settings)
        assert key_file.read_text() == written
        started = [e async for e in again.get_workflow_handle(handle.id).fetch_history_events()][0]
        [intake] = again.data_converter.payload_converter.from_payloads(
            await again.data_converter.payload_codec.decode(started.workflow_execution_started_event_attributes.input.payloads))
        assert intake["customer"]["phone"] == "13812341234"  # the case reads with the restored key
