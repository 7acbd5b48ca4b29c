"""The API's edges: every error as RFC 9457 problem+json, bodies over the limit refused
before anything reads them, and an OpenAPI document that declares every status each operation can
answer with the schema it really returns.

- `problem_response(status, detail, ...)`: `{"type", "title", "status", "detail"}` (+ `errors`, the
  field errors, for 422; + whatever the caller adds, e.g. `reason`, `case_no`), media type
  `application/problem+json`, headers kept (WWW-Authenticate, Retry-After, Location).
- `BodyLimit`: an ASGI middleware that reads the request body itself, counting the bytes as they
  stream in (a Content-Length over the limit is refused without reading at all; a chunked body when
  the count passes it), and answers 413 before routing, parsing or authentication. The app then gets
  the body it read (at most `max_body_bytes`).
- `install(app)`: the middleware, the exception handlers, and the OpenAPI post-processing.
"""

import asyncio
import re
from collections.abc import Awaitable, Iterable
from http import HTTPStatus
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

log = structlog.get_logger()
T = TypeVar("T")

PROBLEM_JSON = "application/problem+json"
# A workflow's refusal (aftersales.errors.Rejection, raised as an ApplicationError of this type) as HTTP.
REFUSAL_STATUS = {"forbidden": 403, "conflict": 409, "invalid": 422}


# Why a 503 was answered, in every 503 body's `reason` (ops and clients tell them apart without parsing text).
BUSY = "busy"                                    # no worker answered in time, Temporal overloaded, or load shed
UNREACHABLE = "temporal_unreachable"             # the API cannot reach Temporal at all
TASK_FAILING = "workflow_task_failing"           # the case's workflow task fails on the worker (ops must look)
REGISTER_BEHIND = "register_behind"              # the read model lacks cases Temporal holds (rebuild under way)
REASONS = (BUSY, UNREACHABLE, TASK_FAILING, REGISTER_BEHIND)


class ServiceUnavailable(HTTPException):
    """A 503 with its `reason` (one of REASONS) and Retry-After: the body is a problem with `reason`."""

    def __init__(self, reason: str, detail: str, retry_after: int | str = 5) -> None:
        super().__init__(503, detail, headers={"Retry-After": str(retry_after)})
        self.reason = reason


class FieldError(BaseModel):
    """One problem with the request: where (`loc`, e.g. ["body", "customer", "phone"]) and what."""
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details. Some answers add members: `reason` (every 503: busy,
    temporal_unreachable, workflow_task_failing or register_behind), `case_no` (an intake given a number but
    not answered in time)."""
    model_config = ConfigDict(extra="allow")
    type: str = Field(default="about:blank", description="about:blank: the status says what went wrong")
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str = Field(description="what went wrong, for a person")


class ValidationProblem(Problem):
    """422: the request is not acceptable; `errors` names each field and what is wrong with it."""
    errors: list[FieldError]


def problem_body(status: int, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail, **extra}
    if status == 422:
        body["errors"] = errors if errors is not None else [{"loc": [], "msg": detail, "type": "invalid"}]
    return body


def problem_response(status: int, detail: str, *, headers: dict[str, str] | None = None,
                     errors: list[dict[str, Any]] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, detail, errors=errors, **extra), status_code=status,
                        headers=headers, media_type=PROBLEM_JSON)


# --- exception handlers ------------------------------------------------------------------------------

def field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Input values are not echoed (they may hold a phone number)."""
    return [{"loc": [p if isinstance(p, int) else str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()]


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each problem: `detail` sums them up ("body.customer.phone: ..."), `errors` lists them."""
    errors = field_errors(exc)
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return problem_response(422, detail, errors=errors)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # every method the path answers, not only those of the first route matched
        allowed = sorted({m for r in api_routes(request.app) if r.path_regex.match(request.url.path)
                          for m in r.methods})
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
    extra: dict[str, Any] = {}
    if exc.status_code == 503:  # every 503 says why (ServiceUnavailable); one raised without is a busy system
        extra["reason"] = getattr(exc, "reason", BUSY)
        headers.setdefault("Retry-After", "5")
    return problem_response(exc.status_code, detail, headers=headers, **extra)


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", error=type(exc).__name__)
    return problem_response(500, "internal error: the request was not completed; it is logged")


# --- the body limit ----------------------------------------------------------------------------------

class BodyLimit:
    """413 for a request body over `max_bytes`, before the app sees the request. A POST to a path of
    `streamed` (file uploads, D1) goes to its route as it streams, which counts it against its own limit
    (`streamed_max`; a declared length over it is refused here at once)."""

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: "re.Pattern[str] | None" = None,
                 streamed_max: int = 0, streamed_detail: str = "") -> None:
        self.app, self.max_bytes, self.streamed, self.streamed_max = app, max_bytes, streamed, streamed_max
        self.streamed_detail = streamed_detail

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int | None = None,
                      detail: str | None = None) -> None:
        limit = limit or self.max_bytes
        log.warning("request body too large", path=scope.get("path"), limit=limit)
        response = problem_response(413, detail or f"the request body is over {limit} bytes",
                                    headers={"Connection": "close"})
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if self.streamed is not None and scope["method"] == "POST" and self.streamed.match(scope["path"]):
            if declared is not None and declared.isdigit() and int(declared) > self.streamed_max:
                await self._refuse(scope, receive, send, self.streamed_max, self.streamed_detail or None)
                return
            await self.app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self.app(scope, replay, send)


# --- OpenAPI: every status each operation can answer --------------------------------------------------

HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
}
DESCRIPTIONS = {
    400: "The body cannot be parsed (not JSON, not UTF-8)",
    401: "Not authenticated: no token, an invalid or expired one, or the account changed since it was issued",
    403: "The account's role may not do this",
    404: "No such resource (or one this account may not see)",
    409: "Not allowed in the case's current state",
    413: "The request body is over the limit (1 MiB)",
    422: "The request is not acceptable: `errors` names each field",
    429: "Too many attempts: wait Retry-After seconds",
    503: "Busy or Temporal unreachable: wait Retry-After seconds",
}
# Statuses an operation answers beyond those its shape implies (below), by (method, path).
EXTRA_STATUSES: dict[tuple[str, str], set[int]] = {
    ("POST", "/auth/token"): {401, 429},
    ("POST", "/complaints"): {503},
    ("POST", "/repairs"): {503},
    ("GET", "/cases/{case_no}"): {503},
    ("POST", "/cases/{case_no}/actions"): {403, 409, 503},  # 403: a role or scope the action is not for (P1)
    ("PUT", "/admin/contractors/{contractor_id}"): {409},
    ("POST", "/admin/contractors/{contractor_id}/deposit/entries"): {409},
    ("POST", "/admin/accounts"): {409},
    ("PATCH", "/admin/accounts/{username}"): {409},
    ("POST", "/admin/accounts/{username}/password"): {409},
    ("GET", "/properties/units"): {404},                       # a project not in the register
    ("GET", "/fee-schedule"): {404},                           # R3: none published yet, or no such version
    ("POST", "/reports"): {404},                               # P5: a company or project outside the reader's scope
    ("POST", "/campaigns"): {409, 503},
    ("GET", "/campaigns/{campaign_id}"): {503},
    ("POST", "/campaigns/{campaign_id}/visits"): {409, 503},
    ("POST", "/campaigns/{campaign_id}/spot-checks"): {409, 503},
    ("POST", "/campaigns/{campaign_id}/close"): {409, 503},
    ("POST", "/codec/decode"): {401, 403, 422},
    ("POST", "/codec/encode"): {401, 403, 422},
}


def _dependency_names(route: APIRoute) -> set[str]:
    names: set[str] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        names.add(getattr(dep.call, "__name__", ""))
        stack.extend(dep.dependencies)
    return names


def operation_statuses(route: APIRoute, operation: dict[str, Any]) -> set[int]:
    """What an operation can answer as a problem: 413 every one (any request may carry a body), 422
    one with parameters or a body, 400 one with a body that cannot be parsed, 401 one that needs a token, 403 one restricted to roles, 404 one
    with a path parameter, and EXTRA_STATUSES."""
    statuses = {413}
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(422)
    if operation.get("requestBody"):
        statuses.add(400)  # a body that is not even JSON (or not UTF-8)
    names = _dependency_names(route)
    if "current_actor" in names:
        statuses.add(401)
    if any(n.startswith("require_roles") for n in names):
        statuses |= {401, 403}
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses.add(404)
    for method in route.methods:
        statuses |= EXTRA_STATUSES.get((method, route.path_format), set())
    return statuses


def _problem_content(status: int) -> dict[str, Any]:
    name = "ValidationProblem" if status == 422 else "Problem"
    return {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute with its full path (FastAPI keeps included routers nested; the OpenAPI generator
    flattens them the same way)."""
    from fastapi import routing
    from fastapi.openapi.utils import _get_api_route_for_openapi

    return [r for c in routing.iter_route_contexts(app.routes) if (r := _get_api_route_for_openapi(c)) is not None]


def openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (FieldError, Problem, ValidationProblem):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components[model.__name__] = definition
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(operation_statuses(route, operation)):
                declared = responses.get(str(status), {})
                responses[str(status)] = {"description": declared.get("description") or DESCRIPTIONS.get(
                    status, HTTPStatus(status).phrase), "content": _problem_content(status),
                    **({"headers": HEADERS[status]} if status in HEADERS else {})}
    app.openapi_schema = schema
    return schema


def install(app: FastAPI, *, max_body_bytes: int, streamed: "re.Pattern[str] | None" = None,
            streamed_max: int = 0, streamed_detail: str = "") -> None:
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, streamed=streamed, streamed_max=streamed_max,
                       streamed_detail=streamed_detail)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
    app.openapi = lambda: openapi_with_problems(app)  # type: ignore[method-assign]


def statuses_of(schema: dict[str, Any]) -> Iterable[tuple[str, str, set[int]]]:
    """(method, path, declared statuses) of every operation of an OpenAPI document."""
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, {int(s) for s in operation.get("responses", {}) if s.isdigit()}


def refusal(e: Exception) -> HTTPException | None:
    """The 403/409/422 for an Update the workflow refused (its validator or handler), else None."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
        return HTTPException(REFUSAL_STATUS[cause.type], cause.message)
    return None


async def updated(request: Request, update: Awaitable[T], *, read_first: str, not_found: str | None = None) -> T:
    """The answer of a workflow's Update (a campaign's, a report review's; a case's goes through
    api/cases.py, which also bounds them in number) within the API's Update time: not answered in time 503
    (it may still apply when a worker gets to it, so `read_first` names what to read before trying again),
    refused by the workflow 403/409/422, a workflow Temporal does not hold 404 (`not_found`, when given),
    Temporal unreachable 503."""
    timeout = request.app.state.settings.update_timeout_seconds
    try:
        return await asyncio.wait_for(update, timeout)
    except asyncio.TimeoutError:
        raise ServiceUnavailable(BUSY, f"no worker answered within {timeout:g} s; read {read_first} before trying "
                                       "again") from None
    except WorkflowUpdateFailedError as e:
        if (problem := refusal(e)) is not None:
            raise problem from None
        raise
    except RPCError as e:
        if not_found is not None and e.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, not_found) from None
        if e.status == RPCStatusCode.FAILED_PRECONDITION:  # its workflow task fails on the worker: not closed
            from api.health import failing_tasks
            failing_tasks(request).note(request, None, "an update")
            raise ServiceUnavailable(TASK_FAILING, f"the workflow cannot take this now, its workflow task is failing "
                                                   f"on the worker ({e.message}); ops are told (GET /health)") from None
        reason = UNREACHABLE if e.status == RPCStatusCode.UNAVAILABLE else BUSY
        raise ServiceUnavailable(reason, f"Temporal cannot answer now: {e.message}") from None
