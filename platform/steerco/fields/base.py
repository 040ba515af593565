"""The contract every field type fulfils, and the registry that holds them.

A field type knows, for fields of its kind: which widget template renders it, how to
turn posted form input into a value, the JSON Schema of a valid value (jsonschema then
validates what was submitted), how to display a value, which rollups make sense, and
where its values live (the record's JSON values, the time-phased table, attachments,
or nowhere because they are computed). Nothing else in the code branches on a type name.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    from steerco.config.model import Field, TenantConfig

Storage = Literal["values", "periods", "attachments", "computed"]


class FormInput(Protocol):
    """What the engine needs of posted form data (Werkzeug's MultiDict fits)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[Any]: ...


def clean_filename(name: str) -> str:
    """A file name safe to store and to send back in a Content-Disposition header.

    Control characters (NUL, CR, LF, tab, ...) and path separators become ``_``: a name
    with CR/LF stored as sent made every later download fail, since HTTP headers cannot
    carry line breaks. Letters of any script stay; at most 255 characters (empty: no file).
    """
    cleaned = "".join("_" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") or c in "/\\" else c
                      for c in name).strip()
    return cleaned[:255]


@dataclass(frozen=True)
class Upload:
    """A file posted for an evidence field, already read into memory by the web layer.

    The file name is cleaned on creation (:func:`clean_filename`), so no caller can store
    one that breaks a download.
    """

    filename: str
    content_type: str
    data: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "filename", clean_filename(self.filename))

    @property
    def size(self) -> int:
        return len(self.data)


class FieldInvalid(ValueError):
    """Input that cannot be turned into a value of the field's type; message is for the user."""


class FieldType:
    """Base class: a text-like field stored in the record's JSON values."""

    key: ClassVar[str]
    label: ClassVar[str]
    template: ClassVar[str] = "fields/_input.html"
    input_type: ClassVar[str] = "text"
    #: the on-screen keyboard to offer (HTML inputmode), if not plain text
    inputmode: ClassVar[str | None] = None
    storage: ClassVar[Storage] = "values"
    rollups: ClassVar[frozenset[str]] = frozenset({"none", "count"})
    #: how the stored JSON value is read in SQL to sort and aggregate (string, float, boolean)
    sql_cast: ClassVar[str] = "string"

    def input_names(self, field: "Field") -> tuple[str, ...]:
        """Names of the form inputs this field posts (most post one, named by the key)."""
        return (field.key,)

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
        """Turn posted input into a value, or raise FieldInvalid. Empty input is None."""
        raw = form.get(field.key)
        if raw is None:
            return None
        raw = str(raw).strip()
        return raw or None

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        """The form input pairs that post ``value``, a JSON value, through :meth:`parse`.

        The JSON API turns a body into these pairs and then into a form, so a value sent
        as JSON is parsed and validated by exactly the code that handles a browser's post;
        null clears the field. Raises FieldInvalid for a value of the wrong JSON type.
        """
        if value is None:
            return [(field.key, "")]
        if isinstance(value, str):
            return [(field.key, value)]
        raise FieldInvalid("Send a string, or null to clear the field.")

    def json_value(self, field: "Field", value: Any) -> Any:
        """The stored value as the JSON API shows it (most values are JSON already)."""
        return value

    def value_schema(self, field: "Field") -> dict[str, Any]:
        """JSON Schema of a valid, non-empty value of this field."""
        return {"type": "string"}

    def is_empty(self, value: Any) -> bool:
        return value is None or value == "" or value == [] or value == {}

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        """The value as text for pages, lists and reports."""
        return "" if self.is_empty(value) else str(value)

    def widget_value(self, field: "Field", value: Any) -> Any:
        """The value as the widget shows it in an input."""
        return "" if value is None else value

    def sort_cast(self, field: "Field") -> str:
        """How SQL reads this field's stored value to sort or aggregate it."""
        return self.sql_cast

    def sort_key(self, value: Any) -> Any:
        return (value is None, value if value is not None else "")

    def check(self, field: "Field", value: Any, config: "TenantConfig") -> str | None:
        """A problem of a parsed value that depends on the tenant (beyond its JSON Schema)."""
        return None

    def check_default(self, field: "Field") -> str | None:
        """A problem with the configured default value, or None when it is acceptable."""
        if field.default is None:
            return None
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(self.value_schema(field),
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        error = next(iter(validator.iter_errors(field.default)), None)
        if error is not None:
            return f"default {field.default!r} is not a valid {self.key} value: {error.message}"
        return None


class FieldTypeRegistry:
    """Field types by key; the only place a type name is looked up."""

    def __init__(self) -> None:
        self._types: dict[str, FieldType] = {}

    def register(self, cls: type[FieldType]) -> type[FieldType]:
        self._types[cls.key] = cls()
        return cls

    def get(self, key: str) -> FieldType:
        return self._types[key]

    def __contains__(self, key: str) -> bool:
        return key in self._types

    def keys(self) -> tuple[str, ...]:
        return tuple(self._types)


registry = FieldTypeRegistry()
