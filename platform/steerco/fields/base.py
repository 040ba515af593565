"""The contract every field type fulfils, and the registry that holds them.

A field type knows, for fields of its kind: which widget template renders it, how to
turn posted form input into a value, the JSON Schema of a valid value (jsonschema then
validates what was submitted), how to display and export a value, which rollups make
sense, and where its values live (the record's JSON values, the time-phased table,
attachments, or nowhere because they are computed) together with everything that
follows from that: reading many records' values at once, writing a change, telling
whether a change differs and whether a value is filled. Nothing else in the code
branches on a type name or a storage kind; it asks the field's type.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Protocol

from steerco.fields.display import Display, Formatter, as_display

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from steerco.config.model import Field, Period, TenantConfig
    from steerco.store.blobs import BlobStore
    from steerco.store.models import Record

Storage = Literal["values", "periods", "attachments", "computed"]
#: What a field's value is inside an expression, for the type check at load time
#: (``steerco.config.typecheck``): ids of users and records are their own kinds, so that
#: comparing a user with a number is refused like comparing a date with one.
ExpressionType = Literal["number", "text", "date", "bool", "list", "grid", "files", "user", "record"]


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


@dataclass(frozen=True)
class StoreContext:
    """What a type needs to write values that live outside the record's JSON."""

    session: "Session"
    tenant_id: int
    user_id: int
    periods: frozenset[str]
    blobs: "BlobStore | None" = None


#: reads the values of one storage kind for many records at once into ``found``
#: ({record id: {field key: value}}); one query whatever the number of records
Loader = Callable[["Session", int, dict[int, dict[str, Any]]], None]

#: a value as a CSV cell: a number stays a number so that a spreadsheet can compute with it
ExportValue = str | int | float | None

#: a spreadsheet cell as openpyxl reads it (or a CSV file gives it: text)
SheetCell = str | int | float | bool | dt.date | dt.datetime | None

#: finds the id a lookup field stores from what a spreadsheet names: ``(source, target
#: level, text)``, source "users" (an e-mail or a name) or "records" (a record number)
LookupResolver = Callable[[str, "str | None", str], "int | None"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class FieldInvalid(ValueError):
    """Input that cannot be turned into a value of the field's type; message is for the user.

    A field of several inputs (a grid's cells) names the inputs at fault in ``inputs``
    ({input name: message}) and gives back what was typed in ``typed``, so the form shows
    every typed cell again and marks only the bad ones.
    """

    def __init__(self, message: str, *, inputs: dict[str, str] | None = None, typed: Any = None):
        super().__init__(message)
        self.inputs = dict(inputs or {})
        self.typed = typed


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
    #: what a value of this type is inside an expression
    expression_type: ClassVar[ExpressionType] = "text"

    def value_expression_type(self, result_type: str | None) -> ExpressionType:
        """The expression type of a field of this type (a computed field answers for the
        type of its result, hence the argument)."""
        return self.expression_type
    #: one scalar per record in the record's JSON: may be a list or export column and a sort key
    tabular: ClassVar[bool] = True
    #: read from posted input (a computed value never is)
    accepts_input: ClassVar[bool] = True
    #: reads the values that live outside the record's JSON, for many records at once
    loader: ClassVar[Loader | None] = None
    #: how the record page and the PDF show the value (most show the display text)
    view_template: ClassVar[str] = "fields/_view_text.html"
    #: the view needs the page's full width (a year of months)
    wide: ClassVar[bool] = False
    #: a time-phased type's scenarios when the field's configuration names none (else ())
    default_scenarios: ClassVar[tuple[str, ...]] = ()

    def input_names(self, field: "Field") -> tuple[str, ...]:
        """Names of the form inputs this field posts (most post one, named by the key)."""
        return (field.key,)

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        """Turn posted input into a value, or raise FieldInvalid. Empty input is None.

        ``locale`` is the locale the input was typed in (a form: the tenant's, so that
        "5.000,50" is a number in de-DE); None means machine notation (the JSON API).
        """
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

    def api_schema(self, field: "Field") -> dict[str, Any]:
        """JSON Schema of a non-empty value of this field in the JSON API: what
        :meth:`json_value` gives and :meth:`form_input` takes. The tenant's OpenAPI
        document describes each level's fields with it, so a new field is documented
        without code; most types show their stored value."""
        return self.value_schema(field)

    #: the JSON API sets values of this type in a record's ``values`` (files are uploaded
    #: on their own, computed values never set)
    api_input: ClassVar[bool] = True

    def is_empty(self, value: Any) -> bool:
        return value is None or value == "" or value == [] or value == {}

    def is_filled(self, value: Any) -> bool:
        """Whether the value counts as entered (a gate's required field, a required input)."""
        return not self.is_empty(value)

    def accepts(self, value: Any) -> bool:
        """Whether a value (e.g. a computed result) has this type's shape, so it can be shown."""
        return isinstance(value, str)

    def display(self, field: "Field", value: Any, context: "Display | TenantConfig") -> str:
        """The value as text for pages, lists, history and reports ("" when empty)."""
        if self.is_empty(value):
            return ""
        if not self.accepts(value):
            return str(value)  # e.g. a history entry written when the field had another type
        return self.text(field, value, as_display(context))

    def text(self, field: "Field", value: Any, display: Display) -> str:
        """A non-empty value as text; types override this rather than :meth:`display`."""
        return str(value)

    def detail(self, field: "Field", value: Any, display: Display) -> Any:
        """Structured content for :attr:`view_template` beyond the text (a grid's cells)."""
        return None

    def export_value(self, field: "Field", value: Any, display: Display) -> ExportValue:
        """The value as a CSV cell: numbers as numbers, dates ISO, the rest as its text."""
        return None if self.is_empty(value) else self.text(field, value, display)

    def export_unit(self, field: "Field", display: Display) -> str | None:
        """The unit a column header names, so that cells can stay plain numbers."""
        return None

    def unit_label(self, field: "Field", currency: str) -> str:
        """What a time-phased field's amounts are counted in (a grid's corner, a chart's axis)."""
        return ""

    def amount(self, field: "Field", value: float, formatter: "Formatter") -> str:
        """A number that sums this field's values (a rollup of a grid), as text."""
        return formatter.number(value)

    #: :meth:`expression_value` gives more than the stored value
    typed_for_expressions: ClassVar[bool] = False

    def expression_value(self, field: "Field", value: Any) -> Any:
        """The value as an expression reads it (most: as stored; a measure grid adds which
        way is better, for ``on_track``)."""
        return value

    def value_problem(self, field: "Field", value: Any) -> str | None:
        """Why a stored value cannot be shown as this type, or None. A value written under
        an earlier configuration, where the field had another type, is reported rather
        than formatted into an error page."""
        if self.is_empty(value) or self.accepts(value):
            return None
        return f"cannot be shown: {_short(value)} is not a {self.label.lower()} value"

    def change_text(self, field: "Field", part: str, value: Any, display: Display) -> str:
        """One side of a change in the history; ``part`` is what follows the field key in
        the change's key (a grid cell's ``plan.2026-01``), usually empty."""
        return self.display(field, value, display)

    # -- storage -----------------------------------------------------------------------------
    def after_submit(self, current: Any, parsed: Any) -> Any:
        """The value once ``parsed`` (posted) is applied to ``current`` (stored)."""
        return parsed

    def differs(self, new: Any, old: Any) -> bool:
        """Whether posting ``new`` over ``old`` would change anything."""
        return not (self.is_empty(new) and self.is_empty(old)) and new != old

    def write_value(self, field: "Field", values: dict[str, Any], new: Any) -> dict[str, Any]:
        """Write a change into the record's JSON ``values``; {key: [old, new]} if it changed."""
        old = values.get(field.key)
        if old == new:
            return {}
        values[field.key] = new
        return {field.key: [old, new]}

    def write_related(self, context: StoreContext, record: "Record", field: "Field",
                      new: Any) -> dict[str, Any]:
        """Write a change that lives outside the record's JSON (after the record has an id)."""
        return {}

    def widget_value(self, field: "Field", value: Any, display: "Display | None" = None) -> Any:
        """The value as the widget shows it in an input (in the tenant's locale, given
        ``display``); text typed by the user and sent back with an error stays as typed."""
        return "" if value is None else value

    def sort_cast(self, field: "Field") -> str:
        """How SQL reads this field's stored value to sort or aggregate it."""
        return self.sql_cast

    def sort_key(self, value: Any) -> Any:
        return (value is None, value if value is not None else "")

    def check(self, field: "Field", value: Any, config: "TenantConfig") -> str | None:
        """A problem of a parsed value that depends on the tenant (beyond its JSON Schema)."""
        return None

    # -- spreadsheets (import and export) ------------------------------------------------------
    def import_columns(self, field: "Field", periods: "tuple[Period, ...]") -> tuple[tuple[str, str], ...]:
        """The columns an import may map onto this field: (form input name, label). Most
        fields take one column; a time-phased grid one per scenario and period; a field
        that takes no typed input (computed, files) none."""
        return ((field.key, field.label),) if self.accepts_input else ()

    def cell_input(self, field: "Field", name: str, cell: SheetCell,
                   resolve: LookupResolver) -> list[tuple[str, str]]:
        """A spreadsheet cell as the form input pairs that post it, so that :meth:`parse`
        and the save-time checks judge it exactly as a typed form value. Raises
        FieldInvalid when the cell cannot be one (an unknown user, say)."""
        if cell is None:
            return [(name, "")]
        if isinstance(cell, bool):
            return [(name, "1" if cell else "0")]
        if isinstance(cell, dt.datetime):
            return [(name, cell.date().isoformat() if cell.time() == dt.time() else cell.isoformat(sep=" "))]
        if isinstance(cell, dt.date):
            return [(name, cell.isoformat())]
        if isinstance(cell, float) and cell.is_integer():
            return [(name, str(int(cell)))]
        return [(name, str(cell))]

    def sheet_value(self, field: "Field", value: Any, display: Display) -> tuple[Any, str | None]:
        """A visible value as a typed spreadsheet cell: (value, number format or None).
        Most values go as their CSV cell; numbers, money and dates say how they read."""
        return self.export_value(field, value, display), None

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
