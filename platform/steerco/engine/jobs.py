"""Scheduled work: what ``steerco tick`` runs (from cron, on one host or on several).

Every run takes the ``steerco.tick`` lock first (see :mod:`steerco.store.locks`), so two
hosts whose cron fires at the same minute do the work once: the second runner waits, then
finds nothing left to do.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.engine import notifications
from steerco.engine.workflow import escalate_overdue
from steerco.store import locks, scoping
from steerco.store.models import ApprovalTask, Tenant

TICK_LOCK = "steerco.tick"


def tick(session: Session, now: dt.datetime) -> list[ApprovalTask]:
    """Escalate every open approval step past its due time, once, and commit; the steps
    this run escalated (none when another runner got there first).

    The steps come back detached, as they were when escalated (already flushed): reading
    them needs no query, which the tenant tripwire would refuse in a session bound to no
    workspace once the commit had expired them."""
    with locks.exclusive(session, TICK_LOCK):
        # Tenants first, then task rows: the order every writer keeps (see store.locks).
        session.execute(select(Tenant.id).order_by(Tenant.id).with_for_update())
        escalated = escalate_overdue(session, now)
        for task in escalated:
            session.expunge(task)
        session.commit()
    return escalated


def send_digests(session: Session, now: dt.datetime, send: Callable[[notifications.Mail], None]) -> int:
    """Send the daily notification digests due at ``now`` and commit; under the tick's lock,
    so runners on several hosts send each digest once. Returns the number of mails."""
    with locks.exclusive(session, TICK_LOCK):
        sent = notifications.send_digests(session, now, send)
        session.commit()
    return sent


def review_exceptions(session: Session, now: dt.datetime) -> tuple[int, int]:
    """Look at every record under an exception rule, in every workspace (conditions that
    turn true with time alone), and escalate overdue exceptions; commit. Under the tick's
    lock, so several hosts raise each exception once. Returns (raised, escalated)."""
    from steerco.engine import exceptions, tenants  # tenants reads configurations through the store

    raised = escalated = 0
    with locks.exclusive(session, TICK_LOCK):
        for tenant in list(session.scalars(select(Tenant).order_by(Tenant.id))):
            config = tenants.active_config(session, tenant)
            if not config.exception_rules:
                continue
            with scoping.within_tenant(session, tenant.id):
                opened, steps = exceptions.sweep(session, tenant.id, config, now)
            raised, escalated = raised + opened, escalated + steps
        session.commit()
    return raised, escalated
