"""D3/D4: the orphan sweep of the file store, started by the `files-orphan-sweep` Schedule."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy


@workflow.defn(name="FileSweepWorkflow")
class FileSweepWorkflow:
    @workflow.run
    async def run(self, grace_hours: float) -> int:
        return await workflow.execute_activity(
            "sweep_orphan_files", grace_hours, result_type=int, start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=5),
                                     maximum_attempts=5))
