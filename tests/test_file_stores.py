"""The blob stores of files (D3): the local folder (the embedded default) and S3 against a real
S3-compatible server on loopback (moto's server mode); both content-addressed and AES-256-GCM encrypted with
the codec's keys, so that key rotation covers files (an old key keeps decrypting, `rewrap` moves its files)."""

import base64
import os

import pytest

from adapters.config import Settings
from adapters.files.blobs import BlobCipher, BlobError, FileStore, LocalBlobStore, S3BlobStore, blob_store, content_hash
from adapters.temporal.codec import keyring
from tests.support import codec
from tests.support.images import photo
from tests.support.s3 import S3Server

OLD = {"k-old": base64.b64encode(os.urandom(32)).decode()}
NEW = {"k-new": base64.b64encode(os.urandom(32)).decode()}


def cipher(keys: dict, encode: str) -> BlobCipher:
    return BlobCipher(*keyring(Settings(codec_keys=keys, codec_encode_key_id=encode)))


async def round_trip(store: FileStore, raw) -> None:
    data = photo("jpeg")
    address = await store.put(data)
    assert address == content_hash(data)
    at_rest = await raw(address)
    assert at_rest.startswith(b"AFB1") and b"TestPhone" not in at_rest and data not in at_rest
    assert await store.get(address) == data
    assert [i.key async for i in store.blobs.list()] == [address]
    # a blob put under another address does not decrypt (the address is authenticated data)
    other = content_hash(b"other")
    await store.blobs.put(other, at_rest)
    with pytest.raises(BlobError):
        await store.get(other)
    await store.delete(other)
    await store.delete(address)
    assert await store.get(address) is None and [i async for i in store.blobs.list()] == []


@pytest.mark.asyncio
async def test_D3_local_store_is_content_addressed_and_encrypted(tmp_path):
    store = FileStore(LocalBlobStore(tmp_path), cipher(codec.KEYS, codec.ENCODE_KEY_ID))
    await round_trip(store, lambda a: store.blobs.get(a))


@pytest.mark.asyncio
async def test_D3_s3_store_against_a_real_s3_server_on_loopback():
    with S3Server() as server:
        settings = Settings(**codec.CODEC, **server.settings())
        blobs = blob_store(settings)
        assert isinstance(blobs, S3BlobStore)
        await blobs.ensure_bucket()
        store = FileStore(blobs, cipher(codec.KEYS, codec.ENCODE_KEY_ID))
        try:
            await round_trip(store, lambda a: blobs.get(a))
            # what the server holds, read by another client, is the encrypted blob under the prefix
            data = photo("png")
            address = await store.put(data)
            client = await blobs.client()
            obj = await client.get_object(Bucket="aftersales-files", Key=f"files/{address}")
            async with obj["Body"] as body:
                assert (await body.read()).startswith(b"AFB1")
        finally:
            await store.aclose()


@pytest.mark.asyncio
async def test_D3_key_rotation_covers_files(tmp_path):
    blobs = LocalBlobStore(tmp_path)
    before = FileStore(blobs, cipher(OLD, "k-old"))
    data = photo("jpeg")
    address = await before.put(data)
    rotated = FileStore(blobs, cipher({**OLD, **NEW}, "k-new"))    # a new encode key, the old one kept
    assert await rotated.get(address) == data
    newer = await rotated.put(photo("webp"))
    assert BlobCipher.key_id_of(await blobs.get(newer)) == "k-new"
    assert await rotated.rewrap() == 1                               # the old key's files moved
    assert BlobCipher.key_id_of(await blobs.get(address)) == "k-new"
    retired = FileStore(blobs, cipher(NEW, "k-new"))                 # the old key removed: all still readable
    assert await retired.get(address) == data
    with pytest.raises(BlobError, match="k-new"):
        await FileStore(blobs, cipher(OLD, "k-old")).get(address)    # without the key: refused, named


@pytest.mark.asyncio
async def test_D3_the_setup_creates_the_bucket_on_a_fresh_s3_store_and_again_changes_nothing(tmp_path):
    """Compose's MinIO starts empty: `python -m adapters.bootstrap` (the setup service) creates the files' bucket,
    as the app would need it, against a real S3 server on loopback; run again (every deployment) it keeps it and
    what it holds."""
    from adapters.bootstrap import prepare_database
    with S3Server() as server:
        settings = Settings(**codec.CODEC, **server.settings(bucket="fresh-files"),
                            database_url=f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}", seed_demo_users=False)
        blobs = blob_store(settings)
        client = await blobs.client()
        try:
            assert "fresh-files" not in {b["Name"] for b in (await client.list_buckets())["Buckets"]}
            with pytest.raises(client.exceptions.NoSuchBucket):
                await blobs.put("a" * 64, b"x")
            await prepare_database(settings)
            assert "fresh-files" in {b["Name"] for b in (await client.list_buckets())["Buckets"]}
            store = FileStore(blobs, cipher(codec.KEYS, codec.ENCODE_KEY_ID))
            address = await store.put(photo("png"))
            await prepare_database(settings)                        # again: the bucket and its blobs stay
            assert await store.get(address) is not None
            assert [i.key async for i in blobs.list()] == [address]
        finally:
            await blobs.aclose()
