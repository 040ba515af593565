"""Deleting a record from its page, and the recycle bin where it can be restored.

Thin views over :class:`steerco.engine.deletion.Deletion`: a record's *Delete* button
opens a confirmation page (it works without script), whose form carries the version the
user saw, so a record changed meanwhile is not deleted unseen (409). The bin lists the
deleted records the user may restore (their ``delete`` right), newest first, each with
a *Restore* button. The same engine calls serve the JSON API.
"""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, render_template, request, url_for

from steerco.engine.deletion import Deletion
from steerco.engine.errors import Forbidden, StaleRecord
from steerco.web.extensions import db
from steerco.web.tenancy import records_service, tenant_blueprint

bp = tenant_blueprint("recycle", __name__)


@bp.route("/r/<int:record_id>/delete", methods=["GET", "POST"])
def delete_record(record_id: int):  # type: ignore[no-untyped-def]
    """GET: the confirmation; POST: delete, and go to where the record was listed."""
    records = records_service()
    record = records.get(record_id)
    deletion = Deletion(records)
    if not deletion.may_delete(record):
        raise Forbidden(g.access.decide("delete", record.level_key, record).reason)
    level = g.config.levels[record.level_key]
    if request.method == "GET":
        return render_template("record_delete.html", record=record, level=level,
                               crumbs=records.breadcrumbs(record))
    try:
        deletion.delete(record, request.form.get("version", type=int) or 0)
    except StaleRecord:
        db.session.rollback()
        flash("The record was changed after you opened it; nothing was deleted. Look at it again first.")
        return redirect(url_for("records.view", record_id=record_id), code=303)
    number, parent_id = record.number, record.parent_id
    db.session.commit()
    flash(f"{level.label} {number} deleted. It can be restored from Deleted records.")
    if parent_id is not None:
        return redirect(url_for("records.view", record_id=parent_id), code=303)
    return redirect(url_for("workspace.home"), code=303)


@bp.get("/deleted")
def deleted_records():  # type: ignore[no-untyped-def]
    """The recycle bin: one page of deleted records the user may restore."""
    after = None
    raw_at, raw_id = request.args.get("after_at"), request.args.get("after_id", type=int)
    if raw_at and raw_id:
        try:
            after = (dt.datetime.fromisoformat(raw_at), raw_id)
        except ValueError:
            after = None
    found = Deletion(records_service()).bin(after=after, limit=50)
    return render_template("deleted.html", page=found, levels=g.config.levels)


@bp.post("/deleted/<int:record_id>/restore")
def restore_record(record_id: int):  # type: ignore[no-untyped-def]
    records = records_service()
    record = Deletion(records).restore(record_id)
    number = record.number
    db.session.commit()
    flash(f"{number} restored.")
    return redirect(url_for("records.view", record_id=record_id), code=303)
