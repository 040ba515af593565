"""The audit trail: append-only events, chained by hash so that tampering shows.

Each event's hash covers its content and the previous event's hash within the tenant,
so editing or deleting a stored event breaks the chain from that point on. Two things the
chain alone cannot catch are covered outside it:

- **insert-only**: on PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE of
  ``audit_event`` (``store.models.AUDIT_APPEND_ONLY_DDL``; the README lists the role grants);
- **truncation and re-hashing**: someone able to bypass the trigger could delete the last
  events, or rewrite every event and recompute every hash, and the chain would still be
  intact. An *anchor* (:func:`anchor`) is the head of each chain (number of events, last
  id, last hash), signed with HMAC-SHA256 under a key kept outside the database
  (``STEERCO_AUDIT_ANCHOR_KEY``) and stored elsewhere; :func:`check` with an anchor
  confirms that the chain still contains that very event with that very hash, at that
  position.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator, Mapping

from sqlalchemy import Integer, bindparam, insert, select
from sqlalchemy.orm import Session

from steerco.store import locks, scoping
from steerco.store.models import AuditEvent, Tenant

#: the one JSON encoding every hash is computed over (``json.dumps(..., sort_keys=True,
#: default=str)``, with the encoder built once instead of once per event)
_ENCODER = json.JSONEncoder(sort_keys=True, default=str)
#: rows fetched per round trip while a chain is walked (a server-side cursor on PostgreSQL)
BATCH = 5000
ANCHOR_FORMAT = "steerco-audit-anchor/1"


def _digest_of(prev_hash: str, tenant_id: int, record_id: int | None, user_id: int | None, kind: str,
               data: Any, created_at: dt.datetime) -> str:
    content = {
        "prev": prev_hash, "tenant": tenant_id, "record": record_id, "user": user_id, "kind": kind,
        "data": data, "at": created_at.isoformat(timespec="microseconds"),
    }
    return hashlib.sha256(_ENCODER.encode(content).encode()).hexdigest()


def _digest(event: AuditEvent) -> str:
    return _digest_of(event.prev_hash, event.tenant_id, event.record_id, event.user_id, event.kind,
                      event.data, event.created_at)


def digest(event: AuditEvent) -> str:
    """The hash an event must carry, given its ``prev_hash`` and content: for writers that
    add events in bulk outside :func:`append` (the benchmark data generator)."""
    return _digest(event)


#: the last hash of a tenant's chain (what the next event links to)
_LAST_HASH = select(AuditEvent.hash).where(AuditEvent.tenant_id == bindparam("tenant_id", type_=Integer)) \
    .order_by(AuditEvent.id.desc()).limit(1)


#: what :func:`append` writes (the id comes from the database)
_COLUMNS = ("tenant_id", "user_id", "kind", "record_id", "data", "created_at", "prev_hash", "hash")
_INSERT = insert(AuditEvent)


def append(session: Session, *, tenant_id: int, user_id: int | None, kind: str,
           record_id: int | None = None, data: dict[str, Any] | None = None,
           now: dt.datetime | None = None) -> AuditEvent:
    """Add one event to the tenant's chain (in the caller's transaction).

    The tenant's row is locked first (PostgreSQL; SQLite serialises writers anyway), so two
    transactions cannot both read the same last hash and fork the chain.
    """
    session.flush()  # what the event describes is written first (and, on PostgreSQL, locks the tenant)
    if not locks.holds_tenant_lock(session, tenant_id):  # a save has locked it before its UPDATE
        session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    # On the connection (Core), with statements built once: they name their tenant
    # themselves, and the ORM's per-execution and unit-of-work machinery cost more than the
    # indexed lookup and the one INSERT on every save.
    connection = session.connection()
    previous = connection.execute(_LAST_HASH, {"tenant_id": tenant_id}).scalar()
    event = AuditEvent(
        tenant_id=tenant_id, user_id=user_id, kind=kind, record_id=record_id,
        data=json.loads(json.dumps(data or {}, default=str)),
        created_at=(now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None),
        prev_hash=previous or "",
    )
    event.hash = _digest(event)
    row = {column: getattr(event, column) for column in _COLUMNS}
    event.id = connection.execute(_INSERT, row).inserted_primary_key[0]
    return event  # not added to the session: the chain's rows are read back by queries only


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


def events(session: Session, tenant_id: int, *, batch: int = BATCH) -> Iterator[AuditEvent]:
    """The tenant's events (ORM objects) in chain (id) order, fetched ``batch`` rows at a time."""
    result = session.scalars(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id)
        .execution_options(yield_per=batch, **{scoping.ALL_TENANTS: True}))
    try:
        yield from result
    finally:
        result.close()  # also when the caller stops early


# -- checking a chain, with or without an anchor ------------------------------------------------

@dataclass(frozen=True)
class Head:
    """Where a tenant's chain ends: how many events, the last one's id and hash."""

    tenant_id: int
    events: int
    last_id: int | None
    hash: str


@dataclass(frozen=True)
class ChainCheck:
    """What walking a chain found. ``broken_id`` is the first event whose content or link
    does not match; ``anchor_problem`` says how the chain differs from an anchored head."""

    head: Head
    broken_id: int | None = None
    anchor_problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_id is None and self.anchor_problem is None


def check(session: Session, tenant_id: int, anchored: Head | None = None, *, batch: int = BATCH) -> ChainCheck:
    """Walk the tenant's chain once, streamed, and compare it with an anchored head if given.

    Reads plain columns (no ORM objects) through a server-side cursor on PostgreSQL, so the
    cost is reading and hashing, whatever the length of the trail.
    """
    columns = (AuditEvent.id, AuditEvent.prev_hash, AuditEvent.tenant_id, AuditEvent.record_id,
               AuditEvent.user_id, AuditEvent.kind, AuditEvent.data, AuditEvent.created_at, AuditEvent.hash)
    # Core, not the ORM: rows are only read and hashed, never loaded as objects. The query
    # names its tenant itself (the tripwire watches ORM executions only).
    result = session.connection().execution_options(yield_per=batch).execute(
        select(*columns).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id))
    previous, count, last_id, seen_anchor = "", 0, None, None
    broken = None
    try:
        for event_id, prev_hash, tenant, record, user, kind, data, created_at, stored in result:
            if prev_hash != previous or stored != _digest_of(prev_hash, tenant, record, user, kind, data, created_at):
                broken = event_id
                break
            count += 1
            last_id, previous = event_id, stored
            if anchored is not None and event_id == anchored.last_id:
                seen_anchor = (count, stored)
    finally:
        result.close()
    head = Head(tenant_id, count, last_id, previous)
    if broken is not None:
        return ChainCheck(head, broken_id=broken)
    return ChainCheck(head, anchor_problem=_compare(anchored, seen_anchor) if anchored else None)


def _compare(anchored: Head, seen: tuple[int, str] | None) -> str | None:
    if anchored.last_id is None:
        return None  # anchored when the chain was empty: anything since was appended
    if seen is None:
        return (f"event {anchored.last_id}, the last one when the anchor was made, is missing: "
                "events were removed (the trail was cut short or rebuilt)")
    position, found = seen
    if found != anchored.hash:
        return (f"event {anchored.last_id} no longer has the hash the anchor recorded: "
                "the trail was rewritten and re-hashed")
    if position != anchored.events:
        return (f"event {anchored.last_id} is number {position} in the chain, the anchor says "
                f"{anchored.events}: events before it were removed and the chain re-linked")
    return None


def verify(session: Session, tenant_id: int, *, batch: int = BATCH) -> AuditEvent | None:
    """The first event of the tenant's chain that was altered, inserted or removed; None if intact."""
    found = check(session, tenant_id, batch=batch)
    if found.broken_id is None:
        return None
    return session.scalar(select(AuditEvent).where(AuditEvent.id == found.broken_id)
                          .execution_options(**{scoping.ALL_TENANTS: True}))


def head(session: Session, tenant_id: int) -> Head:
    """The tenant's chain head, after checking the chain (an anchor of a broken chain is worthless)."""
    found = check(session, tenant_id)
    if found.broken_id is not None:
        raise AnchorInvalid(f"the chain of tenant {tenant_id} is broken at event {found.broken_id}; "
                            "run `steerco audit verify` and investigate before anchoring it")
    return found.head


# -- anchors: chain heads signed with a key from outside the database ---------------------------

class AnchorInvalid(Exception):
    """An anchor that cannot be used: unreadable, signed with another key, or altered."""


def _signature(payload: Mapping[str, Any], key: str) -> str:
    return hmac.new(key.encode(), _ENCODER.encode(payload).encode(), hashlib.sha256).hexdigest()


def anchor(heads: Mapping[str, Head], key: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """A signed document of chain heads by tenant slug, to keep outside the database."""
    if not key:
        raise AnchorInvalid("set STEERCO_AUDIT_ANCHOR_KEY: anchors are signed with it")
    payload = {
        "format": ANCHOR_FORMAT,
        "created_at": (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0).isoformat(),
        "heads": {slug: asdict(h) for slug, h in sorted(heads.items())},
    }
    return {**payload, "signature": _signature(payload, key)}


def read_anchor(text: str, key: str) -> dict[str, Head]:
    """The heads of a signed anchor document; AnchorInvalid if it is not one, or altered."""
    if not key:
        raise AnchorInvalid("set STEERCO_AUDIT_ANCHOR_KEY: it checks the anchor's signature")
    try:
        document = json.loads(text)
        payload = {k: document[k] for k in ("format", "created_at", "heads")}
        signature = document["signature"]
    except (ValueError, KeyError, TypeError):
        raise AnchorInvalid("not an audit anchor (expected the JSON written by `steerco audit anchor`)") from None
    if payload["format"] != ANCHOR_FORMAT:
        raise AnchorInvalid(f"unknown anchor format {payload['format']!r}")
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(payload, key)):
        raise AnchorInvalid("the anchor's signature does not match: it was altered, or signed with another key")
    try:
        return {slug: Head(**fields) for slug, fields in payload["heads"].items()}
    except TypeError:
        raise AnchorInvalid("the anchor's heads are malformed") from None

