"""Queries in the time-skipping tests, patient with a loaded machine.

On CI's two cores, with the test server skipping time and the worker running every timer that fell due,
the worker can take longer to answer a query than the client's default RPC deadline, which ends the call
with 'Timeout expired' although nothing is wrong with the case. A test's query gets a generous deadline
and is asked again (bounded) when its deadline passes. Nothing else is retried: a query the workflow
refuses (e.g. a case still being opened) fails the test."""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import Interceptor, OutboundInterceptor, QueryWorkflowInput
from temporalio.service import RPCError, RPCStatusCode

QUERY_DEADLINE = timedelta(seconds=60)
ATTEMPTS = 4


class PatientQueries(Interceptor):
    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Patient(next)


class _Patient(OutboundInterceptor):
    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        if input.rpc_timeout is None:
            input.rpc_timeout = QUERY_DEADLINE
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await super().query_workflow(input)
            except RPCError as e:
                timed_out = e.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED) \
                    or "Timeout expired" in e.message
                if not timed_out or attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(1)
