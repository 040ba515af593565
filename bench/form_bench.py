#!/usr/bin/env python
"""Time Steerco's generated edit form against a hand-written Flask+Jinja view of the same fields.

    python bench/form_bench.py [--seconds N] [--rounds R] [--database-url URL]
                               [--show-sql] [--profile {render,save}]

One run builds a throw-away tenant whose level ``initiative`` has exactly 30 fields of mixed
types (text, long text, integer, decimal, money, percent, date, yes/no, single and multiple
choice, three fields with ``visible_if`` conditions, one computed field), stores it through
the real configuration compiler, creates a user and one record through the engine, and then
times, through Flask's test client and the full request stack (session cookie, Flask-Login
user loading, tenant resolution, templates, database):

1. GET  the generated edit form   ``/t/bench/r/<id>/edit``
2. POST a save to that form        (303; the current ``version`` is read back before each save)
3. GET  the hand-written edit form ``/bench/hand/<id>/edit`` (same app, same record row)
4. POST a save to the hand-written form

plus a "floor" request (a ``login_required`` view returning two bytes) that shows what the
test client, session and user loading cost on their own. It prints requests/s, ms/request,
SQL statements per request, response size, and the ratio generated / hand-written for render
and for save. See bench/README.md for how to read the output.

The phases are interleaved in ``--rounds`` rounds (each round runs every phase for
``seconds / rounds`` seconds, in a rotating order), so that a slow patch of the machine does
not fall on one side only. Only the request itself is timed; reading the version back and
clearing flashed messages between saves are not.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
TENANT = "bench"
EMAIL = "bench@example.com"
PASSWORD = "bench-password-1"

# ---------------------------------------------------------------------------------------
# The tenant: one root level with exactly 30 fields.
# ---------------------------------------------------------------------------------------

FIELDS: list[dict[str, Any]] = [
    # section "basics" (10)
    {"key": "summary", "label": "Summary", "type": "text", "max_length": 200, "required": True},
    {"key": "description", "label": "Description", "type": "long_text", "max_length": 2000},
    {"key": "contact", "label": "Contact person", "type": "text"},
    {"key": "external_ref", "label": "External reference", "type": "text", "max_length": 40},
    {"key": "category", "label": "Category", "type": "single_choice",
     "options": [{"key": "procurement", "label": "Procurement"}, {"key": "personnel", "label": "Personnel"},
                 {"key": "logistics", "label": "Logistics"}, {"key": "it", "label": "IT"}]},
    {"key": "priority", "label": "Priority", "type": "single_choice",
     "options": [{"key": "p1", "label": "P1"}, {"key": "p2", "label": "P2"},
                 {"key": "p3", "label": "P3"}, {"key": "p4", "label": "P4"}]},
    {"key": "region", "label": "Region", "type": "single_choice",
     "options": [{"key": "emea", "label": "EMEA"}, {"key": "amer", "label": "Americas"},
                 {"key": "apac", "label": "APAC"}]},
    {"key": "tags", "label": "Tags", "type": "multiple_choice",
     "options": [{"key": "quick_win", "label": "Quick win"}, {"key": "strategic", "label": "Strategic"},
                 {"key": "regulatory", "label": "Regulatory"}, {"key": "customer", "label": "Customer"},
                 {"key": "internal", "label": "Internal"}]},
    {"key": "channels", "label": "Channels", "type": "multiple_choice",
     "options": [{"key": "web", "label": "Web"}, {"key": "store", "label": "Store"},
                 {"key": "partner", "label": "Partner"}]},
    {"key": "is_critical", "label": "Critical", "type": "yes_no"},
    # section "numbers" (10)
    {"key": "headcount", "label": "Headcount", "type": "integer", "min": 0},
    {"key": "sites", "label": "Sites", "type": "integer", "min": 0, "max": 500},
    {"key": "ratio", "label": "Ratio", "type": "decimal"},
    {"key": "risk_score", "label": "Risk score", "type": "decimal", "min": 0, "max": 10},
    {"key": "potential", "label": "Potential", "type": "money", "min": 0},
    {"key": "budget", "label": "Budget", "type": "money", "min": 0},
    {"key": "spent", "label": "Spent", "type": "money"},
    {"key": "progress", "label": "Progress", "type": "percent", "min": 0, "max": 100},
    {"key": "probability", "label": "Probability", "type": "percent", "min": 0, "max": 100},
    {"key": "weighted", "label": "Weighted potential", "type": "computed", "result_type": "money",
     "expression": "potential * probability / 100 if not empty(potential) and not empty(probability) else 0"},
    # section "planning" (10)
    {"key": "start_date", "label": "Start", "type": "date"},
    {"key": "due_date", "label": "Due", "type": "date"},
    {"key": "review_date", "label": "Next review", "type": "date"},
    {"key": "has_capex", "label": "Needs capex", "type": "yes_no"},
    {"key": "capex_amount", "label": "Capex amount", "type": "money", "min": 0, "visible_if": "has_capex"},
    {"key": "capex_reason", "label": "Capex reason", "type": "long_text", "visible_if": "has_capex"},
    {"key": "is_public", "label": "Public", "type": "yes_no"},
    {"key": "savings_rate", "label": "Savings rate", "type": "percent",
     "visible_if": "not empty(potential) and potential > 0"},
    {"key": "status_note", "label": "Status note", "type": "long_text", "max_length": 2000},
    {"key": "lessons", "label": "Lessons learned", "type": "text"},
]
SECTIONS = [("basics", "Basics", FIELDS[0:10]), ("numbers", "Numbers", FIELDS[10:20]),
            ("planning", "Planning", FIELDS[20:30])]
assert len(FIELDS) == 30 and len({f["key"] for f in FIELDS}) == 30


def documents() -> dict[str, Any]:
    """The inline tenant configuration (compiled by the real compiler in ``store_config``)."""
    return {
        "tenant": {"key": TENANT, "name": "Bench Corp", "currency": "EUR", "locale": "en-GB",
                   "fiscal_year_start": 1,
                   "reporting": {"granularity": "month", "start": "2026-01", "periods": 12}},
        "levels": {"levels": [
            {"key": "initiative", "label": "Initiative", "label_plural": "Initiatives", "parents": [],
             "numbering": {"prefix": "IN"},
             "list_columns": ["number", "title", "potential"],
             "sections": [{"key": k, "label": label, "fields": [f["key"] for f in flds]}
                          for k, label, flds in SECTIONS]},
        ]},
        "fields": {"fields": FIELDS},
        "roles": {"roles": [
            {"key": "admin", "label": "Administrator", "admin": ["configuration", "users"],
             "permissions": [{"levels": ["*"], "actions": ["create", "read", "update", "delete",
                                                           "transition", "approve", "comment"],
                              "scope": "tenant"}]},
        ]},
    }


def form_items(i: int, version: int | None) -> list[tuple[str, str]]:
    """What a browser posts for the edit form (both forms use the same input names).

    ``i`` varies two fields so that every save really changes the record (no "nothing
    changed" short cut on either side).
    """
    items = [
        ("title", "Benchmark initiative"),
        ("summary", "Consolidate suppliers for indirect spend"),
        ("description", "A longer description of the initiative.\nIt spans two lines."),
        ("contact", "Jane Doe"), ("external_ref", "EXT-4711"),
        ("category", "procurement"), ("priority", "p2"), ("region", "emea"),
        ("tags", "strategic"), ("tags", "customer"), ("channels", "web"),
        ("is_critical", "0"), ("is_critical", "1"),
        ("headcount", str(1 + i % 1000)), ("sites", "12"), ("ratio", "0.75"), ("risk_score", "3.5"),
        ("potential", "250000"), ("budget", "120000.50"), ("spent", "35000"),
        ("progress", "40"), ("probability", "60"),
        ("start_date", "2026-01-15"), ("due_date", "2026-12-31"), ("review_date", "2026-06-30"),
        ("has_capex", "0"), ("has_capex", "1"),
        ("capex_amount", "80000"), ("capex_reason", "New sorting machine"),
        ("is_public", "0"),
        ("savings_rate", "12.5"),
        ("status_note", f"Save number {i}"), ("lessons", "Start the tender early"),
    ]
    if version is not None:
        items.insert(0, ("version", str(version)))
    return items


# ---------------------------------------------------------------------------------------
# The hand-written baseline: one view, one template compiled once, parsing by hand.
# ---------------------------------------------------------------------------------------

HAND_TEMPLATE = """{% extends "layout.html" %}
{% block title %}Edit {{ record.number }}{% endblock %}
{% block content %}
<nav class="crumbs" aria-label="Breadcrumb"><a href="{{ url_for('auth.home') }}">Bench Corp</a></nav>
<h1>Edit Initiative {{ record.number }}</h1>
{% if message %}<div class="alert" role="alert">{{ message }}</div>{% endif %}
<form method="post" action="{{ url_for('hand.edit', record_id=record.id) }}" class="record-form" novalidate>
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <input type="hidden" name="version" value="{{ record.version }}">
  <div class="field"><label for="input-title">Title <span class="req">*</span></label>
    <input id="input-title" name="title" type="text" value="{{ title }}" maxlength="300" required>
    <p class="error" role="alert">{{ errors.title }}</p></div>
  <fieldset><legend>Basics</legend>
  <div class="field"><label for="input-summary">Summary <span class="req">*</span></label>
    <input id="input-summary" name="summary" type="text" value="{{ v.summary or '' }}" maxlength="200" required>
    <p class="error" role="alert">{{ errors.summary }}</p></div>
  <div class="field"><label for="input-description">Description</label>
    <textarea id="input-description" name="description" rows="4" maxlength="2000">{{ v.description or '' }}</textarea>
    <p class="error" role="alert">{{ errors.description }}</p></div>
  <div class="field"><label for="input-contact">Contact person</label>
    <input id="input-contact" name="contact" type="text" value="{{ v.contact or '' }}" maxlength="200">
    <p class="error" role="alert">{{ errors.contact }}</p></div>
  <div class="field"><label for="input-external_ref">External reference</label>
    <input id="input-external_ref" name="external_ref" type="text" value="{{ v.external_ref or '' }}" maxlength="40">
    <p class="error" role="alert">{{ errors.external_ref }}</p></div>
  <div class="field"><label for="input-category">Category</label>
    <select id="input-category" name="category"><option value="">—</option>
    {% for key, label in CATEGORY %}<option value="{{ key }}"{% if v.category == key %} selected{% endif %}>{{ label }}</option>{% endfor %}
    </select><p class="error" role="alert">{{ errors.category }}</p></div>
  <div class="field"><label for="input-priority">Priority</label>
    <select id="input-priority" name="priority"><option value="">—</option>
    {% for key, label in PRIORITY %}<option value="{{ key }}"{% if v.priority == key %} selected{% endif %}>{{ label }}</option>{% endfor %}
    </select><p class="error" role="alert">{{ errors.priority }}</p></div>
  <div class="field"><label for="input-region">Region</label>
    <select id="input-region" name="region"><option value="">—</option>
    {% for key, label in REGION %}<option value="{{ key }}"{% if v.region == key %} selected{% endif %}>{{ label }}</option>{% endfor %}
    </select><p class="error" role="alert">{{ errors.region }}</p></div>
  <div class="field"><label>Tags</label><div class="choices">
    {% for key, label in TAGS %}<label class="choice"><input type="checkbox" name="tags" value="{{ key }}"{% if key in (v.tags or []) %} checked{% endif %}> {{ label }}</label>{% endfor %}
    </div><p class="error" role="alert">{{ errors.tags }}</p></div>
  <div class="field"><label>Channels</label><div class="choices">
    {% for key, label in CHANNELS %}<label class="choice"><input type="checkbox" name="channels" value="{{ key }}"{% if key in (v.channels or []) %} checked{% endif %}> {{ label }}</label>{% endfor %}
    </div><p class="error" role="alert">{{ errors.channels }}</p></div>
  <div class="field"><label for="input-is_critical">Critical</label>
    <input type="hidden" name="is_critical" value="0"><input id="input-is_critical" name="is_critical" type="checkbox" value="1"{% if v.is_critical %} checked{% endif %}>
    <p class="error" role="alert">{{ errors.is_critical }}</p></div>
  </fieldset>
  <fieldset><legend>Numbers</legend>
  <div class="field"><label for="input-headcount">Headcount</label>
    <input id="input-headcount" name="headcount" type="number" step="1" min="0" value="{{ v.headcount if v.headcount is not none else '' }}">
    <p class="error" role="alert">{{ errors.headcount }}</p></div>
  <div class="field"><label for="input-sites">Sites</label>
    <input id="input-sites" name="sites" type="number" step="1" min="0" max="500" value="{{ v.sites if v.sites is not none else '' }}">
    <p class="error" role="alert">{{ errors.sites }}</p></div>
  <div class="field"><label for="input-ratio">Ratio</label>
    <input id="input-ratio" name="ratio" type="number" step="any" value="{{ v.ratio if v.ratio is not none else '' }}">
    <p class="error" role="alert">{{ errors.ratio }}</p></div>
  <div class="field"><label for="input-risk_score">Risk score</label>
    <input id="input-risk_score" name="risk_score" type="number" step="any" min="0" max="10" value="{{ v.risk_score if v.risk_score is not none else '' }}">
    <p class="error" role="alert">{{ errors.risk_score }}</p></div>
  <div class="field"><label for="input-potential">Potential</label>
    <input id="input-potential" name="potential" type="number" step="0.01" min="0" value="{{ v.potential if v.potential is not none else '' }}">
    <p class="error" role="alert">{{ errors.potential }}</p></div>
  <div class="field"><label for="input-budget">Budget</label>
    <input id="input-budget" name="budget" type="number" step="0.01" min="0" value="{{ v.budget if v.budget is not none else '' }}">
    <p class="error" role="alert">{{ errors.budget }}</p></div>
  <div class="field"><label for="input-spent">Spent</label>
    <input id="input-spent" name="spent" type="number" step="0.01" value="{{ v.spent if v.spent is not none else '' }}">
    <p class="error" role="alert">{{ errors.spent }}</p></div>
  <div class="field"><label for="input-progress">Progress</label>
    <input id="input-progress" name="progress" type="number" step="any" min="0" max="100" value="{{ v.progress if v.progress is not none else '' }}">
    <p class="error" role="alert">{{ errors.progress }}</p></div>
  <div class="field"><label for="input-probability">Probability</label>
    <input id="input-probability" name="probability" type="number" step="any" min="0" max="100" value="{{ v.probability if v.probability is not none else '' }}">
    <p class="error" role="alert">{{ errors.probability }}</p></div>
  <div class="field"><label for="input-weighted">Weighted potential</label>
    <output id="input-weighted">{{ '{:,.0f} EUR'.format(v.weighted) if v.weighted is not none else '—' }}</output></div>
  </fieldset>
  <fieldset><legend>Planning</legend>
  <div class="field"><label for="input-start_date">Start</label>
    <input id="input-start_date" name="start_date" type="date" value="{{ v.start_date or '' }}">
    <p class="error" role="alert">{{ errors.start_date }}</p></div>
  <div class="field"><label for="input-due_date">Due</label>
    <input id="input-due_date" name="due_date" type="date" value="{{ v.due_date or '' }}">
    <p class="error" role="alert">{{ errors.due_date }}</p></div>
  <div class="field"><label for="input-review_date">Next review</label>
    <input id="input-review_date" name="review_date" type="date" value="{{ v.review_date or '' }}">
    <p class="error" role="alert">{{ errors.review_date }}</p></div>
  <div class="field"><label for="input-has_capex">Needs capex</label>
    <input type="hidden" name="has_capex" value="0"><input id="input-has_capex" name="has_capex" type="checkbox" value="1"{% if v.has_capex %} checked{% endif %}>
    <p class="error" role="alert">{{ errors.has_capex }}</p></div>
  <div class="field" id="field-capex_amount"{% if not v.has_capex %} hidden{% endif %}><label for="input-capex_amount">Capex amount</label>
    <input id="input-capex_amount" name="capex_amount" type="number" step="0.01" min="0" value="{{ v.capex_amount if v.capex_amount is not none else '' }}">
    <p class="error" role="alert">{{ errors.capex_amount }}</p></div>
  <div class="field" id="field-capex_reason"{% if not v.has_capex %} hidden{% endif %}><label for="input-capex_reason">Capex reason</label>
    <textarea id="input-capex_reason" name="capex_reason" rows="4">{{ v.capex_reason or '' }}</textarea>
    <p class="error" role="alert">{{ errors.capex_reason }}</p></div>
  <div class="field"><label for="input-is_public">Public</label>
    <input type="hidden" name="is_public" value="0"><input id="input-is_public" name="is_public" type="checkbox" value="1"{% if v.is_public %} checked{% endif %}>
    <p class="error" role="alert">{{ errors.is_public }}</p></div>
  <div class="field" id="field-savings_rate"{% if not (v.potential or 0) > 0 %} hidden{% endif %}><label for="input-savings_rate">Savings rate</label>
    <input id="input-savings_rate" name="savings_rate" type="number" step="any" value="{{ v.savings_rate if v.savings_rate is not none else '' }}">
    <p class="error" role="alert">{{ errors.savings_rate }}</p></div>
  <div class="field"><label for="input-status_note">Status note</label>
    <textarea id="input-status_note" name="status_note" rows="4" maxlength="2000">{{ v.status_note or '' }}</textarea>
    <p class="error" role="alert">{{ errors.status_note }}</p></div>
  <div class="field"><label for="input-lessons">Lessons learned</label>
    <input id="input-lessons" name="lessons" type="text" value="{{ v.lessons or '' }}" maxlength="200">
    <p class="error" role="alert">{{ errors.lessons }}</p></div>
  </fieldset>
  <div class="actions"><button type="submit" class="primary">Save</button>
    <a href="{{ url_for('hand.edit', record_id=record.id) }}">Cancel</a></div>
</form>
{% endblock %}
"""

CHOICES = {
    "CATEGORY": [("procurement", "Procurement"), ("personnel", "Personnel"), ("logistics", "Logistics"), ("it", "IT")],
    "PRIORITY": [("p1", "P1"), ("p2", "P2"), ("p3", "P3"), ("p4", "P4")],
    "REGION": [("emea", "EMEA"), ("amer", "Americas"), ("apac", "APAC")],
    "TAGS": [("quick_win", "Quick win"), ("strategic", "Strategic"), ("regulatory", "Regulatory"),
             ("customer", "Customer"), ("internal", "Internal")],
    "CHANNELS": [("web", "Web"), ("store", "Store"), ("partner", "Partner")],
}


def parse_hand(form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The 29 editable values parsed by hand, the way a one-off Flask view would."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def text(key: str, max_length: int = 200, required: bool = False) -> None:
        raw = form.get(key, "").strip()
        if required and not raw:
            errors[key] = "Required."
        elif len(raw) > max_length:
            errors[key] = f"At most {max_length} characters."
        values[key] = raw or None

    def number(key: str, cast: Callable[[str], Any], lo: float | None = None, hi: float | None = None) -> None:
        raw = form.get(key, "").strip()
        if not raw:
            values[key] = None
            return
        try:
            value = cast(raw)
        except ValueError:
            errors[key] = "Enter a number."
            return
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            errors[key] = "Out of range."
        values[key] = value

    def date(key: str) -> None:
        raw = form.get(key, "").strip()
        try:
            values[key] = dt.date.fromisoformat(raw).isoformat() if raw else None
        except ValueError:
            errors[key] = "Enter a date as YYYY-MM-DD."

    def yes_no(key: str) -> None:
        values[key] = "1" in form.getlist(key)

    def choice(key: str, options: list[tuple[str, str]]) -> None:
        raw = form.get(key) or None
        if raw is not None and raw not in {k for k, _ in options}:
            errors[key] = "Choose one of the offered options."
        values[key] = raw

    def choices(key: str, options: list[tuple[str, str]]) -> None:
        allowed = {k for k, _ in options}
        chosen = form.getlist(key)
        if any(c not in allowed for c in chosen):
            errors[key] = "Choose among the offered options."
        values[key] = chosen or None

    text("summary", required=True)
    text("description", 2000)
    text("contact")
    text("external_ref", 40)
    choice("category", CHOICES["CATEGORY"])
    choice("priority", CHOICES["PRIORITY"])
    choice("region", CHOICES["REGION"])
    choices("tags", CHOICES["TAGS"])
    choices("channels", CHOICES["CHANNELS"])
    yes_no("is_critical")
    number("headcount", int, 0)
    number("sites", int, 0, 500)
    number("ratio", float)
    number("risk_score", float, 0, 10)
    number("potential", float, 0)
    number("budget", float, 0)
    number("spent", float)
    number("progress", float, 0, 100)
    number("probability", float, 0, 100)
    date("start_date")
    date("due_date")
    date("review_date")
    yes_no("has_capex")
    if values["has_capex"]:
        number("capex_amount", float, 0)
        text("capex_reason", 10000)
    else:
        values["capex_amount"] = values["capex_reason"] = None
    yes_no("is_public")
    if (values.get("potential") or 0) > 0:
        number("savings_rate", float)
    else:
        values["savings_rate"] = None
    text("status_note", 2000)
    text("lessons")
    potential, probability = values.get("potential"), values.get("probability")
    values["weighted"] = potential * probability / 100 if potential is not None and probability is not None else 0
    return values, errors


def register_baseline(app: Any, tenant_id: int) -> None:
    """The hand-written edit view and a no-op "floor" view, on the same app and session."""
    from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
    from flask_login import current_user, login_required

    from steerco.store.models import Record, utcnow
    from steerco.store.scoping import bind_to_tenant
    from steerco.web.extensions import db

    bp = Blueprint("hand", __name__, url_prefix="/bench")
    template = app.jinja_env.from_string(HAND_TEMPLATE)  # compiled once, like a cached template file

    def page(record: Any, values: dict[str, Any], title: str, errors: dict[str, str] | None = None,
             message: str | None = None) -> str:
        return render_template(template, record=record, v=values, title=title, errors=errors or {},
                               message=message, **CHOICES)

    @bp.route("/hand/<int:record_id>/edit", methods=["GET", "POST"])
    @login_required
    def edit(record_id: int):  # type: ignore[no-untyped-def]
        bind_to_tenant(db.session, tenant_id)  # the tenant tripwire wants to know; no statement
        record = db.session.get(Record, record_id)
        if record is None or record.tenant_id != tenant_id or record.deleted_at is not None:
            abort(404)
        if request.method == "POST":
            values, errors = parse_hand(request.form)
            title = request.form.get("title", "").strip()
            if not title or len(title) > 300:
                errors["title"] = "Required (at most 300 characters)."
            if request.form.get("version", type=int) != record.version:
                return page(record, values, title, message="Someone saved this record meanwhile."), 409
            if errors:
                return page(record, values, title, errors, "Please correct the marked fields."), 422
            record.values = values
            record.title = title
            record.updated_at = utcnow()
            record.updated_by_id = current_user.user.id
            db.session.commit()
            flash("Saved.")
            return redirect(url_for("hand.edit", record_id=record.id), code=303)
        return page(record, dict(record.values or {}), record.title)

    @bp.get("/noop")
    @login_required
    def noop():  # type: ignore[no-untyped-def]
        return "ok"

    app.register_blueprint(bp)


# ---------------------------------------------------------------------------------------
# Set-up, measurement, report
# ---------------------------------------------------------------------------------------

def seed(url: str, upload_dir: str) -> tuple[int, int]:
    """Tables, tenant, user and one record, all through the engine. Returns (tenant id, record id)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session
    from werkzeug.datastructures import MultiDict

    from steerco.engine import tenants
    from steerco.engine.access import Access
    from steerco.engine.records import Records, Submission
    from steerco.engine.users import create_user
    from steerco.store import scoping
    from steerco.store.blobs import DiskBlobStore
    from steerco.store.models import Base

    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        scoping.allow_all_tenants(session)  # setting up, before any tenant exists
        tenant, _ = tenants.store_config(session, documents())
        user = create_user(session, EMAIL, "Bench User", PASSWORD)
        tenants.add_member(session, tenant, user, [("admin", None)])
        session.commit()
        config = tenants.active_config(session, tenant)
        level = config.levels["initiative"]
        assert len(level.fields) == 30, len(level.fields)
        records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)),
                          DiskBlobStore(upload_dir))
        items = form_items(0, None)
        record = records.create("initiative", None, Submission(title=items[0][1], form=MultiDict(items[1:])))
        session.commit()
        ids = tenant.id, record.id
    engine.dispose()
    tenants.forget_compiled()  # the app compiles (once) on its first request, like a fresh process
    return ids


@dataclass
class Phase:
    name: str
    label: str
    method: str
    path: str
    expect: int
    times: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    last_sql: list[str] = field(default_factory=list)
    per_round: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.times) / sum(self.times) if self.times else 0.0

    @property
    def ms(self) -> float:
        return 1000 * statistics.fmean(self.times) if self.times else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.times)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Bench:
    def __init__(self, app: Any, url: str, record_id: int):
        from sqlalchemy import create_engine, event

        from steerco.web.extensions import db

        self.app = app
        self.client = app.test_client()
        self.record_id = record_id
        self.side = create_engine(url)  # bookkeeping reads, outside the app and its query count
        self.statements: list[str] = []
        self.counting = False
        self.counter = 0  # saves posted so far; varies the posted values
        with app.app_context():
            engine = db.engine

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if self.counting:
                self.statements.append(statement)

    def version(self) -> int:
        from sqlalchemy import select

        from steerco.store.models import Record

        with self.side.connect() as conn:
            return conn.scalar(select(Record.version).where(Record.id == self.record_id))

    def stored(self) -> dict[str, Any]:
        from sqlalchemy import select

        from steerco.store.models import Record

        with self.side.connect() as conn:
            return conn.scalar(select(Record.values).where(Record.id == self.record_id))

    def login(self) -> None:
        response = self.client.post("/login", data={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 302, f"login failed: {response.status_code}"

    def once(self, phase: Phase, record: bool = True) -> Any:
        """One request of ``phase``; only the request is timed."""
        from werkzeug.datastructures import MultiDict

        data = None
        if phase.method == "POST":
            self.counter += 1
            data = MultiDict(form_items(self.counter, self.version()))
        self.statements = []
        self.counting = True
        start = CLOCK[0]()
        if data is None:
            response = self.client.get(phase.path)
        else:
            response = self.client.post(phase.path, data=data)
        elapsed = CLOCK[0]() - start
        self.counting = False
        if response.status_code != phase.expect:
            body = response.get_data(as_text=True)
            raise SystemExit(f"{phase.label}: expected {phase.expect}, got {response.status_code}\n{body[:3000]}")
        if record:
            phase.times.append(elapsed)
            phase.queries.append(len(self.statements))
            phase.sizes.append(len(response.get_data()))
            phase.last_sql = list(self.statements)
        if phase.method == "POST":
            with self.client.session_transaction() as session:  # not timed: no flash pile-up
                session.pop("_flashes", None)
        return response

    def run(self, phase: Phase, seconds: float) -> None:
        start_count = len(phase.times)
        start_time = sum(phase.times)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            self.once(phase)
        n = len(phase.times) - start_count
        phase.per_round.append(n / (sum(phase.times) - start_time) if n else 0.0)


def check_forms(gen_html: str, hand_html: str) -> None:
    """Both pages show every editable field as an input and every label."""
    for f in FIELDS:
        for html, which in ((gen_html, "generated"), (hand_html, "hand-written")):
            assert f["label"] in html, f"{which} form lacks the label {f['label']!r}"
            if f["type"] != "computed":
                assert f'name="{f["key"]}"' in html, f"{which} form lacks the input {f['key']!r}"


def print_report(phases: dict[str, Phase], args: argparse.Namespace, dialect: str, seconds: float) -> None:
    print()
    print(f"Steerco form benchmark: 30-field level, {dialect}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, {seconds:.0f} s per path in {args.rounds} rounds, {args.clock} clock")
    print()
    header = f"{'path':<28}{'req/s':>9}{'ms/req':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'SQL/req':>9}{'bytes':>9}{'n':>7}"
    print(header)
    print("-" * len(header))
    for phase in phases.values():
        queries = statistics.median(phase.queries) if phase.queries else 0
        print(f"{phase.label:<28}{phase.rate:>9.0f}{phase.ms:>9.2f}{phase.pct(0.5):>9.2f}{phase.pct(0.95):>9.2f}"
              f"{1000 * max(phase.times):>9.1f}{queries:>9.0f}{statistics.median(phase.sizes):>9.0f}{len(phase.times):>7}")
    print()
    for kind in ("render", "save"):
        gen, hand = phases[f"gen_{kind}"], phases[f"hand_{kind}"]
        ratios = [g / h for g, h in zip(gen.per_round, hand.per_round) if h]
        spread = f" (rounds {min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
        print(f"{kind + ':':<8}generated {gen.rate:.0f} req/s, hand-written {hand.rate:.0f} req/s, "
              f"ratio {gen.rate / hand.rate:.2f}; by median latency {hand.pct(0.5) / gen.pct(0.5):.2f}{spread}")
    floor = phases["floor"]
    print()
    print(f"floor: a login_required view returning 'ok' runs at {floor.rate:.0f} req/s ({floor.ms:.2f} ms): "
          "the test client, session cookie and user loading that every path above pays too.")
    if args.show_sql:
        for phase in phases.values():
            print()
            print(f"SQL of the last {phase.label} request ({len(phase.last_sql)} statements):")
            for statement in phase.last_sql:
                print("  " + " ".join(statement.split())[:160])


#: what times a request: time.perf_counter (wall, default) or time.process_time (--clock cpu:
#: this process's CPU time, steadier on a busy machine; SQLite's work runs in the process)
CLOCK = [time.perf_counter]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="timed seconds per path (default 5; the whole run takes about 5x this plus set-up)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds the seconds are split into")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per path first")
    parser.add_argument("--database-url", help="SQLAlchemy URL of an EMPTY database "
                        "(default: a temporary SQLite file); tables are created, not dropped")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall (default) or cpu: time requests by this process's CPU time (steadier on a busy machine)")
    parser.add_argument("--show-sql", action="store_true", help="print the SQL of one request per path")
    parser.add_argument("--profile", choices=["render", "save", "hand_render", "hand_save"],
                        help="after the run, cProfile 200 requests of one path and print the top functions")
    args = parser.parse_args(argv)
    CLOCK[0] = time.process_time if args.clock == "cpu" else time.perf_counter

    tmp = tempfile.TemporaryDirectory(prefix="steerco-bench-")
    # Keep settings.from_environment() away from the repository's instance/ folder.
    os.environ["STEERCO_INSTANCE"] = tmp.name
    os.environ["STEERCO_SECRET_KEY"] = "bench"
    sys.path.insert(0, str(ROOT / "platform"))

    from steerco import create_app

    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    upload_dir = str(Path(tmp.name) / "uploads")
    tenant_id, record_id = seed(url, upload_dir)
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "UPLOAD_DIR": upload_dir, "WTF_CSRF_ENABLED": False})
    register_baseline(app, tenant_id)
    bench = Bench(app, url, record_id)
    bench.login()

    generated = f"/t/{TENANT}/r/{record_id}/edit"
    hand = f"/bench/hand/{record_id}/edit"
    phases = {
        "gen_render": Phase("gen_render", "render generated (GET)", "GET", generated, 200),
        "gen_save": Phase("gen_save", "save generated (POST)", "POST", generated, 303),
        "hand_render": Phase("hand_render", "render hand-written (GET)", "GET", hand, 200),
        "hand_save": Phase("hand_save", "save hand-written (POST)", "POST", hand, 303),
        "floor": Phase("floor", "floor (login_required 'ok')", "GET", "/bench/noop", 200),
    }

    check_forms(bench.once(phases["gen_render"], record=False).get_data(as_text=True),
                bench.once(phases["hand_render"], record=False).get_data(as_text=True))
    for phase in phases.values():
        for _ in range(args.warmup):
            bench.once(phase, record=False)

    # Evidence for "compiled at most once per process": count compiles during the timed part.
    from steerco.engine import tenants
    compiles = [0]
    real_compile = tenants.compile_config

    def counting_compile(*a: Any, **kw: Any) -> Any:
        compiles[0] += 1
        return real_compile(*a, **kw)

    tenants.compile_config = counting_compile  # type: ignore[assignment]

    order = list(phases)
    slice_ = args.seconds / args.rounds
    started = time.perf_counter()
    for r in range(args.rounds):
        rotated = order[r % len(order):] + order[:r % len(order)]
        for key in rotated:
            bench.run(phases[key], slice_)
    wall = time.perf_counter() - started

    # The saves really wrote: the last one posted is what the record holds.
    values = bench.stored()
    assert values["headcount"] == 1 + bench.counter % 1000 and values["status_note"] == f"Save number {bench.counter}", values

    from sqlalchemy import make_url
    print_report(phases, args, make_url(url).get_dialect().name, args.seconds)
    tenants.compile_config = real_compile  # type: ignore[assignment]
    print(f"\n(measured for {wall:.1f} s of wall time; {bench.counter} saves in all; "
          f"tenant configuration compiled {compiles[0]} times during the timed requests)")

    if args.profile:
        phase = phases["gen_" + args.profile] if not args.profile.startswith("hand") else phases[args.profile]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(200):
            bench.once(phase, record=False)
        profiler.disable()
        print(f"\ncProfile of 200 x {phase.label} (cumulative, top 35):")
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(int(os.environ.get("BENCH_TOP", "35")))

    bench.side.dispose()
    from steerco.web.extensions import db
    with app.app_context():
        db.engine.dispose()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
