"""Scheduled reports (K1, K2) on a real dev server: the Temporal Schedules are created
idempotently, a run makes the report of the last whole period and e-mails it with the workbook attached,
and a second run for the same period (a buffered catch-up) makes and mails nothing twice."""

import asyncio
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select

from adapters.db.models import StoredReport
from aftersales.reports import ReportKind
from workflows.schedules import CALENDARS, PROPOSALS, ensure_schedules
from tests.e2e.conftest import eventually


@pytest.mark.asyncio
async def test_K1_schedules_are_created_once_and_a_run_reports_the_last_week(dev_env, settings, sessionmaker,
                                                                               worker_process, smtp_server):
    client = dev_env.client
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    ids = await ensure_schedules(client, settings, prefix=prefix)
    assert ids == await ensure_schedules(client, settings, prefix=prefix)   # idempotent: created once, then updated
    assert len(ids) == len(CALENDARS) + len(PROPOSALS) + 2 == 11   # + the progress reminders (E4), the file sweep (D4)
    weekly = client.get_schedule_handle(f"{prefix}report-weekly_complaints")
    desc = await weekly.describe()
    assert desc.schedule.spec.time_zone_name == "Asia/Shanghai"
    assert [r.start for r in desc.schedule.spec.calendars[0].day_of_week] == [1]   # Monday
    assert [r.start for r in desc.schedule.spec.calendars[0].hour] == [9]

    async def count_reports():
        """K, P5: the scheduled weekly reports by scope: each company's and the group's roll-up (None)"""
        async with sessionmaker() as session:
            rows = (await session.scalars(select(StoredReport).where(
                StoredReport.kind == ReportKind.weekly_complaints.value, StoredReport.generated_by == "schedule"))).all()
        return Counter((r.data.get("scope") or {}).get("company_id") for r in rows)

    async def mailed(address="cs_manager@example.com"):
        return [m for m in smtp_server.messages if address in m.to]

    try:
        await weekly.trigger()
        assert await eventually(lambda: _at_least(lambda: _made(count_reports, "rq", "hj", None), 1), timeout=60)
        # each company's manager gets the company's own report, the group's roll-up none of them (P5)
        [message] = await eventually(mailed, timeout=60)
        assert "融侨置业 · 投诉处理周报" in message.subject and "处理率" in message.body
        [attachment] = list(message.message.iter_attachments())
        assert attachment.get_filename().startswith("融侨置业 · 投诉处理周报-") and "周.xlsx" in attachment.get_filename() and attachment.get_content()[:2] == b"PK"
        [other] = await eventually(lambda: mailed("cs_manager2@example.com"), timeout=60)
        assert "海景置业 · 投诉处理周报" in other.subject
        await weekly.trigger()   # the same period again (a buffered catch-up run): nothing twice
        async def two_runs():
            d = await weekly.describe()
            done = [a for a in d.info.recent_actions]
            if len(done) < 2:
                return None
            for action in done:
                await client.get_workflow_handle(action.action.workflow_id).result()
            return done
        assert await eventually(two_runs, timeout=60)
        made = await count_reports()
        assert (made["rq"], made["hj"], made[None]) == (1, 1, 1)
        assert len(await mailed()) == 1 and len(await mailed("cs_manager2@example.com")) == 1
    finally:
        for sid in ids:
            await client.get_schedule_handle(sid).delete()


@pytest.mark.asyncio
async def test_E4_C5_the_progress_reminder_schedule_sweeps_the_register_once_per_digest_window(
        dev_env, settings, sessionmaker, worker_process, smtp_server):
    """Rules 5: the `reminders-progress` Schedule runs every digest window (one working hour); a run asks the
    register for the progress notes due and mails each recipient one digest; a second run in the same 4
    working hours mails nothing more."""
    from datetime import datetime, timedelta, timezone

    from temporalio.testing import ActivityEnvironment

    from activities.cases import CaseActivities
    from activities.notify import digest_window
    from workflows.schedules import reminders_schedule_id
    from tests.test_reminders import open_complaint
    from tests.rules.driver import LADDER
    from aftersales.views import case_row
    from contracts.case import CaseProjection

    client = dev_env.client
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    ids = await ensure_schedules(client, settings, prefix=prefix)
    handle = client.get_schedule_handle(reminders_schedule_id(prefix))
    try:
        desc = await handle.describe()
        assert [i.every for i in desc.schedule.spec.intervals] == [digest_window(settings)] == [timedelta(hours=1)]
        # a complaint (rules 5) registered two weeks ago (past any holiday) whose progress note nobody wrote
        opened = datetime.now(timezone.utc) - timedelta(days=14)
        case = open_complaint(uuid.uuid4().int % 10**5 + 900000, now=opened)
        s = case.state
        await ActivityEnvironment().run(CaseActivities(sessionmaker, settings).project_case, CaseProjection(
            case_no=s.case_no, seq=s.seq, row=case_row(s, opened, LADDER), timeline_start=0, timeline=s.timeline))

        def digests():
            return [m for m in smtp_server.messages if "提醒汇总" in m.subject and s.case_no in m.body]

        async def run_and_wait(n: int):
            await handle.trigger()
            async def done():
                runs = (await handle.describe()).info.recent_actions
                if len(runs) < n:
                    return None
                return [await client.get_workflow_handle(r.action.workflow_id).result() for r in runs]
            return await eventually(done, timeout=60)
        await run_and_wait(1)
        mailed = await eventually(lambda: _listed(digests, 2), timeout=30)
        assert sorted(m.to[0] for m in mailed) == ["butler@example.com", "cs_staff@example.com"]
        assert "向业主通报进度" in mailed[0].body and "13812341234" not in mailed[0].body
        await run_and_wait(2)
        assert len(digests()) == 2
    finally:
        for sid in ids:
            await client.get_schedule_handle(sid).delete()


async def _listed(fn, n):
    found = fn()
    return found if len(found) >= n else None


async def _made(count, *scopes):
    made = await count()
    return min(made[s] for s in scopes)


async def _at_least(fn, n):
    value = await fn()
    return value if value and value >= n else None


@pytest.mark.asyncio
async def test_K2_the_daily_rework_list_runs_at_1700_and_only_on_working_days(dev_env, settings, sessionmaker,
                                                                            worker_process, smtp_server):
    """The schedule fires at 17:00 Beijing time every day; the run makes the day's list on a working day
    (T-calendar, make-up Saturdays included) and nothing on a day off."""
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from aftersales.calendar import WorkCalendar
    from adapters.db import calendar_store
    client = dev_env.client
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    ids = await ensure_schedules(client, settings, prefix=prefix)
    daily = client.get_schedule_handle(f"{prefix}report-rework_daily")
    desc = await daily.describe()
    assert [r.start for r in desc.schedule.spec.calendars[0].hour] == [17]
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    async with sessionmaker() as session:
        snapshot = await calendar_store.load_snapshot(session, [today.year], timezone="Asia/Shanghai",
                                                      day_start=settings.work_day_start, day_end=settings.work_day_end,
                                                      demo_seconds_per_working_day=None)
    working = WorkCalendar(snapshot).is_working_day(today)
    try:
        await daily.trigger()

        async def finished():
            d = await daily.describe()
            if not d.info.recent_actions:
                return None
            return await client.get_workflow_handle(d.info.recent_actions[0].action.workflow_id).result()
        run = await eventually(finished, timeout=60)
        assert run["period"] == today.isoformat()
        if working:   # K2, P5: each company's list, mailed to its own repair lead
            [rq] = [r for r in run["reports"] if r["company_id"] == "rq"]
            async with sessionmaker() as session:
                stored = await session.get(StoredReport, rq["id"])
            assert stored.kind == "rework_daily" and stored.generated_by == "schedule"
            assert stored.data["scope"]["company_id"] == "rq"
            [mail] = await eventually(lambda: _mailed_to(smtp_server, "repair_lead@example.com"), timeout=60)
            assert "融侨置业" in mail.subject
        else:
            assert run["reports"] == [] and "非工作日" in run["skipped"]
    finally:
        for sid in ids:
            await client.get_schedule_handle(sid).delete()


async def _mailed_to(smtp_server, address):
    return [m for m in smtp_server.messages if address in m.to and "返修进度日报表" in m.subject]


@pytest.mark.asyncio
async def test_K1_the_monthly_statistics_open_the_gms_review_done_over_http(dev_env, settings, sessionmaker, api, staff,
                                                                            worker_process, smtp_server):
    """The scheduled monthly complaint statistics open a review due by the 10th (K1); only the gm may do it
    (POST /reports/{id}/review), a second time answers as done; GET /reports/{id} shows it. K, P5: one report per
    company, read within its scope and reviewed by that company's gm; the group's roll-up by the group's gm."""
    from adapters.db.models import ReportReview
    from tests.e2e.conftest import account
    from aftersales.roles import Role
    await account(sessionmaker, settings, "gm_hj", Role.gm, company_id="hj")   # 海景置业's gm
    client = dev_env.client
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    ids = await ensure_schedules(client, settings, prefix=prefix)
    monthly = client.get_schedule_handle(f"{prefix}report-monthly_complaints")
    try:
        async with sessionmaker() as session:  # the period's report may exist from an earlier test: its review too
            before = set(await session.scalars(select(ReportReview.report_id)))
        await monthly.trigger()

        async def finished():
            d = await monthly.describe()
            if not d.info.recent_actions:
                return None
            return await client.get_workflow_handle(d.info.recent_actions[0].action.workflow_id).result()
        run = await eventually(finished, timeout=60)
        refs = {r["company_id"]: r for r in run["reports"]}
        rq, hj, group = refs["rq"], refs["hj"], refs[None]
        assert [r["company_id"] for r in run["reports"]][-1] is None   # the roll-up after the companies'

        async def review_rows():
            async with sessionmaker() as session:
                rows = [await session.get(ReportReview, r["id"]) for r in (rq, hj, group)]
            return rows if all(rows) else None
        rows = await eventually(review_rows, timeout=60)
        if rq["id"] in before and rows[0].status == "reviewed":
            pytest.skip("this period's statistics were reviewed by an earlier run on this database")
        assert [(r.reviewer, r.status) for r in rows] == [("gm", "awaiting")] * 3

        async def get(report, who):
            return await api.get(f"/reports/{report['id']}", headers=await staff.headers(who))
        # P5: a company's statistics are read within its scope (the other company's manager finds none); the roll-up
        # by the group's accounts only
        assert (await get(rq, "cs_manager2")).status_code == 404 and (await get(hj, "cs_manager")).status_code == 404
        assert (await get(group, "cs_manager")).status_code == 404 and (await get(group, "gm")).status_code == 404
        report = (await get(rq, "cs_manager")).json()
        assert report["scope"]["company_id"] == "rq" and report["title"] == "投诉统计表（月）"
        assert report["review"]["status"] == "awaiting" and report["review"]["due_at"].endswith("+00:00")

        async def review(report, who, comment="同意，请工程部关注漏水类投诉"):
            return await api.post(f"/reports/{report['id']}/review", json={"comment": comment},
                                  headers=await staff.headers(who))
        refused = await review(rq, "cs_manager", "已阅")
        assert refused.status_code == 403 and "gm" in refused.json()["detail"]
        other_gm = await review(rq, "group_gm", "已阅")   # the group's gm reads it, 融侨置业's gm reviews it
        assert other_gm.status_code == 403 and "融侨置业" in other_gm.json()["detail"]
        empty = await review(rq, "gm", "")
        assert empty.status_code == 422 and "comment" in str(empty.json())
        done = await review(rq, "gm")
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["reviewed_by"]) == ("reviewed", "gm")
        again = await review(rq, "gm", "再次提交")
        assert again.status_code == 200 and again.json()["comment"] == "同意，请工程部关注漏水类投诉"   # not applied twice
        assert (await review(hj, "gm")).status_code == 404                  # another company's: not found
        assert (await review(hj, "gm_hj", "同意")).json()["reviewed_by"] == "gm_hj"
        assert (await review(group, "gm")).status_code == 404
        assert (await review(group, "group_gm", "同意")).json()["reviewed_by"] == "group_gm"

        async def shown():
            r = (await get(rq, "gm")).json()["review"]
            return r if r["status"] == "reviewed" else None
        assert (await eventually(shown, timeout=30))["comment"] == "同意，请工程部关注漏水类投诉"
        other = (await api.get("/reports", params={"kind": "weekly_complaints"},
                               headers=await staff.headers("gm"))).json()
        if other:   # a report without a review step
            assert (await api.post(f"/reports/{other[0]['id']}/review", json={"comment": "x"},
                                   headers=await staff.headers("gm"))).status_code == 409
    finally:
        for sid in ids:
            await client.get_schedule_handle(sid).delete()


@pytest.mark.asyncio
async def test_V1_V2_the_scheduled_checks_propose_campaigns_to_cs_manager_once(dev_env, settings, sessionmaker,
                                                                               worker_process, smtp_server):
    """V1: a project at 50% occupancy is proposed a first campaign, one below is not; the same check again
    proposes and mails nothing new. V2: the January check proposes the year's sampled campaign."""
    from datetime import datetime, timezone
    from adapters.db import properties as register
    from adapters.db.models import CampaignProposal
    from aftersales.properties import UnitRecord
    client = dev_env.client
    half, less = f"半入住苑{uuid.uuid4().hex[:4]}", f"少入住苑{uuid.uuid4().hex[:4]}"
    records = [UnitRecord(project=p, building="1栋", unit=f"{u:04d}", sold=True, occupied=u <= occupied)
               for p, occupied in ((half, 5), (less, 4)) for u in range(1, 11)]
    async with sessionmaker() as session:
        await register.import_units(session, records, by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc),
                                    seal=lambda phone: "sealed")
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    ids = await ensure_schedules(client, settings, prefix=prefix)
    try:
        async def run(kind: str, n: int):
            handle = client.get_schedule_handle(f"{prefix}campaign-proposal-{kind}")
            await handle.trigger()

            async def finished():
                d = await handle.describe()
                if len(d.info.recent_actions) < n:
                    return None
                return await asyncio.wait_for(                 # bounded: a failing run fails the test
                    client.get_workflow_handle(d.info.recent_actions[-1].action.workflow_id).result(), 60)
            return await eventually(finished, timeout=60)

        first = await run("first", 1)
        projects = [p["project"] for p in first["proposals"]]
        assert half in projects and less not in projects
        [mail] = await eventually(lambda: _proposals_mailed(smtp_server, half), timeout=60)
        assert "首次回访" in mail.subject and "入住 5/10 户（50.0%）" in mail.body and "至少完成 5 户" in mail.body
        again = await run("first", 2)                       # the same day's check again: the same answer, no new mail
        assert [p["project"] for p in again["proposals"]] == projects
        assert len(await _proposals_mailed(smtp_server, half)) == 1
        annual = await run("annual", 1)
        assert {half, less} <= {p["project"] for p in annual["proposals"]}
        async with sessionmaker() as session:
            rows = (await session.scalars(select(CampaignProposal).where(CampaignProposal.project.in_([half, less])))).all()
        assert sorted((r.project, r.kind) for r in rows) == sorted([(half, "first"), (half, "annual"), (less, "annual")])
    finally:
        for sid in ids:
            await client.get_schedule_handle(sid).delete()


async def _proposals_mailed(smtp_server, project: str):
    return [m for m in smtp_server.messages if "cs_manager@example.com" in m.to and project in m.body
            and "首次回访" in m.subject]
