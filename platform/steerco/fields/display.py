"""How values read to people: locale-aware formatting and resolved names, for every channel.

A :class:`Display` is what a field type needs to turn a stored value into text: the
tenant's locale and currency (numbers, money, percentages and dates are formatted with
Babel, so a German workspace reads ``25.000 €`` and a British one ``€25,000``), and the
names of the users and records that user and reference fields point to. The names are
resolved in bulk by the engine (``steerco.engine.fieldviews``) before anything is shown,
so no field type and no template ever queries the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

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
def _whole_currency_pattern(tag: str) -> str:
    """The locale's currency pattern without decimals, for whole amounts (``#,##0 ¤``)."""
    pattern = _locale(tag).currency_formats["standard"].pattern
    return pattern.split(";")[0].replace("0.00", "0")


def _decimal(value: Any) -> Decimal:
    # Through str(): a float's shortest repr, so 0.1 stays 0.1 and not 0.1000000000000000055.
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class Formatter:
    """Numbers, money, percentages and dates in one locale and currency (Babel)."""

    locale: str = "en-GB"
    currency: str = "EUR"

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
        return cls(Formatter(config.locale, config.currency), users or {}, records or {},
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
