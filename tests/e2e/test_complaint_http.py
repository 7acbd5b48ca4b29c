"""A complaint end to end over HTTP against a real dev server: auth, intake with Idempotency-Key,
every action, the 4xx contract, the register, health, and a worker crash mid-case."""

import json

import httpx
import pytest

from api.app import create_app
from tests.e2e.conftest import eventually, post_action, unique_key

COMPLAINT = {
    "customer": {"name": "王女士", "phone": "13812341234", "project": "融侨城", "building": "5栋", "unit": "1203"},
    "channel": "phone", "category": "漏水", "description": "卫生间天花板漏水", "major": False, "group_complaint": False,
}


@pytest.mark.asyncio
async def test_C1_idempotent_intake_and_the_4xx_contract(api, staff):
    hotline = await staff.headers("hotline")
    assert (await api.post("/complaints", json=COMPLAINT)).status_code == 401
    key = unique_key()
    first = await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": key})
    assert first.status_code == 201, first.text
    case = first.json()
    assert case["case_no"].startswith("TS-20") and case["status"] == "registered" and case["type"] == "complaint"
    again = await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["case_no"] == case["case_no"]
    changed = await api.post("/complaints", json={**COMPLAINT, "category": "噪音"},
                             headers={**hotline, "Idempotency-Key": key})
    assert changed.status_code == 422 and "Idempotency-Key" in changed.json()["detail"]
    listed = (await api.get("/cases", params={"type": "complaint"}, headers=hotline)).json()
    assert [c["case_no"] for c in listed["items"]].count(case["case_no"]) <= 1

    bad = await api.post("/complaints", json={**COMPLAINT, "channel": "pigeon"}, headers=hotline)
    assert bad.status_code == 422 and "channel" in bad.json()["detail"]
    bad = await api.post("/complaints", json={**COMPLAINT, "customer": {**COMPLAINT["customer"], "phone": "12"}},
                         headers=hotline)
    assert bad.status_code == 422 and "phone" in bad.json()["detail"] and "12" not in bad.json()["detail"].split(":")[0]
    assert (await api.post("/complaints", json=COMPLAINT, headers=await staff.headers("finance"))).status_code == 403

    no = case["case_no"]
    await post_action(api, staff, no, "hotline", {"action": "classify", "category": "c", "department": "工程部",
                                                  "justified": True}, expect=403)
    await post_action(api, staff, no, "cs_staff", {"action": "close", "outcome_note": "x"}, expect=409)
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "c"}, expect=422)
    await post_action(api, staff, no, "cs_staff", {"action": "teleport"}, expect=422)
    await post_action(api, staff, "TS-2026-999999", "cs_staff", {"action": "progress_note", "note": "x"}, expect=404)
    assert (await api.get("/cases/TS-2026-999999", headers=hotline)).status_code == 404
    view = (await api.get(f"/cases/{no}", headers=hotline)).json()
    assert view["status"] == "registered" and len(view["timeline"]) >= 1


@pytest.mark.asyncio
async def test_complaint_end_to_end_survives_a_worker_crash(api, staff, worker_process, smtp_server):
    r = await api.post("/complaints", json=COMPLAINT, headers={**await staff.headers("hotline"),
                                                               "Idempotency-Key": unique_key()})
    no = r.json()["case_no"]
    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                   "justified": True})
    await post_action(api, staff, no, "dept_head", {"action": "assign_handler", "handler": "dept_handler"})

    worker_process.kill()      # crash mid-case
    worker_process.start()     # a new worker picks the case up where it was

    await post_action(api, staff, no, "dept_handler", {"action": "department_feedback", "findings": "防水层破损"})
    await post_action(api, staff, no, "dept_handler", {"action": "propose_solution", "solution": "重做防水",
                                                       "compensation": "800.00"})
    await post_action(api, staff, no, "dept_handler", {"action": "decide", "decision": "approve"}, expect=403)
    await post_action(api, staff, no, "cs_manager", {"action": "decide", "decision": "approve"})
    await post_action(api, staff, no, "butler", {"action": "progress_note", "note": "已安排施工"})
    await post_action(api, staff, no, "cs_staff", {"action": "inform_customer", "message": "下周一重做防水"})
    await post_action(api, staff, no, "finance", {"action": "record_compensation_paid", "amount": "800.00",
                                                  "reference": "BC-2026-0001"})                      # A1
    await post_action(api, staff, no, "cs_staff", {"action": "record_satisfaction", "told_via": "phone", "score": 5})
    await post_action(api, staff, no, "cs_staff", {"action": "summarise", "summary": "s", "corrective_measures": "c",
                                                   "preventive_measures": "p"})
    view = await post_action(api, staff, no, "cs_staff", {"action": "close", "outcome_note": "已修复"})
    assert view["status"] == "closed"
    kinds = [t["kind"] for t in view["timeline"]]
    for kind in ("intake", "classified", "assigned", "feedback", "solution", "approval", "progress",
                 "customer_informed", "satisfaction", "summary", "closed"):
        assert kind in kinds, kind
    assert all(d["met"] is True for d in view["deadlines"] if d["key"] in ("opinion", "dept_feedback", "solution"))

    headers = await staff.headers("cs_manager")

    async def closed_in_register():
        page = (await api.get("/cases", params={"type": "complaint", "status": "closed", "project": "融侨城"},
                              headers=headers)).json()
        return [c for c in page["items"] if c["case_no"] == no]
    row = (await eventually(closed_in_register, timeout=60))[0]  # a read-model write lost with the worker is retried
    assert row["customer_phone_masked"] == "138****1234" and row["outcome"] == "resolved"
    assert (await api.get(f"/cases/{no}", headers=headers)).json()["status"] == "closed"
    await post_action(api, staff, no, "cs_staff", {"action": "progress_note", "note": "x"}, expect=409)

    # structlog JSON: each activity's lines name the case; no phone number anywhere in the worker's log
    import json
    lines = [json.loads(line) for line in worker_process.log.read_text().splitlines() if line.startswith("{")]
    projected = [e for e in lines if e.get("event") == "case projected" and e.get("case_no") == no]
    assert projected and all(e["workflow_id"] == no and e["activity"] == "project_case" for e in projected)
    assert "13812341234" not in worker_process.log.read_text()


@pytest.mark.asyncio
async def test_health_and_listing_parameters(api, staff, settings, dev_env, sessionmaker):
    health = (await api.get("/health")).json()
    assert health["temporal"]["status"] == "ok" and health["database"]["status"] == "ok"

    async def worker_polls():
        workers = (await api.get("/health")).json()["workers"]
        return workers if workers["status"] == "ok" else None
    assert (await eventually(worker_polls))["pollers"] >= 1
    lonely = create_app(settings.model_copy(update={"task_queue": "nobody-polls-this"}), temporal=dev_env.client,
                        sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lonely), base_url="http://api.test") as other:
        assert (await other.get("/health")).json()["workers"] == {"status": "none", "task_queue": "nobody-polls-this",
                                                                "pollers": 0, "alive": 0, "source": "heartbeats"}
    assert 2026 in health["calendar"]["years_with_data"]
    # the database down: 503 with the same typed report (as declared in the OpenAPI document)
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from api.health import HealthReport
    gone = create_async_engine("sqlite+aiosqlite:////nonexistent-dir/read-model.db")
    broken = create_app(settings, temporal=dev_env.client, sessionmaker=async_sessionmaker(gone))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=broken), base_url="http://api.test") as other:
        down = await other.get("/health")
        assert down.status_code == 503
        report = HealthReport.model_validate(down.json())
        assert report.status == "down" and report.database.status == "down" and report.temporal.status == "ok"
        assert report.reason == "database_down"  # every 503 says why
    await gone.dispose()
    spec = (await api.get("/openapi.json")).json()["paths"]["/health"]["get"]["responses"]
    assert spec["503"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HealthReport"}
    headers = await staff.headers("cs_staff")
    assert (await api.get("/cases", params={"page_size": 1000}, headers=headers)).status_code == 422
    assert (await api.get("/cases", params={"type": "x"}, headers=headers)).status_code == 422
    page = (await api.get("/cases", params={"page": 1, "page_size": 5, "overdue": False}, headers=headers)).json()
    assert page["page_size"] == 5 and isinstance(page["total"], int)


@pytest.mark.asyncio
async def test_prefer_return_minimal_answers_a_write_with_the_updates_own_answer(api, staff):
    """RFC 7240 `Prefer: return=minimal`: intake and actions answer with the Update's compact answer
    (status, version, the entries added, phone masked — P3) and `Location`, without reading the case
    back; a repeat with the same Idempotency-Key gets the same answer and applies nothing; without the
    header, the whole case."""
    hotline, staff_h = await staff.headers("hotline"), await staff.headers("cs_staff")
    minimal = {"Prefer": "respond-async, return=minimal"}
    key = unique_key()
    r = await api.post("/complaints", json=COMPLAINT, headers={**hotline, **minimal, "Idempotency-Key": key})
    assert r.status_code == 201, r.text
    assert r.headers["Preference-Applied"] == "return=minimal"
    opened = r.json()
    no = opened["case_no"]
    assert r.headers["Location"] == f"/cases/{no}"
    assert set(opened) == {"case_no", "status", "version", "timeline_length", "added"}
    assert opened["status"] == "registered" and opened["timeline_length"] == len(opened["added"]) >= 1
    again = await api.post("/complaints", json=COMPLAINT, headers={**hotline, **minimal, "Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["case_no"] == no

    await post_action(api, staff, no, "cs_staff", {"action": "classify", "category": "漏水", "department": "工程部",
                                                   "justified": True})
    note = {"action": "progress_note", "note": "已致电业主 13812341234，约周三上门"}
    act_key = unique_key()
    r = await api.post(f"/cases/{no}/actions", json=note, headers={**staff_h, **minimal, "Idempotency-Key": act_key})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert r.headers["Preference-Applied"] == "return=minimal" and r.headers["Location"] == f"/cases/{no}"
    assert [e["kind"] for e in answer["added"]] == ["progress"]
    assert "13812341234" not in r.text and "138****1234" in answer["added"][0]["text"]   # P3
    view = (await api.get(f"/cases/{no}", headers=staff_h)).json()
    # the case as read later: at least this version (a notice's delivery may have been recorded since)
    assert view["version"] >= answer["version"] and view["timeline"][answer["timeline_length"] - 1]["kind"] == "progress"

    repeat = await api.post(f"/cases/{no}/actions", json=note, headers={**staff_h, **minimal, "Idempotency-Key": act_key})
    assert repeat.status_code == 200 and repeat.json() == answer   # Temporal answers the same Update id once
    view = (await api.get(f"/cases/{no}", headers=staff_h)).json()
    assert [e["kind"] for e in view["timeline"]].count("progress") == 1   # applied once
    full = await api.post(f"/cases/{no}/actions", json={**note, "note": "再次联系"}, headers=staff_h)
    assert full.status_code == 200 and "Preference-Applied" not in full.headers
    assert full.json()["timeline"][-1]["kind"] == "progress" and full.json()["customer"]["phone"] == "138****1234"
    refused = await api.post(f"/cases/{no}/actions", json={"action": "close", "outcome_note": "x"},
                             headers={**await staff.headers("finance"), **minimal})
    assert refused.status_code in (403, 404) and "Preference-Applied" not in refused.headers


@pytest.mark.asyncio
async def test_an_intake_opens_its_case_with_one_read_model_step(api, staff, dev_env):
    """The API reads the case's configuration and puts it into the start; the case's first workflow task
    then takes one read-model step (the projection, answering C11's count too): no step for the
    configuration, none for the count. Before it, the P4 check of the API's assertion over the start (a
    local activity in the same task, keyed by the worker: no read-model step)."""
    r = await api.post("/complaints", json=COMPLAINT, headers={**await staff.headers("hotline"), "Prefer": "return=minimal"})
    assert r.status_code == 201, r.text
    steps = []  # the case's history so far: its opening (nothing else is due for hours)
    async for event in dev_env.client.get_workflow_handle(r.json()["case_no"]).fetch_history_events():
        attributes = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and attributes.marker_name == "core_local_activity":
            steps.append(json.loads(attributes.details["data"].payloads[0].data)["activity_type"])
        if event.HasField("activity_task_scheduled_event_attributes"):  # C11's warning (projected, sent), if due
            steps.append(event.activity_task_scheduled_event_attributes.activity_type.name)
    assert steps[:2] == ["verify_start", "project_case"], steps
    assert set(steps[1:]) <= {"project_case", "send_notification"}, steps
