"""P4: everything Temporal stores for a case (workflow input, Update arguments and results, activity
inputs and results, memos, failure details) is encrypted with AES-256-GCM before it leaves the
process, so the owner's phone number is never in Temporal's database in clear.

`data_converter(settings)` is the one data converter of every Temporal client here (the API, the
worker, the embedded runner, benchmarks, tests and the Replayer): the pydantic converter plus
`EncryptionCodec`. Failure messages stay readable (the API matches query failures by their message, which
Temporal hands back unencoded) but phone numbers in them are masked, as in logs (MaskingFailureConverter).

Keys rotate: each encrypted payload names its key id in its metadata; the encode key encrypts, every
configured key decrypts. To rotate, add a new key, make it the encode key, and keep the old ones for
as long as any history encrypted with them exists (the retention of closed cases, plus every case
still open). A payload without this codec's encoding (plain JSON written before the codec) passes
through decode unchanged, so cases started before it was switched on go on and replay.

Keys come from AFTERSALES_CODEC_KEYS (JSON {key id: base64 of 32 bytes}) and
AFTERSALES_CODEC_ENCODE_KEY_ID in production (required there); the embedded default creates
data/codec-keys.json at its first start only, when Temporal holds nothing yet (adapters.secret_files,
adapters.temporal.setup.ensure_codec_key_file); with Temporal's data there and the file gone, nothing
starts, and the error names the key ids Temporal's cases use. Losing every copy of the keys loses the cases. `python -m adapters.temporal.codec new-key` prints a new key for the environment.
"""

import base64
import binascii
import dataclasses
import json
import os
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter, pydantic_data_converter
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    CompositePayloadConverter, DataConverter, DefaultFailureConverter, DefaultPayloadConverter, JSONPlainPayloadConverter,
    PayloadCodec, PayloadConverter,
)

from adapters.config import Settings
from aftersales.privacy import mask_phone_numbers_in

ENCODING = b"binary/encrypted"      # the samples' encoding name: the UI and `temporal` CLI know it
KEY_ID = "encryption-key-id"        # metadata naming the key a payload was encrypted with
NONCE_BYTES = 12
KEY_BYTES = 32                      # AES-256


class CodecKeyError(ValueError):
    """The codec's keys are missing, malformed, or do not include a payload's key id."""


class CodecKeyFileMissing(CodecKeyError):
    """The embedded default's key file is not there (P4): it is written on a first start only
    (adapters.temporal.setup.ensure_codec_key_file), never silently replaced."""


class PlainPayloadRefused(CodecKeyError):
    """P4: a payload that is not encrypted reached a worker that accepts only encrypted ones (it was sent
    straight to Temporal without the codec). Not an ApplicationError: the SDK fails the workflow task (and
    the Update in it is never applied), it does not fail the case."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Mapping[str, bytes], encode_key_id: str, *, accept_plain: bool = True) -> None:
        super().__init__()
        self.accept_plain = accept_plain
        if encode_key_id not in keys:
            raise CodecKeyError(f"the encode key id {encode_key_id!r} is not among the keys ({', '.join(sorted(keys))})")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise CodecKeyError(f"codec key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.encode_key_id = encode_key_id

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decode_sync(payloads)

    def encode_sync(self, payloads: Iterable[Payload]) -> list[Payload]:
        key_id = self.encode_key_id.encode()
        cipher = self._ciphers[self.encode_key_id]
        out = []
        for p in payloads:
            nonce = os.urandom(NONCE_BYTES)
            # the key id is authenticated data: a payload relabelled with another key id fails to decrypt
            data = nonce + cipher.encrypt(nonce, p.SerializeToString(), key_id)
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=data))
        return out

    def decode_sync(self, payloads: Iterable[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                if not self.accept_plain:
                    raise PlainPayloadRefused(
                        f"unencrypted payload ({p.metadata.get('encoding', b'').decode(errors='replace')}) refused: "
                        "everything sent to a case must go through the product's API (P4)")
                out.append(p)  # written before the codec (plain JSON), or not ours: unchanged
                continue
            key_id = p.metadata.get(KEY_ID, b"").decode(errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise CodecKeyError(
                    f"payload encrypted with key id {key_id!r}, which is not configured (known: "
                    f"{', '.join(self.key_ids)}): add that key to AFTERSALES_CODEC_KEYS or the key file")
            try:
                plain = cipher.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                raise CodecKeyError(f"payload with key id {key_id!r} does not decrypt: wrong key or damaged data") from None
            out.append(Payload.FromString(plain))
        return out


def new_key() -> tuple[str, str]:
    """(key id, base64 key): a fresh random key, its id naming the day it was made."""
    key_id = f"k{datetime.now(timezone.utc):%Y%m%d}-{secrets.token_hex(3)}"
    return key_id, base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def _new_key_file() -> str:
    key_id, key = new_key()
    return json.dumps({"encode_key_id": key_id, "keys": {key_id: key}}, indent=2) + "\n"


def _configured_keys(settings: Settings, create: bool = False) -> tuple[dict[str, str], str | None]:
    if settings.codec_keys:
        return settings.codec_keys, settings.codec_encode_key_id
    if settings.environment == "production":
        raise CodecKeyError("production needs AFTERSALES_CODEC_KEYS (JSON {key id: base64 of 32 random bytes}) "
                            "and AFTERSALES_CODEC_ENCODE_KEY_ID: `python -m adapters.temporal.codec new-key` makes one")
    from pathlib import Path

    from adapters.secret_files import read_or_create

    if not create and not Path(settings.codec_key_file).exists():
        # P4: a new key in place of a lost file would leave every case encrypted with the old one unreadable
        # (and encrypt new ones with a key the restored file lacks): only a first start writes one.
        raise CodecKeyFileMissing(
            f"the codec key file {settings.codec_key_file} does not exist: restore it from the backup "
            "(docs/operations-backup.md); on a first start (Temporal holds nothing yet) the API, the worker or "
            "`make run` writes it")
    try:
        stored = json.loads(read_or_create(settings.codec_key_file, _new_key_file))
        return dict(stored["keys"]), settings.codec_encode_key_id or stored.get("encode_key_id")
    except (ValueError, KeyError, TypeError) as e:
        raise CodecKeyError(f"the codec key file {settings.codec_key_file} is not valid ({e!r}): "
                            "restore it from the backup") from None


def codec_from_settings(settings: Settings, *, create: bool = False, accept_plain: bool = True) -> EncryptionCodec:
    """The codec of the settings' keys: the environment's, else the embedded key file (written only with
    `create`, which ensure_codec_key_file passes on a first start). `accept_plain=False`: the worker's,
    refusing unencrypted payloads (P4)."""
    return EncryptionCodec(*keyring(settings, create=create), accept_plain=accept_plain)


def keyring(settings: Settings, *, create: bool = False) -> tuple[dict[str, bytes], str]:
    """The configured keys (id -> 32 bytes) and the id of the one that encrypts: the codec's, and the file
    store's (D3), so one rotation covers payloads and files."""
    raw, encode_key_id = _configured_keys(settings, create)
    if encode_key_id is None:
        if len(raw) != 1:
            raise CodecKeyError("several codec keys: name the one that encrypts in AFTERSALES_CODEC_ENCODE_KEY_ID")
        encode_key_id = next(iter(raw))
    keys: dict[str, bytes] = {}
    for key_id, b64 in raw.items():
        try:
            keys[key_id] = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise CodecKeyError(f"codec key {key_id!r} is not valid base64") from None
    return keys, encode_key_id


class MaskingFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces (of the failure and its causes) with phone numbers masked."""

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        super().to_failure(exception, payload_converter, failure)
        node: Failure | None = failure
        while node is not None:
            node.message = mask_phone_numbers_in(node.message)
            node.stack_trace = mask_phone_numbers_in(node.stack_trace)
            node = node.cause if node.HasField("cause") else None


_JSON = PydanticJSONPlainPayloadConverter()


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """temporalio's pydantic payload converter, with one JSON converter for the whole process. The SDK
    builds a payload converter for every workflow instance (each case opened or replayed), every
    activation and every activity command, and each pydantic one starts with an empty cache of type
    adapters (35–200 µs to build each): a replayed case built one for every type in its history again. The converter holds no state but that cache (thread-safe: functools.lru_cache)."""

    def __init__(self) -> None:
        CompositePayloadConverter.__init__(self, *(
            _JSON if isinstance(c, JSONPlainPayloadConverter) else c
            for c in DefaultPayloadConverter.default_encoding_payload_converters))


def converter_with(codec: PayloadCodec) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_converter_class=SharedPydanticPayloadConverter,
                               payload_codec=codec, failure_converter_class=MaskingFailureConverter)


def data_converter(settings: Settings) -> DataConverter:
    """The data converter of every Temporal client and the Replayer: pydantic + the encryption codec."""
    return converter_with(codec_from_settings(settings))


def worker_data_converter(settings: Settings) -> DataConverter:
    """The worker's: the same, but refusing unencrypted payloads (P4) unless worker_accept_plain_payloads."""
    return converter_with(codec_from_settings(settings, accept_plain=settings.worker_accept_plain_payloads))


def main(argv: list[str] | None = None) -> None:
    """`python -m adapters.temporal.codec new-key`: a new key for AFTERSALES_CODEC_KEYS (rotation, production)."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["new-key"]:
        raise SystemExit("usage: python -m adapters.temporal.codec new-key")
    key_id, key = new_key()
    print(json.dumps({"key_id": key_id, "key": key}))
    print(f"add it to AFTERSALES_CODEC_KEYS as \"{key_id}\": \"{key}\", keep the old keys, and set "
          f"AFTERSALES_CODEC_ENCODE_KEY_ID={key_id}", file=sys.stderr)


if __name__ == "__main__":
    main()
