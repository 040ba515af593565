"""``steerco tick`` on several hosts: when two runs start at the same moment, each overdue
approval step is escalated once (a lock in the database makes the runs take turns)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from steerco.benchdata import generate
from steerco.engine import jobs
from steerco.store import locks
from steerco.store.models import ApprovalTask, AuditEvent


def test_two_ticks_at_the_same_moment_escalate_each_step_once(session: Session, db_engine: Engine) -> None:
    scale = generate(session, "ticks", 200)  # 30 open approval steps, due within the next days
    later = dt.datetime.now() + dt.timedelta(days=30)
    start = threading.Barrier(2)
    escalated: list[list[int]] = []
    failures: list[BaseException] = []

    def run_tick() -> None:
        try:
            with Session(db_engine) as own:  # each "host" has its own connection
                start.wait()
                escalated.append([task.id for task in jobs.tick(own, later)])
        except BaseException as failure:  # noqa: BLE001 - reported by the assertion below
            failures.append(failure)

    threads = [threading.Thread(target=run_tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    open_steps = sum(scale.pending.values())
    # one run did the work, the other found nothing left
    assert sorted(len(ids) for ids in escalated) == [0, open_steps]
    events = session.scalars(select(AuditEvent.data).where(
        AuditEvent.tenant_id == scale.tenant_id, AuditEvent.kind == "approval.escalated")).all()
    assert len(events) == open_steps
    assert set(Counter(e["task"] for e in events).values()) == {1}
    assert session.scalar(select(ApprovalTask.id).where(
        ApprovalTask.state == "pending", ApprovalTask.escalated_at.is_(None))) is None


def test_the_lock_keeps_a_second_holder_out_until_the_first_commits(session: Session, db_engine: Engine) -> None:
    inside = threading.Event()
    order: list[str] = []

    def second() -> None:
        with Session(db_engine) as own:
            inside.wait(10)
            with locks.exclusive(own, "test.lock"):
                order.append("second in")
                own.commit()

    thread = threading.Thread(target=second)
    with Session(db_engine) as first:
        with locks.exclusive(first, "test.lock"):
            thread.start()
            inside.set()
            thread.join(timeout=0.5)  # the second holder waits ...
            order.append("first done")
            first.commit()
    thread.join(timeout=10)
    assert order == ["first done", "second in"]  # ... until the first transaction ends
    assert locks.lock_key("steerco.tick") == locks.lock_key("steerco.tick") != locks.lock_key("other")
