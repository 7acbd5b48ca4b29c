"""Working-day calendar of mainland China (T1–T5), pure: no I/O, safe inside workflow code.

T1 weekends and statutory holidays are off, make-up working days (调休) are on.
T2 "within N working days" from m ends at the same clock time on the N-th working day after m's
   day; a moment outside working time starts the clock at the next working day's opening.
T3 "every N working hours" counts only working hours (default 09:00–18:00).
T4 a year without data falls back to Monday–Friday minus fixed-date holidays (`fallback_years`
   tells which years a computation touched, so the case can say so).
T5 deadlines are computed once and stored on the case: new data never moves them.
Demo time: with `demo_seconds_per_working_day` every day works and a working day lasts S seconds.
"""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from pydantic import BaseModel

FALLBACK_HOLIDAYS: dict[tuple[int, int], str] = {
    (1, 1): "元旦",
    (5, 1): "劳动节",
    (10, 1): "国庆节",
    (10, 2): "国庆节",
    (10, 3): "国庆节",
}


class YearData(BaseModel):
    year: int
    holidays: dict[date, str]
    workdays: dict[date, str]
    source: str = "admin"


class CalendarSnapshot(BaseModel):
    years: dict[int, YearData]
    timezone: str = "Asia/Shanghai"
    day_start: time = time(9, 0)
    day_end: time = time(18, 0)
    demo_seconds_per_working_day: int | None = None


def _aware(m: datetime) -> datetime:
    if m.tzinfo is None or m.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return m


class WorkCalendar:
    def __init__(self, snapshot: CalendarSnapshot) -> None:
        self.snapshot = snapshot
        self.tz = ZoneInfo(snapshot.timezone)
        self.start, self.end = snapshot.day_start, snapshot.day_end
        if self.end <= self.start:
            raise ValueError("the working day must end after it starts")
        self._off = {d for y in snapshot.years.values() for d in y.holidays}
        self._on = {d for y in snapshot.years.values() for d in y.workdays}
        self.demo = snapshot.demo_seconds_per_working_day
        day = datetime.combine(date(2000, 1, 1), self.end) - datetime.combine(date(2000, 1, 1), self.start)
        self.hours_per_day = day.total_seconds() / 3600

    # ---- T1, T4 -------------------------------------------------------------------------------
    def has_data(self, year: int) -> bool:
        return year in self.snapshot.years

    def fallback_years(self, start: datetime, end: datetime) -> list[int]:
        if self.demo:
            return []
        first, last = sorted((_aware(start).astimezone(self.tz).year, _aware(end).astimezone(self.tz).year))
        return [y for y in range(first, last + 1) if not self.has_data(y)]

    def is_working_day(self, d: date) -> bool:
        if self.demo:
            return True
        if self.has_data(d.year):
            return d in self._on or (d.weekday() < 5 and d not in self._off)
        return d.weekday() < 5 and (d.month, d.day) not in FALLBACK_HOLIDAYS

    def _next_working_day(self, d: date) -> date:
        d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    # ---- T2 -----------------------------------------------------------------------------------
    def clock_start(self, m: datetime) -> datetime:
        """m if inside working time, else the opening of the next working day."""
        local = _aware(m).astimezone(self.tz)
        if self.demo:
            return local.astimezone(timezone.utc)
        d, t = local.date(), local.timetz().replace(tzinfo=None)
        if self.is_working_day(d) and self.start <= t < self.end:
            return local.astimezone(timezone.utc)
        if not (self.is_working_day(d) and t < self.start):
            d = self._next_working_day(d)
        return datetime.combine(d, self.start, self.tz).astimezone(timezone.utc)

    def add_working_days(self, m: datetime, n: int) -> datetime:
        if n < 0:
            raise ValueError("n must not be negative")
        if self.demo:
            return _aware(m).astimezone(timezone.utc) + timedelta(seconds=n * self.demo)
        local = self.clock_start(m).astimezone(self.tz)
        d = local.date()
        for _ in range(n):
            d = self._next_working_day(d)
        return datetime.combine(d, local.timetz().replace(tzinfo=None), self.tz).astimezone(timezone.utc)

    # ---- T3 -----------------------------------------------------------------------------------
    def add_working_hours(self, m: datetime, hours: float) -> datetime:
        if hours < 0:
            raise ValueError("hours must not be negative")
        if self.demo:
            return _aware(m).astimezone(timezone.utc) + timedelta(seconds=hours * self.demo / self.hours_per_day)
        local = self.clock_start(m).astimezone(self.tz)
        remaining = timedelta(hours=hours)
        while True:
            closing = datetime.combine(local.date(), self.end, self.tz)
            if local + remaining <= closing:
                return (local + remaining).astimezone(timezone.utc)
            remaining -= closing - local
            local = datetime.combine(self._next_working_day(local.date()), self.start, self.tz)

    def add_days(self, m: datetime, n: int) -> datetime:
        """Plain calendar days (C6 'within 7 days'), compressed in demo time."""
        if n < 0:
            raise ValueError("n must not be negative")
        seconds = n * (self.demo or 86400)
        return _aware(m).astimezone(timezone.utc) + timedelta(seconds=seconds)
