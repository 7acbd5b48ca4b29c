"""Getting the read model ready: migrations to head, the holiday calendar, and (embedded only) the demo
staff accounts. Idempotent: run it at every start.

    python -m adapters.bootstrap      # the compose `setup` service, after adapters.temporal.setup
"""

import asyncio

import structlog

from adapters.config import Settings
from adapters.db.migrate import upgrade_to_head
from adapters.db.session import make_engine, make_sessionmaker

log = structlog.get_logger("adapters.bootstrap")


async def prepare_database(settings: Settings) -> None:
    # Imported here: these modules pull in the calendar package data and password hashing, which
    # nothing else in a bare `import adapters.bootstrap` needs.
    from adapters.db.calendar_store import seed_from_chinese_calendar
    from adapters.db.staff import seed_demo_staff

    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    log.info("read model migrated")
    engine = make_engine(settings.database_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session:
            years = await seed_from_chinese_calendar(session)
        log.info("holiday calendar seeded", years_added=years)
        if settings.files_store == "s3":   # D3: the file store's bucket (compose's MinIO starts empty)
            from adapters.files.blobs import S3BlobStore, blob_store
            store = blob_store(settings)
            assert isinstance(store, S3BlobStore)
            try:
                await store.ensure_bucket()
            finally:
                await store.aclose()
            log.info("file store bucket ready", bucket=settings.files_s3_bucket)
        if settings.seed_demo_users and settings.environment == "production":
            log.warning("demo staff NOT seeded: environment is production (create accounts with "
                        "`python -m adapters.db.staff create`)")
        elif settings.seed_demo_users:
            async with sessionmaker() as session:
                created = await seed_demo_staff(session, settings)
            log.info("demo staff seeded", created=created)
    finally:
        await engine.dispose()


def main() -> None:
    """`python -m adapters.bootstrap`: what the compose `setup` service runs after Temporal setup."""
    from adapters.config import get_settings
    from adapters.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    asyncio.run(prepare_database(settings))


if __name__ == "__main__":
    main()
