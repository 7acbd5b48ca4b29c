"""Every activity's log lines carry the case: a worker interceptor binds case_no and workflow_id
(a case's workflow id is its case number) and the activity type with structlog.contextvars."""

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor


class _BindCase(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        structlog.contextvars.clear_contextvars()  # the activity runs in its own task: this is its context
        structlog.contextvars.bind_contextvars(case_no=info.workflow_id, workflow_id=info.workflow_id,
                                               activity=info.activity_type, attempt=info.attempt)
        return await super().execute_activity(input)


class CaseLogContext(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindCase(next)
