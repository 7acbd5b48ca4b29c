"""Connecting to Temporal, and preparing a namespace: the namespace itself (a production server starts
with none) and the custom search attributes ops filter on (adapters.temporal.search_attributes).

Used by the worker and the API (`connect`), `python -m adapters.embedded`, the test suite, and the
compose `setup` service:

    python -m adapters.temporal.setup [--retention-days 30] [--timeout 180]
"""

import argparse
import asyncio
import time
from datetime import timedelta

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.service import TLSConfig
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest, RegisterNamespaceRequest, UpdateNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from adapters.temporal import search_attributes as sa
from adapters.config import Settings

log = structlog.get_logger("adapters.temporal.setup")


async def connect(settings: Settings) -> Client:
    """A client on the settings' address and namespace, with the data converter of every client
    (pydantic + the encryption codec, P4). The embedded default's key file is written here on a first start
    only; with Temporal's data there and the file gone, this refuses (ensure_codec_key_file)."""
    from adapters.temporal.codec import data_converter

    await ensure_codec_key_file(settings)
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=data_converter(settings), runtime=sdk_runtime(settings),
                                tls=tls_config(settings), api_key=settings.temporal_api_key)


def tls_config(settings: Settings) -> TLSConfig | bool:
    """Mutual TLS to Temporal when its files are configured (production compose), else plain (embedded)."""
    from pathlib import Path

    files = (settings.temporal_tls_ca_file, settings.temporal_tls_cert_file, settings.temporal_tls_key_file)
    if not any(files):
        return False
    read = [Path(f).read_bytes() if f else None for f in files]
    return TLSConfig(server_root_ca_cert=read[0], client_cert=read[1], client_private_key=read[2],
                     domain=settings.temporal_tls_server_name)


def sdk_runtime(settings: Settings) -> Runtime:
    """One SDK runtime per process, made once: its workers report to Temporal every
    `worker_heartbeat_seconds` (GET /health counts a worker alive on a recent report, see api/health.py),
    and the SDK's own metrics (workflow and activity task latencies, polls, the workflow cache,
    client RPCs) are served for Prometheus on `sdk_metrics_address` when it is set."""
    global _RUNTIME
    if _RUNTIME is None:
        metrics = PrometheusConfig(bind_address=settings.sdk_metrics_address) if settings.sdk_metrics_address else None
        _RUNTIME = Runtime(telemetry=TelemetryConfig(metrics=metrics),
                           worker_heartbeat_interval=timedelta(seconds=settings.worker_heartbeat_seconds))
    return _RUNTIME


_RUNTIME: Runtime | None = None
KEY_ID_SAMPLE = 50  # workflows whose key ids a refusal names (the newest)


async def ensure_codec_key_file(settings: Settings) -> None:
    """P4: the embedded default's codec key file is written on a first start only, when Temporal holds no
    workflow and no schedule yet. Missing while Temporal holds data (the file was moved or lost), nothing
    starts: a new key would leave those cases unreadable (reads 503, actions failing) and encrypt new ones
    with a key a restored file lacks. The error names the file and the key ids Temporal's cases use."""
    from pathlib import Path

    from adapters.temporal.codec import CodecKeyFileMissing, codec_from_settings

    if settings.codec_keys or settings.environment == "production" or Path(settings.codec_key_file).exists():
        return
    plain = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                 runtime=sdk_runtime(settings))  # no codec: only metadata is read
    held, key_ids = await key_ids_in_use(plain)
    if held:
        raise CodecKeyFileMissing(
            f"the codec key file {settings.codec_key_file} is missing, but Temporal ({settings.temporal_address}, "
            f"namespace {settings.temporal_namespace}) already holds {held}{'+' if held >= KEY_ID_SAMPLE else ''} "
            f"workflows or schedules encrypted with key id(s) {', '.join(sorted(key_ids)) or '(none found)'}: restore "
            f"{settings.codec_key_file} from the backup (docs/operations-backup.md). Not starting: a new key would "
            "leave those cases unreadable.")
    codec_from_settings(settings, create=True)


async def key_ids_in_use(client: Client, sample: int = KEY_ID_SAMPLE) -> tuple[int, set[str]]:
    """(workflows and schedules Temporal holds, counted up to `sample`; the codec key ids of the newest
    workflows' inputs). (0, set()) for a namespace that does not exist yet."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

    from adapters.temporal.codec import KEY_ID

    held, key_ids = 0, set()
    try:
        async for wf in client.list_workflows(limit=sample):
            held += 1
            history = await client.workflow_service.get_workflow_execution_history(GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=wf.id, run_id=wf.run_id),
                maximum_page_size=1))
            for event in history.history.events[:1]:
                for payload in event.workflow_execution_started_event_attributes.input.payloads:
                    if KEY_ID in payload.metadata:
                        key_ids.add(payload.metadata[KEY_ID].decode(errors="replace"))
        if not held:
            async for _ in await client.list_schedules():
                held += 1
                break
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
    return held, key_ids


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Adds the custom search attributes that are missing; harmless to call again (already existing
    is fine). Returns the names it asked to add: the time-skipping test server cannot list search
    attributes, so there every call asks for all of them (which it accepts)."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace))
        known = set(existing.custom_attributes)
    except RPCError as e:
        if e.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing: dict[str, IndexedValueType.ValueType] = {
        key.name: key.indexed_value_type for key in sa.ALL if key.name not in known}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))
        except RPCError as e:
            # another process registered them meanwhile (several setup runs at once)
            if e.status != RPCStatusCode.ALREADY_EXISTS:
                raise
    return sorted(missing)


async def ensure_namespace(client: Client, namespace: str, retention: timedelta) -> bool:
    """Registers the namespace unless it exists (and raises an existing one's retention to `retention`
    when shorter). Returns True when it was registered now.
    `retention` is how long a closed case's workflow history stays in Temporal (the read model keeps
    the case for good)."""
    try:
        found = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        kept = found.config.workflow_execution_retention_ttl.ToTimedelta()
        if kept < retention:  # the dev server's "default" keeps closed cases for 24 h only
            # Only the fields set in `config` change: the server merges them into the namespace's config.
            await client.workflow_service.update_namespace(UpdateNamespaceRequest(
                namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=retention)))
            log.info("namespace retention raised", namespace=namespace, days=retention.days)
        return False
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
    try:
        await client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace=namespace, description="after-sales complaint and repair cases",
            workflow_execution_retention_period=retention))
        return True
    except RPCError as e:
        if e.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        return False


async def prepare_temporal(settings: Settings, *, retention: timedelta | None = None,
                           timeout: float = 180.0) -> list[str]:
    """Waits (bounded) for the server, makes sure the namespace exists, then registers the missing
    search attributes, retrying while a just-registered namespace propagates. Idempotent."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    client: Client | None = None
    while time.monotonic() < deadline:
        try:
            if client is None:
                client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
            await ensure_namespace(client, settings.temporal_namespace,
                                   retention or timedelta(days=settings.case_history_retention_days))
            return await register_search_attributes(client, settings.temporal_namespace)
        except (RPCError, RuntimeError, ConnectionError) as e:  # not up yet / namespace not ready yet
            last = e
            await asyncio.sleep(2)
    raise TimeoutError(f"Temporal at {settings.temporal_address} not ready within {timeout:.0f} s: {last!r}")


def main(argv: list[str] | None = None) -> None:
    from adapters.config import get_settings
    from adapters.logging import configure_logging

    parser = argparse.ArgumentParser(description="Register the namespace and custom search attributes.")
    parser.add_argument("--retention-days", type=int, default=None,
                        help="days Temporal keeps a closed case's history (default AFTERSALES_CASE_HISTORY_RETENTION_DAYS)")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    retention = timedelta(days=args.retention_days) if args.retention_days else None
    added = asyncio.run(prepare_temporal(settings, retention=retention, timeout=args.timeout))
    structlog.get_logger("adapters.temporal.setup").info(
        "Temporal namespace ready", namespace=settings.temporal_namespace, address=settings.temporal_address,
        search_attributes_added=added)


if __name__ == "__main__":
    main()
