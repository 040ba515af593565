"""A record's history as the actor may see it, from the audit trail.

The audit trail keeps every change with its old and new value. Shown to a user, each
change passes the same field check as the record page: a change of a field hidden from
the actor is left out entirely, and so is a change of a field the configuration no
longer has (its values may have been confidential, and no rule says who may see them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.config.model import Level, TenantConfig
from steerco.engine import field_identities
from steerco.engine.access import Access
from steerco.engine.approval_content import display
from steerco.store.models import AuditEvent, Record, User

KIND_LABELS = {
    "record.created": "Created",
    "record.updated": "Changed",
    "record.transitioned": "Stage changed",
    "transition.requested": "Transition requested",
    "transition.approved": "Transition approved",
    "transition.rejected": "Transition rejected",
    "transition.withdrawn": "Request withdrawn",
    "approval.decided": "Approval decision",
    "approval.voided": "Approvals voided",
    "approval.step_added": "Approval step added",
    "approval.escalated": "Escalated",
    "status.changed": "Status changed",
    "comment.added": "Comment",
}


#: events that are nothing but their changes: left out when every change is hidden
HIDDEN_WITH_THEIR_CHANGES = frozenset({"record.updated", "status.changed"})


@dataclass(frozen=True)
class Change:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class Entry:
    event_id: int
    at: dt.datetime
    who: str
    kind: str
    label: str
    summary: str
    changes: tuple[Change, ...]
    #: what an approval decision was given on, (label, value) per field the reader may see
    decided_on: tuple[tuple[str, str], ...] = ()


def _text(level: Level, key: str, value: Any, config: TenantConfig) -> str:
    fld = level.field(key.split(".", 1)[0])
    if value is None:
        return "—"
    if fld is not None and fld.kind.storage == "values":
        return fld.kind.display(fld, value, config) or "—"
    if isinstance(value, dict) and "attached" in value:
        return "attached " + ", ".join(map(str, value["attached"]))
    return str(value)


def _label(level: Level, key: str) -> str:
    field_key, _, rest = key.partition(".")
    fld = level.field(field_key)
    assert fld is not None
    return f"{fld.label} ({rest.replace('.', ' ')})" if rest else fld.label


def visible_changes(config: TenantConfig, access: Access, record: Record,
                    changes: dict[str, Any]) -> tuple[Change, ...]:
    """The changes of one event the actor may see on this record, labelled for people."""
    level = config.levels[record.level_key]
    shown = []
    for key, pair in changes.items():
        old, new = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        fld = level.field(key.split(".", 1)[0])
        dimension = config.status_dimensions.get(key)
        if key == "title":
            shown.append(Change(level.title_label, _text(level, key, old, config), _text(level, key, new, config)))
        elif fld is not None and access.field_mode(fld, record, level.key) != "hidden":
            shown.append(Change(_label(level, key), _text(level, key, old, config), _text(level, key, new, config)))
        elif fld is None and dimension is not None and level.key in dimension.levels:
            labels = {o.key: o.label for o in dimension.options}
            shown.append(Change(dimension.label, labels.get(old, "—"), labels.get(new, str(new))))
    return tuple(shown)


def decided_on(config: TenantConfig, access: Access, record: Record,
               content: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The approval content a decision was given on, without fields hidden from the reader."""
    level = config.levels[record.level_key]
    return tuple((fld.label, display(level, key, value, config)) for key, value in content.items()
                 if (fld := level.field(key)) is not None and access.field_mode(fld, record, level.key) != "hidden")


def record_history(session: Session, config: TenantConfig, access: Access, record: Record) -> list[Entry]:
    """Every event of the record, newest first, with what the actor may see of each."""
    rows = session.execute(
        select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.user_id)
        .where(AuditEvent.tenant_id == record.tenant_id, AuditEvent.record_id == record.id)
        .order_by(AuditEvent.id.desc())
    ).all()
    # A key reused by a new field must not show the changes of the earlier field's values.
    current = field_identities.change_filter(session, record.tenant_id, config.version)
    entries = []
    for event, name in rows:
        data = event.data or {}
        changes = visible_changes(config, access, record, {
            key: pair for key, pair in (data.get("changes") or {}).items() if current(key, event.created_at)})
        if data.get("changes") and not changes and event.kind in HIDDEN_WITH_THEIR_CHANGES:
            continue  # nothing of it is the reader's to see, not even that it happened
        entries.append(Entry(
            event.id, event.created_at, name or "system", event.kind,
            KIND_LABELS.get(event.kind, event.kind.replace(".", " ").capitalize()),
            str(data.get("summary", "")), changes, decided_on(config, access, record, data.get("approved") or {}),
        ))
    return entries
