"""Spreadsheet imports: upload, map columns, check (with the problems per row and cell),
import. The engine (:mod:`steerco.engine.imports`) does the work; here the request is
parsed and the page or partial chosen.

Small files are checked and imported within the request; a file of more than
``IMPORT_INLINE_ROWS`` rows (default 200) runs on the app's :class:`ImportRunner` (a thread
of the web process) while the page polls its progress with htmx.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from flask import Flask, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from steerco.engine.errors import NotFound
from steerco.engine.imports import (
    SKIP, ImportRefused, ImportRunner, Imports, read_sheet, run_import,
)
from steerco.store.models import ImportJob, Record
from steerco.web.api import _unauthorized, bearer_user
from steerco.web.extensions import csrf, db
from steerco.web.tenancy import records_service, tenant_blueprint

bp = tenant_blueprint("imports", __name__)
api = tenant_blueprint("imports_api", __name__, "/api/t/<tenant>", authenticate=bearer_user,
                       unauthorized=_unauthorized)
csrf.exempt(api)

#: files of up to this many rows are checked and imported within the request
INLINE_ROWS = 200
#: how many rows the mapping page shows as a sample
SAMPLE_ROWS = 3
_setup = threading.Lock()


def runner() -> ImportRunner:
    """The app's import runner, built on first use."""
    found = current_app.extensions.get("steerco.import_runner")
    if found is None:
        with _setup:
            found = current_app.extensions.get("steerco.import_runner")
            if found is None:
                found = current_app.extensions["steerco.import_runner"] = _make_runner(current_app)
    return found


def _make_runner(app: Flask) -> ImportRunner:
    return ImportRunner(sessionmaker(db.engine, expire_on_commit=False), app.extensions["steerco.blobs"])


def _imports() -> Imports:
    return Imports(db.session, g.tenant.id, g.config, g.access, current_app.extensions["steerco.blobs"])


def _parent(number: str | None) -> Record | None:
    """The readable record of that number, if one is named."""
    number = (number or "").strip()
    if not number:
        return None
    records = records_service()
    found = db.session.scalar(records._readable().where(Record.number == number).limit(1))
    if found is None:
        raise ImportRefused(f"No readable record numbered {number!r}.")
    return found


def _upload() -> tuple[str, bytes]:
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ImportRefused("Choose a file to upload.")
    return file.filename, file.read()


def _inline_rows() -> int:
    return int(current_app.config.get("IMPORT_INLINE_ROWS", INLINE_ROWS))


def _run(job: ImportJob, *, commit: bool) -> None:
    """Check or import: within the request for a small file, else on the runner."""
    imports = _imports()
    imports.start(job, commit=commit)
    job_id, rows = job.id, job.row_count
    db.session.commit()
    if rows <= _inline_rows():
        found = db.session.get(ImportJob, job_id)
        assert found is not None
        run_import(db.session, found, records_service(), imports.blobs, commit=commit)
    else:
        runner().submit(g.tenant.id, job_id, commit=commit)


# -- pages -----------------------------------------------------------------------------------
@bp.get("/import")
def new():  # type: ignore[no-untyped-def]
    """Step 1: choose the level, where the rows go and the file."""
    imports = _imports()
    levels = imports.levels()
    if not levels:
        raise NotFound("nothing to import into")
    return render_template("imports/new.html", levels=levels, level_key=request.args.get("level", ""),
                           parent_number=request.args.get("parent", ""), error=None)


@bp.post("/import")
def upload():  # type: ignore[no-untyped-def]
    imports = _imports()
    level_key = request.form.get("level", "")
    parent_number = request.form.get("parent", "")
    try:
        filename, data = _upload()
        job = imports.upload(level_key, _parent(parent_number), filename, data)
    except ImportRefused as refused:
        return render_template("imports/new.html", levels=imports.levels(), level_key=level_key,
                               parent_number=parent_number, error=str(refused)), 422
    job_id = job.id
    db.session.commit()
    return redirect(url_for("imports.show", job_id=job_id), code=303)


def _page_context(job: ImportJob, error: str | None = None) -> dict[str, Any]:
    imports = _imports()
    level = g.config.levels[job.level_key]
    parent = db.session.get(Record, job.parent_id) if job.parent_id else None
    sample: list[tuple[Any, ...]] = []
    if job.file_key and job.state not in ("done",):
        sheet = read_sheet(job.filename, imports.blobs.get(g.tenant.id, job.file_key))
        sample = sheet.rows[:SAMPLE_ROWS]
    return {"job": job, "level": level, "parent": parent, "targets": imports.targets(job),
            "sample": sample, "error": error, "progress": _progress(job)}


def _progress(job: ImportJob) -> tuple[int, str]:
    live = current_app.extensions.get("steerco.import_runner")
    found = live.progress(job.id) if live is not None else None
    return found or (job.progress, job.message)


@bp.get("/import/<int:job_id>")
def show(job_id: int):  # type: ignore[no-untyped-def]
    """Step 2 and 3: the mapping, the check's outcome (problems per row and cell), import."""
    job = _imports().get(job_id)
    return render_template("imports/job.html", **_page_context(job))


@bp.get("/import/<int:job_id>/status")
def status(job_id: int):  # type: ignore[no-untyped-def]
    """The run's progress (htmx polls it every second); once finished, the whole page
    reloads to show the outcome."""
    job = _imports().get(job_id)
    if job.state not in ("checking", "importing") and request.htmx:
        response = current_app.response_class("", status=200)
        response.headers["HX-Refresh"] = "true"
        return response
    return render_template("imports/_status.html", job=job, progress=_progress(job))


@bp.post("/import/<int:job_id>/mapping")
def mapping(job_id: int):  # type: ignore[no-untyped-def]
    """Save what each column holds, and check the file with it."""
    imports = _imports()
    job = imports.get(job_id)
    chosen = {i: request.form.get(f"column-{i}", SKIP) for i in range(len(job.columns))}
    try:
        imports.set_mapping(job, chosen)
        _run(job, commit=False)
    except ImportRefused as refused:
        db.session.rollback()
        return render_template("imports/job.html", **_page_context(imports.get(job_id), str(refused))), 422
    return redirect(url_for("imports.show", job_id=job_id), code=303)


@bp.post("/import/<int:job_id>/file")
def replace(job_id: int):  # type: ignore[no-untyped-def]
    """A corrected file for the same import (the mapping is kept by column name), checked at once."""
    imports = _imports()
    job = imports.get(job_id)
    try:
        filename, data = _upload()
        imports.replace_file(job, filename, data)
        if job.mapping:
            _run(job, commit=False)
        else:
            db.session.commit()
    except ImportRefused as refused:
        db.session.rollback()
        return render_template("imports/job.html", **_page_context(imports.get(job_id), str(refused))), 422
    return redirect(url_for("imports.show", job_id=job_id), code=303)


@bp.post("/import/<int:job_id>/run")
def run(job_id: int):  # type: ignore[no-untyped-def]
    """Import every row in one transaction: all or nothing."""
    imports = _imports()
    job = imports.get(job_id)
    try:
        _run(job, commit=True)
    except ImportRefused as refused:
        db.session.rollback()
        return render_template("imports/job.html", **_page_context(imports.get(job_id), str(refused))), 422
    found = db.session.get(ImportJob, job_id)
    if found is not None and found.state == "done":
        flash(found.message)
    return redirect(url_for("imports.show", job_id=job_id), code=303)


@bp.get("/imports")
def index():  # type: ignore[no-untyped-def]
    """The actor's recent imports."""
    found = list(db.session.scalars(select(ImportJob).where(
        ImportJob.tenant_id == g.tenant.id, ImportJob.user_id == g.user.id).order_by(ImportJob.id.desc()).limit(50)))
    return render_template("imports/index.html", jobs=[j for j in found if j.level_key in g.config.levels])


# -- JSON ------------------------------------------------------------------------------------
@api.post("/imports")
def api_import():  # type: ignore[no-untyped-def]
    """Multipart: ``file``, ``level``, optionally ``parent`` (a record number), ``mapping``
    (JSON: {column header: target}; suggested from the labels otherwise) and ``commit``
    ("true" imports; otherwise only checks). Runs within the request; answers the outcome:
    200 when the rows were imported (or would be), 422 with the problems per row and cell."""
    imports = _imports()
    try:
        filename, data = _upload()
        job = imports.upload(request.form.get("level", ""), _parent(request.form.get("parent")), filename, data)
        raw = request.form.get("mapping")
        if raw:
            wanted = json.loads(raw)
            if not isinstance(wanted, dict):
                raise ImportRefused("mapping: send an object of column header to target.")
            imports.set_mapping(job, {i: str(wanted.get(h) or SKIP) for i, h in enumerate(job.columns)})
        commit = request.form.get("commit", "").lower() in ("1", "true", "yes")
        imports.start(job, commit=commit)
        job_id = job.id
        db.session.commit()
        found = db.session.get(ImportJob, job_id)
        assert found is not None
        outcome = run_import(db.session, found, records_service(), imports.blobs, commit=commit)
    except (ImportRefused, ValueError) as refused:
        db.session.rollback()
        return jsonify({"type": "about:blank", "title": "Import refused", "status": 422,
                        "detail": str(refused)}), 422
    found = db.session.get(ImportJob, job_id)
    body = {"id": job_id, "state": found.state if found else None, "committed": commit and outcome.ok,
            "rows": outcome.rows, "created": outcome.numbers if commit and outcome.ok else [],
            "mapping": {job.columns[int(i)]: t for i, t in (found.mapping if found else {}).items()},
            "problems": [p.as_json() for p in outcome.problems]}
    return jsonify(body), (200 if outcome.ok else 422)

