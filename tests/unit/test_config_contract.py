"""No configuration key is accepted and ignored.

Every property of every schema in ``config_schemas/`` either has an effect (the compiler
reads it into an attribute of the compiled model that code outside the configuration
package reads) or stands in the one list of keys not yet in effect,
``steerco.config.contract.NOT_IN_EFFECT``, which ``steerco validate`` warns about.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from configs import full_documents  # tests/ is on sys.path (conftest)

from steerco.config import compiler, model
from steerco.config.contract import EFFECTS, NAMES_ITEM, NOT_IN_EFFECT, uses, warnings
from steerco.config.loader import read_folder
from steerco.config.schema import DOCUMENTS, _schemas

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "platform" / "steerco"


# -- the schemas' keys ---------------------------------------------------------------------

def _resolve(node: Any, root: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    schemas = _schemas()
    while isinstance(node, dict) and "$ref" in node:
        file, _, fragment = node["$ref"].partition("#")
        root = schemas[file] if file else root
        target: Any = root
        for part in fragment.strip("/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node, root


def _walk(node: Any, root: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every property a schema accepts, through $ref, items, maps and
    allOf/anyOf/oneOf; a property the schema forbids ({"not": {}}) is not accepted."""
    node, root = _resolve(node, root)
    if not isinstance(node, dict):
        return
    for key, sub in node.get("properties", {}).items():
        resolved, _ = _resolve(sub, root)
        if key == "$schema" or resolved == {"not": {}}:
            continue  # "$schema" points editors at the schema; it is for them
        yield f"{path}/{key}", resolved
        yield from _walk(sub, root, f"{path}/{key}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], root, f"{path}/*")
    if isinstance(node.get("additionalProperties"), dict):
        resolved, _ = _resolve(node["additionalProperties"], root)
        yield f"{path}/*", resolved
        yield from _walk(node["additionalProperties"], root, f"{path}/*")
    for combinator in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(combinator, []):
            yield from _walk(sub, root, path)


def schema_keys() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in DOCUMENTS:
        schema = _schemas()[f"{name}.schema.json"]
        for path, sub in _walk(schema, schema, ""):
            found.setdefault(f"{name}.json:{path}", sub)
    return found


def _not_in_effect(key: str) -> bool:
    return any(key == entry or key.startswith(entry + "/") for entry in NOT_IN_EFFECT if "=" not in entry)


def test_every_schema_key_has_an_effect_or_is_listed_as_not_in_effect():
    keys = schema_keys()

    unaccounted = sorted(k for k in keys if k not in EFFECTS and not _not_in_effect(k))
    both = sorted(k for k in keys if k in EFFECTS and _not_in_effect(k))

    assert not unaccounted, "keys with no effect; give them one, or list them in NOT_IN_EFFECT:\n" + \
        "\n".join(unaccounted)
    assert not both, f"keys said to be in effect and not in effect: {both}"


def test_the_contract_names_only_keys_the_schemas_have():
    keys = schema_keys()

    assert sorted(k for k in EFFECTS if k not in keys) == []
    for entry in NOT_IN_EFFECT:
        key, _, value = entry.partition("=")
        if value:  # a value of the items of a list: ".../actions/*=delete"
            key = key.removesuffix("/*")
            assert key in keys, f"{entry} names no schema key"
            items, _ = _resolve(keys[key].get("items", {}), _schemas()[key.split(":")[0].replace(".json", ".schema.json")])
            assert value in items.get("enum", []), f"{entry}: {value!r} is not a value the schema accepts"
        else:
            assert key in keys, f"{entry} names no schema key"


def test_the_delete_action_is_in_effect_and_the_deletion_engine_checks_it():
    assert "roles.json:/roles/*/permissions/*/actions/*=delete" not in NOT_IN_EFFECT
    deletion = (PACKAGE / "engine" / "deletion.py").read_text()
    assert re.search(r"""decide\(["']delete["']""", deletion)


# -- the effects are real ------------------------------------------------------------------

def _names_read_outside_configuration() -> set[str]:
    """Attribute names read by the engine, fields, web and reports code and the templates."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in {"config", "migrations"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
    for path in (ROOT / "templates").rglob("*.html"):
        names |= set(re.findall(r"\.([A-Za-z_]\w*)", path.read_text(encoding="utf-8")))
    return names


def test_every_effect_is_an_attribute_of_the_compiled_model_read_outside_the_configuration_package():
    read = _names_read_outside_configuration()
    unread, missing = [], []
    for key, target in EFFECTS.items():
        if target == NAMES_ITEM:
            assert key.endswith("/*/key"), f"{key}: only an item's key names its item"
            continue
        cls_name, _, rest = target.partition(".")
        attribute, _, entry = rest.rstrip("]").partition("[")
        cls = getattr(model, cls_name, None)
        fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        if cls is None or (attribute not in fields and not callable(getattr(cls, attribute, None))):
            missing.append(f"{key} -> {target}")
        elif (entry or attribute) not in read:
            unread.append(f"{key} -> {target}")

    assert not missing, "effects that are no attribute of the compiled model:\n" + "\n".join(missing)
    assert not unread, "compiled but read by nothing outside steerco.config (so not in effect):\n" + \
        "\n".join(unread)


class _Recorded(dict):  # type: ignore[type-arg]
    """A JSON object that writes down the path of each of its keys that is read."""

    def __init__(self, data: dict[str, Any], path: str, log: set[str]):
        super().__init__({k: _record(v, f"{path}/{k}", log) for k, v in data.items()})
        self._path, self._log = path, log

    def _read(self, key: object) -> None:
        if dict.__contains__(self, key):
            self._log.add(f"{self._path}/{key}")

    def __getitem__(self, key: object) -> Any:
        self._read(key)
        return super().__getitem__(key)

    def get(self, key: object, default: Any = None) -> Any:
        self._read(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._read(key)
        return super().__contains__(key)

    def __iter__(self) -> Iterator[Any]:  # a copy of the whole object reads every key
        for key in dict.keys(self):
            self._read(key)
        return super().__iter__()

    def items(self):  # type: ignore[no-untyped-def, override]
        list(iter(self))
        return super().items()


def _record(value: Any, path: str, log: set[str]) -> Any:
    if isinstance(value, dict):
        return _Recorded(value, path, log)
    if isinstance(value, list):
        return [_record(v, re.sub(r"(:?/?)$", "", path) + "/*", log) for v in value]
    return value


def _every_key_documents() -> list[dict[str, Any]]:
    """Configurations that together use every key the schemas accept: the demo tenants and
    the tests' full tenant with the constructs they lack."""
    full = full_documents()
    full["fields"]["fields"].append({"key": "code", "label": "Code", "type": "text", "placeholder": "AB-1234",
                                     "help": "Plant code", "pattern": {"regex": "^[A-Z]{2}-[0-9]{4}$",
                                                                       "message": "Use the form AB-1234."}})
    full["levels"]["levels"][1]["sections"][0]["fields"].append("code")
    full["levels"]["levels"][1]["rules"] = [{"key": "capex_below_potential", "condition": "capex_amount <= potential",
                                             "message": "Capex exceeds the potential.", "fields": ["capex_amount"]}]
    full["tenant"]["branding"] = {"primary_color": "#123456", "logo_text": "Mini", "report_footer": "Footer",
                                  "logo": "img/logo.png"}
    full["reports"]["reports"][0]["sections"] += [
        {"type": "chart", "chart": "bar", "field": "potential", "aggregate": "max", "limit": 5},
        {"type": "chart", "chart": "bar", "stacked": True, "series": [
            {"label": "Potential", "field": "potential", "aggregate": "sum"},
            {"label": "Capex", "field": "capex_amount", "aggregate": "sum"}]},
        {"type": "chart", "chart": "waterfall", "steps": [
            {"label": "Capex", "field": "capex_amount", "aggregate": "sum"},
            {"label": "Potential", "field": "potential", "aggregate": "sum"}]},
    ]
    full["fields"]["fields"][0]["read_roles"] = ["admin", "owner"]
    full["workflows"]["workflows"][0]["transitions"][0]["approval_content"] = ["potential"]
    full["workflows"]["workflows"][0]["stages"][1]["plan_frozen"] = True
    full["workflows"]["workflows"][0]["plan_change"] = {"approvals": [
        {"key": "cfo", "label": "CFO", "role": "admin", "threshold": "potential > 1000", "quorum": {"n": 1},
         "same_approver_allowed": True},
        {"key": "pair", "label": "Admin and owner", "roles": ["admin", "owner"], "parallel_with_previous": True}]}
    grid = next(f for f in full["fields"]["fields"] if f["key"] == "financials")
    grid.update(editable_from={"actual": "decided"}, effect="recurring")
    documents = [full]
    for slug in ("acme", "servicedesk"):
        docs, problems = read_folder(ROOT / "tenants" / slug)
        assert problems == []
        documents.append(docs)
    return documents


def test_the_compiler_reads_every_key_said_to_be_in_effect():
    read: set[str] = set()
    for documents in _every_key_documents():
        recorded = {name: _Recorded(doc, f"{name}.json:", read) for name, doc in documents.items()}
        compiler.compile_checked(recorded)
    read = {re.sub(r"/\d+(?=/|$)", "/*", path) for path in read}
    keys = schema_keys()  # a key of a map (a role's field overrides) reads as the map's "*"
    read |= {path.rsplit("/", 1)[0] + "/*" for path in read if path.rsplit("/", 1)[0] + "/*" in keys}

    unread = sorted(key for key in EFFECTS if key not in read)

    assert not unread, ("keys said to be in effect that the compiler never read (or that no "
                        "example configuration here uses):\n" + "\n".join(unread))


# -- what validate says about keys not in effect -------------------------------------------

def test_a_key_not_in_effect_is_found_where_a_tenant_uses_it():
    documents = full_documents()
    documents["roles"]["roles"][0]["description"] = "Runs the workspace"
    documents["roles"]["roles"][1]["description"] = "Owns measures"

    assert uses(documents, "roles.json:/roles/*/description") == ["/roles/0/description", "/roles/1/description"]
    assert uses(documents, "roles.json:/roles/*/permissions/*/actions/*=delete") == [
        "/roles/0/permissions/0/actions/3"]
    assert uses(documents, "reports.json:/reports") == ["/reports"]


def test_each_key_not_in_effect_that_a_tenant_uses_gives_one_warning_at_its_first_place():
    documents = full_documents()
    documents["roles"]["roles"][0]["description"] = "Runs the workspace"
    documents["roles"]["roles"][1]["description"] = "Owns measures"

    found = {(w.file, w.message.split(" is ")[0]): w for w in warnings(documents)}

    described = found[("roles.json", "'description'")]
    assert (described.pointer, described.code) == ("/roles/0/description", "not_in_effect")
    assert described.message == "'description' is accepted, not in effect yet (and 1 more place(s))"
    assert set(found) == {("tenant.json", "'fiscal_year_start'"), ("roles.json", "'description'")}


@pytest.mark.parametrize("slug", ["acme", "servicedesk"])
def test_the_demo_tenants_use_keys_not_in_effect_only_where_the_list_says(slug):
    documents, _ = read_folder(ROOT / "tenants" / slug)

    assert all(w.code == "not_in_effect" for w in warnings(documents))
