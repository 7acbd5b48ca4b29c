"""Overload answered honestly: every Temporal timeout or overload becomes 503 with
`Retry-After`, never 500, and the API sheds load before Temporal does (a bound on the Updates one
process has in flight, answered 503 at once beyond it).

Two kinds of 503 are told apart, in the detail and the `reason` field of the body:
- `busy`: Temporal answers but no worker answered in time (the worker is saturated or stopped), or
  Temporal itself said it is overloaded (RESOURCE_EXHAUSTED), or this process is at its bound;
- `temporal_unreachable`: the API cannot reach Temporal at all (UNAVAILABLE).
"""

import asyncio
from datetime import timedelta
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import BUSY, UNREACHABLE, ServiceUnavailable  # the reasons of every 503

log = structlog.get_logger()

# CANCELLED is what the client reports when its own RPC deadline passed ("Timeout expired").
BUSY_STATUSES = {RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.CANCELLED}
UNREACHABLE_STATUSES = {RPCStatusCode.UNAVAILABLE}
PROBE_SECONDS = 1.0


def overload_reason(e: BaseException) -> str | None:
    """`busy` or `temporal_unreachable` for a timeout or overload; None for any other error."""
    if isinstance(e, (asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError)):
        return BUSY
    if isinstance(e, RPCError):
        if e.status in UNREACHABLE_STATUSES:
            return UNREACHABLE
        if e.status in BUSY_STATUSES:
            return BUSY
    return None


OVERLOAD_ERRORS = (asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError)


def retry_after(request: Request, reason: str) -> str:
    seconds = request.app.state.settings.retry_after_seconds
    return str(seconds * 2 if reason == UNREACHABLE else seconds)


def problem(request: Request, reason: str, detail: str, **extra: Any) -> JSONResponse:
    """A 503 as RFC 9457 problem+json with Retry-After, for answers that carry more than a detail
    (the case number given to an intake that was not answered in time)."""
    title = "Temporal unreachable" if reason == UNREACHABLE else "Service busy"
    body = {"type": "about:blank", "title": title, "status": 503, "detail": detail, "reason": reason, **extra}
    return JSONResponse(body, status_code=503, headers=_headers(request, reason, extra.get("case_no")),
                        media_type="application/problem+json")


def accepted(request: Request, reason: str, case_no: str, detail: str) -> JSONResponse:
    """202: the case is registered under `case_no` but was not answered in time (opens later)."""
    return JSONResponse({"case_no": case_no, "status": "opening", "detail": detail, "reason": reason},
                        status_code=202, headers=_headers(request, reason, case_no))


def _headers(request: Request, reason: str, case_no: str | None) -> dict[str, str]:
    headers = {"Retry-After": retry_after(request, reason)}
    if case_no:
        headers["Location"] = f"/cases/{case_no}"
    return headers


def unavailable(request: Request, reason: str, detail: str) -> HTTPException:
    """503 with `reason` in its body and Retry-After (load shed, an Update or a read not answered in time)."""
    return ServiceUnavailable(reason, detail, retry_after(request, reason))


async def diagnose(request: Request, e: BaseException) -> str:
    """`busy` or `temporal_unreachable` for a timeout or overload. The client retries an unreachable
    server quietly until the caller's time is up, so a timeout alone does not say which: one quick
    call that is not retried (Temporal's health check) does."""
    reason = overload_reason(e) or BUSY
    if reason == BUSY and not (isinstance(e, RPCError) and e.status == RPCStatusCode.RESOURCE_EXHAUSTED):
        try:
            await asyncio.wait_for(request.app.state.temporal.service_client.check_health(
                timeout=timedelta(seconds=PROBE_SECONDS)), PROBE_SECONDS + 0.5)
        except Exception:  # noqa: BLE001 — refused, reset or timed out: not reachable
            return UNREACHABLE
    return reason


async def overload_error(request: Request, e: BaseException, what: str) -> HTTPException:
    """503 for a timeout or overload met while doing `what` (the caller checked overload_reason)."""
    reason = await diagnose(request, e)
    if reason == UNREACHABLE:
        detail = f"Temporal is not reachable ({what}): try again later"
    else:
        detail = f"the system is busy: {what} was not answered in time; try again in a moment"
    log.warning("overload", reason=reason, what=what, error=type(e).__name__)
    return unavailable(request, reason, detail)


class UpdateGate:
    """At most `limit` Updates in flight in this process; the next one is refused at once (503)
    rather than queued, so a saturated worker never piles up requests in the API."""

    def __init__(self, limit: int) -> None:
        self.limit, self.inflight = limit, 0

    @asynccontextmanager
    async def slot(self, request: Request) -> AsyncIterator[None]:
        if self.inflight >= self.limit:
            log.warning("update shed", inflight=self.inflight, limit=self.limit)
            raise unavailable(request, BUSY, f"the system is busy ({self.inflight} requests in progress in this "
                                             "API process); try again in a moment")
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1


def update_gate(request: Request) -> UpdateGate:
    state = request.app.state
    gate = getattr(state, "update_gate", None)
    if gate is None:
        gate = state.update_gate = UpdateGate(state.settings.max_inflight_updates)
    return gate
