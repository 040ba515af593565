"""Soft deletion: a record leaves every list, lookup, report and export, and can come back.

The ``delete`` action of ``roles.json`` decides who may delete a record, and the same
permission who may restore it (for a deleted record, the permission's scope is judged
at the place the record held). Deleting sets ``deleted_at``; every read already starts
from ``Records._readable`` (and reports from their scope), which leave such records out,
so a deleted record is nowhere but in the audit trail, which keeps its history and gets
a ``record.deleted`` and, when it comes back, a ``record.restored`` event.

A record with records under it is not deleted: its children would stay in the database
under a parent nobody sees, and deleting them along would reach records the actor may
not even read. Delete (or move) them first. Likewise a record comes back only under a
parent that is there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from steerco.engine import audit
from steerco.engine.errors import Conflict, Forbidden, NotFound, StaleRecord
from steerco.engine.records import Records
from steerco.store.models import Record, utcnow

#: how many deleted records one page of the recycle bin shows at most
BIN_PAGE_MAX = 200


@dataclass(frozen=True)
class DeletedPage:
    """Deleted records the actor may restore, newest deletion first, and whether more follow."""

    items: list[Record]
    more: bool


class Deletion:
    """Delete and restore records as one actor, through the caller's transaction."""

    def __init__(self, records: Records):
        self.records = records
        self.session = records.session
        self.access = records.access

    def may_delete(self, record: Record) -> bool:
        """Does a role of the actor allow ``delete`` on the record (the page's button)?"""
        return self.access.can("delete", record.level_key, record)

    def delete(self, record: Record, expected_version: int | None, *, now: dt.datetime | None = None) -> Record:
        """Soft-delete a readable record; 409 when it is stale or still has records under it."""
        decision = self.access.decide("delete", record.level_key, record)
        if not decision:
            raise Forbidden(decision.reason)
        if expected_version is not None and expected_version != record.version:
            raise StaleRecord(record.version)
        children = self.session.scalar(select(func.count()).select_from(Record).where(
            Record.tenant_id == self.records.tenant_id, Record.parent_id == record.id,
            Record.deleted_at.is_(None)))
        if children:
            raise Conflict(f"{record.number} still has {children} record(s) under it; "
                           "delete or move them first.")
        moment = now or self.records.now or utcnow()
        record.deleted_at = moment
        self._flush(record)
        audit.append(self.session, tenant_id=self.records.tenant_id, user_id=self.access.actor.user_id,
                     kind="record.deleted", record_id=record.id,
                     data={"level": record.level_key, "number": record.number, "title": record.title},
                     now=moment)
        return record

    def deleted_record(self, record_id: int) -> Record:
        """A deleted record of this tenant the actor may restore; NotFound otherwise."""
        record = self.session.scalar(self._restorable().where(Record.id == record_id))
        if record is None or record.level_key not in self.records.config.levels:
            raise NotFound("no such deleted record")
        return record

    def restore(self, record_id: int, *, now: dt.datetime | None = None) -> Record:
        """Bring a deleted record back where it was; 409 while its parent is deleted."""
        record = self.deleted_record(record_id)
        if record.parent_id is not None and self.session.scalar(select(Record.id).where(
                Record.tenant_id == self.records.tenant_id, Record.id == record.parent_id,
                Record.deleted_at.is_(None))) is None:
            raise Conflict(f"{record.number} was under a record that is deleted; restore that one first.")
        moment = now or self.records.now or utcnow()
        record.deleted_at = None
        self._flush(record)
        audit.append(self.session, tenant_id=self.records.tenant_id, user_id=self.access.actor.user_id,
                     kind="record.restored", record_id=record.id,
                     data={"level": record.level_key, "number": record.number, "title": record.title},
                     now=moment)
        return record

    def bin(self, level_key: str | None = None, *, after: tuple[dt.datetime, int] | None = None,
            limit: int = 50) -> DeletedPage:
        """Deleted records the actor may restore, newest deletion first: one page after the
        (deleted_at, id) ``after`` of the previous page's last record."""
        limit = max(1, min(limit, BIN_PAGE_MAX))
        query = self._restorable()
        if level_key is not None:
            query = query.where(Record.level_key == level_key)
        if after is not None:
            query = query.where((Record.deleted_at < after[0])
                                | ((Record.deleted_at == after[0]) & (Record.id < after[1])))
        items = list(self.session.scalars(query.order_by(Record.deleted_at.desc(), Record.id.desc())
                                          .limit(limit + 1)))
        return DeletedPage(items[:limit], len(items) > limit)

    def _restorable(self):  # type: ignore[no-untyped-def]
        return select(Record).where(Record.tenant_id == self.records.tenant_id, Record.deleted_at.is_not(None),
                                    Record.level_key.in_(list(self.records.config.levels)),
                                    self.access.action_filter("delete"))

    def _flush(self, record: Record) -> None:
        try:
            self.session.flush()
        except StaleDataError:
            raise StaleRecord(record.version) from None
