"""The process's long-lived objects kept out of the cyclic garbage collector's full collections (P5).

Measured on the register and my-work pages (benchmarks/group_bench.py, gc.callbacks timing every collection):
one request in seven to ten paid a generation-2 collection of 120–430 ms of CPU, scanning the ~280,000 objects
that start-up leaves behind (modules, SQLAlchemy's mappers, pydantic's models, the templates) although none of
them is ever garbage. `gc.freeze()` after start-up moves them to the permanent generation, so a full
collection scans only what requests made since; the objects are still freed by reference counting.
"""

from __future__ import annotations

import gc


def settle_after_start_up() -> int:
    """Collect start-up's garbage once, then freeze what is left (the process's lifetime objects); returns how
    many objects are frozen. Called once a process has started serving its app (api.app's lifespan, a worker)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
