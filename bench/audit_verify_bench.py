"""How fast ``steerco audit verify`` walks a tenant's hash chain: events per second.

    .venv/bin/python bench/audit_verify_bench.py                       # SQLite, 100,000 events
    .venv/bin/python bench/audit_verify_bench.py --events 20000
    .venv/bin/python bench/audit_verify_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/steerco_bench_tmp

It builds a throw-away database with one tenant whose chain holds ``--events`` realistic
events (a field change with old and new values, as ``record.updated`` writes them), each
hashed exactly as ``audit.append`` does, inserted in bulk. It then times
``audit.verify`` (the same call the command makes) ``--repeat`` times and prints the best
rate. The tables are dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))

from sqlalchemy import create_engine, insert  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from steerco.engine import audit  # noqa: E402
from steerco.store import scoping  # noqa: E402
from steerco.store.models import AuditEvent, Base, Tenant  # noqa: E402


def _events(tenant_id: int, count: int) -> list[dict]:
    start = dt.datetime(2026, 1, 1)
    rows, previous = [], ""
    for n in range(count):
        event = AuditEvent(tenant_id=tenant_id, user_id=None, record_id=None, kind="record.updated",
                           data={"summary": f"Measure M-{n:05d} updated",
                                 "changes": {"potential": [n, n + 1000], "title": [f"Old {n}", f"New {n}"],
                                             "category": ["procurement", "logistics"]}},
                           created_at=start + dt.timedelta(seconds=n), prev_hash=previous)
        event.hash = audit._digest(event)
        previous = event.hash
        rows.append({"tenant_id": tenant_id, "user_id": None, "record_id": None, "kind": event.kind,
                     "data": event.data, "created_at": event.created_at, "prev_hash": event.prev_hash,
                     "hash": event.hash})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/audit-bench.db"
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            scoping.allow_all_tenants(session)
            tenant = Tenant(slug="bench", name="Bench")
            session.add(tenant)
            session.flush()
            rows = _events(tenant.id, args.events)
            for start in range(0, len(rows), 5000):
                session.execute(insert(AuditEvent), rows[start:start + 5000])
            session.commit()
            tenant_id = tenant.id
        best = float("inf")
        for _ in range(args.repeat):
            with Session(engine) as session:
                scoping.allow_all_tenants(session)
                began = time.perf_counter()
                result = audit.verify(session, tenant_id)
                best = min(best, time.perf_counter() - began)
            broken = getattr(result, "broken", result)
            assert broken is None, f"the generated chain should be intact: {broken}"
        print(f"{engine.dialect.name}: {args.events} events verified in {best:.2f} s "
              f"= {args.events / best:,.0f} events/s (best of {args.repeat})")
    finally:
        Base.metadata.drop_all(engine)
        engine.dispose()


if __name__ == "__main__":
    main()
