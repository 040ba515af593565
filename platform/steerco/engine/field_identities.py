"""Field identity: a field's values belong to its definition, not only to its key.

Records keep their values under field keys (the record's JSON, ``period_value.field_key``,
``attachment.field_key``), and every reader looks them up by key. A key alone is not
enough: a field removed in one version and a *new* field that reuses its key later are two
different definitions, and the new one must not show what the old one held (least of all
to roles that could not see the old field). So each definition is a :class:`FieldIdentity`:

- a version's field keeps the identity its key had in the version it was based on, as long
  as the key exists continuously (changing the label, help or type is the same field);
- a key that comes back after a version without it gets a new identity, unless the admin
  explicitly *restores* an earlier identity of that key (a rollback restores the
  identities of the version it copies);
- the identity whose values sit under the key is ``in_slot``. When activation gives the
  key another identity, the values under the key are set aside under ``~<old id>`` and
  those of the incoming identity (if it had any) come back under the key. Nothing is ever
  deleted, every reader keeps reading by key, and a removed field's values simply stay
  under its key (invisible: no field shows them) until the key is given out again.

The audit trail cannot be rewritten, so the history asks :func:`change_filter` whether a
change of a key, made at a given time, was made to the values of the key's current
identity (its ``epochs``: when its values sat under the key).

Design notes: this moves data only when a key changes hands (rare, at activation, in the
activation's transaction, a bounded query per moved key), and asks nothing of the
readers. A key prefixed with ``~`` cannot be a field key (keys start with a letter).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session

from steerco.store.models import Attachment, ConfigVersion, FieldIdentity, PeriodValue, PlanBaseline, Record

#: how many records' values are rewritten per statement when a key changes hands
BATCH = 500

Epochs = tuple[tuple[dt.datetime | None, dt.datetime | None], ...]

_epochs_cache: dict[tuple[int, int], Mapping[str, Epochs]] = {}
_epochs_lock = threading.Lock()


def retired_key(identity_id: int) -> str:
    """Where an identity's values are kept while another identity holds its key."""
    return f"~{identity_id}"


def field_labels(documents: Mapping[str, Any]) -> dict[str, str]:
    """Field key -> label of a set of documents, tolerating a draft's broken parts."""
    fields = (documents.get("fields") or {}).get("fields") if isinstance(documents.get("fields"), dict) else None
    found: dict[str, str] = {}
    for item in fields if isinstance(fields, list) else []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            label = item.get("label")
            found.setdefault(item["key"], label if isinstance(label, str) and label else item["key"])
    return found


def _iso(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


# -- which identity each field of a version has --------------------------------------

def _in_slot(session: Session, tenant_id: int, keys: Iterable[str]) -> dict[str, FieldIdentity]:
    keys = list(keys)
    if not keys:
        return {}
    return {row.field_key: row for row in session.scalars(select(FieldIdentity).where(
        FieldIdentity.tenant_id == tenant_id, FieldIdentity.field_key.in_(keys), FieldIdentity.in_slot))}


def identities_of(session: Session, version: ConfigVersion) -> dict[str, int]:
    """The identities of an activated version's fields.

    A version stored before identities were kept gets them now: each field adopts the
    identity whose values sit under its key (or a new one, "since the beginning"), which is
    exactly what readers saw until then.
    """
    if version.field_identities is not None:
        return {k: int(v) for k, v in version.field_identities.items() if v is not None}
    labels = field_labels(version.documents)
    slots = _in_slot(session, version.tenant_id, labels)
    mapping: dict[str, int] = {}
    for key, label in labels.items():
        row = slots.get(key)
        if row is None:
            row = FieldIdentity(tenant_id=version.tenant_id, field_key=key, label=label[:200],
                                first_version=version.number, last_version=version.number,
                                in_slot=True, epochs=[[None, None]])
            session.add(row)
            session.flush()
        mapping[key] = row.id
    version.field_identities = dict(mapping)
    session.flush()
    return mapping


def draft_identities(base: Mapping[str, int], documents: Mapping[str, Any],
                     chosen: Mapping[str, Any] | None = None) -> dict[str, int | None]:
    """A draft's field identities: carried from its base by key; for a key the base does
    not have, the identity the admin chose to restore (in ``chosen``), else None (new)."""
    chosen = chosen or {}
    mapping: dict[str, int | None] = {}
    for key in field_labels(documents):
        if key in base:
            mapping[key] = base[key]
        else:
            previous = chosen.get(key)
            mapping[key] = int(previous) if isinstance(previous, int) else None
    return mapping


@dataclass(frozen=True)
class Restorable:
    """An earlier definition of a field key whose values can be brought back."""

    id: int
    field_key: str
    label: str
    first_version: int
    last_version: int
    records: int


def restorable(session: Session, tenant_id: int, key: str, exclude: Iterable[int] = ()) -> list[Restorable]:
    """Earlier identities of ``key`` (newest first) with how many records hold their values."""
    rows = list(session.scalars(select(FieldIdentity).where(
        FieldIdentity.tenant_id == tenant_id, FieldIdentity.field_key == key,
        FieldIdentity.id.not_in(list(exclude))).order_by(FieldIdentity.last_version.desc(), FieldIdentity.id.desc())))
    return [Restorable(r.id, r.field_key, r.label, r.first_version, r.last_version,
                       _records_holding(session, tenant_id, key if r.in_slot else retired_key(r.id)))
            for r in rows]


def identity(session: Session, tenant_id: int, identity_id: int) -> FieldIdentity | None:
    return session.scalar(select(FieldIdentity).where(
        FieldIdentity.tenant_id == tenant_id, FieldIdentity.id == identity_id))


# -- moving values when a key changes hands -----------------------------------------

def _records_holding(session: Session, tenant_id: int, key: str) -> int:
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(Record).where(
        Record.tenant_id == tenant_id, Record.values[key].as_string().isnot(None))) or 0


def _holds_data(session: Session, tenant_id: int, key: str) -> bool:
    return bool(session.scalar(select(
        exists().where(Record.tenant_id == tenant_id, Record.values[key].as_string().isnot(None))
        | exists().where(PeriodValue.tenant_id == tenant_id, PeriodValue.field_key == key)
        | exists().where(Attachment.tenant_id == tenant_id, Attachment.field_key == key))))


def _move(session: Session, tenant_id: int, source: str, target: str) -> int:
    """Move every value stored under ``source`` to ``target``: record JSON, time-phased
    amounts, attachments. Returns how many records' JSON changed. The records' versions are
    left alone: their content did not change, only where a definition keeps it."""
    ids = list(session.scalars(select(Record.id).where(
        Record.tenant_id == tenant_id, Record.values[source].as_string().isnot(None))))
    table = Record.__table__
    statement = update(table).where(table.c.id == bindparam("record_id")).values(values=bindparam("new_values"))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows = session.execute(select(Record.id, Record.values).where(
            Record.tenant_id == tenant_id, Record.id.in_(chunk))).all()
        changed = []
        for record_id, values in rows:
            moved = dict(values or {})
            if source in moved:
                moved[target] = moved.pop(source)
                changed.append({"record_id": record_id, "new_values": moved})
        if changed:
            session.execute(statement, changed)
    session.execute(update(PeriodValue).where(PeriodValue.tenant_id == tenant_id, PeriodValue.field_key == source)
                    .values(field_key=target).execution_options(synchronize_session=False))
    session.execute(update(Attachment).where(Attachment.tenant_id == tenant_id, Attachment.field_key == source)
                    .values(field_key=target).execution_options(synchronize_session=False))
    # a frozen plan's baseline follows its grid
    session.execute(update(PlanBaseline).where(PlanBaseline.tenant_id == tenant_id, PlanBaseline.field_key == source)
                    .values(field_key=target).execution_options(synchronize_session=False))
    return len(ids)


@dataclass
class Handover:
    """What an activation did to field identities, for its audit event and its answer."""

    #: keys given a new definition although an earlier one exists (its values stay aside)
    reused: list[str] = field(default_factory=list)
    #: keys whose earlier definition was restored (its values came back)
    restored: list[str] = field(default_factory=list)
    #: "key: values of N record(s) set aside (definition I, 'label')"
    set_aside: list[str] = field(default_factory=list)

    def as_data(self) -> dict[str, list[str]]:
        return {k: v for k, v in (("reused", self.reused), ("restored", self.restored),
                                  ("set_aside", self.set_aside)) if v}


def _earlier_label(session: Session, tenant_id: int, key: str, before: int) -> str:
    """The label the key last had in an activated version (rare: values nobody claims)."""
    ids = session.scalars(select(ConfigVersion.id).where(
        ConfigVersion.tenant_id == tenant_id, ConfigVersion.number < before,
        ConfigVersion.activated_at.isnot(None)).order_by(ConfigVersion.number.desc())).all()
    for version_id in ids:  # one document at a time, newest first: usually the first one has it
        documents = session.scalar(select(ConfigVersion.documents).where(ConfigVersion.id == version_id))
        label = field_labels(documents or {}).get(key)
        if label:
            return label
    return key


def _close(row: FieldIdentity, now: dt.datetime) -> None:
    """The identity gives up its key: its current epoch ends now."""
    spans = [list(span) for span in row.epochs or [[None, None]]]
    spans[-1][1] = _iso(now)
    row.epochs = spans
    row.in_slot = False


def activate(session: Session, tenant_id: int, number: int, documents: Mapping[str, Any],
             wanted: Mapping[str, Any], now: dt.datetime,
             replaced: Mapping[str, int] | None = None) -> tuple[dict[str, int], Handover]:
    """Give each field of the version being activated its identity, moving values when a
    key changes hands. ``wanted`` maps a key to the identity to keep or restore (None or
    absent: a new definition); ``replaced`` is the identity map of the version active until
    now. Returns the final key -> identity id map and what happened."""
    replaced = replaced or {}
    labels = field_labels(documents)
    chosen_ids = [int(v) for v in wanted.values() if isinstance(v, int)]
    rows = {r.id: r for r in session.scalars(select(FieldIdentity).where(
        FieldIdentity.tenant_id == tenant_id,
        FieldIdentity.field_key.in_(list(labels)) | FieldIdentity.id.in_(chosen_ids)))}
    known_keys = {r.field_key for r in rows.values()}
    live = {r.field_key: r for r in rows.values() if r.in_slot}
    tenant_has_records = bool(session.scalar(select(exists().where(Record.tenant_id == tenant_id))))
    handover = Handover()
    given: dict[str, FieldIdentity] = {}
    moved_any = False
    for key, label in labels.items():
        choice = wanted.get(key)
        target = rows.get(choice) if isinstance(choice, int) else None
        if target is not None and target.field_key != key:
            target = None  # an identity belongs to one key; anything else is a new field
        current = live.get(key)
        if current is None and tenant_has_records and _holds_data(session, tenant_id, key):
            # Values under the key that no identity claims (kept from before identities
            # were tracked) belong to an earlier definition: they are set aside too.
            current = FieldIdentity(tenant_id=tenant_id, field_key=key,
                                    label=f"{_earlier_label(session, tenant_id, key, number)} (earlier)"[:200],
                                    first_version=0, last_version=max(number - 1, 0), in_slot=True,
                                    epochs=[[None, None]])
            session.add(current)
            known_keys.add(key)
        brand_new = target is None
        if target is None:
            if key in known_keys:
                handover.reused.append(key)
            target = FieldIdentity(tenant_id=tenant_id, field_key=key, label=label[:200], first_version=number,
                                   last_version=number, in_slot=False, epochs=[])
            session.add(target)
        elif replaced.get(key) != target.id:
            handover.restored.append(key)
        if current is not target:
            if current is not None:
                session.flush()
                count = _move(session, tenant_id, key, retired_key(current.id))
                _close(current, now)
                handover.set_aside.append(f"{key}: values of {count} record(s) set aside "
                                          f"(definition {current.id}, '{current.label}')")
                moved_any = True
            if not brand_new:  # a new definition has nothing set aside to bring back
                _move(session, tenant_id, retired_key(target.id), key)
                moved_any = True
            target.in_slot = True
            target.epochs = [*(target.epochs or []), [_iso(now), None]]
        target.label = label[:200]
        target.last_version = number
        given[key] = target
    session.flush()
    if moved_any:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Record):
                session.expire(obj, ["values"])
    return {key: row.id for key, row in given.items()}, handover


# -- the history's question ----------------------------------------------------------

def _parse(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def epochs_of(session: Session, tenant_id: int, version_number: int) -> Mapping[str, Epochs]:
    """When each field of an active version had its values under its key, cached per
    version (fixed while the version is active: only an activation changes epochs)."""
    cache_key = (tenant_id, version_number)
    hit = _epochs_cache.get(cache_key)
    if hit is not None:
        return hit
    mapping = session.scalar(select(ConfigVersion.field_identities).where(
        ConfigVersion.tenant_id == tenant_id, ConfigVersion.number == version_number))
    found: dict[str, Epochs] = {}
    ids = {int(v): k for k, v in (mapping or {}).items() if v is not None}
    if ids:
        for row in session.scalars(select(FieldIdentity).where(
                FieldIdentity.tenant_id == tenant_id, FieldIdentity.id.in_(list(ids)))):
            found[row.field_key] = tuple((_parse(a), _parse(b)) for a, b in row.epochs or [])
    with _epochs_lock:
        _epochs_cache[cache_key] = found
    return found


def change_filter(session: Session, tenant_id: int, version_number: int) -> Callable[[str, dt.datetime], bool]:
    """``shown(key, at)``: was a change of ``key`` made at ``at`` a change of the values the
    key's current definition holds? (False for changes of an earlier definition.)"""
    epochs = epochs_of(session, tenant_id, version_number)

    def shown(key: str, at: dt.datetime) -> bool:
        spans = epochs.get(key.split(".", 1)[0])
        if spans is None:
            return True
        return any((start is None or start <= at) and (end is None or at < end) for start, end in spans)

    return shown


def forget_epochs() -> None:
    with _epochs_lock:
        _epochs_cache.clear()
