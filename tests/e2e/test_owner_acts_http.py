"""The owner's own acts over HTTP on a real dev server and worker (O3, O4, rules 4): the owner, signed in by the code
from the outbox, sees on their case page the acts that are theirs now (需要您办理) and posts them — accepts the time
staff proposed (R1), signs the work off with scores (R6), answers the survey (R7) — each the case's `act` Update with
the owner as actor and the owner's provenance; a double tap acts once; staff recording for an owner need told_via
(代录) and the workbench shows who gave each fact; another owner's session finds neither page nor act (404)."""

import random
import re
from urllib.parse import unquote
from datetime import datetime, timedelta, timezone

import pytest

from adapters.db.properties import import_units
from adapters.temporal.sealing import Sealer
from aftersales.messages import BEIJING
from aftersales.privacy import phone_lookup_hash
from aftersales.properties import UnitRecord
from tests.e2e.conftest import attach, post_action
from tests.e2e.test_owner_http import _csrf, owner_signed_in


async def registered_owner(settings, sessionmaker, project: str = "业主签认城") -> tuple[str, str]:
    phone = f"137{random.randrange(10**8):08d}"
    unit = f"{random.randrange(100, 3000)}"
    async with sessionmaker() as session:
        await import_units(session, [UnitRecord(project=project, building="3栋", unit=unit, sold=True, occupied=True,
                                                owner_name="钱先生", owner_phone=phone)],
                           by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc),
                           seal=Sealer.from_settings(settings).seal,
                           phone_hash=lambda p: phone_lookup_hash(p, settings.phone_lookup_key))
    return phone, unit


async def file_repair(api) -> str:
    home = (await api.get("/o/home")).text
    unit_id = re.search(r"/o/new/repair\?unit=(\d+)", home).group(1)
    page = (await api.get(f"/o/new/repair?unit={unit_id}")).text
    when = (datetime.now(BEIJING) + timedelta(days=1)).strftime("%Y-%m-%dT10:00")
    filed = await api.post("/o/new/repair", data={
        "csrf": _csrf(page), "key": re.search(r'name="key" value="([0-9a-f]+)"', page).group(1), "unit_id": unit_id,
        "trade": "水电", "requested_appointment": when, "description": "卫生间地漏返水"})
    assert filed.status_code == 303, filed.text
    return re.search(r"/o/cases/([A-Z]{2}-\d{4}-\d{6})", filed.headers["location"]).group(1)


async def workbench_page(api, staff, no: str):
    token = (await staff.headers("cs_staff"))["Authorization"].split()[1]
    return await api.get(f"/app/cases/{no}", headers={"Cookie": f"aftersales_session={token}"})


def act_form(page: str, name: str) -> dict[str, str]:
    """The hidden fields of the act's form on the owner's case page (csrf, the form's key)."""
    form = re.search(rf'<form method="post" action="/o/cases/[^"]+/act/{name}".*?</form>', page, re.S)
    assert form, f"no form for {name}"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))


async def owner_acts(api, case_no: str, name: str, fields: dict | None = None, expect: int = 303):
    page = (await api.get(f"/o/cases/{case_no}")).text
    r = await api.post(f"/o/cases/{case_no}/act/{name}", data={**act_form(page, name), **(fields or {})})
    assert r.status_code == expect, r.text[:2000]
    return r


async def to_inspected(api, staff, no: str) -> None:
    await post_action(api, staff, no, "cs_staff", {"action": "record_survey", "responsible_party": "工程部",
                                                   "multi_trade": False, "estimate": "0.00", "order_type": "B"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        await post_action(api, staff, no, who, {"action": "sign_survey"})
    await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]})
    await attach(api, staff, no, "repair_lead", "after_work")                                    # D2
    await post_action(api, staff, no, "repair_lead", {"action": "complete_work", "note": "更换地漏"})
    await post_action(api, staff, no, "cs_staff", {"action": "inspect", "passed": True})
    await post_action(api, staff, no, "repair_lead", {"action": "inspect", "passed": True})


@pytest.mark.asyncio
async def test_o3_the_owner_accepts_the_time_signs_off_and_answers_the_survey(api, staff, settings,
                                                                              sessionmaker) -> None:
    phone, _ = await registered_owner(settings, sessionmaker)
    await owner_signed_in(api, settings, phone)
    no = await file_repair(api)
    page = (await api.get(f"/o/cases/{no}")).text
    assert "需要您办理" in page and "act/request_appointment" in page and "act/accept_appointment" not in page

    # R1: staff propose a time; a staff record for the owner needs told_via (代录, O4)
    at = (datetime.now(timezone.utc) + timedelta(days=2)).replace(second=0, microsecond=0)
    refused = await post_action(api, staff, no, "cs_staff", {"action": "agree_appointment", "appointment_at":
                                                             at.isoformat()}, expect=422)
    assert "told_via" in refused["detail"] and "代录" in refused["detail"]
    await post_action(api, staff, no, "cs_staff", {"action": "propose_appointment", "appointment_at": at.isoformat()})
    page = (await api.get(f"/o/cases/{no}")).text
    assert "确认上门时间" in page and at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") in page
    form = act_form(page, "accept_appointment")
    accepted = await api.post(f"/o/cases/{no}/act/accept_appointment", data=form)
    assert accepted.status_code == 303 and "已确认上门时间" in unquote(accepted.headers["location"])
    again = await api.post(f"/o/cases/{no}/act/accept_appointment", data=form)         # a double tap: acts once
    assert again.status_code == 409 and "无须办理" in again.text
    view = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
    assert view["status"] == "scheduled" and datetime.fromisoformat(view["appointment_at"]) == at
    assert [t["provenance"]["by"] for t in view["timeline"] if t["kind"] == "appointment"] == ["owner"]

    # R6: the sign-off form once both inspections passed; scores refused out of range, then signed
    await to_inspected(api, staff, no)
    page = (await api.get(f"/o/cases/{no}")).text
    assert "签认完工" in page and "不签认" in page and "act/revisit" not in page
    bad = await owner_acts(api, no, "owner_sign_off", {"quality": "9", "attitude": "4"}, expect=422)
    assert "error" in bad.text
    await owner_acts(api, no, "owner_sign_off", {"quality": "5", "attitude": "4", "comment": "师傅很细心"})
    # R7: the survey
    page = (await api.get(f"/o/cases/{no}")).text
    assert "服务评价" in page and "签认完工</button>" not in page
    await owner_acts(api, no, "revisit", {"satisfaction": "5", "quality": "5", "attitude": "5", "note": "满意"})
    page = (await api.get(f"/o/cases/{no}")).text
    assert "需要您办理" not in page and "业主本人（验证码登录）" in page and phone not in page

    view = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
    assert view["status"] == "revisited"
    assert view["sign_off"]["provenance"]["by"] == "owner" and view["sign_off"]["quality"] == 5
    assert view["revisits"][-1]["provenance"]["means"] == "code"
    # the workbench shows who gave each fact (O4)
    bench = await workbench_page(api, staff, no)
    assert bench.status_code == 200 and bench.text.count("业主本人（验证码登录）") >= 3
    # ... and so does the register (O4, K3): the row and the list's answer name who gave the satisfaction and sign-off
    async def registered():
        found = (await api.get("/cases", params={"case_no": no}, headers=await staff.headers("cs_staff"))).json()
        return found["items"] and found["items"][0]["satisfaction_by"] == "owner" and found["items"][0]
    from tests.e2e.conftest import eventually
    row = await eventually(registered, 30)
    assert row["sign_off_by"] == "owner" and row["satisfaction"] == 5
    token = (await staff.headers("cs_staff"))["Authorization"].split()[1]
    register = await api.get("/app/cases", params={"case_no": no}, headers={"Cookie": f"aftersales_session={token}"})
    assert "满意度 5（业主本人）" in register.text and "签认：业主本人" in register.text

    # O2: another owner's session finds neither the page nor the act
    other, _ = await registered_owner(settings, sessionmaker, project="别的小区")
    await owner_signed_in(api, settings, other)
    assert (await api.get(f"/o/cases/{no}")).status_code == 404
    home = (await api.get("/o/home")).text
    r = await api.post(f"/o/cases/{no}/act/revisit", data={"csrf": _csrf(home), "satisfaction": "1", "quality": "1",
                                                           "attitude": "1"})
    assert r.status_code == 404


@pytest.mark.asyncio
async def test_o4_staff_record_a_sign_off_for_an_owner_who_called_shown_as_daelu(api, staff, settings,
                                                                               sessionmaker) -> None:
    phone, _ = await registered_owner(settings, sessionmaker, project="代录小区")
    await owner_signed_in(api, settings, phone)
    no = await file_repair(api)
    await to_inspected(api, staff, no)
    await post_action(api, staff, no, "cs_staff", {"action": "owner_sign_off", "quality": 4, "attitude": 4}, expect=422)
    view = await post_action(api, staff, no, "cs_staff", {"action": "owner_sign_off", "told_via": "wechat",
                                                          "quality": 4, "attitude": 4})
    assert view["sign_off"]["provenance"] == {"by": "staff", "means": "wechat", "staff": "cs_staff",
                                              "at": view["sign_off"]["provenance"]["at"]}
    page = (await api.get(f"/o/cases/{no}")).text
    assert "工作人员代录（微信）" in page and "cs_staff" not in page and "act/owner_sign_off" not in page
    bench = await workbench_page(api, staff, no)
    assert re.search(r"代录（[^）·]+ · [^）]+，微信）", bench.text), bench.text[-3000:]   # P7: by name and title


@pytest.mark.asyncio
async def test_v3_o3_the_owner_answers_a_campaigns_survey_for_their_household(api, staff, settings,
                                                                             sessionmaker) -> None:
    import uuid

    from tests.e2e.conftest import eventually
    project = f"回访自填苑{uuid.uuid4().hex[:6]}"
    phone, _ = await registered_owner(settings, sessionmaker, project=project)
    r = await api.post("/campaigns", json={"project": project, "kind": "first", "starts_on": "2026-11-23",
                                           "ends_on": "2027-12-31", "staff": ["cs_staff"]},
                       headers=await staff.headers("cs_manager"))
    assert r.status_code == 201, r.text
    cid = r.json()["campaign_id"]
    await owner_signed_in(api, settings, phone)

    async def listed():
        home = (await api.get("/o/home")).text
        return (m := re.search(rf'href="(/o/surveys/{cid}/\d+)"', home)) and m.group(1)
    link = await eventually(listed, 30)
    page = (await api.get(link)).text
    assert "回访调查" in page and "房屋质量" in page and "客户服务" in page
    form = {"csrf": _csrf(page), "score_0": "5", "score_1": "4", "score_2": "5", "score_3": "5",
            "comments": "物业很负责"}
    bad = await api.post(link, data={**form, "score_0": "9"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text                  # refused, nothing recorded
    done = await api.post(link, data=form)
    assert done.status_code == 303 and "感谢您参加回访调查" in unquote(done.headers["location"])
    summary = (await api.get(f"/campaigns/{cid}", headers=await staff.headers("cs_manager"))).json()
    assert (summary["visited"], summary["visits_owner"], summary["visits_staff"]) == (1, 1, 0)
    assert summary["satisfaction_percent_owner"] == 100.0 and summary["satisfaction_percent_staff"] is None
    again = await api.post(link, data=form)                   # once: the campaign refuses a second answer (409), and
    assert again.status_code in (404, 409) and (again.status_code == 404 or "已回访过" in again.text)

    async def gone():                                         # once its form is kept, the survey is no longer offered
        return f"/o/surveys/{cid}/" not in (await api.get("/o/home")).text
    await eventually(gone, 30)
    assert (await api.post(link, data=form)).status_code == 404
    other, _ = await registered_owner(settings, sessionmaker, project="别处")
    await owner_signed_in(api, settings, other)
    assert (await api.get(link)).status_code == 404                                    # O2: not their household
