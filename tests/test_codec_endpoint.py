"""P4: the Temporal Web UI's codec endpoint of the API (POST /codec/decode, /codec/encode): the UI's
protocol, phones masked in what decode returns (P3), CORS for the UI's origin only, loopback only in
the embedded default, signed in in production. Runs the real app with the test
settings (the codec keys of tests/support/codec.py), without Temporal: the endpoint needs only the keys."""

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from temporalio.api.common.v1 import Payload

from aftersales.case import Customer
from adapters.config import Settings
from api.app import create_app
from tests.support import codec as test_codec

PHONE, OTHER_MOBILE, LANDLINE = "13812341234", "13987654321", "0591-87654321"
UI = "http://127.0.0.1:8233"


def ui_json(payloads: list[Payload]) -> dict:
    """What the Web UI sends: metadata values and data in base64."""
    return {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                          "data": base64.b64encode(p.data).decode()} for p in payloads]}


def from_ui_json(body: dict) -> list[Payload]:
    return [Payload(metadata={k: base64.b64decode(v) for k, v in p.get("metadata", {}).items()},
                    data=base64.b64decode(p.get("data", ""))) for p in body["payloads"]]


async def encrypted_case_input() -> list[Payload]:
    customer = Customer(name="王女士", phone=PHONE, project="融侨城", building="5栋", unit="1203")
    landline = Customer(name="李先生", phone=LANDLINE, project="融侨城", building="6栋", unit="101")
    note = f"业主另留电话{OTHER_MOBILE}，晚上联系"
    row = {"case_no": "TS-2026-000001", "customer_phone_masked": "138****1234"}  # already masked: kept
    return await test_codec.converter().encode([customer, landline, note, row])


def _client(app, host: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 50000)), base_url="http://api.test")


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest_asyncio.fixture
async def api(settings, sessionmaker) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in as cs_manager, the role that reads workflow payloads (P4)."""
    async with _client(create_app(settings, sessionmaker=sessionmaker)) as client:
        client.headers.update(await sign_in(client, "cs_manager", settings.demo_password))
        yield client


async def test_P4_the_codec_endpoint_needs_a_signed_in_session_with_an_ops_role(settings, sessionmaker):
    """Before P4 was tightened anything on the machine got owner names, addresses and descriptions here."""
    app = create_app(settings, sessionmaker=sessionmaker)
    body = ui_json(await encrypted_case_input())
    async with _client(app) as client:
        for path in ("/codec/decode", "/codec/encode"):
            r = await client.post(path, json=body, headers={"Origin": UI})
            assert r.status_code == 401 and "王女士" not in r.text and PHONE not in r.text, (path, r.text)
        hotline = await sign_in(client, "hotline", settings.demo_password)
        r = await client.post("/codec/decode", json=body, headers={"Origin": UI, **hotline})
        assert r.status_code == 403 and "王女士" not in r.text
        # the Web UI with credentials included: the workbench's session cookie of a cs_manager
        page = await client.get("/app/login")
        import re
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        await client.post("/app/login", data={"username": "cs_manager", "password": settings.demo_password,
                                              "csrf": csrf, "next": "/app/my-work"})
        r = await client.post("/codec/decode", json=body, headers={"Origin": UI})
        assert r.status_code == 200 and json.loads(from_ui_json(r.json())[0].data)["name"] == "王女士"
        assert r.headers["access-control-allow-credentials"] == "true"


async def test_P4_P3_decode_returns_the_case_with_every_phone_masked(api):
    encrypted = await encrypted_case_input()
    assert all(PHONE.encode() not in p.data for p in encrypted)
    r = await api.post("/codec/decode", json=ui_json(encrypted), headers={"Origin": UI, "X-Namespace": "default"})
    assert r.status_code == 200, r.text
    decoded = from_ui_json(r.json())
    assert [p.metadata["encoding"] for p in decoded] == [b"json/plain"] * 4
    first, second, note, row = (json.loads(p.data) for p in decoded)
    assert row["customer_phone_masked"] == "138****1234"
    assert first["phone"] == "138****1234" and first["name"] == "王女士"  # the rest of the case is readable
    assert second["phone"] == "059*****4321"
    assert note == "业主另留电话139****4321，晚上联系"
    for digits in (PHONE, OTHER_MOBILE, "87654321"):
        assert digits not in r.text
    assert r.headers["access-control-allow-origin"] == UI


async def test_P4_encode_then_decode_round_trip_and_plain_json_passes_through(api):
    plain = test_codec.converter().payload_converter.to_payloads([{"building": "5栋"}])
    r = await api.post("/codec/encode", json=ui_json(plain))
    assert r.status_code == 200, r.text
    [encoded] = from_ui_json(r.json())
    assert encoded.metadata["encoding"] == b"binary/encrypted"
    assert encoded.metadata["encryption-key-id"] == test_codec.ENCODE_KEY_ID.encode()
    for payloads in ([encoded], plain):  # written with the codec, and before it
        r = await api.post("/codec/decode", json=ui_json(payloads))
        assert json.loads(from_ui_json(r.json())[0].data) == {"building": "5栋"}


async def test_P4_unknown_key_id_or_bad_body_is_a_clear_422(api):
    from adapters.temporal.codec import EncryptionCodec

    foreign = await EncryptionCodec({"old-2024": b"k" * 32}, "old-2024").encode((await encrypted_case_input())[:1])
    r = await api.post("/codec/decode", json=ui_json(foreign))
    assert r.status_code == 422 and "old-2024" in r.text
    r = await api.post("/codec/decode", json={"payloads": [{"data": "not base64 !"}]})
    assert r.status_code == 422


async def test_P4_CORS_answers_the_web_ui_origin_only(api):
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-namespace"}
    r = await api.options("/codec/decode", headers={"Origin": UI, **preflight})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == UI
    assert "x-namespace" in r.headers["access-control-allow-headers"]
    for origin in ("http://evil.example", "http://127.0.0.1:8234"):
        r = await api.options("/codec/decode", headers={"Origin": origin, **preflight})
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        r = await api.post("/codec/decode", json=ui_json(await encrypted_case_input()), headers={"Origin": origin})
        assert r.status_code == 403 and PHONE not in r.text


async def test_P4_embedded_codec_endpoint_answers_loopback_only(settings, sessionmaker):
    app = create_app(settings, sessionmaker=sessionmaker)
    async with _client(app, host="::1") as local:
        manager = await sign_in(local, "cs_manager", settings.demo_password)
        r = await local.post("/codec/decode", json=ui_json(await encrypted_case_input()), headers=manager)
        assert r.status_code == 200
    async with _client(app, host="192.168.1.20") as remote:
        r = await remote.post("/codec/decode", json=ui_json(await encrypted_case_input()), headers=manager)
        assert r.status_code == 403 and PHONE not in r.text


async def test_P4_production_codec_endpoint_needs_a_signed_in_account(settings, sessionmaker):
    production = Settings(**{**settings.model_dump(), "environment": "production", "jwt_secret": "p" * 40, "actor_assertion_key": "a" * 40})
    app = create_app(production, sessionmaker=sessionmaker)
    body = ui_json(await encrypted_case_input())
    async with _client(app, host="10.0.0.7") as client:  # behind the proxy: not loopback
        r = await client.post("/codec/decode", json=body, headers={"Origin": UI})
        assert r.status_code == 401 and PHONE not in r.text
        r = await client.post("/codec/decode", json=body, headers={"Authorization": "Bearer forged"})
        assert r.status_code == 401
        r = await client.options("/codec/decode", headers={"Origin": UI})  # the preflight carries no token
        assert r.status_code == 204
        login = await client.post("/auth/token", data={"username": "cs_manager", "password": settings.demo_password})
        token = login.json()["access_token"]
        r = await client.post("/codec/decode", json=body, headers={"Origin": UI, "Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and json.loads(from_ui_json(r.json())[0].data)["phone"] == "138****1234"
        gm = await sign_in(client, "gm", settings.demo_password)       # signed in, but not an ops role (P4)
        assert (await client.post("/codec/decode", json=body, headers={"Origin": UI, **gm})).status_code == 403


class JWKSServer:
    """The identity provider's published keys (JWKS), served on loopback by a real HTTP server."""

    def __init__(self, jwks: dict) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


async def test_P4_production_codec_endpoint_accepts_the_web_ui_identity_providers_token(settings, sessionmaker):
    """The Web UI signs in with the company's OIDC provider and forwards its access token
    (TEMPORAL_CODEC_PASS_ACCESS_TOKEN): the endpoint checks it against the provider's JWKS."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    idp_key, other_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(idp_key.public_key()))
    issuer, audience = "https://sso.example.com", "temporal-ui"

    def token(key=idp_key, **claims) -> str:
        body = {"sub": "ops.li", "iss": issuer, "aud": audience, "exp": int(time.time()) + 300, **claims}
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": "idp-1"})

    body = ui_json(await encrypted_case_input())
    with JWKSServer({"keys": [{**public, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}) as idp:
        production = Settings(**{**settings.model_dump(), "environment": "production", "jwt_secret": "p" * 40, "actor_assertion_key": "a" * 40,
                                 "codec_oidc_jwks_url": idp.url, "codec_oidc_issuer": issuer,
                                 "codec_oidc_audience": audience})
        app = create_app(production, sessionmaker=sessionmaker)
        async with _client(app, host="10.0.0.7") as client:
            async def decode(bearer: str) -> httpx.Response:
                return await client.post("/codec/decode", json=body, headers={"Origin": UI, "Authorization": f"Bearer {bearer}"})

            r = await decode(token())
            assert r.status_code == 200, r.text
            assert json.loads(from_ui_json(r.json())[0].data)["phone"] == "138****1234"
            for refused in (token(other_key), token(aud="another-app"), token(iss="https://evil.example"),
                            token(exp=int(time.time()) - 60)):
                r = await decode(refused)
                assert r.status_code == 401 and PHONE not in r.text
            # this API's own sign-in still works beside the provider's
            login = await client.post("/auth/token", data={"username": "cs_manager", "password": settings.demo_password})
            assert (await decode(login.json()["access_token"])).status_code == 200


# the review's eight writings that passed unmasked (P3), and generated ones in every writing
REVIEW_WRITINGS = ["+86-13722224444", "+8613722224444", "8613722224444", "137.2222.4444", "137_2222_4444",
                   "(137)22224444", "１３７２２２２４４４４", "137\u00a02222\u00a04444"]


async def test_P4_P3_decode_masks_a_number_in_every_writing_of_a_case_s_text(api):
    """What the Web UI decodes of a case: its intake's description and progress notes in its history, each
    with a number in one of the review's writings, and more in writings generated as tests/test_phone_writings.py
    does: no full number comes back."""
    from hypothesis import HealthCheck, given, settings as hsettings
    from hypothesis import strategies as st

    from tests.test_phone_writings import digits_of, numbers, writings

    def shows(text: str, number: str) -> bool:
        return number in digits_of(text)

    intake = {"customer": {"name": "周女士", "phone": "13812345678"}, "category": "物业服务",
              "description": "电梯故障，联系" + "；".join(REVIEW_WRITINGS)}
    notes = [{"action": "progress_note", "note": f"业主另留 {w}"} for w in REVIEW_WRITINGS]
    r = await api.post("/codec/decode", json=ui_json(await test_codec.converter().encode([intake, *notes])))
    assert r.status_code == 200, r.text
    decoded = [p.data.decode() for p in from_ui_json(r.json())]
    assert not [t for t in decoded if shows(t, "13722224444") or shows(t, "13812345678")], decoded
    assert all("137****4444" in t for t in decoded[1:]) and decoded[0].count("137****4444") == len(REVIEW_WRITINGS)

    @hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data(), number=numbers())
    def one(data, number) -> None:
        written = data.draw(writings(number))
        samples.append((number, {"action": "progress_note", "note": f"请回电{written}。"}))
    samples: list[tuple[str, dict]] = []
    one()
    encoded = await test_codec.converter().encode([note for _, note in samples])
    r = await api.post("/codec/decode", json=ui_json(encoded))
    assert r.status_code == 200, r.text
    for (number, sent), p in zip(samples, from_ui_json(r.json()), strict=True):
        assert not shows(p.data.decode(), number), (sent, p.data.decode())
