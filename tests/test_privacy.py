"""P3: the one masking function over JSON-like values (the API's answers, webhooks, the codec endpoint).
Pure: no Temporal, no database."""

import enum
import random
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from aftersales.privacy import mask_personal, mask_phone, mask_phone_numbers_in


def reference(value: Any) -> Any:
    """The masking as first written (generic isinstance checks, every string through the substitution):
    the fast walk must give exactly this."""
    if isinstance(value, str):
        return mask_phone_numbers_in(value)
    if isinstance(value, Mapping):
        out = {k: reference(v) for k, v in value.items()}
        if isinstance(value.get("phone"), str):
            out["phone"] = mask_phone(value["phone"])
        return out
    if isinstance(value, list):
        return [reference(v) for v in value]
    return value


class Kind(str, enum.Enum):
    note = "业主来电 13812341234 询问进度"


def test_P3_every_number_in_a_case_view_is_masked_and_nothing_else_changes() -> None:
    view = {
        "case_no": "TS-2026-000123", "status": "assigned", "received_at": "2026-11-23T10:00:00+08:00",
        "customer": {"name": "王女士", "phone": "13812341234", "project": "融侨城", "unit": "1203"},
        "description": "卫生间漏水，回电 138-1234-5678 或座机 0532-88886666",
        "amount_fen": 13812341234,  # a number, not text: left as it is
        "flags": [True, None, 1.5, "短", "0755-8888123"],
        "timeline": [{"at": "2026-11-23T10:05:00+08:00", "text": "已联系 19900001111", "kind": Kind.note}],
        "contact": {"phone": "0532 8888 6666"},  # any phone field is masked, written as it may be
    }
    out = mask_personal(view)
    assert out == reference(view)
    assert out["customer"] == {"name": "王女士", "phone": "138****1234", "project": "融侨城", "unit": "1203"}
    assert out["description"] == "卫生间漏水，回电 138****5678 或座机 053*****6666"
    assert out["amount_fen"] == 13812341234
    assert out["flags"] == [True, None, 1.5, "短", "075****8123"]
    assert out["timeline"][0]["text"] == "已联系 199****1111"
    assert out["timeline"][0]["kind"] == "业主来电 138****1234 询问进度"  # a str enum is text too
    assert out["contact"] == {"phone": "053*****6666"}
    assert out["case_no"] == "TS-2026-000123" and out["received_at"] == "2026-11-23T10:00:00+08:00"
    assert view["customer"]["phone"] == "13812341234"  # a copy: the input is unchanged


def test_P3_a_mapping_that_is_not_a_dict_and_tuples_are_handled_as_before() -> None:
    ordered = OrderedDict(phone="13812341234", note="call 13912345678")
    assert mask_personal(ordered) == {"phone": "138****1234", "note": "call 139****5678"}
    assert mask_personal(("13812341234",)) == ("13812341234",)  # not JSON: left as it was (as before)


def test_P3_the_fast_walk_equals_the_reference_on_random_values() -> None:
    rng = random.Random(20261203)
    pieces = ["13812341234", "138 1234 1234", "0532-88886666", "12345678901", "9913812341234", "2026-11-23",
              "漏水", "phone", "x", "", "0755-8888123", "TS-2026-000001", "1381234123", "138-1234-12345"]

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.45:
            return rng.choice([rng.choice(pieces) + rng.choice(["", " 见", "，"]) + rng.choice(pieces),
                               rng.randint(0, 10**12), None, True, 2.5])
        if roll < 0.75:
            return {rng.choice(["phone", "text", "a", "b", "note"]): value(depth + 1) for _ in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(500):
        v = value(0)
        assert mask_personal(v) == reference(v)
