"""P5: the app's start-up objects are frozen out of the cyclic collector's full collections once it serves
(adapters/heap.py): a generation-2 collection over them made one register page in ten 150–400 ms."""

import gc
import time

import pytest

from api.app import create_app


@pytest.mark.asyncio
async def test_the_served_app_freezes_its_start_up_heap_so_a_full_collection_scans_only_new_objects(
        settings, sessionmaker):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)
    try:
        async with app.router.lifespan_context(app):
            frozen = gc.get_freeze_count()
            t = time.process_time()
            gc.collect()   # a full collection, as one request in seven to ten triggered
            took = time.process_time() - t
            left = len(gc.get_objects())   # what a full collection scans: the frozen ones are not listed
    finally:
        gc.unfreeze()   # the test process's heap back as it was
    # the modules, mappers, models and templates of start-up: far more than what is left for a collection
    assert frozen > 100_000, frozen
    assert left < frozen / 2, (left, frozen)
    assert took < 0.5, took
