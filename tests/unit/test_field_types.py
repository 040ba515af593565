"""The field-type registry: each of the 15 types parses posted input, refuses bad input, and
describes a valid value with a JSON Schema that jsonschema enforces.

Form input is what Werkzeug hands the web layer (a MultiDict), uploads are
``steerco.fields.Upload`` values, exactly as the engine receives them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from configs import minimal_documents  # tests/ is on sys.path (conftest)
from werkzeug.datastructures import MultiDict

from steerco.config import TenantConfig, compile_config
from steerco.config.model import Field, Option
from steerco.fields import FieldInvalid, FieldType, Upload, registry

FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER
ALL_TYPES = ("text", "long_text", "integer", "decimal", "money", "percent", "date", "yes_no",
             "single_choice", "multiple_choice", "user", "reference", "evidence", "money_grid",
             "measure_grid", "computed")
MB = 1024 * 1024


def make(type_key: str, key: str = "f", **attributes: Any) -> Field:
    """A field definition of ``type_key``, as the compiler would build it."""
    return Field(key=key, label=key.replace("_", " ").title(), type=type_key,
                 kind=registry.get(type_key), **attributes)


def post(*pairs: tuple[str, str], **single: str) -> MultiDict:
    return MultiDict([*pairs, *single.items()])


def parse(field: Field, form: MultiDict | None = None, uploads: dict[str, list[Upload]] | None = None) -> Any:
    return field.kind.parse(field, form if form is not None else MultiDict(), uploads or {})


def valid(field: Field, value: Any) -> bool:
    """Whether ``value`` passes the field's value schema, checked the way the engine checks it."""
    validator = jsonschema.Draft202012Validator(field.kind.value_schema(field), format_checker=FORMAT_CHECKER)
    return validator.is_valid(value)


@pytest.fixture(scope="module")
def config() -> TenantConfig:
    return compile_config(minimal_documents())


CATEGORY_OPTIONS = (Option("procurement", "Procurement"), Option("personnel", "Personnel"),
                    Option("it", "IT"))


# -- the registry ----------------------------------------------------------------------------

def test_the_registry_holds_exactly_the_sixteen_types_the_schema_allows():
    fields_schema = json.loads(
        (Path(__file__).resolve().parents[2] / "config_schemas" / "fields.schema.json").read_text())
    schema_types = fields_schema["$defs"]["field"]["properties"]["type"]["enum"]

    assert sorted(registry.keys()) == sorted(ALL_TYPES) == sorted(schema_types)
    for key in ALL_TYPES:
        kind = registry.get(key)
        assert isinstance(kind, FieldType) and kind.key == key and key in registry
        assert "none" in kind.rollups


def test_an_unknown_type_is_not_in_the_registry():
    assert "checkbox" not in registry
    with pytest.raises(KeyError):
        registry.get("checkbox")


@pytest.mark.parametrize(("type_key", "storage"), [
    *((t, "values") for t in ("text", "long_text", "integer", "decimal", "money", "percent", "date",
                              "yes_no", "single_choice", "multiple_choice", "user", "reference")),
    ("evidence", "attachments"), ("money_grid", "periods"), ("computed", "computed"),
])
def test_each_type_says_where_its_values_live(type_key, storage):
    assert registry.get(type_key).storage == storage


@pytest.mark.parametrize(("type_key", "rollups"), [
    ("integer", {"none", "sum", "avg", "min", "max", "count"}),
    ("decimal", {"none", "sum", "avg", "min", "max", "count"}),
    ("money", {"none", "sum", "avg", "min", "max", "count"}),
    ("percent", {"none", "sum", "avg", "min", "max", "count"}),
    ("computed", {"none", "sum", "avg", "min", "max", "count"}),
    ("date", {"none", "min", "max", "count"}),
    ("money_grid", {"none", "sum"}),
    ("text", {"none", "count"}),
    ("yes_no", {"none", "count"}),
    ("single_choice", {"none", "count"}),
    ("evidence", {"none", "count"}),
])
def test_each_type_offers_the_rollups_that_make_sense_for_it(type_key, rollups):
    assert registry.get(type_key).rollups == rollups


# -- text ------------------------------------------------------------------------------------

def test_text_is_trimmed_and_blank_text_is_no_value():
    field = make("text")

    assert parse(field, post(f="  Close plant Duisburg  ")) == "Close plant Duisburg"
    assert parse(field, post(f="   ")) is None
    assert parse(field, post()) is None


def test_text_longer_than_its_max_length_is_refused_by_the_value_schema():
    field = make("text", max_length=10)

    assert valid(field, "0123456789")
    assert not valid(field, "0123456789x")
    assert not valid(make("text"), "x" * 201)
    assert not valid(field, 5)


def test_long_text_keeps_its_line_breaks_and_allows_ten_thousand_characters():
    field = make("long_text")

    assert parse(field, post(f="Line one\r\nLine two\n")) == "Line one\r\nLine two"
    assert valid(field, "x" * 10000)
    assert not valid(field, "x" * 10001)
    assert field.kind.template == "fields/_textarea.html"


# -- numbers ---------------------------------------------------------------------------------

def test_an_integer_is_parsed_from_digits_with_spaces_or_underscores():
    field = make("integer")

    assert parse(field, post(f="42")) == 42
    assert parse(field, post(f=" 1 000 ")) == 1000
    assert parse(field, post(f="1_000")) == 1000
    assert parse(field, post(f="-3")) == -3
    assert parse(field, post(f="4.0")) == 4
    assert parse(field, post(f="")) is None


@pytest.mark.parametrize("raw", ["4.5", "0.1"])
def test_an_integer_field_refuses_a_fraction(raw):
    with pytest.raises(FieldInvalid, match="whole number"):
        parse(make("integer"), post(f=raw))


@pytest.mark.parametrize("type_key", ["integer", "decimal", "money", "percent"])
@pytest.mark.parametrize("raw", ["twelve", "1.000,50", "1,5", "12abc", "--1", "0x10"])
def test_a_number_field_refuses_what_is_not_a_number(type_key, raw):
    with pytest.raises(FieldInvalid, match="Enter a number"):
        parse(make(type_key), post(f=raw))


@pytest.mark.parametrize("type_key", ["integer", "decimal", "money", "percent"])
@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-inf", "sNaN"])
def test_a_number_field_refuses_nan_and_infinity(type_key, raw):
    with pytest.raises(FieldInvalid, match="finite"):
        parse(make(type_key), post(f=raw))


def test_a_decimal_keeps_its_fraction_and_whole_decimals_become_integers():
    field = make("decimal")

    assert parse(field, post(f="2.5")) == 2.5
    assert parse(field, post(f="3")) == 3 and isinstance(parse(field, post(f="3")), int)
    assert parse(field, post(f="1e3")) == 1000


def test_money_takes_at_most_two_decimals():
    field = make("money")

    assert parse(field, post(f="1250.50")) == 1250.5
    assert parse(field, post(f="1 250")) == 1250
    with pytest.raises(FieldInvalid, match="at most two decimals"):
        parse(field, post(f="1250.555"))


def test_a_percent_is_a_plain_number_of_percent():
    field = make("percent")

    assert parse(field, post(f="12.5")) == 12.5
    assert valid(field, 12.5)


def test_number_bounds_come_from_the_field_s_min_and_max():
    bounded = make("money", min=0, max=1000)

    assert bounded.kind.value_schema(bounded) == {"type": "number", "minimum": 0, "maximum": 1000}
    assert valid(bounded, 0) and valid(bounded, 1000)
    assert not valid(bounded, -0.01)
    assert not valid(bounded, 1000.01)
    assert not valid(bounded, "12")
    integer = make("integer", min=1)
    assert valid(integer, 1) and not valid(integer, 0) and not valid(integer, 1.5)


@pytest.mark.parametrize("raw", ["1e30", "12345678901234567890123456789"])
def test_money_too_large_to_handle_is_refused_politely(raw):
    with pytest.raises(FieldInvalid):
        parse(make("money"), post(f=raw))


@pytest.mark.parametrize("type_key", ["integer", "decimal", "percent"])
def test_a_number_beyond_any_sensible_magnitude_is_refused(type_key):
    with pytest.raises(FieldInvalid):
        parse(make(type_key), post(f="1e400"))


def test_numbers_display_with_thousands_separators_and_money_with_currency(config):
    # The minimal tenant writes en-GB: Babel's separators, the currency's symbol.
    assert make("integer").kind.display(make("integer"), 1250, config) == "1,250"
    assert make("decimal").kind.display(make("decimal"), 1250.5, config) == "1,250.5"
    assert make("money").kind.display(make("money"), 1250000, config) == "€1,250,000"
    assert make("money").kind.display(make("money"), 1250.5, config) == "€1,250.50"
    assert make("percent").kind.display(make("percent"), 12.5, config) == "12.5%"
    for type_key in ("integer", "decimal", "money", "percent"):
        assert make(type_key).kind.display(make(type_key), None, config) == ""


# -- dates -----------------------------------------------------------------------------------

def test_a_date_is_stored_as_an_iso_date():
    field = make("date")

    assert parse(field, post(f="2026-03-15")) == "2026-03-15"
    assert parse(field, post(f="")) is None
    assert valid(field, "2026-03-15")


@pytest.mark.parametrize("raw", ["15.03.2026", "2026-02-30", "2026-13-01", "tomorrow", "03/15/2026"])
def test_a_date_field_refuses_what_is_not_a_date(raw):
    with pytest.raises(FieldInvalid, match="YYYY-MM-DD"):
        parse(make("date"), post(f=raw))


def test_the_date_value_schema_refuses_a_forged_date_when_formats_are_checked():
    field = make("date")

    assert not valid(field, "2026-02-30")
    assert not valid(field, "soon")
    assert not valid(field, 20260315)


# -- yes/no ----------------------------------------------------------------------------------

def test_a_ticked_checkbox_posts_hidden_zero_and_one_and_means_yes():
    field = make("yes_no")

    assert parse(field, post(("f", "0"), ("f", "1"))) is True


def test_an_unticked_checkbox_posts_only_the_hidden_zero_and_means_no():
    field = make("yes_no")

    assert parse(field, post(("f", "0"))) is False


@pytest.mark.parametrize("raw", ["on", "true", "True", "yes", "1"])
def test_a_yes_no_field_accepts_the_usual_spellings_of_yes(raw):
    assert parse(make("yes_no"), post(f=raw)) is True


def test_yes_and_no_are_booleans_and_no_is_a_value_not_an_empty_field(config):
    field = make("yes_no")

    assert valid(field, True) and valid(field, False) and not valid(field, "yes")
    assert field.kind.is_empty(False) is False and field.kind.is_empty(None) is True
    assert field.kind.display(field, True, config) == "Yes"
    assert field.kind.display(field, False, config) == "No"
    assert field.kind.display(field, None, config) == ""


# -- choices ---------------------------------------------------------------------------------

def test_a_single_choice_posts_an_option_key_and_displays_its_label(config):
    field = make("single_choice", options=CATEGORY_OPTIONS)

    value = parse(field, post(f="personnel"))

    assert value == "personnel" and valid(field, value)
    assert field.kind.display(field, value, config) == "Personnel"


def test_a_forged_single_choice_is_caught_by_the_value_schema():
    field = make("single_choice", options=CATEGORY_OPTIONS)

    value = parse(field, post(f="ceo_bonus"))

    assert not valid(field, value)
    assert field.kind.value_schema(field) == {"enum": ["procurement", "personnel", "it"]}


def test_a_multiple_choice_reads_every_ticked_box(config):
    field = make("multiple_choice", options=CATEGORY_OPTIONS)

    value = parse(field, post(("f", "procurement"), ("f", ""), ("f", "it")))

    assert value == ["procurement", "it"] and valid(field, value)
    assert field.kind.display(field, value, config) == "Procurement, IT"
    assert parse(field, post()) is None
    assert parse(field, post(f=" ")) is None


def test_a_forged_or_repeated_multiple_choice_is_caught_by_the_value_schema():
    field = make("multiple_choice", options=CATEGORY_OPTIONS)

    assert not valid(field, parse(field, post(("f", "it"), ("f", "ceo_bonus"))))
    assert not valid(field, parse(field, post(("f", "it"), ("f", "it"))))
    assert not valid(field, "it")


# -- users and references ---------------------------------------------------------------------

@pytest.mark.parametrize("type_key", ["user", "reference"])
def test_a_lookup_posts_the_id_of_an_offered_entry(type_key):
    field = make(type_key)

    assert parse(field, post(f=" 7 ")) == 7
    assert parse(field, post(f="")) is None
    assert valid(field, 7)
    assert not valid(field, 0) and not valid(field, -1) and not valid(field, "7")


@pytest.mark.parametrize("type_key", ["user", "reference"])
@pytest.mark.parametrize("raw", ["alice", "7.5", "1 OR 1=1"])
def test_a_lookup_refuses_what_is_not_an_id(type_key, raw):
    with pytest.raises(FieldInvalid, match="Choose one of the offered entries"):
        parse(make(type_key), post(f=raw))


# -- evidence --------------------------------------------------------------------------------

def evidence(**attributes: Any) -> Field:
    return make("evidence", key="case", **({"accept": (".pdf", ".txt"), "max_size_mb": 1} | attributes))


def test_an_accepted_file_is_taken_as_posted():
    field = evidence()
    upload = Upload("Business Case.PDF", "application/pdf", b"%PDF-1.7 ...")

    assert parse(field, uploads={"case": [upload]}) == [upload]
    assert upload.size == len(b"%PDF-1.7 ...")


def test_a_file_of_a_type_not_accepted_is_refused():
    with pytest.raises(FieldInvalid, match=r"setup\.exe: only \.pdf, \.txt files are accepted"):
        parse(evidence(), uploads={"case": [Upload("setup.exe", "application/octet-stream", b"MZ")]})


def test_a_file_without_extension_is_refused_when_extensions_are_listed():
    with pytest.raises(FieldInvalid):
        parse(evidence(), uploads={"case": [Upload("README", "text/plain", b"hello")]})


def test_a_file_over_the_size_limit_is_refused():
    field = evidence()

    assert parse(field, uploads={"case": [Upload("ok.pdf", "application/pdf", b"x" * MB)]})
    with pytest.raises(FieldInvalid, match="the limit is 1 MB"):
        parse(field, uploads={"case": [Upload("big.pdf", "application/pdf", b"x" * (MB + 1))]})


def test_an_empty_file_is_refused():
    with pytest.raises(FieldInvalid, match=r"empty\.txt is empty"):
        parse(evidence(), uploads={"case": [Upload("empty.txt", "text/plain", b"")]})


def test_one_bad_file_among_good_ones_refuses_the_post():
    uploads = {"case": [Upload("a.pdf", "application/pdf", b"1"), Upload("b.exe", "x", b"2")]}

    with pytest.raises(FieldInvalid, match="b.exe"):
        parse(evidence(), uploads=uploads)


def test_no_file_chosen_means_no_new_evidence_and_any_type_is_taken_without_a_list():
    assert parse(evidence(), uploads={}) == []
    assert parse(evidence(), uploads={"case": [Upload("", "application/octet-stream", b"")]}) == []
    assert parse(evidence(), uploads={"other": [Upload("a.pdf", "application/pdf", b"1")]}) == []
    anything = make("evidence", key="case")
    assert parse(anything, uploads={"case": [Upload("photo.heic", "image/heic", b"1")]})


# -- time-phased money -------------------------------------------------------------------------

def grid(**attributes: Any) -> Field:
    return make("money_grid", key="financials", **({"scenarios": ("plan", "actual")} | attributes))


def test_a_money_grid_reads_one_input_per_scenario_and_period():
    field = grid()
    form = post(("financials.plan.2026-01", "1000"), ("financials.plan.2026-02", " 2 500.50 "),
                ("financials.actual.2026-01", "900"), ("financials.actual.2026-02", ""),
                ("title", "ignored"), ("financialsx.plan.2026-01", "7"), ("financials", "x"))

    value = parse(field, form)

    assert value == {"plan": {"2026-01": 1000.0, "2026-02": 2500.5},
                     "actual": {"2026-01": 900.0, "2026-02": None}}
    assert field.kind.input_name(field, "plan", "2026-03") == "financials.plan.2026-03"


def test_a_money_grid_refuses_a_scenario_the_field_does_not_have():
    with pytest.raises(FieldInvalid, match="Unknown scenario 'forecast'"):
        parse(grid(), post(("financials.forecast.2026-01", "5")))


def test_a_money_grid_names_every_cell_that_is_not_an_amount():
    form = post(("financials.plan.2026-01", "lots"), ("financials.actual.2026-02", "1.005"))

    with pytest.raises(FieldInvalid) as raised:
        parse(grid(), form)

    assert str(raised.value) == ("2026-01 plan: 'lots' is not a number (e.g. 1250.50); "
                                 "2026-02 actual: at most two decimals.")
    assert set(raised.value.inputs) == {"financials.plan.2026-01", "financials.actual.2026-02"}
    assert raised.value.typed == {"plan": {"2026-01": "lots"}, "actual": {"2026-02": "1.005"}}


def test_a_money_grid_cell_too_large_to_handle_is_refused_politely():
    with pytest.raises(FieldInvalid):
        parse(grid(), post(("financials.plan.2026-01", "1e30")))


def test_an_untouched_money_grid_is_empty_and_displays_totals_otherwise(config):
    field = grid()

    assert field.kind.is_empty({}) and field.kind.is_empty(None)
    assert field.kind.is_empty({"plan": {"2026-01": None}})
    value = {"plan": {"2026-01": 1000.0, "2026-02": 2500.0}, "actual": {"2026-01": None}}
    assert not field.kind.is_empty(value)
    assert field.kind.display(field, value, config) == "plan: €3,500, actual: €0"
    assert field.kind.display(field, {}, config) == ""


# -- computed --------------------------------------------------------------------------------

def test_a_computed_field_is_never_read_from_a_post(config):
    field = config.fields["weighted"]

    assert parse(field, post(weighted="999999")) is None
    assert field.kind.value_schema(field) == {}
    assert field.kind.display(field, 1500, config) == "€1,500"
    assert field.kind.sort_cast(field) == "float"


def test_a_computed_yes_no_field_displays_and_sorts_as_yes_no(config):
    field = make("computed", result_type="yes_no")

    assert field.kind.display(field, True, config) == "Yes"
    assert field.kind.sort_cast(field) == "boolean"


# -- the contract every type fulfils -----------------------------------------------------------

def _fields_of_every_type() -> list[Field]:
    special = {"single_choice": {"options": CATEGORY_OPTIONS}, "multiple_choice": {"options": CATEGORY_OPTIONS},
               "money_grid": {"scenarios": ("plan",)},
               "measure_grid": {"scenarios": ("target", "actual"), "unit": "%"}, "computed": {"result_type": "money"}}
    return [make(t, **special.get(t, {})) for t in ALL_TYPES]


@pytest.mark.parametrize("field", _fields_of_every_type(), ids=ALL_TYPES)
def test_every_type_reads_nothing_from_a_post_that_does_not_mention_it(field):
    value = parse(field, post(other="1"))

    assert value in (None, [], {}, False)


@pytest.mark.parametrize("field", _fields_of_every_type(), ids=ALL_TYPES)
def test_every_type_has_a_value_schema_that_is_itself_valid_json_schema(field, config):
    schema = field.kind.value_schema(field)

    jsonschema.Draft202012Validator.check_schema(schema)
    assert field.kind.display(field, None, config) == ""
    assert field.kind.is_empty(None)


def test_a_valid_posted_value_of_each_values_type_passes_its_own_schema():
    posted = {"text": "Hello", "long_text": "Hello\nworld", "integer": "3", "decimal": "2.5",
              "money": "10.25", "percent": "50", "date": "2026-01-31", "yes_no": "1",
              "single_choice": "it", "multiple_choice": "it", "user": "4", "reference": "9"}
    for field in _fields_of_every_type():
        if not field.kind.tabular or not field.kind.accepts_input:
            continue
        value = parse(field, post(f=posted[field.type]))
        assert valid(field, value), (field.type, value)


# -- display in the tenant's locale (Babel) ------------------------------------------------------

def test_a_german_workspace_reads_numbers_money_percentages_and_dates_the_german_way():
    documents = minimal_documents()
    documents["tenant"]["locale"] = "de-DE"
    german = compile_config(documents)

    assert make("money").kind.display(make("money"), 25000, german) == "25.000\xa0€"
    assert make("money").kind.display(make("money"), 25000.5, german) == "25.000,50\xa0€"
    assert make("decimal").kind.display(make("decimal"), 1250.5, german) == "1.250,5"
    assert make("percent").kind.display(make("percent"), 12.5, german) == "12,5\xa0%"
    assert make("date").kind.display(make("date"), "2026-03-01", german) == "01.03.2026"


def test_exports_keep_numbers_as_numbers_with_the_unit_in_the_header(config):
    from steerco.fields.display import Display

    display = Display.of(config)
    money = make("money")
    assert money.kind.export_value(money, 25000, display) == 25000
    assert money.kind.export_unit(money, display) == "EUR"
    assert make("percent").kind.export_unit(make("percent"), display) == "%"
    assert make("date").kind.export_value(make("date"), "2026-03-01", display) == "2026-03-01"
    assert make("yes_no").kind.export_value(make("yes_no"), False, display) == "No"


def test_user_and_reference_fields_display_names_never_ids(config):
    from steerco.fields.display import NOT_VISIBLE, Display

    display = Display.of(config, users={5: "Ada Lovelace"}, records={9: "M-009 Steel"})
    assert make("user").kind.display(make("user"), 5, display) == "Ada Lovelace"
    assert make("reference").kind.display(make("reference"), 9, display) == "M-009 Steel"
    assert make("reference").kind.display(make("reference"), 10, display) == NOT_VISIBLE


def test_a_computed_value_of_the_wrong_type_is_a_problem_not_a_crash(config):
    field = make("computed", result_type="decimal")

    assert field.kind.value_problem(field, "abc").startswith("cannot be computed")
    assert field.kind.display(field, "abc", config) == ""
    assert field.kind.value_problem(field, 2.5) is None
    assert field.kind.display(field, 2.5, config) == "2.5"
