"""The order the suite's parallel workers take the tests in, from what each known long test cost in an earlier
run: its time and its CPU (this process's and its children's: the worker, API, browser and servers it starts).

Two rules make a short run on two cores with four workers:
- the long tests first, longest first: a long test that starts last holds the whole run open while the other
  workers idle;
- the tests that mostly wait (on a timer, a demo day, a restarted worker: less CPU than half their time) taken
  turn about with those that work: when the four longest tests all waited, the run's first minute and a half used
  1.4 cores of 2.

    python -m tests.support.durations report.xml     # rewrites tests/durations.json from a run's JUnit XML

`make test-durations` runs the suite with `--junitxml` and rewrites the file (the CPU of each test is recorded
in that report by tests/conftest.py). An outdated file only makes the order less good; a test it does not name
runs after the named ones, in collection order."""

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

FILE = Path(__file__).resolve().parents[1] / "durations.json"
KEPT_FROM = 1.0  # seconds: shorter tests are many and even out among the workers
WAITS_BELOW = 0.5  # CPU seconds per second: a test under it mostly waits
CPU_PROPERTY = "cpu_seconds"  # the JUnit property tests/conftest.py records


def load() -> dict[str, tuple[float, float]]:
    """Node id → (seconds, CPU seconds) of the known long tests."""
    try:
        known = json.loads(FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: (float(v[0]), float(v[1])) if isinstance(v, list) else (float(v), float(v)) for k, v in known.items()}


def order(nodeids: list[str], known: dict[str, tuple[float, float]]) -> list[str]:
    """The known tests longest first, two that work and two that wait in turn; then the rest as given."""
    named = sorted((n for n in nodeids if n in known), key=lambda n: -known[n][0])
    works = [n for n in named if known[n][1] >= WAITS_BELOW * known[n][0]]
    waits = [n for n in named if known[n][1] < WAITS_BELOW * known[n][0]]
    turns: list[str] = []
    while works or waits:
        for side in (works, waits):
            turns += side[:2]
            del side[:2]
    return turns + [n for n in nodeids if n not in known]


def tree_cpu(pid: int | None = None) -> float:
    """CPU seconds of a process and its descendants, living ones read from /proc, ended ones through the times
    their parents reaped (Linux; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, stack, seen = 0.0, [pid or os.getpid()], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
            for task in os.listdir(f"/proc/{p}/task"):
                stack += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def nodeid(case: ET.Element) -> str:
    """pytest's node id from a JUnit test case (classname "tests.e2e.test_x", name "test_y[param]")."""
    return case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")


def main(report: str) -> None:
    costs = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cpu = next((p.get("value") for p in case.iter("property") if p.get("name") == CPU_PROPERTY), None)
        seconds = round(float(case.get("time", 0)), 1)
        costs[nodeid(case)] = [seconds, round(float(cpu), 1) if cpu is not None else seconds]
    kept = dict(sorted(((k, v) for k, v in costs.items() if v[0] >= KEPT_FROM), key=lambda kv: -kv[1][0]))
    FILE.write_text("{\n" + ",\n".join(f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v)}" for k, v in kept.items())
                    + "\n}\n", encoding="utf-8")
    print(f"{len(kept)} of {len(costs)} tests take {KEPT_FROM} s or more: {FILE}")


if __name__ == "__main__":
    main(sys.argv[1])
