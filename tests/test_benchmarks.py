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


def test_action_profile_counts_a_classify_beside_a_progress_note():
    """What docs/benchmarks.md quotes of an action's work: counts, not speed. A classify is one projection (its
    notice's delivery is recorded without one, E3), one notice activity and its e-mail; a progress note one
    projection and nothing else."""
    out = run_bench("benchmarks.action_profile", "--cases", "2")
    rows = {line[:44].strip(): line[44:].split() for line in out.splitlines()[out.splitlines().index(
        next(x for x in out.splitlines() if x.startswith("action_profile:"))) + 2:]}
    assert rows["workflow tasks"] == ["1.00", "2.00"], out
    assert rows["markers (local activities, patches)"] == ["1.00", "1.00"], out
    assert rows["activity send_notification"] == ["0.00", "1.00"] and rows["e-mails sent"] == ["0.00", "1.00"], out
    assert "api SQL statements" in rows and "worker SQL statements" in rows, out


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




@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_group_bench_generates_a_group_and_times_every_page_and_report_at_a_toy_size(database):
    """P5: the million-case bench (benchmarks.group_bench) at a toy size: the group written by bulk inserts, every
    page of the scoped accounts and the reports timed, on each database."""
    if database == "postgres" and find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not found")
    out = run_bench("benchmarks.group_bench", "--companies", "2", "--projects", "6", "--units", "1200", "--cases",
                    "3000", "--repeat", "1", "--no-postgres" if database == "sqlite" else "--no-sqlite")
    name = "SQLite" if database == "sqlite" else "PostgreSQL"
    assert f"{name}: generated 1,200 units, 3,000 cases and 6,000 deadlines in" in out, out
    rows = [x for x in out.splitlines() if x.startswith(("register · ", "我的待办 · "))]
    assert len(rows) == 2 * 30 + 4, out
    assert all(re.search(r"\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+\S+$", x) for x in rows), out
    assert re.search(rf"{name}: worst page p95 [\d.]+ ms wall .*, [\d.]+ ms CPU", out), out
    for report in ("monthly_complaints", "monthly_repairs", "yearly"):
        assert re.search(rf"{report} \S+ of \S+.*: +[\d.]+ s wall, +[\d.]+ s CPU \([\d,]+ cases", out), out


def test_day_bench_replays_a_toy_day_over_http_through_two_apis_and_two_workers():
    """P5: the busy day (benchmarks.day_bench) at a toy size: every request answered, no 5xx, no duplicate number,
    lost action or doubled notice, and the mix's throughput printed beside the raw client's."""
    out = run_bench("benchmarks.day_bench", "--intakes", "6", "--actions", "60", "--speed", "3000", "--raw", "40",
                    "--burst", "2", "--settle", "2", timeout=400)
    assert "2 API and 2 worker processes" in out
    assert re.search(r"the day: 6 cases opened, (\d+) of \1 planned actions answered", out), out
    assert "5xx: 0" in out and "duplicate case numbers: 0; lost actions: 0; doubled notices: 0" in out, out
    assert re.search(r"every action: p99 [\d,]+ ms", out) and re.search(r"ratio mix / raw \d+\.\d\d", out), out
