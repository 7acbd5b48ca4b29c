"""Async engine and session factory for the read model (SQLite embedded, PostgreSQL in production)."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")

# SQLite's one writer: how long a connection waits for the write lock before it answers "database is locked".
BUSY_TIMEOUT_SECONDS = 30.0
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
# PostgreSQL: a serialization failure or a deadlock, undone whole; the same transaction again succeeds
_PG_RETRYABLE = frozenset({"40001", "40P01"})


def make_engine(url: str, busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS) -> AsyncEngine:
    """Every connection of the read model's engine: on SQLite in WAL mode (readers never wait on the writer) with
    a busy timeout, set on each new connection of the pool — the API's, the worker's, a migration's."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout_seconds})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL: API, worker and tests share one file
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
            cur.close()

        return engine
    # No JIT: the register's short queries would pay tens of milliseconds compiling plans whose
    # estimated cost crosses jit_above_cost (a count over a large table) to save microseconds.
    return create_async_engine(url, pool_pre_ping=True, connect_args={"server_settings": {"jit": "off"}})


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(session: AsyncSession):
    """The INSERT construct with ON CONFLICT of the session's database (PostgreSQL or SQLite)."""
    from sqlalchemy.dialects import postgresql, sqlite
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


def is_contention(e: BaseException) -> bool:
    """A write that found the database busy and changed nothing, so that the same transaction tried again later
    succeeds: SQLite's write lock still held by another connection past the busy timeout ("database is locked";
    SQLite's busy handler is not fair: under many writers one can lose its turn for longer than any timeout), or
    a PostgreSQL serialization failure or deadlock."""
    if not isinstance(e, DBAPIError):
        return False
    orig = e.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    if (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) in _PG_RETRYABLE:
        return True
    return "database is locked" in str(orig)


async def retry_contention(op: Callable[[], Awaitable[T]], *, within: float, logger=None, what: str = "") -> T:
    """`op` (one whole transaction) again while it fails on contention (`is_contention`), with a growing, jittered
    pause, for at most `within` seconds from now; any other failure, or contention after that, is raised. For the
    writes that must not fail where waiting helps: a delivery's record after the message went out (E3), a
    projection (an action's effect in the register)."""
    deadline, pause, tries = time.monotonic() + within, 0.05, 0
    while True:
        try:
            return await op()
        except DBAPIError as e:
            tries += 1
            if not is_contention(e) or time.monotonic() + pause >= deadline:
                raise
            if logger is not None:
                logger.info("database busy: the write is tried again", write=what, tries=tries)
        await asyncio.sleep(pause * random.uniform(0.5, 1.0))
        pause = min(pause * 2, 1.0)
