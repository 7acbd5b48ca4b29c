"""Another process's writer on a SQLite read model (a projection batch of another worker, an API's intake):
SQLite's one write lock, taken by a connection of its own (BEGIN IMMEDIATE) and held for a while — longer than
the busy timeout of the connections under test, which then answer "database is locked"."""

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class WriteLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.taken = 0  # how often the lock was taken
        self._released = threading.Event()
        self._released.set()

    def hold(self, seconds: float) -> None:
        """Takes the write lock now (waiting for it if another has it) and lets it go after `seconds`, from a timer:
        callable from any thread, returns once the lock is held."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        self.taken += 1
        self._released.clear()

        def release() -> None:
            conn.execute("COMMIT")
            conn.close()
            self._released.set()
        threading.Timer(seconds, release).start()

    def wait_released(self, timeout: float = 30) -> None:
        assert self._released.wait(timeout), "the write lock was never let go"


def short_busy_timeout(engine: AsyncEngine, milliseconds: int) -> AsyncEngine:
    """The engine's connections wait `milliseconds` for a write lock, not the deployed default: a lock held a
    little longer is the lock held longer than the busy timeout under load."""
    @event.listens_for(engine.sync_engine, "connect")
    def _busy(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
        cur.close()
    return engine
