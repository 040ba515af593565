"""How values read to people: locale-aware formatting and resolved names, for every channel.

A :class:`Display` is what a field type needs to turn a stored value into text: the
tenant's locale and currency (numbers, money, percentages and dates are formatted with
Babel, so a German workspace reads ``25.000 €`` and a British one ``€25,000``), and the
names of the users and records that user and reference fields point to. The names are
resolved in bulk by the engine (``steerco.engine.fieldviews``) before anything is shown,
so no field type and no template ever queries the database.

The way back is here too: :func:`read_number` and :func:`read_date` read what a person
typed in the same locale (``5.000,50``, ``31.03.2027``), for the field types' parse step,
and times are shown in the tenant's time zone (:meth:`Formatter.moment`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, parse_date
from babel.numbers import (
    NumberFormatError, format_currency, format_decimal, format_percent, get_decimal_symbol, get_group_symbol,
    parse_decimal,
)

if TYPE_CHECKING:
    from steerco.config.model import TenantConfig

#: shown for a reference to a record the reader may not read: its title is not theirs to see
NOT_VISIBLE = "(not visible to you)"
#: shown for a user id that is no member of the workspace (any more)
UNKNOWN_USER = "(unknown user)"


@lru_cache(maxsize=64)
def _locale(tag: str) -> Locale:
    """A Babel locale from the configuration's ``de-DE`` style tag (English if unknown)."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en")


@lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo:
    """An IANA time zone (UTC when unknown: the configuration check refuses those)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc


@lru_cache(maxsize=64)
def _whole_currency_pattern(tag: str) -> str:
    """The locale's currency pattern without decimals, for whole amounts (``#,##0 ¤``)."""
    pattern = _locale(tag).currency_formats["standard"].pattern
    return pattern.split(";")[0].replace("0.00", "0")


class NotANumber(ValueError):
    """Typed text that is no number in the locale it was typed in."""


def read_number(text: str, locale: str | None) -> Decimal:
    """A number as a person typed it in ``locale`` (``5.000,50`` in de-DE, ``5,000.50`` in
    en), or in machine notation (``5000.50``) when ``locale`` is None: the JSON API, the
    demo loader and query strings send numbers the way programs write them.

    Babel reads it strictly: a group separator in the wrong place ("5.000,5" in English,
    "5000.50" in German) is refused rather than guessed, so a typo never saves a number a
    thousand times too large. Spaces (also the narrow no-break space French and Swiss
    numbers are grouped with) are ignored. Raises :class:`NotANumber`.
    """
    cleaned = "".join(c for c in text if not c.isspace() and c not in "\u00a0\u202f_")
    if locale is None:
        try:
            return Decimal(cleaned)
        except ArithmeticError:
            raise NotANumber(text) from None
    try:
        return parse_decimal(cleaned, locale=_locale(locale), strict=True)
    except (NumberFormatError, ArithmeticError, ValueError):
        raise NotANumber(text) from None


@lru_cache(maxsize=64)
def _date_input_pattern(tag: str) -> str:
    """The locale's short numeric date pattern with the full year (``dd.MM.y`` in de-DE,
    ``dd/MM/y`` in en-GB, ``M/d/y`` in en-US): what a person types and reads in a form."""
    return re.sub(r"y+", "y", _locale(tag).date_formats["short"].pattern)


def read_date(text: str, locale: str | None) -> dt.date:
    """A date typed as ISO ``2027-03-31`` (always understood) or in the locale's short
    form (``31.03.2027`` in de-DE, ``31/03/2027`` in en-GB). Raises ValueError."""
    text = text.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        if locale is None:
            raise
    if not re.fullmatch(r"\d{1,2}\D\d{1,2}\D\d{4}", text):
        raise ValueError(text)  # a two-digit year is a guess about the century: refused
    try:
        day = parse_date(text, locale=_locale(locale))
    except (ValueError, IndexError) as exc:
        raise ValueError(text) from exc
    # Babel swaps day and month when one is out of range and ignores the separators; a
    # date is taken only as the locale writes it, so 3/31/2027 is no date in de-DE.
    written = format_date(day, _date_input_pattern(locale), locale=_locale(locale))
    if _date_parts(written) != _date_parts(text):
        raise ValueError(text)
    return day


def _date_parts(text: str) -> tuple[Any, ...]:
    """Numbers and separators of a typed date, leading zeros ignored (1.3. = 01.03.)."""
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"\d+|\D+", text))


def date_example(locale: str | None) -> str:
    """31 March 2027 as the user would type it, for messages."""
    day = dt.date(2027, 3, 31)
    return day.isoformat() if locale is None else format_date(day, _date_input_pattern(locale), locale=_locale(locale))


def number_example(locale: str | None) -> str:
    """1250.50 as the user would type it, for messages ("Enter a number, e.g. 1.250,50.")."""
    if locale is None:
        return "1250.50"
    return format_decimal(Decimal("1250.50"), format="#,##0.00", locale=_locale(locale))


def _decimal(value: Any) -> Decimal:
    # Through str(): a float's shortest repr, so 0.1 stays 0.1 and not 0.1000000000000000055.
    return value if isinstance(value, Decimal) else Decimal(str(value))


# A form shows the same stored numbers and dates on every request: Babel's formatting of
# each was a tenth of a 30-field form's rendering, so the texts are kept per locale.
@lru_cache(maxsize=8192)
def _number_input(tag: str, text: str) -> str:
    """``text`` (a stored number's ``str()``, exact for Decimals) as an input shows it."""
    return format_decimal(Decimal(text), locale=_locale(tag), decimal_quantization=False)


@lru_cache(maxsize=8192)
def _date_input(tag: str, text: str) -> str:
    """A stored ISO date as an input shows it."""
    return format_date(dt.date.fromisoformat(text), _date_input_pattern(tag), locale=_locale(tag))


@dataclass(frozen=True)
class Formatter:
    """Numbers, money, percentages and dates in one locale and currency (Babel)."""

    locale: str = "en-GB"
    currency: str = "EUR"
    #: the IANA zone times are shown in; stored times are naive UTC
    timezone: str = "UTC"

    @property
    def babel_locale(self) -> Locale:
        return _locale(self.locale)

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(_decimal(value), locale=self.babel_locale)

    def money(self, value: int | float | Decimal) -> str:
        """Whole amounts without decimals (``25.000 €``), others with the currency's two."""
        amount = _decimal(value)
        if amount == amount.to_integral_value():
            return format_currency(amount, self.currency, format=_whole_currency_pattern(self.locale),
                                   locale=self.babel_locale, currency_digits=False)
        return format_currency(amount, self.currency, locale=self.babel_locale)

    def percent(self, value: int | float | Decimal) -> str:
        """A stored percentage (12.5 means 12.5 %), as the locale writes it (``12,5 %``)."""
        return format_percent(_decimal(value) / 100, locale=self.babel_locale, decimal_quantization=False)

    @property
    def decimal_symbol(self) -> str:
        """The locale's decimal sign, for the grid's script that sums cells as you type."""
        return get_decimal_symbol(self.babel_locale)

    @property
    def group_symbol(self) -> str:
        return get_group_symbol(self.babel_locale)

    def number_input(self, value: int | float | Decimal) -> str:
        """A stored number as an input shows it: in the locale, every decimal kept, so that
        saving the form unchanged reads back the same number (:func:`read_number`)."""
        return _number_input(self.locale, str(value))

    def date_input(self, value: str | dt.date) -> str:
        """A stored date as a form's input shows it (``31.03.2027`` in de-DE)."""
        if isinstance(value, str):
            return _date_input(self.locale, value)
        return format_date(value, _date_input_pattern(self.locale), locale=self.babel_locale)

    def moment(self, value: dt.datetime, with_time: bool = True) -> str:
        """A stored moment (naive UTC) in the tenant's time zone and locale
        (``31.03.2027 16:05`` in de-DE and Europe/Berlin; the day alone without time)."""
        local = value.replace(tzinfo=dt.timezone.utc).astimezone(_zone(self.timezone)) \
            if value.tzinfo is None else value.astimezone(_zone(self.timezone))
        day = format_date(local.date(), _date_input_pattern(self.locale), locale=self.babel_locale)
        if not with_time:
            return day
        return f"{day} {format_time(local, 'short', locale=self.babel_locale)}"

    def date(self, value: str | dt.date) -> str:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
        return format_date(day, "medium", locale=self.babel_locale)


@dataclass(frozen=True)
class Display:
    """Everything a field type needs to show a value: formatting and resolved names.

    ``users`` maps user ids to names, ``records`` record ids to "number title" for records
    the reader may read; an id missing from them shows as unknown or not visible.
    """

    formatter: Formatter = field(default_factory=Formatter)
    users: Mapping[int, str] = field(default_factory=dict)
    records: Mapping[int, str] = field(default_factory=dict)
    #: the tenant's reporting periods (keys), the columns of a time-phased grid
    periods: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: "TenantConfig", users: Mapping[int, str] | None = None,
           records: Mapping[int, str] | None = None) -> "Display":
        return cls(Formatter(config.locale, config.currency, config.timezone), users or {}, records or {},
                   tuple(p.key for p in config.periods))

    @property
    def currency(self) -> str:
        return self.formatter.currency

    def user(self, user_id: Any) -> str:
        return self.users.get(user_id, UNKNOWN_USER) if user_id is not None else ""

    def record(self, record_id: Any) -> str:
        return self.records.get(record_id, NOT_VISIBLE) if record_id is not None else ""


def as_display(context: "Display | TenantConfig") -> Display:
    """Callers may pass a compiled configuration where no names need resolving."""
    return context if isinstance(context, Display) else Display.of(context)
