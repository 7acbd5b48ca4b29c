"""Async engine and session factory for the read model (SQLite embedded, PostgreSQL in production)."""

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL: API, worker and tests share one file
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
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
