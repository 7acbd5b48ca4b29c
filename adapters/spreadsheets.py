"""Spreadsheets in and out: the property register read from .xlsx / .csv (P-register import), and reports
written as CSV (UTF-8 with BOM, for Excel) and as .xlsx workbooks (K1–K3). The rules decide the tables'
content (`aftersales.properties.parse_import`, `aftersales.reports.tables`); this module only reads and
writes the file formats."""

import csv
import io
from typing import Any

import xlsxwriter
from openpyxl import load_workbook

from aftersales import reports


def read_table(filename: str, content: bytes) -> list[list[Any]]:
    """The cells of the first sheet of an .xlsx, or of a UTF-8 .csv (with or without BOM). ValueError
    for another kind of file or one that cannot be read."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises many kinds for a broken file
            raise ValueError(f"the file is not a readable .xlsx workbook ({type(e).__name__})") from None
        try:
            sheet = book.worksheets[0]
            return [list(row) for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    if name.endswith(".csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("the .csv file is not UTF-8 (save it as “CSV UTF-8”)") from None
        return [row for row in csv.reader(io.StringIO(text))]
    raise ValueError("only .xlsx and .csv files can be imported")


def to_csv(report: dict[str, Any]) -> str:
    """One CSV with each table after its title line; UTF-8 with BOM so Excel opens the Chinese right."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([report["title"], report["period"], f"生成于 {report['generated_at_local']}"])
    for title, rows in reports.tables(report).items():
        writer.writerow([])
        writer.writerow([title])
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return "\ufeff" + buf.getvalue()


def to_xlsx(report: dict[str, Any]) -> bytes:
    """One sheet per table, Chinese headings, number and percent formats, frozen header rows, and a
    native column chart of the received cases by department."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    pct = book.add_format({"num_format": "0.0%"})
    num = book.add_format({"num_format": "#,##0"})
    dec = book.add_format({"num_format": "0.00"})
    percent_rows = {"处理率", "满意率", "零修及时率", "合格率", "返修率", "预约守时率", "维修回访率"}
    for title, rows in reports.tables(report).items():
        sheet = book.add_worksheet(title)
        sheet.write_row(0, 0, rows[0], head)
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(rows[1:], start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, float) and (row[0] in percent_rows or rows[0][c] in ("按时率", "目标", "覆盖率")):
                    sheet.write_number(r, c, value, pct)
                elif isinstance(value, float):
                    sheet.write_number(r, c, value, dec)
                elif isinstance(value, int):
                    sheet.write_number(r, c, value, num)
                else:
                    sheet.write(r, c, value)
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
