#!/usr/bin/env python
"""Time the PDF of a 1,000-measure report against WeasyPrint alone on the same HTML.

    python bench/report_bench.py [--measures 1000] [--repeat 3] [--database-url URL]

One run builds a throw-away tenant from the acme demo configuration plus one benchmark
report (KPI tiles, a bar chart, and a 7-column table of every measure grouped by category
with subtotals and totals), stores it through the real compiler, creates the hierarchy
through the engine and bulk-inserts ``--measures`` measures (values as the engine would
store them, computed values included). Then it times, each ``--repeat`` times:

1. engine: the whole job as the web app runs it (``reports.jobs.run_job``): report data in
   SQL for the reader, the HTML, the PDF, progress writes, the PDF into the blob store;
2. weasyprint alone: ``HTML(string=...).write_pdf()`` on exactly the final HTML of (1),
   with the same fetcher, so the difference is the engine's own work;
3. data only: ``build_report`` (the SQL and Python part of (1));
4. cached: the download of an unchanged report (``ReportJobs.cached`` + the blob);
5. parallel chunks: the same job with the printer laying the report out in ``--workers``
   processes at once and merging the parts (``steerco.reports.chunks``), the engine's
   path for big reports when ``REPORT_PDF_WORKERS`` > 1.

It prints the median wall time and CPU time of each, the ratio engine / weasyprint (the
engine's overhead), the parallel speed-up over one plain WeasyPrint call and the speed-up
of the cache. See bench/README.md.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

BENCH_REPORT: dict[str, Any] = {
    "key": "bench_pack", "title": "Benchmark pack – every measure", "audience": ["tenant_admin"],
    "level": "measure", "page": {"size": "A4", "orientation": "landscape"},
    "sections": [
        {"type": "kpi_tiles", "title": "Headline figures", "tiles": [
            {"label": "Total potential", "field": "potential", "aggregate": "sum"},
            {"label": "Probability-weighted", "field": "probability_weighted_potential", "aggregate": "sum"},
            {"label": "Measures", "field": "category", "aggregate": "count"}]},
        {"type": "chart", "title": "Potential by category", "chart": "bar", "group_by": "category",
         "series": [{"label": "Potential", "field": "potential"},
                    {"label": "Probability-weighted", "field": "probability_weighted_potential"}]},
        {"type": "table", "title": "All measures", "new_page": True,
         "columns": ["number", "title", "owner", "stage", "category", "potential", "probability_weighted_potential"],
         "group_by": "category", "totals": True},
    ],
}
CATEGORIES = ["procurement", "personnel", "process", "footprint", "product", "logistics"]


def build_world(database_url: str, measures: int, upload_dir: Path) -> dict[str, Any]:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session, sessionmaker
    from werkzeug.datastructures import MultiDict

    from steerco.config.loader import read_folder
    from steerco.engine import tenants
    from steerco.engine.access import Access
    from steerco.engine.forms import compute
    from steerco.engine.records import Records, Submission
    from steerco.engine.users import create_user
    from steerco.store import scoping
    from steerco.store.blobs import DiskBlobStore
    from steerco.store.models import Base, NumberCounter, Record

    engine = create_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    documents, problems = read_folder(str(ROOT / "tenants" / "acme"))
    assert not problems, problems
    documents = copy.deepcopy(documents)
    documents["reports"]["reports"].append(BENCH_REPORT)
    with Session(engine, expire_on_commit=False) as session:
        tenant, _ = tenants.store_config(session, documents)
        scoping.bind_to_tenant(session, tenant.id)
        admin = create_user(session, "bench@example.com", "Bench Admin", "bench-password-1")
        tenants.add_member(session, tenant, admin, [("tenant_admin", None)])
        config = tenants.active_config(session, tenant)
        records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, admin)))
        parent = None
        for level in ("organization", "portfolio", "program", "project", "measure_package"):
            parent = records.create(level, parent, Submission(f"Bench {level}", MultiDict()))
        session.flush()
        level = config.levels["measure"]
        first = (session.scalar(select(Record.id).order_by(Record.id.desc()).limit(1)) or 0) + 1
        rows = []
        for n in range(measures):
            values: dict[str, Any] = {"category": CATEGORIES[n % 6], "potential": (n % 7 + 1) * 85000,
                                      "benefit_probability": 50 + n % 5 * 10, "effect_type": "recurring",
                                      "has_capex": False, "implementation_status": "on_track"}
            values.update(compute(level, values, "doi1", f"Bench measure {n}"))
            record_id = first + n
            rows.append({"id": record_id, "tenant_id": tenant.id, "level_key": "measure", "parent_id": parent.id,
                         "path": f"{parent.path}{record_id}/", "depth": parent.depth + 1,
                         "number": f"M-{n + 1:05d}", "title": f"Bench measure {n} with a realistic title",
                         "owner_id": admin.id, "stage_key": "doi1", "values": values, "version": 1,
                         "config_version": config.version})
        session.execute(Record.__table__.insert(), rows)
        session.add(NumberCounter(tenant_id=tenant.id, level_key="measure", last=measures))
        session.commit()
        return {"engine": engine, "sessions": sessionmaker(engine, expire_on_commit=False), "tenant_id": tenant.id,
                "user_id": admin.id, "blobs": DiskBlobStore(upload_dir)}


def timed(label: str, repeat: int, action: Callable[[], Any], workers_cpu: Callable[[], list[float]] | None = None
          ) -> dict[str, Any]:
    """Median wall and CPU time of ``action``; with ``workers_cpu`` (the CPU seconds of each
    worker process of the last run), CPU is this process's plus the slowest worker's: the
    critical path, what the wall time is on cores that are free."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu + (max(workers_cpu(), default=0.0) if workers_cpu else 0.0))
    return {"label": label, "wall": statistics.median(walls), "cpu": statistics.median(cpus), "result": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measures", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--workers", type=int, default=2, help="processes of the parallel chunk rendering")
    args = parser.parse_args()

    from weasyprint import HTML

    from steerco.engine import tenants
    from steerco.engine.access import Access
    from steerco.reports import jobs
    from steerco.reports.data import build_report
    from steerco.reports.pdf import BASE_URL, StaticOnlyFetcher
    from steerco.reports.render import STATIC, Printer
    from steerco.store import scoping
    from steerco.store.models import ReportJob, Tenant, User

    with tempfile.TemporaryDirectory(prefix="steerco-report-bench-") as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        started = time.perf_counter()
        world = build_world(url, args.measures, Path(folder) / "uploads")
        print(f"{args.measures:,} measures stored in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
        printer = Printer(workers=1)  # the single-piece engine path; the parallel one below
        environment = jobs.JobEnvironment(world["sessions"], world["blobs"], printer)
        session = world["sessions"]()
        scoping.bind_to_tenant(session, world["tenant_id"])
        tenant, user = session.get(Tenant, world["tenant_id"]), session.get(User, world["user_id"])
        config = tenants.active_config(session, tenant)
        access = Access(config, tenants.actor_for(session, tenant, user))
        report = config.reports["bench_pack"]
        service = jobs.ReportJobs(session, tenant.id, config, access, world["blobs"])

        def job() -> bytes:
            created, _ = service.start(report)
            session.commit()
            jobs.run_job(environment, tenant.id, created.id)
            session.expire_all()
            done = session.get(ReportJob, created.id)
            assert done.state == "done", done.error
            pdf = service.pdf(done)
            # Leave no finished job behind, so the next repetition renders again.
            session.delete(done)
            session.commit()
            return pdf

        data = build_report(session, tenant.id, config, access, report)
        html = printer.report_html(config, report, data)
        rows = sum(len(g.rows) for s in data.sections if s.table for g in s.table.groups)
        print(f"report: {len(data.sections)} sections, {rows:,} table rows, HTML {len(html) / 1024:.0f} kB")

        results = [
            timed("engine (job: data, HTML, PDF, store)", args.repeat, job),
            timed("weasyprint alone, same HTML", args.repeat, lambda: HTML(
                string=html, base_url=BASE_URL, url_fetcher=StaticOnlyFetcher(STATIC)).write_pdf()),
            timed("data only (SQL + rows)", args.repeat,
                  lambda: build_report(session, tenant.id, config, access, report)),
        ]
        parallel_printer = Printer(workers=args.workers)
        parallel_printer.report_pdf(config, report, data)  # start the worker processes once, as a server does
        parallel_environment = jobs.JobEnvironment(world["sessions"], world["blobs"], parallel_printer)

        def parallel_job() -> bytes:
            nonlocal environment
            kept, environment = environment, parallel_environment
            try:
                return job()
            finally:
                environment = kept

        from steerco.reports import chunks

        results.append(timed(f"engine, {args.workers} parallel chunks", args.repeat, parallel_job,
                             lambda: chunks.last_chunk_cpu))
        created, _ = service.start(report)
        session.commit()
        jobs.run_job(environment, tenant.id, created.id)
        session.expire_all()
        results.append(timed("cached download", max(args.repeat, 10),
                             lambda: service.pdf(service.cached(report))))
        from pypdf import PdfReader  # a test dependency, installed with the virtual environment

        pages = len(PdfReader(io.BytesIO(results[0]["result"])).pages)
        print(f"PDF: {len(results[0]['result']) / 1024:.0f} kB, {pages} pages\n")
        print(f"{'path':40} {'wall s':>9} {'cpu s':>9}")
        for r in results:
            print(f"{r['label']:40} {r['wall']:9.3f} {r['cpu']:9.3f}")
        engine, alone, parallel, cached = results[0], results[1], results[3], results[4]
        chunked = len(PdfReader(io.BytesIO(parallel["result"])).pages)
        print(f"\nengine / weasyprint alone: {engine['wall'] / alone['wall']:.2f}x wall, "
              f"{engine['cpu'] / alone['cpu']:.2f}x cpu (aim: at most 1.1x)")
        print(f"parallel chunks: {alone['wall'] / parallel['wall']:.2f}x faster than one WeasyPrint call by the wall "
              f"clock, {alone['cpu'] / parallel['cpu']:.2f}x on the critical path's CPU (this process + the "
              f"slowest worker; aim: 1.6x or more), {chunked} pages")
        print(f"cached download: {engine['wall'] / cached['wall']:,.0f}x faster than rendering")
        session.close()
        world["engine"].dispose()


if __name__ == "__main__":
    os.environ.setdefault("STEERCO_INSTANCE", tempfile.mkdtemp(prefix="steerco-bench-instance-"))
    main()
