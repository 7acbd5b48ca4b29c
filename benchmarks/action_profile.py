"""Where one action's work goes: `classify` beside `progress_note`, counted end to end.

    .venv/bin/python -m benchmarks.action_profile                 # 20 cases, each action once a case

One dev server, SQLite, an SMTP server on loopback; the API and the worker in this process, each on an engine
of its own, so that the read model's statements are counted apart (SQLAlchemy's cursor events). Each case is
opened, then sent a `progress_note`, then a `classify` (one at a time: nothing of one action overlaps the
next), and after each action its history is read again once the case has settled (no activity in flight):
the events the action added (workflow tasks, activities, local activities = projections and markers, timers,
search-attribute upserts) and the statements each side ran, per action. CPU is not split here (one
process): `throughput_bench` prints it per process, the API's and the worker's apart.
"""

import argparse
import asyncio
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import event
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from adapters.config import Settings
from adapters.db.session import make_engine, make_sessionmaker
from adapters.temporal import search_attributes as sa
from adapters.temporal.codec import data_converter, new_key
from benchmarks.throughput_bench import COMPLAINT, MINIMAL
from benchmarks.workflow_bench import bounded, read_model, shut_down, temporal_cli

COUNTED = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "workflow tasks",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activities",
    EventType.EVENT_TYPE_MARKER_RECORDED: "markers (local activities, patches)",
    EventType.EVENT_TYPE_TIMER_STARTED: "timers started",
    EventType.EVENT_TYPE_TIMER_CANCELED: "timers cancelled",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "search-attribute upserts",
}


class Statements:
    """Statements an engine ran (SQLAlchemy's before_cursor_execute), by their first word and table."""

    def __init__(self, engine) -> None:
        self.counts: Counter[str] = Counter()
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        words = statement.split()
        verb = words[0].upper() if words else "?"
        table = next((w.strip('"') for i, w in enumerate(words[:-1])
                      if words[i].upper() in ("INTO", "FROM", "UPDATE") and i < 40 for w in [words[i + 1]]), "")
        self.counts[f"{verb} {table}".strip()] += 1

    def take(self) -> Counter[str]:
        taken, self.counts = self.counts, Counter()
        return taken


async def history_counts(client, case_no: str) -> tuple[int, Counter[str], list[str]]:
    events, activities = Counter(), []
    n = 0
    async for e in client.get_workflow_handle(case_no).fetch_history_events():
        n += 1
        if e.event_type in COUNTED:
            events[COUNTED[e.event_type]] += 1
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities.append(e.activity_task_scheduled_event_attributes.activity_type.name)
    return n, events, activities


async def settled(client, case_no: str, timeout: float = 20) -> None:
    """Until the case has no activity in flight and no workflow task pending."""
    handle = client.get_workflow_handle(case_no)
    for _ in range(int(timeout / 0.1)):
        d = await handle.describe()
        raw = d.raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.1)


async def run(args: argparse.Namespace) -> None:
    from adapters.logging import configure_logging
    from api.app import create_app
    from tests.support.smtp import SMTPServer
    from worker import build_worker
    configure_logging("WARNING")

    tmp = Path(tempfile.mkdtemp(prefix="aftersales-profile-"))
    env = engine = smtp = None
    try:
        smtp = await bounded(SMTPServer().__aenter__(), 15, "SMTP server start")
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'read-model.db'}", smtp_host="127.0.0.1",
                            smtp_port=smtp.port, bcrypt_rounds=4, task_queue=f"profile-{uuid.uuid4().hex[:10]}",
                            codec_keys=dict([new_key()]), login_failures_per_address=10_000)
        engine, api_maker = await read_model(settings)
        worker_engine = make_engine(settings.database_url)
        api_sql, worker_sql = Statements(engine), Statements(worker_engine)
        env = await bounded(WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=data_converter(settings),
            search_attributes=sa.ALL, ip="127.0.0.1", ui=False), 90, "Temporal dev server start")
        client = env.client
        app = create_app(settings, temporal=client, sessionmaker=api_maker)
        totals: dict[str, dict[str, Counter]] = {}
        mails: dict[str, int] = {}
        async with build_worker(client, settings, make_sessionmaker(worker_engine)), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://profile", timeout=60) as api:
            headers = {}
            for user in ("hotline", "cs_staff"):
                r = await api.post("/auth/token", data={"username": user, "password": settings.demo_password})
                r.raise_for_status()
                headers[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            actions = {
                "progress_note": {"action": "progress_note", "note": "已联系业主"},
                "classify": {"action": "classify", "category": "漏水", "department": "工程部", "justified": True},
            }
            for i in range(args.cases + 1):  # the first case warms up (imports, caches): not counted
                body = {**COMPLAINT, "customer": {**COMPLAINT["customer"], "building": f"{i + 1}栋"}}
                r = await api.post("/complaints", json=body, headers={**headers["hotline"], **MINIMAL})
                r.raise_for_status()
                no = r.json()["case_no"]
                await settled(client, no)
                api_sql.take(), worker_sql.take()
                for name, action in actions.items():
                    before_events, before, _ = await history_counts(client, no)
                    sent = len(smtp.messages)
                    r = await api.post(f"/cases/{no}/actions", json=action,
                                       headers={**headers["cs_staff"], "Idempotency-Key": f"p-{i}-{name}", **MINIMAL})
                    if r.status_code != 200:
                        raise RuntimeError(f"{name}: {r.status_code} {r.text[:200]}")
                    api_side = api_sql.take()
                    await settled(client, no)
                    after_events, after, scheduled = await history_counts(client, no)
                    if i == 0:
                        worker_sql.take()
                        continue
                    t = totals.setdefault(name, {"events": Counter(), "api": Counter(), "worker": Counter(),
                                                 "activities": Counter()})
                    t["events"]["history events"] += after_events - before_events
                    t["events"].update(after - before)
                    t["api"].update(api_side)
                    t["worker"].update(worker_sql.take())
                    t["activities"].update(scheduled[len(scheduled) - (after - before)["activities"]:])
                    mails[name] = mails.get(name, 0) + len(smtp.messages) - sent
    finally:
        await shut_down(env, engine, smtp)
        shutil.rmtree(tmp, ignore_errors=True)

    n = args.cases
    print(f"\naction_profile: {n} cases, each sent one progress_note then one classify (minimal), one at a time; "
          "per action:")
    names = list(totals)
    print(f"{'':44}" + "".join(f"{k:>15}" for k in names))
    rows = sorted({k for t in totals.values() for k in t["events"]}, key=lambda k: (k != "history events", k))
    for key in rows:
        print(f"{key:44}" + "".join(f"{totals[k]['events'][key] / n:>15.2f}" for k in names))
    for key in sorted({k for t in totals.values() for k in t["activities"]}):
        print(f"{'  activity ' + key:44}" + "".join(f"{totals[k]['activities'][key] / n:>15.2f}" for k in names))
    print(f"{'e-mails sent':44}" + "".join(f"{mails.get(k, 0) / n:>15.2f}" for k in names))
    for side in ("api", "worker"):
        print(f"{side + ' SQL statements':44}" + "".join(f"{sum(totals[k][side].values()) / n:>15.2f}" for k in names))
        for stmt in sorted({s for t in totals.values() for s in t[side]}):
            print(f"{'  ' + stmt[:42]:44}" + "".join(f"{totals[k][side][stmt] / n:>15.2f}" for k in names))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.action_profile")
    p.add_argument("--cases", type=int, default=20, help="cases, each sent each action once (default 20)")
    asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    main()
