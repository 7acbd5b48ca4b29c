"""Invisible and bidirectional formatting characters (right-to-left override, zero-width space, BOM …,
`aftersales.actions.INVISIBLE`) are refused in every name and text a request carries: a JSON body's
strings (keys too) and a form's fields, 422 naming where, before any route parses the body.

Why here and not only in the models: the same models are read back from Temporal's history inside the
workflows and activities, where a case opened before this rule may hold such a character and must still
replay, and the API's answers are checked by them too (an old name must still be readable). The OpenAPI
document states the rule in every text field's pattern; this middleware enforces it for requests only.
Secrets (passwords, the form's CSRF token) are not names or texts and are left to their own rules."""

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aftersales.actions import INVISIBLE
from api.problems import problem_response

_INVISIBLE = re.compile(f"[{INVISIBLE}]")
_SECRETS = frozenset({"password", "client_secret", "csrf"})
MESSAGE = ("must not contain invisible or bidirectional formatting characters (zero-width space, right-to-left "
           "override, BOM …)：不能含不可见或改变文字方向的格式字符")


def invisible_at(value: Any, loc: list) -> list[list]:
    """Where in a JSON value a string (or a key) holds an invisible character."""
    if isinstance(value, str):
        return [loc] if _INVISIBLE.search(value) else []
    if isinstance(value, dict):
        found = []
        for k, v in value.items():
            if isinstance(k, str) and _INVISIBLE.search(k):
                found.append(loc + [k])
            elif k not in _SECRETS:
                found += invisible_at(v, loc + [k])
        return found
    if isinstance(value, list):
        return [at for i, v in enumerate(value) for at in invisible_at(v, loc + [i])]
    return []


class TextGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype not in (b"application/json", b"application/x-www-form-urlencoded"):
            return await self.app(scope, receive, send)  # a file upload checks its own cells
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        found = _found(ctype, body)
        if found:
            errors = [{"loc": ["body", *at], "msg": MESSAGE, "type": "invisible_character"} for at in found]
            response = problem_response(422, f"{len(found)} field(s) hold invisible characters: " + MESSAGE,
                                        errors=errors)
            return await response(scope, receive, send)
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _found(ctype: bytes, body: bytes) -> list[list]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return []  # the route answers 400
    if not _INVISIBLE.search(text) and "\\u" not in text:
        return []
    if ctype == b"application/json":
        try:
            return invisible_at(json.loads(text), [])
        except ValueError:
            return []
    return [[k] for k, v in parse_qsl(text, keep_blank_values=True) if k not in _SECRETS and _INVISIBLE.search(k + v)]


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}
    return receive


def checked_file_name(name: str | None, default: str) -> str:
    """An uploaded import's file name, refused (422) when it holds an invisible or bidirectional character: the
    name is kept in the import's record and named in its answers, and "台账\u202exslx.csv" reads as 台账vsc.xlsx.
    A multipart body passes the middleware above untouched, so the routes that keep the name call this."""
    if name and _INVISIBLE.search(name):
        from fastapi import HTTPException

        raise HTTPException(422, "file name: " + MESSAGE)
    return name or default
