"""One small class per field type; each registers itself in :data:`registry`."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import re2
from sqlalchemy import select

from steerco.fields.base import (
    _short, ExportValue, ExpressionType, FieldInvalid, FieldType, FormInput, LookupResolver, SheetCell,
    StoreContext, Upload, registry,
)
from steerco.fields.display import Display, Formatter, NotANumber, date_example, number_example, read_date, read_number
from steerco.store.models import Attachment, PeriodValue

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from steerco.config.model import Field, Period, TenantConfig
    from steerco.store.models import Record

NUMERIC_ROLLUPS = frozenset({"none", "sum", "avg", "min", "max", "count"})


def _option_key(field: "Field", text: str) -> str:
    """A spreadsheet's choice, by key or by label (any case), as the option's key; text
    that names no option is passed on for the value check to refuse in its own words."""
    wanted = text.strip().casefold()
    for option in field.options:
        if wanted in (option.key.casefold(), option.label.casefold()):
            return option.key
    return text.strip()


#: Larger magnitudes lose precision as floats in SQL and make int() conversions costly.
LARGEST_NUMBER = Decimal("1e15")
#: the largest id of a row a user or reference field can name (INTEGER columns on PostgreSQL)
LARGEST_ID = 2**31 - 1


def _within_limits(number: Decimal) -> Decimal:
    if not number.is_finite():
        raise FieldInvalid("Enter a finite number.")
    if not number:
        return Decimal(0)  # "0e999999999" is zero, without its exponent
    # By the exponent, not by arithmetic: abs(Decimal("1e999999999")) overflows the context.
    if number.adjusted() >= LARGEST_NUMBER.adjusted():
        raise FieldInvalid("This number is too large.")
    return number


def _bounded(schema: dict[str, Any], field: "Field") -> dict[str, Any]:
    if field.min is not None:
        schema["minimum"] = field.min
    if field.max is not None:
        schema["maximum"] = field.max
    return schema


@functools.cache
def compile_pattern(regex: str) -> Any:
    """A text field's ``pattern``, compiled by RE2: matching takes linear time whatever the
    pattern, so a consultant's regular expression cannot stall a save (no backtracking).
    Raises ValueError for a pattern RE2 cannot compile (e.g. a backreference)."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(regex, options)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(message) from None


@registry.register
class Text(FieldType):
    key = "text"
    label = "Text"
    default_max_length: ClassVar[int] = 200

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "string", "maxLength": field.max_length or self.default_max_length}

    def check(self, field: "Field", value: Any, config: "TenantConfig") -> str | None:
        # The pattern is checked here rather than in the JSON Schema so that the user reads
        # the tenant's message ("Use the form AB-1234"), not the regular expression.
        if field.pattern and isinstance(value, str) and not compile_pattern(field.pattern).search(value):
            return field.pattern_message
        return None

    def check_default(self, field: "Field") -> str | None:
        problem = super().check_default(field)
        if problem is None and isinstance(field.default, str) and field.pattern \
                and not compile_pattern(field.pattern).search(field.default):
            return f"default {field.default!r} does not match the pattern {field.pattern!r}"
        return problem


@registry.register
class LongText(Text):
    key = "long_text"
    label = "Long text"
    template = "fields/_textarea.html"
    default_max_length = 10000


class _Number(FieldType):
    """Numbers are read as decimals in the locale they were typed in (thousands separators
    and the decimal comma of de-DE accepted); a separator in the wrong place is refused,
    not guessed (:func:`steerco.fields.display.read_number`)."""

    # A text input: browsers silently drop or rewrite what a number input cannot parse
    # ("1,5" arrives as "15"), so the server's parser must see exactly what was typed.
    input_type = "text"
    inputmode = "decimal"
    rollups = NUMERIC_ROLLUPS
    sql_cast = "float"
    expression_type = "number"
    step: ClassVar[str] = "any"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        raw = super().parse(field, form, uploads, locale)
        if raw is None:
            return None
        try:
            number = read_number(raw, locale)
        except NotANumber:
            raise FieldInvalid(f"Enter a number, e.g. {number_example(locale)}.") from None
        return self.from_decimal(_within_limits(number))

    def widget_value(self, field: "Field", value: Any, display: Display | None = None) -> Any:
        if display is not None and self.accepts(value):
            return display.formatter.number_input(value)
        return super().widget_value(field, value, display)

    def from_decimal(self, number: Decimal) -> Any:
        return int(number) if number == number.to_integral_value() else float(number)

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        # A JSON number is written out as typed text, so the decimal parser (and its
        # refusal of NaN, huge magnitudes and extra decimals) decides, as for a form.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return [(field.key, str(value))]
        if value is None or isinstance(value, str):
            return super().form_input(field, value)
        raise FieldInvalid("Send a number, or null to clear the field.")

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return _bounded({"type": "number"}, field)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) \
            and Decimal(str(value)).is_finite()

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return display.formatter.number(value)

    def export_value(self, field: "Field", value: Any, display: Display) -> ExportValue:
        # A number as a number: a spreadsheet sums it; the unit goes into the header.
        return None if value is None else value

    def sort_key(self, value: Any) -> Any:
        return (value is None, value if value is not None else 0)


@registry.register
class Integer(_Number):
    key = "integer"
    label = "Whole number"
    step = "1"

    def from_decimal(self, number: Decimal) -> Any:
        if number != number.to_integral_value():
            raise FieldInvalid("Enter a whole number.")
        return int(number)

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return _bounded({"type": "integer"}, field)

    def accepts(self, value: Any) -> bool:
        return super().accepts(value) and value == int(value)


@registry.register
class DecimalNumber(_Number):
    key = "decimal"
    label = "Decimal number"


@registry.register
class Money(_Number):
    key = "money"
    label = "Money"
    step = "0.01"

    def from_decimal(self, number: Decimal) -> Any:
        if number != number.quantize(Decimal("0.01")):
            raise FieldInvalid("Money has at most two decimals.")
        return super().from_decimal(number)

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return display.formatter.money(value)

    def export_unit(self, field: "Field", display: Display) -> str | None:
        return display.currency

    def sheet_value(self, field: "Field", value: Any, display: Display) -> tuple[Any, str | None]:
        return value, f'#,##0.00 "{display.currency}"'


@registry.register
class Percent(_Number):
    key = "percent"
    label = "Percent"

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return display.formatter.percent(value)

    def export_unit(self, field: "Field", display: Display) -> str | None:
        return "%"

    def sheet_value(self, field: "Field", value: Any, display: Display) -> tuple[Any, str | None]:
        # A spreadsheet's own percentage (12.5 % is 0.125), so it computes like one.
        return float(Decimal(str(value)) / 100), "0.0##%"


@registry.register
class Date(FieldType):
    """A day, typed in the tenant's short date form (``31.03.2027`` in de-DE) or as ISO.

    A text input rather than the browser's date input: that one shows the browser's
    locale (mm/dd/yyyy in an English browser), not the workspace's."""

    key = "date"
    label = "Date"
    input_type = "text"
    rollups = frozenset({"none", "min", "max", "count"})
    expression_type = "date"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        raw = super().parse(field, form, uploads, locale)
        if raw is None:
            return None
        try:
            return read_date(raw, locale).isoformat()
        except ValueError:
            raise FieldInvalid("Enter a date as YYYY-MM-DD." if locale is None else
                               f"Enter a date, e.g. {date_example(locale)}, or as YYYY-MM-DD.") from None

    def widget_value(self, field: "Field", value: Any, display: Display | None = None) -> Any:
        if display is not None and self.accepts(value):
            return display.formatter.date_input(value)
        return super().widget_value(field, value, display)

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    def accepts(self, value: Any) -> bool:
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return display.formatter.date(value)

    def export_value(self, field: "Field", value: Any, display: Display) -> ExportValue:
        return value or None  # stored as an ISO date, which every spreadsheet reads

    def sheet_value(self, field: "Field", value: Any, display: Display) -> tuple[Any, str | None]:
        return dt.date.fromisoformat(value), "yyyy-mm-dd"

    def cell_input(self, field: "Field", name: str, cell: SheetCell,
                   resolve: LookupResolver) -> list[tuple[str, str]]:
        if isinstance(cell, dt.datetime):  # a spreadsheet's date is a datetime at midnight
            return [(name, cell.date().isoformat())]
        return super().cell_input(field, name, cell, resolve)


@registry.register
class YesNo(FieldType):
    key = "yes_no"
    label = "Yes/no"
    template = "fields/_checkbox.html"
    rollups = frozenset({"none", "count"})
    sql_cast = "boolean"
    expression_type = "bool"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        # The widget posts a hidden "0" before the checkbox, so an unticked box still says
        # "no"; the engine parses only fields that were posted, so an absent one says nothing.
        return any(str(v).lower() in {"on", "true", "1", "yes"} for v in form.getlist(field.key))

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        # What the checkbox widget posts: "0" alone for no, "1" for yes.
        if not isinstance(value, bool):
            raise FieldInvalid("Send true or false.")
        return [(field.key, "1" if value else "0")]

    YES = frozenset({"1", "yes", "y", "true", "x", "on", "ja", "oui", "si", "sí", "wahr"})
    NO = frozenset({"0", "no", "n", "false", "off", "nein", "non", "falsch"})

    def cell_input(self, field: "Field", name: str, cell: SheetCell,
                   resolve: LookupResolver) -> list[tuple[str, str]]:
        # "no" must read as no: the form's parser takes anything it does not know for no,
        # which is right for a checkbox and wrong for a typo in a spreadsheet.
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            return []
        text = str(int(cell) if isinstance(cell, (int, float)) and not isinstance(cell, bool)
                   and float(cell).is_integer() else cell).strip().casefold()
        if text in self.YES:
            return [(name, "1")]
        if text in self.NO:
            return [(name, "0")]
        raise FieldInvalid("Enter yes or no.")

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "boolean"}

    def is_empty(self, value: Any) -> bool:
        return value is None

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return "Yes" if value else "No"


@registry.register
class SingleChoice(FieldType):
    key = "single_choice"
    label = "Single choice"
    template = "fields/_select.html"

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"enum": list(field.option_keys)}

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return field.option_label(value)

    def cell_input(self, field: "Field", name: str, cell: SheetCell,
                   resolve: LookupResolver) -> list[tuple[str, str]]:
        if isinstance(cell, str) and cell.strip():
            return [(name, _option_key(field, cell))]
        return super().cell_input(field, name, cell, resolve)


@registry.register
class MultipleChoice(FieldType):
    key = "multiple_choice"
    label = "Multiple choice"
    template = "fields/_checkboxes.html"
    expression_type = "list"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        chosen = [str(v) for v in form.getlist(field.key) if str(v).strip()]
        return chosen or None

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        # One input per ticked box; a lone empty input (no box ticked) clears the field.
        if value is None or value == []:
            return [(field.key, "")]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FieldInvalid("Send a list of option keys.")
        return [(field.key, v) for v in value]

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "array", "items": {"enum": list(field.option_keys)}, "uniqueItems": True}

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return ", ".join(field.option_label(v) for v in value or [])

    def widget_value(self, field: "Field", value: Any, display: Display | None = None) -> Any:
        return list(value or [])

    def cell_input(self, field: "Field", name: str, cell: SheetCell,
                   resolve: LookupResolver) -> list[tuple[str, str]]:
        # Several options in one cell, separated by commas or semicolons.
        parts = [p for p in str(cell or "").replace(";", ",").split(",") if p.strip()]
        return [(name, _option_key(field, p)) for p in parts] or [(name, "")]


class _Lookup(FieldType):
    """A field whose value is the id of a row the tenant owns (a user, a record)."""

    template = "fields/_lookup.html"
    sql_cast = "float"
    #: which lookup table of :class:`steerco.engine.forms.Lookups` offers the choices
    lookup: ClassVar[str]

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        raw = super().parse(field, form, uploads, locale)
        if raw is None:
            return None
        # Plain digits within the id columns' range (INTEGER on PostgreSQL): a longer number
        # names nothing and would overflow the database driver.
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= LARGEST_ID):
            raise FieldInvalid("Choose one of the offered entries.")
        return int(raw)

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        if isinstance(value, int) and not isinstance(value, bool):
            return [(field.key, str(value))]
        if value is None or isinstance(value, str):
            return super().form_input(field, value)
        raise FieldInvalid("Send the id of one of the offered entries.")

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "integer", "minimum": 1}

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    #: what a spreadsheet names an entry by, for the message when none is found
    named_by: ClassVar[str] = ""

    def cell_input(self, field: "Field", name: str, cell: SheetCell,
                   resolve: LookupResolver) -> list[tuple[str, str]]:
        text = "" if cell is None else str(cell).strip()
        if not text:
            return [(name, "")]
        found = resolve(self.lookup, field.target_level, text)
        if found is None:
            raise FieldInvalid(f"No {self.named_by} {text!r} found.")
        return [(name, str(found))]


@registry.register
class User(_Lookup):
    key = "user"
    label = "User"
    lookup = "users"
    expression_type = "user"
    named_by = "member with the e-mail or name"

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return display.user(value)


@registry.register
class Reference(_Lookup):
    key = "reference"
    label = "Reference to a record"
    lookup = "records"
    expression_type = "record"
    named_by = "readable record numbered"

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return display.record(value)


def _load_periods(session: "Session", tenant_id: int, found: dict[int, dict[str, Any]]) -> None:
    """Every time-phased amount of the records in ``found``, in one query (plain rows, not
    ORM objects: a page of 200 records carries thousands of amounts)."""
    for record_id, field_key, scenario, period, amount in session.execute(select(
            PeriodValue.record_id, PeriodValue.field_key, PeriodValue.scenario, PeriodValue.period,
            PeriodValue.amount).where(PeriodValue.tenant_id == tenant_id, PeriodValue.record_id.in_(found))):
        found[record_id].setdefault(field_key, {}).setdefault(scenario, {})[period] = float(amount)


def _load_attachments(session: "Session", tenant_id: int, found: dict[int, dict[str, Any]]) -> None:
    """Every attached file (metadata only) of the records in ``found``, in one query."""
    for att in session.scalars(select(Attachment).where(
            Attachment.tenant_id == tenant_id, Attachment.record_id.in_(found),
            Attachment.deleted_at.is_(None)).order_by(Attachment.id)):
        found[att.record_id].setdefault(att.field_key, []).append(att)


@registry.register
class Evidence(FieldType):
    """Attached files; they live in the attachments table, the upload checked here."""

    key = "evidence"
    label = "Evidence attachment"
    template = "fields/_evidence.html"
    storage = "attachments"
    expression_type = "files"
    tabular = False
    loader = staticmethod(_load_attachments)
    view_template = "fields/_evidence_view.html"

    def import_columns(self, field: "Field", periods: "tuple[Period, ...]") -> tuple[tuple[str, str], ...]:
        return ()  # files are uploaded on the record, not typed into a spreadsheet

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        files = [u for u in uploads.get(field.key, []) if u.filename]
        limit = int(field.max_size_mb * 1024 * 1024)
        for upload in files:
            extension = os.path.splitext(upload.filename)[1].lower()
            if field.accept and extension not in field.accept:
                raise FieldInvalid(
                    f"{upload.filename}: only {', '.join(field.accept)} files are accepted."
                )
            if upload.size > limit:
                raise FieldInvalid(
                    f"{upload.filename} is {upload.size / 1048576:.1f} MB; "
                    f"the limit is {field.max_size_mb:g} MB."
                )
            if upload.size == 0:
                raise FieldInvalid(f"{upload.filename} is empty.")
        return files

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        raise FieldInvalid("Upload files through the form; the JSON API cannot attach them.")

    def json_value(self, field: "Field", value: Any) -> Any:
        # Metadata only: the bytes are downloaded through the record's page.
        return [{"id": a.id, "filename": a.filename, "size": a.size} for a in value or []]

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "array"}

    api_input = False

    def api_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "array", "readOnly": True, "items": {
            "type": "object", "required": ["id", "filename", "size"],
            "properties": {"id": {"type": "integer"}, "filename": {"type": "string"}, "size": {"type": "integer"}}}}

    def is_empty(self, value: Any) -> bool:
        # Files count, stored or being uploaded with this save; anything else in the list
        # (a stray JSON value) does not.
        return not [a for a in value or [] if isinstance(a, (Attachment, Upload))]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return ", ".join(a.filename for a in value if isinstance(a, Attachment))

    def detail(self, field: "Field", value: Any, display: Display) -> Any:
        return [a for a in value or [] if isinstance(a, Attachment)]

    def change_text(self, field: "Field", part: str, value: Any, display: Display) -> str:
        # The audit trail records the names of the files attached: {"attached": [names]}.
        if isinstance(value, dict) and "attached" in value:
            return "attached " + ", ".join(map(str, value["attached"]))
        return "" if value is None else str(value)

    def after_submit(self, current: Any, parsed: Any) -> Any:
        return [*(current or []), *(parsed or [])]

    def differs(self, new: Any, old: Any) -> bool:
        return bool(new)  # posted uploads are always new files

    def write_value(self, field: "Field", values: dict[str, Any], new: Any) -> dict[str, Any]:
        return {}

    def write_related(self, context: StoreContext, record: "Record", field: "Field",
                      new: Any) -> dict[str, Any]:
        uploads: list[Upload] = [u for u in new or [] if isinstance(u, Upload)]
        if not uploads:
            return {}
        if context.blobs is None:
            from steerco.engine.errors import Forbidden  # the engine's refusal, raised here

            raise Forbidden("file uploads are not available here")
        for upload in uploads:
            key = context.blobs.put(context.tenant_id, upload.data)
            context.session.add(Attachment(
                tenant_id=context.tenant_id, record_id=record.id, field_key=field.key,
                filename=upload.filename[:255],
                content_type=upload.content_type[:127] or "application/octet-stream",
                size=upload.size, sha256=hashlib.sha256(upload.data).hexdigest(), storage_key=key,
                uploaded_by_id=context.user_id))
        return {field.key: [None, {"attached": [u.filename for u in uploads]}]}


@registry.register
class MoneyGrid(FieldType):
    """Time-phased money: one amount per scenario and reporting period, in its own table."""

    key = "money_grid"
    label = "Time-phased money"
    #: the scenarios a field of this type has when its configuration names none
    default_scenarios: ClassVar[tuple[str, ...]] = ("plan", "forecast", "actual")
    #: the edit grid adds up its columns (plan + forecast + actual of a month is money)
    column_totals: ClassVar[bool] = True
    template = "fields/_money_grid.html"
    storage = "periods"
    rollups = frozenset({"none", "sum"})
    expression_type = "grid"
    tabular = False
    loader = staticmethod(_load_periods)
    view_template = "fields/_money_grid_view.html"
    wide = True

    @staticmethod
    def input_name(field: "Field", scenario: str, period: str) -> str:
        return f"{field.key}.{scenario}.{period}"

    def unit_label(self, field: "Field", currency: str) -> str:
        """What the grid's amounts are counted in (its corner heading): money, here."""
        return currency

    def amount(self, field: "Field", value: float, formatter: "Formatter") -> str:
        """One amount (a cell's change in the history, a scenario's total, a rollup) as text."""
        return formatter.money(value)

    def import_columns(self, field: "Field", periods: "tuple[Period, ...]") -> tuple[tuple[str, str], ...]:
        # One column per scenario and period ("Financials plan Jan 2026").
        return tuple((self.input_name(field, scenario, period.key), f"{field.label} {scenario} {period.label}")
                     for scenario in field.scenarios for period in periods)

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        # {scenario: {period: amount}} becomes one grid cell input per amount; cells not
        # sent stay as they are, null empties a cell.
        shape = "Send an object of scenarios, each an object of periods (YYYY-MM) and amounts."
        if not isinstance(value, dict) or not all(isinstance(p, dict) for p in value.values()):
            raise FieldInvalid(shape)
        pairs = []
        for scenario, amounts in value.items():
            for period, amount in amounts.items():
                if isinstance(amount, bool) or not isinstance(amount, (int, float, str, type(None))):
                    raise FieldInvalid(f"{period} {scenario}: send a number or null.")
                pairs.append((self.input_name(field, scenario, period), "" if amount is None else str(amount)))
        return pairs

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        """Every posted cell read in ``locale``; a bad cell is named in the error's
        ``inputs`` while every other cell keeps what was typed (``typed``)."""
        grid: dict[str, dict[str, Any]] = {}
        typed: dict[str, dict[str, str]] = {}
        problems: dict[str, str] = {}
        for name in form.keys() if hasattr(form, "keys") else ():
            prefix, _, rest = str(name).partition(".")
            if prefix != field.key or not rest:
                continue
            scenario, _, period = rest.partition(".")
            if scenario not in (field.scenarios or ()):
                raise FieldInvalid(f"Unknown scenario {scenario!r}.")
            raw = str(form.get(name) or "").strip()
            typed.setdefault(scenario, {})[period] = raw
            try:
                grid.setdefault(scenario, {})[period] = self._cell(raw, locale)
            except FieldInvalid as exc:
                problems[str(name)] = f"{period} {scenario}: {exc}"
        if problems:
            raise FieldInvalid("; ".join(problems.values()) + ".", inputs=problems, typed=typed)
        return grid

    @staticmethod
    def _cell(raw: str, locale: str | None) -> float | None:
        """One cell's amount (None when empty), or FieldInvalid saying why not."""
        if not raw:
            return None
        try:
            amount = _within_limits(read_number(raw, locale))
        except NotANumber:
            raise FieldInvalid(f"{raw!r} is not a number (e.g. {number_example(locale)})") from None
        if amount != amount.quantize(Decimal("0.01")):
            raise FieldInvalid("at most two decimals")
        return float(amount)

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "object"}

    def api_schema(self, field: "Field") -> dict[str, Any]:
        # {scenario: {period (YYYY-MM): amount or null}}
        amounts = {"type": "object", "propertyNames": {"pattern": "^[0-9]{4}-[0-9]{2}$"},
                   "additionalProperties": {"type": ["number", "null"]}}
        return {"type": "object", "properties": {s: amounts for s in field.scenarios or ()},
                "additionalProperties": False}

    def check(self, field: "Field", value: Any, config: "TenantConfig") -> str | None:
        known = {p.key for p in config.periods}
        unknown = sorted({period for amounts in (value or {}).values() for period in amounts} - known)
        if unknown:
            return (f"{', '.join(unknown)} outside the reporting periods "
                    f"({config.periods[0].key} to {config.periods[-1].key}).")
        return None

    def is_empty(self, value: Any) -> bool:
        # A grid counts as filled once one amount is entered.
        return not value or not isinstance(value, dict) or all(
            v is None for periods in value.values() if isinstance(periods, dict) for v in periods.values())

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    @staticmethod
    def _totals(value: dict[str, dict[str, Any]]) -> dict[str, float]:
        return {s: sum(v for v in p.values() if v is not None) for s, p in value.items()}

    def text(self, field: "Field", value: Any, display: Display) -> str:
        return ", ".join(f"{s}: {self.amount(field, t, display.formatter)}" for s, t in self._totals(value).items())

    def detail(self, field: "Field", value: Any, display: Display) -> Any:
        """Rows of formatted cells, one per scenario, over the tenant's periods (set by the
        caller as ``display.periods``), each with its total."""
        grid = value if isinstance(value, dict) else {}
        money = display.formatter.number
        rows = []
        for scenario in field.scenarios:
            amounts = grid.get(scenario) or {}
            cells = [money(amounts[p]) if amounts.get(p) is not None else "" for p in display.periods]
            total = sum(v for v in amounts.values() if v is not None)
            rows.append((scenario, cells, money(total)))
        return rows

    def change_text(self, field: "Field", part: str, value: Any, display: Display) -> str:
        # A grid's change is one cell ("financials.plan.2026-01"): an amount.
        if part:
            return "" if value is None else self.amount(field, value, display.formatter)
        return self.display(field, value, display)

    def export_unit(self, field: "Field", display: Display) -> str | None:
        return display.currency

    def after_submit(self, current: Any, parsed: Any) -> Any:
        merged = {s: dict(p) for s, p in (current or {}).items()}
        for scenario, amounts in (parsed or {}).items():
            merged.setdefault(scenario, {}).update(amounts)
        return merged

    def differs(self, new: Any, old: Any) -> bool:
        return not self.is_empty(new) and new != old

    def write_value(self, field: "Field", values: dict[str, Any], new: Any) -> dict[str, Any]:
        return {}

    def write_related(self, context: StoreContext, record: "Record", field: "Field",
                      new: Any) -> dict[str, Any]:
        existing = {(r.scenario, r.period): r for r in context.session.scalars(select(PeriodValue).where(
            PeriodValue.tenant_id == context.tenant_id, PeriodValue.record_id == record.id,
            PeriodValue.field_key == field.key))}
        diff: dict[str, Any] = {}
        for scenario, amounts in (new or {}).items():
            for period, amount in amounts.items():
                if period not in context.periods:
                    continue
                row = existing.get((scenario, period))
                old = float(row.amount) if row else None
                if old == amount:
                    continue
                diff[f"{field.key}.{scenario}.{period}"] = [old, amount]
                if amount is None and row is not None:
                    context.session.delete(row)
                elif row is not None:
                    row.amount = Decimal(str(amount))
                elif amount is not None:
                    context.session.add(PeriodValue(
                        tenant_id=context.tenant_id, record_id=record.id, field_key=field.key,
                        period=period, scenario=scenario, amount=Decimal(str(amount))))
        return diff


@registry.register
class MeasureGrid(MoneyGrid):
    """Time-phased numbers that are not money: a KPI's target and actual per period (with
    its ``unit`` and ``direction``), or planned and actual hours. Stored, entered and
    imported like a money grid; the view adds a status row when the grid has a target and
    an actual, and expressions read that status with ``on_track(field)``."""

    key = "measure_grid"
    label = "Time-phased measure"
    default_scenarios = ("target", "actual")
    column_totals = False
    typed_for_expressions = True

    def unit_label(self, field: "Field", currency: str) -> str:
        return field.unit

    def amount(self, field: "Field", value: float, formatter: "Formatter") -> str:
        number = formatter.number(value)
        return f"{number} {field.unit}" if field.unit else number

    def export_unit(self, field: "Field", display: Display) -> str | None:
        return field.unit or None

    def expression_value(self, field: "Field", value: Any) -> Any:
        from steerco.config.expressions import Series  # the language's own value; config imports fields

        return Series(value, field.direction)

    def detail(self, field: "Field", value: Any, display: Display) -> Any:
        rows = super().detail(field, value, display)
        if not {"target", "actual"} <= set(field.scenarios):
            return rows
        from steerco.config.expressions import on_track

        series = self.expression_value(field, value)
        words = {True: "on track", False: "off track", None: ""}
        rows.append(("status", [words[on_track(series, p)] for p in display.periods], words[on_track(series)]))
        return rows


@registry.register
class Computed(FieldType):
    """Computed on the server from its expression; never read from a post."""

    key = "computed"
    label = "Computed"
    template = "fields/_computed.html"
    storage = "computed"
    rollups = NUMERIC_ROLLUPS
    sql_cast = "float"
    accepts_input = False

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]],
              locale: str | None = None) -> Any:
        return None

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        raise FieldInvalid("This value is computed from other fields and cannot be set.")

    def result_kind(self, field: "Field") -> FieldType:
        return registry.get(field.result_type or "text")

    def value_expression_type(self, result_type: str | None) -> ExpressionType:
        return registry.get(result_type or "text").expression_type

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {}

    api_input = False

    def api_schema(self, field: "Field") -> dict[str, Any]:
        # The result's JSON type only: a value the expression got wrong is null (and named
        # in the record's "problems"), never a value outside the result type.
        kind = self.result_kind(field).api_schema(field)
        return {"readOnly": True, **({"type": kind["type"]} if "type" in kind else {})}

    def sort_cast(self, field: "Field") -> str:
        return self.result_kind(field).sql_cast

    def accepts(self, value: Any) -> bool:
        return True

    def value_problem(self, field: "Field", value: Any) -> str | None:
        """A result of another type than ``result_type`` (a text where a number belongs)
        is not shown as if it were one: the field reports a problem instead of failing."""
        kind = self.result_kind(field)
        if kind.is_empty(value) or kind.accepts(value):
            return None
        return f"cannot be computed: the expression gave {_short(value)}, not a {kind.label.lower()}"

    def is_empty(self, value: Any) -> bool:
        return value is None or value == "" or value == [] or value == {}

    def display(self, field: "Field", value: Any, context: "Display | TenantConfig") -> str:
        if self.value_problem(field, value):
            return ""
        return self.result_kind(field).display(field, value, context)

    def export_value(self, field: "Field", value: Any, display: Display) -> ExportValue:
        if self.value_problem(field, value):
            return None
        return self.result_kind(field).export_value(field, value, display)

    def export_unit(self, field: "Field", display: Display) -> str | None:
        return self.result_kind(field).export_unit(field, display)

    def sheet_value(self, field: "Field", value: Any, display: Display) -> tuple[Any, str | None]:
        if self.value_problem(field, value) or self.result_kind(field).is_empty(value):
            return None, None
        return self.result_kind(field).sheet_value(field, value, display)

    def write_value(self, field: "Field", values: dict[str, Any], new: Any) -> dict[str, Any]:
        return {}  # computed by the engine after every change, never written from input
