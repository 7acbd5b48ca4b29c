"""Where files' bytes live (D3: outside the workflow engine), encrypted before they leave the process.

- `BlobStore`: put / get / delete / list of opaque blobs by key. Two of them: `LocalBlobStore` (a folder,
  `data/files/` by default: the embedded default) and `S3BlobStore` (any S3-compatible store — MinIO, Aliyun
  OSS, Tencent COS, AWS S3 — through aiobotocore, bucket, endpoint and credentials from the settings).
- `FileStore`: content-addressed and encrypted. A file's key is the SHA-256 of its content (after EXIF
  location was removed): the same photo stored twice is one blob. Each blob is AES-256-GCM encrypted with the
  payload codec's encode key (adapters/temporal/codec.py) and names that key's id in its header, so the keys
  rotate as the codec's do: a new key encrypts from then on, the old ones keep decrypting, and
  `rewrap` re-encrypts the blobs of a key about to be retired. The key id and the content hash are the
  cipher's authenticated data: a blob swapped under another key, or relabelled, does not decrypt.

Blob layout: b"AFB1" | key-id length (1 byte) | key id | 12-byte nonce | ciphertext + tag.
"""

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.config import Settings

MAGIC = b"AFB1"
NONCE_BYTES = 12


class BlobError(RuntimeError):
    """A blob that is missing a key, damaged, or not what its address says."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    modified: datetime


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def delete(self, key: str) -> None: ...
    def list(self) -> AsyncIterator[BlobInfo]: ...
    async def aclose(self) -> None: ...


class LocalBlobStore:
    """Blobs as files under `root` (two levels of folders by the key's first characters), each written
    beside its place and renamed into it: a reader never sees half a blob, a crash leaves a temporary file
    the orphan sweep removes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise BlobError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def list(self) -> AsyncIterator[BlobInfo]:
        if not self.root.exists():
            return
        for path in await asyncio.to_thread(lambda: sorted(self.root.glob("*/*/*"))):
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            except FileNotFoundError:
                continue
            # a temporary file left by a crash is listed under its own name: the sweep removes it too
            yield BlobInfo(key=path.name, modified=modified)

    async def delete_temporary(self, key: str) -> None:
        for path in self.root.glob(f"*/*/{key}"):
            path.unlink(missing_ok=True)

    async def aclose(self) -> None:
        return None


class S3BlobStore:
    """Blobs as objects of one bucket under `prefix`, through one aiobotocore client per store (opened on
    first use, closed by `aclose`)."""

    def __init__(self, *, bucket: str, endpoint_url: str | None, region: str, access_key_id: str,
                 secret_access_key: str, prefix: str = "") -> None:
        self.bucket, self.prefix = bucket, prefix
        self._config = dict(endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id or None,
                            aws_secret_access_key=secret_access_key or None)
        self._stack: AsyncExitStack | None = None
        self._client = None
        self._lock = asyncio.Lock()

    async def client(self):
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    from aiobotocore.config import AioConfig
                    from aiobotocore.session import get_session

                    stack = AsyncExitStack()
                    self._client = await stack.enter_async_context(get_session().create_client(
                        "s3", config=AioConfig(signature_version="s3v4", retries={"max_attempts": 3,
                                                                                   "mode": "standard"},
                                               s3={"addressing_style": "path"}), **self._config))
                    self._stack = stack
        return self._client

    async def put(self, key: str, data: bytes) -> None:
        await (await self.client()).put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    async def get(self, key: str) -> bytes | None:
        client = await self.client()
        try:
            answer = await client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except client.exceptions.NoSuchKey:
            return None
        async with answer["Body"] as body:
            return await body.read()

    async def delete(self, key: str) -> None:
        await (await self.client()).delete_object(Bucket=self.bucket, Key=self.prefix + key)

    async def list(self) -> AsyncIterator[BlobInfo]:
        paginator = (await self.client()).get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                yield BlobInfo(key=item["Key"][len(self.prefix):], modified=item["LastModified"])

    async def ensure_bucket(self) -> None:
        """Creates the bucket unless it exists (compose's MinIO starts empty; production makes its own)."""
        client = await self.client()
        try:
            await client.head_bucket(Bucket=self.bucket)
        except client.exceptions.ClientError:
            await client.create_bucket(Bucket=self.bucket)

    async def aclose(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._client = None, None


class BlobCipher:
    """AES-256-GCM with the codec's keys: the encode key encrypts, every configured key decrypts."""

    def __init__(self, keys: Mapping[str, bytes], encode_key_id: str) -> None:
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.encode_key_id = encode_key_id

    def encrypt(self, data: bytes, address: str) -> bytes:
        kid = self.encode_key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + bytes([len(kid)]) + kid + nonce + self._ciphers[self.encode_key_id].encrypt(
            nonce, data, kid + b"|" + address.encode())

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
            raise BlobError("not an encrypted file blob")
        n = blob[len(MAGIC)]
        return blob[len(MAGIC) + 1:len(MAGIC) + 1 + n].decode(errors="replace")

    def decrypt(self, blob: bytes, address: str) -> bytes:
        key_id = self.key_id_of(blob)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise BlobError(f"file blob {address[:12]}… is encrypted with key {key_id!r}, which is not configured "
                            "(keep retired keys until `rewrap` moved their files)")
        start = len(MAGIC) + 1 + len(key_id.encode())
        nonce, sealed = blob[start:start + NONCE_BYTES], blob[start + NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, sealed, key_id.encode() + b"|" + address.encode())
        except InvalidTag:
            raise BlobError(f"file blob {address[:12]}… does not decrypt: wrong key or damaged") from None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileStore:
    """Content-addressed, encrypted files on a BlobStore (D3)."""

    def __init__(self, blobs: BlobStore, cipher: BlobCipher) -> None:
        self.blobs, self.cipher = blobs, cipher

    async def put(self, data: bytes) -> str:
        """Stores `data` (encrypted) under its hash and answers the hash. Storing it again writes it again
        (same content, new nonce): idempotent for readers."""
        address = content_hash(data)
        await self.blobs.put(address, self.cipher.encrypt(data, address))
        return address

    async def get(self, address: str) -> bytes | None:
        blob = await self.blobs.get(address)
        if blob is None:
            return None
        data = self.cipher.decrypt(blob, address)
        if content_hash(data) != address:  # never serve what the address does not name
            raise BlobError(f"file blob {address[:12]}… does not hold the content its address names")
        return data

    async def delete(self, address: str) -> None:
        await self.blobs.delete(address)

    async def rewrap(self) -> int:
        """Key rotation: every blob not under the encode key is decrypted with its old key and stored again
        under the current one; answers how many. Run it before an old key is removed from the settings."""
        moved = 0
        async for info in self.blobs.list():
            blob = await self.blobs.get(info.key)
            if blob is None or not blob.startswith(MAGIC) or self.cipher.key_id_of(blob) == self.cipher.encode_key_id:
                continue
            await self.blobs.put(info.key, self.cipher.encrypt(self.cipher.decrypt(blob, info.key), info.key))
            moved += 1
        return moved

    async def aclose(self) -> None:
        await self.blobs.aclose()


def blob_store(settings: Settings) -> BlobStore:
    if settings.files_store == "s3":
        return S3BlobStore(bucket=settings.files_s3_bucket, endpoint_url=settings.files_s3_endpoint_url,
                           region=settings.files_s3_region, access_key_id=settings.files_s3_access_key_id,
                           secret_access_key=settings.files_s3_secret_access_key, prefix=settings.files_s3_prefix)
    return LocalBlobStore(settings.files_dir)


def file_store(settings: Settings) -> FileStore:
    from adapters.temporal.codec import keyring

    return FileStore(blob_store(settings), BlobCipher(*keyring(settings)))


def main(argv: list[str] | None = None) -> None:
    """`python -m adapters.files.blobs rewrap`: re-encrypts the files of retired keys with the encode key."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["rewrap"]:
        raise SystemExit("usage: python -m adapters.files.blobs rewrap")

    async def run() -> int:
        store = file_store(Settings())
        try:
            return await store.rewrap()
        finally:
            await store.aclose()

    print(f"{asyncio.run(run())} file(s) re-encrypted with the encode key")


if __name__ == "__main__":
    main()
