"""Bytecode made once, before the suite's workers start, on every core.

Where bytecode is not written (PYTHONDONTWRITEBYTECODE, as on the machines this suite runs on), every process
reads what it imports from source, and pytest rewrites every test module's asserts again in each suite worker:
4 s of CPU a worker for the 126 test modules, the largest part of its collection, all paid at once at the start,
when nothing else runs. So the controller (pytest-xdist's, before its workers start) writes both:

- the product's ordinary bytecode, which the worker and API processes the tests start read (twice for a
  worker: Temporal's default build id hashes every loaded module's code);
- pytest's own cache of the rewritten test modules (checked-hash pycs in `__pycache__`, named for this Python
  and pytest), which pytest reads even where it does not write.

Both are skipped for what is up to date. The rewriting uses pytest's own functions (`_rewrite_test`,
`_write_pyc`): no public API writes that cache for another process, and should they change, the workers
simply rewrite for themselves, as before."""

from __future__ import annotations

import compileall
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

PRODUCT = ("aftersales", "adapters", "api", "activities", "workflows", "contracts", "ops", "benchmarks")

_config: pytest.Config | None = None  # the forked helpers' view of the controller's configuration


def prepare(config: pytest.Config, repo: Path) -> None:
    product = [p for package in PRODUCT for p in (repo / package).rglob("*.py")] + [repo / "worker.py"]
    tests = [p for p in (repo / "tests").rglob("*.py") if p.name.startswith("test_") or p.name == "conftest.py"]
    global _config
    _config = config
    rewrite = _rewriter() is not None and config.getoption("assertmode") == "rewrite"
    jobs = [(str(p), False) for p in product] + [(str(p), True) for p in tests if rewrite]
    try:
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("fork")) as pool:
            list(pool.map(_one, jobs, chunksize=16))
    except OSError:  # no process pool here (no /dev/shm for its locks): one core, the same files
        for job in jobs:
            _one(job)


def _rewriter():
    try:
        from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc, _rewrite_test, _write_pyc, assertstate_key
    except ImportError:
        return None
    return PYC_TAIL, _read_pyc, _rewrite_test, _write_pyc, assertstate_key


def _one(job: tuple[str, bool]) -> None:
    path, rewrite = job
    if not rewrite:
        compileall.compile_file(path, quiet=2)
        return
    PYC_TAIL, _read_pyc, _rewrite_test, _write_pyc, assertstate_key = _rewriter()
    fn = Path(path)
    cache = fn.parent / "__pycache__"
    pyc = cache / (fn.name[:-3] + PYC_TAIL)
    if _read_pyc(fn, pyc) is not None:
        return
    cache.mkdir(exist_ok=True)
    source_hash, code = _rewrite_test(fn, _config)
    _write_pyc(_config.stash[assertstate_key], code, source_hash, pyc)
