"""Schema pass of the configuration loader: every JSON Schema rule has a failing example.

Each case takes a valid tenant (``minimal_documents()`` plus exceptions, reports, status
dimensions and an approval step), plants exactly one mistake, and checks that the problem
comes back with the right file, JSON Pointer and code, as a consultant would read it.
"""

from __future__ import annotations

from typing import Any

import pytest
from configs import full_documents, minimal_documents  # tests/ is on sys.path (conftest)

from steerco.config import ConfigInvalid, ConfigProblem, compile_config, problems_of
from steerco.config.schema import DOCUMENTS, schema_of, validate_document



# Indexes in minimal_documents(), so that the expected pointers below read plainly.
DESCRIPTION, POTENTIAL, HAS_CAPEX, CAPEX, CATEGORY, FINANCIALS, WEIGHTED, DUE, EVIDENCE = range(9)
PROGRAM, MEASURE = 0, 1
ADMIN, OWNER = 0, 1


DELETE = object()


def _plant(docs: dict[str, Any], file: str, path: tuple[Any, ...], value: Any) -> None:
    """Set (or with DELETE remove) ``docs[file][path...]``."""
    node = docs[file]
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    elif isinstance(node, list) and path[-1] == len(node):
        node.append(value)
    else:
        node[path[-1]] = value


def triples(problems: list[ConfigProblem]) -> list[tuple[str, str, str]]:
    return [(p.file, p.pointer, p.code) for p in problems]


def test_the_base_tenants_used_here_have_no_problems_and_compile():
    assert problems_of(minimal_documents()) == []
    assert problems_of(full_documents()) == []
    config = compile_config(full_documents())
    assert set(config.reports) == {"steerco"} and set(config.forums) == {"board"}


L = "a" * 121  # one character longer than a label may be

# (what the consultant did wrong, document, path to the mistake, value (DELETE removes),
#  expected pointer, expected code)
SCHEMA_CASES: list[tuple[str, str, tuple[Any, ...], Any, str, str]] = [
    # tenant.json
    ("tenant without currency", "tenant", ("currency",), DELETE, "", "schema.required"),
    ("tenant key with capitals", "tenant", ("key",), "Mini", "/key", "schema.pattern"),
    ("tenant name empty", "tenant", ("name",), "", "/name", "schema.minLength"),
    ("tenant name too long", "tenant", ("name",), L, "/name", "schema.maxLength"),
    ("currency in lower case", "tenant", ("currency",), "eur", "/currency", "schema.pattern"),
    ("locale spelled out", "tenant", ("locale",), "english", "/locale", "schema.pattern"),
    ("fiscal year starts in month 13", "tenant", ("fiscal_year_start",), 13, "/fiscal_year_start",
     "schema.maximum"),
    ("fiscal year starts in month 0", "tenant", ("fiscal_year_start",), 0, "/fiscal_year_start",
     "schema.minimum"),
    ("fiscal year start as text", "tenant", ("fiscal_year_start",), "1", "/fiscal_year_start",
     "schema.type"),
    ("reporting without periods", "tenant", ("reporting", "periods"), DELETE, "/reporting",
     "schema.required"),
    ("reporting by week", "tenant", ("reporting", "granularity"), "week", "/reporting/granularity",
     "schema.enum"),
    ("reporting starts in month 13", "tenant", ("reporting", "start"), "2026-13",
     "/reporting/start", "schema.pattern"),
    ("reporting over 61 periods", "tenant", ("reporting", "periods"), 61, "/reporting/periods",
     "schema.maximum"),
    ("unknown reporting property", "tenant", ("reporting", "weeks"), 3, "/reporting/weeks",
     "schema.additionalProperties"),
    ("branding colour by name", "tenant", ("branding",), {"primary_color": "red"},
     "/branding/primary_color", "schema.pattern"),
    ("branding logo text too long", "tenant", ("branding",), {"logo_text": "x" * 61},
     "/branding/logo_text", "schema.maxLength"),
    ("reporting given as a list", "tenant", ("reporting",), [], "/reporting", "schema.type"),
    # levels.json
    ("no levels at all", "levels", ("levels",), [], "/levels", "schema.minItems"),
    ("level without plural label", "levels", ("levels", MEASURE, "label_plural"), DELETE,
     "/levels/1", "schema.required"),
    ("level without parents", "levels", ("levels", PROGRAM, "parents"), DELETE, "/levels/0",
     "schema.required"),
    ("parent listed twice", "levels", ("levels", MEASURE, "parents"), ["program", "program"],
     "/levels/1/parents", "schema.uniqueItems"),
    ("numbering prefix in lower case", "levels", ("levels", PROGRAM, "numbering", "prefix"), "pg",
     "/levels/0/numbering/prefix", "schema.pattern"),
    ("numbering with nine digits", "levels", ("levels", MEASURE, "numbering", "digits"), 9,
     "/levels/1/numbering/digits", "schema.maximum"),
    ("numbering without prefix", "levels", ("levels", MEASURE, "numbering", "prefix"), DELETE,
     "/levels/1/numbering", "schema.required"),
    ("level without sections", "levels", ("levels", PROGRAM, "sections"), [],
     "/levels/0/sections", "schema.minItems"),
    ("section with an unknown property", "levels", ("levels", PROGRAM, "sections", 0, "colour"),
     "red", "/levels/0/sections/0/colour", "schema.additionalProperties"),
    ("section without fields", "levels", ("levels", PROGRAM, "sections", 0, "fields"), DELETE,
     "/levels/0/sections/0", "schema.required"),
    ("list column that is not a key", "levels", ("levels", MEASURE, "list_columns", 0), "Number",
     "/levels/1/list_columns/0", "schema.pattern"),
    # fields.json
    ("no fields at all", "fields", ("fields",), [], "/fields", "schema.minItems"),
    ("field without label", "fields", ("fields", DUE, "label"), DELETE, "/fields/7",
     "schema.required"),
    ("field label empty", "fields", ("fields", DUE, "label"), "", "/fields/7/label",
     "schema.minLength"),
    ("field help too long", "fields", ("fields", DUE, "help"), "h" * 1001, "/fields/7/help",
     "schema.maxLength"),
    ("field placeholder too long", "fields", ("fields", DUE, "placeholder"), "p" * 201,
     "/fields/7/placeholder", "schema.maxLength"),
    ("field key starting with a digit", "fields", ("fields", DUE, "key"), "1due", "/fields/7/key",
     "schema.pattern"),
    ("unknown field type", "fields", ("fields", HAS_CAPEX, "type"), "checkbox", "/fields/2/type",
     "schema.enum"),
    ("required as a word", "fields", ("fields", POTENTIAL, "required"), "yes",
     "/fields/1/required", "schema.oneOf"),
    ("required from a stage with a bad key", "fields", ("fields", POTENTIAL, "required"),
     {"from_stage": "Decided!"}, "/fields/1/required/from_stage", "schema.pattern"),
    ("max_length as a word", "fields", ("fields", DESCRIPTION, "max_length"), "ten",
     "/fields/0/max_length", "schema.type"),
    ("max_length zero", "fields", ("fields", DESCRIPTION, "max_length"), 0, "/fields/0/max_length",
     "schema.minimum"),
    ("min as text", "fields", ("fields", POTENTIAL, "min"), "0", "/fields/1/min", "schema.type"),
    ("choice field without options", "fields", ("fields", CATEGORY, "options"), DELETE,
     "/fields/4", "schema.required"),
    ("choice field with empty options", "fields", ("fields", CATEGORY, "options"), [],
     "/fields/4/options", "schema.minItems"),
    ("option without label", "fields", ("fields", CATEGORY, "options", 0, "label"), DELETE,
     "/fields/4/options/0", "schema.required"),
    ("option colour by name", "fields", ("fields", CATEGORY, "options", 0, "color"), "blue",
     "/fields/4/options/0/color", "schema.pattern"),
    ("options on a date field", "fields", ("fields", DUE, "options"), [{"key": "a", "label": "A"}],
     "/fields/7/options", "schema.not_allowed"),
    ("computed field without result type", "fields", ("fields", WEIGHTED, "result_type"), DELETE,
     "/fields/6", "schema.required"),
    ("computed field without expression", "fields", ("fields", WEIGHTED, "expression"), DELETE,
     "/fields/6", "schema.required"),
    ("computed result type date", "fields", ("fields", WEIGHTED, "result_type"), "date",
     "/fields/6/result_type", "schema.enum"),
    ("empty visible_if", "fields", ("fields", CAPEX, "visible_if"), "", "/fields/3/visible_if",
     "schema.minLength"),
    ("rollup total", "fields", ("fields", POTENTIAL, "rollup"), "total", "/fields/1/rollup",
     "schema.enum"),
    ("read role listed twice", "fields", ("fields", DUE, "read_roles"), ["admin", "admin"],
     "/fields/7/read_roles", "schema.uniqueItems"),
    ("reference without target level", "fields", ("fields", 9),
     {"key": "lead", "label": "Lead", "type": "reference"}, "/fields/9", "schema.required"),
    ("accepted extension without dot", "fields", ("fields", EVIDENCE, "accept", 0), "pdf",
     "/fields/8/accept/0", "schema.pattern"),
    ("accept list empty", "fields", ("fields", EVIDENCE, "accept"), [], "/fields/8/accept",
     "schema.minItems"),
    ("evidence size zero", "fields", ("fields", EVIDENCE, "max_size_mb"), 0,
     "/fields/8/max_size_mb", "schema.exclusiveMinimum"),
    ("evidence size above 50 MB", "fields", ("fields", EVIDENCE, "max_size_mb"), 51,
     "/fields/8/max_size_mb", "schema.maximum"),
    ("unknown scenario on a grid", "fields", ("fields", FINANCIALS, "scenarios"), ["plan", "budget"],
     "/fields/5/scenarios/1", "schema.enum"),
    ("scenario listed twice", "fields", ("fields", FINANCIALS, "scenarios"), ["plan", "plan"],
     "/fields/5/scenarios", "schema.uniqueItems"),
    # roles.json
    ("no roles at all", "roles", ("roles",), [], "/roles", "schema.minItems"),
    ("role without permissions", "roles", ("roles", OWNER, "permissions"), DELETE, "/roles/1",
     "schema.required"),
    ("permission without scope", "roles", ("roles", OWNER, "permissions", 0, "scope"), DELETE,
     "/roles/1/permissions/0", "schema.required"),
    ("scope everything", "roles", ("roles", OWNER, "permissions", 0, "scope"), "everything",
     "/roles/1/permissions/0/scope", "schema.enum"),
    ("action fly", "roles", ("roles", OWNER, "permissions", 0, "actions", 0), "fly",
     "/roles/1/permissions/0/actions/0", "schema.enum"),
    ("no actions", "roles", ("roles", OWNER, "permissions", 0, "actions"), [],
     "/roles/1/permissions/0/actions", "schema.minItems"),
    ("no levels in a permission", "roles", ("roles", OWNER, "permissions", 0, "levels"), [],
     "/roles/1/permissions/0/levels", "schema.minItems"),
    ("admin right unknown", "roles", ("roles", ADMIN, "admin", 0), "billing", "/roles/0/admin/0",
     "schema.enum"),
    ("field override edit", "roles", ("roles", OWNER, "fields"), {"potential": "edit"},
     "/roles/1/fields/potential", "schema.enum"),
    ("field override with a bad key", "roles", ("roles", OWNER, "fields"), {"Potential": "read"},
     "/roles/1/fields", "schema.pattern"),
    ("role description too long", "roles", ("roles", OWNER, "description"), "d" * 1001,
     "/roles/1/description", "schema.maxLength"),
    # workflows.json
    ("workflow without initial stage", "workflows", ("workflows", 0, "initial_stage"), DELETE,
     "/workflows/0", "schema.required"),
    ("workflow without stages", "workflows", ("workflows", 0, "stages"), [],
     "/workflows/0/stages", "schema.minItems"),
    ("stage order negative", "workflows", ("workflows", 0, "stages", 0, "order"), -1,
     "/workflows/0/stages/0/order", "schema.minimum"),
    ("stage order as text", "workflows", ("workflows", 0, "stages", 0, "order"), "1",
     "/workflows/0/stages/0/order", "schema.type"),
    ("stage category finished", "workflows", ("workflows", 0, "stages", 2, "category"), "finished",
     "/workflows/0/stages/2/category", "schema.enum"),
    ("stage risk weight above one", "workflows", ("workflows", 0, "stages", 0, "risk_weight"), 1.5,
     "/workflows/0/stages/0/risk_weight", "schema.maximum"),
    ("stage plan_frozen as word", "workflows", ("workflows", 0, "stages", 0, "plan_frozen"), "yes",
     "/workflows/0/stages/0/plan_frozen", "schema.type"),
    ("stage colour short hex", "workflows", ("workflows", 0, "stages", 0, "color"), "#fff",
     "/workflows/0/stages/0/color", "schema.pattern"),
    ("transition from nowhere", "workflows", ("workflows", 0, "transitions", 1, "from"), [],
     "/workflows/0/transitions/1/from", "schema.minItems"),
    ("transition for nobody", "workflows", ("workflows", 0, "transitions", 1, "roles"), [],
     "/workflows/0/transitions/1/roles", "schema.minItems"),
    ("transition without target", "workflows", ("workflows", 0, "transitions", 1, "to"), DELETE,
     "/workflows/0/transitions/1", "schema.required"),
    ("escalation days without target", "workflows",
     ("workflows", 0, "transitions", 0, "escalate_to"), DELETE, "/workflows/0/transitions/0",
     "schema.dependentRequired"),
    ("escalation after zero days", "workflows",
     ("workflows", 0, "transitions", 0, "escalate_after_days"), 0,
     "/workflows/0/transitions/0/escalate_after_days", "schema.minimum"),
    ("approval without role", "workflows", ("workflows", 0, "transitions", 0, "approvals", 0, "role"),
     DELETE, "/workflows/0/transitions/0/approvals/0", "schema.required"),
    ("quorum most", "workflows", ("workflows", 0, "transitions", 0, "approvals", 0, "quorum"), "most",
     "/workflows/0/transitions/0/approvals/0/quorum", "schema.oneOf"),
    ("quorum of zero approvers", "workflows",
     ("workflows", 0, "transitions", 0, "approvals", 0, "quorum"), {"n": 0},
     "/workflows/0/transitions/0/approvals/0/quorum/n", "schema.minimum"),
    ("same approver as a word", "workflows",
     ("workflows", 0, "transitions", 0, "approvals", 0, "same_approver_allowed"), "no",
     "/workflows/0/transitions/0/approvals/0/same_approver_allowed", "schema.type"),
    ("status dimension without options", "workflows", ("status_dimensions", 0, "options"), DELETE,
     "/status_dimensions/0", "schema.required"),
    ("status dimension for no level", "workflows", ("status_dimensions", 0, "levels"), [],
     "/status_dimensions/0/levels", "schema.minItems"),
    # exceptions.json
    ("exceptions without rules", "exceptions", ("rules",), DELETE, "", "schema.required"),
    ("forum without label", "exceptions", ("forums", 0, "label"), DELETE, "/forums/0",
     "schema.required"),
    ("rule due in minus one days", "exceptions", ("rules", 0, "due_days"), -1,
     "/rules/0/due_days", "schema.minimum"),
    ("rule without owner role", "exceptions", ("rules", 0, "owner_role"), DELETE, "/rules/0",
     "schema.required"),
    ("rule condition empty", "exceptions", ("rules", 0, "condition"), "", "/rules/0/condition",
     "schema.minLength"),
    ("escalation after zero days", "exceptions", ("rules", 0, "escalation", 0, "after_days"), 0,
     "/rules/0/escalation/0/after_days", "schema.minimum"),
    ("escalation without target", "exceptions", ("rules", 0, "escalation", 0, "to"), DELETE,
     "/rules/0/escalation/0", "schema.required"),
    # reports.json
    ("report without key", "reports", ("reports", 0, "key"), DELETE, "/reports/0",
     "schema.required"),
    ("report for nobody", "reports", ("reports", 0, "audience"), [], "/reports/0/audience",
     "schema.minItems"),
    ("report page A5", "reports", ("reports", 0, "page", "size"), "A5", "/reports/0/page/size",
     "schema.enum"),
    ("report page sideways", "reports", ("reports", 0, "page", "orientation"), "sideways",
     "/reports/0/page/orientation", "schema.enum"),
    ("report without sections", "reports", ("reports", 0, "sections"), [], "/reports/0/sections",
     "schema.minItems"),
    ("report section type pie", "reports", ("reports", 0, "sections", 3, "type"), "pie",
     "/reports/0/sections/3/type", "schema.enum"),
    ("kpi tiles without tiles", "reports", ("reports", 0, "sections", 0, "tiles"), DELETE,
     "/reports/0/sections/0", "schema.required"),
    ("tile aggregate median", "reports", ("reports", 0, "sections", 0, "tiles", 0, "aggregate"),
     "median", "/reports/0/sections/0/tiles/0/aggregate", "schema.enum"),
    ("table without columns", "reports", ("reports", 0, "sections", 1, "columns"), DELETE,
     "/reports/0/sections/1", "schema.required"),
    ("bar chart without field or series", "reports", ("reports", 0, "sections", 2, "field"), DELETE,
     "/reports/0/sections/2", "chart_measure"),
    ("funnel without field", "reports", ("reports", 0, "sections", 2),
     {"type": "chart", "chart": "stage_funnel"}, "/reports/0/sections/2", "schema.required"),
    ("tiles in a table section", "reports", ("reports", 0, "sections", 1, "tiles"),
     [{"label": "x", "field": "potential", "aggregate": "sum"}], "/reports/0/sections/1/tiles",
     "schema.not_allowed"),
    ("stacked funnel", "reports", ("reports", 0, "sections", 2),
     {"type": "chart", "chart": "stage_funnel", "field": "potential", "stacked": True},
     "/reports/0/sections/2/stacked", "schema.not_allowed"),
    ("waterfall of one step", "reports", ("reports", 0, "sections", 2),
     {"type": "chart", "chart": "waterfall", "steps": [{"label": "a", "field": "potential"}]},
     "/reports/0/sections/2/steps", "schema.minItems"),
    ("chart kind pie", "reports", ("reports", 0, "sections", 2, "chart"), "pie",
     "/reports/0/sections/2/chart", "schema.enum"),
    ("text section without text", "reports", ("reports", 0, "sections", 3, "text"), DELETE,
     "/reports/0/sections/3", "schema.required"),
    ("totals as a word", "reports", ("reports", 0, "sections", 1, "totals"), "yes",
     "/reports/0/sections/1/totals", "schema.type"),
]


@pytest.mark.parametrize(
    ("file", "path", "value", "pointer", "code"),
    [case[1:] for case in SCHEMA_CASES],
    ids=[case[0] for case in SCHEMA_CASES],
)
def test_a_consultant_sees_each_schema_mistake_at_its_file_and_pointer(file, path, value, pointer, code):
    docs = full_documents()
    _plant(docs, file, path, value)

    problems = problems_of(docs)

    assert (f"{file}.json", pointer, code) in triples(problems), [str(p) for p in problems]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_document_rejects_an_unknown_top_level_property(document):
    docs = full_documents()
    docs[document]["colour"] = "blue"

    problems = problems_of(docs)

    assert (f"{document}.json", "/colour", "schema.additionalProperties") in triples(problems)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_document_must_be_a_json_object(document):
    docs = full_documents()
    docs[document] = ["not", "an", "object"]

    problems = problems_of(docs)

    assert (f"{document}.json", "", "schema.type") in triples(problems)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_document_may_name_its_schema_for_editors(document):
    docs = full_documents()
    docs[document]["$schema"] = f"../../config_schemas/{document}.schema.json"

    assert problems_of(docs) == []


def test_a_typo_in_a_property_name_gets_a_did_you_mean_hint():
    docs = minimal_documents()
    docs["tenant"]["curency"] = docs["tenant"].pop("currency")

    problems = problems_of(docs)

    typo = next(p for p in problems if p.code == "schema.additionalProperties")
    assert (typo.file, typo.pointer, typo.hint) == ("tenant.json", "/curency", "currency")
    assert "unknown property 'curency'" in typo.message
    assert "did you mean 'currency'?" in str(typo)
    assert ("tenant.json", "", "schema.required") in triples(problems)


def test_a_typo_in_a_transition_property_names_the_intended_one():
    docs = minimal_documents()
    docs["workflows"]["workflows"][0]["transitions"][0]["condtion"] = "not empty(potential)"

    [problem] = problems_of(docs)

    assert problem.pointer == "/workflows/0/transitions/0/condtion"
    assert problem.hint == "condition"


def test_several_unknown_properties_are_named_in_one_problem():
    docs = minimal_documents()
    docs["tenant"]["colour"] = "red"
    docs["tenant"]["brandng"] = {}

    [problem] = problems_of(docs)

    assert problem.pointer == "/brandng"
    assert problem.hint == "branding"
    assert "'colour'" in problem.message


def test_a_typo_in_an_enumerated_value_gets_a_did_you_mean_hint():
    docs = minimal_documents()
    docs["fields"]["fields"][HAS_CAPEX]["type"] = "yes_noo"

    [problem] = problems_of(docs)

    assert (problem.file, problem.pointer, problem.code, problem.hint) == (
        "fields.json", "/fields/2/type", "schema.enum", "yes_no")
    assert "'yes_noo' is not one of" in problem.message


def test_a_scope_typo_suggests_the_scope_and_a_far_off_value_suggests_nothing():
    docs = minimal_documents()
    docs["roles"]["roles"][OWNER]["permissions"][0]["scope"] = "subtre"
    docs["roles"]["roles"][ADMIN]["permissions"][0]["scope"] = "everything"

    problems = {p.pointer: p for p in problems_of(docs)}

    assert problems["/roles/1/permissions/0/scope"].hint == "subtree"
    assert problems["/roles/0/permissions/0/scope"].hint is None


def test_a_missing_property_is_reported_on_its_parent_object_in_plain_words():
    docs = minimal_documents()
    del docs["levels"]["levels"][MEASURE]["label_plural"]

    [problem] = problems_of(docs)

    assert (problem.file, problem.pointer, problem.code) == ("levels.json", "/levels/1", "schema.required")
    assert problem.message == "'label_plural' is required"


def test_a_wrong_type_names_the_value_and_the_expected_type():
    docs = minimal_documents()
    docs["fields"]["fields"][DESCRIPTION]["max_length"] = "ten"

    [problem] = problems_of(docs)

    assert problem.message == "'ten' is not of type 'integer'"


def test_problems_of_one_document_come_in_document_order():
    docs = minimal_documents()
    docs["fields"]["fields"][EVIDENCE]["max_size_mb"] = 0
    docs["fields"]["fields"][DESCRIPTION]["max_length"] = 0
    docs["fields"]["fields"][POTENTIAL]["rollup"] = "total"

    pointers = [p.pointer for p in validate_document("fields", docs["fields"])]

    assert pointers == ["/fields/0/max_length", "/fields/1/rollup", "/fields/8/max_size_mb"]


def test_a_problem_reads_as_file_pointer_message_and_code():
    problem = ConfigProblem("fields.json", "/fields/0/max_length", "'ten' is not of type 'integer'",
                            "schema.type")

    assert str(problem) == "fields.json:/fields/0/max_length: 'ten' is not of type 'integer' [schema.type]"
    assert str(ConfigProblem("tenant.json", "", "file is missing", "missing_file")) == \
        "tenant.json:/: file is missing [missing_file]"


def test_compile_refuses_a_schema_mistake_with_config_invalid_listing_it():
    docs = minimal_documents()
    docs["tenant"]["fiscal_year_start"] = 13

    with pytest.raises(ConfigInvalid) as raised:
        compile_config(docs)

    assert triples(raised.value.problems) == [("tenant.json", "/fiscal_year_start", "schema.maximum")]
    assert "tenant.json:/fiscal_year_start" in str(raised.value)


def test_the_schema_of_each_document_is_available_for_docs_and_the_api():
    for name in DOCUMENTS:
        schema = schema_of(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"].startswith(f"{name}.json")


# -- fields that a type does not use ---------------------------------------------------------

NOT_FOR_THIS_TYPE = [
    ("min on a long text", DESCRIPTION, "min", 1),
    ("max_length on money", POTENTIAL, "max_length", 10),
    ("expression on a money field", POTENTIAL, "expression", "1"),
    ("result_type on a date", DUE, "result_type", "money"),
    ("target_level on a date", DUE, "target_level", "measure"),
    ("accept on a date", DUE, "accept", [".pdf"]),
    ("max_size_mb on a date", DUE, "max_size_mb", 1),
    ("scenarios on money", POTENTIAL, "scenarios", ["plan"]),
]


@pytest.mark.parametrize(("index", "attribute", "value"), [c[1:] for c in NOT_FOR_THIS_TYPE],
                         ids=[c[0] for c in NOT_FOR_THIS_TYPE])
def test_a_property_the_field_type_does_not_use_is_refused(index, attribute, value):
    docs = minimal_documents()
    docs["fields"]["fields"][index][attribute] = value

    problems = problems_of(docs)

    assert len(problems) == 1
    assert problems[0].file == "fields.json"
    assert problems[0].pointer.startswith(f"/fields/{index}")


@pytest.mark.parametrize(("index", "attribute", "value"), [c[1:] for c in NOT_FOR_THIS_TYPE],
                         ids=[c[0] for c in NOT_FOR_THIS_TYPE])
def test_a_property_the_field_type_does_not_use_is_pointed_at_exactly(index, attribute, value):
    docs = minimal_documents()
    docs["fields"]["fields"][index][attribute] = value

    [problem] = problems_of(docs)

    assert problem.pointer == f"/fields/{index}/{attribute}"
    assert f"'{attribute}' is not allowed here" in problem.message


def test_a_property_the_field_type_does_not_use_has_a_meaningful_code():
    docs = minimal_documents()
    docs["fields"]["fields"][DESCRIPTION]["min"] = 1

    [problem] = problems_of(docs)

    assert problem.code != "schema.None"
