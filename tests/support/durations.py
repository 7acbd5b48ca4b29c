"""The suite's known long tests, longest first, so that parallel workers start them first (a long test that
starts last holds the whole run open while the other workers idle).

    python -m tests.support.durations report.xml     # rewrites tests/durations.json from a run's JUnit XML

`make test-durations` runs the suite with `--junitxml` and rewrites the file. An outdated file only makes the
order less good; a test it does not name runs after the named ones, in collection order."""

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

FILE = Path(__file__).resolve().parents[1] / "durations.json"
KEPT_FROM = 1.0  # seconds: shorter tests are many and even out among the workers


def load() -> dict[str, float]:
    try:
        return json.loads(FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def nodeid(case: ET.Element) -> str:
    """pytest's node id from a JUnit test case (classname "tests.e2e.test_x", name "test_y[param]")."""
    return case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")


def main(report: str) -> None:
    cases = ET.parse(report).getroot().iter("testcase")
    durations = {nodeid(c): round(float(c.get("time", 0)), 1) for c in cases}
    kept = dict(sorted(((k, v) for k, v in durations.items() if v >= KEPT_FROM), key=lambda kv: -kv[1]))
    FILE.write_text(json.dumps(kept, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(kept)} of {len(durations)} tests take {KEPT_FROM} s or more: {FILE}")


if __name__ == "__main__":
    main(sys.argv[1])
