"""RFC 7240's `Prefer: return=minimal` as the write endpoints read it."""

import pytest

from api.cases import prefers_minimal


@pytest.mark.parametrize("header, minimal", [
    ("return=minimal", True),
    ("Return=Minimal", True),
    ("respond-async, return=minimal", True),
    ("return = minimal; foo=bar", True),
    ("return=representation", False),
    ("handling=lenient", False),
    ("", False),
    (None, False),
    ("return=minimalist", False),
])
def test_prefer_return_minimal_is_read_among_other_preferences(header, minimal):
    assert prefers_minimal(header) is minimal
