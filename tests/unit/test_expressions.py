"""The expression language: a whitelist at parse time, a type check at load time, and a
bounded, forgiving evaluation at run time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest

from steerco.config import expressions
from steerco.config.expressions import (
    FUNCTION_NAMES, SYSTEM_NAMES, EvaluationError, Expression, ExpressionError, LimitExceeded, parse,
    unknown_names,
)
from steerco.config.typecheck import Scope
from steerco.config.typecheck import check as typecheck

TODAY = dt.date(2026, 3, 15)


# -- what a consultant may write -------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "has_capex and capex_amount > 250000",
    "potential if benefit_validated else 0",
    "priority in ['p1', 'p2']",
    "priority not in ('p3', 'p4')",
    "not empty(due) and days_until(due) < 0",
    "round(actual / planned * 100, 1) if planned else None",
    "-a + +b - c * d / e // f % g",
    "a is None or b is not None",
    "0 < a <= 10",
    "min(a, b, 3) + max(a, b) + abs(c) + len(title)",
    "stage == 'closed' or a != 1.5 or b >= 2 or c < 3",
    "True and not False",
])
def test_a_consultant_writes_conditions_with_fields_operators_and_known_functions(source):
    expression = parse(source)

    assert expression.source == source
    assert isinstance(expression.names, frozenset)


def test_the_names_an_expression_reads_exclude_its_functions():
    expression = parse("has_capex and capex_amount > 250000 and not empty(title) and len(x) > 1")

    assert expression.names == frozenset({"has_capex", "capex_amount", "title", "x"})


def test_unknown_names_are_those_neither_known_nor_system_names():
    expression = parse("potentail > 0 and stage == 'decided' and days_since(today) == 0 and title")

    assert unknown_names(expression, {"potential"}) == ["potentail"]
    assert SYSTEM_NAMES == {"stage", "title", "today"}


def test_surrounding_whitespace_and_line_breaks_inside_brackets_are_fine():
    expression = parse("  (a >\n 1)  ")

    assert expression.evaluate({"a": 2}) is True


def test_a_parsed_expression_is_immutable():
    expression = parse("a > 1")

    with pytest.raises(dataclasses.FrozenInstanceError):
        expression.source = "b > 1"  # type: ignore[misc]


# -- what the whitelist refuses ---------------------------------------------------------------

@pytest.mark.parametrize(("source", "says"), [
    ("potential.real", "Attribute is not allowed"),
    ("title.__class__.__mro__", "Attribute is not allowed"),
    ("options[0]", "Subscript is not allowed"),
    ("title[::-1]", "Subscript is not allowed"),
    ("(lambda: 1)", "Lambda is not allowed"),
    ("[x for x in items]", "ListComp is not allowed"),
    ("{x for x in items}", "SetComp is not allowed"),
    ("{x: 1 for x in items}", "DictComp is not allowed"),
    ("sum(x for x in items)", "unknown function 'sum'"),
    ("any(x for x in items)", "unknown function 'any'"),
    ("{'a': 1}", "Dict is not allowed"),
    ("{1, 2}", "Set is not allowed"),
    ("2 ** 1000000", "Pow is not allowed"),
    ("f'{title}'", "JoinedStr is not allowed"),
    ("(x := 1)", "NamedExpr is not allowed"),
    ("a & b", "BitAnd is not allowed"),
    ("*items", "syntax error"),
])
def test_the_whitelist_refuses_anything_beyond_fields_literals_and_operators(source, says):
    with pytest.raises(ExpressionError) as raised:
        parse(source)

    assert says in str(raised.value)
    assert repr(source) in str(raised.value)


@pytest.mark.parametrize("source", [
    "open('/etc/passwd')", "__import__('os')", "eval('1')", "exec('1')", "getattr(a, 'b')",
    "sum([1, 2])", "type(a)",
])
def test_only_the_known_functions_may_be_called(source):
    with pytest.raises(ExpressionError) as raised:
        parse(source)

    message = str(raised.value)
    assert message.startswith("unknown function")
    assert all(name in message for name in FUNCTION_NAMES)


def test_a_function_may_not_be_called_through_an_expression():
    with pytest.raises(ExpressionError, match="unknown function '\\?'"):
        parse("max(a)(1, 2)")
    with pytest.raises(ExpressionError):
        parse("(lambda: 1)()")


def test_keyword_arguments_are_refused():
    with pytest.raises(ExpressionError, match="keyword arguments are not allowed"):
        parse("max(a, b, key=c)")
    with pytest.raises(ExpressionError, match="keyword arguments are not allowed"):
        parse("round(x, ndigits=2)")


@pytest.mark.parametrize("source", [
    "x = 1", "import os", "from os import path", "del x", "a +", "a if b", "", "   ",
    "def f(): pass", "a; b", "pass",
])
def test_statements_and_broken_text_are_syntax_errors(source):
    with pytest.raises(ExpressionError, match="syntax error in expression"):
        parse(source)


def test_an_expression_error_is_a_value_error_for_callers_that_catch_broadly():
    assert issubclass(ExpressionError, ValueError)


# -- evaluation --------------------------------------------------------------------------------

def test_a_condition_holds_against_a_record_s_values():
    expression = parse("has_capex and capex_amount > 250000")

    assert expression.holds({"has_capex": True, "capex_amount": 300000}) is True
    assert expression.holds({"has_capex": True, "capex_amount": 1000}) is False
    assert expression.holds({"has_capex": False, "capex_amount": 300000}) is False


def test_a_computed_value_follows_python_semantics():
    weighted = parse("potential * 0.5 if not empty(potential) else 0")

    assert weighted.evaluate({"potential": 1000}) == 500
    assert weighted.evaluate({"potential": None}) == 0
    assert weighted.evaluate({}) == 0
    assert parse("priority in ['p1', 'p2']").evaluate({"priority": "p2"}) is True
    assert parse("priority not in ('p1', 'p2')").evaluate({"priority": "p2"}) is False
    assert parse("round(a / b * 100, 1)").evaluate({"a": 1, "b": 3}) == 33.3
    assert parse("min(a, b) + max(a, b) + abs(c)").evaluate({"a": 1, "b": 5, "c": -2}) == 8
    assert parse("7 // 2 + 7 % 3").evaluate({}) == 4
    assert parse("len(title)").evaluate({"title": "Close plant"}) == 11
    assert parse("(planned or 0) - (actual or 0)").evaluate({"actual": 5}) == -5
    assert parse("x is None").evaluate({}) is True


@pytest.mark.parametrize(("source", "values"), [
    ("None > 5", {}),
    ("potential > 5", {"potential": None}),
    ("potential > 5", {}),
    ("a / b", {"a": 1, "b": 0}),
    ("a + b", {"a": "text", "b": 1}),
    ("len(a)", {"a": 5}),
    ("max(a)", {"a": []}),
    ("days_since(due)", {"due": "not a date"}),
    ("title * 1000000000", {"title": "boom"}),
])
def test_a_failure_at_run_time_yields_none_instead_of_raising(source, values):
    expression = parse(source)

    assert expression.evaluate(values) is None
    assert expression.holds(values) is False


def test_evaluation_reads_only_the_names_the_expression_uses():
    class Values(dict):
        def get(self, key, default=None):
            if key not in {"a"}:
                raise AssertionError(f"read {key!r}")
            return super().get(key, default)

    assert parse("a + 1").evaluate(Values(a=1, secret=2)) == 2


def test_holds_treats_falsy_results_as_not_holding():
    assert parse("a").holds({"a": 0}) is False
    assert parse("a").holds({"a": ""}) is False
    assert parse("a").holds({"a": [1]}) is True


@pytest.mark.parametrize(("value", "empty"), [
    (None, True), ("", True), ([], True), ({}, True),
    (0, False), (False, False), ("x", False), ([0], False),
])
def test_empty_is_true_for_missing_values_but_not_for_zero_or_false(value, empty):
    assert parse("empty(v)").evaluate({"v": value}) is empty


def test_days_since_and_days_until_count_from_the_given_today():
    values = {"start": "2026-03-01", "due": dt.date(2026, 4, 14)}

    assert parse("days_since(start)").evaluate(values, today=TODAY) == 14
    assert parse("days_until(due)").evaluate(values, today=TODAY) == 30
    assert parse("days_until(start)").evaluate(values, today=TODAY) == -14
    assert parse("days_since(due)").evaluate(values, today=TODAY) == -30


def test_days_since_and_days_until_of_a_missing_date_are_none():
    assert parse("days_since(start)").evaluate({"start": None}, today=TODAY) is None
    assert parse("days_until(start)").evaluate({"start": ""}, today=TODAY) is None
    assert parse("not empty(due) and days_until(due) < 0").holds({"due": None}, today=TODAY) is False


def test_an_overdue_condition_depends_on_the_day_it_is_evaluated():
    overdue = parse("not empty(due) and days_until(due) < 0")

    assert overdue.holds({"due": "2026-03-14"}, today=TODAY) is True
    assert overdue.holds({"due": "2026-03-15"}, today=TODAY) is False
    assert overdue.holds({"due": "2026-03-14"}, today=dt.date(2026, 3, 1)) is False


def test_without_a_today_the_real_date_is_used():
    assert parse("days_since(d)").evaluate({"d": dt.date.today().isoformat()}) == 0


def test_the_system_name_today_is_the_evaluation_date():
    assert parse("today").evaluate({}, today=TODAY) == "2026-03-15"
    assert parse("due < today").holds({"due": "2026-03-01"}, today=TODAY) is True


def test_a_value_named_today_from_the_record_is_not_needed_for_days_functions():
    # days_since/days_until take today from the evaluation, not from the values
    assert parse("days_since(due)").evaluate({"due": "2026-03-14", "today": "1999-01-01"},
                                             today=TODAY) == 1


def test_expressions_compare_by_source_not_by_tree():
    assert parse("a > 1") == parse("a > 1")
    assert parse("a > 1") != parse("a>1")
    assert isinstance(parse("a"), Expression)


# -- bounded evaluation (issue 14: expressions could exhaust the server) ---------------------

def test_percent_formatting_of_text_is_refused_at_run_time_without_building_the_string():
    started = time.monotonic()

    with pytest.raises(EvaluationError, match="% formatting of text is not allowed"):
        parse("'%999999999s' % title").evaluate_strict({"title": "Close plant"})
    assert time.monotonic() - started < 0.5


def test_round_with_a_huge_number_of_digits_is_refused_at_once():
    started = time.monotonic()

    with pytest.raises(LimitExceeded, match="round takes at most 15 digits"):
        parse("round(x, -99999999999)").evaluate_strict({"x": 5})
    assert time.monotonic() - started < 0.5
    assert parse("round(x, -3)").evaluate_strict({"x": 123456}) == 123000


@pytest.mark.parametrize(("source", "values", "says"), [
    ("x * x", {"x": 10**8}, "a number reached"),
    ("x * 1.5", {"x": 9 * 10**14}, "a number reached"),
    ("x", {"x": 10**20}, "a number reached"),
    ("x / y", {"x": 1e14, "y": 1e-9}, "a number reached"),
    ("title + title", {"title": "x" * 6000}, "longer than 10,000 characters"),
])
def test_numbers_and_texts_an_expression_produces_are_bounded(source, values, says):
    with pytest.raises(LimitExceeded, match=says):
        parse(source).evaluate_strict(values)
    assert parse(source).evaluate(values) is None  # a computed field shows it as empty


def test_a_long_text_a_record_holds_can_still_be_read():
    assert parse("len(notes) > 3 and not empty(notes)").evaluate_strict({"notes": "x" * 50_000}) is True


@pytest.mark.parametrize(("source", "values"), [
    ("title * 1000000000", {"title": "boom"}),
    ("items * 3", {"items": ["a"]}),
    ("has_capex + 1", {"has_capex": True}),
    ("-title", {"title": "x"}),
    ("abs(title)", {"title": "x"}),
    ("5 in count", {"count": 5}),
])
def test_arithmetic_works_on_numbers_only(source, values):
    with pytest.raises(EvaluationError):
        parse(source).evaluate_strict(values)


def test_each_evaluation_has_a_node_budget():
    many = "[" + ", ".join(["a + a"] * 4000) + "]"  # longer than the schema lets through

    with pytest.raises(LimitExceeded, match="visited more than"):
        parse(many).evaluate_strict({"a": 1})


@pytest.mark.parametrize("source", ["(" * 1000 + "a" + ")" * 1000, " + ".join(["a"] * 6000), "-" * 500 + "a"])
def test_an_expression_nested_too_deeply_is_refused_when_parsed(source):
    with pytest.raises(ExpressionError, match="nested"):
        parse(source)


def test_each_evaluation_has_a_time_budget(monkeypatch):
    monkeypatch.setattr(expressions, "TIME_BUDGET", -1.0)

    with pytest.raises(LimitExceeded, match="took longer than"):
        parse("a + 1").evaluate_strict({"a": 1})


# -- the type check at load time (issue 8: expressions typed at load time) -------------------

SCOPE = Scope(
    kinds={"financials": "grid", "potential": "number", "baseline": "number", "title": "text",
           "due": "date", "today": "date", "stage": "text", "has_capex": "bool", "tags": "list",
           "status": "text", "responsible": "user", "lead": "record", "evidence": "files"},
    options={"stage": frozenset({"draft", "decided"}), "status": frozenset({"green", "red"}),
             "tags": frozenset({"a", "b"})},
)


@pytest.mark.parametrize("source", [
    "potential > 250000",
    "has_capex and potential > 250000",
    "potential if has_capex else None",
    "(potential or 0) - (baseline or 0)",
    "round(potential / baseline * 100, 1) if not empty(baseline) else None",
    "due < today", "due <= '2026-12-31'", "days_until(due) < 0", "days_since('2026-01-01') > 3",
    "stage in ['draft', 'decided']", "status == 'red'", "'a' in tags", "len(tags) > 1",
    "not empty(financials)", "empty(evidence) or len(evidence) > 0",
    "title + ' (' + status + ')'", "'plant' in title", "responsible is None", "lead == lead",
    "max(potential, baseline, 0) > min(potential, 3)", "max(tags) == 'b'", "potential == None",
])
def test_expressions_that_make_sense_pass_the_type_check(source):
    kinds, problems = typecheck(parse(source), SCOPE)

    assert problems == []


@pytest.mark.parametrize(("source", "says"), [
    ("financials > 1000", "cannot compare financials (a time-phased money grid) with 1000 (a number)"),
    ("title > 5", "cannot compare title (a text) with 5 (a number)"),
    ("due > 5", "cannot compare due (a date) with 5 (a number)"),
    ("due < 'soon'", "cannot compare due (a date) with 'soon' (a text)"),
    ("responsible == 5", "cannot compare responsible (a user) with 5 (a number)"),
    ("has_capex > False", "yes/no cannot be ordered"),
    ("title * 3", "* needs numbers"),
    ("title - 'x'", "- needs numbers"),
    ("has_capex + 1", "+ needs numbers"),
    ("due - today", "use days_since(date) or days_until(date)"),
    ("'%999999999s' % title", "% formatting of text is not allowed"),
    ("potential in 5", "'in' needs a list"),
    ("potential in title", "only a text can be found in a text"),
    ("potential in ['a', 'b']", "the list holds a text, never potential (a number)"),
    ("stage == 'decidd'", "'decidd' is not an option of stage (options: decided, draft)"),
    ("status in ['green', 'amber']", "'amber' is not an option of status"),
    ("'c' in tags", "'c' is not an option of tags"),
    ("len(potential)", "len needs a text or a list"),
    ("abs(title)", "abs needs a number"),
    ("days_until(title)", "days_until needs a date"),
    ("round(x, -99999999999)", "round takes at most 15 digits"),
    ("round(potential, 1.5)", "round's digits must be a whole number"),
    ("max(potential, due)", "max needs values of one kind"),
    ("round(potential, 1, 2)", "round takes 1 to 2 argument(s), not 3"),
    ("empty()", "empty takes 1 argument(s), not 0"),
    ("potential is 5", "'is' only tests for None"),
    ("potential > 1e16", "beyond the limit"),
    ("-title", "a sign needs a number"),
])
def test_nonsense_is_refused_by_the_type_check_with_words_a_consultant_reads(source, says):
    kinds, problems = typecheck(parse(source), Scope({**SCOPE.kinds, "x": "number"}, SCOPE.options))

    assert problems and says in problems[0], problems


def test_the_type_check_says_what_an_expression_produces():
    assert typecheck(parse("potential * 2"), SCOPE)[0] == {"number"}
    assert typecheck(parse("potential if has_capex else None"), SCOPE)[0] == {"number", "none"}
    assert typecheck(parse("potential if has_capex else 'n/a'"), SCOPE)[0] == {"number", "text"}
    assert typecheck(parse("has_capex and potential > 5"), SCOPE)[0] == {"bool"}


def test_a_name_the_scope_does_not_know_is_not_reported_twice():
    # Unknown names are reported by the semantic pass; the type check stays silent on them.
    assert typecheck(parse("unknown > 5 and unknown + 'x' == 3"), SCOPE)[1] == []
