"""The configuration screens (``/t/<slug>/admin/config/versions/<id>/edit/<document>``).

No JSON: every item of a document (a level, a field, a role, a workflow and its stages,
transitions and approval steps, an exception rule, a report and its sections) has a form
generated from its JSON Schema (:mod:`steerco.engine.config_forms`); lists can be added
to, reordered (up/down buttons: keyboard first), and items removed after a confirmation.
Each save is one edit applied by :mod:`steerco.engine.config_edits` (which starts a draft
from the active version on the first edit, re-validates the draft and audits the save);
the page then shows each of the draft's problems next to the control its JSON Pointer
names. Expressions are checked live (htmx) by the real compiler and evaluated on a real
record; a report layout previews with the report renderer, on the draft's configuration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from steerco.config import ConfigInvalid, ConfigProblem, compile_config
from steerco.config.checks import _expressions as expressions_of_level
from steerco.engine import config_edits, config_forms, config_versions
from steerco.engine.access import Access
from steerco.engine.config_edits import Edit, EditError
from steerco.engine.config_versions import DraftInvalid
from steerco.engine.forms import compute_checked, expression_scope
from steerco.reports.data import build_report
from steerco.store.models import ConfigVersion, Record
from steerco.web.config_admin import bp
from steerco.web.extensions import db
from steerco.web.tenancy import records_service as actor_records

DOCUMENTS = tuple(config_forms.MAIN_LISTS)


def _version(version_id: int) -> ConfigVersion:
    return config_versions.get(db.session, g.tenant, version_id)


def _document(version: ConfigVersion, name: str) -> Any:
    if name not in DOCUMENTS:
        abort(404)
    return config_edits.document_of(version, name)


def _pointer() -> str:
    at = request.args.get("at", "")
    if len(at) > 500 or (at and not at.startswith("/")):
        abort(404)
    return at


def _node(name: str, at: str) -> config_forms.Node:
    found = config_forms.node_at(name, at)
    if found is None:
        abort(404)
    return found


def _resolve(document: Any, at: str) -> Any:
    try:
        return config_edits.resolve(document, at)
    except EditError:
        abort(404)


def _problems(version: ConfigVersion) -> list[ConfigProblem]:
    return config_versions.problems(g.tenant, version) if version.state == config_versions.DRAFT else []


@bp.app_template_global("screen_url")
def screen_url(version: ConfigVersion, problem: ConfigProblem) -> str | None:
    """The screen where a problem's control is (for the problems list of a version)."""
    name = (problem.file or "").removesuffix(".json")
    if name not in DOCUMENTS or name not in (version.documents or {}):
        return None
    where = config_forms.problem_pointer(problem)
    at = config_forms.item_pointer_of(version.documents[name], where)
    return url_for("config_admin.screen", version_id=version.id, name=name, at=at or None) + \
        ("#" + "ctl" + "".join(c if c.isalnum() or c in "_-" else "-" for c in where[len(at):]) if at else "")


# -- pages ---------------------------------------------------------------------------------

@bp.get("/admin/config/edit")
def screens_entry():  # type: ignore[no-untyped-def]
    """The screens open on the newest draft based on the active version, else on the active
    version (the first edit then starts a draft)."""
    current = config_versions.active(db.session, g.tenant)
    if current is None:
        abort(404)
    drafts = [v for v in config_versions.versions(db.session, g.tenant)
              if v.state == config_versions.DRAFT and v.base_number == current.number]
    target = drafts[0].id if drafts else current.id
    return redirect(url_for("config_admin.screen", version_id=target, name=request.args.get("name", "fields")))


def _crumbs(name: str, document: Any, at: str) -> list[tuple[str, str | None]]:
    """(text, pointer) from the document down to ``at``, naming each item by its label."""
    found: list[tuple[str, str | None]] = [(config_forms.document_titles()[name], "")]
    tokens = config_edits.parts(at)
    for i, token in enumerate(tokens):
        pointer = config_edits.join(*tokens[:i + 1])
        value = config_edits.resolve(document, pointer)
        if isinstance(value, dict):
            found.append((config_forms.summary(value), pointer))
    return found


def _lists(n: config_forms.Node, item: dict[str, Any], at: str, problems: list[ConfigProblem]) -> list[dict[str, Any]]:
    """The lists inside an item (a workflow's stages and transitions...), each row with the
    problems inside it, for the item's page."""
    found = []
    for prop in config_forms.nested_lists(n, flat_too=not at):
        list_pointer = config_edits.join(*config_edits.parts(at), prop)
        values = item.get(prop) if isinstance(item.get(prop), list) else []
        rows = []
        for index, value in enumerate(values):
            pointer = f"{list_pointer}/{index}"
            inside = [p for p in problems if (p.pointer + "/").startswith(pointer + "/")]
            rows.append({"pointer": pointer, "text": config_forms.summary(value), "problems": inside,
                         "first": index == 0, "last": index == len(values) - 1})
        described = config_forms.child(n, prop)
        found.append({"name": prop, "label": config_forms.label_of(prop), "pointer": list_pointer, "rows": rows,
                      "help": str(described.schema.get("description", "")) if described else ""})
    return found


def _item_context(version: ConfigVersion, name: str, at: str, problems: list[ConfigProblem]) -> dict[str, Any]:
    document = _document(version, name)
    item = _resolve(document, at)
    if not isinstance(item, dict):
        abort(404)
    n = _node(name, at)
    mine = [p for p in problems if p.file == f"{name}.json"]
    controls: list[config_forms.Control] = []
    top: list[ConfigProblem] = []
    inside: list[ConfigProblem] = []  # shown in this item's form: at a control, or at its top
    if at:
        controls = config_forms.controls(name, at, n, item, version.documents)
        inside = [p for p in mine if config_forms.item_pointer_of(document, config_forms.problem_pointer(p)) == at]
        top = config_forms.attach(controls, at, inside)
    lists = _lists(n, item, at, mine)
    elsewhere = [p for p in problems if p not in inside]
    return {"version": version, "name": name, "at": at, "item": item, "controls": controls, "top": top,
            "lists": lists, "crumbs": _crumbs(name, document, at) if at else [], "elsewhere": elsewhere,
            "problem_count": len(problems), "documents": DOCUMENTS, "titles": config_forms.document_titles(),
            "draft": version.state == config_versions.DRAFT, "parent": _parent_of(at),
            "report_at": config_edits.join(*config_edits.parts(at)[:2])
            if name == "reports" and len(config_edits.parts(at)) >= 2 else None,
            "roles_matrix": _matrix(version) if name == "roles" and not at else None}


def _parent_of(at: str) -> str:
    """The object page above an item: its owner (the list's owner)."""
    tokens = config_edits.parts(at)
    return config_edits.join(*tokens[:-2]) if len(tokens) >= 2 else ""


def _editable(version: ConfigVersion) -> bool:
    current = config_versions.active(db.session, g.tenant)
    return version.state == config_versions.DRAFT or (current is not None and current.id == version.id)


@bp.get("/admin/config/versions/<int:version_id>/edit/<name>")
def screen(version_id: int, name: str):  # type: ignore[no-untyped-def]
    version = _version(version_id)
    if _document(version, name) is None:
        return render_template("admin/config/screen_missing.html", version=version, name=name,
                               documents=DOCUMENTS, titles=config_forms.document_titles()), 404
    context = _item_context(version, name, _pointer(), _problems(version))
    drafts = [] if version.state == config_versions.DRAFT else \
        [v for v in config_versions.versions(db.session, g.tenant) if v.state == config_versions.DRAFT]
    return render_template("admin/config/screen.html", editable=_editable(version), open_drafts=drafts, **context)


@bp.get("/admin/config/versions/<int:version_id>/edit/<name>/new")
def new_item(version_id: int, name: str):  # type: ignore[no-untyped-def]
    """The form of a new item of the list at ``at``; htmx re-renders it when the item's kind
    (a field's type) changes, so it offers the controls that kind uses."""
    version = _version(version_id)
    at = _pointer()
    n = _node(name, at)
    if not config_forms.is_object_list(n):
        abort(404)
    item_node = config_forms.child(n, "0")
    assert item_node is not None
    draft_value: dict[str, Any] = {}
    if request.args.get("refresh"):
        blank = config_forms.controls(name, at + "/-", item_node, {}, version.documents)
        draft_value = config_forms.item_from_form(blank, request.args)
    found = config_forms.controls(name, at + "/-", item_node, draft_value, version.documents)
    context = {"version": version, "name": name, "at": at, "controls": found, "top": [],
               "list_label": config_forms.label_of(config_edits.parts(at)[-1]),
               "parent": config_edits.join(*config_edits.parts(at)[:-1]),
               "placements": _placements(version) if name == "fields" and at == "/fields" else [],
               "documents": DOCUMENTS, "titles": config_forms.document_titles()}
    if request.headers.get("HX-Request"):
        return render_template("admin/config/_item_controls.html", **context)
    return render_template("admin/config/screen_new.html", **context)


def _placements(version: ConfigVersion) -> list[tuple[str, str]]:
    """(pointer of a section's field list, "Level › Section") where a new field can go."""
    found = []
    for li, level in enumerate((version.documents.get("levels") or {}).get("levels") or []):
        for si, section in enumerate(level.get("sections") or []):
            found.append((f"/levels/{li}/sections/{si}/fields", f"{level.get('label')} › {section.get('label')}"))
    return found


# -- edits ---------------------------------------------------------------------------------

def _save(version: ConfigVersion, edits: list[Edit], goto: str, name: str):  # type: ignore[no-untyped-def]
    if not _editable(version):
        flash(f"Version {version.number} is {version.state}: its documents are fixed.")
        return redirect(url_for("config_admin.version", version_id=version.id), code=303)
    try:
        draft, problems = config_edits.save(db.session, g.tenant, version, edits, user_id=g.actor.user_id)
    except EditError as failed:
        db.session.rollback()
        flash(f"Nothing was saved: {failed.message}.")
        return redirect(url_for("config_admin.screen", version_id=version.id, name=name), code=303)
    draft_id, number, started = draft.id, draft.number, draft.id != version.id
    db.session.commit()
    flash((f"Draft {number} started from the active version. " if started else "")
          + ("Saved. " + (f"The draft has {len(problems)} problem(s); each is shown at its control."
                          if problems else "The draft validates.")))
    return redirect(url_for("config_admin.screen", version_id=draft_id, name=name, at=goto or None), code=303)


@bp.post("/admin/config/versions/<int:version_id>/edit/<name>/add")
def add_item(version_id: int, name: str):  # type: ignore[no-untyped-def]
    version = _version(version_id)
    at = _pointer()
    n = _node(name, at)
    item_node = config_forms.child(n, "0")
    if not config_forms.is_object_list(n) or item_node is None:
        abort(404)
    blank = config_forms.controls(name, at + "/-", item_node, {}, version.documents)
    typed = config_forms.item_from_form(blank, request.form)
    found = config_forms.controls(name, at + "/-", item_node, typed, version.documents)
    item = config_forms.item_from_form(found, request.form)
    edits = [Edit(name, "add", at, item)]
    place = request.form.get("place", "")
    if place and name == "fields" and place in dict(_placements(version)) and isinstance(item.get("key"), str):
        edits.append(Edit("levels", "add", place, item["key"]))
    try:
        length = len(config_edits.resolve(_document(version, name), at))
    except EditError:
        length = 0
    return _save(version, edits, f"{at}/{length}", name)


@bp.post("/admin/config/versions/<int:version_id>/edit/<name>/update")
def update_item(version_id: int, name: str):  # type: ignore[no-untyped-def]
    version = _version(version_id)
    at = _pointer()
    item = _resolve(_document(version, name), at)
    if not at or not isinstance(item, dict):
        abort(404)
    found = config_forms.controls(name, at, _node(name, at), item, version.documents)
    updated = config_forms.item_from_form(found, request.form, item)
    return _save(version, [Edit(name, "update", at, updated)], at, name)


@bp.post("/admin/config/versions/<int:version_id>/edit/<name>/move")
def move_item(version_id: int, name: str):  # type: ignore[no-untyped-def]
    version = _version(version_id)
    at = _pointer()
    by = -1 if request.form.get("direction") == "up" else 1
    return _save(version, [Edit(name, "move", at, by=by)], _parent_of(at), name)


@bp.post("/admin/config/versions/<int:version_id>/edit/<name>/remove")
def remove_item(version_id: int, name: str):  # type: ignore[no-untyped-def]
    version = _version(version_id)
    at = _pointer()
    if request.form.get("confirm") != "yes":
        item = _resolve(_document(version, name), at)
        return render_template("admin/config/screen_remove.html", version=version, name=name, at=at,
                               text=config_forms.summary(item), parent=_parent_of(at)), 422
    return _save(version, [Edit(name, "remove", at)], _parent_of(at), name)


@bp.get("/admin/config/versions/<int:version_id>/edit/<name>/remove")
def confirm_remove(version_id: int, name: str):  # type: ignore[no-untyped-def]
    """Removing asks first, on a page of its own (keyboard and screen readers included)."""
    version = _version(version_id)
    at = _pointer()
    item = _resolve(_document(version, name), at)
    return render_template("admin/config/screen_remove.html", version=version, name=name, at=at,
                           text=config_forms.summary(item), parent=_parent_of(at))


# -- live checks ---------------------------------------------------------------------------

@bp.post("/admin/config/versions/<int:version_id>/edit/<name>/check")
def check_expression(version_id: int, name: str):  # type: ignore[no-untyped-def]
    """htmx: the expression typed into one control, checked as if saved (the draft's other
    documents as they are, the same compiler), and its value on a real record."""
    version = _version(version_id)
    at = _pointer()
    control_pointer = request.args.get("control", "")
    document = _document(version, name)
    if document is None:
        abort(404)
    adding = at.endswith("/-")
    list_pointer = at[:-2] if adding else at
    item = {} if adding else _resolve(document, at)
    n = config_forms.child(_node(name, list_pointer), "0") if adding else _node(name, at)
    if n is None or not isinstance(item, dict):
        abort(404)
    found = config_forms.controls(name, at, n, item, version.documents)
    typed = config_forms.item_from_form(found, request.form, item)
    edit = Edit(name, "add", list_pointer, typed) if adding else Edit(name, "update", at, typed)
    try:
        trial = config_edits.apply(document, edit)
    except EditError:
        abort(404)
    where = config_edits.where_added(trial, edit) if adding else at
    documents = {**version.documents, name: trial}
    documents["tenant"] = {**documents["tenant"], "key": g.tenant.slug}
    place = request.form.get("place", "")
    if adding and name == "fields" and place in dict(_placements(version)) and isinstance(typed.get("key"), str):
        documents["levels"] = config_edits.apply(documents["levels"], Edit("levels", "add", place, typed["key"]))
    target = where + control_pointer
    expression = config_edits.resolve(trial, target) if _exists(trial, target) else ""
    try:
        config = compile_config(documents, version=version.number)
        problems: list[ConfigProblem] = []
    except ConfigInvalid as invalid:
        config, problems = None, invalid.problems
    here = [p for p in problems if p.file == f"{name}.json" and
            (p.pointer == target or p.pointer.startswith(target + "/"))]
    preview = _preview(config, f"{name}.json", target) if config is not None and expression and not here else None
    return render_template("admin/config/_expression_check.html", expression=expression, problems=here,
                           preview=preview, other=len(problems) - len(here))


def _exists(document: Any, pointer: str) -> bool:
    try:
        config_edits.resolve(document, pointer)
    except EditError:
        return False
    return True


def _preview(config: Any, file: str, pointer: str) -> dict[str, Any] | None:
    """The expression's value on the newest record of a level it applies to that the admin
    may read (None: no such record, or a report filter, which the database evaluates)."""
    field_index = {key: i for i, key in enumerate(config.fields)}
    for level_index, level in enumerate(config.levels.values()):
        candidates = [(f"fields.json", f"/fields/{field_index[f.key]}/expression", f.expression)
                      for f in level.fields if f.expression is not None]
        candidates += [c for c in expressions_of_level(config, level_index, level) if c[0] != "reports.json"]
        expression = next((e for f, p, e in candidates if f == file and p == pointer), None)
        if expression is None:
            continue
        records = actor_records()
        record = db.session.scalar(records._readable().where(Record.level_key == level.key)
                                   .order_by(Record.updated_at.desc()).limit(1))
        if record is None:
            return {"level": level.label, "record": None}
        values = dict(record.values or {})
        computed, _ = compute_checked(level, values, record.stage_key, record.title, dt.date.today())
        scope = expression_scope({**values, **computed}, record.stage_key, record.title, level)
        value = expression.evaluate(scope)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return {"level": level.label, "record": record, "value": value}
    return None


@bp.get("/admin/config/versions/<int:version_id>/edit/reports/preview")
def report_preview(version_id: int):  # type: ignore[no-untyped-def]
    """htmx: a report layout of the version rendered by the report renderer, as the admin
    would see it once the version is active."""
    version = _version(version_id)
    at = _pointer()
    layout = _resolve(_document(version, "reports"), at)
    if not isinstance(layout, dict):
        abort(404)
    try:
        config = config_versions.compiled(g.tenant, version)
    except DraftInvalid as invalid:
        return render_template("admin/config/_report_preview.html", report=None,
                               message=f"No preview: the draft has {len(invalid.problems)} problem(s).")
    report = config.reports.get(layout.get("key"))
    if report is None:
        abort(404)
    data = build_report(db.session, g.tenant.id, config, Access(config, g.actor), report)
    return render_template("admin/config/_report_preview.html", report=data, layout=report, message=None,
                           record_url=lambda record_id: url_for("records.view", record_id=record_id))


def _matrix(version: ConfigVersion) -> dict[str, Any]:
    """Roles x levels: the actions each role may take there, with their scope."""
    documents = version.documents or {}
    levels = config_forms.choices_for("roles", "", "levels", documents) or []
    rows = []
    for index, role in enumerate((documents.get("roles") or {}).get("roles") or []):
        cells = []
        for key, _ in levels:
            grants = [f"{', '.join(p.get('actions', []))} ({p.get('scope')})" for p in role.get("permissions") or []
                      if isinstance(p, dict) and (key in (p.get("levels") or []) or "*" in (p.get("levels") or []))]
            cells.append("; ".join(grants))
        rows.append({"pointer": f"/roles/{index}", "label": role.get("label") or role.get("key"), "cells": cells,
                     "overrides": len(role.get("fields") or {}), "admin": ", ".join(role.get("admin") or [])})
    return {"levels": levels, "rows": rows}

