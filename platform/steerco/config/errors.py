"""Configuration problems, written for the consultant who has to fix them.

Every problem names the file, the JSON Pointer inside it and what is wrong, carries a
stable ``code`` for tooling and, where a key is close to a known one, a "did you mean" hint.
The loader collects all problems of a configuration before it gives up.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a tenant configuration.

    ``pointer`` is a plain JSON Pointer; ``item`` names the list items it passes through by
    their keys ("field capex_amount", "workflow doi › transition decide"), because
    ``/fields/29`` means nothing to someone reading the file.
    """

    file: str
    pointer: str
    message: str
    code: str
    hint: str | None = None
    item: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.pointer or '/'}" if self.file else "(folder)"
        if self.item:
            where += f" ({self.item})"
        text = f"{where}: {self.message} [{self.code}]"
        return f"{text} (did you mean {self.hint!r}?)" if self.hint else text


class ConfigInvalid(Exception):
    """Raised when a configuration has problems; never activated in that state."""

    def __init__(self, problems: Iterable[ConfigProblem]):
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} configuration problem(s):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


def pointer(*parts: object) -> str:
    """Build a JSON Pointer (RFC 6901) from path parts."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/" + "/".join(escaped) if parts else ""


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The known key most like ``word``, if one is close enough to be a typo."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return matches[0] if matches else None


#: How an item of a list is called, by the name of the list (default: the name less its "s").
_ITEM_WORDS = {"approvals": "approval step", "status_dimensions": "status dimension",
               "escalation": "escalation step"}


def item_names(document: Any, pointer_text: str) -> str | None:
    """The keyed list items a JSON Pointer passes through in ``document``, in words:
    ``/workflows/0/transitions/2/roles/1`` -> "workflow doi › transition decide"."""
    names: list[str] = []
    node = document
    parent = ""
    for raw in pointer_text.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            key = node.get("key") if isinstance(node, dict) else None
            if isinstance(key, str) and key:
                names.append(f"{_ITEM_WORDS.get(parent, parent.removesuffix('s'))} {key}")
        elif isinstance(node, dict) and part in node:
            node, parent = node[part], part
        else:
            break
    return " › ".join(names) or None


def with_items(problems: Iterable[ConfigProblem], documents: Mapping[str, Any]) -> list[ConfigProblem]:
    """The problems, each naming the keyed items its pointer passes through."""
    named = []
    for problem in problems:
        document = documents.get(problem.file.removesuffix(".json")) if problem.file else None
        item = item_names(document, problem.pointer) if document is not None and problem.pointer else None
        named.append(dataclasses.replace(problem, item=item) if item else problem)
    return named
