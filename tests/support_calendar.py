"""Working calendars for tests, built from the real `chinese_calendar` data (make-up days included)."""

from datetime import date

from chinese_calendar import constants

from aftersales.calendar import CalendarSnapshot, WorkCalendar, YearData


def year_data(year: int) -> YearData:
    def pick(table: dict) -> dict[date, str]:
        return {d: str(name) for d, name in table.items() if d.year == year}
    return YearData(year=year, holidays=pick(constants.holidays), workdays=pick(constants.workdays),
                    source="chinese_calendar")


def snapshot(*years: int, demo_seconds: int | None = None) -> CalendarSnapshot:
    covered = [y for y in years if date(y, 1, 1) <= max(constants.holidays)]
    return CalendarSnapshot(years={y: year_data(y) for y in covered}, demo_seconds_per_working_day=demo_seconds)


def calendar(*years: int) -> WorkCalendar:
    return WorkCalendar(snapshot(*years))

