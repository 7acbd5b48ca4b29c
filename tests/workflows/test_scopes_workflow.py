"""P5 on the time-skipping server (rules 3): a case opened with its project and company keeps them in its state and
its register row; an account of another company is refused by the case itself (P1 within the scope); the major
complaint's notices (C8, E2) reach the case's company — by its role mailbox where it has no account of the role —
and the group's executive, never the other company's executives."""

import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from adapters.db.models import Case
from aftersales.actions import ActionRequest
from aftersales.actor import Actor
from aftersales.case import CURRENT_RULES_VERSION
from aftersales.org import CaseOrg
from aftersales.roles import Role
from workflows.case_workflow import CaseWorkflow
from workflows.complaint import ComplaintWorkflow, StartComplaint
from tests.workflows.helpers import (
    _STARTED, act, actor, complaint_intake, opening_config, record_history, running_worker, signed, vouched, wait_for,
)
from tests.workflows.test_complaint_workflow import finish

from aftersales.case import Customer

R = Role


async def assign(h, handler: Actor) -> None:
    """assign_handler by the department's head, naming `handler` as the API resolved the account (its company)."""
    await h.execute_update(CaseWorkflow.act, vouched(h, ActionRequest.model_validate({
        "action": {"action": "assign_handler", "handler": handler.username},
        "actor": actor(R.dept_head).model_dump(), "accounts": [handler.model_dump()]})))


@pytest.mark.asyncio
async def test_P5_C8_E2_a_major_complaint_of_海景置业_tells_its_people_and_the_groups_executive(
        ts_env, settings, sessionmaker, smtp_server):
    async with running_worker(ts_env, settings, sessionmaker):
        case_no = f"TS-2026-{uuid.uuid4().int % 10**6:06d}"
        intake = complaint_intake(major=True, customer=Customer(name="许先生", phone="13812341234", project="海景苑",
                                                                building="2栋", unit="202"))
        h = await ts_env.client.start_workflow(
            ComplaintWorkflow.run, signed(StartComplaint(case_no=case_no, registered_by=actor(R.hotline), intake=intake,
                                                         config=await opening_config(settings),
                                                         organisation=CaseOrg(project_key="海景苑", company_id="hj"))),
            id=case_no, task_queue=settings.task_queue)
        _STARTED.append(h)
        view = await h.execute_update(CaseWorkflow.opened) and await h.query(CaseWorkflow.state)
        assert (view["company_id"], view["project_key"], view["rules_version"]) == ("hj", "海景苑", CURRENT_RULES_VERSION)
        # 融侨置业's manager is refused by the case itself (the API answers 404 before it asks)
        rq_manager = Actor(username="cs_manager", role=R.cs_manager, company_id="rq")
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await h.execute_update(CaseWorkflow.act, vouched(h, ActionRequest.model_validate({
                "action": {"action": "record_meeting", "minutes": "m", "attendees": ["gm"]},
                "actor": rq_manager.model_dump()})))
        assert e.value.cause.type == "forbidden" and "不在 cs_manager 的范围内（P5）" in str(e.value.cause)
        await act(h, R.cs_manager, {"action": "record_meeting", "minutes": "紧急会议", "attendees": ["gm", "deputy_gm"]})
        await act(h, R.cs_staff, {"action": "classify", "category": "漏水", "department": "工程部", "justified": True})
        # C3, P5: the named handler is 海景置业's; 融侨置业's handler of the same department is refused
        ours = Actor(username="dept_handler2", role=R.dept_handler, department="工程部", company_id="hj")
        theirs = Actor(username="dept_handler", role=R.dept_handler, department="工程部", company_id="rq")
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await assign(h, theirs)
        assert e.value.cause.type == "invalid" and "不是本案所属公司（hj）的专人" in str(e.value.cause)
        await assign(h, ours)
        await act(h, R.dept_handler, {"action": "department_feedback", "findings": "防水层破损"}, "dept_handler2")
        await act(h, R.dept_handler, {"action": "propose_solution", "solution": "重做防水", "compensation": "800.00"},
                  "dept_handler2")
        await finish(h, approver=R.gm)
        await act(h, R.gm, {"action": "decide", "decision": "approve"})
        await act(h, R.cs_manager, {"action": "file_special_report", "report": "专题报告"})
        view = await act(h, R.cs_manager, {"action": "close", "outcome_note": "done"})
        assert view["status"] == "closed" and view["major"]
        await h.result()
        await record_history(h, "complaint_major_company_rules_v3")

    async with sessionmaker() as session:
        row = await session.get(Case, case_no)
        assert (row.company_id, row.project_key) == ("hj", "海景苑")
    c8 = [m for m in smtp_server.messages if m.headers["X-Aftersales-Case"] == case_no and "重大投诉" in m.subject]
    told = {a for m in c8 for a in m.to}
    # 海景置业 has no gm or deputy_gm account: its role mailboxes; the group's executive; never 融侨置业's gm
    assert {"gm@haijing.example.com", "deputy_gm@haijing.example.com", "group_gm@example.com"} <= told, told
    assert "gm@example.com" not in told and "deputy_gm@example.com" not in told
