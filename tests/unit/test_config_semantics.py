"""Semantic pass and compiler: what JSON Schema cannot say about a tenant configuration.

Every semantic check has at least one failing example made by planting one mistake in a
valid tenant; the problem must name file, JSON Pointer, code and, for typos, the key the
consultant probably meant. Also: all problems come at once, the compiled configuration is
immutable, and computed fields get an evaluation order.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import pytest
from configs import full_documents, minimal_documents  # tests/ is on sys.path (conftest)

from steerco.config import ConfigInvalid, ConfigProblem, TenantConfig, compile_config, problems_of
from steerco.config.semantics import check



# Indexes in minimal_documents(), so that the expected pointers below read plainly.
DESCRIPTION, POTENTIAL, HAS_CAPEX, CAPEX, CATEGORY, FINANCIALS, WEIGHTED, DUE, EVIDENCE = range(9)
PROGRAM, MEASURE = 0, 1
ADMIN, OWNER = 0, 1
DECIDE, CLOSE = 0, 1


def triples(problems: list[ConfigProblem]) -> list[tuple[str, str, str]]:
    return [(p.file, p.pointer, p.code) for p in problems]


def the_problem(docs: dict[str, Any]) -> ConfigProblem:
    """The one and only problem of ``docs`` (fails loudly when there are more or none)."""
    problems = problems_of(docs)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_the_base_tenant_of_these_tests_is_sound():
    assert problems_of(full_documents()) == []
    assert check(full_documents()) == []


# -- one failing example per semantic check --------------------------------------------------

def _add_overlap(docs: dict[str, Any], condition: str | None = None, **overlap: Any) -> None:
    """The first exception rule: a double-count guard on measures, with ``overlap`` changed."""
    rule: dict[str, Any] = {"key": "twice", "label": "Claimed twice", "level": "measure", "owner_role": "admin",
                            "due_days": 5, "overlap": {"keys": ["category"], "grid": "financials",
                                                       "scenario": "plan", **overlap}}
    if condition:
        rule["condition"] = condition
    docs.setdefault("exceptions", {"rules": []})["rules"].insert(0, rule)


def _wf(docs: dict[str, Any]) -> dict[str, Any]:
    return docs["workflows"]["workflows"][0]


def _append_duplicate_field(docs):
    docs["fields"]["fields"].append({"key": "due", "label": "Due again", "type": "date"})


def _place_field_twice(docs):
    docs["levels"]["levels"][MEASURE]["sections"][1]["fields"].append("potential")


def _every_level_has_a_parent(docs):
    docs["levels"]["levels"][PROGRAM]["parents"] = ["measure"]


def _unreachable_archive(docs):
    _wf(docs)["stages"].append({"key": "archived", "label": "Archived", "order": 4})


def _computed_from(key, expression):
    return {"key": key, "label": key.title(), "type": "computed", "result_type": "money",
            "expression": expression}


def _computed_cycle(docs):
    docs["fields"]["fields"][WEIGHTED]["expression"] = "risked * 2"
    docs["fields"]["fields"].append(_computed_from("risked", "weighted / 2"))
    docs["levels"]["levels"][MEASURE]["sections"][1]["fields"].append("risked")


# (what went wrong, mutation, file, pointer, code, hint)
SEMANTIC_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str, str, str, str | None]] = [
    ("duplicate field key", _append_duplicate_field, "fields", "/fields/9/key", "duplicate_key", None),
    ("duplicate option key",
     lambda d: d["fields"]["fields"][CATEGORY]["options"].append({"key": "personnel", "label": "HR"}),
     "fields", "/fields/4/options/2/key", "duplicate_key", None),
    ("duplicate stage key",
     lambda d: _wf(d)["stages"].append({"key": "closed", "label": "Closed again", "order": 9}),
     "workflows", "/workflows/0/stages/3/key", "duplicate_key", None),
    ("duplicate section key",
     lambda d: d["levels"]["levels"][PROGRAM]["sections"].append(
         {"key": "main", "label": "Again", "fields": []}),
     "levels", "/levels/0/sections/1/key", "duplicate_key", None),
    ("duplicate role key",
     lambda d: d["roles"]["roles"].append({"key": "owner", "label": "Owner 2", "permissions": []}),
     "roles", "/roles/2/key", "duplicate_key", None),
    ("duplicate approval step key",
     lambda d: _wf(d)["transitions"][DECIDE]["approvals"].append(
         {"key": "cfo", "label": "CFO again", "role": "admin"}),
     "workflows", "/workflows/0/transitions/0/approvals/1/key", "duplicate_key", None),
    ("duplicate report key",
     lambda d: d["reports"]["reports"].append(d["reports"]["reports"][0] | {"title": "Copy"}),
     "reports", "/reports/1/key", "duplicate_key", None),
    ("parent level misspelt",
     lambda d: d["levels"]["levels"][MEASURE].update(parents=["programme"]),
     "levels", "/levels/1/parents/0", "unknown_level", "program"),
    ("permission on an unknown level",
     lambda d: d["roles"]["roles"][OWNER]["permissions"][0].update(levels=["measures"]),
     "roles", "/roles/1/permissions/0/levels/0", "unknown_level", "measure"),
    ("reference to an unknown level",
     lambda d: d["fields"]["fields"].append(
         {"key": "lead", "label": "Lead", "type": "reference", "target_level": "projekt"}),
     "fields", "/fields/9/target_level", "unknown_level", None),
    ("exception rule on an unknown level",
     lambda d: d["exceptions"]["rules"][0].update(level="measur"),
     "exceptions", "/rules/0/level", "unknown_level", "measure"),
    ("report on an unknown level",
     lambda d: d["reports"]["reports"][0].update(level="measur"),
     "reports", "/reports/0/level", "unknown_level", "measure"),
    ("status dimension on an unknown level",
     lambda d: d["workflows"]["status_dimensions"][0].update(levels=["measur"]),
     "workflows", "/status_dimensions/0/levels/0", "unknown_level", "measure"),
    ("section places an unknown field",
     lambda d: d["levels"]["levels"][MEASURE]["sections"][0]["fields"].__setitem__(1, "potentail"),
     "levels", "/levels/1/sections/0/fields/1", "unknown_field", "potential"),
    ("role overrides an unknown field",
     lambda d: d["roles"]["roles"][OWNER].update(fields={"potentail": "read"}),
     "roles", "/roles/1/fields/potentail", "unknown_field", "potential"),
    ("transition requires an unknown field",
     lambda d: _wf(d)["transitions"][DECIDE].update(required_fields=["potentail"]),
     "workflows", "/workflows/0/transitions/0/required_fields/0", "unknown_field", "potential"),
    ("exception rule requires unknown evidence",
     lambda d: d["exceptions"]["rules"][0].update(required_evidence=["evidense"]),
     "exceptions", "/rules/0/required_evidence/0", "unknown_field", "evidence"),
    ("chart of an unknown field",
     lambda d: d["reports"]["reports"][0]["sections"][2].update(field="potentail"),
     "reports", "/reports/0/sections/2/field", "unknown_field", "potential"),
    ("kpi tile of an unknown field",
     lambda d: d["reports"]["reports"][0]["sections"][0]["tiles"][0].update(field="potentail"),
     "reports", "/reports/0/sections/0/tiles/0/field", "unknown_field", "potential"),
    ("level follows an unknown workflow",
     lambda d: d["levels"]["levels"][MEASURE].update(workflow="gate"),
     "levels", "/levels/1/workflow", "unknown_workflow", "gates"),
    ("initial stage misspelt",
     lambda d: _wf(d).update(initial_stage="defind"),
     "workflows", "/workflows/0/initial_stage", "unknown_stage", "defined"),
    ("transition from an unknown stage",
     lambda d: _wf(d)["transitions"][CLOSE].update({"from": ["decidd"]}),
     "workflows", "/workflows/0/transitions/1/from/0", "unknown_stage", "decided"),
    ("transition to an unknown stage",
     lambda d: _wf(d)["transitions"][CLOSE].update(to="closd"),
     "workflows", "/workflows/0/transitions/1/to", "unknown_stage", "closed"),
    ("rejection to an unknown stage",
     lambda d: _wf(d)["transitions"][DECIDE].update(reject_to="defind"),
     "workflows", "/workflows/0/transitions/0/reject_to", "unknown_stage", "defined"),
    ("field required from an unknown stage",
     lambda d: d["fields"]["fields"][POTENTIAL].update(required={"from_stage": "decidd"}),
     "fields", "/fields/1/required/from_stage", "unknown_stage", "decided"),
    ("transition for an unknown role",
     lambda d: _wf(d)["transitions"][DECIDE].update(roles=["admn"]),
     "workflows", "/workflows/0/transitions/0/roles/0", "unknown_role", "admin"),
    ("field readable by an unknown role",
     lambda d: d["fields"]["fields"][DUE].update(read_roles=["ownr"]),
     "fields", "/fields/7/read_roles/0", "unknown_role", "owner"),
    ("field writable by an unknown role",
     lambda d: d["fields"]["fields"][DUE].update(write_roles=["ownr"]),
     "fields", "/fields/7/write_roles/0", "unknown_role", "owner"),
    ("approval by an unknown role",
     lambda d: _wf(d)["transitions"][DECIDE]["approvals"][0].update(role="cfo"),
     "workflows", "/workflows/0/transitions/0/approvals/0/role", "unknown_role", None),
    ("forum of an unknown role",
     lambda d: d["exceptions"]["forums"][0].update(role="admins"),
     "exceptions", "/forums/0/role", "unknown_role", "admin"),
    ("exception owned by an unknown role",
     lambda d: d["exceptions"]["rules"][0].update(owner_role="ownr"),
     "exceptions", "/rules/0/owner_role", "unknown_role", "owner"),
    ("report for an unknown audience",
     lambda d: d["reports"]["reports"][0].update(audience=["admn"]),
     "reports", "/reports/0/audience/0", "unknown_role", "admin"),
    ("transition escalates to nobody known",
     lambda d: _wf(d)["transitions"][DECIDE].update(escalate_to="bord"),
     "workflows", "/workflows/0/transitions/0/escalate_to", "unknown_role_or_forum", "board"),
    ("exception escalates to nobody known",
     lambda d: d["exceptions"]["rules"][0]["escalation"][0].update(to="bord"),
     "exceptions", "/rules/0/escalation/0/to", "unknown_role_or_forum", "board"),
    ("exception goes to an unknown forum",
     lambda d: d["exceptions"]["rules"][0].update(forum="bord"),
     "exceptions", "/rules/0/forum", "unknown_forum", "board"),
    ("list column that is no field of the level",
     lambda d: d["levels"]["levels"][MEASURE]["list_columns"].append("potentail"),
     "levels", "/levels/1/list_columns/4", "unknown_column", "potential"),
    ("list column placed on another level",
     lambda d: d["levels"]["levels"][PROGRAM].update(list_columns=["number", "potential"]),
     "levels", "/levels/0/list_columns/1", "unknown_column", None),
    ("report column misspelt",
     lambda d: d["reports"]["reports"][0]["sections"][1]["columns"].append("ownr"),
     "reports", "/reports/0/sections/1/columns/3", "unknown_column", "owner"),
    ("report grouped by an unknown column",
     lambda d: d["reports"]["reports"][0]["sections"][1].update(group_by="categry"),
     "reports", "/reports/0/sections/1/group_by", "unknown_column", "category"),
    ("evidence required that is no evidence field",
     lambda d: _wf(d)["transitions"][CLOSE].update(required_evidence=["potential"]),
     "workflows", "/workflows/0/transitions/1/required_evidence/0", "unknown_evidence_field", None),
    ("evidence required that is misspelt",
     lambda d: _wf(d)["transitions"][CLOSE].update(required_evidence=["evidense"]),
     "workflows", "/workflows/0/transitions/1/required_evidence/0", "unknown_evidence_field",
     "evidence"),
    ("status default that is no option",
     lambda d: d["workflows"]["status_dimensions"][0].update(default="gren"),
     "workflows", "/status_dimensions/0/default", "unknown_option", "green"),
    ("comment required for no option",
     lambda d: d["workflows"]["status_dimensions"][0].update(comment_required_for=["amber"]),
     "workflows", "/status_dimensions/0/comment_required_for/0", "unknown_option", None),
    ("status dimension named like a field of another kind",
     lambda d: d["workflows"]["status_dimensions"][0].update(key="category"),
     "workflows", "/status_dimensions/0/key", "status_field_mismatch", None),
    ("no top level", _every_level_has_a_parent, "levels", "/levels", "no_root_level", None),
    ("field placed twice in one level", _place_field_twice,
     "levels", "/levels/1/sections/1/fields/4", "field_placed_twice", None),
    ("visible_if cut short",
     lambda d: d["fields"]["fields"][CAPEX].update(visible_if="has_capex and"),
     "fields", "/fields/3/visible_if", "expression_syntax", None),
    ("computed expression uses attribute access",
     lambda d: d["fields"]["fields"][WEIGHTED].update(expression="potential.real"),
     "fields", "/fields/6/expression", "expression_syntax", None),
    ("transition condition calls an unknown function",
     lambda d: _wf(d)["transitions"][DECIDE].update(condition="eval('1')"),
     "workflows", "/workflows/0/transitions/0/condition", "expression_syntax", None),
    ("exception condition with an assignment",
     lambda d: d["exceptions"]["rules"][0].update(condition="due = 1"),
     "exceptions", "/rules/0/condition", "expression_syntax", None),
    ("visible_if reads an unknown field",
     lambda d: d["fields"]["fields"][CAPEX].update(visible_if="has_capx"),
     "fields", "/fields/3/visible_if", "unknown_name", "has_capex"),
    ("editable_if reads an unknown field",
     lambda d: d["fields"]["fields"][DUE].update(editable_if="stage == 'defined' and potentail > 0"),
     "fields", "/fields/7/editable_if", "unknown_name", "potential"),
    ("computed field reads an unknown field",
     lambda d: d["fields"]["fields"][WEIGHTED].update(expression="potental * 0.5"),
     "fields", "/fields/6/expression", "unknown_name", "potential"),
    ("approval threshold reads an unknown field",
     lambda d: _wf(d)["transitions"][DECIDE]["approvals"][0].update(threshold="potentail > 1000"),
     "workflows", "/workflows/0/transitions/0/approvals/0/threshold", "unknown_name", "potential"),
    ("exception condition reads an unknown field",
     lambda d: d["exceptions"]["rules"][0].update(condition="not empty(potentail)"),
     "exceptions", "/rules/0/condition", "unknown_name", "potential"),
    ("report filter reads an unknown field",
     lambda d: d["reports"]["reports"][0].update(filter="categroy == 'personnel'"),
     "reports", "/reports/0/filter", "unknown_name", "category"),
    ("computed fields depend on each other in a circle", _computed_cycle,
     "fields", "/fields/6/expression", "computed_cycle", None),
    ("computed field reads itself",
     lambda d: d["fields"]["fields"][WEIGHTED].update(expression="weighted + 1"),
     "fields", "/fields/6/expression", "computed_cycle", None),
    ("stage nobody can reach", _unreachable_archive,
     "workflows", "/workflows/0/stages/3", "unreachable_stage", None),
    ("a date summed up",
     lambda d: d["fields"]["fields"][DUE].update(rollup="sum"),
     "fields", "/fields/7/rollup", "bad_rollup", None),
    ("a money grid averaged",
     lambda d: d["fields"]["fields"][FINANCIALS].update(rollup="avg"),
     "fields", "/fields/5/rollup", "bad_rollup", None),
    ("min above max",
     lambda d: d["fields"]["fields"][POTENTIAL].update(min=10, max=5),
     "fields", "/fields/1/min", "min_above_max", None),
    ("approval card names a field not on the level",
     lambda d: d["levels"]["levels"][MEASURE].update(approval_card=["potential", "potentail"]),
     "levels", "/levels/1/approval_card/1", "unknown_field", "potential"),
    ("an overlap keyed on a computed field",
     lambda d: _add_overlap(d, keys=["category", "weighted"]),
     "exceptions", "/rules/0/overlap/keys/1", "overlap_key_not_comparable", None),
    ("an overlap on a field that is not time-phased",
     lambda d: _add_overlap(d, grid="potential"),
     "exceptions", "/rules/0/overlap/grid", "overlap_not_a_grid", None),
    ("an overlap on a scenario the grid does not have",
     lambda d: _add_overlap(d, scenario="budget"),
     "exceptions", "/rules/0/overlap/scenario", "unknown_scenario", None),
    ("an overlap rule with a condition as well",
     lambda d: _add_overlap(d, condition="potential > 0"),
     "exceptions", "/rules/0/overlap", "condition_and_overlap", None),
    ("a cross-role step with a quorum other than one of each",
     lambda d: _wf(d)["transitions"][DECIDE]["approvals"][0].update(roles=["admin", "owner"], quorum="any") or
     _wf(d)["transitions"][DECIDE]["approvals"][0].pop("role"),
     "workflows", "/workflows/0/transitions/0/approvals/0/quorum", "quorum_across_roles", None),
    ("a cross-role step one person may decide twice",
     lambda d: _wf(d)["transitions"][DECIDE]["approvals"][0].update(roles=["admin", "owner"],
                                                                     same_approver_allowed=True),
     "workflows", "/workflows/0/transitions/0/approvals/0/same_approver_allowed", "same_approver_across_roles", None),
    ("a step with both role and roles",
     lambda d: _wf(d)["transitions"][DECIDE]["approvals"][0].update(roles=["admin", "owner"]),
     "workflows", "/workflows/0/transitions/0/approvals/0/roles", "role_and_roles", None),
    ("the first step in parallel with nothing",
     lambda d: _wf(d)["transitions"][DECIDE]["approvals"][0].update(parallel_with_previous=True),
     "workflows", "/workflows/0/transitions/0/approvals/0/parallel_with_previous", "parallel_without_previous",
     None),
    ("approval card on a level nothing is approved on",
     lambda d: d["levels"]["levels"][PROGRAM].update(approval_card=["description"]),
     "levels", "/levels/0/approval_card", "approval_card_without_workflow", None),
]


@pytest.mark.parametrize(("mutate", "file", "pointer", "code", "hint"),
                         [case[1:] for case in SEMANTIC_CASES], ids=[case[0] for case in SEMANTIC_CASES])
def test_a_consultant_sees_each_semantic_mistake_with_pointer_and_hint(mutate, file, pointer, code, hint):
    docs = full_documents()
    mutate(docs)

    problems = problems_of(docs)

    matching = [p for p in problems if (p.file, p.pointer, p.code) == (f"{file}.json", pointer, code)]
    assert matching, [str(p) for p in problems]
    assert matching[0].hint == hint


def test_every_semantic_code_of_the_issue_has_a_failing_example():
    codes = {case[4] for case in SEMANTIC_CASES}

    assert codes >= {
        "duplicate_key", "unknown_level", "unknown_field", "unknown_workflow", "unknown_stage",
        "unknown_role", "unknown_role_or_forum", "unknown_forum", "unknown_column",
        "unknown_evidence_field", "unknown_option", "no_root_level", "field_placed_twice",
        "expression_syntax", "unknown_name", "computed_cycle", "unreachable_stage", "bad_rollup",
        "min_above_max",
    }


# -- messages a consultant can act on --------------------------------------------------------

def test_a_duplicate_key_names_where_the_first_one_is():
    docs = minimal_documents()
    _append_duplicate_field(docs)

    problem = the_problem(docs)

    assert "duplicate field key 'due'" in problem.message
    assert "first at /fields/7" in problem.message


def test_an_unknown_field_in_a_section_suggests_the_intended_one():
    docs = minimal_documents()
    docs["levels"]["levels"][MEASURE]["sections"][0]["fields"][4] = "categroy"

    problem = the_problem(docs)

    assert (problem.file, problem.pointer, problem.code) == (
        "levels.json", "/levels/1/sections/0/fields/4", "unknown_field")
    assert problem.message == "unknown field 'categroy'"
    assert str(problem).endswith("(did you mean 'category'?)")


def test_an_expression_may_read_only_fields_of_the_levels_that_place_it():
    # "description" sits on both levels; "potential" only on measures
    docs = minimal_documents()
    docs["fields"]["fields"][DESCRIPTION]["visible_if"] = "potential > 0"

    problem = the_problem(docs)

    assert (problem.file, problem.pointer, problem.code) == (
        "fields.json", "/fields/0/visible_if", "unknown_name")
    assert "level 'program' has no such field" in problem.message


def test_an_expression_may_read_system_names_and_call_known_functions():
    docs = minimal_documents()
    docs["fields"]["fields"][DUE]["editable_if"] = \
        "stage != 'closed' and not empty(title) and days_since(today) == 0 and len(title) < 200"

    assert problems_of(docs) == []


def test_a_transition_condition_is_checked_against_the_levels_that_use_the_workflow():
    docs = minimal_documents()
    # "financials" sits on measures, which use the gates workflow; the program level does not
    _wf(docs)["transitions"][DECIDE]["condition"] = "not empty(financials) and not empty(description)"
    assert problems_of(docs) == []

    _wf(docs)["transitions"][DECIDE]["condition"] = "not empty(headcount)"
    problem = the_problem(docs)
    assert problem.code == "unknown_name"
    assert "level 'measure' has no such field" in problem.message


def test_an_expression_syntax_error_says_what_is_wrong():
    docs = minimal_documents()
    docs["fields"]["fields"][CAPEX]["visible_if"] = "has_capex and"

    problem = the_problem(docs)

    assert problem.message.startswith("syntax error in expression 'has_capex and'")


def test_both_computed_fields_of_a_circle_are_reported():
    docs = minimal_documents()
    _computed_cycle(docs)

    problems = problems_of(docs)

    assert triples(problems) == [
        ("fields.json", "/fields/6/expression", "computed_cycle"),
        ("fields.json", "/fields/9/expression", "computed_cycle"),
    ]


def test_a_computed_field_reading_another_computed_field_is_not_a_cycle():
    docs = minimal_documents()
    docs["fields"]["fields"].append(_computed_from("risked", "weighted / 2"))
    docs["levels"]["levels"][MEASURE]["sections"][1]["fields"].append("risked")

    assert problems_of(docs) == []


def test_a_stage_reached_only_through_a_later_stage_is_reachable():
    docs = minimal_documents()
    _wf(docs)["stages"].append({"key": "archived", "label": "Archived", "order": 4})
    _wf(docs)["transitions"].append(
        {"key": "archive", "label": "Archive", "from": ["closed"], "to": "archived", "roles": ["admin"]})

    assert problems_of(docs) == []


def test_an_unreachable_stage_names_the_initial_stage():
    docs = minimal_documents()
    _wf(docs)["transitions"].pop(CLOSE)

    problem = the_problem(docs)

    assert (problem.pointer, problem.code) == ("/workflows/0/stages/2", "unreachable_stage")
    assert "'closed' cannot be reached from the initial stage 'defined'" in problem.message


def test_a_bad_rollup_lists_the_rollups_the_type_offers():
    docs = minimal_documents()
    docs["fields"]["fields"][DUE]["rollup"] = "sum"

    problem = the_problem(docs)

    assert problem.message == "a date field cannot roll up by 'sum'; possible: count, max, min, none"


def test_permissions_on_every_level_are_written_as_a_star():
    docs = minimal_documents()
    docs["roles"]["roles"][OWNER]["permissions"][0]["levels"] = ["*"]

    assert problems_of(docs) == []


def test_semantic_checks_still_run_on_the_well_formed_parts_of_a_broken_document():
    docs = minimal_documents()
    docs["levels"]["levels"][MEASURE]["label_plural"] = 42            # schema mistake
    docs["levels"]["levels"][MEASURE]["sections"][0]["fields"][4] = "categroy"  # semantic one

    assert triples(problems_of(docs)) == [
        ("levels.json", "/levels/1/label_plural", "schema.type"),
        ("levels.json", "/levels/1/sections/0/fields/4", "unknown_field"),
    ]


def test_semantic_checks_survive_documents_of_the_wrong_shape():
    docs = minimal_documents()
    docs["levels"] = {"levels": "none"}
    docs["fields"] = {"fields": [None, 3, {"key": 5}]}
    docs["roles"] = []

    problems = problems_of(docs)  # must not raise

    assert ("levels.json", "/levels", "schema.type") in triples(problems)
    assert ("roles.json", "", "schema.type") in triples(problems)


# -- all problems at once --------------------------------------------------------------------

def test_three_mistakes_in_two_files_are_all_reported_at_once():
    docs = minimal_documents()
    docs["fields"]["fields"][CAPEX]["visible_if"] = "has_capx"            # unknown field
    _append_duplicate_field(docs)                                           # duplicate key
    docs["fields"]["fields"][DESCRIPTION]["max_length"] = "ten"            # wrong type
    docs["levels"]["levels"][MEASURE]["sections"][0]["fields"][4] = "categroy"

    with pytest.raises(ConfigInvalid) as raised:
        compile_config(docs)

    problems = raised.value.problems
    assert sorted(triples(problems)) == sorted([
        ("fields.json", "/fields/3/visible_if", "unknown_name"),
        ("fields.json", "/fields/9/key", "duplicate_key"),
        ("fields.json", "/fields/0/max_length", "schema.type"),
        ("levels.json", "/levels/1/sections/0/fields/4", "unknown_field"),
    ])
    message = str(raised.value)
    assert message.startswith("4 configuration problem(s):")
    assert "fields.json:/fields/3/visible_if" in message and "did you mean 'has_capex'?" in message


def test_the_issue_s_three_planted_mistakes_come_back_together():
    docs = minimal_documents()
    docs["fields"]["fields"][WEIGHTED]["expression"] = "potentail * 0.5"   # unknown field
    docs["fields"]["fields"].append({"key": "category", "label": "Category 2", "type": "text"})
    docs["fields"]["fields"][DESCRIPTION]["max_length"] = "ten"

    problems = problems_of(docs)

    assert sorted(triples(problems)) == sorted([
        ("fields.json", "/fields/0/max_length", "schema.type"),
        ("fields.json", "/fields/6/expression", "unknown_name"),
        ("fields.json", "/fields/9/key", "duplicate_key"),
    ])
    assert next(p for p in problems if p.code == "unknown_name").hint == "potential"


# -- compiler --------------------------------------------------------------------------------

def test_a_missing_required_file_is_reported_and_optional_files_may_be_left_out():
    docs = minimal_documents()
    del docs["roles"]

    problems = problems_of(docs)

    assert ("roles.json", "", "missing_file") in triples(problems)
    assert not any(p.file in {"exceptions.json", "reports.json"} for p in problems)

    docs = minimal_documents()
    del docs["workflows"]
    del docs["levels"]["levels"][MEASURE]["workflow"]
    docs["fields"]["fields"][POTENTIAL]["required"] = True
    assert problems_of(docs) == []


def test_a_default_that_its_field_type_refuses_is_reported_at_compile_time():
    docs = minimal_documents()
    docs["fields"]["fields"][CATEGORY]["default"] = "marketing"

    with pytest.raises(ConfigInvalid) as raised:
        compile_config(docs)

    [problem] = raised.value.problems
    assert (problem.file, problem.pointer, problem.code) == ("fields.json", "/fields/4/default", "bad_default")
    assert "default 'marketing' is not a valid single_choice value" in problem.message


def test_defaults_that_fit_their_type_compile():
    docs = minimal_documents()
    docs["fields"]["fields"][CATEGORY]["default"] = "personnel"
    docs["fields"]["fields"][HAS_CAPEX]["default"] = False
    docs["fields"]["fields"][POTENTIAL]["default"] = 0

    config = compile_config(docs)

    assert config.fields["category"].default == "personnel"
    assert config.fields["has_capex"].default is False


def test_a_date_default_that_is_no_date_is_reported():
    docs = minimal_documents()
    docs["fields"]["fields"][DUE]["default"] = "next tuesday"

    with pytest.raises(ConfigInvalid) as raised:
        compile_config(docs)

    assert triples(raised.value.problems) == [("fields.json", "/fields/7/default", "bad_default")]


def test_the_compiled_configuration_holds_what_the_documents_say():
    config = compile_config(full_documents(), version=7)

    assert isinstance(config, TenantConfig)
    assert (config.key, config.currency, config.version) == ("mini", "EUR", 7)
    assert [p.key for p in config.periods] == ["2026-01", "2026-02", "2026-03"]
    assert [lv.key for lv in config.root_levels] == ["program"]
    measure = config.level("measure")
    assert measure.parents == ("program",) and config.level("program").children == ("measure",)
    assert (measure.number_prefix, measure.number_digits) == ("M", 3)
    assert config.workflow_of(measure).initial_stage == "defined"
    assert config.workflow_of(config.level("program")) is None
    potential = config.fields["potential"]
    assert potential.kind.key == "money" and potential.required_from_stage == "decided"
    assert config.fields["capex_amount"].required_always
    assert config.fields["capex_amount"].visible_if.names == frozenset({"has_capex"})
    assert config.fields["financials"].scenarios == ("plan", "actual")
    assert config.fields["evidence"].accept == (".pdf", ".txt")
    decide = config.workflows["gates"].transitions[0]
    assert decide.approvals[0].quorum == 1 and decide.escalate_to == "board"
    assert config.exception_rules["late"].escalation == ((7, "board"),)
    assert config.status_dimensions["health"].default == "green"


def test_quarterly_reporting_periods_step_three_months_across_the_year_end():
    docs = minimal_documents()
    docs["tenant"]["reporting"] = {"granularity": "quarter", "start": "2026-10", "periods": 3}

    config = compile_config(docs)

    assert [(p.key, p.label) for p in config.periods] == [
        ("2026-10", "Q4 2026"), ("2027-01", "Q1 2027"), ("2027-04", "Q2 2027")]


# -- immutability ----------------------------------------------------------------------------

def test_a_compiled_configuration_cannot_be_changed_by_assignment():
    config = compile_config(full_documents())

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.currency = "USD"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.fields["potential"].min = -1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.level("measure").workflow = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.fields["weighted"].expression.source = "1"  # type: ignore[union-attr,misc]


def test_the_mappings_of_a_compiled_configuration_are_read_only():
    config = compile_config(full_documents())

    for mapping in (config.fields, config.levels, config.roles, config.workflows, config.forums,
                    config.exception_rules, config.reports, config.status_dimensions,
                    config.branding, config.roles["owner"].fields):
        with pytest.raises(TypeError):
            mapping["intruder"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        del config.fields["potential"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        config.reports["steerco"].sections[0]["type"] = "text"  # type: ignore[index]
    assert isinstance(config.level("measure").sections, tuple)
    assert isinstance(config.fields["category"].options, tuple)


def test_changing_the_documents_after_compiling_does_not_change_the_configuration():
    docs = full_documents()
    config = compile_config(docs)

    docs["tenant"]["currency"] = "USD"
    docs["fields"]["fields"][CATEGORY]["options"].append({"key": "it", "label": "IT"})
    docs["levels"]["levels"][MEASURE]["list_columns"].append("due")

    assert config.currency == "EUR"
    assert config.fields["category"].option_keys == ("procurement", "personnel")
    assert "due" not in config.level("measure").list_columns


def test_report_sections_are_immutable_all_the_way_down():
    docs = full_documents()
    config = compile_config(docs)
    columns = config.reports["steerco"].sections[1].columns

    docs["reports"]["reports"][0]["sections"][1]["columns"].append("owner")

    assert list(columns) == ["number", "title", "potential"]
    with pytest.raises((TypeError, AttributeError)):
        columns.append("stage")


# -- computed fields get a dependency order ---------------------------------------------------

def test_computed_fields_are_ordered_after_the_computed_fields_they_read():
    docs = minimal_documents()
    fields = docs["fields"]["fields"]
    # declared (and placed) in the reverse of their dependency order
    fields.insert(0, _computed_from("best_case", "risked + weighted"))
    fields.insert(1, _computed_from("risked", "weighted / 2"))
    docs["levels"]["levels"][MEASURE]["sections"][0]["fields"][:0] = ["best_case", "risked"]

    config = compile_config(docs)

    order = [f.key for f in config.level("measure").computed_order]
    assert sorted(order) == ["best_case", "risked", "weighted"]
    assert order.index("weighted") < order.index("risked") < order.index("best_case")
    assert config.level("program").computed_order == ()


def test_a_computed_field_evaluated_in_order_sees_the_values_computed_before_it():
    docs = minimal_documents()
    docs["fields"]["fields"].append(_computed_from("risked", "weighted / 2"))
    docs["levels"]["levels"][MEASURE]["sections"][1]["fields"].insert(0, "risked")
    config = compile_config(docs)

    values: dict[str, Any] = {"potential": 1000}
    for fld in config.level("measure").computed_order:
        values[fld.key] = fld.expression.evaluate(values)

    assert values["weighted"] == 500 and values["risked"] == 250
