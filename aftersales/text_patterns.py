"""The text every request body is made of: what short and long text may hold (control, invisible and
bidirectional formatting characters refused). Its own module so that the models of `aftersales.provenance`
and `aftersales.actions` both read it (an owner's act carries its provenance)."""

# Text refuses control characters: NUL (which PostgreSQL cannot store), the other C0 and C1 controls
# and DEL; long text keeps newline and tab. Both need a character that is not blank. The pattern is
# also the OpenAPI schema, so a client (or schemathesis) knows what is accepted.
# Invisible and bidirectional formatting characters are refused too: a right-to-left override (U+202E)
# shows "王女士\u202e1203" with its end reversed, zero-width characters (U+200B-U+200D, U+2060) and the BOM
# (U+FEFF) make two names that look alike differ (or a number hide from the phone masking), soft hyphen,
# Arabic letter mark, Mongolian vowel separator, Hangul fillers, interlinear annotation marks likewise.
INVISIBLE = (r"\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff"
             r"\uffa0\ufff9-\ufffb")
_CONTROLS = r"\x00-\x1f\x7f-\x9f" + INVISIBLE
_CONTROLS_BUT_NEWLINE_TAB = r"\x00-\x08\x0b-\x1f\x7f-\x9f" + INVISIBLE
SHORT_TEXT_PATTERN = rf"^[^{_CONTROLS}]*[^\s{_CONTROLS}][^{_CONTROLS}]*$"
LONG_TEXT_PATTERN = rf"^[^{_CONTROLS_BUT_NEWLINE_TAB}]*[^\s{_CONTROLS}][^{_CONTROLS_BUT_NEWLINE_TAB}]*$"
