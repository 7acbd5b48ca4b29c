"""K (T1, T3): a case's handling time in working days, as the reports count it, is the same when the days in
between are counted from a table (a group's yearly roll-up reckons a quarter of a million cases, P5) as when
they are walked one by one."""

import random
from datetime import datetime, timedelta, timezone

from adapters.db.reports import working_days_between
from tests.rules.driver import CAL


def walked(cal, start: datetime, end: datetime) -> float:
    """The reckoning day by day (what the reports did before): the reference."""
    if end <= start:
        return 0.0
    local_start, local_end = start.astimezone(cal.tz), end.astimezone(cal.tz)
    total = timedelta(0)
    day = local_start.date()
    while day <= local_end.date():
        if cal.is_working_day(day):
            opening = datetime.combine(day, cal.day_start, tzinfo=cal.tz)
            closing = datetime.combine(day, cal.day_end, tzinfo=cal.tz)
            lo, hi = max(opening, local_start), min(closing, local_end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return round(total / timedelta(hours=cal.hours_per_day), 2)


def test_T1_handling_time_counted_from_the_table_is_the_walked_one_across_holidays_and_years():
    rng = random.Random(5)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    spans = [timedelta(minutes=rng.randrange(0, 60 * 24 * 3)) for _ in range(300)]
    spans += [timedelta(days=rng.uniform(3, 400)) for _ in range(300)]   # long ones cross the New Year
    for span in spans:
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 700))
        assert working_days_between(CAL, start, start + span) == walked(CAL, start, start + span), (start, span)
    # the Spring Festival and National Day weeks (T1): whole days off inside the span
    start = datetime(2026, 2, 13, 2, tzinfo=timezone.utc)
    assert working_days_between(CAL, start, start + timedelta(days=12)) == walked(CAL, start, start + timedelta(days=12))
    assert working_days_between(CAL, start, start) == 0.0
