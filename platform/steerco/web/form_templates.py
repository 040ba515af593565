"""One Jinja template per level's form, compiled once per configuration version.

The edit and create forms show every field of a level through ``partials/_field.html``,
which includes the field type's template, which includes ``fields/_attrs.html``: three
includes per field, each a new Jinja context, were half the cost of rendering a form of
30 fields. Here the level's sections and fields are unrolled into one template source, with
those literal includes replaced by the text of the templates they name, and compiled once
per (configuration, level). The field templates stay the one source of the markup: what
is generated is the same markup, only without the includes.

The compiled templates are kept per configuration object (configurations are immutable
and cached per version, see ``engine.tenants``), so a new configuration version gets new
templates; an old version's are dropped first when more are needed.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable

from jinja2 import Environment, Template

from steerco.config.model import Level

#: the field's wrapper: label, widget, help and error slot (also used alone by the htmx swaps)
FIELD_TEMPLATE = "partials/_field.html"
#: ``{% include "literal" %}`` without whitespace control: what can be replaced by the text
_INCLUDE = re.compile(r'{%\s*include\s+"([^"]+)"\s*%}')
#: ``{% include fld.kind.template %}`` in the wrapper: the field type's widget
_WIDGET = re.compile(r"{%\s*include\s+fld\.kind\.template\s*%}")
#: a field's attributes that are fixed by the configuration, as its templates read them
_STATIC = re.compile(r"\bfld\.(kind\.)?(key|label|help|max_length|placeholder|input_type|inputmode)\b(?![.(\[])")
#: text that would end or start a Jinja tag inside a literal: such a value stays a lookup
_DELIMITERS = ("{{", "}}", "{%", "%}", "{#", "#}")
_MISSING = object()
#: compiled forms kept (levels across configurations); a configuration has a few levels
KEPT = 200
_FORMS: OrderedDict[tuple[int, str], tuple[weakref.ref[Any], Template, list[Callable[[], bool]]]] = OrderedDict()
_LOCK = threading.Lock()


def level_form(env: Environment, config: Any, level: Level) -> Template:
    """The compiled template of ``level``'s sections and fields under ``config``."""
    key = (id(config), level.key)
    with _LOCK:
        kept = _FORMS.get(key)
        if kept is not None and kept[0]() is config and not (env.auto_reload and not all(f() for f in kept[2])):
            return kept[1]
    checks: list[Callable[[], bool]] = []
    template = env.from_string(form_source(env, level, checks))
    with _LOCK:
        _FORMS[key] = (weakref.ref(config), template, checks)  # an old version is not kept alive
        while len(_FORMS) > KEPT:
            _FORMS.popitem(last=False)
    return template


def form_source(env: Environment, level: Level, checks: list[Callable[[], bool]] | None = None) -> str:
    """The template source of the level's form: each section a fieldset, shown when one of
    its fields is not hidden from the reader, each field the wrapper with its widget inlined."""
    wrapper = _source(env, FIELD_TEMPLATE, checks)
    parts: list[str] = []
    for i, section in enumerate(level.sections):
        if not section.fields:
            continue
        shown = " or ".join(f"states[{fld.key!r}].mode != 'hidden'" for fld in section.fields)
        parts.append(f"{{% if {shown} %}}\n    <fieldset>\n      <legend>{{{{ level.sections[{i}].label }}}}</legend>\n      ")
        for j, fld in enumerate(section.fields):
            widget = _inline(env, _source(env, fld.kind.template, checks), checks)
            body = _WIDGET.sub(lambda _m: widget, wrapper)
            parts.append(f"{{% set fld = level.sections[{i}].fields[{j}] %}}{_constants(_inline(env, body, checks), fld)}")
        parts.append("\n    </fieldset>\n    {% endif %}")
    return "".join(parts)


def _constants(source: str, fld: Any) -> str:
    """``source`` with the field's fixed attributes (key, label, help, ...) written in as
    literals, which Jinja folds into the template's text at compile time (escaped)."""
    def literal(match: re.Match[str]) -> str:
        owner = fld.kind if match.group(1) else fld
        value = getattr(owner, match.group(2), _MISSING)
        if value is None or isinstance(value, bool):
            return {None: "none", True: "true", False: "false"}[value]
        if type(value) is int:
            return str(value)
        if type(value) is str and not any(mark in repr(value) for mark in _DELIMITERS):
            return repr(value)  # a Jinja string literal reads Python's escapes
        return match.group(0)  # anything else stays a lookup

    return _STATIC.sub(literal, source)


def _source(env: Environment, name: str, checks: list[Callable[[], bool]] | None) -> str:
    """A template's text as an include would output it (Jinja drops one final newline)."""
    assert env.loader is not None
    source, _filename, uptodate = env.loader.get_source(env, name)
    if checks is not None and uptodate is not None:
        checks.append(uptodate)
    if not env.keep_trailing_newline and source.endswith("\n"):
        source = source[:-1]
    return source


def _inline(env: Environment, source: str, checks: list[Callable[[], bool]] | None, depth: int = 0) -> str:
    """``source`` with its literal includes replaced by their text (nested ones too)."""
    if depth > 5:
        return source
    return _INCLUDE.sub(lambda m: _inline(env, _source(env, m.group(1), checks), checks, depth + 1), source)
