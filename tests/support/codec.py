"""The payload codec's keys in tests (P4): fixed, test-only keys, committed on purpose and never used
anywhere else, so that histories recorded by `make record-histories` (encrypted with the encode key)
replay in CI (tests/test_replay.py decodes with the same keys)."""

from adapters.temporal.codec import data_converter
from adapters.config import Settings

ENCODE_KEY_ID = "test-2026"
KEYS = {ENCODE_KEY_ID: "Kp1S6epNj/1s8ooCtoQ8V2LxUuxgKcz2djb6SfxMXsM="}
CODEC = {"codec_keys": KEYS, "codec_encode_key_id": ENCODE_KEY_ID}  # Settings(**CODEC)
ENV = {"AFTERSALES_CODEC_KEYS": '{"%s": "%s"}' % (ENCODE_KEY_ID, KEYS[ENCODE_KEY_ID]),
       "AFTERSALES_CODEC_ENCODE_KEY_ID": ENCODE_KEY_ID}  # the same keys for a worker subprocess


def converter():
    """The data converter every test client and the Replayer use: the production one, test keys."""
    return data_converter(Settings(**CODEC))
