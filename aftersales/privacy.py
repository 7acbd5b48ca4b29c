"""Masking of personal data: no phone number in workflow ids, search attributes, logs or the read model."""

import re

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phone(phone: str) -> str:
    """'13812341234' -> '138****1234'; other numbers keep their first 3 and last 4 digits."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_mobile_numbers(text: str) -> str:
    """Masks every mainland mobile number found inside free text."""
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
