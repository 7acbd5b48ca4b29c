"""The layout's walls (see docs/architecture.md): the contracts in pyproject.toml, checked by import-linter,
and the code's reasons written as rules and words, not as tracker numbers."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """Pure rules import no framework or I/O, arrows point down the layers, no cycles (pyproject.toml)."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


# "issue 9 §5", "(issue 8)", "Issue 11": a number that means nothing to a reader without the tracker.
ISSUE_NUMBER = re.compile(r"(?<![a-z])issues?[_\s]*#?\d+", re.IGNORECASE)  # test_issue9_… too
# "7 §9": an issue's number and section without the word; a source's section keeps its source ("[S1 §3.4]")
ISSUE_SECTION = re.compile(r"(?<![\w.\[])\d+\s*§\s*\d")
CODE = ("aftersales", "adapters", "contracts", "workflows", "activities", "api", "migrations", "benchmarks",
        "tests", "deploy", "docs", "ops")


def code_files():
    yield from (ROOT / name for name in ("worker.py", "Makefile", "pyproject.toml", "docker-compose.yml",
                                         "Dockerfile", "alembic.ini", "README.md"))
    for top in CODE:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".html", ".css", ".js", ".md", ".yml", ".yaml", ".toml",
                                                  ".ini", ".txt", ".sh", ".json"} and "histories" not in path.parts:
                yield path


def test_no_issue_numbers_in_code_docs_or_logs():
    """Reasons, not tracker numbers: rule ids (C3, R4 …) and words say why; history stays in git."""
    found = []
    for path in code_files():
        if not path.exists() or path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if ISSUE_NUMBER.search(line) or ISSUE_SECTION.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, f"{len(found)} lines name an issue number:\n" + "\n".join(found[:60])


def make_rule(target: str) -> tuple[list[str], list[str]]:
    """A Makefile target's prerequisites and recipe lines."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"^{re.escape(target)}\s*:(?!=)", line):
            prereqs = line.split(":", 1)[1].split("##")[0].split()
            recipe = []
            for following in lines[i + 1:]:
                if not following.startswith("\t"):
                    break
                recipe.append(following.strip())
            return prereqs, recipe
    raise AssertionError(f"no Makefile target {target}")


def test_make_run_installs_only_what_running_needs():
    """`make run` sets up the runtime dependencies; the test extras and the browser come with `make test`."""
    run_prereqs, _ = make_rule("run")
    assert run_prereqs == ["install"]
    seen, todo = set(), ["install"]
    while todo:  # everything `make run` builds, transitively
        target = todo.pop()
        if target in seen:
            continue
        seen.add(target)
        try:
            prereqs, recipe = make_rule(target)
        except AssertionError:
            continue
        assert not any("[test]" in line or "chromium" in line for line in recipe), (target, recipe)
        todo += [p for p in prereqs if not p.endswith(".toml")]
    assert "browser" not in seen and "$(TEST_STAMP)" not in seen
    test_prereqs, test_recipe = make_rule("test")
    assert test_prereqs == ["install-test"] and any("pytest $(PYTEST_PARALLEL)" in line for line in test_recipe)
