"""One small class per field type; each registers itself in :data:`registry`."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from steerco.fields.base import FieldInvalid, FieldType, FormInput, Upload, registry

if TYPE_CHECKING:
    from steerco.config.model import Field, TenantConfig

NUMERIC_ROLLUPS = frozenset({"none", "sum", "avg", "min", "max", "count"})


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


@registry.register
class Text(FieldType):
    key = "text"
    label = "Text"
    default_max_length: ClassVar[int] = 200

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "string", "maxLength": field.max_length or self.default_max_length}


@registry.register
class LongText(Text):
    key = "long_text"
    label = "Long text"
    template = "fields/_textarea.html"
    default_max_length = 10000


class _Number(FieldType):
    """Numbers are parsed as decimals so that '1.000,5' style typos are refused, not guessed."""

    # A text input: browsers silently drop or rewrite what a number input cannot parse
    # ("1,5" arrives as "15"), so the server's parser must see exactly what was typed.
    input_type = "text"
    inputmode = "decimal"
    rollups = NUMERIC_ROLLUPS
    sql_cast = "float"
    step: ClassVar[str] = "any"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
        raw = super().parse(field, form, uploads)
        if raw is None:
            return None
        try:
            number = Decimal(raw.replace(" ", "").replace("_", ""))
        except InvalidOperation:
            raise FieldInvalid("Enter a number, e.g. 1250.50.") from None
        return self.from_decimal(_within_limits(number))

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

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        if value is None:
            return ""
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"

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

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        return "" if value is None else f"{value:,.0f} {config.currency}"


@registry.register
class Percent(_Number):
    key = "percent"
    label = "Percent"

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        return "" if value is None else f"{value:g} %"


@registry.register
class Date(FieldType):
    key = "date"
    label = "Date"
    input_type = "date"
    rollups = frozenset({"none", "min", "max", "count"})

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
        raw = super().parse(field, form, uploads)
        if raw is None:
            return None
        try:
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise FieldInvalid("Enter a date as YYYY-MM-DD.") from None

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "string", "format": "date"}


@registry.register
class YesNo(FieldType):
    key = "yes_no"
    label = "Yes/no"
    template = "fields/_checkbox.html"
    rollups = frozenset({"none", "count"})
    sql_cast = "boolean"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
        # The widget posts a hidden "0" before the checkbox, so an unticked box still says
        # "no"; the engine parses only fields that were posted, so an absent one says nothing.
        return any(str(v).lower() in {"on", "true", "1", "yes"} for v in form.getlist(field.key))

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        # What the checkbox widget posts: "0" alone for no, "1" for yes.
        if not isinstance(value, bool):
            raise FieldInvalid("Send true or false.")
        return [(field.key, "1" if value else "0")]

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "boolean"}

    def is_empty(self, value: Any) -> bool:
        return value is None

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        return "" if value is None else ("Yes" if value else "No")


@registry.register
class SingleChoice(FieldType):
    key = "single_choice"
    label = "Single choice"
    template = "fields/_select.html"

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"enum": list(field.option_keys)}

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        return "" if value is None else field.option_label(value)


@registry.register
class MultipleChoice(FieldType):
    key = "multiple_choice"
    label = "Multiple choice"
    template = "fields/_checkboxes.html"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
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

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        return ", ".join(field.option_label(v) for v in value or [])

    def widget_value(self, field: "Field", value: Any) -> Any:
        return list(value or [])


class _Lookup(FieldType):
    """A field whose value is the id of a row the tenant owns (a user, a record)."""

    template = "fields/_lookup.html"
    sql_cast = "float"
    #: which lookup table of :class:`steerco.engine.forms.Lookups` offers the choices
    lookup: ClassVar[str]

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
        raw = super().parse(field, form, uploads)
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


@registry.register
class User(_Lookup):
    key = "user"
    label = "User"
    lookup = "users"


@registry.register
class Reference(_Lookup):
    key = "reference"
    label = "Reference to a record"
    lookup = "records"


@registry.register
class Evidence(FieldType):
    """Attached files; they live in the attachments table, the upload checked here."""

    key = "evidence"
    label = "Evidence attachment"
    template = "fields/_evidence.html"
    storage = "attachments"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
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


@registry.register
class MoneyGrid(FieldType):
    """Time-phased money: one amount per scenario and reporting period, in its own table."""

    key = "money_grid"
    label = "Time-phased money"
    template = "fields/_money_grid.html"
    storage = "periods"
    rollups = frozenset({"none", "sum"})

    @staticmethod
    def input_name(field: "Field", scenario: str, period: str) -> str:
        return f"{field.key}.{scenario}.{period}"

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

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
        grid: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for name in form.keys() if hasattr(form, "keys") else ():
            prefix, _, rest = str(name).partition(".")
            if prefix != field.key or not rest:
                continue
            scenario, _, period = rest.partition(".")
            if scenario not in (field.scenarios or ()):
                raise FieldInvalid(f"Unknown scenario {scenario!r}.")
            raw = str(form.get(name) or "").strip().replace(" ", "")
            if not raw:
                grid.setdefault(scenario, {})[period] = None
                continue
            try:
                amount = _within_limits(Decimal(raw))
            except InvalidOperation:
                problems.append(f"{period} {scenario}: {raw!r} is not a number")
                continue
            except FieldInvalid as exc:
                problems.append(f"{period} {scenario}: {exc}")
                continue
            if amount != amount.quantize(Decimal("0.01")):
                problems.append(f"{period} {scenario}: at most two decimals")
                continue
            grid.setdefault(scenario, {})[period] = float(amount)
        if problems:
            raise FieldInvalid("; ".join(problems) + ".")
        return grid

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {"type": "object"}

    def check(self, field: "Field", value: Any, config: "TenantConfig") -> str | None:
        known = {p.key for p in config.periods}
        unknown = sorted({period for amounts in (value or {}).values() for period in amounts} - known)
        if unknown:
            return (f"{', '.join(unknown)} outside the reporting periods "
                    f"({config.periods[0].key} to {config.periods[-1].key}).")
        return None

    def is_empty(self, value: Any) -> bool:
        return not value or all(v is None for periods in value.values() for v in periods.values())

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        if self.is_empty(value):
            return ""
        totals = {s: sum(v for v in p.values() if v is not None) for s, p in value.items()}
        return ", ".join(f"{s}: {t:,.0f} {config.currency}" for s, t in totals.items())


@registry.register
class Computed(FieldType):
    """Computed on the server from its expression; never read from a post."""

    key = "computed"
    label = "Computed"
    template = "fields/_computed.html"
    storage = "computed"
    rollups = NUMERIC_ROLLUPS
    sql_cast = "float"

    def parse(self, field: "Field", form: FormInput, uploads: dict[str, list[Upload]]) -> Any:
        return None

    def form_input(self, field: "Field", value: Any) -> list[tuple[str, str]]:
        raise FieldInvalid("This value is computed from other fields and cannot be set.")

    def result_kind(self, field: "Field") -> FieldType:
        return registry.get(field.result_type or "text")

    def value_schema(self, field: "Field") -> dict[str, Any]:
        return {}

    def sort_cast(self, field: "Field") -> str:
        return self.result_kind(field).sql_cast

    def display(self, field: "Field", value: Any, config: "TenantConfig") -> str:
        return self.result_kind(field).display(field, value, config)
