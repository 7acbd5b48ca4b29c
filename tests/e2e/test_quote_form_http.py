"""R3 in the workbench: the paid-service quote is a form of rows — an item of the fee schedule and its quantity,
or an item outside it with its unit, unit price, quantity and reason — not a JSON field; the server turns the
rows into the API's quote, and a refused form comes back with every row as it was sent, the wrong field
marked. Works without scripts (a fixed number of rows); the script adds and removes rows and shows the total."""

import re

import pytest

from tests.e2e.conftest import post_action, unique_key
from tests.e2e.test_money_http import FEE_SCHEDULE, repair
from tests.e2e.test_workbench_http import csrf_of, sign_in


def form_of(page: str, action: str) -> str:
    html = page[page.index(f'id="form-{action}"'):]
    return html[:html.index("</form>")]


@pytest.mark.asyncio
async def test_R3_the_quote_is_a_form_of_item_rows_turned_into_the_same_quote(api, staff, settings):
    assert (await api.put("/admin/fee-schedule", json=FEE_SCHEDULE, headers=await staff.headers("cs_manager"))
            ).status_code == 200
    r = await api.post("/repairs", json={**repair(), "paid_service": True},
                       headers={**await staff.headers("hotline"), "Idempotency-Key": unique_key()})
    no = r.json()["case_no"]
    await sign_in(api, "cs_staff", settings.demo_password)
    page = (await api.get(f"/app/cases/{no}")).text
    quote = form_of(page, "quote")
    assert 'name="items"' not in quote and 'name="extras"' not in quote and "<textarea" not in quote.split("extra_reason")[0]
    assert re.search(r'<select name="item_code_0"[^>]*>.*<option value="TAP" data-price="45.00" data-unit="个">'
                     r'更换水龙头（¥45.00/个）</option>', quote, re.S)
    assert len(re.findall(r'<select name="item_code_\d+"', quote)) >= 5                  # rows enough without a script
    assert 'name="extra_name_0"' in quote and 'name="extra_unit_price_0"' in quote and 'name="extra_reason_0"' in quote
    assert 'class="quote-total"' in quote

    rows = {"csrf": csrf_of(page), "action": "quote", "idempotency_key": unique_key(),
            "item_code_0": "TAP", "item_quantity_0": "2", "item_code_1": "PIPE", "item_quantity_1": "一米半",
            "extra_name_0": "角阀", "extra_unit_0": "个", "extra_unit_price_0": "18", "extra_quantity_0": "1",
            "extra_reason_0": "原角阀锈死"}
    refused = await api.post(f"/app/cases/{no}/act", data=rows)
    assert refused.status_code == 422
    quote = form_of(refused.text, "quote")
    assert re.search(r'<input name="item_quantity_1"[^>]*value="一米半"[^>]*aria-invalid="true"', quote)   # kept, marked
    assert re.search(r'<option value="TAP"[^>]*selected', quote) and re.search(r'<option value="PIPE"[^>]*selected', quote)
    assert re.search(r'name="extra_name_0"[^>]*value="角阀"', quote) and "原角阀锈死" in quote
    assert re.search(r'<input name="item_quantity_0"[^>]*value="2"', quote)
    assert not re.search(r'<input name="item_quantity_0"[^>]*aria-invalid', quote)
    said = " ".join(re.findall(r'class="(?:refused|field-error)"[^>]*>([^<]*)', quote))
    assert "数量" in said and not re.search(r"[A-Za-z]{4,}", said)             # in Chinese, the field by its label
    assert (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()["status"] == "registered"

    rows.update(item_quantity_1="1.5", csrf=csrf_of(refused.text))
    done = await api.post(f"/app/cases/{no}/act", data=rows)
    assert done.status_code == 303, re.findall(r'class="refused"[^>]*>([^<]*)', done.text)
    view = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
    assert view["status"] == "quoted" and view["quote"]["total"] == "156.75"              # 90 + 48.75 + 18
    assert [(ln["code"], ln["quantity"]) for ln in view["quote"]["lines"]] == [("TAP", "2"), ("PIPE", "1.5"), (None, "1")]
    page = (await api.get(f"/app/cases/{no}")).text
    assert "¥156.75" in page                           # the quote the owner accepts, shown on the case (A4: what is decided)
    requote = form_of(page, "quote")                    # quoting again starts from the quote given
    assert re.search(r'<option value="PIPE"[^>]*selected', requote) and 'value="1.5"' in requote
    # a quote with no row at all is refused in Chinese, not as a schema message
    empty = await api.post(f"/app/cases/{no}/act", data={"csrf": csrf_of(page), "action": "quote",
                                                          "idempotency_key": unique_key()})
    assert empty.status_code == 422 and "报价至少须有一项" in empty.text
    await post_action(api, staff, no, "cs_staff", {"action": "accept_quote", "told_via": "phone", "signed_by": "李先生",
                                                   "signed_at": view["timeline"][-1]["at"]})
