"""`make run` on a machine where its ports may be taken: every address it listens on is a setting, a
taken one is named with its setting before anything starts, two copies run side by side on other ports,
and any positive demo time works (the reminder sweep's Schedule is floored at Temporal's one second)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.smtp import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def embedded_env(tmp: Path, **extra: str) -> dict[str, str]:
    ports = {name: free_port() for name in ("grpc", "ui", "api", "worker_metrics", "api_metrics")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    env.update({
        "AFTERSALES_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['grpc']}",
        "AFTERSALES_TEMPORAL_UI_PORT": str(ports["ui"]),
        "AFTERSALES_API_PORT": str(ports["api"]),
        "AFTERSALES_WORKER_SDK_METRICS_ADDRESS": f"127.0.0.1:{ports['worker_metrics']}",
        "AFTERSALES_API_SDK_METRICS_ADDRESS": f"127.0.0.1:{ports['api_metrics']}",
        "AFTERSALES_TEMPORAL_DB_FILE": str(tmp / "temporal.db"),
        "AFTERSALES_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'read-model.db'}",
        "AFTERSALES_CODEC_KEY_FILE": str(tmp / "codec-keys.json"),
        "AFTERSALES_JWT_SECRET_FILE": str(tmp / "jwt-secret"),
        "AFTERSALES_PHONE_LOOKUP_KEY_FILE": str(tmp / "phone-lookup-key"),
        "AFTERSALES_BCRYPT_ROUNDS": "4",
    })
    env.update(extra)
    return env


def start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "adapters.embedded"], cwd=REPO, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=10)
    return proc.returncode


def wait_healthy(env: dict[str, str], proc: subprocess.Popen, log: Path, timeout: float = 120) -> dict:
    url = f"http://127.0.0.1:{env['AFTERSALES_API_PORT']}/health"
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"make run exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            answer = httpx.get(url, timeout=2)
            body = answer.json()
            if answer.status_code == 200 and (body.get("workers") or {}).get("status") == "ok":
                return body
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"not healthy within {timeout} s ({body}):\n{log.read_text()[-3000:]}")


def test_a_taken_port_is_named_with_its_setting_before_anything_starts(tmp_path):
    env = embedded_env(tmp_path)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    env["AFTERSALES_WORKER_SDK_METRICS_ADDRESS"] = f"127.0.0.1:{taken}"
    try:
        done = subprocess.run([sys.executable, "-m", "adapters.embedded"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert done.returncode == 1
    assert f"port {taken}" in done.stderr and "AFTERSALES_WORKER_SDK_METRICS_ADDRESS" in done.stderr, done.stderr
    assert not (tmp_path / "temporal.db").exists()  # nothing was started


def test_two_copies_side_by_side_on_their_own_ports_with_a_short_demo_day(tmp_path):
    """Each copy's worker and API serve their SDK metrics where its settings say; a 4-second working day
    (a digest window of under half a second) starts like any other."""
    envs, procs, logs = [], [], []
    try:
        for n in (1, 2):
            data = tmp_path / f"copy{n}"
            data.mkdir()
            envs.append(embedded_env(data, AFTERSALES_DEMO_SECONDS_PER_WORKING_DAY="4"))
            logs.append(data / "make-run.log")
            procs.append(start(envs[-1], logs[-1]))
        for env, proc, log in zip(envs, procs, logs):
            wait_healthy(env, proc, log)
            for setting in ("AFTERSALES_WORKER_SDK_METRICS_ADDRESS", "AFTERSALES_API_SDK_METRICS_ADDRESS"):
                metrics = httpx.get(f"http://{env[setting]}/metrics", timeout=5)
                assert metrics.status_code == 200 and "temporal_" in metrics.text, setting
        time.sleep(3)  # several reminder sweeps on demo time: the worker keeps running
        for env, proc, log in zip(envs, procs, logs):
            assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        codes = [stop(p) for p in procs]
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
