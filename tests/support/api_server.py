"""The API as ops run it: `python -m api` (uvicorn) in a child process, on a socket bound to
127.0.0.1 by the test (handed over with --fd, so no port is guessed), with settings from AFTERSALES_*; forked by the suite worker's preforking
launcher (tests/support/zygote.py; AFTERSALES_TEST_NO_ZYGOTE=1: a plain subprocess).

    with APIServer(env={"AFTERSALES_DATABASE_URL": ..., "AFTERSALES_TEMPORAL_ADDRESS": ...}, log=path) as api:
        await api.wait_healthy()
        httpx.AsyncClient(base_url=api.url)
"""

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.zygote import ZygoteChild, launch

REPO = Path(__file__).resolve().parents[2]


class APIServer:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        # The suite's accounts are hashed at 4 rounds (its settings' bcrypt_rounds): an unknown username is checked
        # against a dummy hash of the API's rounds, which would be production's 12 (a quarter second of CPU for
        # each of the fuzzing's sign-ins) unless a test asks for them (the login flood does).
        self.env = {**os.environ, "AFTERSALES_BCRYPT_ROUNDS": "4", **env}
        self.log = log
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen | ZygoteChild | None = None
        self.url = ""

    def __enter__(self) -> "APIServer":
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        fd = self.sock.fileno()
        self.proc = launch([sys.executable, "-m", "api", "--fd", str(fd), "--no-access-log"],
                           cwd=REPO, env=self.env, log=self.log, pass_fds=(fd,))
        return self

    async def wait_healthy(self, timeout: float = 60.0, worker: bool = False) -> None:
        """Until the API answers /health (bounded); with `worker`, until it reports a worker alive too
        ("status": "ok"): the SDK sends a worker's first heartbeat one interval (worker_heartbeat_seconds)
        after it starts polling, and until then /health says "degraded", as it does right after a restart."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            for _ in range(int(timeout / 0.2)):
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    r = await client.get("/health")
                    if r.status_code in (200, 503) and (not worker or r.json().get("status") == "ok"):
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"the API did not start{' with a worker alive' if worker else ''}: "
                             f"{self.log.read_text()[-3000:]}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.sock is not None:
            self.sock.close()
