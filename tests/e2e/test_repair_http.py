"""A repair end to end over HTTP against a real dev server: intake with Idempotency-Key (R1), the
co-signed survey (R2), the cost approval ladder above 10,000 (A1), dispatch through engineering to
the contractor (R5), inspection, sign-off, revisit (R6, R7), settlement (A2, A3), the quality deposit
booked once (A3) and worker scores (R9); plus a complaint that opens a repair and closes after it."""

from datetime import datetime, timedelta, timezone

import pytest

from adapters.db.ledger import quarter_of
from aftersales.roles import Role
from tests.e2e.conftest import account, attach, eventually, post_action, unique_key

CUSTOMER = {"name": "李先生", "phone": "13912345678", "project": "融侨城", "building": "7栋", "unit": "301"}


def in_two_days() -> str:
    """10:00 Beijing time the day after tomorrow, reckoned when used (R1 refuses a time in the past, and a
    long suite runs a test many minutes after its module was imported)."""
    return (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=2)).replace(
        hour=10, minute=0, second=0, microsecond=0).isoformat()


def repair() -> dict:
    """The repair intake (R1), its requested visit reckoned now."""
    return {"customer": dict(CUSTOMER), "trades": ["防水", "泥工"], "description": "外墙渗水, 卧室墙面发霉",
            "requested_appointment": in_two_days(), "paid_service": False}


@pytest.mark.asyncio
async def test_R1_R9_A1_A3_warranty_repair_over_http(api, staff, sessionmaker, settings):
    finance = await staff.headers("finance")
    r = await api.put("/admin/contractors/CT-77", json={"name": "建工三公司", "deposit": "100000.00"}, headers=finance)
    assert r.status_code == 200, r.text
    assert (await api.put("/admin/contractors/CT-77", json={"name": "x", "deposit": 5.5},
                          headers=await staff.headers("cs_staff"))).status_code == 403
    await account(sessionmaker, settings, "ct77", Role.contractor, contractor_id="CT-77")  # P1: acts for CT-77 only
    for worker in ("chen", "liu"):   # P7: the workers a work order names are CT-77's accounts
        await account(sessionmaker, settings, worker, Role.contractor, contractor_id="CT-77")

    hotline = await staff.headers("hotline")
    key = unique_key()
    body = repair()  # the retry below sends this very body again
    first = await api.post("/repairs", json=body, headers={**hotline, "Idempotency-Key": key})
    assert first.status_code == 201, first.text
    no = first.json()["case_no"]
    assert no.startswith("WX-20") and first.json()["case_type"] == "repair"
    again = await api.post("/repairs", json=body, headers={**hotline, "Idempotency-Key": key})
    assert again.json()["case_no"] == no
    bad = await api.post("/repairs", json={**body, "trades": []}, headers=hotline)
    assert bad.status_code == 422 and "trades" in bad.json()["detail"]

    past = await api.post("/repairs", json={**body, "requested_appointment": "2026-01-05T10:00:00+08:00"},
                          headers=hotline)                     # R1: the owner asks for a time to come
    assert past.status_code == 422 and "requested_appointment" in past.json()["detail"]
    now = datetime.now(timezone.utc)
    refused = await post_action(api, staff, no, "cs_staff", {"action": "agree_appointment", "told_via": "phone",
                                                             "appointment_at": "2026-01-05T10:00:00+08:00"}, expect=422)
    assert "appointment_at" in refused["detail"] and "已经过去" in refused["detail"]
    appointment = (now - timedelta(minutes=5)).isoformat()   # agreed by phone just now (within the tolerance)
    await post_action(api, staff, no, "cs_staff", {"action": "agree_appointment", "told_via": "phone", "appointment_at": appointment})
    ahead = (now + timedelta(hours=2)).isoformat()
    refused = await post_action(api, staff, no, "repair_lead", {"action": "record_arrival", "arrived_at": ahead},
                                expect=422)
    assert "arrived_at" in refused["detail"] and "尚未到来" in refused["detail"]
    view = await post_action(api, staff, no, "repair_lead", {"action": "record_arrival", "arrived_at": now.isoformat()})
    assert view["late_arrival"] is False and view["status"] == "scheduled"
    survey = {"action": "record_survey", "responsible_party": "工程部", "contractor_id": "CT-77", "multi_trade": True,
              "estimate": "12000.00", "order_type": "A"}
    await post_action(api, staff, no, "cs_staff", {**survey, "contractor_id": "NOPE"}, expect=422)
    await post_action(api, staff, no, "cs_staff", {**survey, "estimate": 12000.001}, expect=422)
    await attach(api, staff, no, "hotline", "intake")                                           # D1: each step
    await post_action(api, staff, no, "cs_staff", survey)
    await attach(api, staff, no, "cs_staff", "survey")
    await post_action(api, staff, no, "cs_staff", {"action": "sign_survey"})
    await post_action(api, staff, no, "cs_staff", {"action": "sign_survey"}, expect=409)
    for who in ("engineering", "repair_lead", "ct77"):
        view = await post_action(api, staff, no, who, {"action": "sign_survey"})
    assert view["status"] == "cost_approval"
    await post_action(api, staff, no, "engineering", {"action": "dispatch", "workers": ["chen"],
                                                      "to_contractor": True}, expect=409)      # A1: not before approval
    for who in ("deputy_chief_engineer", "deputy_gm", "gm"):                                    # A1 > 10,000
        await post_action(api, staff, no, "cs_manager", {"action": "decide", "decision": "approve"}, expect=403)
        view = await post_action(api, staff, no, who, {"action": "decide", "decision": "approve",
                                                       "reason": "同意"})
    assert view["status"] == "surveyed"
    approval = view["approvals"][-1]                                                           # A4: who, when, why
    assert approval["amount"] == "12000.00" and approval["status"] == "approved"
    assert [(d["role"], d["by"], d["decision"], d["reason"]) for d in approval["steps"]] == [
        ("deputy_chief_engineer", "deputy_chief_engineer", "approve", "同意"), ("deputy_gm", "deputy_gm", "approve", "同意"),
        ("gm", "gm", "approve", "同意")] and all(d["at"] for d in approval["steps"])
    await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["chen"], "to_contractor": True},
                      expect=403)                                                               # R5
    view = await post_action(api, staff, no, "engineering", {"action": "dispatch", "workers": ["chen", "liu"],
                                                             "to_contractor": True})
    work = next(d for d in view["deadlines"] if d["key"] == "work")
    assert "7 个工作日" in work["label"]                                                    # R4 multi-trade
    await post_action(api, staff, no, "contractor2", {"action": "complete_work", "note": "外墙重做防水"},
                      expect=404)                                    # P1, P2: not CT-DEMO2's work
    await attach(api, staff, no, "ct77", "before_work")
    await post_action(api, staff, no, "ct77", {"action": "complete_work", "note": "外墙重做防水"}, expect=409)  # D2
    await attach(api, staff, no, "ct77", "after_work")
    await post_action(api, staff, no, "ct77", {"action": "complete_work", "note": "外墙重做防水"})
    await attach(api, staff, no, "cs_staff", "inspection")
    await post_action(api, staff, no, "cs_staff", {"action": "inspect", "passed": True})
    await post_action(api, staff, no, "repair_lead", {"action": "inspect", "passed": True})
    await post_action(api, staff, no, "cs_staff", {"action": "owner_sign_off", "told_via": "phone", "quality": 5, "attitude": 4})
    await post_action(api, staff, no, "cs_staff", {"action": "revisit", "told_via": "phone", "satisfaction": 6, "quality": 5,
                                                   "attitude": 5}, expect=422)
    await post_action(api, staff, no, "cs_staff", {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5})
    view = await post_action(api, staff, no, "repair_lead", {"action": "cost_statement", "amount": "21000.50",
                                                             "note": "决算"})
    for who in ("auditor", "ct77", "deputy_chief_engineer"):                              # A2 > 20,000, A3
        view = await post_action(api, staff, no, who, {"action": "decide", "decision": "approve"})
    assert view["status"] == "awaiting_payment"
    await post_action(api, staff, no, "finance", {"action": "pay", "amount": "21000.00", "reference": "FK-9"},
                      expect=422)
    await post_action(api, staff, no, "finance", {"action": "pay", "amount": "21000.50", "reference": "FK-9"},
                      expect=409)                                         # D2: the signed cost statement first
    await attach(api, staff, no, "repair_lead", "cost_statement", "signed")
    view = await post_action(api, staff, no, "finance", {"action": "pay", "amount": "21000.50", "reference": "FK-9"})
    assert view["status"] == "closed"
    assert [f["step"] for f in view["files"]] == ["intake", "survey", "before_work", "after_work", "inspection",
                                                  "cost_statement"]         # D3: the references, each step's
    listed = (await api.get(f"/cases/{no}/files", headers=finance)).json()["files"]
    assert len(listed) == 6 and [(await api.get(f["url"])).status_code for f in listed] == [200] * 6

    async def deducted():
        statement = (await api.get("/contractors/CT-77/deposit", headers=finance)).json()
        return statement if any(e["kind"] == "deduction" for e in statement["entries"]) else None
    statement = await eventually(deducted)
    assert statement["balance"] == "78999.50" and statement["entries"][-1]["amount"] == "-21000.50"
    assert statement["entries"][-1]["case_no"] == no and statement["entries"][-1]["shortfall"] == "0.00"
    assert statement["entries"][0]["kind"] == "lodged" and statement["entries"][0]["amount"] == "100000.00"
    assert (await api.get("/contractors/NOPE/deposit", headers=finance)).status_code == 404
    assert (await api.get("/contractors/CT-77/deposit", headers=hotline)).status_code == 403

    quarter = quarter_of(datetime.now(timezone.utc))
    manager = await staff.headers("cs_manager")

    async def scored():
        report = (await api.get("/reports/workers", params={"quarter": quarter}, headers=manager)).json()
        return [w for w in report["workers"] if w["worker"] in ("chen", "liu")]
    workers = await eventually(scored)
    assert {w["worker"] for w in workers} == {"chen", "liu"} and all(w["quality_total"] >= 10 for w in workers)
    assert all(w["evaluations"] >= 2 for w in workers)  # R9: the sign-off and the revisit, each kept
    assert (await api.get("/reports/workers", params={"quarter": "2026-4"}, headers=manager)).status_code == 422

    async def listed():
        page = (await api.get("/cases", params={"type": "repair", "status": "closed"}, headers=manager)).json()
        return [c for c in page["items"] if c["case_no"] == no]
    row = (await eventually(listed))[0]
    assert row["customer_phone_masked"] == "139****5678"
    # the projection keeps the repair's report facts and every deadline (on time per rule)
    from sqlalchemy import select
    from adapters.db.models import Case, CaseDeadline
    async with sessionmaker() as session:
        facts = await session.get(Case, no)
        deadlines = {d.key: d for d in await session.scalars(select(CaseDeadline).where(CaseDeadline.case_no == no))}
    assert (facts.arrivals, facts.arrivals_on_time, facts.work_rounds, facts.first_pass) == (1, 1, 1, True)
    assert facts.revisits >= 1
    assert deadlines["survey"].rule == "R2" and deadlines["survey"].met_at is not None
    assert deadlines["work"].rule == "R4" and deadlines["work"].met_at is not None



async def _work_signed_off_and_revisited(api, staff, no: str, score: int, **revisit) -> dict:
    await attach(api, staff, no, "ct99", "after_work")                                          # D2
    await post_action(api, staff, no, "ct99", {"action": "complete_work", "note": "更换止水节"})
    await post_action(api, staff, no, "cs_staff", {"action": "inspect", "passed": True})
    await post_action(api, staff, no, "repair_lead", {"action": "inspect", "passed": True})
    await post_action(api, staff, no, "cs_staff", {"action": "owner_sign_off", "told_via": "phone", "quality": score, "attitude": score})
    return await post_action(api, staff, no, "cs_staff", {"action": "revisit", "told_via": "phone", "satisfaction": score, "quality": score,
                                                          "attitude": score, **revisit})


@pytest.mark.asyncio
async def test_R9_A3_R2_A2_reopened_repair_two_evaluations_and_a_deposit_short_of_the_settlement_over_http(
        api, staff, sessionmaker, settings):
    """A contractor with 100.00 of deposit does type-A work (estimate exactly 500.00: no contractor at the
    survey, R2); the owner scores round 1 with 1s and it is reopened, round 2 with 5s (R9: all four
    evaluations summed, 12/12); the settlement of exactly 20,000.00 is audited by auditor (A2); paying it
    takes the deposit to 0.00, not below, the 19,900.00 short is recorded and shown, the case closes (A3)."""
    finance = await staff.headers("finance")
    r = await api.put("/admin/contractors/CT-99", json={"name": "九号建工", "deposit": "100.00"}, headers=finance)
    assert r.status_code == 200, r.text
    await account(sessionmaker, settings, "ct99", Role.contractor, contractor_id="CT-99")
    await account(sessionmaker, settings, "zhou.e2e", Role.contractor, contractor_id="CT-99")  # its worker (P7)
    body = {**repair(), "customer": {**CUSTOMER, "unit": "902"}, "trades": ["防水"]}
    no = (await api.post("/repairs", json=body, headers=await staff.headers("hotline"))).json()["case_no"]
    await post_action(api, staff, no, "cs_staff", {"action": "record_survey", "responsible_party": "工程部",
                                                   "contractor_id": "CT-99", "multi_trade": False,
                                                   "estimate": "500.00", "order_type": "A"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        view = await post_action(api, staff, no, who, {"action": "sign_survey"})
    assert view["status"] == "cost_approval"                                      # R2: 500.00 needs no contractor
    await post_action(api, staff, no, "cs_manager", {"action": "decide", "decision": "approve"})   # A1 ≤ 1,000
    await post_action(api, staff, no, "engineering", {"action": "dispatch", "workers": ["zhou.e2e"],
                                                      "to_contractor": True})
    view = await _work_signed_off_and_revisited(api, staff, no, 1, follow_up="reopen", note="仍渗水")
    assert view["status"] == "in_progress"
    view = await _work_signed_off_and_revisited(api, staff, no, 5)
    view = await post_action(api, staff, no, "repair_lead", {"action": "cost_statement", "amount": "20000.00",
                                                             "note": "决算"})
    assert view["waiting_for"] == "auditor"                                       # A2: 20,000.00 is the auditor's
    while view["status"] == "settlement":
        role = view["waiting_for"]
        view = await post_action(api, staff, no, "ct99" if role == "contractor" else role,
                                 {"action": "decide", "decision": "approve"})
    await attach(api, staff, no, "repair_lead", "cost_statement", "signed")                     # D2
    view = await post_action(api, staff, no, "finance", {"action": "pay", "amount": "20000.00", "reference": "FK-99"})
    assert view["status"] == "closed"                                             # A3: the case closes

    async def deducted():
        statement = (await api.get("/contractors/CT-99/deposit", headers=finance)).json()
        return statement if any(e["kind"] == "deduction" for e in statement["entries"]) else None
    statement = await eventually(deducted)
    assert statement["balance"] == "0.00" and statement["shortfall"] == "19900.00"
    assert [(e["kind"], e["amount"], e["shortfall"]) for e in statement["entries"]] == [
        ("lodged", "100.00", "0.00"), ("deduction", "-100.00", "19900.00")]

    async def told():
        v = (await api.get(f"/cases/{no}", headers=finance)).json()
        return v if v.get("deduction") and any(t["kind"] == "deposit_shortfall" for t in v["timeline"]) else None
    view = await eventually(told)
    assert view["deduction"]["shortfall"] == "19900.00" and view["deduction"]["deducted"] == "100.00"

    quarter = quarter_of(datetime.now(timezone.utc))

    async def evaluated():
        report = (await api.get("/reports/workers", params={"quarter": quarter},
                                headers=await staff.headers("cs_manager"))).json()
        return next((w for w in report["workers"] if w["worker"] == "zhou.e2e" and w["evaluations"] == 4), None)
    zhou = await eventually(evaluated)
    assert (zhou["repairs"], zhou["quality_total"], zhou["attitude_total"]) == (1, 12, 12)   # R9: 2/2 + 10/10


@pytest.mark.asyncio
async def test_A3_deposit_changes_are_ledger_entries_with_who_and_why_never_overwrites(api, staff):
    finance = await staff.headers("finance")
    url = "/admin/contractors/CT-88"
    assert (await api.put(url, json={"name": "小建工", "deposit": "1000.00"}, headers=finance)).status_code == 200
    assert (await api.put(url, json={"name": "小建工", "deposit": "1000.00"}, headers=finance)).status_code == 200
    overwrite = await api.put(url, json={"name": "小建工", "deposit": "5000.00"}, headers=finance)
    assert overwrite.status_code == 409 and "deposit/entries" in overwrite.json()["detail"]        # never overwritten
    renamed = await api.put(url, json={"name": "小建工集团"}, headers=finance)
    assert renamed.json()["name"] == "小建工集团" and renamed.json()["balance"] == "1000.00"

    entries = f"{url}/deposit/entries"
    top_up = {"kind": "top_up", "amount": "2000.00", "reason": "补缴质量保证金"}
    key = {"Idempotency-Key": unique_key()}
    first = await api.post(entries, json=top_up, headers={**finance, **key})
    again = await api.post(entries, json=top_up, headers={**finance, **key})                      # a retry: once
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["balance"] == "3000.00"
    other = await api.post(entries, json={**top_up, "amount": "1.00"}, headers={**finance, **key})
    assert other.status_code == 422
    assert (await api.post(entries, json=top_up, headers=finance)).status_code == 422          # no Idempotency-Key
    below = await api.post(entries, json={"kind": "adjustment", "amount": "-3000.01", "reason": "更正"},
                           headers={**finance, "Idempotency-Key": unique_key()})
    assert below.status_code == 409 and "below zero" in below.json()["detail"]
    assert (await api.post(entries, json={"kind": "adjustment", "amount": "-100.00", "reason": " "},
                           headers={**finance, "Idempotency-Key": unique_key()})).status_code == 422
    assert (await api.post(entries, json=top_up, headers={**await staff.headers("cs_staff"),
                                                          "Idempotency-Key": unique_key()})).status_code == 403
    assert (await api.post("/admin/contractors/NOPE/deposit/entries", json=top_up,
                           headers={**finance, "Idempotency-Key": unique_key()})).status_code == 404
    r = await api.post(entries, json={"kind": "adjustment", "amount": "-500.00", "reason": "更正录入错误"},
                       headers={**finance, "Idempotency-Key": unique_key()})
    assert r.status_code == 201

    statement = (await api.get("/contractors/CT-88/deposit", headers=await staff.headers("auditor"))).json()
    assert statement["balance"] == "2500.00" and statement["initial_deposit"] == "1000.00"
    assert [(e["kind"], e["amount"], e["by"], e["note"]) for e in statement["entries"]] == [
        ("lodged", "1000.00", "finance", "deposit lodged (A3)"), ("top_up", "2000.00", "finance", "补缴质量保证金"),
        ("adjustment", "-500.00", "finance", "更正录入错误")]


@pytest.mark.asyncio
async def test_C6_complaint_opens_a_repair_over_http_and_closes_after_it(api, staff):
    complaint = {"customer": CUSTOMER, "channel": "online", "category": "渗水", "description": "外墙渗水"}
    r = await api.post("/complaints", json=complaint, headers=await staff.headers("hotline"))
    no = r.json()["case_no"]
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "渗水", "department": "工程部",
                                                   "justified": True})
    view = await post_action(api, staff, no, "cs_staff", {"action": "open_repair", "trades": ["防水"],
                                                          "description": "外墙防水", "requested_appointment":
                                                          in_two_days()})
    repair_no = view["linked_case_no"]
    repair = (await api.get(f"/cases/{repair_no}", headers=await staff.headers("cs_staff"))).json()
    assert repair["parent_case_no"] == no and repair["customer"]["phone"] == "13912345678"
    await post_action(api, staff, repair_no, "cs_staff", {"action": "record_survey", "responsible_party": "工程部",
                                                          "multi_trade": False, "estimate": "0", "order_type": "B"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        await post_action(api, staff, repair_no, who, {"action": "sign_survey"})
    await post_action(api, staff, repair_no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]})

    async def shows_progress():
        v = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
        return v if v["linked_status"] == "in_progress" else None
    view = await eventually(shows_progress)
    assert any(t["kind"] == "repair_progress" for t in view["timeline"])


@pytest.mark.asyncio
async def test_a_case_temporal_no_longer_keeps_is_read_from_the_register(api, staff, sessionmaker):
    """A case whose workflow Temporal no longer has (a closed case past the namespace's retention; here a
    register row with no workflow) is answered from the register, as last projected, phone masked; an
    unknown number is still 404."""
    from aftersales import actions as A
    from aftersales.case import Ctx
    from adapters.db.models import Case
    from aftersales.repair import RepairCase
    from aftersales.repair.state import RepairIntake
    from aftersales.views import case_row
    from tests.rules.driver import CAL, LADDER, MONDAY_10, who

    ctx = Ctx(now=MONDAY_10, cal=CAL, ladder=LADDER)
    case, _ = RepairCase.open("WX-2019-000001", RepairIntake.model_validate(repair()), who(Role.hotline), ctx)
    case.apply(A.AgreeAppointment(action="agree_appointment", told_via="phone", appointment_at=MONDAY_10), who(Role.cs_staff), ctx)
    async with sessionmaker() as s:
        s.add(Case(**{**case_row(case.state, MONDAY_10, LADDER).columns(), "company_id": "rq"}))  # P5: 融侨置业's
        await s.commit()
    headers = await staff.headers("cs_manager")
    r = await api.get("/cases/WX-2019-000001", headers=headers)
    assert r.status_code == 200 and r.json()["source"] == "register" and r.json()["status"] == "scheduled"
    assert "****" in r.json()["customer"]["phone"]
    assert (await api.get("/cases/WX-2019-000002", headers=headers)).status_code == 404
