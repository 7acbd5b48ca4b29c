"""Alembic environment (async template) for the read model: SQLite embedded, PostgreSQL in production.

The URL: `-x url=...`, else the config's sqlalchemy.url (set programmatically by
adapters.db.migrate), else AFTERSALES_DATABASE_URL / the default of adapters.config.
"""

import asyncio
from logging.config import fileConfig

from alembic import context

from adapters.db.models import Base
from adapters.db.session import make_engine

config = context.config
target_metadata = Base.metadata

# The alembic CLI gets the ini's logging; a program calling adapters.db.migrate keeps its own.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from adapters.config import get_settings

        url = get_settings().database_url
    return url


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: prints the SQL instead of running it."""
    url = database_url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"}, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection) -> None:
    # SQLite cannot ALTER most things: batch mode recreates the table instead.
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
        analyze(connection)


def analyze(connection) -> None:
    """Fresh planner statistics after every migration run (every start runs one): the register's
    composite indexes are chosen by them. Bounded on SQLite (analysis_limit: a sample per index) — by
    100,000 entries, not 1,000: from a thousand entries of a group's register (P5, 200,000 cases) SQLite
    reckoned 167 cases a status where closed alone has 97% of them, and took the status index for
    "project + closed" (a walk of every closed case of the group, 250 ms, instead of 1 ms on the project's)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA analysis_limit=100000")
    connection.exec_driver_sql("ANALYZE")


async def run_migrations_online() -> None:
    # the read model's settings on SQLite (WAL, busy timeout): every process migrates on its start, side by side
    engine = make_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
