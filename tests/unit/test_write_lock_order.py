"""Two people write to one workspace at the same moment: they queue, they do not deadlock.

The audit chain locks the workspace's row when it appends an event, after the rows the event
describes. Without one lock order, a writer holding record A and the workspace lock could
wait for record B while the writer holding record B waits for the workspace lock, and
PostgreSQL would kill one of them (a 500; the load test found a save and an approval doing
this). Sessions bound to a workspace therefore lock it before their first row.
"""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from steerco.engine import audit
from steerco.engine.records import Submission
from steerco.store import locks, scoping  # noqa: F401 - locks registers the lock order
from steerco.store.models import Record

pytestmark = [pytest.mark.postgres_only, pytest.mark.skipif(
    not os.environ.get("STEERCO_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="SQLite has one writer at a time: the deadlock cannot happen there")]


def test_two_writers_crossing_records_and_the_audit_chain_queue_up(
        session: Session, db_engine: Engine, make_tenant, make_user, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant, [("admin", None)])
    records = records_for(tenant, user)
    first, second = (records.create("program", None, Submission(t, MultiDict())) for t in ("First", "Second"))
    session.commit()
    first_id, second_id, tenant_id = first.id, second.id, tenant.id
    b_started, failures = threading.Event(), []

    def rename(own: Session, record_id: int, title: str) -> None:
        own.execute(update(Record).where(Record.id == record_id).values(title=title))

    def writer_b() -> None:
        try:
            with Session(db_engine) as b:
                scoping.bind_to_tenant(b, tenant_id)
                b_started.set()
                rename(b, second_id, "B was here")  # waits for A's workspace lock
                audit.append(b, tenant_id=tenant_id, user_id=None, kind="test.b")
                b.commit()
        except Exception as failure:  # noqa: BLE001 - reported below
            failures.append(failure)

    with Session(db_engine) as a:
        scoping.bind_to_tenant(a, tenant_id)
        rename(a, first_id, "A was here")
        audit.append(a, tenant_id=tenant_id, user_id=None, kind="test.a")  # A holds the workspace lock
        thread = threading.Thread(target=writer_b)
        thread.start()
        b_started.wait(10)
        thread.join(timeout=1)  # B is waiting (for the workspace, not holding record "Second")
        rename(a, second_id, "A was here too")  # would deadlock if B held "Second"
        a.commit()
    thread.join(timeout=30)
    assert not failures, failures
    session.expire_all()
    assert session.get(Record, second_id).title == "B was here"  # B went second, after A
    assert audit.verify(session, tenant_id) is None
