#!/usr/bin/env python
"""Time Steerco's pages at 1,000 / 10,000 / 100,000 measures on SQLite and PostgreSQL.

    python bench/scale_bench.py [--sizes 1000,10000,100000] [--databases sqlite,postgresql]
                                [--repeat 3] [--regenerate] [--profile record,list,export,inbox]

For each database and size it generates (once; later runs reuse it) a tenant ``acme`` of
that many measures with ``steerco.benchdata.generate`` (the same as ``steerco bench-data``),
then times through Flask's test client and the whole request stack (session cookie or API
token, tenant resolution, templates, database):

record page, record page with a pending request, edit form, list (a package holding a tenth
of the measures, first page, HTML), CSV export of that list, API list (200 per page), inbox
HTML and API (the controller, who has a tenth of the measures waiting), and a save.

Each operation runs ``--repeat`` times, interleaved with the others (round 1 of every
operation, then round 2, ...), after one untimed warm-up; it prints the median in ms, the
SQL statements of a request (median) and the response size. For the list, the export and
the API list it also times a bare SQL query returning the same record rows on a separate
connection and prints the ratio. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
SLUG = "acme"
OPERATIONS = ["record", "record_pending", "edit", "list", "export", "api_list", "inbox", "inbox_api", "save"]
LABELS = {
    "record": "record page", "record_pending": "record page, pending request", "edit": "edit form",
    "list": "list, 1/10 of measures, page 1", "export": "CSV export (1/10 of measures)",
    "api_list": "API list, 200 per page", "inbox": "inbox HTML (controller)",
    "inbox_api": "inbox API (controller)", "save": "save (POST edit form)",
}
PROFILED = {"record", "record_pending", "edit", "list", "export", "api_list", "inbox", "inbox_api", "save"}


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


# ---------------------------------------------------------------------------------------
# Databases: one per (kind, size), generated once
# ---------------------------------------------------------------------------------------

def database_url(kind: str, size: int, args: argparse.Namespace) -> str:
    if kind == "sqlite":
        return f"sqlite:///{Path(args.data_dir) / f'scale-{size_label(size)}.db'}"
    server = args.pg_url.rsplit("/", 1)[0]
    return f"{server}/{args.pg_prefix}_{size_label(size)}"


def prepare(kind: str, size: int, args: argparse.Namespace) -> str:
    """The database URL of a tenant with ``size`` measures, generating it when needed."""
    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy.orm import Session

    from steerco.benchdata import generate
    from steerco.engine import tenants
    from steerco.store.blobs import DiskBlobStore
    from steerco.store.models import Base, Record, Tenant

    url = database_url(kind, size, args)
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
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == SLUG))
        if tenant_id is not None:
            have = session.scalar(select(func.count()).select_from(Record).where(
                Record.tenant_id == tenant_id, Record.level_key == "measure").execution_options(all_tenants=True))
            if have != size:
                raise SystemExit(f"{url} holds {SLUG} with {have} measures, not {size}: use --regenerate")
            print(f"  {kind} {size_label(size)}: reusing {url}", flush=True)
        else:
            started = time.perf_counter()
            print(f"  {kind} {size_label(size)}: generating {size} measures into {url} ...", flush=True)
            result = generate(session, SLUG, size, blobs=DiskBlobStore(uploads_dir(kind, size, args)))
            print(f"  {kind} {size_label(size)}: {result.audit_events} audit events, "
                  f"{result.period_values} amounts, pending {result.pending} in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    engine.dispose()
    tenants.forget_compiled()
    return url


def uploads_dir(kind: str, size: int, args: argparse.Namespace) -> str:
    return str(Path(args.data_dir) / f"uploads-{kind}-{size_label(size)}")


# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------

#: the clock the timings use: "wall" (perf_counter) or "cpu" (this process's CPU time,
#: steadier on a busy machine; on PostgreSQL it leaves out the server's own work)
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass
class Timing:
    times: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)

    @property
    def ms(self) -> float:
        return 1000 * statistics.median(self.times)

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.times) / statistics.median(self.bare) if self.bare else None


class Harness:
    """One app on one database, logged in as the admin and as the controller."""

    def __init__(self, url: str, upload_dir: str, clock: str = "wall"):
        self.clock = CLOCK[clock]
        from sqlalchemy import create_engine, event, select

        from steerco import create_app
        from steerco.benchdata import BENCH_PASSWORD
        from steerco.engine import tokens
        from steerco.store.models import ApprovalTask, Record, Tenant, User
        from steerco.store.scoping import across_tenants
        from steerco.web.extensions import db

        self.app = create_app({"TESTING": False, "SECRET_KEY": "scale-bench", "SQLALCHEMY_DATABASE_URI": url,
                               "UPLOAD_DIR": upload_dir, "WTF_CSRF_ENABLED": False})
        self.side = create_engine(url)  # bookkeeping and bare queries, outside the counted engine
        self.counting = False
        self.statements = 0
        with self.app.app_context():
            @event.listens_for(db.engine, "before_cursor_execute")
            def _count(*_: Any) -> None:
                if self.counting:
                    self.statements += 1

            with across_tenants(db.session):  # bookkeeping that names its tenant itself
                tenant = db.session.scalar(select(Tenant).where(Tenant.slug == SLUG))
                self.tenant_id = tenant.id
                self.package = db.session.scalar(select(Record.id).where(
                    Record.tenant_id == tenant.id, Record.level_key == "measure_package").order_by(Record.id))
                waiting = select(ApprovalTask.record_id).where(ApprovalTask.state == "pending")
                self.measure = db.session.scalar(select(Record.id).where(
                    Record.parent_id == self.package, Record.stage_key == "doi2", Record.id.not_in(waiting))
                    .order_by(Record.id))
                self.pending = db.session.scalar(select(Record.id).where(
                    Record.parent_id == self.package, Record.id.in_(waiting)).order_by(Record.id))
                self.title = db.session.scalar(select(Record.title).where(Record.id == self.measure))
                self.tokens = {}
                for role in ("admin", "controller"):
                    user = db.session.scalar(select(User).where(User.email == f"{role}@{SLUG}.example"))
                    self.tokens[role] = tokens.create_token(db.session, user, "scale bench")[1]
                db.session.commit()
        self.clients = {}
        for role in ("admin", "controller"):
            client = self.app.test_client()
            answer = client.post("/login", data={"email": f"{role}@{SLUG}.example", "password": BENCH_PASSWORD})
            assert answer.status_code == 302, f"{role} cannot log in"
            self.clients[role] = client
        self.saves = 0

    def version(self) -> int:
        from sqlalchemy import select

        from steerco.store.models import Record

        with self.side.connect() as conn:
            return conn.scalar(select(Record.version).where(Record.id == self.measure))

    def request(self, op: str) -> tuple[Callable[[], Any], int]:
        """The call for ``op`` (prepared untimed) and the status it must answer."""
        admin, controller = self.clients["admin"], self.clients["controller"]
        api = {"Authorization": f"Bearer {self.tokens['admin']}"}
        if op == "record":
            return (lambda: admin.get(f"/t/{SLUG}/r/{self.measure}")), 200
        if op == "record_pending":
            return (lambda: admin.get(f"/t/{SLUG}/r/{self.pending}")), 200
        if op == "edit":
            return (lambda: admin.get(f"/t/{SLUG}/r/{self.measure}/edit")), 200
        if op == "list":
            return (lambda: admin.get(f"/t/{SLUG}/r/{self.package}/list/measure")), 200
        if op == "export":
            return (lambda: admin.get(f"/t/{SLUG}/r/{self.package}/list/measure/export.csv")), 200
        if op == "api_list":
            return (lambda: admin.get(f"/api/t/{SLUG}/records?level=measure&parent={self.package}&per_page=200",
                                      headers=api)), 200
        if op == "inbox":
            return (lambda: controller.get(f"/t/{SLUG}/inbox")), 200
        if op == "inbox_api":
            return (lambda: controller.get(f"/api/t/{SLUG}/inbox",
                                           headers={"Authorization": f"Bearer {self.tokens['controller']}"})), 200
        if op == "save":
            self.saves += 1
            data = {"version": str(self.version()), "title": self.title, "kpi_actual_value": str(800 + self.saves)}
            return (lambda: admin.post(f"/t/{SLUG}/r/{self.measure}/edit", data=data)), 303
        raise ValueError(op)

    def once(self, op: str, timing: Timing | None) -> None:
        call, expect = self.request(op)
        self.statements, self.counting = 0, True
        started = self.clock()
        response = call()
        body = response.get_data()  # a streamed export is read to its end inside the timing
        elapsed = self.clock() - started
        self.counting = False
        if response.status_code != expect:
            raise SystemExit(f"{op}: expected {expect}, got {response.status_code}\n{body[:2000]!r}")
        if op == "save":
            with self.clients["admin"].session_transaction() as session:
                session.pop("_flashes", None)
        if timing is not None:
            timing.times.append(elapsed)
            timing.statements.append(self.statements)
            timing.sizes.append(len(body))

    def bare(self, op: str) -> float | None:
        """A bare SQL query returning the same record rows as ``op``, timed on its own connection."""
        limits = {"list": "LIMIT 25", "export": "", "api_list": "LIMIT 200"}
        if op not in limits:
            return None
        from sqlalchemy import text

        query = text(f"SELECT * FROM record WHERE tenant_id = :t AND parent_id = :p AND level_key = 'measure' "
                     f"AND deleted_at IS NULL ORDER BY number, id {limits[op]}")
        with self.side.connect() as conn:
            started = self.clock()
            rows = conn.execute(query, {"t": self.tenant_id, "p": self.package}).all()
            elapsed = self.clock() - started
        assert rows
        return elapsed

    def profile(self, op: str, out: Path) -> str:
        profiler = cProfile.Profile()
        profiler.enable()
        self.once(op, None)
        profiler.disable()
        profiler.dump_stats(out)
        text_out = io.StringIO()
        stats = pstats.Stats(profiler, stream=text_out)
        stats.sort_stats("tottime").print_stats(14)
        return re.sub(r"\n{2,}", "\n", text_out.getvalue())


def measure(url: str, kind: str, size: int, ops: list[str], args: argparse.Namespace) -> dict[str, Timing]:
    harness = Harness(url, uploads_dir(kind, size, args), args.clock)
    timings = {op: Timing() for op in ops}
    for op in ops:  # warm-up: compile the configuration and templates, fill caches
        harness.once(op, None)
    for _ in range(args.repeat):
        for op in ops:
            harness.once(op, timings[op])
            bare = harness.bare(op)
            if bare is not None:
                timings[op].bare.append(bare)
        print(".", end="", flush=True)
    print(flush=True)
    for op in [o for o in args.profile if o in ops]:
        path = Path(args.data_dir) / f"profile-{kind}-{size_label(size)}-{op}.pstats"
        print(f"\n--- profile of one {LABELS[op]} request, {kind} {size_label(size)} ({path}) ---")
        print(harness.profile(op, path))
    harness.side.dispose()
    return timings


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def cell(t: Timing | None) -> str:
    if t is None or not t.times:
        return "–"
    ratio = f" ({t.ratio:.0f}x)" if t.ratio is not None else ""
    return f"{t.ms:,.0f}{ratio}"


def report(results: dict[tuple[str, int], dict[str, Timing]], kinds: list[str], sizes: list[int],
           ops: list[str], repeat: int, clock: str = "wall") -> None:
    print()
    print(f"Steerco at scale: medians of {repeat} interleaved repetitions in ms of {clock} time "
          f"(ratio to a bare SQL query of the same rows); Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print()
    columns = [(k, s) for k in kinds for s in sizes]
    head = ["operation"] + [f"{k} {size_label(s)}" for k, s in columns] + ["SQL statements", "size"]
    rows = []
    for op in ops:
        timings = [results.get(c, {}).get(op) for c in columns]
        counts = " / ".join(str(int(statistics.median(t.statements))) if t and t.times else "–" for t in timings)
        largest = max((statistics.median(t.sizes) for t in timings if t and t.times), default=0)
        rows.append([LABELS[op]] + [cell(t) for t in timings] + [counts, f"{largest / 1024:,.0f} KB"])
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(" --- " for _ in head) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("SQL statements: per request, for each column in order; size: the largest response.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000", help="comma-separated measure counts (default 1000)")
    parser.add_argument("--databases", default="sqlite", help="sqlite, postgresql or both, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions per operation (default 3)")
    parser.add_argument("--ops", default=",".join(OPERATIONS), help=f"operations (default all: {','.join(OPERATIONS)})")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "steerco-scale"),
                        help="where SQLite databases, uploads and profiles go (default %(default)s)")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server (its maintenance database); one database per size is created there")
    parser.add_argument("--pg-prefix", default="steerco_scale", help="prefix of those databases (default %(default)s)")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="wall",
                        help="wall (default) or cpu: this process's CPU time, steadier on a busy machine "
                             "(on PostgreSQL it leaves out the server's work)")
    parser.add_argument("--regenerate", action="store_true", help="drop and generate the data again")
    parser.add_argument("--profile", default="", help="also cProfile one request of these operations "
                        f"({','.join(OPERATIONS)}) and print the top functions")
    args = parser.parse_args(argv)
    args.profile = [p for p in args.profile.split(",") if p]
    sizes = [int(s.replace("k", "000")) for s in args.sizes.split(",")]
    kinds = [k.strip() for k in args.databases.split(",")]
    ops = [o for o in args.ops.split(",") if o]
    unknown = [o for o in ops + args.profile if o not in OPERATIONS] + [k for k in kinds if k not in ("sqlite", "postgresql")]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("STEERCO_INSTANCE", str(Path(args.data_dir) / "instance"))
    sys.path.insert(0, str(ROOT / "platform"))

    results: dict[tuple[str, int], dict[str, Timing]] = {}
    for size in sizes:
        for kind in kinds:
            url = prepare(kind, size, args)
            print(f"  {kind} {size_label(size)}: timing {len(ops)} operations x {args.repeat} ", end="", flush=True)
            results[(kind, size)] = measure(url, kind, size, ops, args)
    report(results, kinds, sizes, ops, args.repeat, args.clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
