"""Small inline tenant configurations for tests, always compiled by the real compiler."""

from __future__ import annotations

import copy
from typing import Any


def minimal_documents() -> dict[str, Any]:
    """A two-level tenant (Program > Measure) with a workflow, roles and a conditional field."""
    return copy.deepcopy({
        "tenant": {
            "key": "mini", "name": "Mini Corp", "currency": "EUR", "locale": "en-GB",
            "fiscal_year_start": 1,
            "reporting": {"granularity": "month", "start": "2026-01", "periods": 3},
        },
        "levels": {"levels": [
            {"key": "program", "label": "Program", "label_plural": "Programs", "parents": [],
             "numbering": {"prefix": "PG"},
             "sections": [{"key": "main", "label": "Main", "fields": ["description"]}]},
            {"key": "measure", "label": "Measure", "label_plural": "Measures", "parents": ["program"],
             "numbering": {"prefix": "M", "digits": 3}, "workflow": "gates",
             "list_columns": ["number", "title", "stage", "potential"],
             "sections": [
                 {"key": "main", "label": "Main",
                  "fields": ["description", "potential", "has_capex", "capex_amount", "category"]},
                 {"key": "money", "label": "Money", "fields": ["financials", "weighted", "due", "evidence"]},
             ]},
        ]},
        "fields": {"fields": [
            {"key": "description", "label": "Description", "type": "long_text", "max_length": 500},
            {"key": "potential", "label": "Potential", "type": "money", "min": 0, "rollup": "sum",
             "required": {"from_stage": "decided"}},
            {"key": "has_capex", "label": "Needs capex", "type": "yes_no"},
            {"key": "capex_amount", "label": "Capex amount", "type": "money", "visible_if": "has_capex",
             "required": True},
            {"key": "category", "label": "Category", "type": "single_choice",
             "options": [{"key": "procurement", "label": "Procurement"},
                         {"key": "personnel", "label": "Personnel"}]},
            {"key": "financials", "label": "Financials", "type": "money_grid", "rollup": "sum",
             "scenarios": ["plan", "actual"]},
            {"key": "weighted", "label": "Weighted potential", "type": "computed", "result_type": "money",
             "expression": "potential * 0.5 if not empty(potential) else 0", "rollup": "sum"},
            {"key": "due", "label": "Due date", "type": "date"},
            {"key": "evidence", "label": "Business case", "type": "evidence", "accept": [".pdf", ".txt"],
             "max_size_mb": 1},
        ]},
        "roles": {"roles": [
            {"key": "admin", "label": "Administrator", "admin": ["configuration", "users"],
             "permissions": [{"levels": ["*"], "actions": ["create", "read", "update", "delete",
                                                           "transition", "approve", "comment"],
                              "scope": "tenant"}]},
            {"key": "owner", "label": "Measure owner",
             "permissions": [{"levels": ["measure"], "actions": ["read", "update"], "scope": "own"}]},
        ]},
        "workflows": {"workflows": [
            {"key": "gates", "label": "Gates", "initial_stage": "defined",
             "stages": [{"key": "defined", "label": "Defined", "order": 1},
                        {"key": "decided", "label": "Decided", "order": 2},
                        {"key": "closed", "label": "Closed", "order": 3}],
             "transitions": [
                 {"key": "decide", "label": "Decide", "from": ["defined"], "to": "decided",
                  "roles": ["admin"], "required_fields": ["potential"]},
                 {"key": "close", "label": "Close", "from": ["decided"], "to": "closed",
                  "roles": ["admin"], "required_evidence": ["evidence"]},
             ]},
        ]},
    })


def full_documents() -> dict[str, Any]:
    """The minimal tenant with every optional document and construct filled in."""
    docs = minimal_documents()
    docs["workflows"]["status_dimensions"] = [
        {"key": "health", "label": "Health", "levels": ["measure"],
         "options": [{"key": "green", "label": "On track", "color": "#16a34a"},
                     {"key": "red", "label": "Critical"}],
         "default": "green", "comment_required_for": ["red"]},
    ]
    docs["workflows"]["workflows"][0]["transitions"][0].update(
        condition="not empty(potential)", reject_to="defined", escalate_after_days=5,
        escalate_to="board",
        approvals=[{"key": "cfo", "label": "CFO", "role": "admin", "threshold": "potential > 1000",
                    "quorum": {"n": 1}}],
    )
    docs["exceptions"] = {
        "forums": [{"key": "board", "label": "Board", "role": "admin"}],
        "rules": [{"key": "late", "label": "Late", "level": "measure",
                   "condition": "not empty(due) and days_until(due) < 0", "owner_role": "owner",
                   "forum": "board", "due_days": 14, "required_evidence": ["evidence"],
                   "escalation": [{"after_days": 7, "to": "board"}], "close_when_clear": True}],
    }
    docs["reports"] = {"reports": [{
        "key": "steerco", "title": "Steerco", "audience": ["admin"], "level": "measure",
        "filter": "stage != 'closed'", "page": {"size": "A4", "orientation": "landscape"},
        "sections": [
            {"type": "kpi_tiles", "tiles": [{"label": "Potential", "field": "potential", "aggregate": "sum"}]},
            {"type": "table", "columns": ["number", "title", "potential"], "group_by": "category",
             "totals": True},
            {"type": "chart", "chart": "bar", "field": "potential"},
            {"type": "text", "text": "Hello"},
        ],
    }]}
    return docs


def editor_documents() -> dict[str, Any]:
    """The minimal tenant plus an "editor" who may read and update everything but never
    sees the potential (nor, therefore, the weighted potential computed from it)."""
    documents = minimal_documents()
    documents["roles"]["roles"].append({
        "key": "editor", "label": "Editor", "fields": {"potential": "hidden"},
        "permissions": [{"levels": ["*"], "actions": ["read", "update"], "scope": "tenant"}]})
    return documents
