"""Helpers for tests that act on the database as its owner could, behind the application."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def bypass_audit_trigger(connection: Any) -> None:
    """For the rest of this transaction, act as a database owner who switched the triggers
    off (PostgreSQL makes ``audit_event`` insert-only by trigger); a test that tampers with
    the audit trail, as an attacker with that power could, calls it first."""
    dialect = connection.get_bind().dialect if isinstance(connection, Session) else connection.dialect
    if dialect.name == "postgresql":
        connection.execute(text("SET LOCAL session_replication_role = replica"))
