"""Actions once: an Idempotency-Key on POST /cases/{no}/actions is the Temporal Update id,
so a retried action — even 20 identical ones at the same moment — is applied once (C3: one timeline
entry, one e-mail to the named handler); the key with a different body is 422 and changes nothing."""

import asyncio

import pytest

from aftersales.roles import Role
from tests.e2e.conftest import account, eventually, post_action, unique_key
from tests.e2e.test_complaint_http import COMPLAINT

ASSIGN = {"action": "assign_handler", "handler": "dept_handler"}


def kinds(view: dict, kind: str) -> list[dict]:
    return [t for t in view["timeline"] if t["kind"] == kind]


@pytest.mark.asyncio
async def test_C3_twenty_concurrent_identical_actions_with_one_key_are_applied_once(api, staff, smtp_server,
                                                                                   sessionmaker, settings):
    # a second active handler of 工程部: the other body below names someone the organisation's list (P7)
    # and the case (C3) accept, so the only thing wrong with it is the reused key
    await account(sessionmaker, settings, "dept_handler_b", Role.dept_handler, department="工程部")
    hotline, head = await staff.headers("hotline"), await staff.headers("dept_head")
    no = (await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": unique_key()})).json()["case_no"]
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                   "justified": True})
    key = unique_key()
    answers = await asyncio.gather(*(api.post(f"/cases/{no}/actions", json=ASSIGN,
                                              headers={**head, "Idempotency-Key": key}) for _ in range(20)))
    assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers if r.status_code != 200]
    # every answer is the case as read after the one application (the Update answers compactly,
    # the view is read by query, so later effects such as the notice's delivery may already show)
    assert all(r.json()["handler"] == "dept_handler" and len(kinds(r.json(), "assigned")) == 1 for r in answers)

    view = (await api.get(f"/cases/{no}", headers=head)).json()
    assert len(kinds(view, "assigned")) == 1, kinds(view, "assigned")

    def to_handler() -> list:
        return [m for m in smtp_server.messages if "dept_handler@example.com" in m.to]

    async def delivered() -> dict | None:  # the notice's delivery is on the timeline once the e-mail went out
        v = (await api.get(f"/cases/{no}", headers=head)).json()
        order = [t["kind"] for t in v["timeline"]]
        return v if to_handler() and "notification" in order[order.index("assigned"):] else None

    view = await eventually(delivered)
    assert len(to_handler()) == 1 and len(kinds(view, "assigned")) == 1

    # a retry long after: the same answer, nothing applied again
    again = await api.post(f"/cases/{no}/actions", json=ASSIGN, headers={**head, "Idempotency-Key": key})
    assert again.status_code == 200 and len(kinds(again.json(), "assigned")) == 1
    assert again.json()["version"] >= view["version"]
    # the key with a different, otherwise valid body (another handler of the department): 422 naming
    # the key, nothing applied
    other = await api.post(f"/cases/{no}/actions", json={**ASSIGN, "handler": "dept_handler_b"},
                           headers={**head, "Idempotency-Key": key})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"], other.text
    after = (await api.get(f"/cases/{no}", headers=head)).json()
    assert after["handler"] == "dept_handler" and len(kinds(after, "assigned")) == 1


@pytest.mark.asyncio
async def test_a_refused_action_leaves_its_key_free_for_the_corrected_body(api, staff):
    hotline = await staff.headers("hotline")
    no = (await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": unique_key()})).json()["case_no"]
    cs = await staff.headers("cs_staff")
    key = unique_key()
    refused = await api.post(f"/cases/{no}/actions", headers={**cs, "Idempotency-Key": key},
                             json={"action": "close", "outcome_note": "x"})
    assert refused.status_code == 409, refused.text  # C10: not before the summary
    classify = {"action": "classify", "category": "漏水", "department": "工程部", "justified": True}
    ok = await api.post(f"/cases/{no}/actions", headers={**cs, "Idempotency-Key": key}, json=classify)
    assert ok.status_code == 200 and len(kinds(ok.json(), "classified")) == 1, ok.text
    # another user's key of the same name is another action (keys are per user and case)
    butler = await staff.headers("butler")
    note = {"action": "progress_note", "note": "已联系业主"}
    first = await api.post(f"/cases/{no}/actions", headers={**butler, "Idempotency-Key": key}, json=note)
    assert first.status_code == 200 and first.json()["progress_notes"] == 1, first.text
