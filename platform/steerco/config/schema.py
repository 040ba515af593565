"""JSON Schema validation of configuration documents, with messages for humans.

The schemas in ``config_schemas/`` are the contract of the configuration files; this
module loads them once, validates a document and turns jsonschema's errors into
:class:`ConfigProblem` values with a JSON Pointer and, for typos, a "did you mean".
"""

from __future__ import annotations

import functools
import json
from typing import Any, Iterable

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from steerco.config.errors import ConfigProblem, closest, pointer
from steerco.settings import RESOURCE_ROOT

SCHEMA_DIR = RESOURCE_ROOT / "config_schemas"
KEY_PATTERN = "^[a-z][a-z0-9_]{0,62}$"
DOCUMENTS = ("tenant", "levels", "fields", "roles", "workflows", "exceptions", "reports")
#: documents a tenant may leave out, and what they mean when absent
OPTIONAL_DOCUMENTS: dict[str, dict[str, Any]] = {
    "workflows": {"workflows": []},
    "exceptions": {"rules": []},
    "reports": {"reports": []},
}


@functools.cache
def _schemas() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.schema.json"))}


@functools.cache
def _fast_validators() -> dict[str, Any]:
    """The same schemas in jsonschema-rs, which answers "valid?" a hundred times faster: a
    tenant of 20,000 fields took python-jsonschema seconds per document. Only a document it
    finds invalid goes through python-jsonschema, whose errors we turn into messages."""
    schemas = _schemas()
    registry = jsonschema_rs.Registry([(schema["$id"], schema) for schema in schemas.values()])
    return {name: jsonschema_rs.validator_for(schemas[f"{name}.schema.json"], registry=registry)
            for name in DOCUMENTS}


@functools.cache
def _validators() -> dict[str, Draft202012Validator]:
    schemas = _schemas()
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return {
        name: Draft202012Validator(
            schemas[f"{name}.schema.json"],
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        for name in DOCUMENTS
    }


#: How deeply objects and lists may nest in a configuration document: no tenant needs more,
#: and validating a deeper one could exhaust the stack.
MAX_DEPTH = 32


def depth(value: Any) -> int:
    """How deeply objects and lists nest in a document (without recursion)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, level = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in children)
    return deepest


def schema_of(document: str) -> dict[str, Any]:
    """The JSON Schema of one configuration document (for the docs and the API)."""
    return dict(_validators()[document].schema)


def validate_document(name: str, document: Any) -> list[ConfigProblem]:
    """All schema problems of one document, in document order."""
    file = f"{name}.json"
    if depth(document) > MAX_DEPTH:
        return [ConfigProblem(file, "", f"objects and lists are nested more than {MAX_DEPTH} deep",
                              "document_too_large")]
    if _fast_validators()[name].is_valid(document):
        return []
    errors = sorted(_validators()[name].iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [_problem(file, error) for error in _leaves(_without_follow_ons(errors))]


def _without_follow_ons(errors: list[ValidationError]) -> list[ValidationError]:
    """Drop what a mistyped ``type`` causes: the schemas choose the properties an object may
    have by its ``type`` (if/then/else), so ``"type": "mony"`` would also make ``min`` or
    ``max_length`` "not allowed". The one error about the type is the one to fix."""
    typos = {tuple(e.absolute_path)[:-1] for e in errors
             if e.validator == "enum" and list(e.absolute_path)[-1:] == ["type"]}
    if not typos:
        return errors
    return [e for e in errors if not (
        any(tuple(e.absolute_path)[:len(t)] == t for t in typos)
        and any(part in {"if", "then", "else"} for part in e.absolute_schema_path))]


def _leaves(errors: Iterable[ValidationError]) -> Iterable[ValidationError]:
    """Prefer the precise sub-errors of oneOf/anyOf when there is a single best one."""
    for error in errors:
        if error.validator in {"oneOf", "anyOf"} and error.context:
            deepest = max(error.context, key=lambda e: len(e.absolute_path))
            if len(deepest.absolute_path) > len(error.absolute_path):
                yield deepest
                continue
        yield error


def _problem(file: str, error: ValidationError) -> ConfigProblem:
    path = list(error.absolute_path)
    where = pointer(*path)
    hint = None
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - allowed)
        if unexpected:
            where = pointer(*path, unexpected[0])
            hint = closest(unexpected[0], allowed)
            message = f"unknown property {unexpected[0]!r}" + (
                f" (also: {', '.join(map(repr, unexpected[1:]))})" if unexpected[1:] else ""
            )
    elif error.validator == "enum" and isinstance(error.instance, str):
        hint = closest(error.instance, [str(v) for v in error.validator_value])
        message = f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}"
    elif error.validator == "not" and error.validator_value == {}:
        # The schemas forbid a property with {"not": {}} so that the pointer names it.
        message = f"{path[-1]!r} is not allowed here" if path else "not allowed here"
        message += " (this field type does not use it)" if file == "fields.json" else ""
        return ConfigProblem(file=file, pointer=where, message=message, code="schema.not_allowed")
    elif error.validator in {"oneOf", "anyOf"}:
        message = f"{error.instance!r} is not allowed here; expected {_alternatives(error)}"
    elif error.validator == "required":
        message = error.message.replace("is a required property", "is required")
    elif error.validator == "type":
        message = f"{error.instance!r} is not of type {error.validator_value!r}"
    return ConfigProblem(file=file, pointer=where, message=message, code=f"schema.{error.validator}", hint=hint)


def _alternatives(error: ValidationError) -> str:
    """What each branch of a oneOf/anyOf accepts, in words: "true or false, or an object
    with 'from_stage'"; a consultant should not have to read the schema to fix a value."""
    branches: dict[int, str] = {}
    for sub in error.context or []:
        index = sub.relative_schema_path[0] if sub.relative_schema_path else None
        if isinstance(index, int) and index not in branches:
            branches[index] = _accepts(sub.schema)
    return ", or ".join(branches[i] for i in sorted(branches)) or "another value"


def _accepts(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "another value"
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    kind = schema.get("type")
    if kind == "boolean":
        return "true or false"
    if kind == "object":
        required = schema.get("required", [])
        return "an object with " + ", ".join(map(repr, required)) if required else "an object"
    if kind == "string" and schema.get("pattern") == KEY_PATTERN:
        return "a key (lower case letters, digits and underscores, starting with a letter)"
    if kind == "string" and "pattern" in schema:
        return f"a text matching {schema['pattern']}"
    return f"a value of type {kind}" if kind else "another value"
