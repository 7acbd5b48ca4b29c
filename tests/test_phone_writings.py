"""P3: a phone number in any way of writing it is masked wherever a case's text goes (the API's answers,
the workbench, exports, the codec endpoint, the read model, logs): one function, aftersales.privacy,
fuzzed here with generated numbers in every writing — country code (+86, 0086, 86, (+86), full-width
plus), groups split by dashes, dots, underscores, slashes, brackets and spaces of any kind (no-break,
ideographic, thin, zero-width), digits in any script (full-width, Arabic-Indic, Devanagari ...)."""

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from aftersales.roles import Role
from aftersales.privacy import contains_phone_number, mask_personal, mask_phone, mask_phone_numbers_in

# the zero of some scripts' digits: each digit d of the script is chr(zero + d)
DIGIT_ZEROS = [ord("0"), 0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1040, 0x1D7CE]
SEPARATORS = [" ", "-", ".", "_", "/", "\u00a0", "\u3000", "\u2009", "\u202f", "\u2007", "\u200b", "\u2060",
              "\ufeff", "－", "．", "—", "–", "·", "・", "\t", " - ", "\u00a0\u00a0"]
PREFIXES = ["", "+86", "+86-", "+86 ", "+86\u00a0", "0086", "0086-", "86", "86 ", "(+86)", "（+86）", "＋86", "+86 (0)"[:4]]


@st.composite
def numbers(draw) -> str:
    """A mainland mobile (11 digits) or a landline with its area code, ASCII digits."""
    if draw(st.booleans()):
        return "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))
    area = draw(st.sampled_from(["010", "020", "021", "025"] + [f"0{a}" for a in ("532", "591", "755", "371", "898")]))
    local = draw(st.sampled_from("23456789")) + draw(st.text("0123456789", min_size=6 if len(area) == 4 else 7,
                                                             max_size=7))
    return area + local


@st.composite
def writings(draw, number: str) -> str:
    """The number as a person may type it: a country code or not, split into groups at any places, the
    groups joined by any separator, the first group perhaps in brackets, the digits in any script."""
    zero = draw(st.sampled_from(DIGIT_ZEROS))
    digits = "".join(chr(zero + int(d)) for d in number)
    mobile = number[0] == "1"
    prefix = draw(st.sampled_from(PREFIXES if mobile else ["", "+86 ", "0086-"]))
    if prefix and not mobile:
        digits = digits[1:]  # +86 532 8888 6666: the trunk 0 dropped after the country code
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=4)))
    groups = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)])]
    seps = [draw(st.sampled_from(SEPARATORS)) for _ in groups[1:]]
    if draw(st.booleans()) and len(groups) > 1:
        groups[0] = draw(st.sampled_from(["({})", "（{}）"])).format(groups[0])
        seps[0] = draw(st.sampled_from(["", " "]))
    written = groups[0] + "".join(s + g for s, g in zip(seps, groups[1:]))
    return prefix + written


# text around a number: anything but digits (a number inside a longer run of digits is not a number)
around = st.text(st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="+＋"), max_size=12)


def digits_of(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())


@settings(max_examples=600, deadline=None)
@given(data=st.data(), number=numbers(), before=around, after=around)
@example(data=None, number="13722224444", before="电梯故障，联系", after="")  # the ways the review found
def test_P3_a_number_in_any_writing_is_masked_in_free_text(data, number, before, after) -> None:
    written = data.draw(writings(number)) if data is not None else "+86-13722224444"
    text = before + written + after
    masked = mask_phone_numbers_in(text)
    national = number
    # what is left of the number: its first 3 and last 4 digits, never the whole of it
    assert national not in digits_of(masked), (text, masked)
    assert masked.startswith(before.rstrip()[: len(before) - 3]) and masked.endswith(after[3:]), (text, masked)
    assert f"{national[:3]}{'*' * (len(national) - 7)}{national[-4:]}" in masked, (text, masked)
    assert contains_phone_number(text)
    # masking again changes nothing; the masked text is no number any more
    assert mask_phone_numbers_in(masked) == masked and not contains_phone_number(masked)
    # everywhere the one function is used: a case view's free text and its phone field
    view = mask_personal({"description": text, "timeline": [{"text": text}], "customer": {"phone": written}})
    for shown in (view["description"], view["timeline"][0]["text"], view["customer"]["phone"]):
        assert national not in digits_of(shown), view


@settings(max_examples=200, deadline=None)
@given(data=st.data(), number=numbers())
def test_P3_a_phone_field_in_any_writing_is_masked(data, number) -> None:
    written = data.draw(writings(number))
    assert mask_phone(written) == f"{number[:3]}{'*' * (len(number) - 7)}{number[-4:]}", written


def test_P3_the_fourteen_writings_of_the_review() -> None:
    for text in ["+86-13711113333", "+8613711113333", "8613711113333", "137.1111.3333", "137_1111_3333",
                 "(137)11113333", "１３７１１１１３３３３", "137\u00a01111\u00a03333", "137 1111 3333", "137-1111-3333",
                 "13711113333", "0086 137 1111 3333", "（137）1111－3333", "137\u200b1111\u200b3333"]:
        masked = mask_phone_numbers_in(f"联系{text}。")
        assert masked == "联系137****3333。", (text, masked)


def test_P3_what_is_not_a_phone_number_is_left_alone() -> None:
    for text in ["TS-2026-000123", "WX-2026-000001", "2026-11-23T10:00:00+08:00", "2026-11-23 13:00",
                 "id 9913812341234", "138123412345", "¥1,234.50", "1381234123", "订单 20261123 已完成",
                 "138****1234", "0.50 元", "HF-2026-000001"]:
        assert mask_phone_numbers_in(text) == text, text


# ---- the read model keeps no number in clear, however it was written (P3) ------------------------------

WRITTEN = ["+86-13722224444", "+86 137 2222 4444", "137.2222.4444", "（137）2222－4444", "１３７２２２２４４４４",
           "137\u00a02222\u00a04444"]


async def test_P3_the_projection_stores_timeline_text_and_row_text_masked(sessionmaker, settings) -> None:
    from datetime import timezone

    from temporalio.testing import ActivityEnvironment

    from activities.cases import CaseActivities
    from aftersales import actions as A
    from aftersales.case import Ctx, Customer
    from aftersales.complaint import ComplaintCase
    from aftersales.complaint.state import Channel, ComplaintIntake
    from adapters.db.models import Case, TimelineEntry
    from aftersales.views import case_row
    from sqlalchemy import select
    from tests.rules.driver import CAL, LADDER, MONDAY_10, who
    from contracts.case import CaseProjection

    ctx = Ctx(now=MONDAY_10.astimezone(timezone.utc), cal=CAL, ladder=LADDER)
    intake = ComplaintIntake(customer=Customer(name="王女士 +86 137 2222 4444", phone="13812341234", project="融侨城",
                                               building="5栋", unit="1203"), channel=Channel.phone,
                             category="电梯 联系137.2222.4444", description="电梯故障，联系" + "；".join(WRITTEN))
    case, _ = ComplaintCase.open("TS-2026-000777", intake, who(Role.hotline), ctx)
    for text in WRITTEN:
        case.apply(A.ProgressNote(action="progress_note", note=f"业主另留电话 {text}"), who(Role.cs_staff), ctx)
    s = case.state
    p = CaseProjection(case_no=s.case_no, seq=s.seq, row=case_row(s, MONDAY_10, LADDER), timeline_start=0,
                       timeline=s.timeline)
    await ActivityEnvironment().run(CaseActivities(sessionmaker, settings).project_case,
                                    CaseProjection.model_validate_json(p.model_dump_json()))
    async with sessionmaker() as session:
        row = await session.get(Case, s.case_no)
        texts = list(await session.scalars(select(TimelineEntry.text).where(TimelineEntry.case_no == s.case_no)))
    assert len(texts) > len(WRITTEN)
    for text in texts + [row.customer_name, row.category]:
        assert "13722224444" not in digits_of(text), text
    assert sum("137****4444" in t for t in texts) >= len(WRITTEN)


async def test_P3_a_campaign_visit_form_is_stored_masked(sessionmaker) -> None:
    from datetime import datetime, timezone

    from sqlalchemy import select
    from temporalio.testing import ActivityEnvironment

    from activities.campaigns import CampaignActivities
    from adapters.db.models import CampaignVisit
    from contracts.campaign import VisitForm

    form = {"satisfaction": 5, "points": [{"text": f"请回电 {w}", "phone": w} for w in WRITTEN], "note": "+8613722224444"}
    await ActivityEnvironment().run(CampaignActivities(sessionmaker).record_campaign_visit, VisitForm(
        campaign_id="HF-2026-000009", visit_no=1, unit_id=1, by="cs_staff", at=datetime.now(timezone.utc), form=form))
    async with sessionmaker() as session:
        stored = await session.scalar(select(CampaignVisit.form).where(CampaignVisit.campaign_id == "HF-2026-000009"))
    assert "13722224444" not in digits_of(str(stored).replace("'", "").replace(",", "")), stored
    assert stored["points"][0]["text"] == "请回电 137****4444" and stored["note"] == "137****4444"

