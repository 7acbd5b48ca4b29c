"""T4: the fallback for a year without data, checked against the real data of 2015–2026 (the
`chinese_calendar` package). The fallback knows the statutory holidays of the law in force each year
(lunar festivals and Qingming computed); it cannot know what the State Council's yearly notice
(国务院办公厅关于…部分节假日安排的通知) adds. So a day may differ ONLY as:

1. a make-up working day (调休上班): a Saturday or Sunday the data says works (the fallback has every
   weekend off). The fallback never has a real working weekday off: every statutory day it computes is
   off in the real data too;
2. a weekday the State Council gave off next to a statutory holiday: the day lies in an unbroken run of
   days off (in the real data) that contains one of the fallback's statutory days (1 January may be the
   next year's) — days
   moved there by make-up weekends, a day in lieu of a festival on a weekend, the eve before 2025
   (not statutory then), and the 2020 Spring Festival extension;
3. a one-off holiday the State Council declared, listed in ONE_OFF_HOLIDAYS.

Per year the number of differing days is printed (`pytest -s`; also `python -m adapters.db.calendar_admin
fallback-check` and `make bench`)."""

from datetime import date, timedelta

import pytest

from aftersales.calendar import fallback_differences, statutory_holidays
from adapters.db.calendar_store import package_years

# 国务院 2015-05-10: 3 September 2015 (70th anniversary of the victory, 抗战胜利70周年) off, with 4 September
# moved there from Sunday 6 September.
ONE_OFF_HOLIDAYS = {date(2015, 9, 3), date(2015, 9, 4)}
YEARS = range(2015, 2027)
REAL = {data.year: data for data in package_years()}


def _run_of_days_off(d: date, works) -> list[date]:
    """The unbroken run of days off around d (d itself is off)."""
    start = end = d
    while not works(start - timedelta(days=1)):
        start -= timedelta(days=1)
    while not works(end + timedelta(days=1)):
        end += timedelta(days=1)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@pytest.mark.parametrize("year", YEARS)
def test_T4_fallback_differs_from_the_real_year_only_by_make_up_days_and_the_state_councils_moves(year: int) -> None:
    data = REAL[year]
    statutory = statutory_holidays(year)

    def works(d: date) -> bool:  # the real data, also across the year's ends (days of other years: weekdays)
        if d.year != year:
            return d.weekday() < 5 and d not in statutory_holidays(d.year)
        return d in data.workdays or (d.weekday() < 5 and d not in data.holidays)

    diff = fallback_differences(data)
    make_up = {d for d, real_works in diff.items() if real_works}
    moved = {d for d, real_works in diff.items() if not real_works}
    for d in sorted(make_up):  # 1.
        assert d.weekday() >= 5 and d in data.workdays, f"{d}: the fallback has a real working day off"
    for d in sorted(moved - ONE_OFF_HOLIDAYS):  # 2.
        assert d.weekday() < 5 and d in data.holidays
        run = _run_of_days_off(d, works)
        assert any(day in statutory_holidays(day.year) for day in run), (
            f"{d} ({data.holidays[d]}) is off in the real data but not next to any statutory holiday: "
            f"run {run[0]}..{run[-1]}")
    assert all(d in data.holidays for d in moved & ONE_OFF_HOLIDAYS)  # 3.
    for d in statutory:  # every statutory day the fallback computes is off in the real data
        assert not works(d), f"{d} ({statutory[d]}) is statutory by the fallback but works in the real data"
    print(f"\nT4 {year}: {len(diff)} days differ ({len(make_up)} make-up working days, "
          f"{len(moved)} weekdays off by the State Council)", end="")


def test_T4_fallback_check_covers_every_year_2015_to_2026() -> None:
    assert set(YEARS) <= set(REAL)
