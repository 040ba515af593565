#!/usr/bin/env python
"""Time a portfolio's rollup against a bare SQL aggregate over the same rows.

    python bench/rollup_bench.py [--measures 100000] [--databases sqlite,postgresql] [--repeat 5]
                                 [--show-sql] [--regenerate]

For each database it generates (once; later runs reuse it, as ``bench/scale_bench.py``
does and in the same place) the acme template at ``--measures`` measures with time-phased
values (``steerco.benchdata.generate``, the same as ``steerco bench-data``). Then it takes
the portfolio with the most measures below it and times, interleaved, ``--repeat`` times
after one untimed warm-up:

1. rollup, admin: ``Rollups.of(portfolio)`` for the tenant administrator: every level
   below the portfolio with a field that rolls up, each field in total, by stage, by status
   and risk-weighted, each grid per scenario (the record page's panel and the API's
   ``rollups``);
2. rollup, viewer: the same for the viewer, from whom cost data and financials are hidden
   (the visibility conditions are in the SQL; the hidden values are counted as left out);
3. bare SQL: the plain SQL that returns the same numbers as the rollup, without the
   access filter: for each of the same levels one ``SELECT`` grouped by stage and each
   status dimension of the level, with ``count(*)`` and each rolled-up field's own
   aggregate (``sum``, ``avg``, ``min``, ``max``, ``count``) and count of values; for each
   grid one ``SELECT`` grouped the same way and by scenario, with ``sum(amount)`` and
   ``count(DISTINCT record_id)`` (the rollup's "of N records");
4. bare SQL, sums only: the least any rollup of the same rows must read: each field's
   aggregate over the whole subtree (no grouping) and per grid ``SELECT scenario,
   sum(amount)`` (no record count).

It prints the median of each in ms, the load average, the number of SQL statements of a
rollup and the ratios rollup / bare SQL and rollup / bare sums only; ``--show-sql`` prints
every statement of both. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT / "bench"))


def prepare(kind: str, args: argparse.Namespace) -> str:
    """The database URL of the tenant with ``--measures`` measures, generated when needed
    (in the place ``bench/scale_bench.py`` uses, so either benchmark reuses the other's)."""
    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy.orm import Session

    from scale_bench import SLUG, database_url, uploads_dir
    from steerco.benchdata import generate
    from steerco.engine import tenants
    from steerco.store.blobs import DiskBlobStore
    from steerco.store.models import Base, Record, Tenant
    from steerco.store.scoping import across_tenants

    url = database_url(kind, args.measures, args)
    if kind == "postgresql":
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        name = url.rsplit("/", 1)[1]
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if exists and args.regenerate:
                conn.execute(text(f'DROP DATABASE "{name}"'))
                exists = None
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    elif args.regenerate:
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        with across_tenants(session):
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == SLUG))
            have = tenant_id and session.scalar(select(func.count()).select_from(Record).where(
                Record.tenant_id == tenant_id, Record.level_key == "measure"))
        if tenant_id is not None and have != args.measures:
            raise SystemExit(f"{url} holds {SLUG} with {have} measures, not {args.measures}: use --regenerate")
        if tenant_id is None:
            started = time.perf_counter()
            print(f"  {kind}: generating {args.measures} measures into {url} ...", flush=True)
            generate(session, SLUG, args.measures, blobs=DiskBlobStore(uploads_dir(kind, args.measures, args)))
            print(f"  {kind}: generated in {time.perf_counter() - started:.0f} s", flush=True)
        else:
            print(f"  {kind}: reusing {url}", flush=True)
    engine.dispose()
    tenants.forget_compiled()
    return url


def portfolio_of(session: Any, tenant_id: int) -> Any:
    """The portfolio with the most measures below it."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import aliased

    from steerco.store.models import Record

    portfolio = aliased(Record)
    best = session.execute(
        select(portfolio.id, func.count(Record.id)).select_from(portfolio)
        .join(Record, Record.path.startswith(portfolio.path))
        .where(portfolio.tenant_id == tenant_id, portfolio.level_key == "portfolio",
               Record.tenant_id == tenant_id, Record.level_key == "measure")
        .group_by(portfolio.id).order_by(func.count(Record.id).desc()).limit(1)).first()
    return session.get(Record, best[0]), best[1]


def bare_queries(tenant_id: int, config: Any, record: Any, *, grouped: bool = True) -> list[Any]:
    """The bare SQL of the rows the rollup reads (see the module docstring).

    ``grouped``: the plain SQL that returns the same numbers as the rollup, without the
    access filter: per level, grouped by stage and each status dimension of the level,
    ``count(*)`` and per rolled-up field its own aggregate and ``count`` of its values;
    per grid, grouped the same way and by scenario, ``sum(amount)`` and the number of
    records with amounts (``count(DISTINCT record_id)``). Otherwise the least any rollup
    of the same rows must read: no grouping, and no record counts for the grids."""
    from sqlalchemy import and_, func, select

    from steerco.engine.rollups import levels_below, rolled_up_fields
    from steerco.reports.scope import value_column
    from steerco.store.models import PeriodValue, Record

    queries = []
    for level in levels_below(config, config.levels[record.level_key]):
        scalar, grids = rolled_up_fields(level)
        where = and_(Record.tenant_id == tenant_id, Record.deleted_at.is_(None), Record.level_key == level.key,
                     Record.id != record.id, Record.path.startswith(record.path, autoescape=True))
        keys = []
        if grouped:
            keys = [Record.stage_key] + [Record.values[d.key].as_string() for d in config.status_dimensions.values()
                                         if level.key in d.levels]
        if scalar:
            columns = [func.count(Record.id)]
            for f in scalar:
                columns.append(getattr(func, f.rollup)(value_column(f)))
                if grouped:
                    columns.append(func.count(value_column(f)))
            queries.append(select(*keys, *columns).where(where).group_by(*keys))
        for grid in grids:
            counted = [func.count(PeriodValue.record_id.distinct())] if grouped else []
            queries.append(select(*keys, PeriodValue.scenario, func.sum(PeriodValue.amount), *counted)
                           .select_from(Record)
                           .join(PeriodValue, and_(PeriodValue.record_id == Record.id,
                                                   PeriodValue.tenant_id == Record.tenant_id,
                                                   PeriodValue.field_key == grid.key))
                           .where(where).group_by(*keys, PeriodValue.scenario))
    return queries


def show_sql(session: Any, rollups: Any, portfolio: Any, bare: dict[str, list[Any]]) -> None:
    """Print the statements of one rollup (as sent, with their parameters) and of the bare SQL."""
    from sqlalchemy import event

    sent: list[tuple[str, Any]] = []
    bind = session.connection().engine

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(bind, "before_cursor_execute", record)
    try:
        rollups.of(portfolio)
    finally:
        event.remove(bind, "before_cursor_execute", record)
    for i, (statement, parameters) in enumerate(sent, 1):
        print(f"-- rollup, admin: statement {i}\n{statement}\n-- parameters: {parameters}\n")
    for name, queries in bare.items():
        for i, query in enumerate(queries, 1):
            text = query.compile(bind, compile_kwargs={"literal_binds": True})
            print(f"-- {name}: statement {i}\n{text}\n")


def run(url: str, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import create_engine, event, select

    from scale_bench import SLUG
    from steerco.engine import tenants
    from steerco.engine.access import Access
    from steerco.engine.rollups import Rollups
    from steerco.store.models import Tenant, User
    from steerco.store.scoping import TenantSession, within_tenant

    engine = create_engine(url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with TenantSession(engine) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == SLUG))
        with within_tenant(session, tenant.id):
            config = tenants.active_config(session, tenant)
            portfolio, measures = portfolio_of(session, tenant.id)
            readers = {}
            for role, email in (("admin", f"admin@{SLUG}.example"), ("viewer", f"viewer@{SLUG}.example")):
                user = session.scalar(select(User).where(User.email == email))
                if user is None:  # the viewer's address as the generator names it
                    user = session.scalar(select(User).where(User.email.like(f"viewer%@{SLUG}.example")))
                readers[role] = Rollups(session, tenant.id, config,
                                        Access(config, tenants.actor_for(session, tenant, user)))
            bare = bare_queries(tenant.id, config, portfolio)
            least = bare_queries(tenant.id, config, portfolio, grouped=False)
            if args.show_sql:
                show_sql(session, readers["admin"], portfolio, {"bare SQL": bare, "bare SQL, sums only": least})

            def bare_sql() -> None:
                for query in bare:
                    session.execute(query).all()

            def least_sql() -> None:
                for query in least:
                    session.execute(query).all()

            operations: dict[str, Callable[[], Any]] = {
                "rollup, admin": lambda: readers["admin"].of(portfolio),
                "rollup, viewer": lambda: readers["viewer"].of(portfolio),
                "bare SQL": bare_sql,
                "bare SQL, sums only": least_sql,
            }
            times: dict[str, list[float]] = {name: [] for name in operations}
            counts: dict[str, int] = {}
            for name, operation in operations.items():  # warm-up, and the statements of one run
                statements.clear()
                operation()
                counts[name] = len(statements)
            for _ in range(args.repeat):
                for name, operation in operations.items():
                    started = time.perf_counter()
                    operation()
                    times[name].append(time.perf_counter() - started)
            sets = readers["viewer"].of(portfolio)
            left_out = {s.level.key: (s.left_out, max((line.breakdown.total.left_out for line in s.lines), default=0))
                        for s in sets}
    engine.dispose()
    return {"kind": kind, "portfolio": f"{portfolio.number} {portfolio.title}", "measures": measures,
            "medians": {name: statistics.median(t) * 1000 for name, t in times.items()}, "statements": counts,
            "viewer_left_out": left_out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measures", type=int, default=100_000, help="measures in the tenant (default 100000)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "steerco-scale"),
                        help="where the SQLite databases live (default %(default)s, shared with scale_bench)")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server to create the scratch database on")
    parser.add_argument("--pg-prefix", default="steerco_scale", help="prefix of that database (default %(default)s)")
    parser.add_argument("--show-sql", action="store_true", help="print the rollup's and the bare SQL's statements")
    parser.add_argument("--regenerate", action="store_true", help="drop and generate the data again")
    args = parser.parse_args(argv)
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)

    results = []
    for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
        url = prepare(kind, args)
        results.append(run(url, kind, args))
    print()
    print(f"Portfolio rollup at {args.measures:,} measures (median of {args.repeat}, ms; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print(f"{'database':<11} {'below':>7} {'rollup admin':>13} {'rollup viewer':>14} {'bare SQL':>9} "
          f"{'ratio admin':>12} {'ratio viewer':>13} {'bare sums only':>15} {'ratio to it':>12} {'statements':>11}")
    for r in results:
        m = r["medians"]
        print(f"{r['kind']:<11} {r['measures']:>7,} {m['rollup, admin']:>13.1f} {m['rollup, viewer']:>14.1f} "
              f"{m['bare SQL']:>9.1f} {m['rollup, admin'] / m['bare SQL']:>11.2f}x "
              f"{m['rollup, viewer'] / m['bare SQL']:>12.2f}x {m['bare SQL, sums only']:>15.1f} "
              f"{m['rollup, admin'] / m['bare SQL, sums only']:>11.2f}x "
              f"{r['statements']['rollup, admin']:>5} / {r['statements']['bare SQL']}")
        print(f"{'':<11} portfolio {r['portfolio']}; viewer told left out (records, values) per level: "
              f"{r['viewer_left_out']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
