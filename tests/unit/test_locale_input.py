"""Numbers and dates typed in the tenant's locale: every field type's parse step reads
them through Babel, so "5.000,50" in a German workspace and "5,000.50" in an English one
are the same amount, in forms, in the form's live checks and in grid cells alike; machine
notation (no locale: the JSON API, the demo loader) stays as it was."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from steerco.config.model import Field
from steerco.fields import FieldInvalid, registry
from steerco.fields.display import Display, Formatter, read_number


def make(type_key: str, key: str = "f", **attributes: Any) -> Field:
    return Field(key=key, label=key.title(), type=type_key, kind=registry.get(type_key), **attributes)


def parse(field: Field, locale: str | None, *pairs: tuple[str, str]) -> Any:
    return field.kind.parse(field, MultiDict(pairs), {}, locale)


@pytest.mark.parametrize(("locale", "typed"), [
    ("de-DE", "5.000,50"), ("de-DE", "5000,5"), ("de-DE", "5 000,50"),
    ("en", "5,000.50"), ("en-GB", "5000.5"), ("fr-FR", "5\u202f000,50"),
    (None, "5000.50"),
])
def test_money_typed_in_the_locale_is_read_as_the_amount(locale, typed):
    assert parse(make("money"), locale, ("f", typed)) == 5000.5
    assert parse(make("decimal"), locale, ("f", typed)) == 5000.5


@pytest.mark.parametrize(("locale", "typed"), [
    ("de-DE", "5,000.50"),   # English grouping in a German workspace: refused, not 5.0005
    ("de-DE", "5000.50"),    # a group sign before two digits is a typo, not 500050
    ("en", "5.000,50"),
    ("en", "1.5k"),
    (None, "5.000,50"),      # the API speaks machine notation only
])
def test_a_separator_in_the_wrong_place_is_refused_not_guessed(locale, typed):
    with pytest.raises(FieldInvalid, match="Enter a number"):
        parse(make("money"), locale, ("f", typed))


def test_the_refusal_gives_an_example_in_the_users_locale():
    with pytest.raises(FieldInvalid, match=r"e\.g\. 1\.250,50"):
        parse(make("decimal"), "de-DE", ("f", "viel"))


def test_a_thousand_in_german_is_a_thousand_and_in_english_a_decimal():
    assert parse(make("integer"), "de-DE", ("f", "5.000")) == 5000
    assert parse(make("decimal"), "en", ("f", "5.000")) == 5
    assert parse(make("percent"), "de-DE", ("f", "12,5")) == 12.5


def test_grid_cells_are_read_in_the_locale():
    grid = make("money_grid", key="financials", scenarios=("plan", "actual"))
    assert parse(grid, "de-DE", ("financials.plan.2026-01", "5.000,50"),
                 ("financials.actual.2026-01", "1.234")) == {"plan": {"2026-01": 5000.5},
                                                             "actual": {"2026-01": 1234.0}}
    assert parse(grid, "en", ("financials.plan.2026-01", "5,000.50")) == {"plan": {"2026-01": 5000.5}}


def test_one_bad_grid_cell_is_named_and_every_typed_cell_given_back():
    grid = make("money_grid", key="financials", scenarios=("plan",))
    with pytest.raises(FieldInvalid) as raised:
        parse(grid, "de-DE", ("financials.plan.2026-01", "5.000,50"), ("financials.plan.2026-02", "1.5k"),
              ("financials.plan.2026-03", "7"))
    assert list(raised.value.inputs) == ["financials.plan.2026-02"]
    assert raised.value.typed == {"plan": {"2026-01": "5.000,50", "2026-02": "1.5k", "2026-03": "7"}}


@pytest.mark.parametrize(("locale", "typed"), [
    ("de-DE", "31.03.2027"), ("en-GB", "31/03/2027"), ("en-US", "3/31/2027"), ("de-DE", "2027-03-31"),
    (None, "2027-03-31"),
])
def test_dates_typed_in_the_locale_or_as_iso(locale, typed):
    assert parse(make("date"), locale, ("f", typed)) == "2027-03-31"


@pytest.mark.parametrize("typed", ["31.3.27", "32.01.2027", "morgen"])
def test_a_date_that_is_no_date_is_refused(typed):
    with pytest.raises(FieldInvalid, match="31.03.2027"):
        parse(make("date"), "de-DE", ("f", typed))


@pytest.mark.parametrize(("locale", "shown"), [("de-DE", "7.083,33"), ("en-GB", "7,083.33")])
def test_an_input_shows_a_stored_number_as_its_locale_reads_it_back(locale, shown):
    display = Display(Formatter(locale))
    money = make("money")
    assert money.kind.widget_value(money, 7083.33, display) == shown
    assert parse(money, locale, ("f", shown)) == 7083.33
    assert money.kind.widget_value(money, "1.5k", display) == "1.5k"  # as typed, with its error


def test_an_input_shows_a_stored_date_in_the_locale():
    date = make("date")
    assert date.kind.widget_value(date, "2027-03-31", Display(Formatter("de-DE"))) == "31.03.2027"
    assert date.kind.widget_value(date, "2027-03-31", Display(Formatter("en-GB"))) == "31/03/2027"


def test_machine_notation_is_plain_decimal():
    assert read_number("1250.5", None) == read_number("1.250,5", "de-DE")


# -- times in the tenant's time zone ---------------------------------------------------------
def test_a_stored_utc_moment_shows_in_the_tenants_zone_and_locale():
    import datetime as dt

    noon_utc = dt.datetime(2026, 7, 1, 12, 0)  # stored naive, UTC
    assert Formatter("de-DE", timezone="Europe/Berlin").moment(noon_utc) == "01.07.2026 14:00"
    assert Formatter("en-GB", timezone="Europe/London").moment(noon_utc) == "01/07/2026 13:00"
    assert Formatter("en-GB").moment(noon_utc) == "01/07/2026 12:00"
    late = dt.datetime(2026, 12, 31, 23, 30)  # already the next day in Berlin
    assert Formatter("de-DE", timezone="Europe/Berlin").moment(late, with_time=False) == "01.01.2027"


def test_the_time_zone_is_configured_and_checked():
    from configs import minimal_documents

    from steerco.config import compile_config
    from steerco.config.compiler import problems_of

    documents = minimal_documents()
    assert compile_config(documents).timezone == "UTC"
    documents["tenant"]["timezone"] = "Europe/Berlin"
    config = compile_config(documents)
    assert config.timezone == "Europe/Berlin"
    assert Display.of(config).formatter.timezone == "Europe/Berlin"
    documents["tenant"]["timezone"] = "Mars/Olympus"
    assert [p.code for p in problems_of(documents)] == ["unknown_timezone"]
