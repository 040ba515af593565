"""What ``steerco validate`` catches beyond references and syntax (issues 8 and 14).

Each test plants one mistake in the tests' full tenant and expects exactly the problem a
consultant needs: typed expressions, the rights a workflow assumes, bounded expressions,
side channels, validation rules and patterns, readable pointers, and a large tenant that
validates in seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from configs import full_documents  # tests/ is on sys.path (conftest)

from steerco.config import ConfigInvalid, ConfigProblem, compile_config, problems_of, validate_folder
from steerco.config.semantics import MAX_COMPUTED_DEPTH

DESCRIPTION, POTENTIAL, HAS_CAPEX, CAPEX, CATEGORY, FINANCIALS, WEIGHTED, DUE, EVIDENCE = range(9)
PROGRAM, MEASURE = 0, 1
ADMIN, OWNER = 0, 1
DECIDE, CLOSE = 0, 1


def _wf(docs: dict[str, Any]) -> dict[str, Any]:
    return docs["workflows"]["workflows"][0]


def every_problem(docs: dict[str, Any]) -> list[ConfigProblem]:
    """Problems of the documents, including those only the compiled configuration shows."""
    problems = problems_of(docs)
    if problems:
        return problems
    try:
        compile_config(docs)
    except ConfigInvalid as invalid:
        return invalid.problems
    return []


def the_problem(docs: dict[str, Any]) -> ConfigProblem:
    problems = every_problem(docs)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def _add_field(docs: dict[str, Any], field: dict[str, Any], section: int = 1) -> int:
    docs["fields"]["fields"].append(field)
    docs["levels"]["levels"][MEASURE]["sections"][section]["fields"].append(field["key"])
    return len(docs["fields"]["fields"]) - 1


def test_the_full_tenant_of_these_tests_is_sound():
    assert every_problem(full_documents()) == []


# -- expressions are typed at load time -------------------------------------------------------

def test_a_threshold_comparing_a_money_grid_with_a_number_is_refused_with_its_pointer():
    docs = full_documents()
    _wf(docs)["transitions"][DECIDE]["approvals"][0]["threshold"] = "financials > 250000"

    problem = the_problem(docs)

    assert (problem.file, problem.pointer, problem.code) == (
        "workflows.json", "/workflows/0/transitions/0/approvals/0/threshold", "expression_type")
    assert "cannot compare financials (a time-phased money grid) with 250000 (a number)" in problem.message


@pytest.mark.parametrize(("where", "source", "says"), [
    (("fields", CAPEX, "visible_if"), "due > 5", "cannot compare due (a date) with 5 (a number)"),
    (("fields", DUE, "editable_if"), "description > 5", "cannot compare description (a text)"),
    (("fields", CAPEX, "visible_if"), "category == 'procurment'", "'procurment' is not an option of category"),
    (("fields", CAPEX, "visible_if"), "stage == 'decidd'", "'decidd' is not an option of stage"),
    (("fields", CAPEX, "visible_if"), "potential in 5", "'in' needs a list"),
    (("fields", CAPEX, "visible_if"), "description * 2 == 'xx'", "* needs numbers"),
])
def test_a_condition_that_can_never_make_sense_is_refused(where, source, says):
    docs = full_documents()
    docs[where[0]][where[0]][where[1]][where[2]] = source

    problem = the_problem(docs)

    assert problem.pointer == f"/{where[0]}/{where[1]}/{where[2]}" and problem.code == "expression_type"
    assert says in problem.message and repr(source) in problem.message


def test_a_computed_field_must_produce_its_result_type():
    docs = full_documents()
    docs["fields"]["fields"][WEIGHTED]["expression"] = "'high' if potential > 1000 else 0"

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/fields/6/expression", "result_type_mismatch")
    assert "can produce a text, but the result_type 'money' needs a number" in problem.message


def test_a_yes_no_computed_field_may_not_produce_a_number():
    docs = full_documents()
    _add_field(docs, {"key": "big", "label": "Big", "type": "computed", "result_type": "yes_no",
                      "expression": "has_capex and potential"})

    assert the_problem(docs).code == "result_type_mismatch"


def test_a_computed_field_is_typed_by_its_result_where_other_expressions_read_it():
    docs = full_documents()
    docs["fields"]["fields"][CAPEX]["visible_if"] = "weighted > 'x'"

    assert "cannot compare weighted (a number) with 'x' (a text)" in the_problem(docs).message


# -- cross-checks a consultant needs ---------------------------------------------------------

def test_an_approval_step_whose_role_cannot_approve_is_refused():
    docs = full_documents()
    docs["roles"]["roles"][OWNER]["permissions"][0]["actions"] = ["read", "update"]
    _wf(docs)["transitions"][DECIDE]["approvals"][0]["role"] = "owner"

    problem = the_problem(docs)

    assert (problem.file, problem.pointer, problem.code) == (
        "workflows.json", "/workflows/0/transitions/0/approvals/0/role", "role_cannot_approve")
    assert "role 'owner' is named to decide this step, but none of its permissions grants 'approve' " \
           "on level 'measure'" in problem.message


def test_a_transition_role_without_the_transition_right_is_refused():
    docs = full_documents()
    _wf(docs)["transitions"][CLOSE]["roles"] = ["admin", "owner"]

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/workflows/0/transitions/1/roles/1", "role_cannot_transition")


def test_a_right_granted_on_every_level_or_on_the_level_itself_satisfies_the_check():
    docs = full_documents()
    docs["roles"]["roles"][OWNER]["permissions"].append(
        {"levels": ["measure"], "actions": ["transition", "approve"], "scope": "own"})
    _wf(docs)["transitions"][CLOSE]["roles"] = ["admin", "owner"]
    _wf(docs)["transitions"][DECIDE]["approvals"][0]["role"] = "owner"

    assert every_problem(docs) == []


def test_a_choice_outside_an_enumeration_lists_the_allowed_values():
    docs = full_documents()
    _wf(docs)["transitions"][DECIDE]["approvals"][0]["quorum"] = "most"
    docs["fields"]["fields"][DESCRIPTION]["required"] = "yes"

    messages = {p.pointer: p.message for p in problems_of(docs)}

    assert messages["/workflows/0/transitions/0/approvals/0/quorum"] == \
        "'most' is not allowed here; expected one of 'any', 'all', or an object with 'n'"
    assert messages["/fields/0/required"] == \
        "'yes' is not allowed here; expected true or false, or an object with 'from_stage'"


@pytest.mark.parametrize(("type_typo", "hint"), [("mony", "money"), ("computd", "computed"), ("txt", "text")])
def test_a_typo_in_a_field_type_gives_one_problem_not_follow_on_noise(type_typo, hint):
    docs = full_documents()
    field = docs["fields"]["fields"][WEIGHTED]  # a computed field: expression, result_type, rollup
    field["type"] = type_typo

    problem = the_problem(docs)

    assert (problem.pointer, problem.code, problem.hint) == ("/fields/6/type", "schema.enum", hint)


def test_a_place_the_schema_refuses_is_not_reported_again_by_the_semantic_pass():
    docs = full_documents()
    docs["roles"]["roles"][OWNER]["permissions"][0]["levels"] = ["Measure"]

    problem = the_problem(docs)

    assert problem.code == "schema.anyOf" and problem.hint == "measure"
    assert "expected '*', or a key" in problem.message


def test_a_pointer_into_a_list_names_the_items_by_their_keys():
    docs = full_documents()
    _wf(docs)["transitions"][DECIDE]["approvals"][0]["threshold"] = "potentail > 1000"
    docs["fields"]["fields"][CAPEX]["visible_if"] = "has_capx"

    problems = {p.pointer: p for p in problems_of(docs)}

    threshold = problems["/workflows/0/transitions/0/approvals/0/threshold"]
    assert threshold.item == "workflow gates › transition decide › approval step cfo"
    assert str(problems["/fields/3/visible_if"]).startswith(
        "fields.json:/fields/3/visible_if (field capex_amount): unknown field 'has_capx'")


# -- bounded expressions (issue 14) -----------------------------------------------------------

def _chain(docs: dict[str, Any], links: int, expression: str) -> None:
    """Computed fields c1..cN, each ``expression`` of the one before (c0 is the potential)."""
    for n in range(1, links + 1):
        _add_field(docs, {"key": f"c{n}", "label": f"C{n}", "type": "computed", "result_type": "decimal",
                          "expression": expression.replace("x", f"c{n - 1}")})
    docs["fields"]["fields"][POTENTIAL]["key"] = "c0"
    docs["levels"]["levels"][MEASURE]["sections"][0]["fields"][1] = "c0"
    for path in (docs["fields"]["fields"][WEIGHTED], _wf(docs)["transitions"][DECIDE]):
        for key in ("expression", "condition"):
            if key in path:
                path[key] = path[key].replace("potential", "c0")
    _wf(docs)["transitions"][DECIDE]["required_fields"] = ["c0"]
    _wf(docs)["transitions"][DECIDE]["approvals"][0]["threshold"] = "c0 > 1000"
    docs["levels"]["levels"][MEASURE]["list_columns"][-1] = "c0"
    docs["reports"]["reports"][0]["sections"][0]["tiles"][0]["field"] = "c0"
    docs["reports"]["reports"][0]["sections"][1]["columns"][-1] = "c0"
    docs["reports"]["reports"][0]["sections"][2]["field"] = "c0"


def test_a_chain_of_computed_fields_squaring_each_other_is_refused_at_validate():
    docs = full_documents()
    _chain(docs, 4, "x * x")  # sample 1,000 -> 10^6 -> 10^12 -> 10^24, beyond 10^15

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/fields/11/expression", "expression_limit")
    assert "'c2 * c2' goes beyond the bounds of an evaluation: a number reached" in problem.message
    assert problem.item == "field c3"


def test_a_chain_of_computed_fields_deeper_than_the_limit_is_refused():
    docs = full_documents()
    _chain(docs, MAX_COMPUTED_DEPTH + 1, "x + 1")

    problem = the_problem(docs)

    assert problem.code == "computed_chain_too_deep"
    assert f"chain of {MAX_COMPUTED_DEPTH + 1} computed fields" in problem.message


def test_a_chain_within_the_limit_is_fine():
    docs = full_documents()
    _chain(docs, MAX_COMPUTED_DEPTH, "x + 1")

    assert every_problem(docs) == []


@pytest.mark.parametrize(("source", "says"), [
    ("'%999999999s' % description == ''", "% formatting of text is not allowed"),
    ("round(potential, -99999999999) > 0", "round takes at most 15 digits"),
])
def test_the_expressions_of_the_issue_are_refused_at_validate(source, says):
    docs = full_documents()
    docs["fields"]["fields"][CAPEX]["visible_if"] = source

    problem = the_problem(docs)

    assert problem.code == "expression_type" and says in problem.message


def test_a_text_that_grows_beyond_the_limit_with_the_longest_values_is_refused():
    docs = full_documents()
    docs["fields"]["fields"][DESCRIPTION]["max_length"] = 8000
    _add_field(docs, {"key": "twice", "label": "Twice", "type": "computed", "result_type": "text",
                      "expression": "description + description"})

    problem = the_problem(docs)

    assert problem.code == "expression_limit"
    assert "with the longest texts its fields allow" in problem.message


# -- side channels (issue 14, item 7) ---------------------------------------------------------

def _editor_who_cannot_see_potential(docs: dict[str, Any]) -> None:
    docs["roles"]["roles"].append({
        "key": "editor", "label": "Editor", "fields": {"potential": "hidden"},
        "permissions": [{"levels": ["*"], "actions": ["read", "update", "transition"], "scope": "tenant"}]})


def test_editable_if_reading_a_field_hidden_from_a_role_that_may_write_the_field_is_refused():
    docs = full_documents()
    _editor_who_cannot_see_potential(docs)
    _wf(docs)["transitions"][DECIDE].pop("approvals")
    docs["fields"]["fields"][DUE]["editable_if"] = "potential > 1000"

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/fields/7/editable_if", "side_channel")
    assert "role 'editor' does not see 'potential' on level 'measure'" in problem.message
    assert "whether they may edit 'due' depends on it" in problem.message


def test_a_transition_condition_reading_a_field_hidden_from_a_requester_is_refused():
    docs = full_documents()
    _editor_who_cannot_see_potential(docs)
    _wf(docs)["transitions"][DECIDE]["roles"] = ["admin", "editor"]
    _wf(docs)["transitions"][DECIDE].pop("approvals")

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/workflows/0/transitions/0/condition", "side_channel")
    assert "whether they may request 'decide' depends on it" in problem.message


def test_a_threshold_reading_a_field_hidden_from_a_requester_is_refused():
    docs = full_documents()
    _editor_who_cannot_see_potential(docs)
    _wf(docs)["transitions"][DECIDE]["roles"] = ["admin", "editor"]
    _wf(docs)["transitions"][DECIDE]["condition"] = "not empty(due)"

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/workflows/0/transitions/0/approvals/0/threshold", "side_channel")
    assert "whether step 'cfo' of 'decide' applies depends on it" in problem.message


def test_a_field_computed_from_a_hidden_field_is_hidden_too_for_the_side_channel_check():
    docs = full_documents()
    _editor_who_cannot_see_potential(docs)
    docs["fields"]["fields"][DUE]["editable_if"] = "weighted > 0"  # weighted = potential * 0.5
    _wf(docs)["transitions"][DECIDE].pop("approvals")

    assert "does not see 'weighted'" in the_problem(docs).message


def test_a_condition_a_role_only_reads_about_fields_it_sees_is_fine():
    docs = full_documents()
    _editor_who_cannot_see_potential(docs)  # it requests nothing and edits no conditional field

    assert every_problem(docs) == []


# -- validation rules and patterns ------------------------------------------------------------

def _rule(docs: dict[str, Any], **rule: Any) -> None:
    docs["levels"]["levels"][MEASURE]["rules"] = [
        {"key": "capex_within_potential", "condition": "capex_amount <= potential",
         "message": "Capex cannot exceed the potential.", "fields": ["capex_amount"], **rule}]


def test_a_validation_rule_compiles_onto_its_level():
    docs = full_documents()
    _rule(docs)

    level = compile_config(docs).levels["measure"]

    (rule,) = level.rules
    assert (rule.key, rule.condition.source, rule.fields) == (
        "capex_within_potential", "capex_amount <= potential", ("capex_amount",))


@pytest.mark.parametrize(("rule", "pointer", "code"), [
    ({"condition": "capex_amount <= potentail"}, "/levels/1/rules/0/condition", "unknown_name"),
    ({"condition": "capex_amount <= description"}, "/levels/1/rules/0/condition", "expression_type"),
    ({"fields": ["headcount"]}, "/levels/1/rules/0/fields/0", "unknown_field"),
    ({"message": ""}, "/levels/1/rules/0/message", "schema.minLength"),
    ({"fields": []}, "/levels/1/rules/0/fields", "schema.minItems"),
])
def test_a_broken_validation_rule_is_refused_at_its_place(rule, pointer, code):
    docs = full_documents()
    _rule(docs, **rule)

    problem = the_problem(docs)

    assert (problem.file, problem.pointer, problem.code) == ("levels.json", pointer, code)
    assert problem.item == "level measure › rule capex_within_potential"


def test_two_rules_of_a_level_may_not_share_a_key():
    docs = full_documents()
    _rule(docs)
    docs["levels"]["levels"][MEASURE]["rules"].append(dict(docs["levels"]["levels"][MEASURE]["rules"][0]))

    assert (the_problem(docs).pointer, the_problem(docs).code) == ("/levels/1/rules/1/key", "duplicate_key")


def test_a_rule_reading_a_field_hidden_from_a_role_that_may_change_it_is_refused():
    docs = full_documents()
    _editor_who_cannot_see_potential(docs)
    _rule(docs)

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/levels/1/rules/0/condition", "side_channel")


def test_a_text_field_pattern_compiles_and_a_pattern_re2_cannot_run_is_refused():
    docs = full_documents()
    code = _add_field(docs, {"key": "code", "label": "Code", "type": "text",
                             "pattern": {"regex": "^[A-Z]{2}-[0-9]{4}$", "message": "Use AB-1234."}})
    assert compile_config(docs).fields["code"].pattern == "^[A-Z]{2}-[0-9]{4}$"

    docs["fields"]["fields"][code]["pattern"]["regex"] = "^(a)\\1$"  # a backreference

    problem = the_problem(docs)
    assert (problem.pointer, problem.code) == (f"/fields/{code}/pattern/regex", "bad_pattern")


def test_a_pattern_is_only_for_text_fields():
    docs = full_documents()
    docs["fields"]["fields"][POTENTIAL]["pattern"] = {"regex": "^1", "message": "Starts with 1."}

    assert the_problem(docs).code == "schema.not_allowed"


def test_a_default_that_does_not_match_its_pattern_is_refused():
    docs = full_documents()
    _add_field(docs, {"key": "code", "label": "Code", "type": "text", "default": "x",
                      "pattern": {"regex": "^[A-Z]+$", "message": "Capitals only."}})

    assert the_problem(docs).code == "bad_default"


def test_a_quorum_that_can_never_be_reached_is_refused():
    docs = full_documents()
    _wf(docs)["transitions"][DECIDE]["approvals"][0]["quorum"] = {"n": 1000}

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/workflows/0/transitions/0/approvals/0/quorum/n", "schema.maximum")


# -- validate never shows a traceback, and a large tenant validates in seconds ----------------

def _folder(tmp_path: Path, docs: dict[str, Any], **raw: str) -> Path:
    for name, doc in docs.items():
        (tmp_path / f"{name}.json").write_text(raw.get(name) or json.dumps(doc), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("text", "says"), [
    ("[" * 100_000 + "]" * 100_000, "nested more than 32 deep"),
    ('{"reports": [' + "[" * 40 + "]" * 40 + "]}", "nested more than 32 deep"),
    ('{"reports": [], "x": 1' + "0" * 10_000 + "}", "more than 30 digits"),
    ('{"reports": [], "x": 1e999999}', "too large"),
    ('{"reports": [], "x": NaN}', "NaN is not a number JSON allows"),
])
def test_a_document_beyond_the_bounds_is_a_problem_not_a_crash(tmp_path, text, says):
    folder = _folder(tmp_path, full_documents(), reports=text)

    (problem,) = validate_folder(folder)

    assert (problem.file, problem.code) == ("reports.json", "document_too_large") and says in problem.message


def test_a_deeply_nested_document_given_to_the_compiler_is_a_problem_too():
    docs = full_documents()
    nested: list[Any] = []
    for _ in range(3000):
        nested = [nested]
    docs["reports"]["reports"][0]["sections"][0]["deep"] = nested

    assert [(p.file, p.code) for p in problems_of(docs)] == [("reports.json", "document_too_large")]


def test_a_tenant_of_twenty_thousand_fields_validates_in_seconds(tmp_path):
    docs = full_documents()
    kinds = ["text", "money", "yes_no", "date", "single_choice"]
    extra = []
    for n in range(20_000):
        field: dict[str, Any] = {"key": f"extra_{n}", "label": f"Extra {n}", "type": kinds[n % 5]}
        if field["type"] == "single_choice":
            field["options"] = [{"key": "a", "label": "A"}, {"key": "b", "label": "B"}]
        if n % 10 == 1:
            field["visible_if"] = f"not empty(extra_{n - 1})"
        extra.append(field)
    docs["fields"]["fields"].extend(extra)
    docs["levels"]["levels"][MEASURE]["sections"].append(
        {"key": "extra", "label": "Extra", "fields": [f["key"] for f in extra]})
    folder = _folder(tmp_path, docs)

    started = time.monotonic()
    problems = validate_folder(folder)
    elapsed = time.monotonic() - started

    assert problems == []
    assert elapsed < 10, f"validating 20,000 fields took {elapsed:.1f} s"
