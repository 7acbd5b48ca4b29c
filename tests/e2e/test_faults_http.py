"""Faults that must not reach people as the wrong answer (E3, P4): a case whose workflow task fails on the
worker is not "closed" (503 with its reason, Retry-After, told to ops by /health and /metrics), and every
503 body says why (`reason`): load shed, an action not answered in time."""

import asyncio
import base64
import os
import time
import uuid

import pytest

from adapters.config import Settings
from tests.e2e.conftest import eventually, post_action, unique_key
from tests.e2e.test_complaint_http import COMPLAINT
from tests.support import codec
from worker import build_worker


@pytest.fixture
def settings(e2e_database: str, smtp_server) -> Settings:
    return Settings(database_url=e2e_database, smtp_host="127.0.0.1", smtp_port=smtp_server.port, bcrypt_rounds=4,
                    task_queue=f"e2e-{uuid.uuid4().hex[:10]}", update_timeout_seconds=3, read_timeout_seconds=2,
                    max_inflight_updates=1, retry_after_seconds=2, **codec.CODEC)


async def opened_complaint(api, staff) -> str:
    hotline = await staff.headers("hotline")
    key = unique_key()  # the worker may still be warming up: the same request again until it opens

    async def filed():
        r = await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": key})
        assert r.status_code in (201, 202), r.text
        return r if r.status_code == 201 else None
    return (await eventually(filed)).json()["case_no"]


@pytest.mark.asyncio
async def test_every_503_carries_a_reason_shed_and_timed_out(api, staff, worker_process):
    """An action not answered in time (no worker) and one shed beyond the API's bound of Updates in flight:
    both 503 with Retry-After and a `reason` (busy)."""
    no = await opened_complaint(api, staff)
    worker_process.stop()
    butler = await staff.headers("butler")
    note = {"action": "progress_note", "note": "进展"}
    slow = asyncio.create_task(api.post(f"/cases/{no}/actions", json=note, headers={**butler, "Idempotency-Key": unique_key()}))
    async def holding() -> bool:   # the first holds the only slot (max_inflight_updates=1) ...
        gate = getattr(api._transport.app.state, "update_gate", None)
        return gate is not None and gate.inflight == 1
    await eventually(holding, timeout=3)  # (waited for, not guessed: a busy machine took longer than half a second)
    shed = await api.post(f"/cases/{no}/actions", json=note, headers={**butler, "Idempotency-Key": unique_key()})
    timed_out = await slow   # ... and is not answered within update_timeout_seconds
    for r in (shed, timed_out):
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "2" and r.headers["content-type"] == "application/problem+json"
        assert r.json()["reason"] == "busy", r.json()
    assert "in progress in this API process" in shed.json()["detail"]
    assert "may still be applied" in timed_out.json()["detail"]


@pytest.mark.asyncio
async def test_a_failing_workflow_task_is_503_with_its_reason_not_a_closed_case(
        api, staff, worker_process, dev_env, settings, sessionmaker):
    """The case's worker cannot decrypt its history (a key that is not the one its cases were encrypted with):
    every workflow task of the case fails. An action is 503 `workflow_task_failing` with Retry-After, never 409
    "is closed" (it is open, and acts once the worker is fixed); /health names the case, /metrics counts it."""
    no = await opened_complaint(api, staff)
    worker_process.stop()
    # the worker builds its data converter from its settings (P4: only encrypted payloads), whatever the client
    # it is given: the wrong key goes in its settings, as a worker deployed with the wrong key would have it
    wrong = settings.model_copy(update={"codec_keys": {"other-2026": base64.b64encode(os.urandom(32)).decode()},
                                        "codec_encode_key_id": "other-2026"})
    butler = await staff.headers("butler")
    async with build_worker(dev_env.client, wrong, sessionmaker):
        async def failing():
            r = await api.post(f"/cases/{no}/actions", json={"action": "progress_note", "note": "进展"},
                               headers={**butler, "Idempotency-Key": unique_key()})
            assert r.status_code in (503,), r.text
            return r if r.json().get("reason") == "workflow_task_failing" else None
        r = await eventually(failing, timeout=40)
    assert r.headers["Retry-After"], r.headers
    assert "closed" not in r.json()["detail"], r.json()
    health = (await api.get("/health")).json()
    assert health["workflow_tasks"]["status"] == "failing", health
    assert no in health["workflow_tasks"]["cases"], health
    metrics = (await api.get("/metrics")).text
    assert 'aftersales_workflow_task_failing_total{what="the action"} ' in metrics, metrics[-2000:]
    # the right worker again: the case was open all along, and acts
    worker_process.start()
    await eventually(lambda: _applied(api, staff, no), timeout=60)


async def _applied(api, staff, no):
    r = await api.post(f"/cases/{no}/actions", json={"action": "progress_note", "note": "修好了"},
                       headers={**await staff.headers("butler"), "Idempotency-Key": "after-fix-" + no})
    return r.status_code == 200


async def _workers(api) -> dict:
    return (await api.get("/health")).json()["workers"]


async def _seconds_until(api, status: str, most: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < most:
        if (await _workers(api))["status"] == status:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(f"/health still said {(await _workers(api))} {most:g} s later")


@pytest.mark.asyncio
async def test_a_killed_worker_is_reported_none_within_30_s(api, worker_process):
    """The only worker killed with -9: /health's `workers` says "none" within 30 s (Temporal's poller list kept
    it "ok" for ~280 s); after a graceful stop at once; and "ok" again once a worker runs."""
    await _seconds_until(api, "ok", 60)
    assert (await _workers(api))["alive"] == 1
    worker_process.kill()
    killed = await _seconds_until(api, "none", 30)
    print(f"\nworker killed -9: /health said none after {killed:.1f} s")
    assert (await _workers(api))["pollers"] >= 1  # Temporal still lists the dead worker's pollers
    worker_process.start()
    back = await _seconds_until(api, "ok", 60)
    worker_process.stop()
    stopped = await _seconds_until(api, "none", 30)
    print(f"worker back: ok after {back:.1f} s; stopped gracefully: none after {stopped:.1f} s")
    assert stopped < 10


@pytest.mark.asyncio
async def test_an_action_waiting_on_temporal_holds_no_read_model_connection(dev_env, settings, sessionmaker, staff,
                                                                          worker_process):
    """An action's request reads the read model (its scope, its references), then waits for its Update; it gave its
    connection back only at the end of the request. With every pooled connection held by actions waiting on a busy
    Temporal, any other request waited for one and failed after the pool's timeout: a 500 (PostgreSQL's read
    model, the busy day: 15 connections per API process). Here the pool has one connection: while an action waits
    for a worker, the register still answers."""
    import httpx
    from sqlalchemy.ext.asyncio import create_async_engine

    from adapters.db.session import make_sessionmaker
    from api.app import create_app
    engine = create_async_engine(settings.database_url, pool_size=1, max_overflow=0, pool_timeout=2)
    app = create_app(settings.model_copy(update={"update_timeout_seconds": 6}), temporal=dev_env.client,
                     sessionmaker=make_sessionmaker(engine))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                     base_url="http://api.test", timeout=60) as api:
            no = await opened_complaint(api, staff)
            cs_staff = await staff.headers("cs_staff")
            worker_process.stop()
            note = {"action": "progress_note", "note": "进展"}
            waiting = asyncio.create_task(api.post(f"/cases/{no}/actions", json=note,
                                                   headers={**cs_staff, "Idempotency-Key": unique_key()}))
            await asyncio.sleep(1.0)  # the action has read the read model and waits for its Update
            assert not waiting.done()
            t = time.perf_counter()
            register = await api.get("/cases", headers=cs_staff)
            assert register.status_code == 200, register.text
            assert time.perf_counter() - t < 1.5
            assert (await waiting).status_code == 503  # no worker: not answered in time
    finally:
        await engine.dispose()
