"""P4: the workflow trusts no identity it did not get from the product's own API. The API vouches for each
action it sends to a case (the `act` Update) with an actor assertion: an HMAC-SHA256, keyed with a secret
only the API and the workers hold, over the case's workflow id, the actor, the accounts the API resolved,
the action itself and its idempotency fingerprint. The Update's validator recomputes it and refuses
(`forbidden`) an action whose assertion is missing or does not fit — one sent straight to Temporal (the
`temporal` CLI, a raw client) with a made-up actor, or a real assertion moved to another case, actor or
action. A refused Update never reaches the case's history.

The key: AFTERSALES_ACTOR_ASSERTION_KEY in production (32+ characters, the same for the API and every
worker); the embedded default makes data/actor-assertion-key at its first start, like the other secrets.
The worker hands its key to this module (`configure`) before it polls: the workflow code reads it from
here (a module passed through the sandbox), never from its payloads, so the key is never in a history.

Pure apart from that one process-wide key; no I/O.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

_KEYS: list[bytes] = []


def configure(keys: Iterable[str]) -> None:
    """The keys this process signs with (the first) and accepts (any: a key being rotated in)."""
    _KEYS[:] = [k.encode() for k in keys if k]


def configured() -> bool:
    return bool(_KEYS)


def _message(workflow_id: str, request: Any) -> bytes:
    body = {"workflow_id": workflow_id,
            "actor": request.actor.model_dump(mode="json"),
            "accounts": [a.model_dump(mode="json") for a in request.accounts],
            "action": request.action.model_dump(mode="json"),
            "request_key": request.request_key, "fingerprint": request.fingerprint}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sign(workflow_id: str, request: Any, key: str | bytes | None = None) -> str:
    """The assertion for an ActionRequest to this case (the API's side)."""
    raw = key.encode() if isinstance(key, str) else key
    if raw is None:
        if not _KEYS:
            raise RuntimeError("no actor assertion key configured (adapters.temporal.actor_assertion.configure)")
        raw = _KEYS[0]
    return hmac.new(raw, _message(workflow_id, request), hashlib.sha256).hexdigest()


def vouched(workflow_id: str, request: Any) -> bool:
    """True when the request carries an assertion made with one of the configured keys (the worker's side).
    Without a configured key nothing is vouched for."""
    given = getattr(request, "assertion", None) or ""
    if not _KEYS or not given:
        return False
    message = _message(workflow_id, request)
    return any(hmac.compare_digest(given, hmac.new(k, message, hashlib.sha256).hexdigest()) for k in _KEYS)


# ---- the start of a case (P4) ------------------------------------------------------------------------------
# A case's first run is vouched for like an action: the opener's HMAC over the workflow id and the whole start
# (case number, the registering actor, the intake, its organisation, configuration and intake key) but the
# assertion itself and what continue-as-new carries over. A continued run (start.carried) is not signed again:
# only Temporal's continue-as-new sets a run's continued_run_id, so the case asks for that instead
# (workflows/case_workflow.py, the patch "start-vouched").
_NOT_SIGNED = {"assertion", "carried"}


def start_message(workflow_id: str, start: Any) -> str:
    """What the assertion over a case's start is made over (pure: the workflow computes it, the check is keyed)."""
    body = {"workflow_id": workflow_id, "kind": type(start.intake).__name__,
            "start": start.model_dump(mode="json", exclude=_NOT_SIGNED)}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sign_start(workflow_id: str, start: Any, key: str | bytes | None = None) -> str:
    """The assertion over a case's start (the API's side for an intake; a parent workflow's for a case it opens,
    with the process's key). Signed last, after every field of the start is set."""
    raw = key.encode() if isinstance(key, str) else key
    if raw is None:
        if not _KEYS:
            raise RuntimeError("no actor assertion key configured (adapters.temporal.actor_assertion.configure)")
        raw = _KEYS[0]
    return hmac.new(raw, start_message(workflow_id, start).encode(), hashlib.sha256).hexdigest()


def message_vouched(message: str, assertion: str | None) -> bool:
    """True when `assertion` is the HMAC of `message` under one of the configured keys (the worker's side)."""
    if not _KEYS or not assertion:
        return False
    return any(hmac.compare_digest(assertion, hmac.new(k, message.encode(), hashlib.sha256).hexdigest())
               for k in _KEYS)


def start_vouched(workflow_id: str, start: Any) -> bool:
    """True when the start carries an assertion made with one of the configured keys."""
    return message_vouched(start_message(workflow_id, start), getattr(start, "assertion", None))


# ---- a campaign's start and Updates (P4) -------------------------------------------------------------------
# The same HMAC over the campaign's workflow id, the argument's kind and the whole argument but the assertion:
# a campaign opens cases for the points its visits raise (vouch_for_start), so its start and every visit,
# spot-check and close must come from the API too.


def model_message(workflow_id: str, model: Any) -> str:
    body = {"workflow_id": workflow_id, "kind": type(model).__name__,
            "model": model.model_dump(mode="json", exclude={"assertion"})}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sign_model(workflow_id: str, model: Any, key: str | bytes | None = None) -> str:
    raw = key.encode() if isinstance(key, str) else key
    if raw is None:
        if not _KEYS:
            raise RuntimeError("no actor assertion key configured (adapters.temporal.actor_assertion.configure)")
        raw = _KEYS[0]
    return hmac.new(raw, model_message(workflow_id, model).encode(), hashlib.sha256).hexdigest()


def model_vouched(workflow_id: str, model: Any) -> bool:
    return message_vouched(model_message(workflow_id, model), getattr(model, "assertion", None))
