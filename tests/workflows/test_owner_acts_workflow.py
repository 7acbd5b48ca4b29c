"""The owner's own acts (O3–O5, rules 4) as Updates of a repair on the time-skipping server: the owner accepts the
proposed time, signs the work off and answers the survey through the `act` Update the API signs (P4), each
entry with its provenance (O4); an owner actor bound to another case, or sent unsigned, is refused by the validator;
an owner silent 3 working days after the inspection: cs_staff is told to call, and records the sign-off (代录)."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from aftersales.actions import ActionRequest
from aftersales.actor import OwnerActor
from aftersales.case import CURRENT_RULES_VERSION
from aftersales.roles import Role
from tests.workflows.helpers import act, attach, record_history, running_worker, skip_until, start_repair, vouched
from tests.workflows.test_repair_workflow import survey_signed
from workflows.case_workflow import CaseWorkflow

R = Role


async def owner_act(h, action: dict, *, means: str = "link", case_no: str | None = None, signed: bool = True) -> dict:
    """The owner's act as the owner pages send it: the owner actor bound to its case, vouched for by the API."""
    request = ActionRequest.model_validate({"action": action, "actor": OwnerActor(case_no=case_no or h.id, means=means)})
    await h.execute_update(CaseWorkflow.act, vouched(h, request) if signed else request)
    return await h.query(CaseWorkflow.state)


async def owner_refused(h, action: dict, kind: str, **kw) -> str:
    try:
        await owner_act(h, action, **kw)
    except WorkflowUpdateFailedError as e:
        assert getattr(e.cause, "type", None) == kind, e.cause
        return str(e.cause)
    raise AssertionError(f"{action['action']} by the owner was accepted")


def entries(view: dict, kind: str) -> list[dict]:
    return [t for t in view["timeline"] if t["kind"] == kind]


async def inspected(h) -> dict:
    await survey_signed(h, "0.00", "B", contractor=False)
    await act(h, R.cs_staff, {"action": "dispatch", "workers": ["wang"]})
    await attach(h, R.repair_lead, "after_work")                                                        # D2
    await act(h, R.repair_lead, {"action": "complete_work", "note": "已更换水管"})
    await act(h, R.cs_staff, {"action": "inspect", "passed": True})
    return await act(h, R.repair_lead, {"action": "inspect", "passed": True})


@pytest.mark.asyncio
async def test_O3_O4_the_owner_accepts_the_time_signs_off_and_answers_the_survey(ts_env, settings, sessionmaker,
                                                                                 smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        view = await h.query(CaseWorkflow.state)
        assert view["rules_version"] == CURRENT_RULES_VERSION == 4
        at = (await ts_env.get_current_time() + timedelta(days=1)).isoformat()
        await act(h, R.cs_staff, {"action": "propose_appointment", "appointment_at": at})
        # P4, O2: unsigned, or bound to another case, the owner's act never reaches the case
        await owner_refused(h, {"action": "accept_appointment"}, "forbidden", signed=False)
        await owner_refused(h, {"action": "accept_appointment"}, "forbidden", case_no="WX-2026-999999")
        await owner_refused(h, {"action": "dispatch", "workers": ["wang"]}, "forbidden")                 # staff's
        view = await owner_act(h, {"action": "accept_appointment"}, means="code")
        assert view["status"] == "scheduled" and view["proposed_appointment"] is None
        (agreed,) = entries(view, "appointment")
        assert agreed["actor"] == "owner" and agreed["provenance"]["by"] == "owner"
        assert agreed["provenance"]["means"] == "code"
        view = await inspected(h)
        assert view["status"] == "inspected" and any(d["key"] == "sign_off" and d["rule"] == "O5"
                                                     for d in view["deadlines"])
        view = await owner_act(h, {"action": "owner_sign_off", "quality": 5, "attitude": 4, "comment": "满意"})
        assert view["status"] == "completed" and view["sign_off"]["provenance"]["means"] == "link"
        assert next(d for d in view["deadlines"] if d["key"] == "sign_off")["state"] == "met"
        view = await owner_act(h, {"action": "revisit", "satisfaction": 5, "quality": 5, "attitude": 5})
        assert view["status"] == "revisited" and view["revisits"][-1]["provenance"]["by"] == "owner"
        assert [t["provenance"]["by"] for t in entries(view, "signed_off") + entries(view, "revisit")] == ["owner"] * 2
        await record_history(h, "repair_owner_acts_rules_v4")


@pytest.mark.asyncio
async def test_O5_an_owner_silent_3_working_days_cs_staff_is_told_to_call_and_records_it(ts_env, settings,
                                                                                         sessionmaker, smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        h = await start_repair(ts_env.client, settings)
        await inspected(h)

        async def called():
            view = await h.query(CaseWorkflow.state)
            told = [t for t in view["timeline"] if t["kind"] == "notification" and "请致电业主" in t["text"]]
            return view if told else None

        view = await skip_until(ts_env, called, settles=h)
        sign_off = next(d for d in view["deadlines"] if d["key"] == "sign_off")
        assert sign_off["state"] == "missed" and sign_off["level"] == 0        # cs_staff first, the ladder later
        assert "客户服务部人员" in next(t["text"] for t in view["timeline"] if "请致电业主" in t["text"])
        view = await act(h, R.cs_staff, {"action": "owner_sign_off", "told_via": "phone", "quality": 4, "attitude": 4})
        assert view["status"] == "completed"
        given = view["sign_off"]["provenance"]
        assert (given["by"], given["means"], given["staff"]) == ("staff", "phone", "cs_staff")
        assert next(d for d in view["deadlines"] if d["key"] == "sign_off")["state"] == "met_late"
        await record_history(h, "repair_owner_silent_called_rules_v4")
