"""Edits of a draft's documents at a JSON Pointer: what the configuration screens do.

The screens (``/t/<slug>/admin/config/versions/<id>/edit/...``) never write JSON: each form
becomes one :class:`Edit` (add an item to a list, replace an item, remove one, move one up
or down) applied here to a copy of the document, which is then saved through
:func:`config_versions.save_document` like the expert JSON editor's save: the draft is
re-validated by the same schema and semantic checks, and the save is an audit event
(``config.draft_edited`` with the edit). Editing the active version starts a draft from it
first, so the first change of a session needs no separate "start a draft" step.

Plain Python, no Flask: the views only turn forms into edits (:mod:`config_forms`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy.orm import Session

from steerco.config import ConfigProblem
from steerco.config.schema import DOCUMENTS, OPTIONAL_DOCUMENTS
from steerco.engine import config_versions
from steerco.engine.errors import Conflict, NotFound, ValidationFailed
from steerco.engine.tenants import ACTIVE, DRAFT
from steerco.store.models import ConfigVersion, Tenant

OPERATIONS = ("add", "update", "remove", "move")


class EditError(ValidationFailed):
    """An edit that does not fit the document (a pointer to nothing, a move off the end)."""

    def __init__(self, message: str):
        super().__init__({"edit": message})
        self.message = message


@dataclass(frozen=True)
class Edit:
    """One change of one document: ``add`` appends ``value`` to the list at ``pointer`` (or
    inserts it at ``index``), ``update`` replaces the value at ``pointer``, ``remove`` deletes
    it, ``move`` moves the list item at ``pointer`` by ``by`` places (-1: up, 1: down)."""

    document: str
    op: str
    pointer: str
    value: Any = None
    index: int | None = None
    by: int = 0

    def as_data(self) -> dict[str, Any]:
        """What the audit event records (the value only for adds and updates)."""
        data: dict[str, Any] = {"op": self.op, "file": f"{self.document}.json", "pointer": self.pointer}
        if self.op in {"add", "update"}:
            data["value"] = self.value
        if self.op == "move":
            data["by"] = self.by
        return data


def parts(pointer: str) -> list[str]:
    """The unescaped reference tokens of a JSON Pointer (RFC 6901)."""
    if pointer in ("", "/"):
        return []
    if not pointer.startswith("/"):
        raise EditError(f"{pointer!r} is not a JSON Pointer")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def join(*tokens: object) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def resolve(document: Any, pointer: str) -> Any:
    """The value at ``pointer``; EditError when there is none."""
    node = document
    for token in parts(pointer):
        node = _child(node, token, pointer)
    return node


def _child(node: Any, token: str, pointer: str) -> Any:
    if isinstance(node, dict) and token in node:
        return node[token]
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    raise EditError(f"nothing at {pointer}")


def _parent(document: Any, pointer: str) -> tuple[Any, str]:
    tokens = parts(pointer)
    if not tokens:
        raise EditError("the whole document cannot be the target of this edit")
    return resolve(document, join(*tokens[:-1])), tokens[-1]


def _index(container: list[Any], token: str, pointer: str) -> int:
    if not token.isdigit() or int(token) >= len(container):
        raise EditError(f"nothing at {pointer}")
    return int(token)


def _storable(value: Any) -> None:
    """Text a JSON document in the database cannot hold (NUL, lone surrogates) is refused."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, str):
            if "\x00" in node:
                raise EditError("a text holds a NUL character")
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise EditError("a text holds characters that are not valid Unicode") from None


def apply(document: Any, edit: Edit) -> Any:
    """A copy of ``document`` with ``edit`` applied (the original is left as it was)."""
    if edit.op not in OPERATIONS:
        raise EditError(f"unknown edit {edit.op!r}")
    _storable(edit.value)
    result = copy.deepcopy(document)
    if edit.op == "add":
        _add(result, edit)
        return result
    if edit.op == "update" and edit.pointer in ("", "/"):
        return copy.deepcopy(edit.value)
    parent, token = _parent(result, edit.pointer)
    if edit.op == "update":
        if isinstance(parent, list):
            parent[_index(parent, token, edit.pointer)] = copy.deepcopy(edit.value)
        elif isinstance(parent, dict):
            parent[token] = copy.deepcopy(edit.value)
        else:
            raise EditError(f"nothing at {edit.pointer}")
    elif edit.op == "remove":
        if isinstance(parent, list):
            del parent[_index(parent, token, edit.pointer)]
        elif isinstance(parent, dict) and token in parent:
            del parent[token]
        else:
            raise EditError(f"nothing at {edit.pointer}")
    else:
        if not isinstance(parent, list):
            raise EditError(f"{edit.pointer} is not an item of a list")
        start = _index(parent, token, edit.pointer)
        target = start + edit.by
        if not 0 <= target < len(parent):
            raise EditError("the item is already at the end of its list")
        parent.insert(target, parent.pop(start))
    return result


def _add(document: Any, edit: Edit) -> None:
    tokens = parts(edit.pointer)
    if not tokens:
        raise EditError("add needs the pointer of a list")
    owner = resolve(document, join(*tokens[:-1]))
    if isinstance(owner, dict) and tokens[-1] not in owner:
        owner[tokens[-1]] = []  # an optional list not there yet (a transition's first approval step)
    target = resolve(document, edit.pointer)
    if not isinstance(target, list):
        raise EditError(f"{edit.pointer} is not a list")
    item = copy.deepcopy(edit.value)
    if edit.index is None or not 0 <= edit.index <= len(target):
        target.append(item)
    else:
        target.insert(edit.index, item)


def where_added(document: Any, edit: Edit) -> str:
    """The pointer the item an ``add`` inserted now has (``document`` is the result)."""
    target = resolve(document, edit.pointer)
    index = len(target) - 1 if edit.index is None or not 0 <= edit.index < len(target) else edit.index
    return f"{edit.pointer}/{index}"


def document_of(version: ConfigVersion, name: str) -> Any:
    """A document of the version; an optional one it leaves out is its empty default (the
    first rule added to it brings the file in)."""
    if name not in DOCUMENTS:
        raise NotFound(f"no configuration file {name}.json")
    found = (version.documents or {}).get(name)
    return copy.deepcopy(OPTIONAL_DOCUMENTS[name]) if found is None and name in OPTIONAL_DOCUMENTS else found


def draft_for_edit(session: Session, tenant: Tenant, version: ConfigVersion, *,
                   user_id: int | None = None) -> ConfigVersion:
    """The draft an edit applies to: the version itself when it is a draft; for the active
    version, a new draft started from it (the screens' first edit)."""
    if version.tenant_id != tenant.id:
        raise NotFound("no such configuration version")
    if version.state == DRAFT:
        return version
    if version.state != ACTIVE:
        raise Conflict(f"Version {version.number} is {version.state}: open the active version or a "
                                       "draft to change the configuration.")
    return config_versions.create_draft(session, tenant, user_id=user_id, comment="",
                                        source="configuration screens")


def save(session: Session, tenant: Tenant, version: ConfigVersion, edits: Sequence[Edit], *,
         user_id: int | None = None) -> tuple[ConfigVersion, list[ConfigProblem]]:
    """Apply ``edits`` in order to the draft (started from ``version`` when it is the active
    one), save each changed document (validated, audited) and return the draft and its
    problems. Nothing is saved when an edit does not fit its document."""
    draft = draft_for_edit(session, tenant, version, user_id=user_id)
    changed: dict[str, Any] = {}
    for edit in edits:
        current = changed.get(edit.document, document_of(draft, edit.document))
        changed[edit.document] = apply(current, edit)
    found: list[ConfigProblem] = []
    for name, document in changed.items():
        found = config_versions.save_document(
            session, tenant, draft, name, document, user_id=user_id,
            edits=[e.as_data() for e in edits if e.document == name])
    return draft, found
