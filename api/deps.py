"""Request-scoped dependencies. The app factory puts the settings and the read model's
`async_sessionmaker` on `app.state` (`settings`, `sessionmaker`)."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.config import Settings


# Dependencies are coroutines even when they do no I/O: FastAPI runs a plain `def` dependency in a worker
# thread: a thread hop per request for an attribute read (~6% of the API process's CPU per action).
async def settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def sessionmaker_dep(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessionmaker


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, closed (uncommitted work rolled back) when the request is done; the
    store functions commit what they write."""
    async with request.app.state.sessionmaker() as session:
        request.state.db_session = session
        yield session


async def release_connection(request: Request) -> None:
    """Before a wait on Temporal (an Update, a query): the request's read-model session gives its pooled connection
    back: its read transaction ends (what it loaded stays loaded and attached: expire_on_commit is off), its next
    statement takes a connection again. Held across the wait, every connection of the pool (PostgreSQL: 15 per
    process) was held by actions waiting on a busy Temporal, and any other request failed after the pool's timeout,
    a 500. A session with changes not yet committed is left as it is (the store functions commit what they write:
    there are none)."""
    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is not None and session.in_transaction() and not (session.new or session.dirty or session.deleted):
        await session.commit()
