"""The benchmark scripts still run, at a toy size: `make bench` is how speed is measured,
so a bench broken by a change must fail CI, not the next person who measures. Their figures are not
asserted (speed is never a test); what is asserted is that every row ran without errors and that the
figures docs/benchmarks.md quotes are printed."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import find_pg_bin

REPO = Path(__file__).resolve().parents[1]


def run_bench(*args: str, timeout: float = 240) -> str:
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    out = "\n".join(line for line in done.stdout.splitlines() if not line.startswith("time="))
    assert done.returncode == 0, f"{args[0]} failed ({done.returncode}):\n{out[-2000:]}\n{done.stderr[-3000:]}"
    return out


@pytest.mark.parametrize("load, workers", [("asgi", 1), ("httpx", 2)])
def test_throughput_bench_runs_every_row_beside_the_raw_client_and_prints_the_ratios(load, workers):
    out = run_bench("benchmarks.throughput_bench", "--cases", "4", "--actions", "8", "--concurrency", "2",
                    "--load", load, "--workers", str(workers))
    assert ("bare ASGI calls" if load == "asgi" else "httpx ASGITransport") in out
    assert (f"{workers} worker processes of each side" if workers > 1 else "each worker in its own process") in out
    for row in ("raw start + Update", "raw Update", "raw Update + local activity", "raw start + Update + local act.",
                "POST /complaints",
                "POST /complaints minimal", "case Update (no API)", "POST /cases/{no}/actions",
                "POST /cases/{no}/actions minimal", "raw Update, again at the end"):
        line = next((x for x in out.splitlines() if x.startswith(row + " ")), None)
        assert line is not None, f"no row {row!r} in:\n{out}"
        n, errors = re.match(r".{32}\s*(\d+)\s+\S+\s+\S+\s+\S+\s+(\d+)", line).groups()
        assert errors == "0" and int(n) > 0, line
    assert out.count("actions rate / raw Update rate") == 2 and "intake rate / raw start+Update" in out
    assert "raw Update at the start and at the end" in out
    assert re.search(r"raw Update \+ local activity / raw Update +\d+\.\d\d", out), out
    assert re.search(r"raw start \+ Update \+ local act\. / raw start \+ Update +\d+\.\d\d", out), out


@pytest.mark.parametrize("read_model", ["sqlite", "postgres"])
def test_timer_bench_escalates_every_case_and_prints_lateness_and_memory(read_model):
    if read_model == "postgres" and find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not found")
    out = run_bench("benchmarks.timer_bench", "--cases", "4", "--demo-seconds", "4", "--margin", "3",
                    "--read-model", read_model)
    assert f"read model {read_model}" in out
    assert "escalations found 4, not escalated 0, not readable 0" in out, out
    assert re.search(r"lateness \(timeline time − due time\): p50 [\d,.]+ ms, p99 [\d,.]+ ms, max", out), out
    assert "worker RSS MiB: idle" in out


def test_files_bench_prints_the_history_growth_and_both_stores_throughput():
    out = run_bench("benchmarks.files_bench", "--photos", "2", "--concurrent", "2", "--mb", "0.1")
    assert "history growth per photo" in out
    # D1: the same photos sent several to a request (one act each): its history beside one Update a photo
    assert re.search(r"history of a repair, +2 photos, 20 a request: +\d+ events", out), out
    for store in ("embedded default (local folder)", "S3 path (moto's S3 server on loopback)"):
        line = next(x for x in out.splitlines() if x.startswith(store))
        assert "2 stored, 0 errors" in line, line
        line = next(x for x in out.splitlines() if x.startswith(store + ", one request"))
        assert "2 stored, 0 errors" in line, line
