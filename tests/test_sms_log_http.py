"""短信记录 over HTTP (O5, O1, P2, P5): the workbench's page of the SMS to owners, as the embedded outbox wrote
them to the read model, for cs_manager only (every other role: 404), newest first, each SMS of a case the reader
may see (another company's case is not there), the number masked, the text with its link (a path on this server,
so the link is followed here), its status in words (sent, held for the quiet hours, throttled, undeliverable),
the case number linking to the case. A sign-in code is 验证码短信 and never its code. The read model is real
(SQLite, migrated); the rows are those adapters.sms.queue writes."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import pytest_asyncio

from adapters.db.models import Case, SmsMessage
from adapters.db.properties import import_units
from adapters.sms.queue import CODE_BLANK
from adapters.temporal.sealing import Sealer
from aftersales.owners import SmsKind, sms_text
from aftersales.privacy import phone_lookup_hash
from aftersales.properties import UnitRecord
from api.app import create_app

RQ_OWNER, HJ_OWNER, RQ_UNIT_OWNER = "13912345678", "13700001111", "13655556666"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _case(case_no: str, company: str, project: str, phone_hmac: str) -> Case:
    return Case(case_no=case_no, case_type="repair", status="in_progress", channel=None, category=None,
                project=project, building="5栋", unit="1203", unit_id=None, building_key="5", customer_name="王女士",
                customer_phone_masked="139****5678", customer_phone_hmac=phone_hmac, received_at=NOW - timedelta(days=1),
                closed_at=None, outcome=None, satisfaction=None, linked_case_no=None, major=False, justified=None,
                escalation_level=0, overdue=False, seq=1, updated_at=NOW, department=None, handler=None,
                company_id=company, project_key=project)


def _sms(n: int, kind: SmsKind, case_no: str | None, phone: str, status: str, hmac: str, **extra) -> SmsMessage:
    link = f"http://127.0.0.1:8000/o/l/tok{n}en" if kind in (SmsKind.work_done, SmsKind.survey) else \
        f"http://127.0.0.1:8000/o/cases/{case_no}"
    params = {"code": CODE_BLANK} if kind is SmsKind.code else {"case_no": case_no, "case_type": "报修", "link": link}
    values = dict(dedupe_key=f"{case_no}:{n}" if case_no else None, kind=kind.value, case_no=case_no, phone_hmac=hmac,
                  phone_masked=phone[:3] + "****" + phone[-4:], phone_sealed="sealed", params=params,
                  text=sms_text(kind, params), status=status, created_at=NOW - timedelta(minutes=60 - n),
                  send_at=NOW - timedelta(minutes=60 - n), attempts=1)
    values.update(extra)
    return SmsMessage(**values)


@pytest_asyncio.fixture
async def api(settings, sessionmaker) -> AsyncIterator[httpx.AsyncClient]:
    h = {p: phone_lookup_hash(p, settings.phone_lookup_key) for p in (RQ_OWNER, HJ_OWNER, RQ_UNIT_OWNER)}
    quiet = datetime(2026, 11, 20, 14, 30, tzinfo=timezone.utc)   # 22:30 Beijing: held to 08:00
    async with sessionmaker() as session:
        await import_units(session, [UnitRecord(project="融侨城", building="9栋", unit="101", sold=True, occupied=True,
                                                owner_name="周女士", owner_phone=RQ_UNIT_OWNER)],
                           by="test", company_id="rq", filename="t.csv", now=NOW, seal=Sealer.from_settings(settings).seal,
                           phone_hash=lambda p: phone_lookup_hash(p, settings.phone_lookup_key))
        session.add_all([_case("BX-2026-000101", "rq", "融侨城", h[RQ_OWNER]),
                         _case("BX-2026-000102", "hj", "海景花园", h[HJ_OWNER])])
        session.add_all([
            _sms(1, SmsKind.received, "BX-2026-000101", RQ_OWNER, "sent", h[RQ_OWNER], sent_at=NOW - timedelta(minutes=59)),
            _sms(2, SmsKind.appointment, "BX-2026-000101", RQ_OWNER, "held", h[RQ_OWNER], created_at=quiet,
                 send_at=datetime(2026, 11, 21, 0, tzinfo=timezone.utc)),
            _sms(3, SmsKind.closed, "BX-2026-000101", RQ_OWNER, "throttled", h[RQ_OWNER], send_at=None),
            _sms(4, SmsKind.work_done, "BX-2026-000101", RQ_OWNER, "undeliverable", h[RQ_OWNER],
                 last_error=f"isv.MOBILE_NUMBER_ILLEGAL {RQ_OWNER}"),
            _sms(5, SmsKind.received, "BX-2026-000102", HJ_OWNER, "sent", h[HJ_OWNER]),      # 海景置业's case
            _sms(6, SmsKind.code, None, RQ_UNIT_OWNER, "sent", h[RQ_UNIT_OWNER]),            # an owner of 融侨城's unit
            _sms(7, SmsKind.code, None, HJ_OWNER, "sent", h[HJ_OWNER]),                      # 海景置业's owner
            _sms(8, SmsKind.survey, "BX-2026-000101", RQ_OWNER, "queued", h[RQ_OWNER]),
        ])
        await session.commit()
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)   # the page reads the read model only
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        async def page(username: str, path: str = "/app/sms") -> httpx.Response:
            r = await client.post("/auth/token", data={"username": username, "password": settings.demo_password})
            assert r.status_code == 200, r.text
            return await client.get(path, cookies={"aftersales_session": r.json()["access_token"]})
        client.page = page  # type: ignore[attr-defined]
        yield client


@pytest.mark.asyncio
async def test_o5_the_sms_log_shows_cs_manager_the_sms_of_their_cases_newest_first(api) -> None:
    r = await api.page("cs_manager")
    assert r.status_code == 200, r.text
    html = r.text
    assert "<h1>短信记录" in html
    # P2/P5: 融侨置业's cases and owners only; 海景置业's case and its owner's code are not there
    assert "BX-2026-000102" not in html and "137****1111" not in html
    assert html.count("139****5678") == 6 and "136****6666" in html
    for phone in (RQ_OWNER, HJ_OWNER, RQ_UNIT_OWNER):
        assert phone not in html                                   # P3: masked, also inside a provider's error
    # newest first: the survey (8), the code (6), the sign-off link (4), ..., the receipt (1)
    order = [html.index(marker) for marker in ("邀请您评价", "验证码短信", "维修已完工", "已结案", "上门时间", "已受理")]
    assert order == sorted(order), order
    # the case number links to the case; the link in the text is a path of this server, followed from here
    assert '<a href="/app/cases/BX-2026-000101">BX-2026-000101</a>' in html
    assert '<a href="/o/l/tok8en">' in html and '<a href="/o/cases/BX-2026-000101">' in html
    # status in words
    assert "已发送" in html
    assert "暂缓（免打扰时段 21:00–08:00），2026-11-21 08:00 发送" in html
    assert "未发送（本案当日已达 3 条）" in html
    assert "无法送达：isv.MOBILE_NUMBER_ILLEGAL 139****5678" in html
    assert "待发送" in html
    # O1: a sign-in code is a secret: 验证码短信, never the code nor its text
    assert "验证码为" not in html and CODE_BLANK not in html


@pytest.mark.asyncio
async def test_o5_another_company_sees_its_own_and_other_roles_find_no_page(api) -> None:
    html = (await api.page("cs_manager2")).text
    assert "BX-2026-000102" in html and "137****1111" in html and "BX-2026-000101" not in html
    assert "136****6666" not in html
    for username in ("cs_staff", "hotline", "butler", "gm", "repair_lead", "admin"):
        r = await api.page(username)
        assert r.status_code == 404, (username, r.status_code)
        assert "BX-2026-000101" not in r.text
    assert (await api.get("/app/sms")).status_code == 303                     # no session: the sign-in page


@pytest.mark.asyncio
async def test_o5_older_sms_page_by_page(api) -> None:
    html = (await api.page("cs_manager", "/app/sms?before=4")).text   # older than the 4th: 3, 2, 1
    assert "已结案" in html and "已受理" in html and "维修已完工" not in html and "邀请您评价" not in html
    assert (await api.page("cs_manager", "/app/sms?before=x")).status_code == 422
