"""Input no database can store, refused where it enters: one check for every route.

PostgreSQL refuses NUL in text (``A string literal cannot contain NUL``, and JSONB
refuses ``\\u0000``), and no database driver can encode a lone UTF-16 surrogate (JSON's
``"\\ud800"`` decodes to one). Such characters are never part of a title, a comment, an
e-mail or a search, so instead of teaching every field, filter and form about them, the
app refuses the request before any view runs: a 400 that names the parameter, where a
view would have reached the database and answered 500.

JSON bodies are also bounded in depth: Python's parser recurses, so ``[[[[…]]]]`` a
thousand levels deep raised RecursionError (a 500) before any view could look at it.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from flask import Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

#: NUL and the surrogate range (which only a lone surrogate can occupy in a Python str)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: deeper JSON than any body of ours (a money grid is four levels) is refused
MAX_JSON_DEPTH = 32


class JsonTooDeep(BadRequest):
    """A JSON body nested deeper than :data:`MAX_JSON_DEPTH` (an HTTPException, so it passes
    through ``get_json(silent=True)`` and is answered 400 like any other bad request)."""

    description = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit``, walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with request bodies refused beyond :data:`MAX_JSON_DEPTH` levels."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise JsonTooDeep() from None
        if _depth_exceeds(value, MAX_JSON_DEPTH):
            raise JsonTooDeep()
        return value


def _json_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON path, string) for every key and string value of a parsed body."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                yield child_path, str(key)
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str):
            yield where or "body", item


def _texts(request: Request) -> Iterator[tuple[str, str]]:
    """(where, text) for every piece of text a request carries to the views."""
    yield "the address", request.path
    for key, value in request.args.items(multi=True):
        yield key, key
        yield key, value
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        for key, value in request.form.items(multi=True):
            yield key, key
            yield key, value
        # File names are cleaned, not refused (``fields.base.clean_filename``).
        if request.is_json:
            yield from _json_strings(request.get_json(silent=True))


def refuse_unstorable_input(request: Request) -> None:
    """Raise BadRequest naming the first parameter with a character no database stores."""
    for where, text in _texts(request):
        if UNSTORABLE.search(text):
            raise BadRequest(f"{where}: contains a character that cannot be stored "
                             "(a NUL or an unpaired surrogate); remove it and send again.")
