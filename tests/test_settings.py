"""Settings that would make the system misbehave are refused at start, naming the setting."""

import pytest
from pydantic import ValidationError

from adapters.config import CACHE_PER_WORKFLOW_TASK, Settings


def test_worker_cache_too_small_for_its_workflow_tasks_is_refused_naming_both_settings():
    """A sticky cache smaller than CACHE_PER_WORKFLOW_TASK × the workflow tasks in flight stalled the worker
    (timer_bench: cache 100 and 200 with 100 tasks); the start is refused instead of running slow."""
    with pytest.raises(ValidationError) as e:
        Settings(worker_max_cached_workflows=200, worker_max_concurrent_workflow_tasks=100)
    assert "worker_max_cached_workflows (200)" in str(e.value)
    assert "worker_max_concurrent_workflow_tasks (100)" in str(e.value)
    tasks = 25  # the bound follows the tasks: a small worker may keep a small cache
    assert Settings(worker_max_cached_workflows=CACHE_PER_WORKFLOW_TASK * tasks,
                    worker_max_concurrent_workflow_tasks=tasks).worker_max_cached_workflows == 100
    with pytest.raises(ValidationError):
        Settings(worker_max_cached_workflows=CACHE_PER_WORKFLOW_TASK * tasks - 1, worker_max_concurrent_workflow_tasks=tasks)


def test_worker_without_a_cache_and_the_defaults_are_accepted():
    assert Settings(worker_max_cached_workflows=0).worker_max_cached_workflows == 0  # every task replays: slow, no stall
    default = Settings()
    assert default.worker_max_cached_workflows >= CACHE_PER_WORKFLOW_TASK * default.worker_max_concurrent_workflow_tasks


def test_worker_cache_setting_from_the_environment_is_checked(monkeypatch):
    """As ops set it (docker-compose, AFTERSALES_ variables)."""
    monkeypatch.setenv("AFTERSALES_WORKER_MAX_CACHED_WORKFLOWS", "150")
    with pytest.raises(ValidationError, match="worker_max_cached_workflows"):
        Settings()
    monkeypatch.setenv("AFTERSALES_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "30")
    assert Settings().worker_max_cached_workflows == 150
