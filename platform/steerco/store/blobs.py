"""Attachment bytes on disk, outside the web root, under random names.

The original filename is only metadata in the database; on disk a file is named by a
random token, so neither a crafted filename nor a guessed path can reach another file.
"""

from __future__ import annotations

import secrets
from pathlib import Path


class BlobStore:
    """A folder of opaque blobs, one sub-folder per tenant."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, tenant_id: int, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("invalid storage key")
        return self.root / str(int(tenant_id)) / key

    def put(self, tenant_id: int, data: bytes) -> str:
        key = secrets.token_hex(16)
        path = self._path(tenant_id, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return key

    def get(self, tenant_id: int, key: str) -> bytes:
        return self._path(tenant_id, key).read_bytes()

    def remove(self, tenant_id: int, key: str) -> None:
        self._path(tenant_id, key).unlink(missing_ok=True)
