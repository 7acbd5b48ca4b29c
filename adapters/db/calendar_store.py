"""Holiday data as rows (T4): seeded from the `chinese_calendar` package, replaceable per year by an
admin without a release (PUT /admin/calendar/{year} or `python -m adapters.db.calendar_admin import FILE`).

A year is "with data" when it has a `calendar_years` row; its holidays and make-up working days are
`calendar_days` rows. Replacing a year never moves deadlines already set on cases (T5): cases carry
the snapshot they computed from.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from chinese_calendar import constants as cc
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.calendar import CalendarSnapshot, YearData
from aftersales.case import CaseConfig
from adapters.config import Settings
from adapters.db.models import CalendarDay, CalendarYear

HOLIDAY, WORKDAY = "holiday", "workday"
JSON_KEYS = {"year", "holidays", "workdays", "source", "note"}
NAME_MAX = 64  # CalendarDay.name
SOURCE_MAX = 64  # CalendarYear.source
# A real year has about 250 working days; far fewer means the file is wrong (e.g. a month marked off).
MIN_WORKING_DAYS = 200


# ---- validation (T4) ----------------------------------------------------------------------------
def year_data_from_json(obj: Any) -> YearData:
    """Parses and validates the admin file format:
    {"year": 2027, "holidays": {"2027-01-01": "元旦", ...}, "workdays": {"2027-02-07": "春节调休"}}
    ("source" and a free-text "note" are optional). Raises ValueError naming the problem."""
    if not isinstance(obj, dict):
        raise ValueError("the calendar data must be a JSON object with 'year', 'holidays' and 'workdays'")
    unknown = sorted(set(obj) - JSON_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(sorted(JSON_KEYS))}")
    if "year" not in obj:
        raise ValueError("the calendar data needs a 'year'")
    year = obj["year"]
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2999:
        raise ValueError(f"'year' must be a four-digit number, got {year!r}")
    source = obj.get("source", "admin")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("'source' must be a non-empty text")
    data = YearData(year=year, holidays=_parse_days(obj, "holidays"), workdays=_parse_days(obj, "workdays"),
                    source=source.strip())
    validate_year(data)
    return data


def _parse_days(obj: dict, key: str) -> dict[date, str]:
    raw = obj.get(key) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"'{key}' must be an object mapping 'YYYY-MM-DD' to a name, e.g. {{\"2027-01-01\": \"元旦\"}}")
    days: dict[date, str] = {}
    for text, name in raw.items():
        try:
            d = date.fromisoformat(text)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: {text!r} is not a date (YYYY-MM-DD)") from None
        if not isinstance(name, str):
            raise ValueError(f"{key}: {text} needs a name as text, got {name!r}")
        if d in days:
            raise ValueError(f"{key}: {d.isoformat()} is listed twice")
        days[d] = name.strip()
    return days


def validate_year(data: YearData) -> None:
    """T4: every date lies in data.year, no date is both a holiday and a make-up working day, names
    are given, and the year is plausible (has holidays, keeps MIN_WORKING_DAYS). Raises ValueError."""
    for kind, days in (("holiday", data.holidays), ("make-up working day", data.workdays)):
        for d, name in sorted(days.items()):
            if d.year != data.year:
                raise ValueError(f"{kind} {d.isoformat()} is not in {data.year}")
            if not name.strip():
                raise ValueError(f"{kind} {d.isoformat()} needs a name")
            if len(name) > NAME_MAX:
                raise ValueError(f"the name of {kind} {d.isoformat()} is longer than {NAME_MAX} characters")
    both = sorted(set(data.holidays) & set(data.workdays))
    if both:
        raise ValueError(f"{both[0].isoformat()} cannot be both a holiday and a make-up working day")
    if not data.holidays:
        raise ValueError(f"the data for {data.year} lists no holidays")
    working = _count_working_days(data)
    if working < MIN_WORKING_DAYS:
        raise ValueError(f"the data for {data.year} leaves only {working} working days "
                         f"(a real year has about 250; at least {MIN_WORKING_DAYS} expected)")


def _count_working_days(data: YearData) -> int:
    first = date(data.year, 1, 1)
    days = (first + timedelta(days=i) for i in range((date(data.year + 1, 1, 1) - first).days))
    return sum(1 for d in days if d in data.workdays or (d.weekday() < 5 and d not in data.holidays))


# ---- the package's data --------------------------------------------------------------------------
def _chinese_name(value: object) -> str:
    """chinese_calendar stores Holiday enum values (English); the enum also carries the Chinese name."""
    try:
        return cc.Holiday(value).chinese
    except ValueError:
        return str(value)


def package_years() -> list[YearData]:
    """Every year the installed `chinese_calendar` package covers, with Chinese names."""
    years = sorted({d.year for d in cc.holidays} | {d.year for d in cc.workdays})
    return [
        YearData(
            year=year, source="chinese_calendar",
            holidays={d: _chinese_name(v) for d, v in sorted(cc.holidays.items()) if d.year == year},
            workdays={d: f"{_chinese_name(v)}调休" for d, v in sorted(cc.workdays.items()) if d.year == year},
        )
        for year in years
    ]


# ---- writing -------------------------------------------------------------------------------------
async def _insert_year(session: AsyncSession, data: YearData) -> None:
    """Inserts the year row first (its primary key guards against a concurrent writer), then the days."""
    first, last = date(data.year, 1, 1), date(data.year, 12, 31)
    await session.execute(insert(CalendarYear).values(
        year=data.year, source=data.source[:SOURCE_MAX], updated_at=datetime.now(timezone.utc)))
    await session.execute(delete(CalendarDay).where(CalendarDay.day.between(first, last)))
    rows = [{"day": d, "kind": HOLIDAY, "name": n} for d, n in data.holidays.items()]
    rows += [{"day": d, "kind": WORKDAY, "name": n} for d, n in data.workdays.items()]
    await session.execute(insert(CalendarDay), rows)


async def put_year(session: AsyncSession, data: YearData) -> None:
    """T4: replaces one year's holidays and make-up days (admin upload); commits. Validated like
    year_data_from_json. Deadlines already set on cases do not move (T5)."""
    validate_year(data)
    await session.execute(delete(CalendarYear).where(CalendarYear.year == data.year))
    await _insert_year(session, data)
    await session.commit()


async def seed_from_chinese_calendar(session: AsyncSession) -> list[int]:
    """T4: loads every year the `chinese_calendar` package covers, never overwriting a year already
    present (admin data wins, also against a concurrent upload). Returns the years inserted; commits."""
    present = set(await years_with_data(session))
    inserted: list[int] = []
    for data in package_years():
        if data.year in present:
            continue
        validate_year(data)
        try:
            await _insert_year(session, data)
            await session.commit()
        except IntegrityError:  # someone wrote this year since we looked: theirs wins
            await session.rollback()
            continue
        inserted.append(data.year)
    return inserted


# ---- reading -------------------------------------------------------------------------------------
async def years_with_data(session: AsyncSession) -> list[int]:
    """T4: the years with holiday data, ascending (the others run on the fallback)."""
    return list((await session.scalars(select(CalendarYear.year).order_by(CalendarYear.year))).all())


# Each year's days as last read, by the version of its row (every write replaces the row with a new
# updated_at, so a stale entry is never used): every new case reads its calendar (load_case_config),
# and reading and building the days was a tenth of a worker's Python CPU per intake.
_YEARS: dict[tuple[str, int, str, datetime], YearData] = {}
_YEARS_MAX = 64


def _copy(data: YearData) -> YearData:
    """A caller may edit its snapshot (T5), never the data other cases compute with: new dicts (of
    immutable dates and names, so a shallow copy is a full one) without validating them again."""
    return YearData.model_construct(year=data.year, holidays=dict(data.holidays), workdays=dict(data.workdays),
                                    source=data.source)


# built once (the API reads the year rows for every intake)
_YEAR_ROWS = select(CalendarYear.year, CalendarYear.source, CalendarYear.updated_at).where(
    CalendarYear.year.in_(bindparam("years", expanding=True))).order_by(CalendarYear.year)


async def load_snapshot(session: AsyncSession, years: Iterable[int], *, timezone: str, day_start: time,
                        day_end: time, demo_seconds_per_working_day: int | None) -> CalendarSnapshot:
    """The calendar a case computes with (T1–T5): the data of those of `years` that have any. The year
    rows are read every time; a year's days only when that version of the year was not read before."""
    wanted = set(years)
    loaded: dict[int, YearData] = {}
    if wanted:
        database = str(session.bind.url)
        rows = await session.execute(_YEAR_ROWS, {"years": sorted(wanted)})
        versions = {year: (database, year, source, updated_at) for year, source, updated_at in rows}
        fresh = {year: YearData(year=year, holidays={}, workdays={}, source=version[2])
                 for year, version in versions.items() if version not in _YEARS}
        if fresh:
            # columns, not ORM entities (building entities was a tenth of a worker's Python CPU per intake)
            days = await session.execute(select(CalendarDay.day, CalendarDay.kind, CalendarDay.name).where(
                CalendarDay.day.between(date(min(fresh), 1, 1), date(max(fresh), 12, 31))).order_by(CalendarDay.day))
            for day, kind, name in days:
                year = fresh.get(day.year)
                if year is not None:
                    (year.holidays if kind == HOLIDAY else year.workdays)[day] = name
            if len(_YEARS) + len(fresh) > _YEARS_MAX:
                _YEARS.clear()
            _YEARS.update({versions[year]: data for year, data in fresh.items()})
        loaded = {year: _copy(_YEARS[version]) for year, version in versions.items()}
    return CalendarSnapshot(years=loaded, timezone=timezone, day_start=day_start, day_end=day_end,
                            demo_seconds_per_working_day=demo_seconds_per_working_day)


# ---- the configuration a case opens with -----------------------------------------------------------
async def case_config(session: AsyncSession, settings: Settings, years: list[int]) -> CaseConfig:
    """A case's configuration (T4 calendar snapshot of `years`, E1 ladder, C11 and E3 settings, history
    budget), as the `load_case_config` activity gives it to a case and as the API puts it into a new
    case's start: one reading of the settings and the calendar rows, wherever it runs."""
    s = settings
    snapshot = await load_snapshot(session, years, timezone=s.timezone, day_start=s.work_day_start,
                                   day_end=s.work_day_end, demo_seconds_per_working_day=s.demo_seconds_per_working_day)
    return CaseConfig(calendar=snapshot, covered_years=list(years), ladder=s.escalation_ladder,
                      early_warning_threshold=s.early_warning_threshold,
                      early_warning_window_days=s.early_warning_window_days,
                      notification_give_up_hours=s.notification_give_up_hours,
                      time_tolerance_minutes=s.time_tolerance_minutes,
                      history_event_budget=s.history_event_budget, history_bytes_budget=s.history_bytes_budget,
                      d2_after_work_photo=s.files_require_after_work_photo,
                      d2_signed_cost_statement=s.files_require_signed_cost_statement)
