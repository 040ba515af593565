"""The JSON API's files: evidence uploads and downloads, and a record's PDF.

Routes of the API blueprint (``/api/t/<tenant>/``, bearer token), in a module of their own
because they speak multipart and bytes rather than JSON. An upload is a record update like
any other: the files go into a :class:`Submission` as the form's would and through
``Records.update``, so the evidence field's accepted types and size limit, the field's
write right, the version check, a waiting approval bound to the evidence and the audit
event all apply exactly as on the page.
"""

from __future__ import annotations

import io

from flask import g, jsonify, request, send_file, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from steerco.engine.errors import NotFound, ValidationFailed
from steerco.engine.records import Submission
from steerco.fields import Upload
from steerco.fields.base import clean_filename
from steerco.web import records as record_pages
from steerco.web.api import bp, record_json
from steerco.web.extensions import db
from steerco.web.tenancy import records_service

#: the multipart part that carries the files of an upload (repeat it for several)
FILE_PART = "file"


def _files() -> list[Upload]:
    files = [Upload(f.filename or "", f.mimetype or "application/octet-stream", f.read())
             for f in request.files.getlist(FILE_PART) if f and f.filename]
    unknown = sorted(set(request.files) - {FILE_PART})
    if unknown:
        raise BadRequest(f"Unknown file part(s) {', '.join(unknown)}; send the files as '{FILE_PART}'.")
    if not files:
        raise ValidationFailed({FILE_PART: "Send at least one file as multipart/form-data part 'file'."})
    return files


@bp.post("/records/<int:record_id>/files/<field_key>")
def upload_files(record_id: int, field_key: str):  # type: ignore[no-untyped-def]
    """Attach files to an evidence field (``multipart/form-data``: ``version`` and one or
    more ``file`` parts): 201 and the record, whose field then lists every file."""
    records = records_service()
    record = records.get(record_id)
    level = g.config.levels[record.level_key]
    fld = level.field(field_key)
    if fld is None or fld.kind.storage != "attachments" \
            or g.access.field_mode(fld, record, level.key) == "hidden":
        raise NotFound(f"{level.label} has no evidence field {field_key!r}")
    raw_version = request.form.get("version", "")
    if not raw_version.isdigit():
        raise BadRequest("'version' is required: send the version of the record you read as a form part.")
    unknown = sorted(set(request.form) - {"version"})
    if unknown:
        raise BadRequest(f"Unknown form part(s) {', '.join(unknown)}; send 'version' and '{FILE_PART}'.")
    submission = Submission(title=record.title, form=MultiDict(), uploads={fld.key: _files()})
    records.update(record, submission, int(raw_version))
    db.session.commit()
    response = jsonify(record_json(records, records.get(record_id), records.view(records.get(record_id))))
    response.status_code = 201
    response.headers["Location"] = url_for("api.read_record", record_id=record_id, _external=True)
    return response


@bp.get("/attachments/<int:attachment_id>")
def download_attachment(attachment_id: int):  # type: ignore[no-untyped-def]
    """A file's bytes, if the caller may read its record and see its field (404 otherwise)."""
    att, data = records_service().attachment(attachment_id)
    response = send_file(io.BytesIO(data), mimetype="application/octet-stream", as_attachment=True,
                         download_name=clean_filename(att.filename))
    response.headers["X-Content-SHA256"] = att.sha256
    return response


@bp.get("/records/<int:record_id>/pdf")
def record_pdf(record_id: int):  # type: ignore[no-untyped-def]
    """The record as a PDF: the same rendering, and field states, as the page's PDF link."""
    return record_pages.record_pdf(record_id)
