"""Registering the custom search attributes: on the time-skipping test server (what the suite uses)
and on a real dev server (what `make run` and compose use); both twice."""

import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.temporal import search_attributes as sa
from adapters.config import Settings
from adapters.temporal.setup import connect, register_search_attributes
from tests.conftest import binary
from tests.support import codec

NAMES = sorted(key.name for key in sa.ALL)


@workflow.defn(sandboxed=False)
class UpsertWorkflow:
    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes([sa.CASE_STATUS.value_set("closed"), sa.OVERDUE.value_set(True)])
        return str(workflow.info().typed_search_attributes.get(sa.CASE_TYPE))


async def test_time_skipping_server_twice() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=codec.converter())
    async with env:
        assert await register_search_attributes(env.client, "default") == NAMES
        await register_search_attributes(env.client, "default")  # already there: fine
        task_queue = f"sa-{uuid.uuid4().hex[:8]}"
        async with Worker(env.client, task_queue=task_queue, workflows=[UpsertWorkflow]):
            result = await env.client.execute_workflow(
                UpsertWorkflow.run, id=f"sa-{uuid.uuid4().hex}", task_queue=task_queue,
                search_attributes=TypedSearchAttributes([SearchAttributePair(sa.CASE_TYPE, "complaint"),
                                                         SearchAttributePair(sa.ESCALATION_LEVEL, 0)]),
                execution_timeout=timedelta(seconds=30))
        assert result == "complaint"


@pytest.fixture(scope="module")
async def dev_server():
    """A bare dev server with no custom search attributes registered at start."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), ip="127.0.0.1", ui=False,
        data_converter=codec.converter())
    async with env:
        yield env


async def test_dev_server_registers_missing_only(dev_server: WorkflowEnvironment) -> None:
    client = dev_server.client
    assert await register_search_attributes(client, "default") == NAMES
    assert await register_search_attributes(client, "default") == []  # all present now
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    for key in sa.ALL:
        assert listed.custom_attributes[key.name] == key.indexed_value_type
    assert listed.custom_attributes["EscalationLevel"] == IndexedValueType.INDEXED_VALUE_TYPE_INT


async def test_connect_uses_settings_and_the_encrypting_pydantic_converter(dev_server: WorkflowEnvironment) -> None:
    from temporalio.contrib.pydantic import PydanticPayloadConverter

    from adapters.temporal.codec import EncryptionCodec

    address = dev_server.client.service_client.config.target_host
    client = await connect(Settings(temporal_address=address, temporal_namespace="default", **codec.CODEC))
    assert client.namespace == "default"
    assert issubclass(client.data_converter.payload_converter_class, PydanticPayloadConverter)
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec)  # P4
    assert await client.service_client.check_health()


def _free_port() -> int:
    from tests.support.smtp import free_port
    return free_port()


async def test_embedded_dev_server_restarts_on_its_db_file(tmp_path) -> None:
    """`make run` twice: the second start reuses data/temporal.db with the same --search-attribute
    flags, and the custom search attributes are still there."""
    import asyncio

    from adapters.embedded import Child, temporal_command, wait_for_temporal

    settings = Settings(temporal_address=f"127.0.0.1:{_free_port()}", temporal_ui_port=_free_port(),
                        temporal_db_file=str(tmp_path / "temporal.db"))
    for _ in range(2):
        server = Child("temporal", temporal_command(settings), tmp_path / "temporal.log")
        server.start()
        try:
            await wait_for_temporal(server, settings, asyncio.Event())
            client = await connect(settings)
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace="default"))
            assert set(NAMES) <= set(listed.custom_attributes)
            assert await register_search_attributes(client, "default") == []  # the flags did it
            from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
            described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
            # closed cases stay in the Web UI for the configured days, not the dev server's 24 h
            assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(
                days=settings.case_history_retention_days)
        finally:
            await server.stop()
        assert server.exited() is not None
    assert (tmp_path / "temporal.db").exists()


async def test_prepare_temporal_registers_a_new_namespace_once(dev_server: WorkflowEnvironment) -> None:
    """What the compose `setup` service runs against a fresh production server (no namespace yet)."""
    from adapters.temporal.setup import ensure_namespace, prepare_temporal

    address = dev_server.client.service_client.config.target_host
    settings = Settings(temporal_address=address, temporal_namespace=f"aftersales-{uuid.uuid4().hex[:6]}")
    assert await prepare_temporal(settings, retention=timedelta(days=7), timeout=60) == NAMES
    assert await prepare_temporal(settings, timeout=60) == []  # second run: nothing to do
    assert await ensure_namespace(dev_server.client, settings.temporal_namespace, timedelta(days=7)) is False
    client = await connect(settings)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal_namespace))
    assert set(NAMES) <= set(listed.custom_attributes)
