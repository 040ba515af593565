"""The audit trail: append-only events, chained by hash so that tampering shows.

Each event's hash covers its content and the previous event's hash within the tenant,
so editing or deleting a stored event breaks the chain from that point on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.store import scoping
from steerco.store.models import AuditEvent, Tenant


def _digest(event: AuditEvent) -> str:
    content = {
        "prev": event.prev_hash, "tenant": event.tenant_id, "record": event.record_id,
        "user": event.user_id, "kind": event.kind, "data": event.data,
        "at": event.created_at.isoformat(timespec="microseconds"),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def append(session: Session, *, tenant_id: int, user_id: int | None, kind: str,
           record_id: int | None = None, data: dict[str, Any] | None = None,
           now: dt.datetime | None = None) -> AuditEvent:
    """Add one event to the tenant's chain (in the caller's transaction).

    The tenant's row is locked first (PostgreSQL; SQLite serialises writers anyway), so two
    transactions cannot both read the same last hash and fork the chain.
    """
    session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    previous = session.scalar(
        select(AuditEvent.hash).where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.id.desc()).limit(1).execution_options(**scoping.for_tenant(tenant_id))
    )
    event = AuditEvent(
        tenant_id=tenant_id, user_id=user_id, kind=kind, record_id=record_id,
        data=json.loads(json.dumps(data or {}, default=str)),
        created_at=(now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None),
        prev_hash=previous or "",
    )
    event.hash = _digest(event)
    session.add(event)
    session.flush()
    return event


def content_matches(event: AuditEvent) -> bool:
    """Whether the event's stored hash still covers its stored content (False: the row was edited)."""
    return event.hash == _digest(event)


def first_broken(events: Iterable[AuditEvent]) -> AuditEvent | None:
    """The first event (in id order) whose hash or link does not match; None if intact."""
    previous = ""
    for event in events:
        if event.prev_hash != previous or event.hash != _digest(event):
            return event
        previous = event.hash
    return None


def events(session: Session, tenant_id: int, *, batch: int = 500) -> Iterator[AuditEvent]:
    """The tenant's events in chain (id) order, fetched ``batch`` rows at a time.

    ``yield_per`` streams the rows (a server-side cursor on PostgreSQL) instead of loading
    the whole trail; the explicit tenant filter makes the query valid whatever tenant the
    session may be bound to, so the tripwire is told to stand aside.
    """
    result = session.scalars(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id)
        .execution_options(yield_per=batch, **{scoping.ALL_TENANTS: True}))
    try:
        yield from result
    finally:
        result.close()  # also when the caller stops early, at the first broken event


def verify(session: Session, tenant_id: int, *, batch: int = 500) -> AuditEvent | None:
    """The first event of the tenant's chain that was altered, inserted or removed; None if intact."""
    stream = events(session, tenant_id, batch=batch)
    try:
        return first_broken(stream)
    finally:
        stream.close()
