"""Reports: the list, a report as a live page, its PDF through a job, and its JSON.

Views stay thin: the engine side (``steerco.reports``) decides who may open a report
(its audience), what it shows to this reader and how it prints; here the request is
parsed, the job runner is chosen (threads in this process, or RQ on Redis when
``REDIS_URL`` is set) and the page, partial or file is answered. A report the reader's
roles are not in the audience of answers 404, like a report that does not exist.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from flask import Flask, current_app, g, jsonify, redirect, render_template, request, send_file, url_for
from sqlalchemy.orm import sessionmaker

from steerco.config.model import Report
from steerco.engine import sheets
from steerco.engine.errors import NotFound
from steerco.reports import chunks, jobs, snapshots
from steerco.reports.data import NO_VALUE, ReportData, build_report, drill, may_open, readable_reports, report_json
from steerco.reports.period import PeriodRange, depends_on_period, parse_period
from steerco.reports.render import Printer
from steerco.store.models import Record, ReportJob, ReportSnapshot
from steerco.web.api import _unauthorized, bearer_user
from steerco.web.extensions import csrf, db
from steerco.web.params import id_arg
from steerco.web.tenancy import records_service, tenant_blueprint

bp = tenant_blueprint("reports", __name__)
api = tenant_blueprint("reports_api", __name__, "/api/t/<tenant>", authenticate=bearer_user,
                       unauthorized=_unauthorized)
csrf.exempt(api)

#: how many records of each level above the report's the scope picker offers
SCOPE_CHOICES = 200
_setup = threading.Lock()


# -- the runner and the printer, one per app -------------------------------------------------
def printer() -> Printer:
    found = current_app.extensions.get("steerco.printer")
    if found is None:
        found = current_app.extensions["steerco.printer"] = _make_printer(current_app)
    return found


def _make_printer(app: Flask) -> Printer:
    return Printer(static_folder=app.static_folder, workers=app.config.get("REPORT_PDF_WORKERS", 1),
                   parallel_from=app.config.get("REPORT_PARALLEL_FROM_ROWS", chunks.PARALLEL_FROM_ROWS))


def runner() -> jobs.Runner:
    """Threads in this process, or RQ when ``REDIS_URL`` is set; built on first use."""
    found = current_app.extensions.get("steerco.report_runner")
    if found is None:
        with _setup:
            found = current_app.extensions.get("steerco.report_runner")
            if found is None:
                found = current_app.extensions["steerco.report_runner"] = _make_runner(current_app)
    return found


def _make_runner(app: Flask) -> jobs.Runner:
    if app.config.get("REDIS_URL"):
        return jobs.RQRunner(app.config["REDIS_URL"], app.config["REPORT_QUEUE"])
    return jobs.ThreadRunner(job_environment(app), app.config.get("REPORT_THREADS", 1))


def job_environment(app: Flask) -> jobs.JobEnvironment:
    """Sessions on the app's database, its blob store and a printer, for running jobs."""
    with app.app_context():
        engine = db.engine
        if "steerco.printer" not in app.extensions:
            app.extensions["steerco.printer"] = _make_printer(app)
    return jobs.JobEnvironment(sessionmaker(engine, expire_on_commit=False), app.extensions["steerco.blobs"],
                               app.extensions["steerco.printer"])


# -- helpers ---------------------------------------------------------------------------------
def _report(key: str) -> Report:
    report = g.config.reports.get(key)
    if report is None or not may_open(g.config, g.access, report):
        raise NotFound("no such report")
    return report


def _under() -> Record | None:
    """The subtree the reader limited the report to (``?under=<record id>``), if readable."""
    record_id = request.args.get("under", type=id_arg)
    return records_service().get(record_id) if record_id else None


def _period() -> PeriodRange | None:
    """The reporting periods the reader chose: ``?period=A`` or ``A..B`` (or ``period_to=B``)."""
    return parse_period(g.config, request.args.get("period"), request.args.get("period_to"))


def _snapshot(report: Report) -> ReportSnapshot | None:
    """The snapshot the reader asked for (``?as_of=<snapshot id>``), if any."""
    snapshot_id = request.args.get("as_of", type=id_arg)
    return snapshots.get(db.session, g.tenant.id, report, snapshot_id) if snapshot_id else None


def _data(report: Report, under: Record | None, period: PeriodRange | None,
          snapshot: ReportSnapshot | None, **options: Any) -> ReportData:
    """The report as the reader may see it: live, or the snapshot's view for them."""
    if snapshot is None:
        return build_report(db.session, g.tenant.id, g.config, g.access, report, under=under, period=period,
                            **options)
    data = snapshots.view_for(db.session, g.tenant.id, g.config, g.access, snapshot)
    if data is None:
        raise NotFound("this snapshot holds no view of the report that you may see")
    return data


def _filters(under: Record | None, period: PeriodRange | None, snapshot: ReportSnapshot | None) -> dict[str, Any]:
    """The URL parameters that keep the reader's choices on every link of the page."""
    return {"under": under.id if under else None, "period": period.param if period else None,
            "as_of": snapshot.id if snapshot else None}


def _report_jobs() -> jobs.ReportJobs:
    return jobs.ReportJobs(db.session, g.tenant.id, g.config, g.access, current_app.extensions["steerco.blobs"])


def _scope_choices(report: Report) -> list[tuple[str, list[Record]]]:
    """Readable records of the levels above the report's, to limit it to one subtree."""
    records = records_service()
    above, stack = [], list(g.config.levels[report.level].parents)
    while stack:
        key = stack.pop(0)
        if key not in above:
            above.append(key)
            stack += g.config.levels[key].parents
    return [(g.config.levels[key].label, records.search(key, per_page=SCOPE_CHOICES).items)
            for key in reversed(above) if g.access.can_somewhere("read", key)]


def _record_url(record_id: int) -> str:
    return url_for("records.view", record_id=record_id)


def _drill_url(report: Report, under: Record | None, period: PeriodRange | None = None) -> Any:
    """Links from a number of the page to the records behind it (none in the PDF)."""
    def link(section: int, row: str | None | bool = False, column: str | None | bool = False) -> str:
        args: dict[str, Any] = {"key": report.key, "section": section + 1, "under": under.id if under else None,
                                "period": period.param if period else None}
        if row is not False:
            args["row"] = NO_VALUE if row is None else row
        if column is not False:
            args["col"] = NO_VALUE if column is None else column
        return url_for("reports.records", **args)
    return link


@bp.get("/reports/<key>/records")
def records(key: str):  # type: ignore[no-untyped-def]
    """The records behind a number of the report (``section``, 1-based; ``row``, ``col``:
    the groups of a cross-tab cell or a table group), as the reader may read them."""
    report = _report(key)
    under = _under()
    index = request.args.get("section", type=int)
    period = _period()
    try:
        found = drill(db.session, g.tenant.id, g.config, g.access, report, (index or 0) - 1, under=under,
                      row=request.args.get("row"), column=request.args.get("col"), period=period)
    except LookupError:
        raise NotFound("no such section or group") from None
    return render_template("reports/records.html", layout=report, drill=found, under=under, period=period,
                           record_url=_record_url)


def _pdf_response(data: bytes, filename: str):  # type: ignore[no-untyped-def]
    response = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- pages -----------------------------------------------------------------------------------
@bp.get("/reports")
def index():  # type: ignore[no-untyped-def]
    reports = readable_reports(g.config, g.access)
    return render_template("reports/index.html", reports=reports)


#: the header the period filter's htmx request sends: answer only the sections it changes
PERIOD_PART = "X-Report-Part"


@bp.get("/reports/<key>")
def view(key: str):  # type: ignore[no-untyped-def]
    """The report as a page, live or as a snapshot (``as_of``). htmx asks for the report
    and its links only (a new scope), or, when the period changes (``X-Report-Part:
    period``), only the sections whose numbers depend on the period, swapped out of band."""
    report = _report(key)
    under, period, snapshot = _under(), _period(), _snapshot(report)
    partial = request.htmx and request.headers.get(PERIOD_PART) == "period" and snapshot is None
    only = (lambda section: depends_on_period(g.config, section)) if partial else None
    data = _data(report, under, period, snapshot, only=only)
    context: dict[str, Any] = {"report": data, "record_url": _record_url, "layout": report, "under": under,
                               "drill_url": _drill_url(report, under, period) if snapshot is None else None,
                               "period": period, "snapshot": snapshot, "has_tables": any(
                                   s.type in ("table", "approvals", "exceptions") for s in report.sections),
                               "filters": _filters(under, period, snapshot)}
    if partial:
        return render_template("reports/_period_sections.html", **context)
    if request.htmx:
        return render_template("reports/_report_view.html", **context)
    return render_template("reports/view.html", scopes=_scope_choices(report),
                           periods=g.config.periods if _has_periods(report) else (),
                           snapshots=snapshots.snapshots(db.session, g.tenant.id, report),
                           may_snapshot=snapshots.may_take(report, g.access), **context)


def _has_periods(report: Report) -> bool:
    return any(depends_on_period(g.config, s) for s in report.sections)


@bp.post("/reports/<key>/snapshots")
def take_snapshot(key: str):  # type: ignore[no-untyped-def]
    """Keep the report's data as its audience sees it now (a ``snapshot_by`` role)."""
    report = _report(key)
    snapshot = snapshots.take(db.session, g.tenant.id, g.config, report, by=g.access,
                              label=request.form.get("label", ""))
    db.session.commit()
    return redirect(url_for("reports.view", key=report.key, as_of=snapshot.id), code=303)


@bp.get("/reports/<key>.pdf")
def pdf(key: str):  # type: ignore[no-untyped-def]
    """The PDF: at once from the cache when nothing changed, else through a job."""
    report = _report(key)
    pdf_file, job_id = _pdf_or_job(report, _under(), _period(), _snapshot(report))
    if pdf_file is not None:
        return pdf_file
    return redirect(url_for("reports.job", job_id=job_id), code=303)


def _pdf_or_job(report: Report, under: Record | None, period: PeriodRange | None = None,
                snapshot: ReportSnapshot | None = None) -> tuple[Any, int | None]:
    """The cached PDF as an answer when nothing changed, else (None, the id of the job
    rendering it), the job queued once; a queue that is down fails the job with a message."""
    report_jobs = _report_jobs()
    if snapshot is not None and snapshots.view_for(db.session, g.tenant.id, g.config, g.access, snapshot) is None:
        raise NotFound("this snapshot holds no view of the report that you may see")
    cached = report_jobs.cached(report, under, period, snapshot)
    if cached is not None:
        return _pdf_response(report_jobs.pdf(cached), jobs.download_name(report, under, period, snapshot)), None
    job, new = report_jobs.start(report, under, period, snapshot)
    job_id = job.id
    db.session.commit()
    if new:
        try:
            runner().submit(g.tenant.id, job_id)
        except Exception as exc:  # noqa: BLE001 - the queue is down: say so on the job page
            current_app.logger.exception("could not queue report job %s", job_id)
            jobs.fail(db.session, db.session.get(ReportJob, job_id),
                      f"The report queue cannot be reached ({type(exc).__name__}); try again later.")
            db.session.commit()
    return None, job_id


@bp.get("/reports/<key>.xlsx")
def tables_xlsx(key: str):  # type: ignore[no-untyped-def]
    """The report's tables as an Excel workbook, built as the page is (same scope, same
    visibility), with typed cells (see :mod:`steerco.engine.sheets`)."""
    report = _report(key)
    data = _data(report, _under(), _period(), _snapshot(report))
    response = send_file(sheets.report_workbook(g.config, data), mimetype=sheets.MIME, as_attachment=True,
                         download_name=f"{report.title}.xlsx")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/reports/jobs/<int:job_id>")
def job(job_id: int):  # type: ignore[no-untyped-def]
    """A job's progress: the page, or (htmx, every second) its progress partial."""
    found = _report_jobs().get(job_id)
    report = g.config.reports.get(found.report_key)
    template = "reports/_job.html" if request.htmx else "reports/job.html"
    return render_template(template, job=found, report=report)


@bp.get("/reports/jobs/<int:job_id>/download")
def download(job_id: int):  # type: ignore[no-untyped-def]
    report_jobs = _report_jobs()
    found = report_jobs.get(job_id)
    return _pdf_response(report_jobs.pdf(found), found.filename)


# -- JSON ------------------------------------------------------------------------------------
@api.after_request
def _no_store(response):  # type: ignore[no-untyped-def]
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@api.get("/reports/<key>")
def report_data(key: str):  # type: ignore[no-untyped-def]
    """The same content as the page, as JSON (charts as their labels and series);
    ``period`` and ``as_of`` (a snapshot) as on the page."""
    report = _report(key)
    data = _data(report, _under(), _period(), _snapshot(report))
    return jsonify(report_json(data))


@api.get("/reports")
def report_list():  # type: ignore[no-untyped-def]
    """The reports the caller may open: key, title, and where their data and PDF are."""
    return jsonify(items=[{"key": r.key, "title": r.title,
                           "url": url_for("reports_api.report_data", key=r.key, _external=True),
                           "pdf_url": url_for("reports_api.report_pdf", key=r.key, _external=True)}
                          for r in readable_reports(g.config, g.access)])


def job_json(found: ReportJob) -> dict[str, Any]:
    """A report job as a script polls it: state, progress and, once done, the download."""
    return {"id": found.id, "report": found.report_key, "state": found.state, "progress": found.progress,
            "message": found.message, "error": found.error or None, "filename": found.filename,
            "url": url_for("reports_api.report_job", job_id=found.id, _external=True),
            "download_url": url_for("reports_api.download_report", job_id=found.id, _external=True)
            if found.state == "done" else None}


@api.get("/reports/<key>/pdf")
def report_pdf(key: str):  # type: ignore[no-untyped-def]
    """The report's PDF (``?under=<record id>`` limits it to a subtree): 200 with the PDF
    when a rendering of the same data is cached, else 202 with a job to poll (``Location``)."""
    report = _report(key)
    pdf_file, job_id = _pdf_or_job(report, _under(), _period(), _snapshot(report))
    if pdf_file is not None:
        return pdf_file
    response = jsonify(job_json(_report_jobs().get(job_id)))
    response.status_code = 202
    response.headers["Location"] = url_for("reports_api.report_job", job_id=job_id, _external=True)
    return response


@api.get("/reports/jobs/<int:job_id>")
def report_job(job_id: int):  # type: ignore[no-untyped-def]
    return jsonify(job_json(_report_jobs().get(job_id)))


@api.get("/reports/jobs/<int:job_id>/download")
def download_report(job_id: int):  # type: ignore[no-untyped-def]
    report_jobs = _report_jobs()
    found = report_jobs.get(job_id)
    return _pdf_response(report_jobs.pdf(found), found.filename)
