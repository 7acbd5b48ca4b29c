"""Reports (K1–K3): periods, figures counted in SQL against a seeded data set whose expected figures
are worked out by hand below, and the stored report served as JSON, CSV and XLSX."""

import io
import zipfile
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select

from adapters.db.models import Case
from aftersales.reports import ReportKind, parse_period, percentile
from api.app import create_app

BJ = timezone(timedelta(hours=8))


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=BJ)


# ---- periods ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,label,start,end", [
    ("weekly_complaints", "2026-W48", bj(2026, 11, 23), bj(2026, 11, 30)),
    ("monthly_complaints", "2026-11", bj(2026, 11, 1), bj(2026, 12, 1)),
    ("monthly_repairs", "2026-12", bj(2026, 12, 1), bj(2027, 1, 1)),
    ("quarterly", "2026Q4", bj(2026, 10, 1), bj(2027, 1, 1)),
    ("quarterly", "2026Q1", bj(2026, 1, 1), bj(2026, 4, 1)),
    ("yearly", "2026", bj(2026, 1, 1), bj(2027, 1, 1)),
])
def test_periods_in_beijing_time(kind, label, start, end):
    p = parse_period(kind, label)
    assert (p.start, p.end) == (start, end)


@pytest.mark.parametrize("kind,label,message", [
    ("monthly_complaints", "2026-13", "does not exist"),
    ("monthly_complaints", "2026-W48", "not a period of monthly_complaints"),
    ("weekly_complaints", "2026-W54", "does not exist"),
    ("quarterly", "2026Q5", "not a period"),
    ("daily_gossip", "2026", "unknown report kind"),
])
def test_an_unknown_period_or_kind_is_named(kind, label, message):
    with pytest.raises(ValueError, match=message):
        parse_period(kind, label)


def test_percentile_interpolates_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([0.33, 1.0, 2.0], 0.5) == 1.0
    assert percentile([0.33, 1.0, 2.0], 0.9) == 1.8


# ---- figures against a hand-worked data set -----------------------------------------------------------

def case(no: str, received: datetime, *, case_type="complaint", channel="phone", category="漏水", department="工程部",
         project="融侨城", closed: datetime | None = None, satisfaction=None, level=0, major=False) -> Case:
    # as the projection writes them: UTC (SQLite keeps no offset)
    received, closed = received.astimezone(timezone.utc), closed.astimezone(timezone.utc) if closed else None
    return Case(case_no=no, case_type=case_type, status="closed" if closed else "assigned", channel=channel,
                category=category, project=project, building="5栋", unit="1203", department=department,
                handler=None, major=major, justified=True, escalation_level=level, overdue=False,
                customer_name="王女士", customer_phone_masked="138****1234", received_at=received,
                closed_at=closed, outcome="resolved" if closed else None, satisfaction=satisfaction,
                linked_case_no=None, seq=1, updated_at=received, view={},
                company_id="rq", project_key=project)  # P5: 融侨置业's (the reports' reader, cs_manager, is its)


def seeded() -> list[Case]:
    return [
        # Mon 10:00 → Wed 10:00: 8 h + 9 h + 1 h = 18 working hours = 2.0 working days
        case("TS-2026-000001", bj(2026, 11, 2, 10), closed=bj(2026, 11, 4, 10), satisfaction=5),
        # Fri 17:00 → Mon 11:00: 1 h + 2 h = 3 h = 0.33 working days; escalated to level 2
        case("TS-2026-000002", bj(2026, 11, 6, 17), channel="phone", category="噪音", department="物业部",
             closed=bj(2026, 11, 9, 11), satisfaction=3, level=2),
        # open, escalated to level 1, major
        case("TS-2026-000003", bj(2026, 11, 10, 9), channel="visit", project="滨江苑", level=1, major=True),
        # the last half hour of November, Beijing time; closed at the end of 1 December: 9 h = 1.0 working day
        case("TS-2026-000004", bj(2026, 11, 30, 23, 30), channel="online", category="其他", department=None,
             project="滨江苑", closed=bj(2026, 12, 1, 18), satisfaction=4),
        # outside the month in Beijing time (though 30 November in UTC), and the day before it
        case("TS-2026-000005", bj(2026, 12, 1, 0, 30)),
        case("TS-2026-000006", bj(2026, 10, 31, 23, 59)),
        # a repair in November: not in the complaint statistics
        case("WX-2026-000001", bj(2026, 11, 3, 10), case_type="repair", channel=None, category=None),
    ]


@pytest.fixture
async def api(settings, sessionmaker):
    async with sessionmaker() as session:
        session.add_all(seeded())
        await session.commit()
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)  # reports never call Temporal
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        async def token(username: str) -> dict[str, str]:
            r = await client.post("/auth/token", data={"username": username, "password": settings.demo_password})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}
        client.token = token  # type: ignore[attr-defined]
        yield client


async def test_K1_monthly_complaint_figures_are_the_hand_worked_ones(api):
    r = await api.post("/reports", json={"kind": "monthly_complaints", "period": "2026-11"},
                       headers=await api.token("cs_manager"))
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["title"] == "投诉统计表（月）" and report["from"] == "2026-11-01T00:00:00+08:00"
    expected = {
        "received": 4, "closed": 3, "handling_rate": 0.75, "satisfied": 2, "satisfaction_scored": 3,
        "satisfaction_rate": 0.6667, "major": 1, "escalated": 2, "median_working_days": 1.0, "p90_working_days": 1.8,
        "compensation_paid": "0.00", "compensation_cases": 0}
    assert {k: report["summary"][k] for k in expected} == expected
    assert {r["name"]: (r["received"], r["closed"]) for r in report["by_channel"]} == {
        "来电": (2, 2), "来访": (1, 0), "网络": (1, 1)}
    assert report["by_channel"][0]["name"] == "来电"   # most received first
    assert {r["name"]: (r["received"], r["closed"]) for r in report["by_department"]} == {
        "工程部": (2, 1), "物业部": (1, 1), "（未分类）": (1, 1)}
    assert {r["name"]: r["received"] for r in report["by_project"]} == {"融侨城": 2, "滨江苑": 2}
    assert report["escalations"] == [{"department": "工程部", "level": 1, "cases": 1},
                                     {"department": "物业部", "level": 2, "cases": 1}]
    assert report["targets"] == {"handling_rate": 1.0, "satisfaction_rate": 0.9, "revisit_rate": 1.0,
                                 "households_revisited_rate": 0.3}
    assert "4 或 5 分" in report["definitions"]["satisfaction_rate"]


def repair_with_facts(no: str, received: datetime, **facts) -> Case:
    row = case(no, received, case_type="repair", channel=None, category=None, closed=facts.pop("closed", None))
    for key, value in facts.items():
        setattr(row, key, value)
    return row


def deadline(no: str, key: str, rule: str, due: datetime, met: datetime | None = None, missed=False, waived=False):
    from adapters.db.models import CaseDeadline
    return CaseDeadline(case_no=no, key=key, rule=rule, due_at=due.astimezone(timezone.utc),
                        met_at=met.astimezone(timezone.utc) if met else None, missed=missed, waived=waived, seq=1)


async def test_K2_K3_repair_figures_on_time_per_rule_and_money_are_the_hand_worked_ones(api, sessionmaker):
    """Three December repairs (a month of their own, apart from the set above), worked by hand:
    R4 (work done): A met on time, B met late, C not met and past due → 1 of 3 on time = 33.33%;
    R2 (survey): A met on time, C waived (left out), B not yet due → 1 of 1; pass rate: A passed first
    time, B failed once, C not inspected → 1/2; rework: B had 2 rounds of 3 worked → 1/3; punctuality:
    arrivals A 1 on time, B 2 with 1 on time → 2/3; revisits: A and B closed, A revisited → 1/2;
    paid services: B paid ¥300.50; compensation: none in repairs."""
    later = datetime(2026, 12, 31, 12, tzinfo=BJ)
    async with sessionmaker() as session:
        session.add_all([
            repair_with_facts("WX-2026-000101", bj(2026, 12, 1, 10), closed=bj(2026, 12, 10, 10), work_rounds=1,
                              first_pass=True, arrivals=1, arrivals_on_time=1, revisits=1),
            repair_with_facts("WX-2026-000102", bj(2026, 12, 2, 10), closed=bj(2026, 12, 12, 10), work_rounds=2,
                              first_pass=False, arrivals=2, arrivals_on_time=1, revisits=0, paid_service=True,
                              service_fee_fen=30050, service_paid_fen=30050),
            repair_with_facts("WX-2026-000103", bj(2026, 12, 3, 10), work_rounds=1, first_pass=None),
            deadline("WX-2026-000101", "work", "R4", bj(2026, 12, 5, 18), met=bj(2026, 12, 5, 17)),
            deadline("WX-2026-000102", "work", "R4", bj(2026, 12, 6, 18), met=bj(2026, 12, 8, 9)),
            deadline("WX-2026-000103", "work", "R4", bj(2026, 12, 7, 18), missed=True),
            deadline("WX-2026-000101", "survey", "R2", bj(2026, 12, 2, 10), met=bj(2026, 12, 2, 9)),
            deadline("WX-2026-000103", "survey", "R2", bj(2026, 12, 4, 10), waived=True),
            deadline("WX-2026-000102", "survey", "R2", later + timedelta(days=400)),   # not due yet
        ])
        await session.commit()
    r = await api.post("/reports", json={"kind": "monthly_repairs", "period": "2026-12"},
                       headers=await api.token("cs_manager"))
    assert r.status_code == 201, r.text
    report = r.json()
    s = report["summary"]
    assert (s["received"], s["closed"]) == (3, 2)
    assert report["on_time_by_rule"] == [{"rule": "R2", "due": 1, "on_time": 1, "rate": 1.0},
                                         {"rule": "R4", "due": 3, "on_time": 1, "rate": 0.3333}]
    assert s["timeliness_rate"] == 0.3333                                             # K2 零修及时率
    assert (s["pass_rate"], s["inspected"]) == (0.5, 2)                              # K2 合格率
    assert (s["reopen_rate"], s["reworked"]) == (0.3333, 1)
    assert (s["punctuality_rate"], s["arrivals"]) == (0.6667, 3)                     # K3
    assert (s["revisit_rate"], s["revisited"]) == (0.5, 1)                           # K3, target 100%
    assert (s["paid_services_total"], s["paid_services"]) == ("300.50", 1)           # R3
    assert (s["compensation_paid"], s["compensation_cases"]) == ("0.00", 0)
    assert "零修及时率" in report["definitions"]["timeliness_rate"] and report["targets"]["revisit_rate"] == 1.0
    csv_text = (await api.get(f"/reports/{report['id']}.csv", headers=await api.token("cs_manager"))).text
    assert "时限按时率" in csv_text and "R4,3,1,0.3333" in csv_text and "¥300.50" in csv_text


async def test_K1_a_report_as_a_png_chart_with_chinese_labels_in_a_cjk_font(api):
    """GET /reports/{id}.png decodes as an image; the font the chart uses has the glyphs of
    its Chinese labels (no boxes)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font
    import matplotlib.image
    from adapters.charts import cjk_font
    headers = await api.token("cs_manager")
    report = (await api.post("/reports", json={"kind": "monthly_complaints", "period": "2026-11"},
                             headers=headers)).json()
    r = await api.get(f"/reports/{report['id']}.png", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = matplotlib.image.imread(io.BytesIO(r.content), format="png")
    assert image.shape[0] >= 400 and image.shape[1] >= 1000
    family = cjk_font()
    assert family is not None, "no CJK font: run make install (it installs fonts-wqy-microhei)"
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    charmap = FT2Font(path).get_charmap()
    assert all(ord(ch) in charmap for ch in "投诉统计表按责任部门受理数结案处理率满意目标")
    assert (await api.get(f"/reports/{report['id']}.png", headers=await api.token("contractor"))).status_code == 403


async def test_K2_repairs_and_yearly_count_their_own_cases(api):
    headers = await api.token("gm")
    repairs = (await api.post("/reports", json={"kind": "monthly_repairs", "period": "2026-11"}, headers=headers)).json()
    assert repairs["summary"]["received"] == 1, repairs
    yearly = (await api.post("/reports", json={"kind": "yearly", "period": "2026"}, headers=headers)).json()
    assert yearly["summary"]["received"] == 7   # both types, every month


async def test_reports_are_stored_listed_and_served_as_csv_and_xlsx(api):
    headers = await api.token("cs_manager")
    made = (await api.post("/reports", json={"kind": "weekly_complaints", "period": "2026-W45"}, headers=headers)).json()
    assert made["summary"]["received"] == 2   # 2 and 6 November: the ISO week of Monday 2 November
    listed = (await api.get("/reports", params={"kind": "weekly_complaints"}, headers=headers)).json()
    assert [(r["id"], r["period"], r["title"]) for r in listed] == [(made["id"], "2026-W45", "投诉处理周报")]
    assert (await api.get(f"/reports/{made['id']}", headers=headers)).json()["summary"] == made["summary"]
    csv_text = (await api.get(f"/reports/{made['id']}.csv", headers=headers)).text
    assert csv_text.startswith("\ufeff投诉处理周报,2026-W45") and "指标,数值,目标,定义" in csv_text and "受理数,2" in csv_text
    xlsx = await api.get(f"/reports/{made['id']}.xlsx", headers=headers)
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as book:
        names = book.namelist()
        workbook = book.read("xl/workbook.xml").decode()
    assert "xl/charts/chart1.xml" in names                      # the native chart
    assert all(f'name="{s}"' in workbook for s in ("汇总", "按渠道", "按部门", "升级"))


async def test_bad_requests_change_nothing(api):
    headers = await api.token("cs_manager")
    r = await api.post("/reports", json={"kind": "monthly_complaints", "period": "2026-13"}, headers=headers)
    assert r.status_code == 422 and "2026-13" in r.json()["detail"]
    r = await api.post("/reports", json={"kind": "monthly_complaints", "period": "2026-11", "x": 1}, headers=headers)
    assert r.status_code == 422
    assert (await api.post("/reports", json={"kind": "yearly", "period": "2026"},
                           headers=await api.token("contractor"))).status_code == 403
    assert (await api.get("/reports", headers=headers)).json() == []
    assert (await api.get("/reports/999", headers=headers)).status_code == 404
    assert ReportKind("quarterly")


async def test_K2_R7_the_daily_rework_list_holds_reworked_repairs_open_at_the_days_end_or_closed_that_day(
        api, sessionmaker):
    """2026-12-14: X (2 rounds, open, its work due on the 12th and not met: overdue), Y (3 rounds, closed on
    the 14th), not Z (reworked but closed on the 13th), not W (one round only)."""
    async with sessionmaker() as session:
        session.add_all([
            repair_with_facts("WX-2026-000201", bj(2026, 12, 1, 10), work_rounds=2),
            repair_with_facts("WX-2026-000202", bj(2026, 12, 2, 10), work_rounds=3, closed=bj(2026, 12, 14, 15)),
            repair_with_facts("WX-2026-000203", bj(2026, 12, 3, 10), work_rounds=2, closed=bj(2026, 12, 13, 15)),
            repair_with_facts("WX-2026-000204", bj(2026, 12, 4, 10), work_rounds=1),
            deadline("WX-2026-000201", "work", "R7", bj(2026, 12, 12, 18)),
            deadline("WX-2026-000202", "work", "R7", bj(2026, 12, 16, 18), met=bj(2026, 12, 14, 11)),
        ])
        await session.commit()
    headers = await api.token("cs_manager")
    r = await api.post("/reports", json={"kind": "rework_daily", "period": "2026-12-14"}, headers=headers)
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["title"] == "返修进度日报表" and report["from"] == "2026-12-14T00:00:00+08:00"
    assert [(i["case_no"], i["overdue"], i["work_rounds"]) for i in report["items"]] == [
        ("WX-2026-000201", True, 2), ("WX-2026-000202", False, 3)]
    assert report["summary"] == {"reworked": 2, "closed_today": 1, "open": 1, "overdue": 1}
    csv_text = (await api.get(f"/reports/{report['id']}.csv", headers=headers)).text
    assert "案件编号,项目" in csv_text and "WX-2026-000201" in csv_text and "2026-12-12 18:00" in csv_text
    xlsx = await api.get(f"/reports/{report['id']}.xlsx", headers=headers)
    assert xlsx.status_code == 200 and zipfile.ZipFile(io.BytesIO(xlsx.content)).testzip() is None


async def test_V3_R3_campaign_and_paid_service_reports_and_their_errors(api):
    headers = await api.token("cs_manager")
    r = await api.post("/reports", json={"kind": "campaign", "period": "HF-2026-999999"}, headers=headers)
    assert r.status_code == 404 and "HF-2026-999999" in r.json()["detail"]
    r = await api.post("/reports", json={"kind": "rework_daily", "period": "2026-02-30"}, headers=headers)
    assert r.status_code == 422 and "does not exist" in r.json()["detail"]
    r = await api.post("/reports", json={"kind": "paid_services", "period": "2026-11"}, headers=headers)
    assert r.status_code == 201 and r.json()["summary"]["cases"] == 0 and r.json()["title"] == "有偿服务登记表（月）"


async def test_K3_V2_households_revisited_in_the_year_against_sold_homes(api, sessionmaker):
    """Ten sold homes and two unsold in the register; visits to three distinct units this year (one unit twice,
    in two campaigns), one visit the year before: the year to November's end is 3 / 10 = 30%, January's 1 / 10."""
    from adapters.db.models import CampaignVisit, PropertyUnit
    now = bj(2026, 11, 1, 9)
    async with sessionmaker() as session:
        session.add_all([PropertyUnit(project="回访苑", building="1栋", unit=f"{u:04d}", project_key="回访苑", building_key="1",
                                      unit_key=f"{u:04d}", sold=u <= 10, occupied=u <= 8, updated_at=now, updated_by="t")
                         for u in range(1, 13)])
        from adapters.db import org
        await org.put_project(session, "回访苑", "rq", commit=False)  # P5: 融侨置业's project (the reader's company)
        await session.flush()
        units = [u.id for u in (await session.scalars(select(PropertyUnit).where(PropertyUnit.project == "回访苑")
                                                      .order_by(PropertyUnit.unit_key))).all()]
        visits = [("HF-2026-000001", 1, units[0], bj(2026, 1, 20, 10)), ("HF-2026-000001", 2, units[1], bj(2026, 6, 1, 10)),
                  ("HF-2026-000002", 1, units[1], bj(2026, 11, 30, 23)), ("HF-2026-000002", 2, units[2], bj(2026, 11, 5, 10)),
                  ("HF-2025-000009", 1, units[3], bj(2025, 12, 31, 23)), ("HF-2026-000003", 1, units[4], bj(2026, 12, 1, 0, 30))]
        session.add_all([CampaignVisit(campaign_id=c, visit_no=n, unit_id=u, by="cs_staff", at=at.astimezone(timezone.utc),
                                       form={})
                         for c, n, u, at in visits])
        await session.commit()
    headers = await api.token("cs_manager")
    november = (await api.post("/reports", json={"kind": "monthly_complaints", "period": "2026-11"}, headers=headers)).json()
    s = november["summary"]
    assert (s["households_revisited"], s["sold_homes"], s["households_revisited_rate"]) == (3, 10, 0.3)
    assert november["targets"]["households_revisited_rate"] == 0.3 and "已售户数" in november["definitions"][
        "households_revisited_rate"]
    january = (await api.post("/reports", json={"kind": "monthly_complaints", "period": "2026-01"}, headers=headers)).json()
    assert (january["summary"]["households_revisited"], january["summary"]["households_revisited_rate"]) == (1, 0.1)


async def test_P7_a_name_typed_before_the_department_list_is_not_counted_as_a_department(api, sessionmaker):
    """"工程" typed for 工程部 (before P7 chose departments from a list) is neither a department of the report
    nor merged into one by guess: it is counted apart, under one name that says so."""
    async with sessionmaker() as session:
        session.add_all([case("TS-2026-000011", bj(2026, 11, 12, 10), department="工程", level=1),
                         case("TS-2026-000012", bj(2026, 11, 13, 10), department="物业", level=1)])
        await session.commit()
    r = await api.post("/reports", json={"kind": "monthly_complaints", "period": "2026-11"},
                       headers=await api.token("cs_manager"))
    report = r.json()
    assert {r["name"]: (r["received"], r["closed"]) for r in report["by_department"]} == {
        "工程部": (2, 1), "物业部": (1, 1), "（未分类）": (1, 1), "（不在部门列表中的名称）": (2, 0)}
    assert report["escalations"] == [{"department": "工程部", "level": 1, "cases": 1},
                                     {"department": "物业部", "level": 2, "cases": 1},
                                     {"department": "（不在部门列表中的名称）", "level": 1, "cases": 2}]


async def test_O4_K3_satisfaction_sign_off_and_consent_rates_by_provenance_in_the_monthly_reports_and_xlsx(
        api, sessionmaker):
    """February 2027, hand-worked: complaints scored by the owner 5 and 2 (50%) and recorded by staff 4 (100%);
    repairs signed off by the owner twice and by staff once, the owner consenting to 1 of 2 extensions asked and
    staff recording 1 consent of 1; the rates side by side in the summary and the XLSX's 按来源 sheet."""
    def scored(no, day, score, by):
        row = case(no, bj(2027, 2, day, 10), closed=bj(2027, 2, day, 16), satisfaction=score)
        row.satisfaction_by = by
        return row
    async with sessionmaker() as session:
        session.add_all([
            scored("TS-2027-000101", 1, 5, "owner"), scored("TS-2027-000102", 2, 2, "owner"),
            scored("TS-2027-000103", 3, 4, "staff"),
            repair_with_facts("WX-2027-000101", bj(2027, 2, 1, 10), sign_off_by="owner", consents_owner=2,
                              consents_owner_yes=1),
            repair_with_facts("WX-2027-000102", bj(2027, 2, 2, 10), sign_off_by="owner"),
            repair_with_facts("WX-2027-000103", bj(2027, 2, 3, 10), sign_off_by="staff", consents_staff=1,
                              consents_staff_yes=1),
        ])
        await session.commit()
    headers = await api.token("cs_manager")
    complaints = (await api.post("/reports", json={"kind": "monthly_complaints", "period": "2027-02"},
                                 headers=headers)).json()
    s = complaints["summary"]
    assert (s["satisfaction_rate_owner"], s["satisfaction_scored_owner"]) == (0.5, 2)
    assert (s["satisfaction_rate_staff"], s["satisfaction_scored_staff"]) == (1.0, 1)
    assert s["satisfaction_rate"] == 0.6667                                # both together, as before
    assert "业主本人" in complaints["definitions"]["satisfaction_rate_owner"]
    repairs = (await api.post("/reports", json={"kind": "monthly_repairs", "period": "2027-02"},
                              headers=headers)).json()["summary"]
    assert (repairs["sign_offs_owner"], repairs["sign_offs_staff"], repairs["sign_off_owner_share"]) == (2, 1, 0.6667)
    assert (repairs["consent_rate_owner"], repairs["consents_asked_owner"]) == (0.5, 2)
    assert (repairs["consent_rate_staff"], repairs["consents_asked_staff"]) == (1.0, 1)
    csv_text = (await api.get(f"/reports/{complaints['id']}.csv", headers=headers)).text
    assert "指标,业主本人,工作人员代录,目标,定义" in csv_text and "满意率,0.5,1.0,0.9" in csv_text
    import openpyxl
    xlsx = await api.get(f"/reports/{complaints['id']}.xlsx", headers=headers)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["按来源"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    header = next(r for r in rows if r[:3] == ["指标", "业主本人", "工作人员代录"])
    assert header and next(r for r in rows if r[0] == "满意率")[1:4] == [0.5, 1.0, 0.9]


async def test_O4_V3_the_campaign_report_and_its_xlsx_give_satisfaction_by_provenance(api, sessionmaker):
    """A campaign with one survey the owner answered (5, 5: 100%) and one staff visit (5, 2: 50%), as projected."""
    from datetime import date

    import openpyxl

    from adapters.db.models import CampaignRow
    from aftersales.actor import Actor, OwnerActor
    from aftersales.campaign import Campaign, CampaignKind, CampaignState, Plan, VisitBody, VisitRequest, campaign_summary
    from aftersales.roles import Role
    c = Campaign(CampaignState(campaign_id="HF-2027-000007", project="融侨城", kind=CampaignKind.first, share=None,
                               starts_on=date(2027, 2, 1), ends_on=date(2027, 2, 28), staff=["cs_staff"],
                               created_by="cs_manager", created_at=bj(2027, 2, 1, 9)))
    c.set_plan(Plan(unit_ids=[1, 2], seed=None, occupied=2, units=2))
    c.visit(VisitRequest(visit=VisitBody(unit_id=1, mode="self", items=[{"item": "总体", "score": 5},
                                                                        {"item": "维修", "score": 5}]),
                         actor=OwnerActor(case_no="HF-2027-000007", means="link", unit_id=1)))
    c.visit(VisitRequest(visit=VisitBody(unit_id=2, mode="phone", items=[{"item": "总体", "score": 5},
                                                                         {"item": "维修", "score": 2}]),
                         actor=Actor(username="cs_staff", role=Role.cs_staff)))
    s = c.state
    async with sessionmaker() as session:
        session.add(CampaignRow(campaign_id=s.campaign_id, project=s.project, kind=s.kind.value, status="running",
                                starts_on=s.starts_on, ends_on=s.ends_on, planned=2, visited=2, escalation_level=0,
                                summary=campaign_summary(s), seq=s.seq, updated_at=bj(2027, 2, 2, 9)))
        await session.commit()
    headers = await api.token("cs_manager")
    report = (await api.post("/reports", json={"kind": "campaign", "period": "HF-2027-000007"}, headers=headers)).json()
    summary = report["summary"]
    assert (summary["visits_owner"], summary["satisfaction_percent_owner"]) == (1, 100.0)
    assert (summary["visits_staff"], summary["satisfaction_percent_staff"]) == (1, 50.0)
    xlsx = await api.get(f"/reports/{report['id']}.xlsx", headers=headers)
    rows = {r[0].value: r[1].value for r in openpyxl.load_workbook(io.BytesIO(xlsx.content))["汇总"].iter_rows()}
    assert rows["satisfaction_percent_owner"] == 100.0 and rows["satisfaction_percent_staff"] == 50.0
