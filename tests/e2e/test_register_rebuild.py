"""C1, a fault drill: the register (read model) deleted while Temporal keeps the cases. The API refuses intakes
(and new campaigns) while the register is known to be behind (503 register_behind), `make rebuild-register`
(ops.rebuild_register) brings back every case of every kind and state — row, timeline, deadlines, numbers, intake
keys — every revisit campaign (V1–V3: row, households, visit forms, numbers, keys, one continued as new) and report review (K1)
field by field as it was, resuming after an interruption, and then an old intake retried with its original key
answers with its case instead of opening a second one. E4: the progress notes the reminder sweep had reminded of
are not reminded of again after the rebuild (on demo time)."""

import asyncio
import os
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select


from adapters.config import Settings
from adapters.db.migrate import upgrade_to_head
from adapters.temporal import actor_assertion
from adapters.db.models import (
    CampaignHousehold, CampaignRow, CampaignVisit, Case, CaseCounter, CaseDeadline, CaseFile, CaseNumber,
    IdempotencyKey, RegisterStatus, ReportReview, TimelineEntry,
)
from adapters.db.numbering import claim_case_no, request_fingerprint
from aftersales.actor import Actor
from aftersales.campaign import CampaignKind, CampaignState
from aftersales.roles import Role
from aftersales.messages import BEIJING
from ops.rebuild_register import rebuild
from adapters.db.staff import seed_demo_staff
from contracts.campaign import StartCampaign
from tests.e2e.conftest import attach, eventually, own_dev_server, post_action, unique_key
from tests.e2e.test_complaint_http import COMPLAINT
from tests.support import codec
from tests.test_properties import HEAD, csv_bytes
from workflows.campaign import CampaignWorkflow

# 30 cases in the suite reach every stage of both kinds (below): what the drill proves holds for any count; `make
# bench` runs it at 100 (REBUILD_DRILL_CASES=100) for the rebuild's figures.
CASES = int(os.environ.get("REBUILD_DRILL_CASES", "30"))


def repair() -> dict:
    """A repair intake asking for a visit in two days from now (R1: a time in the future, reckoned when sent)."""
    return {"customer": {"name": "李先生", "phone": "13912345678", "project": "融侨城", "building": "7栋", "unit": "301"},
            "trades": ["防水"], "description": "外墙渗水", "paid_service": False,
            "requested_appointment": (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()}


COMPLAINT_STEPS = [
    ("cs_staff", {"action": "classify", "category": "漏水", "department": "工程部", "justified": True}),
    ("dept_head", {"action": "assign_handler", "handler": "dept_handler"}),
    ("dept_handler", {"action": "department_feedback", "findings": "防水层破损"}),
    ("dept_handler", {"action": "propose_solution", "solution": "重做防水", "compensation": "800.00"}),
    ("cs_manager", {"action": "decide", "decision": "approve"}),
    ("cs_staff", {"action": "inform_customer", "message": "下周一重做防水"}),
    ("finance", {"action": "record_compensation_paid", "amount": "800.00", "reference": "BC-2026-0001"}),
    ("cs_staff", {"action": "record_satisfaction", "told_via": "phone", "score": 5}),
    ("cs_staff", {"action": "summarise", "summary": "s", "corrective_measures": "c", "preventive_measures": "p"}),
    ("cs_staff", {"action": "close", "outcome_note": "已修复"}),
]


def repair_steps() -> list[tuple[str, dict]]:
    """The appointment agreed by phone just now and the arrival now (R1): reckoned when sent, since a case
    can run many minutes after the module was imported and R1 refuses a time past its tolerance."""
    now = datetime.now(timezone.utc)
    return [
        ("cs_staff", {"action": "agree_appointment", "told_via": "phone", "appointment_at": (now - timedelta(minutes=5)).isoformat()}),
        ("repair_lead", {"action": "record_arrival", "arrived_at": now.isoformat()}),
    ]


@pytest_asyncio.fixture
async def dev_env():
    """A Temporal of the test's own: the numbers it holds are this register's alone."""
    async with own_dev_server() as env:
        yield env


@pytest.fixture
def settings(tmp_path: Path, smtp_server, request) -> Settings:
    """A register of the test's own (on demo time for a test marked `demo_day` with its seconds per working day)."""
    demo = request.node.get_closest_marker("demo_day")
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'register.db'}", smtp_host="127.0.0.1",
                    smtp_port=smtp_server.port, bcrypt_rounds=4, task_queue=f"e2e-{uuid.uuid4().hex[:10]}",
                    update_timeout_seconds=30, files_dir=str(tmp_path / "files"),
                    sms_outbox_file=str(tmp_path / "sms-outbox.log"), **codec.CODEC,
                    **({"demo_seconds_per_working_day": demo.args[0]} if demo else {}))


TABLES = {  # what the register keeps per case, and the columns a rebuild cannot know (when it wrote them);
    # every column of a table is compared unless named here: one a merge adds (O4's provenance on timeline
    # entries, D3's case files) is rebuilt or must be excluded here knowingly
    # the reminder bookkeeping (E4) on real time has nothing due yet: compared on demo time by the last test
    Case: (), TimelineEntry: (), CaseDeadline: ("next_remind_at", "reminders_sent", "reminded_by"),
    CaseNumber: ("claimed_at", "settled_at"), IdempotencyKey: ("created_at",), CaseCounter: (), CaseFile: (),
    CampaignRow: (), CampaignHousehold: (), CampaignVisit: (),  # V1–V3
    ReportReview: (),  # K1
}
PROJECT = "重建苑"


async def import_units(api, staff) -> None:
    """The property register (restored from its backup after a loss: it is not in Temporal): two buildings of five
    units, four occupied in each."""
    rows = [HEAD] + [[PROJECT, f"{b}栋", f"{u:04d}", "是", "是" if u <= 4 else "否", "2025-06-30", "业主",
                      "13812341234"] for b in (1, 2) for u in range(1, 6)]
    r = await api.post("/admin/properties/import", headers=await staff.headers("cs_manager"),
                       files={"file": ("台账.csv", csv_bytes(rows), "text/csv")})
    assert r.status_code == 200, r.text


def campaign_body(kind: str, **kw) -> dict:
    today = datetime.now(BEIJING).date()
    return {"project": PROJECT, "kind": kind, "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=30)).isoformat(), "staff": ["cs_staff"], **kw}


def visit(unit_id: int, score: int = 5, **kw) -> dict:
    return {"unit_id": unit_id, "mode": "in_person", "items": [{"item": "房屋质量", "score": score}], **kw}


async def households(sessionmaker, campaign_id: str) -> list[int]:
    async def planned():
        async with sessionmaker() as session:
            return list(await session.scalars(select(CampaignHousehold.unit_id).where(
                CampaignHousehold.campaign_id == campaign_id).order_by(CampaignHousehold.unit_id))) or None
    return await eventually(planned)


async def report_reviews(client, settings, sessionmaker) -> None:
    """K1: the gm's reviews of two monthly statistics (opened by the scheduled report: here directly), one
    reviewed, one awaiting and escalated (its due time, the 10th of the next month, has passed)."""
    from contracts.report import ReviewRequest, ReviewStart
    from workflows.report_review import ReportReviewWorkflow, review_workflow_id

    for report_id, period in ((1, "2026-09"), (2, "2026-10")):
        await client.start_workflow(ReportReviewWorkflow.run, ReviewStart(
            report_id=report_id, kind="monthly_complaints", period=period, title="月度投诉统计"),
            id=review_workflow_id("monthly_complaints", period), task_queue=settings.task_queue)
    review = ReviewRequest(actor=Actor(username="gm", role=Role.gm), comment="已阅，请跟进")
    review.assertion = actor_assertion.sign_model(review_workflow_id("monthly_complaints", "2026-09"), review,
                                                  settings.actor_assertion_key)  # P4: as the API sends it
    await client.get_workflow_handle(review_workflow_id("monthly_complaints", "2026-09")).execute_update(
        ReportReviewWorkflow.review, review)

    async def recorded():
        async with sessionmaker() as session:
            rows = {r.report_id: (r.status, r.escalation_level) for r in await session.scalars(select(ReportReview))}
        return rows if rows.get(1, ("",))[0] == "reviewed" and rows.get(2, ("", 0))[1] == 2 else None
    await eventually(recorded)


async def campaigns_of_every_kind(api, staff, settings, sessionmaker, client) -> dict[str, tuple[str, dict]]:
    """V1–V3 as the register keeps them: a first revisit visited (a point opened as a complaint, one answered, a
    phone number in the comments, a second visit due), an annual sample visited in full and closed, and a
    first revisit whose runs continued as new between its visits. Returns {campaign id: (key, body)} of those
    planned over HTTP."""
    manager, cs = await staff.headers("cs_manager"), await staff.headers("cs_staff")
    await import_units(api, staff)
    planned: dict[str, tuple[str, dict]] = {}
    for body in (campaign_body("first"), campaign_body("annual", share="0.5")):
        key = unique_key()
        r = await api.post("/campaigns", json=body, headers={**manager, "Idempotency-Key": key})
        assert r.status_code == 201, r.text
        planned[r.json()["campaign_id"]] = (key, body)
    first, annual = planned
    units = await households(sessionmaker, first)
    r = await api.post(f"/campaigns/{first}/visits", headers=cs, json=visit(
        units[0], 2, comments="业主请回电 13812341234",
        points=[{"text": "外墙渗水", "handling": "complaint", "category": "渗漏"},
                {"text": "停车位", "handling": "answered", "answer": "已说明车位政策"}]))
    assert r.status_code == 200, r.text
    assert (await api.post(f"/campaigns/{first}/visits", headers=cs, json=visit(units[1]))).status_code == 200
    for unit in await households(sessionmaker, annual):
        assert (await api.post(f"/campaigns/{annual}/visits", headers=cs, json=visit(unit, 4))).status_code == 200
    r = await api.post(f"/campaigns/{annual}/close", headers=manager, json={"note": "全部回访"})
    assert r.status_code == 200, r.text

    # a campaign whose runs continue as new (a small history budget): its forms are spread over its runs
    now = datetime.now(timezone.utc)
    async with sessionmaker() as session:
        continued, _ = await claim_case_no(session, scope="campaign", prefix="HF", year=now.astimezone(BEIJING).year,
                                           idempotency_key=None, fingerprint=request_fingerprint({}), now=now)
    today = now.astimezone(BEIJING).date()
    small_budget = StartCampaign(
        state=CampaignState(campaign_id=continued, project=PROJECT, kind=CampaignKind.first, share=None,
                            starts_on=today, ends_on=today + timedelta(days=30), staff=["cs_staff"],
                            created_by="cs_manager", created_at=now),
        minimum_share=settings.revisit_min_share, history_budget=20)
    small_budget.assertion = actor_assertion.sign_model(continued, small_budget, settings.actor_assertion_key)  # P4
    await client.start_workflow(CampaignWorkflow.run, small_budget, id=continued, task_queue=settings.task_queue)
    for unit in (await households(sessionmaker, continued))[:5]:
        r = await api.post(f"/campaigns/{continued}/visits", headers=cs, json=visit(unit, 3))
        assert r.status_code == 200, r.text

    async def settled():  # every form kept, the point's case opened, the rows as their workflows have them
        async with sessionmaker() as session:
            forms = await session.scalar(select(func.count()).select_from(CampaignVisit))
            rows = {c.campaign_id: c.summary for c in await session.scalars(select(CampaignRow))}
        return forms == 2 + 6 + 5 and rows.get(first, {}).get("points_handled") == 2 \
            and rows.get(annual, {}).get("status") == "closed" and rows.get(continued, {}).get("visited") == 5
    await eventually(settled)
    runs = {wf.run_id async for wf in client.list_workflows(f"WorkflowId = '{continued}'")}
    assert len(runs) >= 2, "the campaign continued as new"
    return planned


async def snapshot(sessionmaker) -> dict[str, dict]:
    taken = {}
    async with sessionmaker() as session:
        for model, skipped in TABLES.items():
            keys = [c.name for c in model.__table__.primary_key.columns]
            rows = (await session.execute(select(model.__table__))).mappings().all()
            taken[model.__tablename__] = {tuple(r[k] for k in keys): {
                # a number `claimed` is marked `started` by the worker's sweep 45 s later; the rebuild knows it started
                c: ("started" if (c, v) == ("state", "claimed") else v) for c, v in r.items() if c not in skipped}
                for r in rows}
    return taken


@pytest.mark.asyncio
async def test_C1_a_deleted_register_is_rebuilt_from_temporal_field_by_field(
        api, staff, settings, sessionmaker, worker_process, dev_env, tmp_path):
    for who in {"hotline", "butler", *(w for w, _ in COMPLAINT_STEPS + repair_steps())}:
        await staff.headers(who)  # signed in one by one (sign-ins are bounded per process)
    gate = asyncio.Semaphore(8)
    keys: dict[str, tuple[str, dict]] = {}  # case_no -> (its intake's Idempotency-Key, body)

    async def one(i: int) -> None:
        is_repair = i % 3 == 2
        body = repair() if is_repair else {**COMPLAINT}
        body["customer"] = {**body["customer"], "unit": f"{100 + i}"}
        key = unique_key()
        async with gate:
            r = await api.post("/repairs" if is_repair else "/complaints", json=body,
                               headers={**await staff.headers("hotline"), "Idempotency-Key": key})
            assert r.status_code == 201, r.text
            no = r.json()["case_no"]
            keys[no] = (key, body)
            steps = repair_steps() if is_repair else COMPLAINT_STEPS
            # every stage of each kind in turn, new to closed (not drawn at random: which case drew which stage
            # depended on the order the intakes were answered, and 30 cases could miss `closed`)
            stage = (i // 3 * 2 + i % 3) % (len(steps) + 1)
            noted = random.Random(34 + i).random() < 0.3
            if i % 10 == 0:  # D3: a file's reference is in the register too (projected from the timeline)
                await attach(api, staff, no, "hotline", "intake")
            if noted:  # before the steps: a closed case takes no note
                await post_action(api, staff, no, "butler", {"action": "progress_note", "note": "回访 13812341234"})
            for who, action in steps[:stage]:  # every stage, new to closed
                await post_action(api, staff, no, who, action)
    await asyncio.gather(*(one(i) for i in range(CASES)))
    campaigns = await campaigns_of_every_kind(api, staff, settings, sessionmaker, dev_env.client)
    await report_reviews(dev_env.client, settings, sessionmaker)
    await asyncio.sleep(2)  # the last projections settle
    before = await snapshot(sessionmaker)
    assert len(before["cases"]) == CASES + 1  # and the complaint a revisit's point opened
    assert len(before["campaigns"]) == 3 and len(before["campaign_visits"]) == 13, before["campaigns"].keys()
    assert any("138****1234" in str(row["form"]) for row in before["campaign_visits"].values())  # P3: as kept
    statuses = {row["status"] for row in before["cases"].values()}
    assert "closed" in statuses and len(statuses) >= 5, statuses
    assert len(before["case_files"]) == len(range(0, CASES, 10)), before["case_files"].keys()

    # the register is lost: everything stops, the file is deleted, the read model is created afresh (migrations,
    # the staff restored from their backup: not in Temporal)
    worker_process.stop()
    engine = sessionmaker.kw["bind"]
    await engine.dispose()
    Path(settings.database_url.removeprefix("sqlite+aiosqlite:///")).unlink()
    upgrade_to_head(settings.database_url)
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
    worker_process.start()
    staff.tokens.clear()  # the accounts were seeded again
    await asyncio.sleep(1)
    hotline = await staff.headers("hotline")

    refused = await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": unique_key()})
    assert refused.status_code == 503 and refused.json()["reason"] == "register_behind", refused.text
    assert refused.headers["Retry-After"]
    await import_units(api, staff)  # the property register restored from its backup (it is not in Temporal)
    refused = await api.post("/campaigns", json=campaign_body("first"),
                             headers={**await staff.headers("cs_manager"), "Idempotency-Key": unique_key()})
    assert refused.status_code == 503 and refused.json()["reason"] == "register_behind", refused.text

    lines: list[str] = []
    half = CASES // 20 * 10 or 10  # the rebuild stops at the end of a batch (of 10 here)
    stopped = await rebuild(settings, dev_env.client, sessionmaker, batch=10, stop_after=half,
                            progress=lines.append)  # interrupted part way ...
    assert stopped.done == half and not stopped.failed
    async with sessionmaker() as session:
        status = await session.get(RegisterStatus, 1)
        assert status.state == "rebuilding" and status.done == half and status.total == CASES + 1 + 3
    refused = await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": unique_key()})
    assert refused.status_code == 503 and refused.json()["reason"] == "register_behind"
    report = await rebuild(settings, dev_env.client, sessionmaker, batch=10, progress=lines.append)  # ... resumed
    print("\n" + "\n".join(lines))
    assert report.total == CASES + 1 + 3 and report.campaigns == 3 and report.done == report.total, report
    assert not report.failed, report
    assert any("resuming after" in line for line in lines)

    after = await snapshot(sessionmaker)
    for table, rows in before.items():
        assert after[table].keys() == rows.keys(), table
        for key, row in rows.items():
            assert after[table][key] == row, (table, key, {c: (v, after[table][key][c]) for c, v in row.items()
                                                           if after[table][key][c] != v})
    print(f"{sum(len(rows) for rows in before.values())} rows in {len(before)} tables equal after the rebuild "
          f"({report.seconds:.1f} s for {report.total - report.campaigns} cases and {report.campaigns} campaigns)")

    await asyncio.sleep(5.5)  # the API looks at the register's state again (REGISTER_CHECK_SECONDS)
    no, (key, body) = next(iter(sorted(keys.items())))
    again = await api.post("/repairs" if no.startswith("WX") else "/complaints", json=body,
                           headers={**hotline, "Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["case_no"] == no, again.text  # its case, not a second one
    fresh = await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": unique_key()})
    assert fresh.status_code == 201 and fresh.json()["case_no"] not in keys, fresh.text
    manager = await staff.headers("cs_manager")
    for campaign_id, (key, body) in campaigns.items():  # a retried plan: its campaign, not a second one
        again = await api.post("/campaigns", json=body, headers={**manager, "Idempotency-Key": key})
        assert again.status_code == 201 and again.json()["campaign_id"] == campaign_id, again.text
    fresh = await api.post("/campaigns", json=campaign_body("first"), headers={**manager, "Idempotency-Key": unique_key()})
    assert fresh.status_code == 201 and fresh.json()["campaign_id"] > max(before["campaigns"])[0], fresh.text


@pytest.mark.asyncio
async def test_C1_a_fresh_register_whose_first_cases_wait_for_a_worker_is_not_behind(
        api, staff, settings, sessionmaker, worker_process, dev_env, monkeypatch):
    """A fresh install whose first intakes started their cases while no worker ran (so no row is written yet):
    each claimed its number before it started its case, so that is not a lost register. Intakes go on being
    accepted and the register stays level (it was marked behind for good before)."""
    from api import cases as api_cases
    monkeypatch.setattr(api_cases, "REGISTER_CHECK_SECONDS", 0.0)  # every intake looks at the register again
    app = api._transport.app  # the intakes no worker answers are answered after 5 s, not the suite's 30
    monkeypatch.setattr(app.state, "settings", app.state.settings.model_copy(update={"update_timeout_seconds": 5}))
    hotline = await staff.headers("hotline")

    async def intake(i: int):
        body = {**COMPLAINT, "customer": {**COMPLAINT["customer"], "unit": f"{200 + i}"}}
        return await api.post("/complaints", json=body, headers={**hotline, "Idempotency-Key": unique_key()})

    worker_process.stop()
    first = await asyncio.gather(*(intake(i) for i in range(3)))  # started in Temporal, answered by no worker
    assert all(a.status_code in (202, 503) for a in first), [a.text for a in first]
    assert all(a.json().get("reason") != "register_behind" for a in first), [a.text for a in first]
    worker_process.start()
    later = await intake(99)
    assert later.status_code == 201, later.text
    async with sessionmaker() as session:
        status = await session.get(RegisterStatus, 1)
        assert status is None or status.state == "ok", (status.state, status.reason)


async def held(schedule, log: Path, starts: int) -> None:
    """The reminder sweeps paused once the worker (started `starts` times) has set up its schedules (it brings
    them to this release's spec, unpaused, at every start): the test triggers each sweep itself."""
    async def started():
        return log.exists() and log.read_text(errors="replace").count("worker started") >= starts or None
    await eventually(started)
    await schedule.pause()


async def sweep(client, schedule) -> int:
    """One reminder sweep, triggered now: the reminders it sent (messages over all digests)."""
    seen = {a.action.workflow_id for a in (await schedule.describe()).info.recent_actions}
    await schedule.trigger()

    async def started():
        new = [a.action.workflow_id for a in (await schedule.describe()).info.recent_actions
               if a.action.workflow_id not in seen]
        return new[0] if new else None
    return await client.get_workflow_handle(await eventually(started)).result()


async def bookkeeping(sessionmaker, cases: list[str]) -> dict[tuple[str, str], tuple]:
    async with sessionmaker() as session:
        rows = (await session.scalars(select(CaseDeadline).where(
            CaseDeadline.case_no.in_(cases), CaseDeadline.reminds.is_(True)))).all()
        return {(d.case_no, d.key): (d.due_at.replace(tzinfo=timezone.utc), d.next_remind_at and
                                     d.next_remind_at.replace(tzinfo=timezone.utc), d.reminders_sent, d.reminded_by)
                for d in rows}


@pytest.mark.demo_day(90)
@pytest.mark.asyncio
async def test_C1_E4_a_progress_note_reminded_before_the_loss_is_not_reminded_again_after_the_rebuild(
        api, staff, settings, sessionmaker, worker_process, dev_env, tmp_path):
    """On demo time (a working day of 90 s: a progress note is due 40 s after intake, reminded of every 40 s):
    the sweep reminds of the notes due, the register is lost and rebuilt, and the next sweep reminds of none of
    them again — the rebuild took them as reminded by that sweep (its input in Temporal), their next reminder
    where the register had it — while the one after their next reminder time reminds of each once."""
    from workflows.schedules import reminders_schedule_id

    client = dev_env.client
    schedule = client.get_schedule_handle(reminders_schedule_id())
    log = tmp_path / "worker.log"
    await held(schedule, log, 1)
    hotline = await staff.headers("hotline")
    cases = []
    for i in range(4):
        body = {**COMPLAINT, "customer": {**COMPLAINT["customer"], "unit": f"{300 + i}"}}
        r = await api.post("/complaints", json=body, headers={**hotline, "Idempotency-Key": unique_key()})
        assert r.status_code == 201, r.text
        cases.append(r.json()["case_no"])
    notes = await eventually(lambda: _each(sessionmaker, cases))
    await asyncio.sleep(max(0.0, (max(due for due, *_ in notes.values()) - datetime.now(timezone.utc))
                            .total_seconds()) + 1)
    reminded = await sweep(client, schedule)
    assert reminded >= len(cases), reminded  # each note to its owners (one digest per recipient)
    before = await bookkeeping(sessionmaker, cases)
    assert all(sent == 1 and by for _, _, sent, by in before.values()), before

    worker_process.stop()  # the register is lost (see the drill above)
    await sessionmaker.kw["bind"].dispose()
    Path(settings.database_url.removeprefix("sqlite+aiosqlite:///")).unlink()
    upgrade_to_head(settings.database_url)
    async with sessionmaker() as session:
        await seed_demo_staff(session, settings)
    worker_process.start()
    await held(schedule, log, 2)
    lines: list[str] = []
    report = await rebuild(settings, client, sessionmaker, progress=lines.append)
    print("\n" + "\n".join(lines))
    assert report.done == len(cases) and not report.failed, report
    after = await bookkeeping(sessionmaker, cases)
    assert after == before, {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}

    next_at = min(at for _, at, _, _ in after.values())
    assert datetime.now(timezone.utc) < next_at, "too slow to tell: the next reminder is due already"
    assert await sweep(client, schedule) == 0  # no note reminded of twice
    assert await bookkeeping(sessionmaker, cases) == before
    await asyncio.sleep((max(at for _, at, _, _ in after.values()) - datetime.now(timezone.utc)).total_seconds() + 1)
    assert await sweep(client, schedule) == reminded  # the next reminders, on time, once each
    assert all(sent == 2 for _, _, sent, _ in (await bookkeeping(sessionmaker, cases)).values())


async def _each(sessionmaker, cases: list[str]):
    notes = await bookkeeping(sessionmaker, cases)
    return notes if {c for c, _ in notes} == set(cases) else None
