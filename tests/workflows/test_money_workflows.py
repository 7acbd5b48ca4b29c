"""Money paths on the time-skipping server: an owner-paid repair from quote to the
owner's payment (R3), an owner who declines (the case ends, its timers with it), and a complaint's
compensation approved by its A1 band and paid by finance before closing. Each records its history."""

import pytest

from aftersales.roles import Role
from tests.workflows.helpers import act, act_refused, attach, record_history, running_worker, start_complaint, start_repair
from tests.workflows.test_complaint_workflow import general_path

R = Role
SCHEDULE = {"version": 1, "items": [{"code": "TAP", "name": "更换水龙头", "unit": "个", "unit_price": "45.00"},
                                    {"code": "PIPE", "name": "更换水管", "unit": "米", "unit_price": "32.50"}]}
QUOTE = {"action": "quote", "items": [{"code": "TAP", "quantity": "1"}, {"code": "PIPE", "quantity": "2"}],
         "extras": [{"name": "角阀", "unit": "个", "unit_price": "18.00", "quantity": "1", "reason": "原角阀锈死"}],
         "schedule": SCHEDULE}


@pytest.mark.asyncio
async def test_R3_paid_service_quote_acceptance_work_and_the_owners_payment(ts_env, settings, sessionmaker,
                                                                            smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings, paid_service=True)
        view = await act(h, R.repair_lead, QUOTE)
        assert view["status"] == "quoted" and view["quote"]["total"] == "128.00"
        await act_refused(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"]}, "conflict")
        now = view["timeline"][-1]["at"]
        view = await act(h, R.cs_staff, {"action": "accept_quote", "told_via": "phone", "signed_by": "李先生", "signed_at": now})
        assert view["status"] == "quote_accepted"
        await act(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"]})
        await attach(h, R.repair_lead, "after_work")                                                    # D2
        await act(h, R.repair_lead, {"action": "complete_work", "note": "已更换"})
        await act(h, R.cs_staff, {"action": "inspect", "passed": True})
        await act(h, R.repair_lead, {"action": "inspect", "passed": True})
        await act(h, R.cs_staff, {"action": "owner_sign_off", "told_via": "phone", "quality": 5, "attitude": 5})
        view = await act(h, R.cs_staff, {"action": "revisit", "told_via": "phone", "satisfaction": 5, "quality": 5, "attitude": 5})
        assert view["status"] == "revisited" and view["approvals"] == []              # no A1, A2, A3
        await act_refused(h, R.repair_lead, {"action": "cost_statement", "amount": "128.00", "note": "x"}, "conflict")
        view = await act(h, R.finance, {"action": "record_service_payment", "amount": "128.00", "method": "wechat",
                                        "receipt_no": "SJ-2026-0001"})
        assert view["status"] == "closed" and view["outcome"] == "completed"
        await h.result()
        await record_history(h, "repair_paid_service")


@pytest.mark.asyncio
async def test_R3_an_owner_who_declines_ends_the_case_and_its_reminders(ts_env, settings, sessionmaker, smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings, paid_service=True)
        await act(h, R.cs_staff, QUOTE)
        view = await act(h, R.butler, {"action": "decline_quote", "told_via": "phone", "reason": "业主嫌贵，自行维修"})
        assert view["status"] == "closed" and view["outcome"] == "declined"
        assert all(d["state"] in ("met", "waived") for d in view["deadlines"])
        result = await h.result()                                                     # the workflow ends
        assert result.outcome == "declined"
        await record_history(h, "repair_paid_declined")


@pytest.mark.asyncio
async def test_A1_compensation_approved_by_its_band_and_paid_before_closing(ts_env, settings, sessionmaker,
                                                                           smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_complaint(ts_env.client, settings)
        await general_path(h)                                                         # compensation 800
        await act(h, R.cs_manager, {"action": "decide", "decision": "request_changes", "reason": "补偿应提高"})
        view = await act(h, R.dept_handler, {"action": "propose_solution", "solution": "重做防水并赔偿损失",
                                             "compensation": "12000.00"}, "li.handler")
        assert [s["role"] for s in view["approvals"][-1]["steps"]] == ["cs_manager", "deputy_chief_engineer",
                                                                       "deputy_gm", "gm"]
        for role in ("cs_manager", "deputy_chief_engineer", "deputy_gm"):
            view = await act(h, R(role), {"action": "decide", "decision": "approve"})
        assert view["status"] == "awaiting_approval" and view["a1"]["missing"] == ["gm"]
        view = await act(h, R.gm, {"action": "decide", "decision": "approve"})
        assert view["status"] == "approved"
        await act(h, R.cs_staff, {"action": "inform_customer", "message": "重做防水并赔偿12000元"})
        await act(h, R.cs_staff, {"action": "record_satisfaction", "told_via": "phone", "score": 4})
        await act(h, R.cs_staff, {"action": "summarise", "summary": "s", "corrective_measures": "c",
                                  "preventive_measures": "p"})
        await act_refused(h, R.cs_staff, {"action": "close", "outcome_note": "x"}, "conflict")
        await act(h, R.finance, {"action": "record_compensation_paid", "amount": "12000.00", "reference": "BC-7"})
        view = await act(h, R.cs_staff, {"action": "close", "outcome_note": "已赔偿"})
        assert view["status"] == "closed"
        await h.result()
        await record_history(h, "complaint_compensation")
