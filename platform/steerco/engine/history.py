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
from steerco.engine import field_identities, fieldviews
from steerco.engine.access import Access
from steerco.engine.approval_content import display as content_text
from steerco.engine.fieldviews import RecordView
from steerco.fields.display import Display
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
    "plan.frozen": "Plan frozen",
    "plan_change.requested": "Plan change requested",
    "plan_change.applied": "Plan change applied",
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


def _label(level: Level, key: str) -> str:
    field_key, _, rest = key.partition(".")
    fld = level.field(field_key)
    assert fld is not None
    return f"{fld.label} ({rest.replace('.', ' ')})" if rest else fld.label


def _pairs(changes: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(key, *(pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)))
            for key, pair in changes.items()]


def _names_needed(level: Level, events: list[dict[str, Any]]) -> tuple[set[Any], set[Any]]:
    """The user and record ids that the changes of these events mention, to resolve at once."""
    users: set[Any] = set()
    refs: set[Any] = set()
    for changes in events:
        for key, old, new in _pairs(changes):
            fld = level.field(key.split(".", 1)[0])
            source = "users" if key == "owner" else getattr(fld.kind, "lookup", None) if fld else None
            if source == "users":
                users.update((old, new))
            elif source == "records":
                refs.update((old, new))
    return users, refs


def visible_changes(config: TenantConfig, access: Access, record: Record,
                    changes: dict[str, Any], display: Display | None = None,
                    view: RecordView | None = None) -> tuple[Change, ...]:
    """The changes of one event the actor may see on this record, labelled and formatted
    for people: users and references by name, money in the tenant's currency and locale.

    A field's change is shown when the field is not hidden from the actor on this record
    (its mode, as in the record's view); a change of a field that a condition hides now
    is still history and stays listed. Names are resolved for the whole history at once
    (no query when no user or reference changed).
    """
    level = config.levels[record.level_key]
    display = display or Display.of(config)
    shown = []
    for key, old, new in _pairs(changes):
        field_key, _, part = key.partition(".")
        fld = level.field(field_key)
        dimension = config.status_dimensions.get(key)
        if key == "title":
            shown.append(Change(level.title_label, old or "—", new or "—"))
        elif key == "owner" and fld is None:
            shown.append(Change("Owner", display.user(old) or "—", display.user(new) or "—"))
        elif fld is not None and _mode(access, record, level, fld, view) != "hidden":
            shown.append(Change(_label(level, key), fld.kind.change_text(fld, part, old, display) or "—",
                                fld.kind.change_text(fld, part, new, display) or "—"))
        elif fld is None and dimension is not None and level.key in dimension.levels:
            labels = {o.key: o.label for o in dimension.options}
            shown.append(Change(dimension.label, labels.get(old, "—"), labels.get(new, str(new))))
    return tuple(shown)


def decided_on(config: TenantConfig, access: Access, record: Record,
               content: dict[str, Any], display: Display | None = None) -> tuple[tuple[str, str], ...]:
    """The approval content a decision was given on, without fields hidden from the reader."""
    level = config.levels[record.level_key]
    return tuple((fld.label, content_text(level, key, value, display or Display.of(config)))
                 for key, value in content.items()
                 if (fld := level.field(key)) is not None and access.field_mode(fld, record, level.key) != "hidden")


def _mode(access: Access, record: Record, level: Level, fld: Any, view: RecordView | None) -> str:
    if view is not None:
        return view.fields[fld.key].state.mode
    return access.field_mode(fld, record, level.key)


#: events on one page of a record's history
HISTORY_PAGE = 50


@dataclass(frozen=True)
class HistoryPage:
    """One page of a record's history, newest first; ``older`` is the ``before`` of the
    next page (None on the last)."""

    entries: list[Entry]
    older: int | None


def record_history_page(session: Session, config: TenantConfig, access: Access, record: Record, *,
                        before: int | None = None, limit: int = HISTORY_PAGE) -> HistoryPage:
    """The record's events older than event ``before`` (newest first), ``limit`` at a time:
    a keyset page, the same few statements for a record with ten events or ten thousand.
    Events hidden from the actor are left out, so a page may show fewer than ``limit``."""
    limit = max(1, min(limit, 500))
    entries, more = _history(session, config, access, record, before, limit)
    return HistoryPage(entries, more)


def record_history(session: Session, config: TenantConfig, access: Access, record: Record) -> list[Entry]:
    """Every event of the record, newest first, with what the actor may see of each."""
    return _history(session, config, access, record, None, None)[0]


def _history(session: Session, config: TenantConfig, access: Access, record: Record, before: int | None,
             limit: int | None) -> tuple[list[Entry], int | None]:
    from steerco.engine.records import Records  # records imports this module's neighbours

    records = Records(session, record.tenant_id, config, access)
    query = (select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.user_id)
             .where(AuditEvent.tenant_id == record.tenant_id, AuditEvent.record_id == record.id)
             .order_by(AuditEvent.id.desc()))
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = session.execute(query if limit is None else query.limit(limit + 1)).all()
    older = None
    if limit is not None and len(rows) > limit:
        rows = rows[:limit]
        older = rows[-1][0].id
    level = config.levels[record.level_key]
    mentioned = [(event.data or {}).get("changes") or {} for event, _ in rows] + [
        {key: [None, value] for key, value in ((event.data or {}).get("approved") or {}).items()} for event, _ in rows]
    users, refs = _names_needed(level, mentioned)
    display = fieldviews.display_for(records, users, refs)
    # A key reused by a new field must not show the changes of the earlier field's values.
    current = field_identities.change_filter(session, record.tenant_id, config.version)
    entries = []
    for event, name in rows:
        data = event.data or {}
        changes = visible_changes(config, access, record, {
            key: pair for key, pair in (data.get("changes") or {}).items() if current(key, event.created_at)}, display)
        if data.get("changes") and not changes and event.kind in HIDDEN_WITH_THEIR_CHANGES:
            continue  # nothing of it is the reader's to see, not even that it happened
        entries.append(Entry(
            event.id, event.created_at, name or "system", event.kind,
            KIND_LABELS.get(event.kind, event.kind.replace(".", " ").capitalize()),
            str(data.get("summary", "")), changes, decided_on(config, access, record, data.get("approved") or {}, display),
        ))
    return entries, older
