"""A real HTTP server on loopback (stdlib ThreadingHTTPServer, in a background thread) that records
JSON POST bodies by path — a stand-in for WeCom / DingTalk group robots and other webhooks.

    with HTTPReceiver() as hooks:           # or: async with HTTPReceiver() as hooks:
        url = hooks.url("/robot/send?key=abc")
        hooks.fail_next(1)                  # the next POST gets a 500
        ...
        [body] = await hooks.wait_for(1, path="/robot/send")

`received(path)` holds the bodies of the POSTs answered with success; `hits` holds every POST,
failed ones included. A successful POST is answered `{"errcode": 0, "errmsg": "ok"}` like the
robots do; `fail_next(n, status=200, body={"errcode": 93000, ...})` imitates a robot refusing.
"""

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

OK_BODY = {"errcode": 0, "errmsg": "ok"}


@dataclass
class Hit:
    path: str
    query: str
    headers: dict[str, str]
    json: Any  # None if the body was not JSON
    raw: bytes
    status: int  # what we answered
    injected: bool  # answered by fail_next (not counted as received)


@dataclass
class _Failure:
    status: int
    body: Any
    path: str | None


class HTTPReceiver:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.delay = 0.0  # seconds to wait before answering (to provoke client timeouts)
        self.late_answer = 0.0  # seconds between taking a POST (recorded) and answering it
        # answers computed from the request (status, JSON body), as a provider checking it would; None: OK_BODY
        self.responder: Callable[[Hit], tuple[int, Any]] | None = None
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "receiver not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/hook") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def start(self) -> "HTTPReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                parts = urlsplit(self.path)
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, answer, injected = receiver._answer(parts.path)
                hit = Hit(path=parts.path, query=parts.query, headers=dict(self.headers.items()),
                          json=body, raw=raw, status=status, injected=injected)
                if not injected and receiver.responder is not None:
                    status, answer = receiver.responder(hit)
                    hit.status, hit.injected = status, status != 200
                receiver._record(hit)
                if receiver.late_answer:  # taken (recorded), and only then answered
                    time.sleep(receiver.late_answer)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"http-receiver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> "HTTPReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def __aenter__(self) -> "HTTPReceiver":
        return self.start()

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(self.stop)

    # ---- behaviour ----------------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, body: Any = None, path: str | None = None) -> None:
        """The next n POSTs (to `path`, or to any path) are answered `status` with `body`."""
        with self._lock:
            self._failures += [_Failure(status, body if body is not None else {"error": "injected failure"}, path)
                               for _ in range(n)]

    def _answer(self, path: str) -> tuple[int, Any, bool]:
        with self._lock:
            for i, f in enumerate(self._failures):
                if f.path is None or f.path == path:
                    del self._failures[i]
                    return f.status, f.body, True
        return 200, OK_BODY, False

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def clear(self) -> None:
        with self._lock:
            self.hits.clear()
            self._failures.clear()

    # ---- inspection ---------------------------------------------------------------------------
    def received(self, path: str | None = None) -> list[Any]:
        """JSON bodies of the POSTs (to `path`, or to any path) that were answered with success."""
        with self._lock:
            return [h.json for h in self.hits if (path is None or h.path == path) and not h.injected]

    def hit_count(self, path: str | None = None) -> int:
        """Every POST (to `path`, or to any path), failed ones included."""
        with self._lock:
            return sum(1 for h in self.hits if path is None or h.path == path)

    async def wait_for(self, n: int, path: str | None = None, timeout: float = 30.0) -> list[Any]:
        """Waits (bounded) until at least n successful POSTs arrived; returns their JSON bodies."""
        deadline = time.monotonic() + timeout
        while len(got := self.received(path)) < n:
            if time.monotonic() >= deadline:
                raise AssertionError(f"expected {n} POSTs to {path or 'any path'} within {timeout}s, got "
                                     f"{len(got)} ({self.hit_count(path)} including failures)")
            await asyncio.sleep(0.05)
        return got

