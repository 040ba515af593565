"""Planner statistics for SQLite, so that it picks the selective index.

Every tenant-owned table has an index on ``tenant_id`` alone. Without statistics, SQLite's
planner cannot know that one tenant is nearly the whole table, and for "the comments of
record 42 of tenant 1" it may walk the ``tenant_id`` index (every comment) instead of the
``record_id`` one. At 10,000 measures that made a record page read every period value of
the workspace (84 ms instead of 0.2) and the inbox take seconds. ``ANALYZE`` gives the
planner the numbers (0.6 s at 10,000 measures, a few seconds at 100,000; a sampling
``analysis_limit`` was tried: it caps the rows per tenant it sees, which brings the wrong
choice back for a page of 25 records).
Composite ``(tenant_id, record_id)`` indexes make the right choice the likely one even
with statistics taken when the database was small.

PostgreSQL keeps its own statistics (autovacuum), so nothing here runs there.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, event


def refresh(dbapi_connection: Any) -> None:
    """Take the statistics of every index again."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("ANALYZE")
    finally:
        cursor.close()


def _missing(dbapi_connection: Any) -> bool:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is None:
            return True
        cursor.execute("SELECT 1 FROM sqlite_stat1 LIMIT 1")
        return cursor.fetchone() is None
    finally:
        cursor.close()


def keep_sqlite_statistics(engine: Engine) -> None:
    """On each new connection to a SQLite file without statistics, take them (once).

    A growing database keeps the statistics of its first sample; ``steerco tick`` (cron)
    refreshes them, as does ``steerco bench-data`` after its bulk load.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        try:
            if _missing(dbapi_connection):
                refresh(dbapi_connection)
        except sqlite3.OperationalError:  # another process writes just now: the next connection samples
            pass


def refresh_engine(engine: Engine) -> None:
    """Take SQLite's statistics again on ``engine`` (nothing on PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        refresh(connection.connection.dbapi_connection)
        connection.commit()
