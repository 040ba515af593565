"""The field-type registry: ``registry.get(field.type)`` is the one way to a type's behaviour."""

from __future__ import annotations

from steerco.fields import types as _types  # noqa: F401 - registers the built-in types
from steerco.fields.base import FieldInvalid, FieldType, FormInput, Upload, registry

__all__ = ["FieldInvalid", "FieldType", "FormInput", "Upload", "registry"]
