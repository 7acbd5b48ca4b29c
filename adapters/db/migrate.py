"""Runs the read model's Alembic migrations to head (SQLite and PostgreSQL alike).

    python -m adapters.db.migrate [DATABASE_URL]     # default: AFTERSALES_DATABASE_URL

From async code: `await asyncio.to_thread(upgrade_to_head, url)`.
"""

import sys
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]  # the repository: alembic.ini and migrations/ live there


def alembic_config(database_url: str) -> Config:
    """The repository's alembic.ini, usable from any working directory."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))  # ini interpolation
    cfg.attributes["configure_logger"] = False  # keep the caller's logging set-up
    return cfg


def _ensure_sqlite_dir(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def upgrade_to_head(database_url: str) -> None:
    """Sync and idempotent. The Alembic env runs its own event loop (asyncio.run), so the upgrade runs
    on a thread of its own: this may be called from inside a running event loop too."""
    _ensure_sqlite_dir(database_url)
    error: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(alembic_config(database_url), "head")
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(e)

    thread = threading.Thread(target=run, name="alembic-upgrade")
    thread.start()
    thread.join()
    if error:
        raise error[0]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        url = argv[1]
    else:
        from adapters.config import get_settings

        url = get_settings().database_url
    upgrade_to_head(url)
    print(f"read model migrated to head ({make_url(url).render_as_string(hide_password=True)})")


if __name__ == "__main__":
    main(sys.argv)
