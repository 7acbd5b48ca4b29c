"""The owner's pages over HTTP (O1, O2): sign-in by SMS code from the outbox, the same answer for an unknown
number, the limits per number and per address, the owner session kept apart from staff's, another owner's
case 404, and an owner's timeline without internal entries. The read model is real (SQLite, migrated); the
cases are rows as the projection writes them; the SMS go through the embedded outbox provider."""

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update

from adapters.config import Settings
from adapters.db import owners as store
from adapters.db.models import Case, OwnerCode, TimelineEntry
from adapters.db.properties import import_units
from adapters.temporal.sealing import Sealer
from aftersales.privacy import phone_lookup_hash
from aftersales.properties import UnitRecord
from api.app import create_app

OWNER = "13912345678"
OTHER = "13700001111"
UNKNOWN = "15800002222"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"sms_outbox_file": str(tmp_path / "sms-outbox.log"),
                                       "owner_codes_per_address_per_hour": 8})


@pytest_asyncio.fixture
async def owners(settings, sessionmaker, ts_env) -> AsyncIterator[httpx.AsyncClient]:
    """The API in process (its Temporal a test server holding none of these cases), a register with OWNER's and OTHER's units, and
    one case for each (rows as the projection writes them)."""
    sealer = Sealer.from_settings(settings)
    now = datetime.now(timezone.utc)
    async with sessionmaker() as session:
        await import_units(session, [
            UnitRecord(project="融侨城", building="5栋", unit="1203", sold=True, occupied=True, owner_name="王女士",
                       owner_phone=OWNER),
            UnitRecord(project="融侨城", building="5栋", unit="1204", sold=True, occupied=True, owner_name="李先生",
                       owner_phone=OTHER)],
            by="test", filename="t.csv", now=now, seal=sealer.seal,
            phone_hash=lambda p: phone_lookup_hash(p, settings.phone_lookup_key))
        units = {u.unit: u.id for u in await store.owner_units(session, phone_lookup_hash(OWNER, settings.phone_lookup_key))}
        other_units = await store.owner_units(session, phone_lookup_hash(OTHER, settings.phone_lookup_key))
        for case_no, unit_id, phone, days in (("BX-2026-000001", units["1203"], None, 3),
                                              ("TS-2026-000002", None, OWNER, 1),
                                              ("BX-2026-000003", other_units[0].id, OTHER, 2)):
            session.add(_case(case_no, unit_id, phone and phone_lookup_hash(phone, settings.phone_lookup_key),
                              now - timedelta(days=days)))
        for idx, (kind, text) in enumerate([
                ("intake", "报修受理：水电，融侨城5栋1203（R1）"),
                ("approval", "客服经理批准维修费用 ¥800.00（A1）"),
                ("assigned", "经办人 dept_handler 全程跟进"),
                ("cost_statement", "决算书 ¥1,200.00：材料（A2）"),
                ("appointment", "已与业主约定上门时间 2026-12-10 10:00，维修员电话 13612345678（R1）"),
                ("escalation", "升级到 deputy_gm"),
                ("work_done", "报告完工：更换水管（R6）")]):
            session.add(TimelineEntry(case_no="BX-2026-000001", idx=idx, at=now - timedelta(hours=10 - idx), kind=kind,
                                      actor="cs_staff", role="cs_staff", text=text))
        await session.commit()
    # These cases are the register's alone, not in this Temporal (a test server of the test's own): the pages show
    # the register's status and timeline, without the acts of the moment (the machine's dry run reads the workflow).
    temporal = ts_env.client
    app = create_app(settings, temporal=temporal, sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://owner.test") as client:
        yield client


def _case(case_no: str, unit_id: int | None, phone_hmac: str | None, received: datetime) -> Case:
    return Case(case_no=case_no, case_type="repair" if case_no.startswith("BX") else "complaint", status="in_progress",
                channel=None, category=None, project="融侨城", building="5栋", unit="1203", unit_id=unit_id,
                building_key="5", customer_name="王女士", customer_phone_masked="139****5678",
                customer_phone_hmac=phone_hmac, received_at=received, closed_at=None, outcome=None, satisfaction=None,
                linked_case_no=None, major=False, justified=None, escalation_level=0, overdue=False, seq=1,
                updated_at=received, department=None, handler=None)


def last_code(settings: Settings, masked: str) -> str:
    lines = [ln for ln in Path(settings.sms_outbox_file).read_text(encoding="utf-8").splitlines() if masked in ln]
    return re.search(r"验证码为 (\d{6})", lines[-1]).group(1)


async def signed_in(client: httpx.AsyncClient, settings: Settings, phone: str = OWNER) -> None:
    r = await client.post("/o/login/code", data={"phone": phone})
    assert r.status_code == 200, r.text
    code = last_code(settings, phone[:3] + "****" + phone[-4:])
    r = await client.post("/o/login", data={"phone": phone, "code": code})
    assert r.status_code == 303 and r.headers["location"] == "/o/home", r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/o/" in cookie


@pytest.mark.asyncio
async def test_o1_sign_in_by_code_from_the_outbox_then_my_units_and_cases(owners, settings) -> None:
    assert (await owners.get("/o/home")).headers["location"] == "/o/login"          # no session
    await signed_in(owners, settings)
    home = await owners.get("/o/home")
    assert home.status_code == 200 and "我的房屋和案件" in home.text
    assert "5栋 1203" in home.text and "1204" not in home.text                       # my unit only
    mine = re.findall(r'href="/o/cases/([A-Z]{2}-\d{4}-\d{6})"', home.text)
    assert mine == ["TS-2026-000002", "BX-2026-000001"]                              # newest first, not the neighbour's
    assert "default-src 'none'" in home.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    outbox = Path(settings.sms_outbox_file).read_text(encoding="utf-8")
    assert OWNER not in outbox and "139****5678" in outbox                           # P3: masked in the log
    async with owners_session_rows(owners) as rows:
        assert all(OWNER not in str(r) for r in rows)


class owners_session_rows:
    """The SMS rows: the code is blanked, the number sealed (never in clear)."""

    def __init__(self, client) -> None:
        self.app = client._transport.app

    async def __aenter__(self):
        from sqlalchemy import select

        from adapters.db.models import SmsMessage
        async with self.app.state.sessionmaker() as session:
            rows = list(await session.scalars(select(SmsMessage)))
        assert rows and all(r.params.get("code") == "******" and "******" in r.text for r in rows if r.kind == "code")
        return [(r.phone_masked, r.phone_sealed, r.params, r.text) for r in rows]

    async def __aexit__(self, *exc) -> None:
        return None


@pytest.mark.asyncio
async def test_o1_an_unknown_number_gets_the_same_answer_and_no_sms(owners, settings) -> None:
    known = await owners.post("/o/login/code", data={"phone": OWNER})
    unknown = await owners.post("/o/login/code", data={"phone": UNKNOWN})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(OWNER, "N") == unknown.text.replace(UNKNOWN, "N")
    assert "158****2222" not in Path(settings.sms_outbox_file).read_text(encoding="utf-8")
    again = await owners.post("/o/login/code", data={"phone": UNKNOWN})                # limits alike
    assert again.status_code == 429 and int(again.headers["retry-after"]) > 0
    wrong = await owners.post("/o/login", data={"phone": UNKNOWN, "code": "123456"})
    assert wrong.status_code == 401 and "验证码错误或已失效" in wrong.text


@pytest.mark.asyncio
async def test_o1_limits_one_a_minute_ten_a_day_five_tries(owners, settings, sessionmaker) -> None:
    assert (await owners.post("/o/login/code", data={"phone": OWNER})).status_code == 200
    soon = await owners.post("/o/login/code", data={"phone": OWNER})
    assert soon.status_code == 429 and "过于频繁" in soon.text and 0 < int(soon.headers["retry-after"]) <= 60
    code = last_code(settings, "139****5678")
    for _ in range(5):                                                               # five wrong tries spend it
        assert (await owners.post("/o/login", data={"phone": OWNER, "code": "000000" if code != "000000" else "111111"})
                ).status_code == 401
    spent = await owners.post("/o/login", data={"phone": OWNER, "code": code})
    assert spent.status_code == 401
    h = phone_lookup_hash(OWNER, settings.phone_lookup_key)
    async with sessionmaker() as session:                                            # ten today, a minute apart
        await session.execute(update(OwnerCode).where(OwnerCode.phone_hmac == h)
                              .values(created_at=datetime.now(timezone.utc) - timedelta(minutes=2)))
        for i in range(9):
            session.add(OwnerCode(phone_hmac=h, code_hash="x", created_at=datetime.now(timezone.utc) - timedelta(minutes=3 + i),
                                  tries=0, used_at=datetime.now(timezone.utc)))
        await session.commit()
    day = await owners.post("/o/login/code", data={"phone": OWNER})
    assert day.status_code == 429 and "今日" in day.text


@pytest.mark.asyncio
async def test_o1_limit_per_address(owners) -> None:
    answers = [(await owners.post("/o/login/code", data={"phone": f"1590000{i:04d}"})).status_code for i in range(9)]
    assert answers == [200] * 8 + [429]


@pytest.mark.asyncio
async def test_o2_another_owners_case_is_404_and_sessions_are_apart(owners, settings) -> None:
    await signed_in(owners, settings)
    assert (await owners.get("/o/cases/BX-2026-000001")).status_code == 200
    for case_no in ("BX-2026-000003", "BX-2026-999999", "nonsense"):
        page = await owners.get(f"/o/cases/{case_no}")
        assert page.status_code == 404 and "BX-2026-000003" not in page.text
    assert (await owners.get("/o/new/repair?unit=999")).status_code == 404
    neighbour = (await owners.get("/o/home")).text
    unit_ids = re.findall(r"/o/new/repair\?unit=(\d+)", neighbour)
    other_unit = str(int(unit_ids[0]) + 1)
    assert (await owners.get(f"/o/new/repair?unit={other_unit}")).status_code == 404  # the neighbour's unit
    # the owner's cookie is no staff session: the API and the workbench do not know it
    assert (await owners.get("/cases")).status_code == 401
    assert (await owners.get("/app/my-work")).headers["location"].startswith("/app/login")
    # signing out ends the session at once (revoked in the read model)
    home = (await owners.get("/o/home")).text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', home).group(1)
    token = owners.cookies.get("owner_session")
    assert (await owners.post("/o/logout", data={"csrf": csrf})).status_code == 303
    owners.cookies.set("owner_session", token, path="/o/")
    assert (await owners.get("/o/home")).headers["location"] == "/o/login"


@pytest.mark.asyncio
async def test_o2_the_owners_timeline_has_no_internal_entries(owners, settings) -> None:
    await signed_in(owners, settings)
    page = (await owners.get("/o/cases/BX-2026-000001")).text
    for shown in ("已受理", "报修受理：水电", "预约上门", "2026-12-10 10:00", "完工", "更换水管", "维修中"):
        assert shown in page, shown
    for hidden in ("¥800.00", "批准", "dept_handler", "决算书", "¥1,200.00", "deputy_gm", "升级", "13612345678", "（R1）"):
        assert hidden not in page, hidden
    assert "136****5678" in page                                                    # a staff phone: masked


@pytest.mark.asyncio
async def test_o1_a_link_signs_in_for_its_one_case_once(owners, settings, sessionmaker) -> None:
    from aftersales.owners import LinkPurpose
    h = phone_lookup_hash(OWNER, settings.phone_lookup_key)
    async with sessionmaker() as session:
        token = await store.create_link(session, case_no="BX-2026-000001", purpose=LinkPurpose.sign_off, phone_hmac=h,
                                        now=datetime.now(timezone.utc), secret=settings.jwt_secret)
        await session.commit()
    forged = await owners.get(f"/o/l/{token[:-2]}xx")
    assert forged.status_code == 404
    opened = await owners.get(f"/o/l/{token}")
    assert opened.status_code == 303 and opened.headers["location"] == "/o/cases/BX-2026-000001"
    assert (await owners.get("/o/cases/BX-2026-000001")).status_code == 200
    assert (await owners.get("/o/cases/TS-2026-000002")).status_code == 404         # not the link's case
    assert (await owners.get("/o/home")).status_code == 404
    owners.cookies.clear()
    assert (await owners.get(f"/o/l/{token}")).status_code == 404                    # used once
