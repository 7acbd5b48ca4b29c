"""Spreadsheets in and out: the property register read from .xlsx / .csv (P-register import), and reports
written as CSV (UTF-8 with BOM, for Excel) and as .xlsx workbooks (K1–K3). The rules decide the tables'
content (`aftersales.properties.parse_import`, `aftersales.reports.tables`); this module only reads and
writes the file formats."""

import csv
import io
import zipfile
from collections.abc import Iterable
from typing import Any

import xlsxwriter

from aftersales import reports
from aftersales.properties import MAX_ROWS, ImportProblem, UnitRecord, parse_import
from aftersales.exports import safe_text, starts_like_a_formula
from aftersales.privacy import mask_phone_numbers_in


BLANK_ROWS = 1_000          # empty rows tolerated between the units (a row read costs its time, empty or not)
MAX_COLUMNS = 64            # columns read of each row (the headings are 8; the rest is refused as unknown)
MAX_UNPACKED = 64 * 1024 * 1024  # bytes an .xlsx may unpack to (its sheets, strings and styles together)


class TooLarge(ValueError):
    """A file past a limit, found while it was read (the API answers 413 or 422 with the reason)."""


def read_table(filename: str, content: bytes) -> list[list[Any]]:
    """The cells of the first sheet of an .xlsx, or of a UTF-8 .csv (with or without BOM). ValueError
    for another kind of file or one that cannot be read.

    Limits are checked while the file is read, never after it was read whole: an .xlsx whose parts would
    unpack to more than MAX_UNPACKED bytes is refused from its zip directory before any is unpacked (the
    sizes declared there are the most zipfile unpacks), and reading stops at the first row past MAX_ROWS
    + 1 (a 900 KB workbook of 650,000 rows took two minutes to read whole). Slow either way: the API runs
    this in a process of its own (api/properties.py)."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as z:
                unpacked = sum(i.file_size for i in z.infolist())
        except (zipfile.BadZipFile, ValueError, OSError):
            raise ValueError("the file is not a readable .xlsx workbook (not a zip archive)") from None
        if unpacked > MAX_UNPACKED:
            raise TooLarge(f"the workbook unpacks to {unpacked // (1024 * 1024)} MiB, more than the "
                           f"{MAX_UNPACKED // (1024 * 1024)} MiB a register of {MAX_ROWS} units needs")
        # imported here, for the few requests that read a workbook: it took an eighth of the worker's and the
        # API's start (every process imports this module for the exports)
        from openpyxl import load_workbook
        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises many kinds for a broken file
            raise ValueError(f"the file is not a readable .xlsx workbook ({type(e).__name__})") from None
        try:
            return _bounded(book.worksheets[0].iter_rows(max_col=MAX_COLUMNS, values_only=True))
        except TooLarge:
            raise
        except Exception as e:  # a sheet broken inside
            raise ValueError(f"the file is not a readable .xlsx workbook ({type(e).__name__})") from None
        finally:
            book.close()
    if name.endswith(".csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("the .csv file is not UTF-8 (save it as “CSV UTF-8”)") from None
        return _bounded(row[:MAX_COLUMNS] for row in csv.reader(io.StringIO(text)))
    raise ValueError("only .xlsx and .csv files can be imported")


def _bounded(rows) -> list[list[Any]]:
    """The rows, refused (TooLarge) at the first one past the heading, MAX_ROWS units and BLANK_ROWS."""
    table = []
    for row in rows:
        table.append(list(row))
        if len(table) > MAX_ROWS + 1 + BLANK_ROWS:
            raise TooLarge(f"more than {MAX_ROWS} rows: at most {MAX_ROWS} units per file")
    return table


def read_and_check(filename: str, content: bytes) -> tuple[list[UnitRecord], list[ImportProblem]]:
    """read_table then the register's rules (aftersales.properties.parse_import): what the API runs in
    its import process."""
    return parse_import(read_table(filename, content))


# ---- writing: every cell through aftersales.exports (a formula neutralised, phone numbers masked, P3) ----

def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return safe_text(value) if isinstance(value, str) else value


def to_csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """Rows as one CSV, every cell made safe, UTF-8 with BOM so Excel opens the Chinese right."""
    buf = io.StringIO()
    csv.writer(buf).writerows([[csv_cell(v) for v in row] for row in rows])
    return "\ufeff" + buf.getvalue()


# text is never turned into a formula, a link or a number by guessing
WORKBOOK_OPTIONS = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                    "strings_to_numbers": False}


class SafeSheet:
    """Writes text cells of an xlsxwriter sheet as strings: masked (P3), and with the quote-prefix style
    when they begin like a formula (Excel keeps them text even when the cell is edited)."""

    def __init__(self, book, sheet) -> None:
        self.book, self.sheet = book, sheet
        self._quoted = None

    def _quote(self):
        if self._quoted is None:
            self._quoted = self.book.add_format({"quote_prefix": True})
        return self._quoted

    def write_text(self, row: int, col: int, text: str, fmt=None) -> None:
        text = mask_phone_numbers_in(text)
        self.sheet.write_string(row, col, text, self._quote() if starts_like_a_formula(text) else fmt)

    def write_row(self, row: int, col: int, values: Iterable[Any], fmt=None) -> None:
        for c, value in enumerate(values, start=col):
            if isinstance(value, str):
                self.write_text(row, c, value, fmt)
            elif value is not None:
                self.sheet.write(row, c, value, fmt)


def to_csv(report: dict[str, Any]) -> str:
    """One CSV with each table after its title line; UTF-8 with BOM so Excel opens the Chinese right."""
    rows: list[list[Any]] = [[report["title"], report["period"], f"生成于 {report['generated_at_local']}"]]
    for title, table in reports.tables(report).items():
        rows += [[], [title], *table]
    return to_csv_text(rows)


def to_xlsx(report: dict[str, Any]) -> bytes:
    """One sheet per table, Chinese headings, number and percent formats, frozen header rows, and a
    native column chart of the received cases by department. Text is always a string cell, never a formula."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, WORKBOOK_OPTIONS)
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    pct = book.add_format({"num_format": "0.0%"})
    num = book.add_format({"num_format": "#,##0"})
    dec = book.add_format({"num_format": "0.00"})
    percent_rows = {"处理率", "满意率", "零修及时率", "合格率", "返修率", "预约守时率", "维修回访率"}
    for title, rows in reports.tables(report).items():
        sheet = book.add_worksheet(title)
        safe = SafeSheet(book, sheet)
        safe.write_row(0, 0, rows[0], head)
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(rows[1:], start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, float) and (row[0] in percent_rows or rows[0][c] in ("按时率", "目标", "覆盖率")):
                    sheet.write_number(r, c, value, pct)
                elif isinstance(value, float):
                    sheet.write_number(r, c, value, dec)
                elif isinstance(value, int) and not isinstance(value, bool):
                    sheet.write_number(r, c, value, num)
                else:
                    safe.write_text(r, c, str(value))
        sheet.set_column(0, 0, 22)
        sheet.set_column(1, len(rows[0]) - 1, 14)
        if title == "汇总":
            sheet.set_column(3, 3, 60)
        if title == "按部门" and len(rows) > 1:
            chart = book.add_chart({"type": "column"})
            chart.add_series({"name": "受理数", "categories": [title, 1, 0, len(rows) - 1, 0],
                              "values": [title, 1, 1, len(rows) - 1, 1]})
            chart.add_series({"name": "结案数", "categories": [title, 1, 0, len(rows) - 1, 0],
                              "values": [title, 1, 2, len(rows) - 1, 2]})
            chart.set_title({"name": f"{report['title']} {report['period']}：按责任部门"})
            sheet.insert_chart(1, 4, chart)
    book.close()
    return out.getvalue()
