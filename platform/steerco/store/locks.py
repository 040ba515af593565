"""One holder at a time, across processes and hosts, for scheduled work (``steerco tick``,
job workers) that several app hosts may start at the same moment.

On PostgreSQL the lock is a transaction-level advisory lock (``pg_advisory_xact_lock``): it
lives in the database every host shares and ends with the transaction, so a crashed
holder never leaves it behind. SQLite is one file on one host: there an exclusive
``flock`` on a file next to the database does the same (and nothing for an in-memory
database, which no other process can open).
"""

from __future__ import annotations

import fcntl
import hashlib
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event, func, select
from sqlalchemy.orm import ORMExecuteState, Session, scoped_session


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (what PostgreSQL's advisory locks take)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(session: Session, name: str) -> Iterator[None]:
    """Run the block as the only holder of lock ``name``; others wait for it.

    The caller commits (or rolls back) inside the block: on PostgreSQL the lock is
    released with the transaction, so work committed in the block is visible to the
    next holder as soon as it gets in.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(lock_key(name))))
        yield
        return
    database = bind.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.{hashlib.sha256(name.encode()).hexdigest()[:12]}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------
# Writes take their tenant's lock first
# ---------------------------------------------------------------------------------------
#
# The audit chain locks the tenant's row when it appends an event (so two writers cannot
# fork the chain). An event is appended after the rows it describes were written, so two
# writers could each hold a row the other wants next and wait for each other's tenant
# lock: PostgreSQL then kills one of them ("deadlock detected", a 500). The load test found
# a save and an approval of the same record doing exactly that. One lock order for every
# writer removes the cycle: a session bound to a tenant locks the tenant's row before its
# first write of a transaction (an INSERT, UPDATE or DELETE, flushed or executed, or a
# SELECT ... FOR UPDATE), and only then the rows.

_LOCKED_IN = "steerco.tenant_locked_in"


def _lock_tenant_first(session: Session) -> None:
    from steerco.store.models import Tenant
    from steerco.store.scoping import TENANT_KEY

    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is None or session.get_bind().dialect.name != "postgresql":
        return  # SQLite has one writer at a time anyway
    connection = session.connection()  # begins the transaction when none is open
    transaction = session.get_transaction()
    if session.info.get(_LOCKED_IN) is transaction:
        return
    session.info[_LOCKED_IN] = transaction
    connection.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())


def holds_tenant_lock(session: Session, tenant_id: int) -> bool:
    """Whether ``tenant_id``'s row needs no locking (again) in the session's transaction:
    on PostgreSQL when :func:`_lock_tenant_first` already locked it in this transaction; on
    SQLite always, as there ``SELECT ... FOR UPDATE`` locks nothing (one writer at a time)."""
    from steerco.store.scoping import TENANT_KEY

    if isinstance(session, scoped_session):  # the web's db.session: its Session of this request
        session = session()
    if session.get_bind().dialect.name != "postgresql":
        return True
    return (session.info.get(TENANT_KEY) == tenant_id and session.in_transaction()
            and session.info.get(_LOCKED_IN) is session.get_transaction())


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: object, instances: object) -> None:
    _lock_tenant_first(session)


@event.listens_for(Session, "do_orm_execute")
def _before_write(state: ORMExecuteState) -> None:
    locking = state.is_select and getattr(state.statement, "_for_update_arg", None) is not None
    if state.is_insert or state.is_update or state.is_delete or locking:
        _lock_tenant_first(state.session)
