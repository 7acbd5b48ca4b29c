"""Holiday data administration from the command line (T4), against the configured read model:

    python -m adapters.db.calendar_admin import FILE.json   # replace one year (see docs/calendar-2027.example.json)
    python -m adapters.db.calendar_admin status             # years with data; this and next year on fallback?
    python -m adapters.db.calendar_admin seed               # load the chinese_calendar package's years (never overwrites)
    python -m adapters.db.calendar_admin fallback-check     # per year 2015–: days the T4 fallback differs from the data

Replacing a year does not move deadlines already set on cases (T5).
"""

import argparse
import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError

from aftersales.calendar import YearData, fallback_differences
from adapters.config import get_settings
from adapters.db import calendar_store
from adapters.db.session import make_engine, make_sessionmaker


def read_year_file(path: Path) -> YearData:
    """Reads and validates an admin calendar file; ValueError names the file and the problem."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read it ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    try:
        return calendar_store.year_data_from_json(obj)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _ranges(years: list[int]) -> str:
    """[2004, 2005, 2006, 2026] -> '2004–2006, 2026'."""
    parts: list[str] = []
    for y in years:
        if parts and y == int(parts[-1].split("–")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('–')[0]}–{y}"
        else:
            parts.append(str(y))
    return ", ".join(parts) or "none"


async def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    data = read_year_file(Path(args.file)) if args.command == "import" else None  # validate before the DB
    if data is not None and args.source:
        data.source = args.source
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            if data is not None:
                await calendar_store.put_year(session, data)
                print(f"{data.year}: {len(data.holidays)} holidays and {len(data.workdays)} make-up working days "
                      f"stored (source {data.source!r}); deadlines already set on cases do not move (T5)")
            elif args.command == "seed":
                inserted = await calendar_store.seed_from_chinese_calendar(session)
                print(f"inserted from chinese_calendar: {_ranges(inserted)}")
            else:
                years = await calendar_store.years_with_data(session)
                this_year = datetime.now(timezone.utc).astimezone(ZoneInfo(settings.timezone)).year
                print(f"years with data: {_ranges(years)}")
                for y in (this_year, this_year + 1):
                    state = "data" if y in years else ("FALLBACK (Monday–Friday minus the statutory holidays, "
                                                       "make-up days unknown, T4)")
                    print(f"{y}: {state}")
    except DBAPIError as e:
        raise ValueError(f"database {settings.database_url}: {e.orig} (is it migrated? `make migrate`)") from None
    finally:
        await engine.dispose()
    return 0


def fallback_check(first_year: int = 2015) -> list[str]:
    """T4: per year of the chinese_calendar package from `first_year`, how many days the statutory
    fallback gets wrong: make-up working days it cannot know, and weekdays the State Council gave off."""
    lines = []
    for data in calendar_store.package_years():
        if data.year < first_year:
            continue
        diff = fallback_differences(data)
        make_up = sum(1 for works in diff.values() if works)
        lines.append(f"{data.year}: {len(diff):2d} days differ from the fallback ({make_up} make-up working days, "
                     f"{len(diff) - make_up} weekdays off by the State Council's arrangement)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters.db.calendar_admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import", help="replace one year's holidays and make-up working days from a JSON file")
    imp.add_argument("file", help='{"year": 2027, "holidays": {"2027-01-01": "元旦"}, "workdays": {...}}')
    imp.add_argument("--source", help="recorded as the year's source (default: the file's 'source' or 'admin')")
    commands.add_parser("status", help="years with data, and whether this and next year run on the fallback")
    commands.add_parser("seed", help="load every year of the chinese_calendar package not present yet")
    commands.add_parser("fallback-check", help="per year, the days the T4 fallback differs from the real data")
    args = parser.parse_args(argv)
    if args.command == "fallback-check":
        print("\n".join(fallback_check()))
        return 0
    try:
        return asyncio.run(_run(args))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
