"""The owner files a repair for their unit over HTTP on a real dev server and worker (O1, O3, O4, O5): signed in by
the code from the outbox, the repair goes through the staff's intake (channel owner_app, one case for a double
tap), the owner's case page shows it with the owner's provenance, staff see it too, and the case's "received"
SMS is queued from its projection with the rules of O5 (held in the quiet hours) and sent by the outbox."""

import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.db.models import SmsMessage
from adapters.db.properties import import_units
from adapters.sms.providers import OutboxProvider
from adapters.sms.queue import dispatch_due
from adapters.temporal.sealing import Sealer
from aftersales.messages import BEIJING
from aftersales.owners import quiet_until
from aftersales.privacy import mask_phone, phone_lookup_hash
from aftersales.properties import UnitRecord
from tests.e2e.conftest import eventually


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


async def owner_signed_in(api, settings, phone: str) -> None:
    api.cookies.clear()
    assert (await api.post("/o/login/code", data={"phone": phone})).status_code == 200

    async def code():
        path = Path(settings.sms_outbox_file)
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if mask_phone(phone) in ln] \
            if path.exists() else []
        return lines and re.search(r"验证码为 (\d{6})", lines[-1]).group(1)

    r = await api.post("/o/login", data={"phone": phone, "code": await eventually(code, 10)})
    assert r.status_code == 303, r.text


@pytest.mark.asyncio
async def test_o3_the_owner_files_a_repair_for_their_unit(api, staff, settings, sessionmaker) -> None:
    phone = f"139{random.randrange(10**8):08d}"
    unit_name = f"{random.randrange(100, 3000)}"
    sealer = Sealer.from_settings(settings)
    async with sessionmaker() as session:
        await import_units(session, [UnitRecord(project="业主自助城", building="8栋", unit=unit_name, sold=True,
                                                occupied=True, owner_name="赵女士", owner_phone=phone)],
                           by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc), seal=sealer.seal,
                           phone_hash=lambda p: phone_lookup_hash(p, settings.phone_lookup_key))
    await owner_signed_in(api, settings, phone)
    home = (await api.get("/o/home")).text
    unit_id = re.search(r"/o/new/repair\?unit=(\d+)", home).group(1)
    form_page = (await api.get(f"/o/new/repair?unit={unit_id}")).text
    key = re.search(r'name="key" value="([0-9a-f]+)"', form_page).group(1)
    when = (datetime.now(BEIJING) + timedelta(days=1)).strftime("%Y-%m-%dT10:00")
    form = {"csrf": _csrf(form_page), "key": key, "unit_id": unit_id, "trade": "水电",
            "requested_appointment": when, "description": "厨房水管漏水"}
    empty = await api.post("/o/new/repair", data={**form, "description": ""})
    assert empty.status_code == 422 and "厨房水管漏水" not in empty.text               # refused, nothing filed
    filed = await api.post("/o/new/repair", data=form)
    assert filed.status_code == 303, filed.text
    case_no = re.search(r"/o/cases/([A-Z]{2}-\d{4}-\d{6})", filed.headers["location"]).group(1)
    again = await api.post("/o/new/repair", data=form)                               # a double tap: one case
    assert re.search(r"/o/cases/([A-Z]{2}-\d{4}-\d{6})", again.headers["location"]).group(1) == case_no

    page = await api.get(filed.headers["location"])
    assert page.status_code == 200, page.text
    assert "业主自助报修受理" in page.text and "业主本人（验证码登录）" in page.text
    assert "已受理" in page.text and phone not in page.text

    view = (await api.get(f"/cases/{case_no}", headers=await staff.headers("cs_staff"))).json()
    assert view["channel"] == "owner_app" and view["customer"]["unit_id"] == int(unit_id)
    assert view["timeline"][0]["provenance"]["by"] == "owner"

    # O5: the "received" SMS, queued from the projection, held in the quiet hours, sent by the outbox
    async def queued():
        async with sessionmaker() as session:
            return (await session.scalars(select(SmsMessage).where(SmsMessage.case_no == case_no))).all()
    [sms] = await eventually(queued, 30)
    assert sms.kind == "received" and sms.phone_masked == mask_phone(phone) and phone not in str(sms.params)
    assert f"/o/cases/{case_no}" in sms.params["link"] and case_no in sms.text
    held = quiet_until(sms.created_at.replace(tzinfo=timezone.utc))
    if held is not None:
        assert sms.status == "held" and sms.send_at.replace(tzinfo=timezone.utc) == held.astimezone(timezone.utc)
        await dispatch_due(sessionmaker, settings, OutboxProvider(settings.sms_outbox_file), sealer.unseal,
                           now=held.astimezone(timezone.utc) + timedelta(seconds=1))

    async def sent():
        async with sessionmaker() as session:
            return (await session.get(SmsMessage, sms.id, populate_existing=True)).status == "sent"
    await eventually(sent, 30)
    outbox = Path(settings.sms_outbox_file).read_text(encoding="utf-8")
    assert case_no in outbox and phone not in outbox
