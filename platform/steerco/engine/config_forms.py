"""Forms for configuration items, generated from the JSON Schemas in ``config_schemas/``.

The configuration screens show each item of a document (a field, a role, a transition, an
approval step, an exception rule, a report section...) as a form whose controls come from
the item's schema: an ``enum`` becomes a select, a boolean a yes/no select, a list of
keys a set of checkboxes (the keys the draft knows) or a comma-separated text, a list of
small flat objects (options, escalation steps, KPI tiles) one line per item, a map of
field keys to an access (a role's field overrides) one select per field, a ``oneOf``
(``required``: yes, no or from a stage; ``quorum``: any, all or n) a select plus its
value. Lists of richer objects (sections, stages, transitions, approval steps) are not
controls but nested lists with screens of their own.

Each control knows its JSON Pointer relative to the item, so a problem of the draft
(which names a pointer) is shown next to the control it concerns, and a value that does
not parse (letters in a number) is kept as typed so that the schema check names it there.
A new schema property thus gets a control without a template change.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from jsonschema import Draft202012Validator

from steerco.config import ConfigProblem
from steerco.config.schema import _schemas
from steerco.engine.config_edits import join, parts, resolve
from steerco.fields import registry

MISSING: Any = object()

#: the list (by pointer) each document's screen opens with, and what it is called
MAIN_LISTS: dict[str, tuple[str, str]] = {
    "levels": ("/levels", "Levels"),
    "fields": ("/fields", "Fields"),
    "roles": ("/roles", "Roles and permissions"),
    "workflows": ("/workflows", "Workflows"),
    "exceptions": ("/rules", "Exception rules"),
    "reports": ("/reports", "Report layouts"),
}

LABELS = {
    "key": "Key", "label": "Label", "label_plural": "Label (plural)", "visible_if": "Visible if",
    "editable_if": "Editable if", "required": "Required", "from_stage": "From stage", "type": "Type",
    "options": "Options", "expression": "Computed expression", "result_type": "Result type",
    "target_level": "Refers to level", "max_size_mb": "Largest file (MB)", "initial_stage": "Initial stage",
    "from": "From stages", "to": "To", "roles": "Roles", "reject_to": "On rejection back to",
    "escalate_after_days": "Escalate after (days)", "escalate_to": "Escalate to", "role": "Role",
    "threshold": "Applies when", "quorum": "Quorum", "n": "Approvers", "owner_role": "Owner role",
    "due_days": "Due within (days)", "after_days": "After (days)", "levels": "Levels", "actions": "Actions",
    "scope": "Scope", "fields": "Fields", "admin": "Administration rights", "audience": "Audience",
    "title": "Title", "filter": "Filter", "level": "Level",
}


def label_of(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


# -- the schemas, with their references resolved -----------------------------------------

def _lookup(reference: str, base: str) -> tuple[dict[str, Any], str]:
    """The schema a ``$ref`` names (``other.schema.json#/$defs/x`` or ``#/$defs/x``)."""
    file, _, fragment = reference.partition("#")
    file = file or base
    node: Any = _schemas()[file]
    for token in parts(fragment):
        node = node[token]
    return node, file


@dataclass(frozen=True)
class Node:
    """A schema with its ``$ref`` followed; ``ref`` is the last reference's name
    (``expression``, ``key``, ``key_list``...), which chooses a control."""

    schema: Mapping[str, Any]
    file: str
    ref: str = ""


def node(schema: Mapping[str, Any], file: str, ref: str = "") -> Node:
    while "$ref" in schema:
        reference = schema["$ref"]
        target, file = _lookup(reference, file)
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        ref = reference.rsplit("/", 1)[-1]
        schema = {**target, **extra}
    return Node(schema, file, ref)


def document_node(document: str) -> Node:
    return node(_schemas()[f"{document}.schema.json"], f"{document}.schema.json")


def child(parent: Node, token: str) -> Node | None:
    """The schema of ``token`` inside a value of ``parent``'s schema (None: not described)."""
    schema = parent.schema
    if schema.get("type") == "array" or "items" in schema:
        items = schema.get("items")
        return node(items, parent.file) if isinstance(items, dict) and token.isdigit() else None
    properties = schema.get("properties", {})
    if token in properties:
        return node(properties[token], parent.file)
    extra = schema.get("additionalProperties")
    return node(extra, parent.file) if isinstance(extra, dict) else None


def node_at(document: str, pointer: str) -> Node | None:
    found: Node | None = document_node(document)
    for token in parts(pointer):
        if found is None:
            return None
        found = child(found, token)
    return found


def is_object_list(n: Node) -> bool:
    items = n.schema.get("items")
    return n.schema.get("type") == "array" and isinstance(items, dict) and \
        node(items, n.file).schema.get("type") == "object"


def _scalar(n: Node) -> bool:
    return "enum" in n.schema or n.schema.get("type") in {"string", "integer", "number", "boolean"}


def is_flat_list(n: Node) -> bool:
    """A list of small objects of scalars (options, escalation steps, tiles): one line each."""
    if not is_object_list(n):
        return False
    item = node(n.schema["items"], n.file)
    properties = item.schema.get("properties", {})
    return 0 < len(properties) <= 4 and all(_scalar(node(p, item.file)) for p in properties.values())


def nested_lists(n: Node, *, flat_too: bool = False) -> list[str]:
    """The properties of an object schema that are lists of rich objects (own screens); at a
    document's top, where no form shows the flat ones, those too (an exception's forums)."""
    return [name for name, sub in n.schema.get("properties", {}).items()
            if is_object_list(node(sub, n.file)) and (flat_too or not is_flat_list(node(sub, n.file)))]


# -- choices the draft offers for keys -------------------------------------------------------

Choices = list[tuple[str, str]]


def _keyed(items: Any) -> Choices:
    return [(i["key"], str(i.get("label") or i.get("title") or i["key"])) for i in items or []
            if isinstance(i, dict) and isinstance(i.get("key"), str)]


def _stages(documents: Mapping[str, Any], workflow_index: int | None) -> Choices:
    workflows = (documents.get("workflows") or {}).get("workflows") or []
    chosen = [workflows[workflow_index]] if workflow_index is not None and workflow_index < len(workflows) else workflows
    found: dict[str, str] = {}
    for workflow in chosen:
        for key, text in _keyed(workflow.get("stages") if isinstance(workflow, dict) else []):
            found.setdefault(key, text)
    return list(found.items())


def choices_for(document: str, item_pointer: str, name: str, documents: Mapping[str, Any]) -> Choices | None:
    """The keys a property refers to, from the draft (None: free text). A small table by
    property name: what the schemas call ``role``, ``level``, ``fields``... everywhere."""
    tokens = parts(item_pointer)
    workflow = int(tokens[1]) if document == "workflows" and len(tokens) > 1 and tokens[0] == "workflows" \
        and tokens[1].isdigit() else None
    roles = _keyed((documents.get("roles") or {}).get("roles"))
    forums = _keyed((documents.get("exceptions") or {}).get("forums"))
    fields = _keyed((documents.get("fields") or {}).get("fields"))
    levels = _keyed((documents.get("levels") or {}).get("levels"))
    if document == "workflows" and name in {"from", "to", "initial_stage", "reject_to"} and \
            not (len(tokens) > 2 and tokens[2] == "status_dimensions"):
        return _stages(documents, workflow)
    if name == "from_stage":
        return _stages(documents, None)
    if name in {"role", "roles", "owner_role", "audience", "read_roles", "write_roles"}:
        return roles
    if name in {"escalate_to", "to"}:
        return roles + forums
    if name == "forum":
        return forums
    if name in {"levels", "level", "parents", "target_level"}:
        return levels
    if name == "workflow":
        return _keyed((documents.get("workflows") or {}).get("workflows"))
    if name in {"fields", "required_fields", "required_evidence", "approval_content", "columns", "list_columns",
                "field", "group_by", "sort"}:
        return fields
    return None


# -- controls ----------------------------------------------------------------------------

@dataclass
class Control:
    """One control of an item's form: ``pointer`` is relative to the item and is also the
    form name of its value."""

    pointer: str
    label: str
    widget: str
    node: Node
    value: Any = ""
    choices: Choices = field(default_factory=list)
    help: str = ""
    required: bool = False
    children: list["Control"] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    #: a oneOf's object alternative: its property and that property's control
    inner: "Control | None" = None
    #: the item's kind: other controls depend on it (a field's ``type``)
    refresh: bool = False

    @property
    def name(self) -> str:
        return self.pointer

    @property
    def id(self) -> str:
        return "ctl" + re.sub(r"[^a-zA-Z0-9_-]", "-", self.pointer)

    def all(self) -> Iterable["Control"]:
        yield self
        for c in self.children:
            yield from c.all()
        if self.inner is not None:
            yield self.inner


def _widget(name: str, n: Node, choices: Choices | None) -> str:
    schema = n.schema
    if "oneOf" in schema:
        return "choice"
    if "enum" in schema:
        return "select"
    kind = schema.get("type")
    if kind == "boolean":
        return "yesno"
    if kind in {"integer", "number"}:
        return "number"
    if kind == "string":
        if n.ref == "expression":
            return "expression"
        return "textarea" if int(schema.get("maxLength", 0)) >= 1000 else "text"
    if kind == "array":
        items = node(schema.get("items", {}), n.file)
        if is_flat_list(n):
            return "rows"
        if "enum" in items.schema or "anyOf" in items.schema or (choices and items.schema.get("type") == "string"):
            return "checks"
        if items.schema.get("type") == "string":
            return "list"
        return ""
    if kind == "object":
        if schema.get("properties"):
            return "group"
        if isinstance(schema.get("additionalProperties"), dict) and choices:
            return "keymap"
    return ""  # nothing a form can say ("default": any value): the JSON editor's


def _display(widget: str, value: Any, n: Node) -> Any:
    if value is MISSING or value is None:
        return [] if widget in {"checks"} else {} if widget == "keymap" else ""
    if widget == "yesno":
        return "yes" if value is True else "no" if value is False else str(value)
    if widget == "list":
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    if widget == "checks":
        return [str(v) for v in value] if isinstance(value, list) else []
    if widget == "rows":
        columns = list(node(n.schema["items"], n.file).schema.get("properties", {}))
        if not isinstance(value, list):
            return str(value)
        return "\n".join(" | ".join(str(i.get(c, "")) if isinstance(i, dict) else str(i) for c in columns).rstrip(" |")
                         for i in value)
    if widget == "keymap":
        return value if isinstance(value, dict) else {}
    return value if isinstance(value, str) else str(value)


def _item_rules(n: Node, item: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(properties the item's own kind forbids, properties it requires), from the schema's
    ``allOf`` of if/then/else (a field's ``type`` decides whether it has options...)."""
    forbidden: set[str] = set()
    required: set[str] = set()
    for rule in n.schema.get("allOf", []):
        if "if" not in rule:
            continue
        branch = rule.get("then" if Draft202012Validator(rule["if"]).is_valid(dict(item)) else "else") or {}
        forbidden.update(p for p, s in branch.get("properties", {}).items() if s == {"not": {}})
        required.update(branch.get("required", []))
    return forbidden, required


def controls(document: str, item_pointer: str, n: Node, item: Mapping[str, Any],
             documents: Mapping[str, Any], prefix: str = "") -> list[Control]:
    """The controls of an item (or of a group inside it) of schema ``n``."""
    forbidden, conditional = _item_rules(n, item)
    required = set(n.schema.get("required", [])) | conditional
    deciding = {p for rule in n.schema.get("allOf", []) for p in rule.get("if", {}).get("properties", {})}
    found = []
    for name, raw in n.schema.get("properties", {}).items():
        if name == "$schema":
            continue
        sub = node(raw, n.file)
        choices = choices_for(document, item_pointer, name, documents)
        widget = _widget(name, sub, choices)
        if not widget or (is_object_list(sub) and not is_flat_list(sub)):
            continue
        value = item.get(name, MISSING) if isinstance(item, Mapping) else MISSING
        if name in forbidden and value is MISSING:
            continue
        control = Control(prefix + join(name), label_of(name), widget, sub, _display(widget, value, sub),
                          help=str(sub.schema.get("description", "")), required=name in required,
                          refresh=name in deciding)
        _complete(control, document, item_pointer, value, documents, choices or [])
        found.append(control)
    return found


def _complete(control: Control, document: str, item_pointer: str, value: Any,
              documents: Mapping[str, Any], choices: Choices) -> None:
    sub = control.node
    if control.widget == "select":
        control.choices = [(str(v), str(v)) for v in sub.schema["enum"]]
        if document == "fields" and control.pointer == "/type":  # the field-type registry names its types
            known = set(registry.keys())
            control.choices = [(k, f"{registry.get(k).label} ({k})" if k in known else k) for k, _ in control.choices]
    elif control.widget in {"text", "checks", "keymap"}:
        control.choices = list(choices)
    if control.widget == "checks":
        items = node(sub.schema.get("items", {}), sub.file)
        if "enum" in items.schema:
            control.choices = [(str(v), str(v)) for v in items.schema["enum"]]
        elif "anyOf" in items.schema:
            control.choices = [("*", "every one")] + list(choices)
        known = {k for k, _ in control.choices}
        control.choices += [(v, v) for v in control.value if v not in known]  # keep what the draft holds
    elif control.widget == "keymap":
        access = node(sub.schema["additionalProperties"], sub.file)
        control.columns = [str(v) for v in access.schema.get("enum", [])]
        known = {k for k, _ in control.choices}
        control.choices += [(k, k) for k in control.value if k not in known]
    elif control.widget == "rows":
        control.columns = list(node(sub.schema["items"], sub.file).schema.get("properties", {}))
        control.help = ("One per line: " + " | ".join(label_of(c).lower() for c in control.columns)
                        + (f". {control.help}" if control.help else ""))
    elif control.widget == "group":
        inner = value if isinstance(value, Mapping) else {}
        control.children = controls(document, item_pointer, sub, inner, documents, control.pointer)
    elif control.widget == "choice":
        _choice(control, document, item_pointer, value, documents)


def _choice(control: Control, document: str, item_pointer: str, value: Any, documents: Mapping[str, Any]) -> None:
    """A ``oneOf``: booleans and enum values are options of a select; an object with one
    property is the option "<property>…" with a control for that property's value."""
    options: Choices = [("", "—")]
    selected = ""
    for branch in control.node.schema["oneOf"]:
        alt = node(branch, control.node.file)
        if alt.schema.get("type") == "boolean":
            options += [("yes", "Yes"), ("no", "No")]
            if isinstance(value, bool):
                selected = "yes" if value else "no"
        elif "enum" in alt.schema:
            options += [(str(v), str(v)) for v in alt.schema["enum"]]
            if value in alt.schema["enum"]:
                selected = str(value)
        elif alt.schema.get("type") == "object" and len(alt.schema.get("properties", {})) == 1:
            (name, raw), = alt.schema["properties"].items()
            sub = node(raw, alt.file)
            options.append(("object", f"{label_of(name)}…"))
            inner_value = value.get(name, MISSING) if isinstance(value, Mapping) else MISSING
            if isinstance(value, Mapping):
                selected = "object"
            choices = choices_for(document, item_pointer, name, documents) or []
            widget = _widget(name, sub, choices)
            control.inner = Control(control.pointer + join(name), label_of(name), widget, sub,
                                    _display(widget, inner_value, sub), list(choices),
                                    help=str(sub.schema.get("description", "")))
    if value is not MISSING and value is not None and not selected:
        selected = str(value)
        options.append((selected, selected))
    control.choices = options
    control.value = selected


# -- reading a submitted form ----------------------------------------------------------------

Form = Any  # a MultiDict: ``get`` and ``getlist``


def _number(text: str, n: Node) -> Any:
    try:
        number = float(text.replace(",", "")) if n.schema.get("type") == "number" else int(text)
    except ValueError:
        return text  # kept as typed: the schema check names it at this control
    if isinstance(number, float) and not math.isfinite(number):
        return text  # "1e999", "nan": no JSON number
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _scalar_value(text: str, n: Node) -> Any:
    if n.schema.get("type") in {"integer", "number"}:
        return _number(text, n)
    if n.schema.get("type") == "boolean" or (text in {"yes", "no"} and "enum" not in n.schema):
        return {"yes": True, "no": False}.get(text, text)
    for v in n.schema.get("enum", []):
        if str(v) == text:
            return v
    return text


def read(control: Control, form: Form) -> Any:
    """The value the form gives for a control (MISSING: leave the property out)."""
    widget, n = control.widget, control.node
    if widget == "group":
        found = {}
        for c in control.children:
            v = read(c, form)
            if v is not MISSING:
                found[parts(c.pointer)[-1]] = v
        return found or MISSING
    if widget == "checks":
        chosen = [v for v in form.getlist(control.name) if v]
        items = node(n.schema.get("items", {}), n.file)
        return [_scalar_value(v, items) for v in chosen] or MISSING
    if widget == "keymap":
        found = {key: form.get(f"{control.name}/{key}", "") for key, _ in control.choices}
        return {k: v for k, v in found.items() if v} or MISSING
    text = str(form.get(control.name, "")).strip()
    if widget == "choice":
        if text == "object" and control.inner is not None:
            inner = read(control.inner, form)
            return {parts(control.inner.pointer)[-1]: inner} if inner is not MISSING else {}
        if not text:
            return MISSING
        return {"yes": True, "no": False}.get(text, _scalar_value(text, n)) if text in {"yes", "no"} else \
            _number(text, n) if text.isdigit() else text
    if not text:
        return MISSING
    if widget == "list":
        return [p.strip() for p in text.split(",") if p.strip()] or MISSING
    if widget == "rows":
        return _rows(text, n) or MISSING
    if widget in {"number", "select", "yesno"}:
        return _scalar_value(text, n)
    return text


def _rows(text: str, n: Node) -> list[dict[str, Any]]:
    item = node(n.schema["items"], n.file)
    columns = list(item.schema.get("properties", {}).items())
    found = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if not any(cells):
            continue
        row = {}
        for (name, raw), cell in zip(columns, cells):
            if cell:
                row[name] = _scalar_value(cell, node(raw, item.file))
        found.append(row)
    return found


def item_from_form(found: list[Control], form: Form, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The item the form describes: ``base`` (what the draft holds) with every property a
    control shows replaced by the form's value, and properties no control shows (nested
    lists, ``default``) kept as they were."""
    item = copy.deepcopy(dict(base or {}))
    for control in found:
        name = parts(control.pointer)[-1]
        value = read(control, form)
        if value is MISSING and control.required and control.widget in {"checks", "list"}:
            item[name] = []  # a required list may be empty ("parents": [] for a top level)
        elif value is MISSING:
            item.pop(name, None)
        else:
            item[name] = value
    return item


# -- problems next to their controls ---------------------------------------------------------

_REQUIRED = re.compile(r"^'([^']+)' is required")


def problem_pointer(problem: ConfigProblem) -> str:
    """Where a problem belongs: a missing property at that property's control."""
    if problem.code == "schema.required":
        match = _REQUIRED.match(problem.message)
        if match:
            return problem.pointer + join(match.group(1))
    return problem.pointer


def attach(found: list[Control], item_pointer: str, problems: Iterable[ConfigProblem]) -> list[ConfigProblem]:
    """Put each problem inside the item on the control with the longest matching pointer;
    return those no control takes (shown at the top of the item's form)."""
    everything = [c for top in found for c in top.all()]
    left = []
    for problem in problems:
        where = problem_pointer(problem)
        if not where.startswith(item_pointer + "/"):
            left.append(problem)
            continue
        relative = where[len(item_pointer):]
        best = max((c for c in everything if relative == c.pointer or relative.startswith(c.pointer + "/")),
                   key=lambda c: len(c.pointer), default=None)
        if best is None:
            left.append(problem)
        else:
            best.errors.append(problem.message + (f" (did you mean {problem.hint!r}?)" if problem.hint else ""))
    return left


def item_pointer_of(document: Any, pointer: str) -> str:
    """The deepest list item (an object in a list) containing ``pointer``: its screen."""
    tokens = parts(pointer)
    best = ""
    node_: Any = document
    for i, token in enumerate(tokens):
        try:
            parent, node_ = node_, resolve(node_, join(token))
        except Exception:  # noqa: BLE001 - a pointer past what the draft holds (a missing property)
            break
        if isinstance(parent, list) and isinstance(node_, dict):
            best = join(*tokens[:i + 1])
    return best


def summary(item: Any) -> str:
    """How a list item is named in its list."""
    if not isinstance(item, dict):
        return str(item)
    name = item.get("label") or item.get("title")
    key = item.get("key")
    if name and key:
        return f"{name} ({key})"
    if name or key:
        return str(name or key)
    described = ", ".join(f"{k}: {v if not isinstance(v, list) else ', '.join(map(str, v))}" for k, v in item.items()
                          if not isinstance(v, (dict,)))
    return described[:120] or "(item)"


@functools.cache
def document_titles() -> dict[str, str]:
    return {name: title for name, (_, title) in MAIN_LISTS.items()}


Reader = Callable[[Control, Form], Any]
