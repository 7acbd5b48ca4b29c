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
        yield session
