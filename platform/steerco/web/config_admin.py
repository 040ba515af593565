"""Configuration administration (``/t/<slug>/admin/config``) and new workspaces (``/workspaces/new``).

Configuration administrators (a role with ``"admin": ["configuration"]`` held tenant-wide)
see every version, start a draft, edit its documents as JSON (problems shown next to the
file and line they concern, nothing typed lost on error), read its diff and its impact on
the data, decide for reused field keys whether earlier values come back, activate it with
a comment, and roll back to an earlier version. Consultants create workspaces from a
template or a copy of another workspace's configuration.

Views stay thin: the engine (``config_versions``, ``workspaces``) checks, writes and
audits; a view parses the form, commits, and re-renders the page with the engine's
message where the answer is the page itself (422 invalid, 409 stale).
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from steerco.config import ConfigInvalid, ConfigProblem, compile_config
from steerco.config.schema import DOCUMENTS, OPTIONAL_DOCUMENTS
from steerco.engine import config_impact, config_versions, workspaces
from steerco.engine.config_versions import DraftInvalid, StaleDraft
from steerco.engine.errors import NotFound, ValidationFailed
from steerco.store.models import ConfigVersion
from steerco.web import mailing
from steerco.web.extensions import db
from steerco.web.tenancy import tenant_blueprint

bp = tenant_blueprint("config_admin", __name__)
workspaces_bp = Blueprint("workspaces", __name__)


@bp.before_request
def _require_configuration_right() -> None:
    """Every route here needs the right; checked once, after the tenant resolved the actor."""
    config_versions.require_configuration_right(g.config, g.actor)


@bp.after_request
@workspaces_bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


_EMPHASIS = re.compile(r"\*([^*]+)\*")


@bp.app_template_filter("emphasis")
def emphasis(text: str) -> Markup:
    """A change's or an impact's sentence with its *labels* emphasised (escaped first)."""
    return Markup(_EMPHASIS.sub(r"<em>\1</em>", str(escape(text))))


def _version(version_id: int) -> ConfigVersion:
    return config_versions.get(db.session, g.tenant, version_id)


def _by_file(problems: list[ConfigProblem]) -> dict[str, list[ConfigProblem]]:
    grouped: dict[str, list[ConfigProblem]] = {}
    for problem in problems:
        grouped.setdefault(problem.file or "(folder)", []).append(problem)
    return grouped


def _version_page(version: ConfigVersion, *, status: int = 200, message: str | None = None,
                  errors: Mapping[str, str] | None = None, values: Mapping[str, str] | None = None,
                  problems: list[ConfigProblem] | None = None):  # type: ignore[no-untyped-def]
    current = config_versions.active(db.session, g.tenant)
    if problems is None:
        problems = config_versions.problems(g.tenant, version) if version.state == config_versions.DRAFT else []
    stale = version.state == config_versions.DRAFT and version.base_version_id != (current.id if current else None)
    summary = next(v for v in config_versions.versions(db.session, g.tenant) if v.id == version.id)
    return render_template(
        "admin/config/version.html", version=version, summary=summary, active=current, stale=stale,
        problems=_by_file(problems), problem_count=len(problems), documents=_documents(version),
        message=message, errors=errors or {}, values=values or {}), status


def _documents(version: ConfigVersion) -> list[tuple[str, str | None]]:
    """(name, text or None when left out) of every configuration file, in the usual order."""
    return [(name, json.dumps(version.documents[name], indent=2, ensure_ascii=False)
             if name in version.documents else None) for name in DOCUMENTS]


# -- versions ------------------------------------------------------------------------------

@bp.get("/admin/config")
def versions():  # type: ignore[no-untyped-def]
    found = config_versions.versions(db.session, g.tenant)
    attention = config_impact.impact(db.session, g.tenant.id, None, g.config)
    return render_template("admin/config/versions.html", versions=found, attention=attention)


@bp.post("/admin/config/drafts")
def new_draft():  # type: ignore[no-untyped-def]
    draft = config_versions.create_draft(db.session, g.tenant, user_id=g.actor.user_id,
                                         comment=request.form.get("comment", ""))
    draft_id, number = draft.id, draft.number
    db.session.commit()
    flash(f"Draft {number} started from the active version.")
    return redirect(url_for("config_admin.version", version_id=draft_id), code=303)


@bp.get("/admin/config/versions/<int:version_id>")
def version(version_id: int):  # type: ignore[no-untyped-def]
    return _version_page(_version(version_id))


@bp.get("/admin/config/versions/<int:version_id>/diff")
def diff(version_id: int):  # type: ignore[no-untyped-def]
    found = _version(version_id)
    try:
        changes = config_versions.changes_of(db.session, g.tenant, found)
    except DraftInvalid as invalid:
        return _version_page(found, status=422, message=invalid.message, problems=invalid.problems)
    choices = config_versions.field_choices(db.session, g.tenant, found) \
        if found.state == config_versions.DRAFT else []
    return render_template("admin/config/diff.html", version=found, changes=changes, choices=choices,
                           active=config_versions.active(db.session, g.tenant))


@bp.get("/admin/config/versions/<int:version_id>/impact")
def impact(version_id: int):  # type: ignore[no-untyped-def]
    found = _version(version_id)
    try:
        items = config_versions.impact_of(db.session, g.tenant, found)
    except DraftInvalid as invalid:
        return _version_page(found, status=422, message=invalid.message, problems=invalid.problems)
    return render_template("admin/config/impact.html", version=found, items=items,
                           active=config_versions.active(db.session, g.tenant), sample=config_impact.SAMPLE)


# -- the expert JSON editor ----------------------------------------------------------------

def _editor(draft: ConfigVersion, name: str, text: str, *, status: int = 200, syntax: str | None = None,
            saved: bool = False):  # type: ignore[no-untyped-def]
    problems = config_versions.problems(g.tenant, draft)
    where: dict[str, int] = {}
    if syntax is None and name in draft.documents:
        _, where = config_versions.document_text(draft.documents[name])
    here = [(p, config_versions.line_of(where, p.pointer)) for p in problems if p.file == f"{name}.json"]
    elsewhere = _by_file([p for p in problems if p.file != f"{name}.json"])
    return render_template("admin/config/edit_file.html", version=draft, name=name, text=text, here=here,
                           elsewhere=elsewhere, syntax=syntax, saved=saved, files=DOCUMENTS,
                           optional=name in OPTIONAL_DOCUMENTS), status


@bp.route("/admin/config/versions/<int:version_id>/files/<name>", methods=["GET", "POST"])
def edit_file(version_id: int, name: str):  # type: ignore[no-untyped-def]
    draft = _version(version_id)
    if name not in DOCUMENTS:
        raise NotFound(f"no configuration file {name}.json")
    if draft.state != config_versions.DRAFT:
        return redirect(url_for("config_admin.version", version_id=draft.id), code=303)
    if request.method == "GET":
        text = config_versions.document_text(draft.documents[name])[0] if name in draft.documents else ""
        return _editor(draft, name, text)
    text = request.form.get("document", "")
    if not text.strip() and name in OPTIONAL_DOCUMENTS:
        document: Any = None  # an optional file left out entirely
    else:
        try:
            document = json.loads(text)
        except ValueError as exc:
            where = f" at line {exc.lineno}, column {exc.colno}" if hasattr(exc, "lineno") else ""
            message = f"Not valid JSON{where}: {getattr(exc, 'msg', str(exc))}. Nothing was saved; your text is kept below."
            return _editor(draft, name, text, status=422, syntax=message)
    config_versions.save_document(db.session, g.tenant, draft, name, document, user_id=g.actor.user_id)
    db.session.commit()
    stored = config_versions.document_text(draft.documents[name])[0] if name in draft.documents else ""
    return _editor(draft, name, stored, saved=True)


# -- decisions on a draft ------------------------------------------------------------------

def _confirmed() -> bool:
    return request.form.get("confirm") == "yes"


@bp.post("/admin/config/versions/<int:version_id>/activate")
def activate(version_id: int):  # type: ignore[no-untyped-def]
    draft = _version(version_id)
    comment = request.form.get("comment", "")
    if not _confirmed():
        return _version_page(draft, status=422, errors={"confirm": "Tick the box to confirm the activation."},
                             values={"comment": comment})
    try:
        activation = config_versions.activate(db.session, g.tenant, draft, user_id=g.actor.user_id, comment=comment)
    except ValidationFailed as failed:
        db.session.rollback()
        return _version_page(_version(version_id), status=422, errors=failed.errors, values={"comment": comment})
    except DraftInvalid as invalid:
        db.session.rollback()
        return _version_page(_version(version_id), status=422, message=invalid.message, problems=invalid.problems,
                             values={"comment": comment})
    except StaleDraft as stale:
        db.session.rollback()
        return _version_page(_version(version_id), status=409, message=stale.message, values={"comment": comment})
    number, count = activation.version.number, len(activation.changes)
    db.session.commit()
    flash(f"Version {number} is active ({count} change(s)). Everyone works with it from their next click.")
    return redirect(url_for("config_admin.version", version_id=version_id), code=303)


@bp.post("/admin/config/versions/<int:version_id>/rollback")
def rollback(version_id: int):  # type: ignore[no-untyped-def]
    target = _version(version_id)
    comment = request.form.get("comment", "")
    if not _confirmed():
        return _version_page(target, status=422, errors={"confirm": "Tick the box to confirm the rollback."},
                             values={"comment": comment})
    try:
        activation = config_versions.rollback(db.session, g.tenant, target, user_id=g.actor.user_id, comment=comment)
    except ValidationFailed as failed:
        db.session.rollback()
        return _version_page(_version(version_id), status=422, errors=failed.errors, values={"comment": comment})
    except DraftInvalid as invalid:
        db.session.rollback()
        return _version_page(_version(version_id), status=422, message="This version no longer validates and "
                             "cannot be activated again: " + invalid.message, problems=invalid.problems)
    new_id, number = activation.version.id, activation.version.number
    db.session.commit()
    flash(f"Rolled back: version {number}, a copy of version {target.number}, is active.")
    return redirect(url_for("config_admin.version", version_id=new_id), code=303)


@bp.post("/admin/config/versions/<int:version_id>/discard")
def discard(version_id: int):  # type: ignore[no-untyped-def]
    draft = _version(version_id)
    if not _confirmed():
        return _version_page(draft, status=422, errors={"discard": "Tick the box to confirm."})
    config_versions.discard(db.session, g.tenant, draft, user_id=g.actor.user_id)
    number = draft.number
    db.session.commit()
    flash(f"Draft {number} discarded (it stays listed).")
    return redirect(url_for("config_admin.versions"), code=303)


@bp.post("/admin/config/versions/<int:version_id>/rebase")
def rebase(version_id: int):  # type: ignore[no-untyped-def]
    draft = config_versions.rebase(db.session, g.tenant, _version(version_id), user_id=g.actor.user_id)
    number = draft.number
    db.session.commit()
    flash(f"Draft {number} now starts from the active version: check its diff again before activating.")
    return redirect(url_for("config_admin.diff", version_id=version_id), code=303)


@bp.post("/admin/config/versions/<int:version_id>/fields/<key>/identity")
def choose_identity(version_id: int, key: str):  # type: ignore[no-untyped-def]
    draft = _version(version_id)
    choice = request.form.get("identity", "new")
    identity = int(choice) if choice.isdigit() and len(choice) < 10 else None
    if choice != "new" and identity is None:
        raise NotFound("no such earlier definition of this field")
    config_versions.choose_identity(db.session, g.tenant, draft, key, identity, user_id=g.actor.user_id)
    db.session.commit()
    flash("The earlier values come back with this field." if identity else "The field starts empty.")
    return redirect(url_for("config_admin.diff", version_id=version_id), code=303)


# -- new workspaces (consultants) ------------------------------------------------------------

def _form_values() -> dict[str, str]:
    return {k: request.form.get(k, "") for k in ("slug", "name", "source", "admin_email", "admin_name", "admin_role")}


def _roles_for(source_id: str) -> list[tuple[str, str]]:
    """The administrator roles a source offers (empty when it cannot be used)."""
    try:
        _, documents, _ = workspaces.documents_of(db.session, current_user.user, source_id)
        documents["tenant"] = {**documents.get("tenant", {}), "key": "preview", "name": "Preview"}
        return workspaces.admin_roles(compile_config(documents))
    except (NotFound, ConfigInvalid):  # an unusable source offers no roles; the form says why on submit
        return []


def _new_workspace_page(values: Mapping[str, str], errors: Mapping[str, str] | None = None,
                        message: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    sources = workspaces.sources(db.session, current_user.user)
    source = values.get("source") or (sources[0].id if sources else "")
    return render_template("admin/config/new_workspace.html", sources=sources, values={**values, "source": source},
                           roles=_roles_for(source), errors=errors or {}, message=message), status


@workspaces_bp.route("/workspaces/new", methods=["GET", "POST"])
@login_required
def new():  # type: ignore[no-untyped-def]
    workspaces.require_consultant(current_user.user)
    if request.method == "GET":
        return _new_workspace_page({})
    values = _form_values()
    try:
        created = workspaces.create(db.session, current_user.user, slug=values["slug"], name=values["name"],
                                    source_id=values["source"], admin_email=values["admin_email"],
                                    admin_name=values["admin_name"], admin_role=values["admin_role"])
    except ValidationFailed as failed:
        db.session.rollback()
        return _new_workspace_page(values, failed.errors, "Please correct the marked fields.", 422)
    invited = created.invited
    details = {"slug": created.tenant.slug, "name": created.config.name,
               "email": invited.email if invited else None, "admin": invited.name if invited else None}
    db.session.commit()  # the invitation is kept before its link is mailed
    if invited is not None:
        mailing.send_invitation(invited.email, invited.name, invited.token, workspace=created.config.name,
                                inviter=current_user.user.name, needs_password=invited.needs_password)
    return render_template("admin/config/workspace_created.html", **details)


@workspaces_bp.get("/workspaces/new/roles")
@login_required
def admin_roles():  # type: ignore[no-untyped-def]
    """htmx: the administrator roles of the chosen source."""
    workspaces.require_consultant(current_user.user)
    return render_template("admin/config/_admin_roles.html", roles=_roles_for(request.args.get("source", "")),
                           values={"admin_role": request.args.get("admin_role", "")}, errors={})


from steerco.web import config_screens  # noqa: E402,F401 - the screens' routes join this blueprint
