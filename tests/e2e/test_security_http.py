"""Security review findings end to end against a real dev server and worker (P3, R1):

- a number written in any of the ways people write it (+86-137…, 137.1111.3333, full-width digits,
  no-break spaces, brackets …) in a complaint's description and progress notes is masked for 物业部's
  head in GET /cases/{no}, the workbench page and the register's timeline rows; those showings are not
  full numbers, so none is recorded as one; the hotline, who calls owners, reads them and is recorded;
- an appointment far off is refused by the case's own Update validator, not only by the API."""

import re
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from aftersales import actions as A
from aftersales.actor import Actor
from adapters.db.models import Case, TimelineEntry
from adapters.temporal import actor_assertion
from aftersales.roles import Role
from tests.e2e.conftest import eventually, post_action, unique_key
from workflows.case_workflow import CaseWorkflow

NUMBER = "13722224444"
WRITTEN = ["+86-13722224444", "+8613722224444", "8613722224444", "137.2222.4444", "137_2222_4444", "(137)22224444",
           "１３７２２２２４４４４", "137\u00a02222\u00a04444", "0086 137 2222 4444", "（137）2222－4444"]


def digits_of(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())


def texts_of(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts_of(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts_of(v)]
    return []


def shows_number(value) -> bool:
    return any(NUMBER in digits_of(t) for t in texts_of(value))


@pytest.mark.asyncio
async def test_P3_numbers_in_every_writing_are_masked_for_those_who_do_not_call_owners(api, staff, sessionmaker):
    complaint = {"customer": {"name": "周女士", "phone": "13812345678", "project": "融侨城", "building": "3栋",
                              "unit": "502"},
                 "channel": "phone", "category": "物业服务", "description": "电梯故障，联系" + "；".join(WRITTEN)}
    r = await api.post("/complaints", json=complaint, headers={**await staff.headers("hotline"),
                                                               "Idempotency-Key": unique_key()})
    assert r.status_code == 201, r.text
    no = r.json()["case_no"]
    assert not shows_number(r.json())  # the answer to a write masks for everyone
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "物业服务", "department": "物业部",
                                                   "justified": True})
    for text in WRITTEN[:8]:  # the review's eight writings that passed unmasked, each in a progress note
        await post_action(api, staff, no, "cs_staff", {"action": "progress_note", "note": f"业主另留 {text}"})

    view = (await api.get(f"/cases/{no}", headers=await staff.headers("wy_head"))).json()
    assert view["case_no"] == no and view["department"] == "物业部"
    assert not shows_number(view), [t for t in texts_of(view) if NUMBER in digits_of(t)]
    assert "137****4444" in view["description"]

    api.cookies.set("aftersales_session", (await staff.headers("wy_head"))["Authorization"].removeprefix("Bearer "))
    try:
        page = await api.get(f"/app/cases/{no}")
    finally:
        api.cookies.clear()
    assert page.status_code == 200 and no in page.text
    nodes = re.split(r"<[^>]+>", page.text)
    assert not [n for n in nodes if NUMBER in digits_of(n)]

    # the hotline calls owners: sees them, and the showing is recorded (P3)
    full = (await api.get(f"/cases/{no}", headers=await staff.headers("hotline"))).json()
    assert shows_number(full)
    records = (await api.get("/audit/personal-data", params={"case_no": no},
                             headers=await staff.headers("cs_manager"))).json()
    assert ("hotline", "GET /cases/{case_no}") in {(x["username"], x["endpoint"]) for x in records}
    assert not any(x["username"] == "wy_head" for x in records)

    async def projected():
        async with sessionmaker() as session:
            rows = list(await session.scalars(select(TimelineEntry.text).where(TimelineEntry.case_no == no)))
            row = await session.get(Case, no)
        return rows if row is not None and row.department == "物业部" and len(rows) >= 10 else None
    texts = await eventually(projected)
    assert not [t for t in texts if NUMBER in digits_of(t)], texts  # the read model holds none in clear


@pytest.mark.asyncio
async def test_R1_the_case_validator_refuses_an_appointment_past_90_days(api, staff, dev_env, settings):
    repair = {"customer": {"name": "钱女士", "phone": "13812345678", "project": "融侨城", "building": "9栋", "unit": "802"},
              "trades": ["防水"], "description": "阳台渗水",
              "requested_appointment": (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()}
    r = await api.post("/repairs", json=repair, headers=await staff.headers("hotline"))
    assert r.status_code == 201, r.text
    no = r.json()["case_no"]
    far = A.AgreeAppointment(action="agree_appointment", told_via="phone",
                             appointment_at=datetime(9999, 1, 1, 10, tzinfo=timezone(timedelta(hours=8))))
    handle = dev_env.client.get_workflow_handle(no)
    # straight to Temporal, past the API's own check, vouched for as the API does (P4: the actor assertion with
    # the API's key), so that the case's own rule is what refuses it
    far_request = A.ActionRequest(action=far, actor=Actor(username="hotline", role=Role.hotline))
    far_request.assertion = actor_assertion.sign(no, far_request, settings.actor_assertion_key)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.act, far_request)
    assert "90 个自然日" in str(refused.value.cause)
    view = (await api.get(f"/cases/{no}", headers=await staff.headers("hotline"))).json()
    assert view["appointment_at"] is None or not view["appointment_at"].startswith("9999")
    r = await api.post(f"/cases/{no}/actions", json={"action": "agree_appointment", "told_via": "phone",
                                                     "appointment_at": far.appointment_at.isoformat()},
                       headers=await staff.headers("hotline"))
    assert r.status_code == 422 and "90 个自然日" in r.text
