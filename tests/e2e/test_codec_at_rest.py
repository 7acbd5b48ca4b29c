"""P4 end to end: cases filed over HTTP on a dev server of its own whose state is a SQLite file (as
`make run` keeps data/temporal.db) leave no phone number in clear in that file; the same cases read
through the codec hold it, and a payload written without the codec is found by the same scan (so the
scan itself can fail)."""

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from adapters.config import Settings
from adapters.embedded import Child, temporal_command, wait_for_temporal
from adapters.temporal.setup import connect
from api.app import create_app
from tests.e2e.conftest import Staff, post_action
from worker import build_worker

MOBILE, LANDLINE, IN_TEXT, CONTROL = "13712345678", "0591-83334444", "15800001111", "13600002222"


from tests.support.smtp import free_port  # noqa: E402  (outside the ephemeral range: see there)


def raw_bytes(db_file: Path) -> bytes:
    """The dev server's SQLite file and its WAL, as they are on disk."""
    return b"".join(p.read_bytes() for p in sorted(db_file.parent.glob(db_file.name + "*")))


@pytest.mark.asyncio
async def test_P4_temporal_db_file_holds_no_phone_in_clear(settings, sessionmaker, tmp_path):
    db_file = tmp_path / "temporal.db"
    mine = Settings(**{**settings.model_dump(), "temporal_address": f"127.0.0.1:{free_port()}",
                       "temporal_ui_port": free_port(), "temporal_db_file": str(db_file)})
    server = Child("temporal", temporal_command(mine), tmp_path / "temporal.log")
    server.start()
    try:
        await wait_for_temporal(server, mine, asyncio.Event())
        client = await connect(mine)  # the API's and the worker's converter: pydantic + codec
        app = create_app(mine, temporal=client, sessionmaker=sessionmaker)
        async with build_worker(client, mine, sessionmaker), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=60) as api:
            staff = Staff(api, mine.demo_password)
            filed = []
            for phone in (MOBILE, LANDLINE):
                r = await api.post("/complaints", headers=await staff.headers("hotline"), json={
                    "customer": {"name": "王女士", "phone": phone, "project": "融侨城", "building": "5栋", "unit": "1203"},
                    "channel": "phone", "category": "漏水", "description": f"卫生间漏水，另可拨{IN_TEXT}"})
                assert r.status_code == 201, r.text
                no = r.json()["case_no"]
                await post_action(api, staff, no, "cs_staff", {  # an Update on a case whose state holds the phone
                    "action": "classify", "category": "漏水", "department": "工程部", "justified": True})
                view = (await api.get(f"/cases/{no}", headers=await staff.headers("cs_staff"))).json()
                assert view["customer"]["phone"] == phone
                filed.append(no)

            # the same history, read through the codec, holds the numbers: they were really stored
            decoded = ""
            for no in filed:
                async for event in client.get_workflow_handle(no).fetch_history_events():
                    attrs = event.workflow_execution_started_event_attributes
                    if event.HasField("workflow_execution_started_event_attributes"):
                        decoded += str(await client.data_converter.decode(attrs.input.payloads))
            assert MOBILE in decoded and LANDLINE in decoded and IN_TEXT in decoded

        # control: a payload written without the codec is found by the very same scan
        plain = await Client.connect(mine.temporal_address, data_converter=pydantic_data_converter)
        await plain.start_workflow("NoWorker", {"phone": CONTROL}, id=f"control-{uuid.uuid4().hex[:8]}",
                                   task_queue=f"none-{uuid.uuid4().hex[:8]}")
    finally:
        await server.stop()  # checkpoints the WAL into the file; both are read below anyway

    stored = raw_bytes(db_file)
    assert "融侨城".encode() in stored  # the file holds the cases (search attributes are not encrypted)
    assert CONTROL.encode() in stored
    in_clear = [digits for digits in (MOBILE, "83334444", IN_TEXT) if digits.encode() in stored]
    assert in_clear == [], f"in clear in Temporal's database: {in_clear}"
