"""Configuration versions under real concurrency, on PostgreSQL: several administrators
activate drafts started from the same version at the same moment, or start drafts at once.

Exactly one activation wins; every other one hears that its base is no longer active (a
StaleDraft) and writes nothing; drafts started together get distinct numbers; the audit
chain stays intact. SQLite serialises every writer, so these run only on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from steerco.engine import audit, config_versions
from steerco.engine.config_versions import StaleDraft
from steerco.store import scoping
from steerco.store.models import AuditEvent, ConfigVersion, Tenant

THREADS = 8

pytestmark = [pytest.mark.postgres_only, pytest.mark.skipif(
    not os.environ.get("STEERCO_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="STEERCO_TEST_DATABASE_URL is not PostgreSQL: concurrent activations need real row locks")]


def _race(database_url: str, tenant_id: int, work: Callable[[Session, int], Any]) -> list[Any]:
    """``work(session, n)`` on THREADS threads with a connection each, released together;
    each session is bound to the workspace, as a request of that workspace is."""
    engine = create_engine(database_url, poolclass=NullPool)
    barrier = threading.Barrier(THREADS, timeout=60)
    outcomes: list[Any] = [None] * THREADS

    def run(n: int) -> None:
        with Session(engine, expire_on_commit=False) as own:
            scoping.bind_to_tenant(own, tenant_id)
            try:
                barrier.wait()
                outcomes[n] = work(own, n)
                own.commit()
            except Exception as error:  # noqa: BLE001 - every outcome is asserted
                own.rollback()
                outcomes[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engine.dispose()
    assert not any(t.is_alive() for t in threads), "a thread hangs"
    return outcomes


def test_drafts_activated_at_once_on_the_same_base_activate_once(session, database_url, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    admin = make_user(tenant)
    drafts = [config_versions.create_draft(session, tenant, user_id=admin.id).id for _ in range(THREADS)]
    session.commit()

    def activate(own: Session, n: int) -> str:
        mine = own.get(Tenant, tenant.id)
        config_versions.activate(own, mine, own.get(ConfigVersion, drafts[n]), user_id=admin.id, comment=f"Mine {n}")
        return "activated"

    outcomes = _race(database_url, tenant.id, activate)
    assert outcomes.count("activated") == 1, outcomes
    assert all(isinstance(o, StaleDraft) for o in outcomes if o != "activated"), outcomes
    session.expire_all()
    states = list(session.scalars(select(ConfigVersion.state).where(ConfigVersion.tenant_id == tenant.id)))
    assert states.count("active") == 1 and states.count("superseded") == 1 and states.count("draft") == THREADS - 1
    activated = session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.tenant_id == tenant.id, AuditEvent.kind == "config.activated"))
    assert activated == 2  # the first version's, and the winner's
    assert audit.verify(session, tenant.id) is None


def test_drafts_started_at_once_get_distinct_numbers(session, database_url, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    admin = make_user(tenant)

    def start(own: Session, n: int) -> int:
        return config_versions.create_draft(own, own.get(Tenant, tenant.id), user_id=admin.id).number

    outcomes = _race(database_url, tenant.id, start)
    assert sorted(outcomes) == list(range(2, THREADS + 2)), outcomes
    assert audit.verify(session, tenant.id) is None
