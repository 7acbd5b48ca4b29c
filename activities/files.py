"""The file store's housekeeping (D3, D4): the orphan sweep the `files-orphan-sweep` Schedule runs."""

from datetime import timedelta

import structlog
from temporalio import activity

from adapters.config import Settings
from adapters.files.blobs import file_store
from adapters.files.retention import sweep_orphans

log = structlog.get_logger()


class FileActivities:
    def __init__(self, sessionmaker, settings: Settings) -> None:
        self.sessionmaker, self.settings = sessionmaker, settings

    @activity.defn(name="sweep_orphan_files")
    async def sweep_orphan_files(self, grace_hours: float) -> int:
        """Idempotent: a retry finds what is left. Answers how many blobs were removed."""
        store = file_store(self.settings)
        try:
            async with self.sessionmaker() as session:
                removed = await sweep_orphans(session, store, timedelta(hours=grace_hours))
        finally:
            await store.aclose()
        if removed:
            log.info("orphan files removed", count=len(removed))
        return len(removed)

    def all(self) -> list:
        return [self.sweep_orphan_files]
