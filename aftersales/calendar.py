"""Working-day calendar of mainland China (T1–T5). Pure: stdlib, pydantic and the pure-Python
`lunar_python`, no I/O, no clock, so it runs inside Temporal workflow code.

T1 weekends and statutory holidays are off, make-up working days (调休) are on.
T2 "within N working days" from m ends at the same clock time on the N-th working day after m's
   day; a moment outside working time starts the clock at the next working day's opening.
T3 "every N working hours" counts only working hours (default 09:00–18:00 on working days).
T4 a year without data falls back to Monday–Friday minus the statutory holidays the law fixes for it
   (`statutory_holidays`: lunar festivals and the Qingming solar term computed with `lunar_python`;
   only the make-up days (调休) and the days the State Council moves are unknown); `fallback_years`
   tells which years a computation touched, so the case can say so in its timeline.
T5 a WorkCalendar is a pure function of the CalendarSnapshot it was built from (it keeps frozen
   sets of the snapshot's days, so later changes to the data cannot reach it); deadlines are computed
   once and stored.
Demo time: with `demo_seconds_per_working_day = S` every day works and a working day lasts S seconds.

All datetimes in and out are timezone-aware; results are in UTC; local reasoning uses the
snapshot's time zone (Asia/Shanghai by default).
"""

import math
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lunar_python import Lunar, Solar
from pydantic import BaseModel, Field

UTC = timezone.utc

# T4: the statutory holidays (全体公民放假的节日) of 《全国年节及纪念日放假办法》 by the revision in force
# in a year: (first year in force, {festival: days}); lunar festivals as (lunar month, day), day 0 = the
# eve (the last day of the lunar year), Qingming as the solar term, the others as (month, day).
_NEW_YEAR, _SPRING, _QINGMING, _LABOUR, _DRAGON, _MID_AUTUMN, _NATIONAL = (
    "元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
_LAW_REVISIONS: tuple[tuple[int, dict[str, tuple[int, ...]]], ...] = (
    # 2024 revision (State Council decree 793), from 2025: Spring Festival eve and days 1–3, 1–2 May.
    (2025, {_NEW_YEAR: (1,), _SPRING: (0, 1, 2, 3), _LABOUR: (1, 2), _NATIONAL: (1, 2, 3)}),
    # 2013 revision, 2014–2024: Spring Festival days 1–3, 1 May.
    (2014, {_NEW_YEAR: (1,), _SPRING: (1, 2, 3), _LABOUR: (1,), _NATIONAL: (1, 2, 3)}),
    # 2007 revision, 2008–2013: Spring Festival eve, days 1–2, 1 May (used for every earlier year too).
    (0, {_NEW_YEAR: (1,), _SPRING: (0, 1, 2), _LABOUR: (1,), _NATIONAL: (1, 2, 3)}),
)


def _lunar(year: int, month: int, day: int) -> date:
    """The Gregorian date of lunar `year`-`month`-`day` (non-leap month); day 0 is the eve of month 1."""
    lunar = Lunar.fromYmd(year, month, max(day, 1))
    solar = (lunar.next(-1) if day == 0 else lunar).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _qingming(year: int) -> date:
    term = Solar.fromYmd(year, 4, 15).getLunar().getJieQiTable()["清明"]
    return date(term.getYear(), term.getMonth(), term.getDay())


@lru_cache(maxsize=256)
def statutory_holidays(year: int) -> dict[date, str]:
    """T4: the statutory days off of Gregorian `year` by the law in force that year, before the State
    Council's yearly arrangement moves any (no make-up days, no bridge days). A festival may fall on
    another festival's day (Mid-Autumn on 1 October): the day is counted once, under the later name."""
    fixed = next(days for since, days in _LAW_REVISIONS if year >= since)
    result: dict[date, str] = {}
    for name in (_NEW_YEAR, _LABOUR, _NATIONAL):
        month = {_NEW_YEAR: 1, _LABOUR: 5, _NATIONAL: 10}[name]
        result.update({date(year, month, d): name for d in fixed[name]})
    result.update({_lunar(year, 1, d): _SPRING for d in fixed[_SPRING]})
    result[_qingming(year)] = _QINGMING
    result[_lunar(year, 5, 5)] = _DRAGON
    result[_lunar(year, 8, 15)] = _MID_AUTUMN
    return dict(sorted(result.items()))


# Safety net: no real calendar has a year without a working day; bad data must fail loudly, not hang.
_MAX_DAYS_OFF_IN_A_ROW = 366


DEFAULT_TIMEZONE = "Asia/Shanghai"


def local_year(m: datetime, timezone_name: str = DEFAULT_TIMEZONE) -> int:
    """The calendar year of moment `m` where the company is (T4 loads each year's data by it)."""
    _check_aware(m)
    return m.astimezone(ZoneInfo(timezone_name)).year


def local_date(m: datetime, timezone_name: str = DEFAULT_TIMEZONE) -> date:
    """The calendar day of moment `m` where the company is."""
    _check_aware(m)
    return m.astimezone(ZoneInfo(timezone_name)).date()


class YearData(BaseModel):
    """One year's holiday data (T1, T4)."""

    year: int
    holidays: dict[date, str]  # statutory days off -> name
    workdays: dict[date, str]  # make-up working days (调休), usually weekends -> name
    source: str = "admin"


class CalendarSnapshot(BaseModel):
    """Everything a WorkCalendar needs. It travels in the case's workflow input, so a case always
    computes from the snapshot it loaded (T5)."""

    years: dict[int, YearData]  # only years WITH data
    timezone: str = "Asia/Shanghai"
    day_start: time = time(9, 0)
    day_end: time = time(18, 0)
    demo_seconds_per_working_day: int | None = Field(default=None, gt=0)


class _Year(NamedTuple):
    off: frozenset[date]
    on: frozenset[date]


_YEARS: dict[_Year, _Year] = {}


def _shared(year: _Year) -> _Year:
    """The one equal _Year already built in this process (immutable, so sharing is safe; a handful of
    distinct years ever exist: one per year of data and upload)."""
    if len(_YEARS) > 256:  # bounded whatever the uploads
        _YEARS.clear()
    return _YEARS.setdefault(year, year)


def _check_aware(m: datetime) -> None:
    if m.tzinfo is None or m.utcoffset() is None:
        raise ValueError(f"datetime {m.isoformat()} must be timezone-aware")


def _check_count(n: int) -> None:
    if n < 0:
        raise ValueError(f"n must not be negative (got {n})")


class WorkCalendar:
    """Working-day arithmetic over one CalendarSnapshot (T1–T4, demo time)."""

    def __init__(self, snapshot: CalendarSnapshot) -> None:
        if snapshot.day_end <= snapshot.day_start:
            raise ValueError(f"the working day must end after it starts ({snapshot.day_start}–{snapshot.day_end})")
        try:
            self.tz = ZoneInfo(snapshot.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {snapshot.timezone!r}") from None
        self.day_start = snapshot.day_start.replace(tzinfo=None)
        self.day_end = snapshot.day_end.replace(tzinfo=None)
        self.demo_seconds = snapshot.demo_seconds_per_working_day
        opening = datetime.combine(date.min, self.day_start)
        self.hours_per_day = (datetime.combine(date.min, self.day_end) - opening) / timedelta(hours=1)
        # One lookup per year, built once (T1) from frozen copies of the days (T5: later edits to the
        # caller's snapshot do not reach us), and shared by every calendar with the same days: a worker
        # holds hundreds of cached cases, each with its calendar (memory per open case).
        self._years: dict[int, _Year] = {
            year: _shared(_Year(off=frozenset(data.holidays), on=frozenset(data.workdays)))
            for year, data in snapshot.years.items()
        }

    # ---- T1, T4: which days work ---------------------------------------------------------------
    def has_data(self, year: int) -> bool:
        """T4: whether `year` has holiday data (else it runs on the fallback)."""
        return year in self._years

    def fallback_years(self, start: datetime, end: datetime) -> list[int]:
        """T4: the years touched by [start, end] (local time) that have no data, sorted.
        Empty in demo time, where every day works and no holiday data is used."""
        _check_aware(start)
        _check_aware(end)
        if self.demo_seconds:
            return []
        first, last = sorted((start.astimezone(self.tz).year, end.astimezone(self.tz).year))
        return [y for y in range(first, last + 1) if not self.has_data(y)]

    def is_working_day(self, d: date) -> bool:
        """T1: make-up days work; weekends and holidays are off. T4: a year without data works
        Monday–Friday minus the statutory holidays."""
        if self.demo_seconds:
            return True
        year = self._years.get(d.year)
        if year is None:
            return d.weekday() < 5 and d not in statutory_holidays(d.year)
        if d in year.on:
            return True
        return d.weekday() < 5 and d not in year.off

    def _next_working_day(self, d: date) -> date:
        """The first working day strictly after d."""
        for _ in range(_MAX_DAYS_OFF_IN_A_ROW):
            d += timedelta(days=1)
            if self.is_working_day(d):
                return d
        raise ValueError(f"no working day within {_MAX_DAYS_OFF_IN_A_ROW} days after {d}: check the holiday data")

    def _at(self, d: date, clock: time) -> datetime:
        """Local wall-clock `clock` on day d, as UTC."""
        return datetime.combine(d, clock, tzinfo=self.tz).astimezone(UTC)

    # ---- T2: working days -----------------------------------------------------------------------
    def clock_start(self, m: datetime) -> datetime:
        """T2: m itself inside working time [day_start, day_end) of a working day; the same day's
        opening before day_start on a working day; otherwise the next working day's opening."""
        _check_aware(m)
        if self.demo_seconds:
            return m.astimezone(UTC)
        local = m.astimezone(self.tz)
        day, clock = local.date(), local.time()
        if self.is_working_day(day):
            if clock < self.day_start:
                return self._at(day, self.day_start)
            if clock < self.day_end:
                return local.astimezone(UTC)
        return self._at(self._next_working_day(day), self.day_start)

    def add_working_days(self, m: datetime, n: int) -> datetime:
        """T2: the clock time of clock_start(m), on the n-th working day after that day."""
        _check_aware(m)
        _check_count(n)
        if self.demo_seconds:
            return m.astimezone(UTC) + timedelta(seconds=n * self.demo_seconds)
        start = self.clock_start(m).astimezone(self.tz)
        day = start.date()
        for _ in range(n):
            day = self._next_working_day(day)
        return self._at(day, start.time())

    def escalation_at(self, due: datetime, level: int) -> datetime:
        """E1: when level `level` of a missed deadline is reached: the due time itself, then one more
        working day for each further level."""
        return self.add_working_days(due, level - 1) if level > 1 else due

    # ---- T3: working hours ----------------------------------------------------------------------
    def add_working_hours(self, m: datetime, hours: float) -> datetime:
        """T3: count only working hours from clock_start(m). Ending exactly at day_end stays there."""
        _check_aware(m)
        if not (math.isfinite(hours) and hours >= 0):
            raise ValueError(f"hours must be a finite number >= 0 (got {hours})")
        if self.demo_seconds:
            return m.astimezone(UTC) + timedelta(seconds=hours * self.demo_seconds / self.hours_per_day)
        at = self.clock_start(m).astimezone(self.tz)
        left = timedelta(hours=hours)
        while True:
            closing = datetime.combine(at.date(), self.day_end, tzinfo=self.tz)
            if at + left <= closing:
                return (at + left).astimezone(UTC)
            left -= closing - at
            at = datetime.combine(self._next_working_day(at.date()), self.day_start, tzinfo=self.tz)

    # ---- plain calendar days --------------------------------------------------------------------
    def add_days(self, m: datetime, n: int, *, to_working_day: bool = False) -> datetime:
        """n calendar days, same local clock time (e.g. C6 "close within 7 days"); demo: n * S seconds.
        T2 with `to_working_day`: a deadline that ends on a day off ends at the same clock time on the
        next working day."""
        _check_aware(m)
        _check_count(n)
        if self.demo_seconds:
            return m.astimezone(UTC) + timedelta(seconds=n * self.demo_seconds)
        end = m.astimezone(self.tz) + timedelta(days=n)
        if to_working_day and not self.is_working_day(end.date()):
            return self._at(self._next_working_day(end.date()), end.time())
        return end.astimezone(UTC)


def fallback_differences(data: YearData) -> dict[date, bool]:
    """T4 check: the days of `data.year` on which the statutory fallback (as if the year had no data)
    and the year's real data disagree, each mapped to whether the real data says the day works."""
    real = WorkCalendar(CalendarSnapshot(years={data.year: data}))
    fallback = WorkCalendar(CalendarSnapshot(years={}))
    first = date(data.year, 1, 1)
    days = (first + timedelta(days=i) for i in range((date(data.year + 1, 1, 1) - first).days))
    return {d: real.is_working_day(d) for d in days if real.is_working_day(d) != fallback.is_working_day(d)}
