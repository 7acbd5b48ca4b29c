"""The property register (房产台账): projects → buildings → units, each unit with its sold and occupied
flags, handover date and owner. Pure: reading an import file (XLSX or CSV) into checked records, and
how a building written by a person ("5栋", "5号楼", "５幢") is matched to the registered one.

An import is all or nothing: `parse_import` returns every error (row, column, reason) of the file, and
the caller writes nothing unless there are none. Rows are numbered as a spreadsheet shows them (the
heading is row 1).
"""

import re
import unicodedata
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from aftersales.actions import INVISIBLE
from aftersales.case import PHONE_PATTERN
from aftersales.exports import starts_like_a_formula

# Headings as staff write them (Chinese) or as the API documents them (English); order is free.
COLUMNS: dict[str, tuple[str, ...]] = {
    "project": ("项目", "project"),
    "building": ("楼栋", "building"),
    "unit": ("房号", "unit"),
    "sold": ("已售", "sold"),
    "occupied": ("已入住", "occupied"),
    "handover_date": ("交房日期", "handover_date"),
    "owner_name": ("业主姓名", "owner_name"),
    "owner_phone": ("业主电话", "owner_phone"),
    "company": ("公司", "company"),  # P5: the company a project new to the organisation belongs to (id or name)
}
HEADING = {field: names[0] for field, names in COLUMNS.items()}
REQUIRED = ("project", "building", "unit", "sold", "occupied")
TRUE = {"是", "y", "yes", "true", "1", "已售", "已入住"}
FALSE = {"否", "n", "no", "false", "0", "未售", "未入住", ""}
MAX_ROWS = 50_000
MAX_TEXT = {"project": 128, "building": 64, "unit": 64, "owner_name": 64, "company": 64}
_BUILDING_SUFFIX = re.compile(r"(号楼|号|栋|幢|座|楼|#)$")
_PHONE = re.compile(PHONE_PATTERN)
_CONTROL = re.compile(rf"[\x00-\x1f\x7f{INVISIBLE}]")  # controls, invisible and bidi formatting too


class ImportProblem(BaseModel):
    row: int
    column: str
    reason: str


class UnitRecord(BaseModel):
    project: str
    building: str
    unit: str
    sold: bool
    occupied: bool
    handover_date: date | None = None
    owner_name: str | None = None
    owner_phone: str | None = None
    company: str | None = None  # P5: as the file names it (id or name); None: the project's, or the importer's

    @property
    def key(self) -> tuple[str, str, str]:
        return unit_key(self.project, self.building, self.unit)


def normalize_building(text: str) -> str:
    """The building as the register compares it: full-width forms folded (NFKC), spaces dropped, and
    the usual suffixes removed, so "5栋", "5号楼", "５幢" and "5#" are one building."""
    folded = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    return _BUILDING_SUFFIX.sub("", folded) or folded


def normalize_text(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def unit_key(project: str, building: str, unit: str) -> tuple[str, str, str]:
    return normalize_text(project), normalize_building(building), normalize_text(unit)


# ---- reading a file ---------------------------------------------------------------------------------

def parse_import(table: list[list[Any]]) -> tuple[list[UnitRecord], list[ImportProblem]]:
    """Checks every row; returns the records and every problem found (an empty list: import them)."""
    problems: list[ImportProblem] = []
    rows = [r for r in table if any(_cell_text(c) for c in r)]
    if not rows:
        return [], [ImportProblem(row=1, column="", reason="the file is empty: the first row must hold the headings")]
    columns = _columns(rows[0], problems)
    if problems:
        return [], problems
    if len(rows) - 1 > MAX_ROWS:
        return [], [ImportProblem(row=MAX_ROWS + 2, column="", reason=f"at most {MAX_ROWS} units per file")]
    records: list[UnitRecord] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, row in enumerate(table[1:], start=2):
        if not any(_cell_text(c) for c in row):
            continue
        values = {field: (row[i] if i < len(row) else None) for field, i in columns.items()}
        record = _record(number, values, problems)
        if record is None:
            continue
        if record.key in seen:
            problems.append(ImportProblem(row=number, column=HEADING["unit"],
                                          reason=f"the same unit is already on row {seen[record.key]}"))
            continue
        seen[record.key] = number
        records.append(record)
    return records, problems


def _columns(heading: list[Any], problems: list[ImportProblem]) -> dict[str, int]:
    found: dict[str, int] = {}
    names = {name.lower(): field for field, aliases in COLUMNS.items() for name in aliases}
    for i, cell in enumerate(heading):
        text = _cell_text(cell).lower()
        if not text:
            continue
        field = names.get(text)
        if field is None:
            problems.append(ImportProblem(row=1, column=_cell_text(cell), reason="unknown heading; expected "
                                          + "、".join(HEADING.values())))
        elif field in found:
            problems.append(ImportProblem(row=1, column=_cell_text(cell), reason="heading appears twice"))
        else:
            found[field] = i
    for field in REQUIRED:
        if field not in found:
            problems.append(ImportProblem(row=1, column=HEADING[field], reason="required heading is missing"))
    return found


def _record(number: int, values: dict[str, Any], problems: list[ImportProblem]) -> UnitRecord | None:
    before = len(problems)

    def problem(field: str, reason: str) -> None:
        problems.append(ImportProblem(row=number, column=HEADING[field], reason=reason))

    out: dict[str, Any] = {}
    for field in ("project", "building", "unit", "owner_name", "company"):
        text = _cell_text(values.get(field))
        if _CONTROL.search(text):
            problem(field, "contains control characters")
        elif starts_like_a_formula(text):  # it would run as a formula in every export of the register's names
            problem(field, "以 =、+、-、@ 开头，表格软件会把它当作公式执行：请去掉开头的符号 (begins like a formula)")
        elif len(text) > MAX_TEXT[field]:
            problem(field, f"longer than {MAX_TEXT[field]} characters")
        elif not text and field in REQUIRED:
            problem(field, "must not be empty")
        out[field] = text or None
    for field in ("sold", "occupied"):
        text = _cell_text(values.get(field)).lower()
        if text in TRUE:
            out[field] = True
        elif text in FALSE and text:
            out[field] = False
        else:
            problem(field, "write 是 or 否")
    out["handover_date"] = _date(values.get("handover_date"), lambda reason: problem("handover_date", reason))
    phone = _cell_text(values.get("owner_phone"))
    if phone and not _PHONE.fullmatch(phone):
        problem("owner_phone", "not a mainland mobile (11 digits from 13–19) or a landline with area code")
    out["owner_phone"] = phone or None
    if out.get("occupied") and out.get("sold") is False:
        problem("occupied", "an unsold unit cannot be occupied")
    if len(problems) > before:
        return None
    return UnitRecord(**out)


def _date(value: Any, problem) -> date | None:
    if value is None or _cell_text(value) == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _cell_text(value).replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat(text)
    except ValueError:
        problem("not a date: write it as 2026-01-31")
        return None


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
