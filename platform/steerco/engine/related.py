"""The records around one record, as expressions read them: ``parent.field``,
``ancestor('level').field`` and ``children('level').sum('field')`` / ``.count(condition)``.

:class:`RelatedRecords` is handed to an evaluation under ``expressions.RELATED`` in the
values of one record (its page, its gates, thresholds and rules, the computed fields of a
save) and reads from the database only what an expression asks for, each relation once:
the parent is one primary-key read, the ancestors one query over the materialised path,
one level's children one query. Each related record reads as its JSON values plus
``stage`` and ``title`` (time-phased grids and files of related records are not loaded).

They are read as governance reads them, whoever looks: a threshold over the children's
potential counts every child, not the ones the requester happens to see. A computed field
shown to readers should therefore read only fields those readers may see.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.store.models import Record


def _as_values(record: Record) -> dict[str, Any]:
    return {**(record.values or {}), "stage": record.stage_key, "title": record.title}


class RelatedRecords:
    """The parent, ancestors and children of ``record`` (or, for a record being created,
    of a new child of ``parent``), read lazily and kept for the evaluation's lifetime."""

    def __init__(self, session: Session, tenant_id: int, record: Record | None, parent: Record | None = None):
        self.session = session
        self.tenant_id = tenant_id
        self.record = record
        self.parent_record = parent
        self._parent: Mapping[str, Any] | None = None
        self._ancestors: list[Record] | None = None
        self._children: dict[str, list[dict[str, Any]]] = {}

    def _path_ids(self) -> list[int]:
        """Ids of the records above, from the root down."""
        if self.record is not None and self.record.path:
            return self.record.ancestor_ids
        if self.parent_record is not None:
            return [*self.parent_record.ancestor_ids, self.parent_record.id]
        return []

    def _above(self) -> list[Record]:
        if self._ancestors is None:
            ids = self._path_ids()
            found = self.session.scalars(select(Record).where(
                Record.tenant_id == self.tenant_id, Record.id.in_(ids), Record.deleted_at.is_(None))).all() \
                if ids else []
            by_id = {r.id: r for r in found}
            self._ancestors = [by_id[i] for i in ids if i in by_id]
        return self._ancestors

    def parent(self) -> Mapping[str, Any] | None:
        above = self._above()
        return _as_values(above[-1]) if above else None

    def ancestor(self, level: str) -> Mapping[str, Any] | None:
        """The nearest record above of that level."""
        return next((_as_values(r) for r in reversed(self._above()) if r.level_key == level), None)

    def children(self, level: str) -> Sequence[Mapping[str, Any]]:
        """The record's children of that level (a record being created has none)."""
        if self.record is None or self.record.id is None:
            return []
        if level not in self._children:
            self._children[level] = [_as_values(r) for r in self.session.scalars(select(Record).where(
                Record.tenant_id == self.tenant_id, Record.parent_id == self.record.id,
                Record.level_key == level, Record.deleted_at.is_(None)))]
        return self._children[level]
