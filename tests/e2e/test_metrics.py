"""metrics for ops — the API's own at GET /metrics (requests by route and status, latency,
cases opened / closed, escalations, undeliverable notifications), the Temporal SDK's of a worker process on
its own address. Loopback only, or Prometheus with the metrics token."""

import asyncio
import re

import httpx
import pytest

from api.app import create_app
from tests.e2e.conftest import WorkerProcess, eventually, unique_key
from tests.e2e.test_complaint_http import COMPLAINT
from tests.support.smtp import free_port


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in the Prometheus text format (None when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.asyncio
async def test_the_api_counts_requests_by_route_and_status_and_reads_case_figures(api, staff):
    hotline = await staff.headers("hotline")
    before = (await api.get("/metrics")).text
    assert (await api.get("/cases", headers=hotline)).status_code == 200
    assert (await api.get("/cases/TS-2026-999999", headers=hotline)).status_code == 404
    r = await api.post("/complaints", json=COMPLAINT, headers={**hotline, "Idempotency-Key": unique_key()})
    assert r.status_code == 201, r.text
    opened_before = sample(before, "aftersales_cases", case_type="complaint", state="opened") or 0

    async def counted():
        text = (await api.get("/metrics")).text
        opened = sample(text, "aftersales_cases", case_type="complaint", state="opened")
        return text if opened and opened >= opened_before + 1 else None   # projected into the read model
    text = await eventually(counted)
    assert (sample(text, "aftersales_http_requests_total", method="GET", route="/cases", status="200") or 0) >= 1
    assert sample(text, "aftersales_http_requests_total", method="GET", route="/cases/{case_no}", status="404") >= 1
    assert sample(text, "aftersales_http_requests_total", method="POST", route="/complaints", status="201") >= 1
    assert sample(text, "aftersales_http_request_duration_seconds_count", method="POST", route="/complaints") >= 1
    assert sample(text, "aftersales_cases", case_type="repair", state="closed") is not None
    assert sample(text, "aftersales_escalations") is not None
    health = (await api.get("/health")).json()                       # E3: the same count as GET /health
    assert sample(text, "aftersales_notifications_undeliverable") == health["notifications_undeliverable"]
    assert "13812341234" not in text                                 # P3: no personal data in figures


@pytest.mark.asyncio
async def test_metrics_answer_only_this_machine_or_the_metrics_token(settings, dev_env, sessionmaker):
    app = create_app(settings.model_copy(update={"metrics_token": "scrape-secret"}), temporal=dev_env.client,
                     sessionmaker=sessionmaker)
    elsewhere = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://api.test") as other:
        assert (await other.get("/metrics")).status_code == 403
        assert (await other.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 403
        ok = await other.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert ok.status_code == 200 and "aftersales_http_requests_total" in ok.text
    assert "/metrics" not in app.openapi()["paths"]                  # an ops endpoint, not the API


@pytest.mark.asyncio
async def test_a_worker_serves_the_temporal_sdks_metrics_on_its_address(settings, dev_env, tmp_path):
    port = free_port()
    address = dev_env.client.service_client.config.target_host
    worker = WorkerProcess(settings, address, tmp_path / "metrics-worker.log")
    worker.env["AFTERSALES_SDK_METRICS_ADDRESS"] = f"127.0.0.1:{port}"
    worker.start()
    try:
        async def scraped():
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    r = await client.get(f"http://127.0.0.1:{port}/metrics")
            except httpx.HTTPError:
                return None
            return r.text if 'task_queue="' + settings.task_queue + '"' in r.text else None  # its polls and slots
        text = await eventually(scraped, timeout=60)
        assert re.search(r"^temporal_\w+", text, re.M), text[:500]
    finally:
        worker.stop()
        await asyncio.sleep(0)
