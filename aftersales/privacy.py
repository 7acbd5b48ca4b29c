"""Masking of personal data (P3): the one place that knows what an owner's phone number looks like and
how it is shown masked (138****1234). Used for the read model (which holds no phone number), for the API's
answers to roles that may not see the full number, for exports, messages (e-mail, webhooks), the codec
endpoint and logs (adapters.logging).

P3 asks for every way of writing a number: with +86 / 0086 / 86 in front, groups split by dashes, dots,
underscores, slashes, brackets or spaces of any kind (no-break, ideographic, zero-width), full-width or
any other script's digits. The text is first folded character for character (each digit to its ASCII
digit, each separator to one ASCII stand-in), so the shapes below are written once over ASCII and every
match maps back to the same span of the original text."""

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# Characters that may stand between the digits of one number, folded to " " (spaces of any kind, the
# invisible ones too), "-" (dashes, dots, slashes, underscores, middle dots), "(" and ")" (brackets of
# any width) and "+" (full-width plus) before the shapes are matched.
_SPACE_CHARS = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u200c\u200d" \
               "\u2028\u2029\u202f\u205f\u2060\u3000\ufeff\t\r\n\x0b\x0c"
_DASH_CHARS = "-_./\\\u00b7\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2027\u30fb\ufe58\ufe63\uff0d\uff0e\uff0f" \
              "\uff3f\uff65\u30fc\uff5e~"
_OPEN_CHARS = "(（[［【〔"
_CLOSE_CHARS = ")）]］】〕"


class _Fold(dict):
    """str.translate table: any decimal digit (full-width ０-９, Arabic-Indic, ...) to its ASCII digit,
    the separators above to their stand-ins, every other character to itself; one character to one,
    so positions in the folded text are positions in the original. Filled as characters are met."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch.isdecimal():
            folded = str(unicodedata.decimal(ch))
        elif ch in _SPACE_CHARS or unicodedata.category(ch) == "Zs":
            folded = " "
        elif ch in _DASH_CHARS:
            folded = "-"
        elif ch in _OPEN_CHARS:
            folded = "("
        elif ch in _CLOSE_CHARS:
            folded = ")"
        elif ch == "\uff0b":
            folded = "+"
        else:
            folded = ch
        self[code] = folded
        return folded


_FOLD = _Fold()
_GAP = r"[ \-()]{0,3}"  # between two digits of one number: up to three separators
_PREFIX = rf"(?:\(?(?:\+|00)?{_GAP}8{_GAP}6\)?{_GAP})"  # +86, 0086, 86, (+86), +86- ...


def _digits(first: str, count: int) -> str:
    """`first` then `count` more digits, any gap between two of them."""
    return first + rf"(?:{_GAP}[0-9]){{{count}}}"


# A mainland mobile: 1, 3–9, then 9 digits (11 in all), with or without the country code. A landline with
# its area code: 0 and 9–11 more digits (010-62345678, 0532-88886666, 0755-8888123), or the same after the
# country code without its 0 (+86 532 8888 6666). Never inside a longer run of digits.
_MOBILE = rf"{_PREFIX}?\(?1{_GAP}[3-9](?:{_GAP}[0-9]){{9}}"
_LANDLINE = rf"\(?0{_GAP}[1-9](?:{_GAP}[0-9]){{8,10}}|(?:\+|00){_GAP}8{_GAP}6\)?{_GAP}\(?[1-9](?:{_GAP}[0-9]){{8,10}}"
PHONE_IN_TEXT = re.compile(rf"(?<![0-9])(?:{_MOBILE}|{_LANDLINE})(?![0-9])")
_ANY_DIGIT = re.compile(r"\d")
_NON_DIGIT = re.compile(r"[^0-9]")
_SHORTEST = 10  # the fewest characters a number PHONE_IN_TEXT finds can take (a landline 0xx + 7 digits)


def _ascii_digits(text: str) -> str:
    return _NON_DIGIT.sub("", text.translate(_FOLD))


def mask_phone(phone: str) -> str:
    """'13812341234' -> '138****1234'. Any number of 7 or more digits keeps its first 3 and last 4
    digits, the ones between become '*'; a string with fewer than 7 digits is returned unchanged. The
    digits may be written in any script (full-width ones folded to ASCII); a country code (+86, 0086)
    in front of a mobile is left out."""
    if "*" in phone:  # masked already
        return phone
    digits = _ascii_digits(phone)
    if len(digits) < 7:  # too short to be a number
        return phone
    return _masked_digits(digits)


def _masked_digits(digits: str) -> str:
    digits = _national(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def _national(digits: str) -> str:
    """The number without its country code: 0086/86 before a mobile; before a landline the trunk 0 put back."""
    for code in ("0086", "86"):
        rest = digits[len(code):]
        if digits.startswith(code) and len(rest) >= 9:
            if len(rest) == 11 and rest[0] == "1" and rest[1] in "3456789":
                return rest
            if rest[0] != "0" and 9 <= len(rest) <= 11:
                return "0" + rest
    return digits


def _phone_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) of every phone number in the text. The shapes are tried only inside runs of
    digits and separators (a plain character class, fast): most strings of a case view are times and
    short notes, and this runs on every answer of the API."""
    if len(text) < _SHORTEST or _ANY_DIGIT.search(text) is None:  # most text: one scan, no substitution
        return []
    folded = text.translate(_FOLD)
    spans = []
    for run in _RUN.finditer(folded):
        if len(_NON_DIGIT.sub("", run.group(0))) < 10:  # fewer digits than any number has (2026-11-23)
            continue
        for m in PHONE_IN_TEXT.finditer(run.group(0)):
            spans.append((run.start() + m.start(), run.start() + m.end(), _NON_DIGIT.sub("", m.group(0))))
    return spans


# a maximal run of digits and separators, at least as long as the shortest number
_RUN = re.compile(r"[0-9+(][0-9 \-()+]{%d,}[0-9]" % (_SHORTEST - 2))


def mask_phone_numbers_in(text: str) -> str:
    """Masks every phone number (mobile or landline with area code), in any of the ways of writing it,
    typed inside free text."""
    spans = _phone_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end, digits in spans:
        out.append(text[last:start])
        out.append(_masked_digits(digits))
        last = end
    out.append(text[last:])
    return "".join(out)


def contains_phone_number(text: str) -> bool:
    return bool(_phone_spans(text))


def mask_personal(value: Any) -> Any:
    """A copy of a JSON-like value (a case view, a timeline) with every phone number masked: the
    customer's phone field and any number typed into free text (descriptions, notes, timeline).
    Dispatches on the exact JSON types first, strings and scalars without a call of their own: a case
    view is hundreds of short strings, and this runs on every answer of the API."""
    kind = type(value)
    if kind is str:
        return mask_phone_numbers_in(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        out = {k: _mask_item(v) for k, v in value.items()}
        if isinstance(value.get("phone"), str):
            out["phone"] = mask_phone(value["phone"])
        return out
    if kind is list:
        return [_mask_item(v) for v in value]
    if isinstance(value, str):  # a str subclass (an enum's value)
        return mask_phone_numbers_in(value)
    return value


def _mask_item(v: Any) -> Any:
    kind = type(v)
    if kind is str:
        return mask_phone_numbers_in(v)
    return v if kind in _SCALARS else mask_personal(v)


_SCALARS = frozenset({int, float, bool, type(None)})


# the names this module had before (kept for callers)
mask_mobile_numbers = mask_phone_numbers_in


def phone_lookup_hash(phone: str, key: str) -> str:
    """The keyed hash (HMAC-SHA256) of a phone number, as the read model keeps it to look a case up by
    the owner's phone: the same number written with spaces or dashes hashes alike; without
    the key, the hash tells nothing (a table of every mobile number cannot be built)."""
    digits = re.sub(r"\D", "", phone)
    return hmac.new(key.encode(), digits.encode(), hashlib.sha256).hexdigest()[:40]
