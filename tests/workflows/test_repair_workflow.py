"""Repair workflows on the time-skipping server: the whole procedure with its approvals (R1–R9,
A1–A3), deadlines and extensions on timers (R2, R4, R8, E1), late arrival (R1), the deposit ledger
booked once (A3), worker scores (R9), and a complaint that opens a repair and closes after it."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from adapters.db import ledger
from adapters.db.models import Staff, WorkerEvaluation
from aftersales.roles import Role
from tests.workflows.helpers import (
    act, act_refused, attach, record_history, running_worker, start_complaint, start_repair, wait_for, skip_time, sleep_past,
)
from tests.workflows.test_complaint_workflow import finish, general_path

R = Role


def due(view: dict, key: str) -> str:
    return next(d for d in view["deadlines"] if d["key"] == key and d["state"] in ("open", "missed"))["due_at"]


async def survey_signed(h, estimate: str, order_type: str, contractor: bool, multi_trade: bool = False) -> dict:
    await act(h, R.cs_staff, {"action": "record_survey", "responsible_party": "维修队", "multi_trade": multi_trade,
                              "estimate": estimate, "order_type": order_type,
                              "contractor_id": "C-001" if order_type == "A" else None})
    view = None
    for role in (R.cs_staff, R.engineering, R.repair_lead) + ((R.contractor,) if contractor else ()):
        view = await act(h, role, {"action": "sign_survey"})
    return view


async def work_done_and_signed_off(h, quality: int = 5, attitude: int = 5) -> dict:
    await attach(h, R.repair_lead, "after_work")                                                        # D2
    await act(h, R.repair_lead, {"action": "complete_work", "note": "已更换水管"})
    await act(h, R.cs_staff, {"action": "inspect", "passed": True})
    await act(h, R.repair_lead, {"action": "inspect", "passed": True})
    return await act(h, R.cs_staff, {"action": "owner_sign_off", "told_via": "phone", "quality": quality, "attitude": attitude})


@pytest.mark.asyncio
async def test_R1_R9_A1_A3_warranty_repair_runs_to_closed_and_deducts_the_deposit_once(
        ts_env, settings, sessionmaker, smtp_server):
    async with sessionmaker() as s:
        await ledger.put_contractor(s, "C-001", "建工三公司", Decimal("50000.00"), by="finance", at=datetime.now(UTC))
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        view = await survey_signed(h, "1500.00", "A", contractor=True)
        assert view["status"] == "cost_approval" and view["waiting_for"] == "deputy_chief_engineer"   # A1
        await act_refused(h, R.engineering, {"action": "dispatch", "workers": ["wang"]}, "conflict")      # A1
        await act(h, R.deputy_chief_engineer, {"action": "decide", "decision": "approve"})
        await act_refused(h, R.gm, {"action": "decide", "decision": "approve"}, "forbidden")              # A4
        view = await act(h, R.deputy_gm, {"action": "decide", "decision": "approve"})
        assert view["status"] == "surveyed"
        await act_refused(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"], "to_contractor": True},
                          "forbidden")                                                                    # R5
        view = await act(h, R.engineering, {"action": "dispatch", "workers": ["wang", "zhao"], "to_contractor": True})
        assert view["status"] == "in_progress"
        await work_done_and_signed_off(h)
        view = await act(h, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 4})
        assert view["status"] == "revisited"
        view = await act(h, R.repair_lead, {"action": "cost_statement", "amount": "1480.00", "note": "材料+人工"})
        for role in (R.cs_manager, R.contractor, R.deputy_chief_engineer):                               # A2, A3
            assert view["waiting_for"] == role
            view = await act(h, role, {"action": "decide", "decision": "approve"})
        assert view["status"] == "awaiting_payment"
        await act_refused(h, R.finance, {"action": "pay", "amount": "1480.00", "reference": "FK-2026-0042"},
                          "conflict")                                                                   # D2
        await attach(h, R.repair_lead, "cost_statement", "signed")
        view = await act(h, R.finance, {"action": "pay", "amount": "1480.00", "reference": "FK-2026-0042"})
        assert view["status"] == "closed"
        await h.result()
        await record_history(h, "repair_warranty")

    async with sessionmaker() as s:
        statement = await ledger.deposit_statement(s, "C-001")
        assert statement["balance"] == Decimal("48520.00")
        assert [e["kind"] for e in statement["entries"]] == ["lodged", "deduction"]
        scores = (await s.scalars(select(WorkerEvaluation).where(WorkerEvaluation.case_no == h.id))).all()
        assert {(w.worker, w.source, w.quality, w.attitude) for w in scores} == {           # R9: one per event
            ("wang", "sign_off", 5, 5), ("zhao", "sign_off", 5, 5), ("wang", "revisit", 5, 4), ("zhao", "revisit", 5, 4)}


async def _evaluations(sessionmaker, case_no: str) -> list[tuple]:
    async with sessionmaker() as s:
        rows = (await s.scalars(select(WorkerEvaluation).where(WorkerEvaluation.case_no == case_no)
                                .order_by(WorkerEvaluation.id))).all()
    return [(e.evaluation_key.removeprefix(case_no + ":"), e.worker, e.quality, e.attitude) for e in rows]


@pytest.mark.asyncio
async def test_R9_a_reopened_repair_keeps_the_first_evaluation_and_adds_the_second(
        ts_env, settings, sessionmaker, smtp_server):
    """Round 1 scored 1/1 at the sign-off and at the revisit (2/2), reopened; round 2 scored 5/5 and 5/5
    (10/10): all four evaluations are kept and the quarter's report sums them (12/12)."""
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        await survey_signed(h, "0.00", "B", contractor=False)
        await act(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"]})
        await work_done_and_signed_off(h, quality=1, attitude=1)
        view = await act(h, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 1, "quality": 1, "attitude": 1,
                                         "follow_up": "reopen", "note": "仍漏水"})
        assert view["status"] == "in_progress"
        await work_done_and_signed_off(h, quality=5, attitude=5)
        await act(h, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5})
        await act(h, R.repair_lead, {"action": "cost_statement", "amount": "0.00", "note": "保修期内自修"})
        await act(h, R.cs_manager, {"action": "decide", "decision": "approve"})
        await act(h, R.deputy_chief_engineer, {"action": "decide", "decision": "approve"})
        await act(h, R.finance, {"action": "pay", "amount": "0.00", "reference": "-"})
        await h.result()
        await record_history(h, "repair_reopened_two_evaluations")
    assert await _evaluations(sessionmaker, h.id) == [
        ("round-1:sign_off", "wang", 1, 1), ("round-1:revisit", "wang", 1, 1),
        ("round-2:sign_off", "wang", 5, 5), ("round-2:revisit", "wang", 5, 5)]
    async with sessionmaker() as s:
        quarter = ledger.quarter_of((await s.scalars(select(WorkerEvaluation.at))).first())
        [wang] = await ledger.worker_report(s, quarter)
    assert (wang["evaluations"], wang["quality_total"], wang["attitude_total"]) == (4, 12, 12)


@pytest.mark.asyncio
async def test_A3_a_deposit_short_of_the_settlement_goes_to_zero_tells_finance_and_the_contractor_and_closes(
        ts_env, settings, sessionmaker, smtp_server):
    async with sessionmaker() as s:
        await ledger.put_contractor(s, "C-001", "建工三公司", Decimal("1000.00"), by="finance", at=datetime.now(UTC))
        (await s.get(Staff, "contractor")).contractor_id = "C-001"  # the demo contractor's account acts for C-001
        await s.commit()
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        await survey_signed(h, "800.00", "A", contractor=True)
        await act(h, R.cs_manager, {"action": "decide", "decision": "approve"})                           # A1 ≤ 1000
        await act(h, R.engineering, {"action": "dispatch", "workers": ["jian"], "to_contractor": True})    # R5
        await work_done_and_signed_off(h)
        await act(h, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5})
        await act(h, R.repair_lead, {"action": "cost_statement", "amount": "1200.50", "note": "材料+人工"})
        for role in (R.cs_manager, R.contractor, R.deputy_chief_engineer, R.deputy_gm):  # A2, A3; A1 on 1,200.50
            await act(h, role, {"action": "decide", "decision": "approve"})
        await attach(h, R.repair_lead, "cost_statement", "signed")                                     # D2
        view = await act(h, R.finance, {"action": "pay", "amount": "1200.50", "reference": "FK-2026-0043"})
        assert view["status"] == "closed"                                                                # still closes
        await h.result()
        await record_history(h, "repair_deposit_shortfall")
        view = await _query(h)
    assert view["deduction"]["deducted"] == "1000.00" and view["deduction"]["shortfall"] == "200.50"
    shortfall = next(t for t in view["timeline"] if t["kind"] == "deposit_shortfall")
    assert "差额¥200.50" in shortfall["text"]
    notified = [t["text"] for t in view["timeline"] if t["kind"] == "notification" and "质量保证金不足" in t["text"]]
    assert notified and "未配置收件人" not in notified[0]
    mails = [m for m in smtp_server.messages if "质量保证金不足" in m.subject]
    assert {r for m in mails for r in m.to} == {"finance@example.com", "contractor@example.com"}
    async with sessionmaker() as s:
        statement = await ledger.deposit_statement(s, "C-001")
    assert statement["balance"] == Decimal("0.00") and statement["shortfall"] == Decimal("200.50")


@pytest.mark.asyncio
async def test_R6_R7_failed_inspection_and_dissatisfied_owner(ts_env, settings, sessionmaker, smtp_server):
    """(Owner-paid repairs run their own path, R3: tests/workflows/test_money_workflows.py.)"""
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        view = await survey_signed(h, "300.00", "B", contractor=False)                                   # R2 < 500
        assert view["status"] == "cost_approval" and view["waiting_for"] == "cs_manager"                  # A1 ≤ 1000
        await act(h, R.cs_manager, {"action": "decide", "decision": "approve"})
        view = await act(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"]})
        work_due = due(view, "work")
        await attach(h, R.repair_lead, "after_work")                                                    # D2
        await act(h, R.repair_lead, {"action": "complete_work", "note": "done"})
        view = await act(h, R.cs_staff, {"action": "inspect", "passed": False, "note": "仍渗水"})       # R6
        assert view["status"] == "in_progress" and due(view, "work") == work_due
        await work_done_and_signed_off(h, quality=2, attitude=3)
        view = await act(h, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 2, "quality": 2, "attitude": 2,
                                         "follow_up": "cs_manager_follow_up"})                             # R7, V3
        assert view["status"] == "follow_up"
        view = await act(h, R.cs_manager, {"action": "follow_up", "note": "上门致歉并复查"})
        assert view["status"] == "revisited"
        view = await act(h, R.repair_lead, {"action": "cost_statement", "amount": "300.00", "note": "n"})
        assert [s["role"] for s in view["approvals"][-1]["steps"]] == ["cs_manager", "deputy_chief_engineer"]
        await act(h, R.cs_manager, {"action": "decide", "decision": "approve"})
        await act(h, R.deputy_chief_engineer, {"action": "decide", "decision": "approve"})
        await act(h, R.finance, {"action": "pay", "amount": "300.00", "reference": "FK-1"})
        await h.result()
        await record_history(h, "repair_follow_up")


@pytest.mark.asyncio
async def test_R1_R2_R4_R8_late_arrival_deadlines_extension_and_escalation_on_timers(
        ts_env, settings, sessionmaker, smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        appointment = await ts_env.get_current_time() + timedelta(minutes=5)
        await act_refused(h, R.cs_staff, {"action": "agree_appointment", "told_via": "phone",
                                          "appointment_at": "2026-01-05T10:00:00+08:00"}, "invalid")  # R1: a time gone
        view = await act(h, R.cs_staff, {"action": "agree_appointment", "told_via": "phone", "appointment_at": appointment.isoformat()})
        await act_refused(h, R.repair_lead, {"action": "record_arrival",
                                             "arrived_at": (appointment + timedelta(hours=3)).isoformat()}, "invalid")
        await skip_time(ts_env, timedelta(minutes=30))             # the worker comes 25 minutes late
        arrived = (appointment + timedelta(minutes=25)).isoformat()
        view = await act(h, R.repair_lead, {"action": "record_arrival", "arrived_at": arrived})
        assert view["late_arrival"] is True and view["late_arrivals"] == 1                               # R1
        # R2: the survey is due within 1 working day; missed, it escalates (E1)
        await sleep_past(ts_env, due(view, "survey"))
        view = await wait_for(lambda: _level_at_least(h, 1))
        assert view["escalated_to"] == "dept_head"
        await survey_signed(h, "0.00", "B", contractor=False, multi_trade=True)
        view = await act(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"]})
        work = next(d for d in view["deadlines"] if d["key"] == "work" and d["state"] == "open")
        assert "多工种，7 个工作日" in work["label"]                                              # R4
        new_due = (datetime.fromisoformat(work["due_at"]) + timedelta(days=3)).isoformat()
        view = await act(h, R.cs_staff, {"action": "extend_deadline", "told_via": "phone", "new_due_at": new_due,
                                         "owner_consent": "业主电话同意, 2026-11-24"})                      # R8
        assert datetime.fromisoformat(due(view, "work")) == datetime.fromisoformat(new_due)
        await sleep_past(ts_env, new_due)
        await wait_for(lambda: _deadline_missed(h, "work"))
        await act_refused(h, R.cs_staff, {"action": "extend_deadline", "told_via": "phone", "new_due_at": "2031-01-01T10:00:00+08:00",
                                          "owner_consent": "太晚了"}, "conflict")                           # R8
        await record_history(h, "repair_late_extended_escalated")


@pytest.mark.asyncio
async def test_C6_complaint_opens_a_repair_shows_its_progress_and_closes_only_after_it(
        ts_env, settings, sessionmaker, smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        c = await start_complaint(ts_env.client, settings)
        await general_path(c)
        soon = (await ts_env.get_current_time() + timedelta(days=7)).isoformat()  # R1: within 90 days
        view = await act(c, R.cs_staff, {"action": "open_repair", "trades": ["防水"], "description": "重做卫生间防水",
                                         "requested_appointment": soon})
        repair_no = view["linked_case_no"]
        assert repair_no.startswith("WX-") and view["linked_status"] == "registered"
        await act_refused(c, R.cs_staff, {"action": "open_repair", "trades": ["防水"], "description": "again",
                                          "requested_appointment": soon}, "conflict")
        r = ts_env.client.get_workflow_handle(repair_no)
        await survey_signed(r, "0.00", "B", contractor=False)
        await act(r, R.cs_staff, {"action": "dispatch", "workers": ["wang"]})
        view = await wait_for(lambda: _linked_status(c, "in_progress"))
        await finish(c)
        await act_refused(c, R.cs_staff, {"action": "close", "outcome_note": "x"}, "conflict")
        await work_done_and_signed_off(r)
        await act(r, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5})
        await act(r, R.repair_lead, {"action": "cost_statement", "amount": "0.00", "note": "保修期内自修"})
        await act(r, R.cs_manager, {"action": "decide", "decision": "approve"})
        await act(r, R.deputy_chief_engineer, {"action": "decide", "decision": "approve"})
        await act(r, R.finance, {"action": "pay", "amount": "0.00", "reference": "-"})
        await wait_for(lambda: _linked_status(c, "closed"))
        view = await act(c, R.cs_staff, {"action": "close", "outcome_note": "维修完成"})
        assert view["status"] == "closed"
        await c.result()
        await record_history(c, "complaint_with_repair")


async def _query(h):
    from workflows.case_workflow import CaseWorkflow
    return await h.query(CaseWorkflow.state)


async def _level_at_least(h, level: int):
    view = await _query(h)
    return view if view["escalation_level"] >= level else None


async def _deadline_missed(h, key: str):
    view = await _query(h)
    return view if any(d["key"] == key and d["state"] == "missed" for d in view["deadlines"]) else None


async def _linked_status(h, status: str):
    view = await _query(h)
    return view if view["linked_status"] == status else None


@pytest.mark.asyncio
async def test_a_repair_whose_complaint_is_gone_goes_on(ts_env, settings, sessionmaker, smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings, parent_case_no="TS-2026-999998")
        soon = (await ts_env.get_current_time() + timedelta(days=7)).isoformat()  # R1: within 90 days
        view = await act(h, R.cs_staff, {"action": "agree_appointment", "told_via": "phone", "appointment_at": soon})
        assert view["status"] == "scheduled" and view["parent_case_no"] == "TS-2026-999998"

        async def signal_failed():
            events = (await h.fetch_history()).events
            return events if any(e.HasField("signal_external_workflow_execution_failed_event_attributes")
                                 for e in events) else None
        events = await wait_for(signal_failed)
        failed = [e for e in events if e.HasField("workflow_task_failed_event_attributes")]
        assert not failed, failed[0].workflow_task_failed_event_attributes.failure.message


def _refs(h, step: str, n: int, start: int) -> list[dict]:
    import hashlib
    return [{"id": f"f{start + i:016x}", "sha256": hashlib.sha256(f"{h.id}:{start + i}".encode()).hexdigest(),
             "kind": "photo", "step": step, "size": 2_345_678, "content_type": "image/jpeg"} for i in range(n)]


@pytest.mark.asyncio
async def test_D1_O3_O4_several_files_in_one_act_and_the_owners_photos_with_their_provenance(
        ts_env, settings, sessionmaker, smtp_server):
    """One upload's files in one act, all or none (D1); the owner's own photos on the intake step carry how the
    owner gave them (O4); the history holds the references only (D3). Recorded: repair_files_many_owner."""
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        given = {"by": "owner", "means": "code", "at": (await ts_env.get_current_time()).isoformat()}
        leak = _refs(h, "intake", 2, 1)
        view = await act(h, R.hotline, {"action": "attach_files", "files": leak, "provenance": given}, "owner_app")
        entries = [t for t in view["timeline"] if t["kind"] == "file"]
        assert [t["file"]["id"] for t in entries] == [f["id"] for f in leak]
        assert all(t["provenance"]["by"] == "owner" and "业主上传" in t["text"] for t in entries)
        await act_refused(h, R.hotline, {"action": "attach_files", "files": [*_refs(h, "intake", 1, 3), leak[0]],
                                         "provenance": given}, "conflict")                    # all or none
        view = await survey_signed(h, "300.00", "B", contractor=False)
        await act(h, R.cs_manager, {"action": "decide", "decision": "approve"})
        await act(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"]})
        view = await act(h, R.repair_lead, {"action": "attach_files", "files": _refs(h, "after_work", 3, 10)})
        assert [f["step"] for f in view["files"]] == ["intake"] * 2 + ["after_work"] * 3              # not the refused one
        await act(h, R.repair_lead, {"action": "complete_work", "note": "已更换水管"})                 # D2: its photos
        await act(h, R.cs_staff, {"action": "inspect", "passed": True})
        await act(h, R.repair_lead, {"action": "inspect", "passed": True})
        await act(h, R.cs_staff, {"action": "owner_sign_off", "told_via": "phone", "quality": 5, "attitude": 5})
        await act(h, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5})
        await act(h, R.repair_lead, {"action": "cost_statement", "amount": "300.00", "note": "n"})
        await act(h, R.cs_manager, {"action": "decide", "decision": "approve"})
        await act(h, R.deputy_chief_engineer, {"action": "decide", "decision": "approve"})
        await act(h, R.finance, {"action": "pay", "amount": "300.00", "reference": "FK-7"})
        await h.result()
        await record_history(h, "repair_files_many_owner")


@pytest.mark.asyncio
async def test_D1_D2_D3_an_upload_in_its_compact_form_and_its_retry(ts_env, settings, sessionmaker, smtp_server):
    """An upload's references as add_files carries them (D3: ~100 bytes a file; its answer no entries, only the
    time), all or none and 20 a step (D1), counted by D2; the same request again (same Update id, or the same
    Idempotency-Key after the case forgot the id) never adds twice. Recorded: repair_files_compact."""
    import hashlib

    from aftersales.files import FileStep, file_id, pack_hash
    from tests.workflows.helpers import actor, vouched
    from workflows.case_workflow import CaseWorkflow
    from aftersales.actions import ActionRequest

    def packed(step: str, n: int, start: int) -> dict:
        files = [[pack_hash(hashlib.sha256(f"{start + i}".encode()).hexdigest()), 1000 + i, "jpg",
                  pack_hash(hashlib.sha256(f"t{start + i}".encode()).hexdigest())] for i in range(n)]
        return {"action": "add_files", "step": step, "kind": "photo", "for_owner": True, "files": files}

    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        view = await survey_signed(h, "300.00", "B", contractor=False)
        await act(h, R.cs_manager, {"action": "decide", "decision": "approve"})
        await act(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"]})
        request = vouched(h, ActionRequest.model_validate({
            "action": packed("after_work", 20, 0), "actor": actor(R.repair_lead).model_dump(),
            "request_key": "k" * 64, "fingerprint": "f" * 64}))
        first = await h.execute_update(CaseWorkflow.act, request, id="files-once")
        assert first.added == [] and first.at is not None                                    # D3: no entries back
        view = await h.query(CaseWorkflow.state)
        sha = hashlib.sha256(b"0").hexdigest()
        assert view["files"][0]["sha256"] == sha and view["files"][0]["id"] == file_id(h.id, FileStep.after_work, sha)
        assert view["files"][0]["content_type"] == "image/jpeg" and view["files"][0]["by"] == "repair_lead"
        assert len(view["files"]) == 20 and view["files"][0]["thumb"] == hashlib.sha256(b"t0").hexdigest()
        again = await h.execute_update(CaseWorkflow.act, request, id="files-once")              # Temporal's answer
        assert again == first
        repeat = await h.execute_update(CaseWorkflow.act, request, id="files-later")           # the case's: a repeat
        assert repeat.at is None and len((await h.query(CaseWorkflow.state))["files"]) == 20
        assert await h.query(CaseWorkflow.applied_request, "k" * 64) == "f" * 64
        await act_refused(h, R.repair_lead, packed("after_work", 1, 100), "invalid")          # D1: 20 a step
        await act(h, R.repair_lead, {"action": "complete_work", "note": "已更换水管"})              # D2: its photos
        await act(h, R.cs_staff, {"action": "inspect", "passed": True})
        await act(h, R.repair_lead, {"action": "inspect", "passed": True})
        await act(h, R.cs_staff, {"action": "owner_sign_off", "told_via": "phone", "quality": 5, "attitude": 5})
        await act(h, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5})
        await act(h, R.repair_lead, {"action": "cost_statement", "amount": "300.00", "note": "n"})
        await act(h, R.cs_manager, {"action": "decide", "decision": "approve"})
        await act(h, R.deputy_chief_engineer, {"action": "decide", "decision": "approve"})
        await act(h, R.finance, {"action": "pay", "amount": "300.00", "reference": "FK-8"})
        await h.result()
        await record_history(h, "repair_files_compact")
