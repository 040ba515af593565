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

from sqlalchemy import func, select
from sqlalchemy.orm import Session


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
