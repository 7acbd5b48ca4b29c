"""Personal data kept in the read model, sealed (P3, P4): the owner's phone in the property register is
encrypted with the payload codec's keys (AES-256-GCM, key id inside), so one key ring protects it in
Temporal and in the read model, and it rotates the same way."""

import base64

from temporalio.api.common.v1 import Payload

from adapters.temporal.codec import EncryptionCodec, codec_from_settings
from adapters.config import Settings

_TEXT = {"encoding": b"text/plain"}


class Sealer:
    def __init__(self, codec: EncryptionCodec) -> None:
        self.codec = codec

    @classmethod
    def from_settings(cls, settings: Settings) -> "Sealer":
        return cls(codec_from_settings(settings))

    def seal(self, text: str) -> str:
        [payload] = self.codec.encode_sync([Payload(metadata=_TEXT, data=text.encode())])
        return base64.b64encode(payload.SerializeToString()).decode()

    def unseal(self, sealed: str) -> str:
        [payload] = self.codec.decode_sync([Payload.FromString(base64.b64decode(sealed))])
        return payload.data.decode()


def app_sealer(state) -> Sealer:
    """The API's one Sealer (built from its settings on first use)."""
    sealer = getattr(state, "sealer", None)
    if sealer is None:
        sealer = state.sealer = Sealer.from_settings(state.settings)
    return sealer
