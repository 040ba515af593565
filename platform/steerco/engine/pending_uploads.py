"""Files attached to a form that failed validation, kept so the user need not attach them twice.

A browser cannot be told to keep a file in a file input across a page load, so a form
that is refused (a bad grid cell, a missing field) would otherwise lose every file its
user chose. The files of fields without an error are stored as pending uploads, bound to
the user and the workspace and expiring after :data:`KEPT_FOR`; the form offers them again
(ticked) and the next post names them, so they are saved with the record as if attached
again. Someone else's pending upload, or an expired one, is never offered or taken.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from steerco.fields import Upload
from steerco.store.blobs import BlobNotFound, BlobStore
from steerco.store.models import PendingUpload, utcnow

#: how long a refused form's files wait for the next try
KEPT_FOR = dt.timedelta(hours=24)
#: the form input that names a field's kept files: ``_pending.<field key>`` = pending id
INPUT_PREFIX = "_pending."


class PendingUploads:
    """One user's pending uploads in one workspace."""

    def __init__(self, session: Session, tenant_id: int, user_id: int, blobs: BlobStore,
                 now: dt.datetime | None = None):
        self.session = session
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.blobs = blobs
        self.now = now or utcnow()

    def named(self, ids_by_field: Mapping[str, Iterable[str]]) -> dict[str, list[PendingUpload]]:
        """The user's live pending uploads that a form names, by field key. Ids that are
        not numbers, belong to someone else, expired or name another field are ignored."""
        wanted = {int(i): key for key, ids in ids_by_field.items() for i in ids if str(i).isdigit()}
        if not wanted:
            return {}
        rows = self.session.scalars(select(PendingUpload).where(
            PendingUpload.tenant_id == self.tenant_id, PendingUpload.user_id == self.user_id,
            PendingUpload.id.in_(wanted), PendingUpload.expires_at > self.now).order_by(PendingUpload.id))
        found: dict[str, list[PendingUpload]] = {}
        for row in rows:
            if wanted[row.id] == row.field_key:
                found.setdefault(row.field_key, []).append(row)
        return found

    def as_uploads(self, pending: Mapping[str, list[PendingUpload]]) -> dict[str, list[Upload]]:
        """The kept files as uploads of a submission (their bytes read from the blob store);
        one whose bytes are gone is left out."""
        uploads: dict[str, list[Upload]] = {}
        for key, rows in pending.items():
            for row in rows:
                try:
                    data = self.blobs.get(self.tenant_id, row.storage_key)
                except BlobNotFound:
                    continue
                uploads.setdefault(key, []).append(Upload(row.filename, row.content_type, data))
        return uploads

    def keep(self, uploads: Mapping[str, list[Upload]]) -> dict[str, list[PendingUpload]]:
        """Store freshly posted files as pending uploads; purges the user's expired ones."""
        self.purge_expired()
        kept: dict[str, list[PendingUpload]] = {}
        for key, files in uploads.items():
            for upload in files:
                if not upload.filename or not upload.size:
                    continue
                row = PendingUpload(
                    tenant_id=self.tenant_id, user_id=self.user_id, field_key=key[:63],
                    filename=upload.filename, content_type=upload.content_type[:127] or "application/octet-stream",
                    size=upload.size, storage_key=self.blobs.put(self.tenant_id, upload.data),
                    created_at=self.now, expires_at=self.now + KEPT_FOR)
                self.session.add(row)
                kept.setdefault(key, []).append(row)
        self.session.flush()
        return kept

    def discard(self, pending: Mapping[str, list[PendingUpload]]) -> None:
        """Forget pending uploads (saved with the record now, or no longer wanted)."""
        rows = [row for rows in pending.values() for row in rows]
        for row in rows:
            self.blobs.remove(self.tenant_id, row.storage_key)
        if rows:
            self.session.execute(delete(PendingUpload).where(
                PendingUpload.tenant_id == self.tenant_id, PendingUpload.id.in_([r.id for r in rows])))

    def purge_expired(self) -> None:
        """Remove the user's expired pending uploads and their bytes."""
        expired = list(self.session.scalars(select(PendingUpload).where(
            PendingUpload.tenant_id == self.tenant_id, PendingUpload.user_id == self.user_id,
            PendingUpload.expires_at <= self.now)))
        self.discard({"": expired})
