"""P4: the payload codec (AES-256-GCM, key id in the metadata) and the secrets the embedded default
creates at its first start (codec keys, JWT secret: §6)."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from aftersales.case import Customer
from adapters.temporal.codec import ENCODING, KEY_ID, CodecKeyError, EncryptionCodec, codec_from_settings, data_converter
from adapters.config import Settings
from adapters.secret_files import read_or_create
from tests.support import codec as test_codec

PHONE = "13812341234"
KEY_A, KEY_B = os.urandom(32), os.urandom(32)


def customer() -> Customer:
    return Customer(name="王女士", phone=PHONE, project="融侨城", building="5栋", unit="1203")


def plain_payload() -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([customer()])[0]


async def test_P4_round_trip_encrypts_and_restores_the_payload():
    codec = EncryptionCodec({"a": KEY_A}, "a")
    plain = plain_payload()
    assert PHONE.encode() in plain.data  # what Temporal stored before the codec
    [encoded] = await codec.encode([plain])
    assert encoded.metadata["encoding"] == ENCODING and encoded.metadata[KEY_ID] == b"a"
    assert PHONE.encode() not in encoded.SerializeToString()
    [again] = await codec.encode([plain])
    assert again.data != encoded.data  # a fresh nonce per payload
    assert await codec.decode([encoded]) == [plain]


async def test_P4_rotation_old_key_still_decodes_new_key_encodes():
    old = EncryptionCodec({"a": KEY_A}, "a")
    rotated = EncryptionCodec({"a": KEY_A, "b": KEY_B}, "b")
    [by_old] = await old.encode([plain_payload()])
    [by_new] = await rotated.encode([plain_payload()])
    assert by_new.metadata[KEY_ID] == b"b"
    assert await rotated.decode([by_old, by_new]) == [plain_payload(), plain_payload()]
    with pytest.raises(CodecKeyError, match="key id 'b', which is not configured"):
        await old.decode([by_new])


async def test_P4_a_wrong_key_or_relabelled_payload_fails_clearly():
    [encoded] = await EncryptionCodec({"a": KEY_A}, "a").encode([plain_payload()])
    with pytest.raises(CodecKeyError, match="does not decrypt"):
        await EncryptionCodec({"a": KEY_B}, "a").decode([encoded])
    relabelled = Payload(metadata={**encoded.metadata, KEY_ID: b"b"}, data=encoded.data)
    with pytest.raises(CodecKeyError, match="does not decrypt"):  # the key id is authenticated
        await EncryptionCodec({"a": KEY_A, "b": KEY_A}, "a").decode([relabelled])


async def test_P4_plain_json_written_before_the_codec_passes_through():
    plain = plain_payload()
    assert await EncryptionCodec({"a": KEY_A}, "a").decode([plain]) == [plain]
    # and through the whole converter, down to the pydantic model
    converter = test_codec.converter()
    assert await converter.decode([plain], [Customer]) == [customer()]


async def test_P4_the_data_converter_round_trips_models_and_masks_failure_messages():
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    converter = test_codec.converter()
    payloads = await converter.encode([customer()])
    assert PHONE.encode() not in payloads[0].SerializeToString()
    assert await converter.decode(payloads, [Customer]) == [customer()]
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"owner {PHONE} unreachable"), failure)
    assert PHONE.encode() not in failure.SerializeToString()  # masked, as in logs
    assert "owner 138****1234 unreachable" in str(await converter.decode_failure(failure))


def test_P4_bad_key_configuration_is_refused():
    with pytest.raises(CodecKeyError, match="encode key id 'c'"):
        EncryptionCodec({"a": KEY_A}, "c")
    with pytest.raises(CodecKeyError, match="AES-256 needs 32"):
        EncryptionCodec({"a": KEY_A[:16]}, "a")
    with pytest.raises(CodecKeyError, match="not valid base64"):
        codec_from_settings(Settings(codec_keys={"a": "not base64!"}))
    two = {"a": base64.b64encode(KEY_A).decode(), "b": base64.b64encode(KEY_B).decode()}
    with pytest.raises(CodecKeyError, match="AFTERSALES_CODEC_ENCODE_KEY_ID"):
        codec_from_settings(Settings(codec_keys=two))
    assert codec_from_settings(Settings(codec_keys=two, codec_encode_key_id="b")).encode_key_id == "b"


def test_P4_production_refuses_to_start_without_codec_keys(monkeypatch):
    production = Settings(environment="production", jwt_secret="s" * 40, phone_lookup_key="p" * 40, actor_assertion_key="a" * 40)
    with pytest.raises(CodecKeyError, match="production needs AFTERSALES_CODEC_KEYS"):
        data_converter(production)
    monkeypatch.setenv("AFTERSALES_CODEC_KEYS", json.dumps(test_codec.KEYS))
    monkeypatch.setenv("AFTERSALES_CODEC_ENCODE_KEY_ID", test_codec.ENCODE_KEY_ID)
    from_env = Settings(environment="production", jwt_secret="s" * 40, phone_lookup_key="p" * 40, actor_assertion_key="a" * 40)
    assert codec_from_settings(from_env).key_ids == [test_codec.ENCODE_KEY_ID]


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_P4_embedded_creates_a_random_key_file_once(tmp_path):
    key_file = tmp_path / "data" / "codec-keys.json"
    with pytest.raises(CodecKeyError, match="does not exist: restore it"):  # only a first start writes it
        codec_from_settings(Settings(codec_key_file=str(key_file)))
    assert not key_file.exists()
    first = codec_from_settings(Settings(codec_key_file=str(key_file)), create=True)  # ensure_codec_key_file does
    assert key_file.exists() and _private(key_file)
    second = codec_from_settings(Settings(codec_key_file=str(key_file)))  # the next start: the same key
    [encoded] = await first.encode([plain_payload()])
    assert await second.decode([encoded]) == [plain_payload()]
    other_install = codec_from_settings(Settings(codec_key_file=str(tmp_path / "other.json")), create=True)
    with pytest.raises(CodecKeyError):
        await other_install.decode([encoded])


def test_embedded_jwt_secret_is_random_per_install_and_kept(tmp_path):
    """no constant JWT secret in the code; production still requires one."""
    one = Settings(jwt_secret_file=str(tmp_path / "a" / "jwt-secret"))
    assert len(one.jwt_secret) >= 32 and _private(tmp_path / "a" / "jwt-secret")
    assert Settings(jwt_secret_file=str(tmp_path / "a" / "jwt-secret")).jwt_secret == one.jwt_secret
    assert Settings(jwt_secret_file=str(tmp_path / "b" / "jwt-secret")).jwt_secret != one.jwt_secret
    assert Settings(jwt_secret="given-" + "x" * 40, jwt_secret_file=str(tmp_path / "c")).jwt_secret.startswith("given-")
    assert not (tmp_path / "c").exists()
    with pytest.raises(ValidationError, match="AFTERSALES_JWT_SECRET"):
        Settings(environment="production", jwt_secret_file=str(tmp_path / "a" / "jwt-secret"))


def test_secret_file_created_by_concurrent_starts_is_one_secret(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "s"
    with ThreadPoolExecutor(8) as pool:
        got = set(pool.map(lambda _: read_or_create(path, lambda: os.urandom(16).hex()), range(16)))
    assert len(got) == 1 and _private(path)
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary files left


def test_data_is_never_committed():
    ignored = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().split()
    assert "data/" in ignored


async def test_every_payload_converter_the_sdk_builds_shares_one_cache_of_type_adapters():
    """The SDK builds a payload converter per workflow instance, activation and activity command
    (DataConverter.__post_init__): they share one JSON converter, so a replayed case does not build a
    pydantic TypeAdapter for every type in its history again; models still round-trip."""
    import dataclasses

    converter = test_codec.converter()
    again = dataclasses.replace(converter)  # what the SDK does for each activation
    json_a, json_b = (getattr(dc.payload_converter, "_inner_payload_converter", dc.payload_converter)
                      .converters[b"json/plain"] for dc in (converter, again))
    assert json_a is json_b
    payloads = await converter.encode([customer(), [1, 2]])
    assert await again.decode(payloads, [Customer, list[int]]) == [customer(), [1, 2]]
    assert json_a._type_adapter.cache_info().currsize >= 2
