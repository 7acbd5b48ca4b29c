"""FastAPI application: customer-service staff file and act on cases here. `uvicorn api.app:app`."""

from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from adapters.config import Settings, get_settings
from adapters.db.session import make_engine, make_sessionmaker
from api import accounts, admin, auth, cases, codec, fees, health, money, problems
from api import campaigns, properties, reports  # noqa: E402  (routers on their own lines)
from api import metrics  # noqa: E402
from api import docs, text_guard, workbench  # noqa: E402
from api import org  # noqa: E402  (P7: the organisation's lists)
from api import organisation  # noqa: E402  (P5: companies and projects)
from api import security  # noqa: E402  (P6: security headers)
from api import files  # noqa: E402
from api import owners  # noqa: E402  (O1–O3: the owner's pages)
from api import owner_files  # noqa: E402  (O2, O3, D1: the owner's photos)


def create_app(settings: Settings | None = None, *, temporal: Client | None = None,
               sessionmaker: async_sessionmaker[AsyncSession] | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = None
        if sessionmaker is None:
            engine = make_engine(settings.database_url)
            app.state.sessionmaker = make_sessionmaker(engine)
            await owners.backfill(app)   # O1: units imported before owners signed in get their phone's keyed hash
        if temporal is None:
            from adapters.logging import configure_logging
            from adapters.temporal.setup import connect

            configure_logging(settings.log_level)
            app.state.temporal = await connect(settings)
        # P5: start-up's objects out of the full collections that made one page in ten 150-400 ms (adapters/heap.py)
        from adapters.heap import settle_after_start_up
        settle_after_start_up()
        yield
        await app.state.files.aclose()
        if engine is not None:
            await engine.dispose()

    app = FastAPI(
        title="After-sales cases (售后投诉与维修)",
        version="1.0.0",
        description="Complaints and repairs of a real-estate developer, each a durable Temporal workflow. "
        "Authenticate at /auth/token (OAuth2 password flow), then file and act on cases.",
        lifespan=lifespan,
        docs_url=None, redoc_url=None,   # served below from local assets: no CDN
    )
    app.state.settings = settings
    from adapters.files.blobs import file_store
    app.state.files = file_store(settings)   # D3: files' bytes outside Temporal, encrypted with the codec's keys
    app.state.tz = ZoneInfo(settings.timezone)
    if sessionmaker is not None:
        app.state.sessionmaker = sessionmaker
    if temporal is not None:
        app.state.temporal = temporal

    metrics.install(app)  # each request's log context and figures, and GET /metrics
    # invisible and bidirectional formatting characters refused in every request's texts (inside the body limit)
    app.add_middleware(text_guard.TextGuard)
    # outermost: a body over the limit is refused before the routes, the parsing and the sign-in
    problems.install(app, max_body_bytes=settings.max_body_bytes, streamed=files.UPLOAD_PATHS,
                     streamed_max=files.UPLOAD_MAX_BODY, streamed_detail=files.REQUEST_TOO_BIG)

    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(cases.router)
    app.include_router(admin.router)
    app.include_router(money.router)
    app.include_router(accounts.router)
    app.include_router(codec.router_for(settings))  # P4: the Temporal Web UI's codec endpoint
    app.include_router(reports.router)
    app.include_router(properties.router)
    app.include_router(campaigns.router)
    app.include_router(fees.router)
    app.include_router(org.router)  # P7: the lists references are chosen from
    app.include_router(organisation.router)  # P5: the group's companies and projects
    app.include_router(files.router)
    doc_pages = docs.install(app)
    workbench.install(app)   # the staff pages under /app/
    owners.install(app)      # the owner's pages under /o/ (O1–O3)
    owner_files.install(app)  # the owner's photos on those pages (O2, O3, D1, D3)
    # outermost of all, around Starlette's error middleware too: every response carries them (P6)
    security.install(app, docs_paths=doc_pages, docs_pages=doc_pages.values())
    return app


def __getattr__(name: str):
    """`uvicorn api.app:app` builds the app on first access, from the environment's settings."""
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
