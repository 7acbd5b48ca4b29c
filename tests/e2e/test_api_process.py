"""The API as ops run it (`python -m api`) on a socket handed over with --fd, as the e2e tests and a socket
activation do: its TCP connections must not wait on Nagle. uvicorn's own --fd took every descriptor for
AF_UNIX, so asyncio left TCP_NODELAY off and each response whose headers and body go out in two writes
waited for the client's delayed ACK: ~44 ms for a 401 that takes 1-2 ms to make (the schemathesis parts
spent most of their minutes on it)."""

import http.client
import statistics
import time

import pytest

from tests.support import codec
from tests.support.api_server import APIServer

NAGLE_STALL_SECONDS = 0.040   # Linux's delayed ACK: what each stalled response waited


@pytest.mark.asyncio
async def test_a_keep_alive_connection_answers_without_the_delayed_ack_stall(dev_env, settings, sessionmaker, tmp_path):
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_FILES_DIR": settings.files_dir, **codec.ENV}
    with APIServer(env, tmp_path / "api.log") as server:
        await server.wait_healthy()
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        took = []
        for _ in range(21):
            started = time.perf_counter()
            connection.request("GET", "/cases")   # 401 problem+json: headers and body in two writes
            response = connection.getresponse()
            response.read()
            took.append(time.perf_counter() - started)
            assert response.status == 401
        connection.close()
    # Stalled, no response can come back before the delayed ACK (every one >= 40 ms); not stalled, some do, however
    # busy the machine: the fastest of 21 decides, not a time a loaded machine might miss.
    assert min(took) < NAGLE_STALL_SECONDS, [round(t * 1000, 1) for t in took]
    print(f"\nkeep-alive 401s: median {statistics.median(took) * 1000:.1f} ms, fastest {min(took) * 1000:.1f} ms")
