"""What an approval is given on: a transition's approval content, captured and hashed.

A transition's ``approval_content`` (configured, or by default its required fields, its
required evidence and the fields its thresholds read) is what its approvers decide on.
Each vote records the record's version, the content's values as the JSON API shows them
(evidence as file id, name and size: a new file is a new id) and a SHA-256 of those
values in canonical JSON. A change to that content while a request waits is refused or
voids the votes (see :mod:`steerco.engine.approvals`); the hash lets the final step check
that every vote was given on the content that is about to move the record.

Pure functions of the configuration and a record's values: no queries here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping

from steerco.config.model import Level, TenantConfig, Transition
from steerco.fields.display import Display


def content_fields(transition: Transition, level: Level) -> tuple[str, ...]:
    """The keys of the level's fields an approval of ``transition`` is bound to."""
    return tuple(key for key in transition.approval_content if level.field(key) is not None)


def snapshot(transition: Transition, level: Level, values: Mapping[str, Any]) -> dict[str, Any]:
    """The approval content's values, as JSON (what the approver saw and decided on)."""
    captured: dict[str, Any] = {}
    for key in content_fields(transition, level):
        fld = level.field(key)
        assert fld is not None
        captured[key] = fld.kind.json_value(fld, values.get(key))
    return captured


def content_hash(captured: Mapping[str, Any]) -> str:
    """SHA-256 of the captured content in canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(captured, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def changed_fields(changes: Iterable[str]) -> set[str]:
    """Field keys of a save's changes (a grid cell ``financials.plan.2026-01`` is ``financials``)."""
    return {key.split(".", 1)[0] for key in changes}


def display(level: Level, key: str, value: Any, context: "Display | TenantConfig") -> str:
    """A captured value as text for people (evidence by its file names; users and records
    by name when ``context`` is a :class:`Display` that resolved them)."""
    fld = level.field(key)
    if fld is None or value in (None, "", [], {}):
        return "—"
    if isinstance(value, list) and value and all(isinstance(v, dict) and "filename" in v for v in value):
        return ", ".join(str(v["filename"]) for v in value)
    return fld.kind.display(fld, value, context) or "—"
