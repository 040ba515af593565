"""The demo tenants load cleanly, and the loader reports every mistake planted in a copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from steerco.config import ConfigInvalid, TenantConfig, load_folder, read_folder, validate_folder

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
DEMOS = ("acme", "servicedesk")
FILES = ("tenant", "levels", "fields", "roles", "workflows", "exceptions", "reports")


@pytest.fixture
def acme_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "acme"
    shutil.copytree(TENANTS / "acme", folder)
    return folder


def read(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def write(folder: Path, name: str, document: dict[str, Any]) -> None:
    (folder / f"{name}.json").write_text(json.dumps(document, indent=2), encoding="utf-8")


def index_of(items: list[dict[str, Any]], key: str) -> int:
    return next(i for i, item in enumerate(items) if item["key"] == key)


def triples(problems) -> list[tuple[str, str, str]]:
    return [(p.file, p.pointer, p.code) for p in problems]


@pytest.mark.parametrize("tenant", DEMOS)
def test_each_demo_tenant_has_all_seven_files(tenant):
    assert sorted(p.stem for p in (TENANTS / tenant).glob("*.json")) == sorted(FILES)


@pytest.mark.parametrize("tenant", DEMOS)
def test_each_demo_tenant_validates_without_a_single_problem(tenant):
    assert validate_folder(TENANTS / tenant) == []


@pytest.mark.parametrize("tenant", DEMOS)
def test_each_demo_tenant_compiles_into_a_usable_configuration(tenant):
    config = load_folder(TENANTS / tenant, version=3)

    assert isinstance(config, TenantConfig)
    assert config.key == tenant and config.version == 3
    assert config.root_levels and config.workflows and config.roles and config.reports
    for level in config.levels.values():
        assert all(child in config.levels for child in level.children)
        assert all(config.fields[f.key] is f for f in level.fields)
        keys = [f.key for f in level.fields]
        for position, computed in enumerate(level.computed_order):
            earlier = {c.key for c in level.computed_order[:position]}
            reads = computed.expression.names & {c.key for c in level.computed_order}
            assert reads - {computed.key} <= earlier
            assert computed.key in keys


def test_acme_s_measure_journey_is_what_the_demo_promises():
    config = load_folder(TENANTS / "acme")

    assert [lv.key for lv in config.root_levels] == ["organization"]
    measure = config.level("measure")
    workflow = config.workflow_of(measure)
    assert workflow is not None and workflow.stage(workflow.initial_stage) is not None
    assert {"potential", "financials", "business_case"} <= {f.key for f in measure.fields}
    assert config.fields["financials"].kind.storage == "periods"


def test_a_copy_of_acme_with_three_planted_mistakes_reports_all_three(acme_copy):
    fields = read(acme_copy, "fields")
    over_budget = index_of(fields["fields"], "over_budget")
    fields["fields"][over_budget]["expression"] = "cost_to_date > budgt"           # unknown field
    description = index_of(fields["fields"], "description")
    fields["fields"][description]["max_length"] = "ten"                              # wrong type
    write(acme_copy, "fields", fields)
    roles = read(acme_copy, "roles")
    owner = index_of(roles["roles"], "measure_owner")
    roles["roles"][owner]["permissions"][0]["scope"] = "everything"                 # bad enum
    write(acme_copy, "roles", roles)

    problems = validate_folder(acme_copy)

    assert sorted(triples(problems)) == sorted([
        ("fields.json", f"/fields/{over_budget}/expression", "unknown_name"),
        ("fields.json", f"/fields/{description}/max_length", "schema.type"),
        ("roles.json", f"/roles/{owner}/permissions/0/scope", "schema.enum"),
    ])
    unknown = next(p for p in problems if p.code == "unknown_name")
    assert unknown.hint == "budget"
    with pytest.raises(ConfigInvalid) as raised:
        load_folder(acme_copy)
    assert sorted(triples(raised.value.problems)) == sorted(triples(problems))


def test_a_duplicate_key_and_an_unknown_stage_in_acme_come_back_with_pointers(acme_copy):
    fields = read(acme_copy, "fields")
    fields["fields"].append({"key": "potential", "label": "Potential again", "type": "money"})
    write(acme_copy, "fields", fields)
    workflows = read(acme_copy, "workflows")
    workflows["workflows"][0]["transitions"][0]["to"] = "doi99"
    write(acme_copy, "workflows", workflows)

    problems = validate_folder(acme_copy)

    assert ("fields.json", f"/fields/{len(fields['fields']) - 1}/key", "duplicate_key") in triples(problems)
    assert ("workflows.json", "/workflows/0/transitions/0/to", "unknown_stage") in triples(problems)


def test_unreadable_json_names_its_line_and_the_other_files_are_still_checked(acme_copy):
    (acme_copy / "reports.json").write_text('{\n  "reports": [\n    {"key": "x",}\n  ]\n}\n')
    roles = read(acme_copy, "roles")
    roles["roles"][0]["scope"] = "tenant"
    write(acme_copy, "roles", roles)

    problems = validate_folder(acme_copy)

    assert triples(problems) == [
        ("reports.json", "", "invalid_json"),
        ("roles.json", "/roles/0/scope", "schema.additionalProperties"),
    ]
    assert "line 3" in problems[0].message and "column" in problems[0].message


def test_load_folder_refuses_unreadable_json_with_every_problem(acme_copy):
    (acme_copy / "fields.json").write_text("{ not json")

    with pytest.raises(ConfigInvalid) as raised:
        load_folder(acme_copy)

    codes = [p.code for p in raised.value.problems]
    assert codes[0] == "invalid_json" and raised.value.problems[0].file == "fields.json"
    assert "missing_file" not in codes


def test_a_file_that_is_not_utf8_is_reported(acme_copy):
    (acme_copy / "tenant.json").write_bytes('{"name": "Acme Gro\u00df"}'.encode("latin-1"))

    documents, problems = read_folder(acme_copy)

    assert triples(problems) == [("tenant.json", "", "invalid_encoding")]
    assert "tenant" not in documents and "fields" in documents


def test_a_missing_required_file_is_reported_and_a_missing_optional_one_is_not(acme_copy):
    (acme_copy / "reports.json").unlink()
    assert validate_folder(acme_copy) == []

    (acme_copy / "tenant.json").unlink()
    assert ("tenant.json", "", "missing_file") in triples(validate_folder(acme_copy))


def test_a_folder_that_does_not_exist_is_reported_alone(tmp_path):
    problems = validate_folder(tmp_path / "nope")

    assert [(p.file, p.code) for p in problems] == [("", "no_folder")]
    with pytest.raises(ConfigInvalid):
        load_folder(tmp_path / "nope")


def test_reading_a_folder_leaves_other_files_alone(acme_copy):
    (acme_copy / "notes.json").write_text("not json either")

    documents, problems = read_folder(acme_copy)

    assert problems == [] and sorted(documents) == sorted(FILES)
