"""A real SMTP server on loopback (aiosmtpd's Controller, in its own thread) that keeps what it
receives, decoded. Usable as a plain or an async context manager:

    with SMTPServer() as smtp:            # or: async with SMTPServer() as smtp:
        settings = Settings(smtp_host=smtp.host, smtp_port=smtp.port)
        ...
        [msg] = await smtp.wait_for(1)
        assert msg.subject == "升级 L1" and msg.to == ["a@example.com"]

`reject(address)` answers 550 to that recipient; `fail_next(n)` answers a temporary 451 to the next
n messages (at DATA) — to exercise retries; `slow_seconds` delays the answer to each recipient (RCPT TO) by
that long — a slow mail server, before any message is accepted; `late_answer_seconds` keeps each message and
then delays the answer to its DATA (the 250) by that long — a message accepted while the client, not told yet,
may give up (the window in which a resend would be a duplicate). `on_message` (a function, called in the server's
thread) runs when a message is kept, before its 250: e.g. another process taking the read model's write lock just
as the sender is about to record the delivery.

`hung_server()` is a socket that takes connections and never answers (no SMTP greeting): a hung mail server.
"""

import asyncio
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass
class Received:
    to: list[str]
    subject: str
    body: str
    mail_from: str = ""
    helo: str = ""  # the name the client gave in its EHLO / HELO
    headers: dict[str, str] = field(default_factory=dict)
    message: EmailMessage | None = field(default=None, repr=False)


class _Handler:
    def __init__(self, server: "SMTPServer") -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.server.slow_seconds:
            await asyncio.sleep(self.server.slow_seconds)
        if address.lower() in self.server.rejected:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.server.lock:
            self.server.attempts += 1
            if self.server.failures_left > 0:
                self.server.failures_left -= 1
                return "451 4.3.0 temporary failure, try again later"
        raw = envelope.original_content or envelope.content
        msg = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default)
        part = msg.get_body(("plain",))
        with self.server.lock:
            self.server.messages.append(Received(
                to=list(envelope.rcpt_tos), subject=str(msg["Subject"] or ""),
                body=part.get_content() if part is not None else "",
                mail_from=envelope.mail_from or "", helo=session.host_name or "", headers={k: str(v) for k, v in msg.items()},
                message=msg))
        if self.server.on_message is not None:
            self.server.on_message()
        if self.server.late_answer_seconds:  # kept, and only then answered
            await asyncio.sleep(self.server.late_answer_seconds)
        return "250 OK"


def hung_server() -> socket.socket:
    """A listening socket on loopback that never accepts: the kernel completes the connection, and the
    client then waits for a greeting that never comes (a hung mail server). Close it when done."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


_RANDOM = random.SystemRandom()  # not the random module's: a test may seed that, the same in every suite worker


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port free on 127.0.0.1 for a server the test starts later (`make run`'s, a child's). Outside the kernel's
    ephemeral range: a port from bind(0) lies inside it, where any outgoing connection of this busy machine (the
    suite's HTTP and gRPC clients) may take it as its source port before the server binds it."""
    low, high = _ephemeral_range()
    pool = range(10_000, low) if low - 10_000 >= 1_000 else range(high + 1, 65_536)
    for _ in range(200):  # bounded: a few tries find a free one
        port = _RANDOM.choice(pool)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPServer:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.rejected: set[str] = set()
        self.failures_left = 0
        self.attempts = 0  # DATA commands seen, failed ones included
        self.slow_seconds = 0.0
        self.late_answer_seconds = 0.0
        self.on_message: Callable[[], None] | None = None
        self.lock = threading.Lock()
        self.port = 0
        self.controller: Controller | None = None

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "SMTPServer":
        last: Exception | None = None
        for _ in range(5):  # the free port may be taken between probing and binding
            self.port = free_port()
            controller = Controller(_Handler(self), hostname=self.host, port=self.port, ready_timeout=10,
                                    enable_SMTPUTF8=True)
            try:
                controller.start()
            except Exception as e:  # noqa: BLE001
                last = e
                continue
            self.controller = controller
            return self
        raise RuntimeError(f"could not start the SMTP test server: {last!r}")

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> "SMTPServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def __aenter__(self) -> "SMTPServer":
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(self.stop)

    # ---- behaviour ----------------------------------------------------------------------------
    def reject(self, address: str) -> None:
        self.rejected.add(address.lower())

    def accept(self, address: str) -> None:
        self.rejected.discard(address.lower())

    def fail_next(self, n: int = 1) -> None:
        with self.lock:
            self.failures_left = n

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.attempts = 0

    # ---- inspection ---------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self.messages)

    def to(self, address: str) -> list[Received]:
        """Messages whose envelope included this recipient."""
        return [m for m in list(self.messages) if address.lower() in (a.lower() for a in m.to)]

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        """Waits (bounded) until at least n messages arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < n:
            if time.monotonic() >= deadline:
                raise AssertionError(f"expected {n} messages within {timeout}s, got {len(self.messages)}: "
                                     f"{[m.subject for m in self.messages]}")
            await asyncio.sleep(0.05)
        return list(self.messages)
