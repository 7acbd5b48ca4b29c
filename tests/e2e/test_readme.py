"""The README's command-line tour, run as written: its ```bash blocks, in order, in one bash session (curl and
jq, as a newcomer has them) against the product as `make run` serves it — a real dev server, the worker as a
process and the API under uvicorn on a free port of 127.0.0.1 (`API=` points there; the tour's first line
keeps a value already set). Every command must exit 0 (`set -eo pipefail`, the failing line named), and the
key outputs must say what the README says they do: the case filed once under a retried key, matched to the
registered unit, refused three times for the three reasons, closed, and listed in the register."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import codec
from tests.support.api_server import APIServer

README = Path(__file__).resolve().parents[2] / "README.md"
TOUR_HEADING = "### 2. The API from the command line"
MARK = "@@block"


def tour_blocks(text: str) -> list[str]:
    """The ```bash blocks between TOUR_HEADING and the next heading of its level or above."""
    start = text.index(TOUR_HEADING) + len(TOUR_HEADING)
    end = re.search(r"^#{1,3} ", text[start:], re.MULTILINE)
    section = text[start:start + end.start()] if end else text[start:]
    return re.findall(r"^```bash\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


def script(blocks: list[str]) -> str:
    lines = ["set -eo pipefail",
             """trap 'echo "FAILED (exit $?): $BASH_COMMAND" >&2' ERR"""]
    for number, block in enumerate(blocks):
        lines += [f"echo '{MARK} {number}'", block]
    lines.append(f"echo '{MARK} end'")
    return "\n".join(lines) + "\n"


def outputs(stdout: str) -> list[str]:
    parts = re.split(rf"^{MARK} (\d+|end)$\n?", stdout, flags=re.MULTILINE)
    return [parts[i + 1] for i in range(1, len(parts) - 1, 2) if parts[i] != "end"]


def json_values(text: str) -> list:
    """Every JSON value jq printed (pretty or compact), in order."""
    decoder, values, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i] in "{[\"-0123456789tfn":
            try:
                value, i = decoder.raw_decode(text, i)
                values.append(value)
                continue
            except ValueError:
                pass
        i += 1
    return values


def test_the_tour_has_its_blocks():
    blocks = tour_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 4, blocks
    assert all("\t" not in b for b in blocks)


@pytest.mark.asyncio
async def test_the_readme_tour_runs_as_written(dev_env, settings, sessionmaker, worker_process, tmp_path):
    for tool in ("bash", "curl", "jq"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing: `make test` installs it (apt-get install {tool})")
    blocks = tour_blocks(README.read_text(encoding="utf-8"))
    env = {"AFTERSALES_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "AFTERSALES_DATABASE_URL": settings.database_url, "AFTERSALES_TASK_QUEUE": settings.task_queue,
           "AFTERSALES_SMTP_HOST": "127.0.0.1", "AFTERSALES_SMTP_PORT": str(settings.smtp_port), **codec.ENV}
    with APIServer(env, tmp_path / "api.log") as server:
        # as a newcomer does after `make run`: the tour starts once /health says the worker is alive (its first
        # heartbeat comes one interval after it starts), so that the tour's last line shows "ok"
        await server.wait_healthy(timeout=120, worker=True)
        run = subprocess.run(["bash", "-c", script(blocks)], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300, env={**os.environ, "API": server.url})
    said = f"stdout:\n{run.stdout[-6000:]}\nstderr:\n{run.stderr[-3000:]}"
    assert run.returncode == 0, said
    assert "FAILED" not in run.stderr and f"{MARK} end" in run.stdout, said
    out = outputs(run.stdout)
    assert len(out) == len(blocks), said
    everything = [v for o in out for v in json_values(o)]
    dicts = [v for v in everything if isinstance(v, dict)]

    # the property register: the unit imported and found again by its building's other spelling (5号楼 = 5栋)
    units = [v for v in everything if isinstance(v, list) and v and isinstance(v[0], dict) and "unit" in v[0]]
    assert units and units[0][0]["building"] == "5栋" and units[0][0]["unit"] == "1203", said
    # C1: filed, the same Idempotency-Key again answers the same case, filed on the registered unit
    filed = [d for d in dicts if "case_no" in d and "deadlines" in d]
    again = re.findall(r"^sent again: (\S+)$", run.stdout, re.MULTILINE)
    assert len(filed) == 1 and again == [filed[0]["case_no"]], said
    assert re.fullmatch(r"TS-\d{4}-\d{6}", filed[0]["case_no"]) and filed[0]["status"] == "registered", said
    assert filed[0]["unit_id"] == units[0][0]["id"], said
    # the three refusals, each for its reason, and nothing changed
    assert [d["status"] for d in dicts if "detail" in d and isinstance(d.get("status"), int)] == [403, 409, 422], said
    # closed with its outcome, and in the register
    closed = [d for d in dicts if d.get("status") == "closed" and "outcome" in d]
    assert closed and "closed" in closed[-1]["timeline"], said
    assert any(isinstance(d.get("items"), list) and any(i.get("case_no") == filed[0]["case_no"] and
                                                       i.get("status") == "closed" for i in d["items"])
               for d in dicts), said
    assert any(d.get("status") == "ok" and "temporal" in d for d in dicts), said
