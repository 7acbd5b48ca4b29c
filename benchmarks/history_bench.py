"""How big a case's history grows: events and bytes per case, e-mails per case, on the
time-skipping test server (its clock jumps, so 30 working days of demo time take seconds).

    .venv/bin/python -m benchmarks.history_bench                # general path + 30 working days alone
    .venv/bin/python -m benchmarks.history_bench --days 60

Two cases: the README's general complaint path (classify .. close), and a complaint classified and
then left alone for N working days on demo time (every level of the ladder, every C5 reminder).
For a case that continued as new, every run of it is counted (events and bytes summed over runs).
Prints figures; asserts nothing.
"""

import argparse
import asyncio
import json
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from adapters.temporal.codec import data_converter, new_key
from adapters.config import Settings
from adapters.bootstrap import prepare_database
from adapters.db.session import make_engine, make_sessionmaker
from aftersales.roles import Role
from adapters.temporal.setup import register_search_attributes
from tests.conftest import binary
from tests.support.smtp import SMTPServer
from tests.workflows.helpers import act, start_complaint
from worker import build_worker

R = Role
DEMO_SECONDS = 30


async def history_size(client: Client, workflow_id: str) -> tuple[int, int, int]:
    """(events, bytes of the JSON histories, runs) over every run of the workflow."""
    events = size = runs = 0
    run_id: str | None = None
    handle = client.get_workflow_handle(workflow_id)
    # Follow the chain of runs backwards from the latest: each run's first event names its predecessor.
    while True:
        h = client.get_workflow_handle(workflow_id, run_id=run_id) if run_id else handle
        history = await h.fetch_history()
        events += len(history.events)
        size += len(json.dumps(history.to_json_dict()))
        runs += 1
        first = history.events[0]
        if first.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            break
        previous = first.workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            break
        run_id = previous
    return events, size, runs


async def general_path(h: WorkflowHandle) -> None:
    handler = "li.handler"
    for role, action, user in [
        (R.cs_staff, {"action": "classify", "category": "漏水", "department": "工程部", "justified": True}, None),
        (R.dept_head, {"action": "assign_handler", "handler": handler}, None),
        (R.dept_handler, {"action": "department_feedback", "findings": "防水层破损"}, handler),
        (R.dept_handler, {"action": "propose_solution", "solution": "重做防水", "compensation": "800.00"}, handler),
        (R.cs_manager, {"action": "decide", "decision": "approve"}, None),
        (R.cs_staff, {"action": "inform_customer", "message": "下周一重做防水"}, None),
        (R.finance, {"action": "record_compensation_paid", "amount": "800.00", "reference": "BC-2026-001"}, None),  # A1
        (R.cs_staff, {"action": "record_satisfaction", "told_via": "phone", "score": 4}, None),
        (R.cs_staff, {"action": "summarise", "summary": "s", "corrective_measures": "c", "preventive_measures": "p"}, None),
        (R.cs_staff, {"action": "close", "outcome_note": "已修复"}, None),
    ]:
        await act(h, role, action, user)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="working days the lonely complaints are left alone")
    parser.add_argument("--cases", type=int, default=5, help="complaints left alone together")
    args = parser.parse_args()
    from adapters.logging import configure_logging
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp, SMTPServer() as smtp:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'rm.db'}", smtp_host="127.0.0.1",
                            smtp_port=smtp.port, bcrypt_rounds=4, task_queue=f"bench-{uuid.uuid4().hex[:8]}",
                            demo_seconds_per_working_day=DEMO_SECONDS,
                            codec_keys=dict([new_key()]))  # encrypted, as in production (P4); nothing under data/
        await prepare_database(settings)
        engine = make_engine(settings.database_url)
        maker = make_sessionmaker(engine)
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=binary("temporal-test-server"), data_converter=data_converter(settings))
        await register_search_attributes(env.client, "default")
        try:
            async with env, build_worker(env.client, settings, maker):
                mails = len(smtp.messages)
                h = await start_complaint(env.client, settings)
                await general_path(h)
                await h.result()
                await asyncio.sleep(1)
                events, size, runs = await history_size(env.client, h.id)
                print(f"general complaint path: {events} events, {size / 1024:.0f} KB, {runs} run(s), "
                      f"{len(smtp.messages) - mails} e-mails")

                mails = len(smtp.messages)
                handles = [await start_complaint(env.client, settings) for _ in range(args.cases)]
                for h in handles:
                    await act(h, R.cs_staff, {"action": "classify", "category": "漏水", "department": "工程部",
                                              "justified": True})
                await env.sleep(timedelta(seconds=args.days * DEMO_SECONDS))
                await asyncio.sleep(2)
                events, size, runs = await history_size(env.client, handles[0].id)
                sent = len(smtp.messages) - mails
                print(f"{args.cases} complaints left alone {args.days} working days (demo time): per case "
                      f"{events} events, {size / 1024:.0f} KB, {runs} run(s); {sent} e-mails in all, "
                      f"{sent / args.cases:.1f} per case")
                for h in handles:
                    await h.terminate("benchmark over")
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
