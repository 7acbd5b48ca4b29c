"""Masking of personal data (P3): the one place that knows what an owner's phone number looks like and
how it is shown masked (138****1234). Used for the read model (which holds no phone number), for the API's
answers to roles that may not see the full number, for messages (e-mail, webhooks) and for logs
(adapters.logging)."""

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

# A mainland mobile (11 digits from 13–19, optionally written 138-1234-1234 / 138 1234 1234) or a landline
# with its area code (0532-88886666, 053288886666), not inside a longer run of digits.
_MOBILE = r"1[3-9]\d[- ]?\d{4}[- ]?\d{4}"
_LANDLINE = r"0\d{2,3}-?\d{7,8}"
PHONE_IN_TEXT = re.compile(rf"(?<![\d-])(?:{_MOBILE}|{_LANDLINE})(?![\d-])")
_NON_DIGIT = re.compile(r"\D")


def mask_phone(phone: str) -> str:
    """'13812341234' -> '138****1234'. Any number of 7 or more digits keeps its first 3 and last 4
    digits, the ones between become '*'; a string with fewer than 7 digits is returned unchanged."""
    digits = _NON_DIGIT.sub("", phone)
    if len(digits) < 7 or "*" in phone:  # too short to be a number, or masked already
        return phone
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_phone_numbers_in(text: str) -> str:
    """Masks every phone number (mobile or landline with area code) typed inside free text."""
    if len(text) < _SHORTEST or PHONE_IN_TEXT.search(text) is None:  # most text: one scan, no substitution
        return text
    return PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)


_SHORTEST = 10  # the shortest number PHONE_IN_TEXT finds (a landline 0xx-xxxxxxx)


def contains_phone_number(text: str) -> bool:
    return PHONE_IN_TEXT.search(text) is not None


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
