"""The holiday data store (T4, T5) on a real SQLite file, and the admin CLI."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.db import calendar_admin
from aftersales.calendar import WorkCalendar, YearData
from adapters.config import get_settings
from adapters.db import calendar_store
from adapters.db.calendar_store import (
    load_snapshot,
    put_year,
    seed_from_chinese_calendar,
    year_data_from_json,
    years_with_data,
)
from adapters.db.models import Base, CalendarDay, CalendarYear
from adapters.db.session import make_engine, make_sessionmaker

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "calendar-2027.example.json"
SH = ZoneInfo("Asia/Shanghai")
SETTINGS = dict(timezone="Asia/Shanghai", day_start=time(9, 0), day_end=time(18, 0), demo_seconds_per_working_day=None)


def db_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def create_tables(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()


@pytest_asyncio.fixture
async def maker(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = db_url(tmp_path / "calendar.db")
    await create_tables(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def example_2027() -> YearData:
    return year_data_from_json(json.loads(EXAMPLE.read_text(encoding="utf-8")))


# ---- put_year / load_snapshot -----------------------------------------------------------------
@pytest.mark.asyncio
async def test_T4_put_year_then_load_snapshot_round_trip(maker) -> None:
    data = example_2027()
    async with maker() as session:
        await put_year(session, data)
    async with maker() as session:
        snap = await load_snapshot(session, [2027, 2028], **SETTINGS)
    assert list(snap.years) == [2027]  # 2028 has no data: absent, so it runs on the fallback
    assert snap.years[2027] == data
    assert snap.years[2027].source == "example (not official)"
    assert (snap.timezone, snap.day_start, snap.day_end, snap.demo_seconds_per_working_day) == (
        "Asia/Shanghai", time(9, 0), time(18, 0), None)
    calendar = WorkCalendar(snap)
    assert calendar.is_working_day(date(2027, 1, 31))  # the file's make-up Sunday
    assert not calendar.is_working_day(date(2027, 2, 8))  # the file's Spring Festival Monday
    assert calendar.fallback_years(datetime(2027, 6, 1, tzinfo=SH), datetime(2028, 1, 5, tzinfo=SH)) == [2028]


@pytest.mark.asyncio
async def test_T4_load_snapshot_passes_the_working_time_settings(maker) -> None:
    async with maker() as session:
        snap = await load_snapshot(session, [], timezone="UTC", day_start=time(8, 0), day_end=time(17, 0),
                                   demo_seconds_per_working_day=30)
    assert snap.years == {}
    assert (snap.timezone, snap.day_start, snap.day_end, snap.demo_seconds_per_working_day) == (
        "UTC", time(8, 0), time(17, 0), 30)


@pytest.mark.asyncio
async def test_T4_put_year_replaces_the_whole_year(maker) -> None:
    async with maker() as session:
        await put_year(session, example_2027())
        smaller = YearData(year=2027, holidays={date(2027, 1, 1): "元旦"}, workdays={}, source="admin:cs_manager")
        await put_year(session, smaller)  # same session, twice: no identity-map conflicts
    async with maker() as session:
        snap = await load_snapshot(session, [2027], **SETTINGS)
        days = await session.scalar(select(func.count()).select_from(CalendarDay))
    assert snap.years[2027] == smaller
    assert days == 1


@pytest.mark.asyncio
async def test_T4_put_year_leaves_other_years_alone(maker) -> None:
    async with maker() as session:
        await seed_from_chinese_calendar(session)
        await put_year(session, example_2027())
        before = (await load_snapshot(session, [2026], **SETTINGS)).years[2026]
        await put_year(session, YearData(year=2027, holidays={date(2027, 1, 1): "元旦"}, workdays={}))
        after = (await load_snapshot(session, [2026], **SETTINGS)).years[2026]
    assert before == after and len(after.holidays) > 20


@pytest.mark.asyncio
@pytest.mark.parametrize("data, message", [
    (YearData(year=2027, holidays={date(2026, 12, 31): "元旦"}, workdays={}), "2026-12-31 is not in 2027"),
    (YearData(year=2027, holidays={date(2027, 1, 1): "元旦"}, workdays={date(2027, 1, 1): "x"}),
     "2027-01-01 cannot be both"),
    (YearData(year=2027, holidays={}, workdays={}), "lists no holidays"),
])
async def test_T4_put_year_validates_like_the_json_and_writes_nothing(maker, data, message) -> None:
    async with maker() as session:
        with pytest.raises(ValueError, match=message):
            await put_year(session, data)
        assert await years_with_data(session) == []


# ---- seeding from the package -------------------------------------------------------------------
@pytest.mark.asyncio
async def test_T4_seed_loads_every_package_year_once(maker) -> None:
    package_years = sorted({d.year for d in chinese_calendar.constants.holidays})
    async with maker() as session:
        assert await seed_from_chinese_calendar(session) == package_years
        assert await seed_from_chinese_calendar(session) == []
        assert await years_with_data(session) == package_years


@pytest.mark.asyncio
async def test_T1_seeded_data_matches_chinese_calendar_and_has_chinese_names(maker) -> None:
    async with maker() as session:
        await seed_from_chinese_calendar(session)
        snap = await load_snapshot(session, [2025, 2026], **SETTINGS)
    calendar = WorkCalendar(snap)
    d = date(2025, 1, 1)
    while d <= date(2026, 12, 31):
        assert calendar.is_working_day(d) == chinese_calendar.is_workday(d), d
        d += timedelta(days=1)
    y2026 = snap.years[2026]
    assert y2026.source == "chinese_calendar"
    assert y2026.holidays[date(2026, 1, 1)] == "元旦"
    assert y2026.holidays[date(2026, 10, 1)] == "国庆节"
    assert y2026.workdays[date(2026, 2, 14)] == "春节调休"


@pytest.mark.asyncio
async def test_T4_seed_never_overwrites_an_admin_year(maker) -> None:
    admin_2026 = YearData(year=2026, holidays={date(2026, 1, 1): "元旦（管理员）"}, workdays={}, source="admin:cs_manager")
    async with maker() as session:
        await put_year(session, admin_2026)
        inserted = await seed_from_chinese_calendar(session)
        snap = await load_snapshot(session, [2026], **SETTINGS)
    assert 2026 not in inserted and 2025 in inserted
    assert snap.years[2026] == admin_2026


@pytest.mark.asyncio
async def test_T4_seed_loses_a_race_against_an_admin_upload(maker, monkeypatch) -> None:
    """An admin uploads 2026 after the seed looked at which years exist: the admin's data wins."""
    admin_2026 = YearData(year=2026, holidays={date(2026, 1, 1): "元旦"}, workdays={}, source="admin:cs_manager")
    async with maker() as session:
        await put_year(session, admin_2026)

    async def stale_view(session: AsyncSession) -> list[int]:
        return []

    monkeypatch.setattr(calendar_store, "years_with_data", stale_view)
    async with maker() as session:
        inserted = await seed_from_chinese_calendar(session)
    monkeypatch.undo()
    async with maker() as session:
        snap = await load_snapshot(session, [2026], **SETTINGS)
        sources = dict((await session.execute(select(CalendarYear.year, CalendarYear.source))).all())
    assert 2026 not in inserted and 2025 in inserted
    assert snap.years[2026] == admin_2026
    assert sources[2025] == "chinese_calendar"


# ---- T5 -------------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_T5_deadline_computed_before_put_year_is_the_value_stored(maker) -> None:
    """Design: a case loads a snapshot once, computes its deadline and stores the datetime. A later
    upload changes what a *new* snapshot computes, never the stored value (only a person extends it, R8)."""
    received = datetime(2027, 2, 5, 10, 0, tzinfo=SH)  # Friday, 除夕; 2027 has no data yet -> fallback
    async with maker() as session:
        await seed_from_chinese_calendar(session)
        old_snapshot = await load_snapshot(session, [2026, 2027], **SETTINGS)
    stored_due = WorkCalendar(old_snapshot).add_working_days(received, 1)
    # The statutory fallback has 除夕 to 初三 (Feb 5–8) off: the clock starts Tue Feb 9 09:00.
    assert stored_due == datetime(2027, 2, 10, 9, 0, tzinfo=SH)

    async with maker() as session:
        await put_year(session, example_2027())  # Feb 5–13 become holidays
        new_snapshot = await load_snapshot(session, [2026, 2027], **SETTINGS)
    # received on a holiday now: the clock starts Mon Feb 15 09:00, one working day later is Feb 16 09:00
    assert WorkCalendar(new_snapshot).add_working_days(received, 1) == datetime(2027, 2, 16, 9, 0, tzinfo=SH)
    # The case's stored deadline, and a calendar rebuilt from the case's own snapshot, are unchanged.
    assert WorkCalendar(old_snapshot).add_working_days(received, 1) == stored_due
    assert not WorkCalendar(old_snapshot).has_data(2027)


# ---- the admin file format ------------------------------------------------------------------------
def test_T4_example_file_parses_and_says_it_is_an_example() -> None:
    raw = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert "EXAMPLE" in raw["note"] and "not official" in raw["source"]
    data = example_2027()
    assert data.year == 2027
    assert data.holidays[date(2027, 1, 1)] == "元旦"
    assert all(d.weekday() >= 5 for d in data.workdays)


def test_T4_json_accepts_missing_workdays_and_defaults_the_source() -> None:
    data = year_data_from_json({"year": 2027, "holidays": {"2027-01-01": " 元旦 "}})
    assert data == YearData(year=2027, holidays={date(2027, 1, 1): "元旦"}, workdays={}, source="admin")


@pytest.mark.parametrize("obj, message", [
    ([2027], "must be a JSON object"),
    ({"holidays": {"2027-01-01": "元旦"}}, "needs a 'year'"),
    ({"year": "2027", "holidays": {"2027-01-01": "元旦"}}, "'year' must be a four-digit number"),
    ({"year": True, "holidays": {"2027-01-01": "元旦"}}, "'year' must be a four-digit number"),
    ({"year": 2027, "holiday": {"2027-01-01": "元旦"}}, "unknown key.*'holiday'"),
    ({"year": 2027, "holidays": ["2027-01-01"]}, "'holidays' must be an object"),
    ({"year": 2027, "holidays": {"2027-02-30": "春节"}}, "holidays: '2027-02-30' is not a date"),
    ({"year": 2027, "holidays": {"1st of May": "劳动节"}}, "'1st of May' is not a date"),
    ({"year": 2027, "holidays": {"2027-01-01": 1}}, "2027-01-01 needs a name as text"),
    ({"year": 2027, "holidays": {"2027-01-01": "  "}}, "holiday 2027-01-01 needs a name"),
    ({"year": 2027, "holidays": {"2026-01-01": "元旦"}}, "holiday 2026-01-01 is not in 2027"),
    ({"year": 2027, "holidays": {"2027-01-01": "元旦"}, "workdays": {"2028-01-02": "调休"}},
     "make-up working day 2028-01-02 is not in 2027"),
    ({"year": 2027, "holidays": {"2027-01-01": "元旦"}, "workdays": {"2027-01-01": "调休"}},
     "2027-01-01 cannot be both a holiday and a make-up working day"),
    ({"year": 2027, "holidays": {}, "workdays": {"2027-01-02": "调休"}}, "2027 lists no holidays"),
    ({"year": 2027, "holidays": {f"2027-{m:02d}-{d:02d}": "假" for m in (1, 2, 3, 4) for d in range(1, 29)}},
     "leaves only .* working days"),
    ({"year": 2027, "holidays": {"2027-01-01": "元旦"}, "source": ""}, "'source' must be"),
])
def test_T4_bad_admin_json_raises_value_error_naming_the_problem(obj, message) -> None:
    with pytest.raises(ValueError, match=message):
        year_data_from_json(obj)


# ---- the CLI --------------------------------------------------------------------------------------
@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch) -> str:
    url = db_url(tmp_path / "cli.db")
    asyncio.run(create_tables(url))
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_T4_cli_import_then_status(cli_db, capsys) -> None:
    assert calendar_admin.main(["import", str(EXAMPLE), "--source", "admin:cli-test"]) == 0
    assert "2027: 29 holidays and 5 make-up working days stored" in capsys.readouterr().out
    assert calendar_admin.main(["seed"]) == 0
    assert "2004–2026" in capsys.readouterr().out
    assert calendar_admin.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "years with data: 2004–2027" in out

    async def check() -> YearData:
        engine = make_engine(cli_db)
        async with make_sessionmaker(engine)() as session:
            snap = await load_snapshot(session, [2027], **SETTINGS)
        await engine.dispose()
        return snap.years[2027]

    assert asyncio.run(check()).source == "admin:cli-test"


def test_T4_cli_refuses_a_bad_file_before_touching_the_database(cli_db, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"year": 2027, "holidays": {"2027-01-01": "元旦"}, "workdays": {"2027-01-01": "x"}}))
    assert calendar_admin.main(["import", str(bad)]) == 2
    assert "cannot be both a holiday and a make-up working day" in capsys.readouterr().err
    bad.write_text("{not json")
    assert calendar_admin.main(["import", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert calendar_admin.main(["import", str(tmp_path / "missing.json")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_T4_cli_reports_an_unmigrated_database(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url(tmp_path / "empty.db"))
    get_settings.cache_clear()
    try:
        assert calendar_admin.main(["status"]) == 2
    finally:
        get_settings.cache_clear()
    assert "is it migrated?" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_T4_a_year_read_again_comes_from_memory_until_it_is_replaced(maker) -> None:
    """Every new case loads its calendar: a year's days are read from the database once
    per version of the year; an upload is seen by the next load; an edit to a loaded snapshot (T5)
    reaches neither the memory nor the next case."""
    from sqlalchemy import event

    async with maker() as session:
        await put_year(session, example_2027())
    statements: list[str] = []
    engine = maker.kw["bind"].sync_engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        async with maker() as session:
            first = await load_snapshot(session, [2027], **SETTINGS)
            read_days = sum("calendar_days" in s for s in statements)
            first.years[2027].holidays[date(2027, 3, 3)] = "edited by a caller"
            second = await load_snapshot(session, [2027], **SETTINGS)
        assert read_days == 1 and sum("calendar_days" in s for s in statements) == 1  # not read again
        assert second.years[2027] == example_2027()  # the caller's edit did not reach the memory
        async with maker() as session:
            await put_year(session, YearData(year=2027, holidays={date(2027, 1, 1): "元旦"}, workdays={}))
            third = await load_snapshot(session, [2027], **SETTINGS)
        assert third.years[2027].holidays == {date(2027, 1, 1): "元旦"}  # the upload, at once
    finally:
        event.remove(engine, "before_cursor_execute", listen)
