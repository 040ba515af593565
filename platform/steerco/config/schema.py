"""JSON Schema validation of configuration documents, with messages for humans.

The schemas in ``config_schemas/`` are the contract of the configuration files; this
module loads them once, validates a document and turns jsonschema's errors into
:class:`ConfigProblem` values with a JSON Pointer and, for typos, a "did you mean".
"""

from __future__ import annotations

import functools
import json
from typing import Any, Iterable

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from steerco.config.errors import ConfigProblem, closest, pointer
from steerco.settings import RESOURCE_ROOT

SCHEMA_DIR = RESOURCE_ROOT / "config_schemas"
DOCUMENTS = ("tenant", "levels", "fields", "roles", "workflows", "exceptions", "reports")
#: documents a tenant may leave out, and what they mean when absent
OPTIONAL_DOCUMENTS: dict[str, dict[str, Any]] = {
    "workflows": {"workflows": []},
    "exceptions": {"rules": []},
    "reports": {"reports": []},
}


@functools.cache
def _validators() -> dict[str, Draft202012Validator]:
    schemas = {p.name: json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.schema.json"))}
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


def schema_of(document: str) -> dict[str, Any]:
    """The JSON Schema of one configuration document (for the docs and the API)."""
    return dict(_validators()[document].schema)


def validate_document(name: str, document: Any) -> list[ConfigProblem]:
    """All schema problems of one document, in document order."""
    file = f"{name}.json"
    errors = sorted(_validators()[name].iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [_problem(file, error) for error in _leaves(errors)]


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
    elif error.validator == "required":
        message = error.message.replace("is a required property", "is required")
    elif error.validator == "type":
        message = f"{error.instance!r} is not of type {error.validator_value!r}"
    return ConfigProblem(file=file, pointer=where, message=message, code=f"schema.{error.validator}", hint=hint)
