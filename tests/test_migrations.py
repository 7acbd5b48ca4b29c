"""The Alembic migrations build exactly the schema of adapters.db.models, and are safe to re-run."""

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from adapters.db.migrate import ROOT, alembic_config, upgrade_to_head
from adapters.db.models import Base


def _async_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _schema_diff(path: Path) -> list:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def _revision(path: Path) -> str | None:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    assert len(script.get_heads()) == 1


def test_upgrade_empty_database_matches_models(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "read-model.db"  # the folder is created too
    upgrade_to_head(_async_url(db))
    assert _schema_diff(db) == []
    head = ScriptDirectory.from_config(alembic_config(_async_url(db))).get_current_head()
    assert _revision(db) == head
    assert set(inspect(create_engine(f"sqlite:///{db}")).get_table_names()) == set(Base.metadata.tables) | {
        "alembic_version"}


def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    db = tmp_path / "read-model.db"
    upgrade_to_head(_async_url(db))
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO case_counters (prefix, year, last_value) VALUES ('TS', 2026, 41)")
    upgrade_to_head(_async_url(db))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT last_value FROM case_counters").scalar_one() == 41
    engine.dispose()
    assert _schema_diff(db) == []


async def test_upgrade_from_inside_an_event_loop(tmp_path: Path) -> None:
    """The env runs its own loop; upgrade_to_head must still work when called from async code."""
    db = tmp_path / "read-model.db"
    upgrade_to_head(_async_url(db))
    assert _schema_diff(db) == []


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    from alembic import command

    db = tmp_path / "read-model.db"
    upgrade_to_head(_async_url(db))
    command.downgrade(alembic_config(_async_url(db)), "base")
    assert inspect(create_engine(f"sqlite:///{db}")).get_table_names() == ["alembic_version"]
    upgrade_to_head(_async_url(db))
    assert _schema_diff(db) == []


def test_cli_from_another_directory_and_postgres_sql(tmp_path: Path) -> None:
    """`alembic -c <repo>/alembic.ini` works from any cwd; the PostgreSQL DDL renders (offline mode)."""
    env = {**os.environ, "AFTERSALES_DATABASE_URL": "postgresql+asyncpg://u:p@db.invalid/aftersales"}
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini")]
    out = subprocess.run([*alembic, "upgrade", "head", "--sql"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "CREATE TABLE cases" in out.stdout and "TIMESTAMP WITH TIME ZONE" in out.stdout

    db = tmp_path / "cli.db"
    out = subprocess.run([*alembic, "-x", f"url={_async_url(db)}", "upgrade", "head"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _schema_diff(db) == []


async def test_prepare_database_migrates_and_seeds_idempotently(tmp_path: Path) -> None:
    """What `make run` and the compose `setup` service do at every start."""
    from adapters.bootstrap import prepare_database
    from adapters.config import Settings

    db = tmp_path / "data" / "read-model.db"
    settings = Settings(database_url=_async_url(db), bcrypt_rounds=4, seed_demo_users=True)
    await prepare_database(settings)
    await prepare_database(settings)  # again: nothing new, nothing broken
    assert _schema_diff(db) == []
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        staff = conn.exec_driver_sql("SELECT count(*) FROM staff").scalar_one()
        years = conn.exec_driver_sql("SELECT count(*) FROM calendar_years").scalar_one()
    engine.dispose()
    assert staff >= 1 and years >= 1

    prod = tmp_path / "prod.db"
    await prepare_database(Settings(database_url=_async_url(prod), environment="production",
                                    jwt_secret="s" * 40, phone_lookup_key="p" * 40, actor_assertion_key="a" * 40, seed_demo_users=True))  # demo accounts refused, not an error
    engine = create_engine(f"sqlite:///{prod}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM staff").scalar_one() == 0
    engine.dispose()
