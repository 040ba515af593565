"""Attachment bytes (and, later, cached PDFs) outside the database, under random names.

The original filename is only metadata in the database; a blob is named by a random token,
so neither a crafted filename nor a guessed path can reach another file. Two stores keep
the same promise:

- :class:`DiskBlobStore`: a folder outside the web root, one sub-folder per tenant; the
  embedded default, for one machine;
- :class:`S3BlobStore`: a bucket of any S3-compatible object storage, for several app
  processes on several hosts that share nothing but the database and the storage.

:func:`blob_store` picks one from a URL (``STEERCO_BLOB_URL``), so the app factory needs
one line and the engine sees only the :class:`BlobStore` interface.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


class BlobNotFound(LookupError):
    """No blob under this key (deleted, or never stored)."""


class BlobStore(Protocol):
    """Opaque blobs per tenant; keys are chosen by the store."""

    def put(self, tenant_id: int, data: bytes) -> str:
        """Store ``data``; returns its new key."""
        ...

    def get(self, tenant_id: int, key: str) -> bytes:
        """The bytes stored under ``key``; BlobNotFound when there are none."""
        ...

    def remove(self, tenant_id: int, key: str) -> None:
        """Forget ``key`` (no error when it is gone already)."""
        ...


def _new_key() -> str:
    return secrets.token_hex(16)


def _checked(tenant_id: int, key: str) -> tuple[int, str]:
    if not key.isalnum():
        raise ValueError("invalid storage key")
    return int(tenant_id), key


class DiskBlobStore:
    """A folder of opaque blobs, one sub-folder per tenant."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, tenant_id: int, key: str) -> Path:
        tenant_id, key = _checked(tenant_id, key)
        return self.root / str(tenant_id) / key

    def put(self, tenant_id: int, data: bytes) -> str:
        key = _new_key()
        path = self._path(tenant_id, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return key

    def get(self, tenant_id: int, key: str) -> bytes:
        try:
            return self._path(tenant_id, key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def remove(self, tenant_id: int, key: str) -> None:
        self._path(tenant_id, key).unlink(missing_ok=True)


class S3BlobStore:
    """Blobs as objects ``<prefix>/<tenant id>/<key>`` in an S3 bucket.

    Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY``, a profile, an instance role), never from the URL.
    boto3's clients are thread-safe, so one store serves every request of a process.
    """

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, client: Any = None):
        import boto3  # only needed when object storage is configured

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def _name(self, tenant_id: int, key: str) -> str:
        tenant_id, key = _checked(tenant_id, key)
        return "/".join(p for p in (self.prefix, str(tenant_id), key) if p)

    def put(self, tenant_id: int, data: bytes) -> str:
        key = _new_key()
        self.client.put_object(Bucket=self.bucket, Key=self._name(tenant_id, key), Body=data)
        return key

    def get(self, tenant_id: int, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._name(tenant_id, key))
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(key) from None
        return answer["Body"].read()

    def remove(self, tenant_id: int, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(tenant_id, key))


def blob_store(url: str | None, upload_dir: str | Path) -> BlobStore:
    """The store a setting names: ``s3://bucket/prefix?endpoint_url=…&region=…`` for object
    storage, empty for the folder ``upload_dir``."""
    if not url:
        return DiskBlobStore(upload_dir)
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"STEERCO_BLOB_URL must look like s3://bucket/prefix, not {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"endpoint_url", "region"}
    if unknown:
        raise ValueError(f"STEERCO_BLOB_URL: unknown option(s) {', '.join(sorted(unknown))}; "
                         "known: endpoint_url, region")
    return S3BlobStore(parts.netloc, parts.path, endpoint_url=query.get("endpoint_url"),
                       region=query.get("region"))
