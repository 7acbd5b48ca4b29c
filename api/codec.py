"""The codec endpoint of the Temporal Web UI (P4): `POST /codec/decode` and `POST /codec/encode`, the
remote-codec protocol the UI speaks (JSON `{"payloads": [{"metadata": {…base64…}, "data": "…base64…"}]}`,
as temporalio/samples-python `encryption/codec_server.py`).

decode decrypts with the API's own codec (built from the same settings as its Temporal client's) and masks every phone number in what
it returns (aftersales.privacy.mask_personal, the one masking function): ops read cases in the Web UI, never a full number.
CORS answers only the Web UI's origin (AFTERSALES_CODEC_UI_ORIGIN); a request from another origin is 403.

Who may call it (P4): a signed-in user whose role reads workflow payloads (access.ENDPOINTS
["read_workflow_payloads"]: cs_manager) — this API's session cookie, which the Web UI sends when its codec
settings include credentials (same site: the workbench's sign-in), or its token as `Authorization: Bearer`
(the same check as every endpoint: signed out, changed or deactivated accounts are refused); in production
also, when AFTERSALES_CODEC_OIDC_JWKS_URL is set, an access token of the identity provider the Web UI signs
in with, which the UI forwards (TEMPORAL_CODEC_PASS_ACCESS_TOKEN). In the embedded default only from the
machine itself as well. docs/security.md, "The Temporal Web UI"."""

import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

import jwt
import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload, Payloads

from aftersales import access
from adapters.temporal.codec import EncryptionCodec, codec_from_settings
from adapters.config import Settings
from aftersales.privacy import mask_personal
from api.auth import current_actor, oauth2_scheme

CORS_HEADERS = "authorization,content-type,x-namespace"
JSON_ENCODINGS = (b"json/plain", b"json/protobuf")
PAYLOADS_EXAMPLE = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJhIjogMX0="}]}


class CodecPayload(BaseModel):
    """A Temporal payload in its protobuf JSON form: metadata values and data in base64."""
    model_config = ConfigDict(extra="allow")  # further Payload fields of newer Temporal versions pass through
    metadata: dict[str, str] = Field(default_factory=dict, examples=[{"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="}])
    data: str = Field(default="", description="base64")


class CodecPayloads(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PAYLOADS_EXAMPLE]})
    payloads: list[CodecPayload]


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid sign-in (this API's session or token, or the Web UI's identity provider's)"},
    403: {"description": "a role that does not read workflow payloads, not from the Web UI's origin, or "
                         "(embedded) not from this machine"},
    422: {"description": "not payloads in the UI's JSON form, or a key id that is not configured"},
}


def _origin_allowed(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == request.app.state.settings.codec_ui_origin


def _cors(request: Request, response: Response) -> Response:
    if (origin := request.headers.get("origin")) and _origin_allowed(request):
        response.headers.update({
            "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": CORS_HEADERS,
            "Access-Control-Max-Age": "600"})
    response.headers["Vary"] = "Origin"
    return response


async def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HTTPException(403, "the codec endpoint of the embedded default answers this machine only")


log = structlog.get_logger("api.codec")


class IdentityProviderTokens:
    """Access tokens of the Web UI's OIDC identity provider, checked against its published keys (JWKS,
    cached) and, when configured, its issuer and audience."""

    def __init__(self, settings: Settings) -> None:
        self.jwks = jwt.PyJWKClient(settings.codec_oidc_jwks_url, cache_keys=True, lifespan=3600, timeout=10)
        self.issuer, self.audience = settings.codec_oidc_issuer, settings.codec_oidc_audience

    def claims(self, token: str) -> dict[str, Any]:
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(token, key.key, algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"],
                          issuer=self.issuer, audience=self.audience,
                          options={"require": ["exp", "sub"], "verify_aud": self.audience is not None})


def _signed_in(settings: Settings) -> Callable[..., Awaitable[Any]]:
    provider = IdentityProviderTokens(settings) if settings.codec_oidc_jwks_url else None
    allowed = access.ENDPOINTS["read_workflow_payloads"]

    async def check(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> None:
        if provider is not None and token:
            try:
                claims = await asyncio.to_thread(provider.claims, token)
                structlog.contextvars.bind_contextvars(user=str(claims["sub"]), signed_in_by="identity provider")
                return
            except jwt.PyJWTError:
                pass  # not the identity provider's: maybe this API's own token
        from api.workbench import SESSION_COOKIE  # the workbench's sign-in, sent by the Web UI with credentials

        actor = await current_actor(request=request, token=token or request.cookies.get(SESSION_COOKIE),
                                    settings=request.app.state.settings)
        if actor.role not in allowed:
            raise HTTPException(403, f"role {actor.role.value} may not read workflow payloads; allowed: "
                                     f"{', '.join(r.value for r in allowed)}")

    return check


def _caller_check(settings: Settings) -> Callable[..., Awaitable[Any]]:
    signed_in = _signed_in(settings)
    if settings.environment == "production":
        return signed_in

    async def embedded(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> None:
        await _loopback_only(request)
        await signed_in(request, token)

    return embedded


def _mask(payload: Payload) -> Payload:
    if payload.metadata.get("encoding") not in JSON_ENCODINGS:
        return payload
    try:
        masked = json.dumps(mask_personal(json.loads(payload.data)), ensure_ascii=False).encode()
    except ValueError:  # not JSON after all: mask it as text
        masked = mask_personal(payload.data.decode(errors="replace")).encode()
    return Payload(metadata=payload.metadata, data=masked)


def router_for(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/codec", tags=["codec (Temporal Web UI)"])
    caller = [Depends(_caller_check(settings))]

    async def apply(request: Request, body: CodecPayloads,
                    fn: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]) -> Response:
        if not _origin_allowed(request):
            raise HTTPException(403, f"origin {request.headers.get('origin')!r} may not call the codec endpoint")
        try:
            payloads = json_format.ParseDict(body.model_dump(), Payloads())
        except (json_format.ParseError, DecodeError) as e:
            raise HTTPException(422, f"body must be {{\"payloads\": [{{\"metadata\": {{…}}, \"data\": \"…\"}}]}} "
                                     f"with base64 values: {e}") from None
        try:
            out = await fn(list(payloads.payloads))
        except ValueError as e:  # a key id we do not have, or data that does not decrypt
            raise HTTPException(422, str(e)) from None
        answer = {"payloads": json_format.MessageToDict(Payloads(payloads=out)).get("payloads", [])}  # [] kept
        return _cors(request, Response(json.dumps(answer), media_type="application/json"))

    def codec(request: Request) -> EncryptionCodec:
        """The codec of the API's own Temporal client (the same settings), built at first use."""
        state = request.app.state
        if getattr(state, "payload_codec", None) is None:
            state.payload_codec = codec_from_settings(state.settings)
        return state.payload_codec

    @router.post("/decode", dependencies=caller, summary="Decrypt payloads for the Temporal Web UI (phones masked)",
                 response_model=CodecPayloads, responses=RESPONSES)
    async def decode(request: Request, body: CodecPayloads) -> Response:
        async def decode_masked(payloads: Sequence[Payload]) -> list[Payload]:
            return [_mask(p) for p in await codec(request).decode(payloads)]
        return await apply(request, body, decode_masked)

    @router.post("/encode", dependencies=caller, summary="Encrypt payloads the Temporal Web UI sends",
                 response_model=CodecPayloads, responses=RESPONSES)
    async def encode(request: Request, body: CodecPayloads) -> Response:
        return await apply(request, body, codec(request).encode)

    @router.options("/decode", include_in_schema=False)
    @router.options("/encode", include_in_schema=False)
    async def preflight(request: Request) -> Response:
        if not _origin_allowed(request):
            raise HTTPException(403, f"origin {request.headers.get('origin')!r} may not call the codec endpoint")
        return _cors(request, Response(status_code=204))

    return router

