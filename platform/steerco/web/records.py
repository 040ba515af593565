"""Generated pages for records of any level: view, list children, create, edit.

Views stay thin: they parse the request into a :class:`Submission`, call the engine and
choose between the full page and the partial htmx asked for. Errors raised by the engine
are answered here only where the answer is the form itself (422 with the user's values,
409 for a stale save); everything else goes to the app's error handlers.
"""

from __future__ import annotations

import csv
import io
from itertools import islice
from urllib.parse import quote
from typing import Any, Iterator, Mapping

from flask import Response, current_app, flash, g, redirect, render_template, request, send_file, stream_with_context, url_for

from steerco.config.model import Level
from steerco.engine import exceptions, fieldviews, history, plan, rollups, sheets, tables
from steerco.engine.errors import Forbidden, NotFound, StaleRecord, SteercoError, ValidationFailed
from steerco.engine.forms import FieldState
from steerco.engine.pending_uploads import INPUT_PREFIX as PENDING_INPUT, PendingUploads
from steerco.engine.records import InvalidQuery, Records, Submission
from steerco.fields import Upload
from steerco.fields.display import Display
from steerco.fields.base import clean_filename
from steerco.reports.pdf import render_pdf
from steerco.store.models import PendingUpload, Record, utcnow
from steerco.web import form_templates, workflow as workflow_views
from steerco.web.extensions import db
from steerco.web.params import id_arg
from steerco.web.tenancy import records_service, rollups_service, tenant_blueprint

bp = tenant_blueprint("records", __name__)


def _uploads() -> dict[str, list[Upload]]:
    return {
        name: [Upload(f.filename or "", f.mimetype or "application/octet-stream", f.read())
               for f in request.files.getlist(name) if f and f.filename]
        for name in request.files
    }


#: the form input that names a record's owner (fields' keys start with a letter: no clash)
OWNER_INPUT = "_owner"


def _owner_arg() -> Any:
    """The owner chosen in the form: an id, text that is none (refused by the engine), or None."""
    raw = (request.form.get(OWNER_INPUT) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


def _submission(kept: Mapping[str, list[Upload]] | None = None,
                fresh: dict[str, list[Upload]] | None = None) -> Submission:
    """The posted form; ``fresh`` are the files just posted, ``kept`` the files of an
    earlier, refused try that the form names again (pending uploads)."""
    uploads = {key: list(files) for key, files in (kept or {}).items()}
    for key, files in (fresh if fresh is not None else _uploads()).items():
        uploads.setdefault(key, []).extend(files)
    return Submission(title=request.form.get("title"), form=request.form, uploads=uploads,
                      owner=_owner_arg(), locale=g.config.locale)


def _pending_uploads() -> PendingUploads:
    return PendingUploads(db.session, g.tenant.id, g.actor.user_id, current_app.extensions["steerco.blobs"])


def _named_pending() -> dict[str, list[PendingUpload]]:
    """The kept files the posted form still names (ticked), by field key."""
    names = {name[len(PENDING_INPUT):]: request.form.getlist(name) for name in request.form
             if name.startswith(PENDING_INPUT)}
    return _pending_uploads().named(names)


def _keep_files(level: Level, named: dict[str, list[PendingUpload]], fresh: Mapping[str, list[Upload]],
                errors: Mapping[str, str]) -> dict[str, list[PendingUpload]]:
    """After a refused save: the files to offer again, the ones kept before and the ones
    just posted for the level's fields that have no error of their own (a file refused
    for its type or size is not kept). Committed, so they outlive the refused request."""
    wanted = {key: files for key, files in fresh.items() if level.field(key) is not None and key not in errors}
    kept = _pending_uploads().keep(wanted)
    db.session.commit()
    offered = {key: list(rows) for key, rows in named.items()}
    for key, rows in kept.items():
        offered.setdefault(key, []).extend(rows)
    return offered


def _level(key: str) -> Level:
    level = g.config.levels.get(key)
    if level is None:
        raise NotFound("no such level")
    return level


def _state_token(states: Mapping[str, FieldState]) -> str:
    """A compact summary of field states the form echoes back, so a refresh swaps only changes."""
    return ";".join(f"{k}={int(s.visible)}{int(s.editable)}{int(s.required)}" for k, s in states.items()
                    if s.mode != "hidden")


def _form_context(records: Records, level: Level, record: Record | None, parent: Record | None,
                  values: Mapping[str, Any], title: str, errors: Mapping[str, str] | None = None,
                  message: str | None = None,
                  pending: Mapping[str, list[PendingUpload]] | None = None) -> dict[str, Any]:
    stage = record.stage_key if record else (wf.initial_stage if (wf := g.config.workflow_of(level)) else None)
    view = fieldviews.form_view(records, level, values, record, stage, title, parent)
    states = view.states
    may_assign = records.may_assign_owner(level, record, parent)
    owner = values.get(OWNER_INPUT) if isinstance(values.get(OWNER_INPUT), int) else \
        (record.owner_id if record else g.actor.user_id)
    return {
        "level": level, "record": record, "parent": parent, "values": values, "title": title,
        "view": view, "states": states, "state_token": _state_token(states), "errors": errors or {},
        "form_fields": form_templates.level_form(current_app.jinja_env, g.config, level),
        "lookups": records.lookups(level, owner=may_assign), "message": message,
        "crumbs": records.breadcrumbs(record) + [record] if record else
        (records.breadcrumbs(parent) + [parent] if parent else []),
        # A role that may change only some fields by override may not rename the record.
        "title_editable": record is None or bool(g.access.roles_allowing("update", level.key, record)),
        # where a grid's scenario is closed or its plan frozen (the widget says so; a save checks)
        "stage": stage, "workflow": g.config.workflow_of(level),
        "owner_choice": {"value": owner, "label": fieldviews.display_for(records, [owner]).user(owner),
                         "input": OWNER_INPUT} if may_assign else None,
        # files of a refused try, offered again: {field key: [PendingUpload]}
        "pending": pending or {}, "pending_input": PENDING_INPUT,
    }


@bp.get("/r/<int:record_id>")
def view(record_id: int):  # type: ignore[no-untyped-def]
    records = records_service()
    record = records.get(record_id)
    level = _level(record.level_key)
    children = [tables.listing(records, g.config.levels[key], record, records.children(record, key))
                for key in level.children if g.access.can_somewhere("read", key)]
    values = records.stored_values(record, level)  # read once, for the values and the gates
    page = _record_page(records, record, values)
    # The workflow, status and comment panels: view-models built here, in a fixed number of queries.
    panels = workflow_views.record_panels(record, values)
    # The subtree added up by the database, one query per rollup set.
    rolled_up = rollups.panel(g.config, rollups_service().of(record))
    return render_template("record.html", children=children, can_edit=g.access.can("update", level.key, record),
                           rollups=rolled_up, exception_cases=_exception_cases(record, values),
                           can_delete=g.access.can("delete", level.key, record), **page, **panels)


def _exception_cases(record: Record, values: Mapping[str, Any]) -> list[exceptions.CaseView]:
    """The record's exceptions (none to look for when no rule watches its level)."""
    if not exceptions.watches(g.config, record.level_key):
        return []
    return exceptions.of_record(db.session, g.tenant.id, g.config, record, values, g.actor.user_id, utcnow())


@bp.post("/r/<int:record_id>/exceptions/<int:case_id>/close")
def close_exception(record_id: int, case_id: int):  # type: ignore[no-untyped-def]
    """Close an exception with its resolution (its owners or forum, evidence in place)."""
    records = records_service()
    record = records.get(record_id)
    values = records.stored_values(record, _level(record.level_key))
    try:
        exceptions.close(db.session, g.tenant.id, g.config, case_id, record, values, g.actor.user_id,
                         request.form.get("resolution", ""), utcnow())
    except ValidationFailed as refused:
        db.session.rollback()
        flash(" ".join(refused.errors.values()))
        return redirect(url_for("records.view", record_id=record_id, _anchor="exceptions"), code=303)
    db.session.commit()
    flash("Exception closed.")
    return redirect(url_for("records.view", record_id=record_id, _anchor="exceptions"), code=303)


def record_values_context(records: Records, record: Record,
                          values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What ``partials/_record_values.html`` needs: the record's view from the field pipeline."""
    return {"view": records.view(record, values)}


def _record_page(records: Records, record: Record, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the record's page and its PDF both show: values in the states the actor sees."""
    level = _level(record.level_key)
    return {
        "record": record, "level": level, **record_values_context(records, record, values),
        "crumbs": records.breadcrumbs(record), "workflow": g.config.workflow_of(level),
        # the frozen plan shown beside the current one, and recurring grids' run-rates
        "baselines": plan.baselines(db.session, g.tenant.id, [record.id]).get(record.id, {}),
        "run_rate": lambda fld, value: plan.run_rate(g.config, fld, value),
    }


def _list_args() -> dict[str, Any]:
    return {
        "sort": request.args.get("sort", "number"),
        "descending": request.args.get("dir") == "desc",
        "page": request.args.get("page", 1, type=int) or 1,
        "per_page": request.args.get("per_page", 25, type=int) or 25,
    }


def _list_of(records: Records, level_key: str, record_id: int | None) -> tuple[Level, Record | None]:
    """The level and parent of a list URL; 404 for a level that does not sit under the
    parent. Without a parent, any level: the read filter keeps what the actor may see."""
    parent = records.get(record_id) if record_id else None
    level = _level(level_key)
    if parent is not None and level.key not in g.config.levels[parent.level_key].children:
        raise NotFound("no such list")
    return level, parent


#: the query arguments of a list's search and filters (fields: ``field.<key>``)
FIELD_ARG = "field."


def _filter_args(records: Records, level: Level) -> dict[str, str]:
    """The list's search and filters as asked (empty ones left out), to keep in every
    link of the page: sorting and paging stay within the filtered list."""
    wanted = {"q", "stage", "owner"} | {FIELD_ARG + f.key for f in records.filter_fields(level)}
    return {key: value.strip() for key, value in request.args.items()
            if (key in wanted or key.startswith(FIELD_ARG)) and value.strip()}


def _owner_filter(raw: str | None) -> int | None:
    if not raw:
        return None
    if raw == "me":
        return g.actor.user_id
    try:
        owner = id_arg(raw)
    except ValueError:
        owner = None
    if owner is None:
        raise InvalidQuery("owner: give a member's id, or me")
    return owner


def _list_filters(records: Records, level: Level, args: Mapping[str, str]) -> dict[str, Any]:
    """The engine's keyword arguments for the search and filters in ``args``."""
    return {"q": args.get("q"), "stage": args.get("stage"), "owner_id": _owner_filter(args.get("owner")),
            "filters": {key[len(FIELD_ARG):]: value for key, value in args.items() if key.startswith(FIELD_ARG)}}


@bp.get("/list/<level_key>")
@bp.get("/r/<int:record_id>/list/<level_key>")
def children(level_key: str, record_id: int | None = None):  # type: ignore[no-untyped-def]
    """Children of one level under a record: sortable, paged. Without a record: every
    record of the level the actor may read, across the workspace, searchable and filtered
    (``?q=``, ``?stage=``, ``?owner=``, ``?field.<key>=``, combinable and bookmarkable)."""
    records = records_service()
    level, parent = _list_of(records, level_key, record_id)
    if parent is not None:
        page = records.children(parent, level.key, **_list_args())
        listing = tables.listing(records, level, parent, page)
        if request.htmx:
            return render_template("partials/_children.html", listing=listing)
        return render_template("list.html", listing=listing, crumbs=records.breadcrumbs(parent) + [parent])
    args = _filter_args(records, level)
    found = _list_filters(records, level, args)
    page = records.children(None, level.key, top_level=False, **found, **_list_args())
    listing = tables.listing(records, level, None, page, records.conditions(level, **found))
    if request.htmx and request.headers.get("HX-Target") == f"children-{level.key}":
        return render_template("partials/_children.html", listing=listing, list_args=args)
    workflow = g.config.workflow_of(level)
    return render_template("list_all.html", listing=listing, list_args=args,
                           stages=workflow.stages if workflow else (),
                           owners=records.lookups(level, owner=True).users or [],
                           filter_fields=records.filter_fields(level))


@bp.route("/new/<level_key>", methods=["GET", "POST"])
def create(level_key: str):  # type: ignore[no-untyped-def]
    records = records_service()
    level = _level(level_key)
    parent_id = request.args.get("parent", type=id_arg)
    parent = records.get(parent_id) if parent_id else None
    decision = g.access.decide("create", level.key, parent=parent)
    if not decision:
        raise Forbidden(decision.reason)
    if request.method == "POST":
        named, fresh = _named_pending(), _uploads()
        try:
            record = records.create(level.key, parent,
                                    _submission(_pending_uploads().as_uploads(named), fresh))
        except ValidationFailed as failed:
            db.session.rollback()
            pending = _keep_files(level, named, fresh, failed.errors)
            context = _form_context(records, level, None, parent, failed.submitted,
                                    failed.submitted.get("title", ""), failed.errors, failed.message, pending)
            return render_template("record_form.html", **context), 422
        number, new_id = record.number, record.id  # read before the commit expires the row
        _pending_uploads().discard(named)
        db.session.commit()
        flash(f"{level.label} {number} created.")
        return redirect(url_for("records.view", record_id=new_id), code=303)
    context = _form_context(records, level, None, parent, records.stored_values(None, level, parent), "")
    return render_template("record_form.html", **context)


@bp.route("/r/<int:record_id>/edit", methods=["GET", "POST"])
def edit(record_id: int):  # type: ignore[no-untyped-def]
    records = records_service()
    record = records.get(record_id)
    level = _level(record.level_key)
    decision = g.access.decide("update", level.key, record)
    if not decision:
        raise Forbidden(decision.reason)
    if request.method == "POST":
        expected = request.form.get("version", type=int)
        if expected is None:
            # Like the API: without the version it was edited from, a save could overwrite
            # a change the user never saw, so nothing is saved.
            message = ("The form did not say which version of the record it changes, so nothing was "
                       "saved. Reload the page and make your change again.")
            context = _form_context(records, level, record, None, records.stored_values(record, level),
                                    record.title, message=message)
            return render_template("record_form.html", **context), 422
        number, previous_owner = record.number, record.owner_id
        named, fresh = _named_pending(), _uploads()
        submission = _submission(_pending_uploads().as_uploads(named), fresh)
        asks_approval = bool(request.form.get("plan_change"))
        try:
            if asks_approval:  # frozen plan or locked period values: applied once approved
                workflow_views.flow().request_plan_change(
                    record, submission, request.form.get("plan_change_reason", ""), expected)
            else:
                records.update(record, submission, expected)
        except (ValidationFailed, StaleRecord) as failed:
            db.session.rollback()
            errors = failed.errors if isinstance(failed, ValidationFailed) else {}
            pending = _keep_files(level, named, fresh, errors)
            record = records.get(record_id)
            values = {**records.stored_values(record, level), **failed.submitted}
            context = _form_context(records, level, record, None, values,
                                    failed.submitted.get("title", record.title), errors, failed.message, pending)
            if isinstance(failed, StaleRecord):
                context["stale_version"] = expected
            return render_template("record_form.html", **context), failed.status
        except SteercoError as refused:  # no plan change approvals, one waiting already, ...
            db.session.rollback()
            record = records.get(record_id)
            values = {**records.stored_values(record, level), **records._resubmission(level, submission)}
            context = _form_context(records, level, record, None, values, record.title, message=str(refused))
            return render_template("record_form.html", **context), refused.status
        _pending_uploads().discard(named)
        db.session.commit()
        flash("Plan change requested: it is applied once approved." if asks_approval else "Saved.")
        if submission.owner not in (None, previous_owner):
            try:
                records.get(record_id)
            except NotFound:
                # Handed to a new owner, the record may be out of the actor's sight now.
                flash(f"{level.label} {number} now belongs to someone else.")
                return redirect(url_for("workspace.home"), code=303)
        return redirect(url_for("records.view", record_id=record_id), code=303)
    values = records.stored_values(record, level)
    return render_template("record_form.html", **_form_context(records, level, record, None, values, record.title))


@bp.post("/form/<level_key>/state")
def form_state(level_key: str):  # type: ignore[no-untyped-def]
    """htmx: re-evaluate field states and inline errors for the values typed so far.

    Only fields whose visible/editable/required state changed are swapped (out of band),
    plus computed values and every field's error slot, so the input being typed in is
    never replaced.
    """
    records = records_service()
    level = _level(level_key)
    record_id = request.args.get("record", type=id_arg)
    record = records.get(record_id) if record_id else None
    parent = None
    if record is not None:
        # The same right as opening the edit form: a reader may not run what-ifs on values.
        if record.level_key != level.key:
            raise NotFound("no such record")
        decision = g.access.decide("update", level.key, record)
    else:  # a new record's form: the same right as opening that form
        parent_id = request.args.get("parent", type=id_arg)
        parent = records.get(parent_id) if parent_id else None
        decision = g.access.decide("create", level.key, parent=parent)
    if not decision:
        raise Forbidden(decision.reason)
    submission = _submission()
    values, errors = records.preview(level, submission, record, parent)
    # Kept files stay offered when a field comes back out of band (its state changed).
    context = _form_context(records, level, record, parent, values, submission.title or "",
                            {k: v for k, v in errors.items() if k != "title"}, pending=_named_pending())
    previous = dict(part.split("=", 1) for part in request.form.get("_state", "").split(";") if "=" in part)
    current = dict(part.split("=", 1) for part in context["state_token"].split(";"))
    context["changed"] = [k for k in current if previous.get(k) != current[k]]
    return render_template("partials/_form_state.html", **context)


@bp.get("/attachments/<int:attachment_id>")
def attachment(attachment_id: int):  # type: ignore[no-untyped-def]
    records = records_service()
    att, data = records.attachment(attachment_id)
    # Cleaned again on the way out: names stored before uploads were cleaned may hold CR/LF.
    return send_file(io.BytesIO(data), mimetype="application/octet-stream", as_attachment=True,
                     download_name=clean_filename(att.filename))


#: what a spreadsheet runs as a formula when a text cell starts with it (CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula: text starting with a formula
    character, also after leading spaces, gets a leading apostrophe; numbers (negative
    ones too) stay numbers."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.lstrip(" ").startswith(FORMULA_STARTS) else text


@bp.get("/list/<level_key>/export.csv")
@bp.get("/r/<int:record_id>/list/<level_key>/export.csv")
def export(level_key: str, record_id: int | None = None):  # type: ignore[no-untyped-def]
    """Every readable record of the list as CSV, with only the values the actor may see.

    Cells people can compute with: numbers and money as plain numbers (the unit in the
    header, "Potential (EUR)"), dates ISO, users and references by name, choices by label;
    the field pipeline decides visibility per record, as on the page. Streamed in batches
    read by keyset pagination: a fixed number of statements per 500 records.
    """
    records = records_service()
    level, parent = _list_of(records, level_key, record_id)
    columns = tables.export_columns(g.config, g.access, level)
    display = Display.of(g.config)

    def chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([_csv_cell(tables.header(c, display)) for c in columns])
        for n, row in enumerate(tables.CellReader(records, level, columns).stream(parent, texts=False), start=1):
            writer.writerow([_csv_cell(cell.export) for cell in row.cells])
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    name = f"{(parent.number + '-') if parent else ''}{level.label_plural}.csv".replace(" ", "_")
    return Response(stream_with_context(chunks()), mimetype="text/csv",
                    headers={"Content-Disposition": _attachment_header(name)})


@bp.get("/list/<level_key>/export.xlsx")
@bp.get("/r/<int:record_id>/list/<level_key>/export.xlsx")
def export_xlsx(level_key: str, record_id: int | None = None):  # type: ignore[no-untyped-def]
    """The CSV export's rows as an Excel workbook with typed cells (see
    :mod:`steerco.engine.sheets`): the same columns, the same visibility per record."""
    records = records_service()
    level, parent = _list_of(records, level_key, record_id)
    columns = tables.export_columns(g.config, g.access, level)
    display = Display.of(g.config)
    writer = sheets.SheetWriter()
    sheet = writer.sheet(level.label_plural, [tables.header(c, display) for c in columns])
    for record, view in records.export_rows(level.key, parent):
        row = tables.row(g.config, level, columns, record, view)
        writer.append(sheet, (sheets.typed_value(cell, view.display) for cell in row.cells))
    name = f"{(parent.number + '-') if parent else ''}{level.label_plural}.xlsx".replace(" ", "_")
    return send_file(writer.save(), mimetype=sheets.MIME, as_attachment=True, download_name=name)


def _attachment_header(name: str) -> str:
    """A download name any label can go into: an ASCII fallback plus the UTF-8 original
    (RFC 6266), never a raw quote or a character HTTP headers cannot carry."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@bp.get("/r/<int:record_id>/history")
def record_history(record_id: int):  # type: ignore[no-untyped-def]
    """The record's audit trail, without changes of fields hidden from the actor: a page of
    events at a time, newest first (``?before=<event id>`` for older ones)."""
    records = records_service()
    record = records.get(record_id)
    found = history.record_history_page(db.session, g.config, g.access, record,
                                        before=request.args.get("before", type=int))
    return render_template("record_history.html", record=record, level=_level(record.level_key),
                           entries=found.entries, older=found.older, crumbs=records.breadcrumbs(record))


@bp.get("/r/<int:record_id>/pdf")
def record_pdf(record_id: int):  # type: ignore[no-untyped-def]
    """The record page as a PDF: the same field states as on screen, nothing fetched from outside."""
    records = records_service()
    record = records.get(record_id)
    children = [_pdf_children(records, record, key) for key in _level(record.level_key).children
                if g.access.can_somewhere("read", key)]
    html = render_template("record_pdf.html", now=utcnow(), children=children,
                           locale=g.config.locale, **_record_page(records, record))
    pdf = render_pdf(html, current_app.static_folder or "")
    return send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                     download_name=f"{record.number}.pdf")


#: a record's PDF lists at most this many children per level (and says how many more there are)
PDF_CHILDREN_MAX = 500


def _pdf_children(records: Records, record: Record, level_key: str) -> dict[str, Any]:
    """One child level's table for the record's PDF: its list columns, every readable child
    (up to :data:`PDF_CHILDREN_MAX`), cells from the same field pipeline as the page."""
    level = g.config.levels[level_key]
    columns = tables.columns(g.config, g.access, level)
    found = list(islice(records.export_rows(level_key, record), PDF_CHILDREN_MAX + 1))
    rows = [tables.row(g.config, level, columns, child, view) for child, view in found[:PDF_CHILDREN_MAX]]
    return {"level": level, "columns": columns, "rows": rows, "more": len(found) > PDF_CHILDREN_MAX}


@bp.get("/lookup/<level_key>/<key>")
def lookup_search(level_key: str, key: str):  # type: ignore[no-untyped-def]
    """htmx search-as-you-type for a user or reference field (or the owner, ``_owner``) of
    a level's form: the matching choices as ``<option>`` elements.

    The same right as opening the form it serves (update the ``record``, or create under
    ``parent``); the field must be visible to the actor. Records offered are only those
    the actor may read, so a search reveals nothing the lists would not.
    """
    records = records_service()
    level = _level(level_key)
    record_id = request.args.get("record", type=id_arg)
    record = records.get(record_id) if record_id else None
    parent_id = request.args.get("parent", type=id_arg)
    parent = records.get(parent_id) if parent_id and record is None else None
    if record is not None and record.level_key != level.key:
        raise NotFound("no such record")
    decision = g.access.decide("update", level.key, record) if record is not None \
        else g.access.decide("create", level.key, parent=parent)
    if not decision:
        raise Forbidden(decision.reason)
    if key == OWNER_INPUT:
        if not records.may_assign_owner(level, record, parent):
            raise Forbidden("you may not choose the owner here")
        source, target = "users", None
    else:
        fld = level.field(key)
        source = getattr(fld.kind, "lookup", None) if fld is not None else None
        mode = (g.access.field_mode(fld, record, level.key) if record is not None
                else g.access.new_record_mode(fld, level.key, parent)) if fld is not None else "hidden"
        if source is None or mode == "hidden":
            raise NotFound("no such field")
        target = fld.target_level  # type: ignore[union-attr]
    choices = records.search_choices(source, target, request.args.get("_search", ""))
    return render_template("fields/_lookup_options.html", choices=choices,
                           selected=request.args.get("selected", type=int))
