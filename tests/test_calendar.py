"""The working-day calendar (T1–T5, demo time), pure: no database. Snapshots are built from the real
`chinese_calendar` data, so make-up working days (调休) are the real ones."""

import math
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from chinese_calendar import constants

from aftersales.calendar import CalendarSnapshot, WorkCalendar, YearData, statutory_holidays

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
PACKAGE_YEARS = sorted({d.year for d in constants.holidays})


def year_data(year: int) -> YearData:
    """One year of the package's data (holidays and make-up working days)."""
    def pick(table: dict) -> dict[date, str]:
        return {d: str(name) for d, name in table.items() if d.year == year}
    return YearData(year=year, holidays=pick(constants.holidays), workdays=pick(constants.workdays),
                    source="chinese_calendar")


def snapshot(*years: int, **settings) -> CalendarSnapshot:
    settings.setdefault("fallback", "statutory")  # as every snapshot is built now (T4)
    return CalendarSnapshot(years={y: year_data(y) for y in years}, **settings)


def cal(*years: int, **settings) -> WorkCalendar:
    return WorkCalendar(snapshot(*years, **settings))


def sh(*args: int) -> datetime:
    """A Shanghai wall-clock moment."""
    return datetime(*args, tzinfo=SH)


CAL = cal(2025, 2026)  # 2027 deliberately absent: the package has no data for it (T4 fallback)


# ---- T1: which days work ----------------------------------------------------------------------
@pytest.mark.parametrize("d", [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                               date(2026, 9, 20), date(2026, 10, 10), date(2025, 2, 8), date(2025, 10, 11)])
def test_T1_make_up_weekend_day_is_a_working_day(d: date) -> None:
    assert d.weekday() >= 5 and d in constants.workdays
    assert CAL.is_working_day(d)


@pytest.mark.parametrize("d", [date(2026, 1, 1), date(2026, 1, 2), date(2026, 2, 16), date(2026, 2, 23),
                               date(2026, 4, 6), date(2026, 5, 5), date(2026, 9, 25), date(2026, 10, 5),
                               date(2026, 10, 7)])
def test_T1_statutory_holiday_on_a_weekday_is_off(d: date) -> None:
    assert d.weekday() < 5
    assert not CAL.is_working_day(d)


def test_T1_ordinary_weekdays_work_and_ordinary_weekends_do_not() -> None:
    assert CAL.is_working_day(date(2026, 3, 4))  # Wednesday
    assert not CAL.is_working_day(date(2026, 3, 7))  # Saturday
    assert not CAL.is_working_day(date(2026, 3, 8))  # Sunday


def test_T1_agrees_with_chinese_calendar_on_every_day_it_covers() -> None:
    calendar = cal(*PACKAGE_YEARS)
    d, last = date(PACKAGE_YEARS[0], 1, 1), date(PACKAGE_YEARS[-1], 12, 31)
    while d <= last:
        assert calendar.is_working_day(d) == chinese_calendar.is_workday(d), d
        d += timedelta(days=1)


# ---- T2: clock start ----------------------------------------------------------------------------
def test_T2_inside_working_time_the_clock_starts_at_once() -> None:
    m = sh(2026, 3, 4, 10, 17, 30)
    assert CAL.clock_start(m) == m
    assert CAL.clock_start(sh(2026, 3, 4, 9, 0)) == sh(2026, 3, 4, 9, 0)  # opening is inside


def test_T2_received_on_a_saturday_starts_next_working_day_0900() -> None:
    assert CAL.clock_start(sh(2026, 3, 7, 11, 0)) == sh(2026, 3, 9, 9, 0)


def test_T2_received_at_2000_starts_next_working_day_0900() -> None:
    assert CAL.clock_start(sh(2026, 3, 3, 20, 0)) == sh(2026, 3, 4, 9, 0)


def test_T2_received_at_closing_time_starts_next_working_day() -> None:
    assert CAL.clock_start(sh(2026, 3, 6, 18, 0)) == sh(2026, 3, 9, 9, 0)  # Friday 18:00 -> Monday


def test_T2_received_before_opening_on_a_working_day_starts_that_morning() -> None:
    assert CAL.clock_start(sh(2026, 3, 3, 7, 30)) == sh(2026, 3, 3, 9, 0)


def test_T2_received_during_golden_week_starts_after_it() -> None:
    assert CAL.clock_start(sh(2026, 10, 3, 10, 0)) == sh(2026, 10, 8, 9, 0)


def test_T2_received_on_a_make_up_saturday_starts_at_once() -> None:
    m = sh(2026, 2, 14, 10, 0)
    assert CAL.clock_start(m) == m


# ---- T2: N working days -------------------------------------------------------------------------
def test_T2_friday_1700_plus_3_working_days_is_wednesday_1700() -> None:
    assert CAL.add_working_days(sh(2026, 3, 6, 17, 0), 3) == sh(2026, 3, 11, 17, 0)


def test_T2_saturday_receipt_plus_3_counts_from_monday_0900() -> None:
    assert CAL.add_working_days(sh(2026, 3, 7, 11, 0), 3) == sh(2026, 3, 12, 9, 0)


def test_T2_receipt_at_2000_plus_1_is_the_day_after_next_0900() -> None:
    assert CAL.add_working_days(sh(2026, 3, 3, 20, 0), 1) == sh(2026, 3, 5, 9, 0)


def test_T2_golden_week_is_skipped_and_its_make_up_saturday_counts() -> None:
    """Oct 1–7 2026 off; Oct 8 (Thu), Oct 9 (Fri), Oct 10 (make-up Saturday) work."""
    m = sh(2026, 9, 30, 10, 0)
    assert CAL.add_working_days(m, 1) == sh(2026, 10, 8, 10, 0)
    assert CAL.add_working_days(m, 3) == sh(2026, 10, 10, 10, 0)


def test_T2_spring_festival_is_skipped() -> None:
    """Feb 15–23 2026 off; Feb 14 (Saturday) is a make-up working day."""
    m = sh(2026, 2, 13, 15, 0)
    assert CAL.add_working_days(m, 1) == sh(2026, 2, 14, 15, 0)
    assert CAL.add_working_days(m, 2) == sh(2026, 2, 24, 15, 0)


def test_T2_zero_working_days_is_the_clock_start() -> None:
    assert CAL.add_working_days(sh(2026, 3, 7, 11, 0), 0) == sh(2026, 3, 9, 9, 0)


def test_T2_keeps_the_clock_time_to_the_second() -> None:
    assert CAL.add_working_days(sh(2026, 3, 4, 17, 59, 59), 1) == sh(2026, 3, 5, 17, 59, 59)


def test_T2_results_are_utc_and_input_zone_does_not_matter() -> None:
    friday_1700_in_utc = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    due = CAL.add_working_days(friday_1700_in_utc, 3)
    assert due.tzinfo is UTC
    assert due == sh(2026, 3, 11, 17, 0)
    assert CAL.clock_start(friday_1700_in_utc).tzinfo is UTC


def test_T2_a_utc_moment_on_the_previous_utc_day_is_judged_in_local_time() -> None:
    """2026-03-08 23:30 UTC is Monday 07:30 in Shanghai: the clock starts Monday 09:00, not Sunday's next day."""
    assert CAL.clock_start(datetime(2026, 3, 8, 23, 30, tzinfo=UTC)) == sh(2026, 3, 9, 9, 0)


def test_T2_configured_working_hours_move_the_opening() -> None:
    calendar = cal(2026, day_start=time(8, 30), day_end=time(17, 30))
    assert calendar.clock_start(sh(2026, 3, 3, 17, 45)) == sh(2026, 3, 4, 8, 30)
    assert calendar.clock_start(sh(2026, 3, 3, 8, 45)) == sh(2026, 3, 3, 8, 45)


# ---- T4: a year without data --------------------------------------------------------------------
def test_T4_fallback_is_monday_to_friday_minus_the_statutory_holidays() -> None:
    """2027 has no data: the law's holidays (since 2025) are off, lunar dates and Qingming computed."""
    assert not CAL.has_data(2027)
    assert not CAL.is_working_day(date(2027, 1, 1))  # Friday, 元旦
    assert not CAL.is_working_day(date(2027, 2, 5))  # Friday, 除夕 (Spring Festival eve, since 2025)
    assert not CAL.is_working_day(date(2027, 2, 8))  # Monday, 正月初三
    assert CAL.is_working_day(date(2027, 2, 9))  # Tuesday: the law's four days are over
    assert not CAL.is_working_day(date(2027, 4, 5))  # Monday, 清明 (solar term)
    assert not CAL.is_working_day(date(2027, 6, 9))  # Wednesday, 端午 (5th of the 5th lunar month)
    assert not CAL.is_working_day(date(2027, 9, 15))  # Wednesday, 中秋 (15th of the 8th lunar month)
    assert not CAL.is_working_day(date(2027, 10, 1))  # Friday, 国庆节
    assert CAL.is_working_day(date(2027, 10, 4))  # Monday: only Oct 1–3 are the law's; moves are unknown
    assert not CAL.is_working_day(date(2027, 1, 31))  # Sunday: no make-up days without data
    assert not CAL.is_working_day(date(2028, 5, 2))  # Tuesday, 劳动节 second day (since 2025)
    assert CAL.is_working_day(date(2028, 5, 3))


def test_T4_statutory_holidays_follow_the_law_in_force_that_year() -> None:
    """2014–2024: Spring Festival days 1–3 and 1 May only; since 2025 also the eve and 2 May."""
    assert statutory_holidays(2024)[date(2024, 2, 10)] == "春节"  # 正月初一
    assert date(2024, 2, 9) not in statutory_holidays(2024)  # 除夕 was not a statutory holiday
    assert date(2024, 5, 2) not in statutory_holidays(2024)
    assert len(statutory_holidays(2024)) == 11 and len(statutory_holidays(2027)) == 13
    assert {n for n in statutory_holidays(2027).values()} == {"元旦", "春节", "清明节", "劳动节", "端午节", "中秋节",
                                                              "国庆节"}


def test_T2_calendar_days_ending_on_a_day_off_end_on_the_next_working_day() -> None:
    """C6's 7 calendar days from 2026-09-30 10:00 end on 7 October, inside the National Day holiday:
    they end at 10:00 on 8 October, the first working day after it."""
    received = sh(2026, 9, 30, 10, 0)
    assert CAL.add_days(received, 7) == sh(2026, 10, 7, 10, 0)  # plain calendar days
    assert CAL.add_days(received, 7, to_working_day=True) == sh(2026, 10, 8, 10, 0)
    assert CAL.add_days(sh(2026, 11, 23, 10, 0), 7, to_working_day=True) == sh(2026, 11, 30, 10, 0)  # a Monday
    assert CAL.add_days(sh(2026, 11, 21, 20, 0), 7, to_working_day=True) == sh(2026, 11, 30, 20, 0)  # Sat -> Mon
    assert CAL.add_days(sh(2027, 1, 29, 10, 0), 7, to_working_day=True) == sh(2027, 2, 9, 10, 0)  # fallback year


def test_T4_deadline_crossing_into_a_year_without_data_uses_the_fallback() -> None:
    """Thu 2026-12-31 + 1 working day: 2027-01-01 (Friday, 元旦 by fallback) is off -> Monday Jan 4."""
    m = sh(2026, 12, 31, 10, 0)
    due = CAL.add_working_days(m, 1)
    assert due == sh(2027, 1, 4, 10, 0)
    assert CAL.fallback_years(m, due) == [2027]
    assert CAL.add_working_days(sh(2026, 12, 30, 10, 0), 3) == sh(2027, 1, 5, 10, 0)


def test_T4_working_hours_across_the_year_boundary_keep_going() -> None:
    assert CAL.add_working_hours(sh(2026, 12, 31, 16, 0), 4) == sh(2027, 1, 4, 11, 0)


def test_T4_fallback_years_reports_every_year_touched_without_data() -> None:
    assert CAL.fallback_years(sh(2026, 3, 1), sh(2026, 12, 31, 23, 59)) == []
    assert CAL.fallback_years(sh(2025, 6, 1), sh(2028, 1, 2)) == [2027, 2028]
    assert CAL.fallback_years(sh(2028, 1, 2), sh(2025, 6, 1)) == [2027, 2028]  # order does not matter
    # 2026-12-31 16:30 UTC is already 2027-01-01 00:30 in Shanghai.
    assert CAL.fallback_years(sh(2026, 12, 1), datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == [2027]


def test_T4_admin_data_for_the_new_year_replaces_the_fallback() -> None:
    """With 2027 data (a make-up Sunday Jan 31 2027, invented for the test) that day works."""
    y2027 = YearData(year=2027, holidays={date(2027, 1, 1): "元旦", date(2027, 2, 8): "春节"},
                     workdays={date(2027, 1, 31): "春节调休"})
    calendar = WorkCalendar(CalendarSnapshot(years={2026: year_data(2026), 2027: y2027}))
    assert calendar.has_data(2027)
    assert calendar.fallback_years(sh(2026, 12, 31), sh(2027, 2, 1)) == []
    assert calendar.is_working_day(date(2027, 1, 31))
    assert not calendar.is_working_day(date(2027, 2, 8))
    assert calendar.add_working_days(sh(2027, 1, 29, 10, 0), 1) == sh(2027, 1, 31, 10, 0)


# ---- T3: working hours --------------------------------------------------------------------------
def test_T3_four_working_hours_from_1600_end_next_working_day_1100() -> None:
    assert CAL.add_working_hours(sh(2026, 3, 4, 16, 0), 4) == sh(2026, 3, 5, 11, 0)
    assert CAL.add_working_hours(sh(2026, 3, 6, 16, 0), 4) == sh(2026, 3, 9, 11, 0)  # over a weekend
    assert CAL.add_working_hours(sh(2026, 9, 30, 16, 0), 4) == sh(2026, 10, 8, 11, 0)  # over Golden Week


def test_T3_ending_exactly_at_closing_stays_at_closing() -> None:
    assert CAL.add_working_hours(sh(2026, 3, 4, 14, 0), 4) == sh(2026, 3, 4, 18, 0)
    assert CAL.add_working_hours(sh(2026, 3, 4, 9, 0), 9) == sh(2026, 3, 4, 18, 0)


def test_T3_outside_working_time_counts_from_the_next_opening() -> None:
    assert CAL.add_working_hours(sh(2026, 3, 4, 20, 0), 4) == sh(2026, 3, 5, 13, 0)
    assert CAL.add_working_hours(sh(2026, 3, 7, 10, 0), 4) == sh(2026, 3, 9, 13, 0)  # Saturday


def test_T3_every_4_working_hours_chained() -> None:
    first = CAL.add_working_hours(sh(2026, 3, 4, 9, 0), 4)
    second = CAL.add_working_hours(first, 4)
    third = CAL.add_working_hours(second, 4)
    assert (first, second, third) == (sh(2026, 3, 4, 13, 0), sh(2026, 3, 4, 17, 0), sh(2026, 3, 5, 12, 0))


def test_T3_fractions_and_many_days() -> None:
    assert CAL.add_working_hours(sh(2026, 3, 4, 17, 45), 0.5) == sh(2026, 3, 5, 9, 15)
    assert CAL.add_working_hours(sh(2026, 3, 4, 9, 0), 9.5) == sh(2026, 3, 5, 9, 30)
    assert CAL.add_working_hours(sh(2026, 3, 4, 9, 0), 0) == sh(2026, 3, 4, 9, 0)
    # 45 working hours = 5 working days: Wed 09:00 -> Tue 18:00 (not Wednesday 09:00).
    assert CAL.add_working_hours(sh(2026, 3, 4, 9, 0), 45) == sh(2026, 3, 10, 18, 0)


def test_T3_make_up_saturday_hours_count() -> None:
    assert CAL.add_working_hours(sh(2026, 2, 13, 16, 0), 4) == sh(2026, 2, 14, 11, 0)


def test_T3_configured_working_hours() -> None:
    calendar = cal(2026, day_start=time(8, 30), day_end=time(17, 30))
    assert calendar.add_working_hours(sh(2026, 3, 4, 16, 0), 4) == sh(2026, 3, 5, 11, 0)  # 1.5 h + 2.5 h


# ---- plain calendar days -------------------------------------------------------------------------
def test_calendar_days_ignore_working_time_and_holidays() -> None:
    assert CAL.add_days(sh(2026, 9, 30, 10, 0), 7) == sh(2026, 10, 7, 10, 0)
    assert CAL.add_days(sh(2026, 3, 7, 20, 0), 7) == sh(2026, 3, 14, 20, 0)  # no clock start shift
    assert CAL.add_days(sh(2026, 3, 7, 20, 0), 0) == sh(2026, 3, 7, 20, 0)
    assert CAL.add_days(sh(2026, 3, 7, 20, 0), 1).tzinfo is UTC


# ---- demo time --------------------------------------------------------------------------------------
def test_demo_time_compresses_every_day_into_s_seconds() -> None:
    demo = cal(2026, demo_seconds_per_working_day=60)
    saturday_night = sh(2026, 10, 3, 20, 0)  # a holiday, outside working time
    assert demo.is_working_day(date(2026, 10, 3))
    assert demo.clock_start(saturday_night) == saturday_night
    assert demo.add_working_days(saturday_night, 3) == saturday_night + timedelta(seconds=180)
    assert demo.add_working_hours(saturday_night, 4) == saturday_night + timedelta(seconds=4 * 60 / 9)
    assert demo.add_working_hours(saturday_night, 9) == saturday_night + timedelta(seconds=60)
    assert demo.add_days(saturday_night, 7) == saturday_night + timedelta(seconds=420)
    assert demo.add_working_days(saturday_night, 1).tzinfo is UTC
    assert demo.fallback_years(sh(2026, 1, 1), sh(2030, 1, 1)) == []  # no holiday data is used


def test_demo_time_hours_follow_the_configured_working_day() -> None:
    demo = cal(demo_seconds_per_working_day=120, day_start=time(8, 0), day_end=time(20, 0))
    m = sh(2026, 3, 4, 12, 0)
    assert demo.add_working_hours(m, 3) == m + timedelta(seconds=30)


def test_demo_time_must_be_positive() -> None:
    with pytest.raises(ValueError):
        snapshot(2026, demo_seconds_per_working_day=0)


# ---- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda c: c.clock_start(datetime(2026, 3, 4, 10, 0)),
    lambda c: c.add_working_days(datetime(2026, 3, 4, 10, 0), 1),
    lambda c: c.add_working_hours(datetime(2026, 3, 4, 10, 0), 1),
    lambda c: c.add_days(datetime(2026, 3, 4, 10, 0), 1),
    lambda c: c.fallback_years(datetime(2026, 3, 4), sh(2026, 3, 4)),
])
@pytest.mark.parametrize("demo", [None, 60])
def test_T2_T3_naive_datetimes_are_refused(call, demo) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(cal(2026, demo_seconds_per_working_day=demo))


@pytest.mark.parametrize("demo", [None, 60])
def test_T2_T3_negative_amounts_are_refused(demo) -> None:
    calendar = cal(2026, demo_seconds_per_working_day=demo)
    m = sh(2026, 3, 4, 10, 0)
    for call in (lambda: calendar.add_working_days(m, -1), lambda: calendar.add_days(m, -1),
                 lambda: calendar.add_working_hours(m, -0.5), lambda: calendar.add_working_hours(m, math.nan)):
        with pytest.raises(ValueError):
            call()


def test_T3_working_day_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        cal(2026, day_start=time(18, 0), day_end=time(9, 0))


def test_T1_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        cal(2026, timezone="Mars/Olympus_Mons")


def test_T1_bad_data_fails_loudly_instead_of_hanging() -> None:
    """A (wrong) year with every day off must not loop forever inside a workflow."""
    first = date(2030, 1, 1)
    everything = {first + timedelta(days=i): "x" for i in range(365)}
    calendar = WorkCalendar(CalendarSnapshot(years={2030: YearData(year=2030, holidays=everything, workdays={}),
                                                    2031: YearData(year=2031, holidays={
                                                        date(2031, 1, 1) + timedelta(days=i): "x"
                                                        for i in range(365)}, workdays={})}))
    with pytest.raises(ValueError, match="no working day"):
        calendar.add_working_days(sh(2030, 1, 1, 10, 0), 1)


# ---- T5: pure function of the snapshot -----------------------------------------------------------
def test_T5_a_computed_deadline_does_not_move_when_the_data_changes() -> None:
    """The calendar is a pure function of its snapshot: a deadline computed before an admin uploads
    2027 stays what it was; only a calendar built from the new snapshot sees the new data."""
    snap = snapshot(2026)
    before = WorkCalendar(snap)
    due = before.add_working_days(sh(2027, 1, 29, 10, 0), 1)  # Fri -> Mon Feb 1 (fallback)
    assert due == sh(2027, 2, 1, 10, 0)

    # The caller's snapshot object is changed afterwards (as if new data arrived): no effect.
    snap.years[2027] = YearData(year=2027, holidays={date(2027, 1, 1): "元旦"}, workdays={date(2027, 1, 30): "调休"})
    assert before.add_working_days(sh(2027, 1, 29, 10, 0), 1) == due
    assert not before.has_data(2027)

    after = WorkCalendar(snap)
    assert after.add_working_days(sh(2027, 1, 29, 10, 0), 1) == sh(2027, 1, 30, 10, 0)
    assert due == sh(2027, 2, 1, 10, 0)  # the value already set is untouched


def test_T5_a_day_edited_in_the_callers_snapshot_does_not_reach_a_built_calendar() -> None:
    """The calendar keeps frozen copies of the days, not the caller's dicts; calendars of equal data
    share them (a worker holds hundreds of cases, each with its calendar)."""
    snap = snapshot(2026)
    cal = WorkCalendar(snap)
    day = date(2026, 3, 4)  # an ordinary Wednesday
    assert cal.is_working_day(day)
    snap.years[2026].holidays[day] = "临时放假"
    assert cal.is_working_day(day)
    assert not WorkCalendar(snap).is_working_day(day)
    again = WorkCalendar(snapshot(2026))
    assert again._years[2026] is cal._years[2026]  # equal data, one lookup in memory


def test_T5_snapshot_survives_serialisation_unchanged() -> None:
    """Snapshots travel in workflow history as JSON: the calendar built from the copy computes the same."""
    snap = snapshot(2025, 2026, day_start=time(8, 30), day_end=time(17, 30))
    copy = CalendarSnapshot.model_validate_json(snap.model_dump_json())
    assert copy == snap
    a, b = WorkCalendar(snap), WorkCalendar(copy)
    m = sh(2026, 9, 30, 16, 0)
    assert a.add_working_days(m, 5) == b.add_working_days(m, 5)
    assert a.add_working_hours(m, 13) == b.add_working_hours(m, 13)
