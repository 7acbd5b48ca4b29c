"""P6: the API as ops run it (`python -m api`: uvicorn on 127.0.0.1) believes X-Forwarded-For only from
configured proxies, none by default: 120 failed sign-ins, each with another made-up forwarded address
and another username, all count against the one real peer address, and the per-address limit (50)
answers 429 with Retry-After. (Under plain `uvicorn api.app:app`, which trusts loopback's forwarded
headers, none of the 120 was limited.)"""

import httpx
import pytest

from tests.support import codec
from tests.support.api_server import APIServer

ATTEMPTS = 120


@pytest.mark.asyncio
async def test_P6_a_spoofed_forwarded_address_does_not_dodge_the_per_address_sign_in_limit(dev_env, settings, sessionmaker,
                                                                                             tmp_path):
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_BCRYPT_ROUNDS": "4", **codec.ENV}
    with APIServer(env, tmp_path / "api.log") as server:
        await server.wait_healthy()
        statuses = []
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for i in range(ATTEMPTS):
                r = await client.post("/auth/token", data={"username": f"nobody-{i}", "password": "wrong-password"},
                                      headers={"X-Forwarded-For": f"203.0.113.{i % 250}"})
                statuses.append(r.status_code)
                if r.status_code == 429:
                    assert int(r.headers["retry-after"]) >= 1 and "this address" in r.json()["detail"]
    assert statuses[:50] == [401] * 50 and set(statuses[50:]) == {429}, statuses
