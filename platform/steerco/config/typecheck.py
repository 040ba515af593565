"""The static type check of expressions, run when a configuration is loaded.

An expression is checked against a :class:`Scope`: what each name it reads is (a number, a
text, a date, yes/no, a list, a time-phased money grid, attachments, a user or a record
reference; the field-type registry says which, through ``FieldType.expression_type``) and,
for choice fields and ``stage``, which texts it can hold. The check refuses what can never
make sense, so a consultant hears about it at ``steerco validate`` instead of a condition
that is silently always false:

- comparing values of different kinds (a grid, a text or a date with a number), ordering
  yes/no, lists, grids, users or references;
- arithmetic on anything but numbers (text may only be joined to text with ``+``; ``%``
  formatting of text is refused), ``in`` on anything but a list or a text;
- a choice field or ``stage`` compared with a text that is none of its options;
- functions given the wrong kind or number of arguments, ``round`` with more than
  ``MAX_ROUND_DIGITS`` digits, number literals beyond ``MAX_NUMBER``.

Every value may be empty (None) at run time; that is the data's business, not the
configuration's, and is not a type error. A name the scope does not know has already been
reported as unknown and is not reported again here.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from steerco.config.expressions import MAX_NUMBER, MAX_ROUND_DIGITS, PARENT, REVIEW_EVERY, Expression

#: Every kind a value can have in an expression ("none" is the literal None).
KINDS = frozenset({"number", "text", "date", "bool", "list", "grid", "files", "user", "record", "none"})

_WORDS = {
    "number": "a number", "text": "a text", "date": "a date", "bool": "yes/no", "list": "a list",
    "grid": "a time-phased money grid", "files": "attachments", "user": "a user",
    "record": "a record reference", "none": "None",
}
_ORDERED = frozenset({"number", "text", "date"})
#: the words of the refusal to add totals of different kinds of effect (its own problem code)
MIXED_EFFECTS = "mixes kinds of effect"
_NO_VALUE = object()


@dataclass(frozen=True)
class Scope:
    """What the names of one place (a level) are: ``kinds`` maps a name to its expression
    type, ``options`` a name to the texts it can hold (choice fields, ``stage``)."""

    kinds: Mapping[str, str]
    options: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: the levels around this one, for ``parent.x``, ``ancestor('level').x`` and
    #: ``children('level')...``, and the scope of another level by its key
    parents: tuple[str, ...] = ()
    ancestors: frozenset[str] = frozenset()
    children: frozenset[str] = frozenset()
    other: Callable[[str], "Scope"] | None = field(default=None, compare=False)
    #: a grid's kind of effect ("recurring", "one_time") by its name: totals of different
    #: kinds are never added up (run-rate and in-period values are kept apart)
    effects: Mapping[str, str] = field(default_factory=dict, compare=False)

    def of(self, level: str) -> "Scope | None":
        return self.other(level) if self.other is not None else None


@dataclass(frozen=True)
class _Typed:
    """What checking a node found: the kinds it may have, the kinds of a list's items, the
    literal value (for constants), the options of a choice, and whether it is unknown."""

    kinds: frozenset[str]
    items: frozenset[str] = frozenset()
    literal: Any = _NO_VALUE
    options: frozenset[str] | None = None
    unknown: bool = False
    #: the kinds of effect (of grids' totals) a number is computed from
    effects: frozenset[str] = frozenset()

    @property
    def definite(self) -> frozenset[str]:
        """The kinds an operation must accept (an empty value is the data's business)."""
        return self.kinds - {"none"}


_UNKNOWN = _Typed(KINDS, unknown=True)


def describe(kinds: Iterable[str]) -> str:
    """Kinds in words: "a number or a text"."""
    return " or ".join(_WORDS[k] for k in sorted(kinds)) or "nothing"


class _Checker:
    def __init__(self, expression: Expression, scope: Scope):
        self.source = expression.source
        self.scope = scope
        self.problems: list[str] = []

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source.strip(), node) or "?"

    def refuse(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    def what(self, node: ast.AST, typed: _Typed) -> str:
        """``financials (a time-phased money grid)``: an operand and its kind."""
        return f"{self.text(node)} ({describe(typed.definite or typed.kinds)})"

    # -- nodes ---------------------------------------------------------------------------
    def check(self, node: ast.AST) -> _Typed:
        method = getattr(self, f"check_{type(node).__name__.lower()}", None)
        return method(node) if method else _UNKNOWN

    def check_constant(self, node: ast.Constant) -> _Typed:
        value = node.value
        if value is None:
            return _Typed(frozenset({"none"}), literal=None)
        if isinstance(value, bool):
            return _Typed(frozenset({"bool"}), literal=value)
        if isinstance(value, (int, float)):
            if abs(value) >= MAX_NUMBER:
                self.refuse(f"the number {self.text(node)} is beyond the limit of {MAX_NUMBER:.0e}")
            return _Typed(frozenset({"number"}), literal=value)
        if isinstance(value, str):
            return _Typed(frozenset({"text"}), literal=value)
        return _UNKNOWN

    def check_name(self, node: ast.Name) -> _Typed:
        kind = self.scope.kinds.get(node.id)
        if kind is None:
            return _UNKNOWN
        return _Typed(frozenset({kind}), items=frozenset({"text"}) if kind == "list" else frozenset(),
                      options=self.scope.options.get(node.id))

    def check_list(self, node: ast.List | ast.Tuple) -> _Typed:
        elements = [self.check(e) for e in node.elts]
        items = frozenset().union(*(e.kinds for e in elements)) if elements else frozenset()
        if any(e.unknown for e in elements):
            items = KINDS
        return _Typed(frozenset({"list"}), items=items, literal=tuple(e.literal for e in elements))

    check_tuple = check_list

    def check_boolop(self, node: ast.BoolOp) -> _Typed:
        # "a or b" is a or b itself, so the result is of any of their kinds.
        values = [self.check(v) for v in node.values]
        if any(v.unknown for v in values):
            return _UNKNOWN
        return _Typed(frozenset().union(*(v.kinds for v in values)))

    def check_unaryop(self, node: ast.UnaryOp) -> _Typed:
        operand = self.check(node.operand)
        if isinstance(node.op, ast.Not):
            return _Typed(frozenset({"bool"}))
        if not operand.unknown and operand.definite - {"number"}:
            self.refuse(f"a sign needs a number, but {self.what(node.operand, operand)} is not one")
        literal = operand.literal
        if isinstance(literal, (int, float)) and not isinstance(literal, bool):
            return _Typed(frozenset({"number"}), literal=-literal if isinstance(node.op, ast.USub) else literal)
        return _Typed(frozenset({"number"}))

    def check_binop(self, node: ast.BinOp) -> _Typed:
        left, right = self.check(node.left), self.check(node.right)
        symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
                  ast.Mod: "%"}.get(type(node.op), "?")
        if left.unknown or right.unknown:
            return _UNKNOWN
        if symbol == "%" and "text" in left.definite:
            self.refuse(f"{self.text(node)}: % formatting of text is not allowed")
            return _UNKNOWN
        kinds = left.definite | right.definite
        if symbol == "+" and kinds == {"text"}:
            return _Typed(frozenset({"text"}))
        if kinds <= {"number"}:
            effects = left.effects | right.effects
            if symbol in ("+", "-") and len(effects) > 1:
                self.refuse(f"{self.text(node)}: {MIXED_EFFECTS}: a recurring total and a one-time total "
                            "are reported apart, never added up")
            return _Typed(frozenset({"number"}) | (left.kinds & right.kinds & {"none"}), effects=effects)
        hint = ""
        if symbol == "-" and kinds == {"date"}:
            hint = "; use days_since(date) or days_until(date) to count days"
        elif "text" in kinds:
            hint = "; text can only be joined to text with +"
        self.refuse(f"{self.text(node)}: {symbol} needs numbers, but "
                    f"{self.what(node.left, left)} and {self.what(node.right, right)} are not both numbers{hint}")
        return _UNKNOWN  # reported once; what follows from it would only be noise

    def check_ifexp(self, node: ast.IfExp) -> _Typed:
        self.check(node.test)
        body, orelse = self.check(node.body), self.check(node.orelse)
        if body.unknown or orelse.unknown:
            return _UNKNOWN
        return _Typed(body.kinds | orelse.kinds, items=body.items | orelse.items)

    def check_compare(self, node: ast.Compare) -> _Typed:
        left_node, left = node.left, self.check(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.check(right_node)
            if not (left.unknown or right.unknown):
                self.compare(op, left_node, left, right_node, right)
            left_node, left = right_node, right
        return _Typed(frozenset({"bool"}))

    def compare(self, op: ast.cmpop, left_node: ast.AST, left: _Typed, right_node: ast.AST,
                right: _Typed) -> None:
        if isinstance(op, (ast.Is, ast.IsNot)):
            if right.literal is not None:
                self.refuse(f"{self.text(left_node)} is {self.text(right_node)}: 'is' only tests "
                            "for None; compare values with ==")
            return
        if isinstance(op, (ast.In, ast.NotIn)):
            self.membership(left_node, left, right_node, right)
            return
        if not left.definite or not right.definite:
            return  # a comparison with None: "is the value empty"
        if not self.comparable(left, right):
            self.refuse(f"cannot compare {self.what(left_node, left)} with {self.what(right_node, right)}")
            return
        if not isinstance(op, (ast.Eq, ast.NotEq)):
            unordered = (left.definite | right.definite) - _ORDERED
            if unordered:
                self.refuse(f"{self.what(left_node, left)} and {self.what(right_node, right)}: "
                            f"{describe(unordered)} cannot be ordered with <, <=, > or >=")
                return
        self.option_literal(left_node, left, right)
        self.option_literal(right_node, right, left)

    @staticmethod
    def comparable(left: _Typed, right: _Typed) -> bool:
        for a in left.definite:
            for b in right.definite:
                if a == b:
                    continue
                if {a, b} == {"date", "text"}:
                    literal = left.literal if a == "text" else right.literal
                    if isinstance(literal, str) and _is_iso_date(literal):
                        continue
                return False
        return True

    def option_literal(self, node: ast.AST, typed: _Typed, other: _Typed) -> None:
        """A choice (or ``stage``) compared with a text literal that is none of its options."""
        if typed.options is None or not isinstance(other.literal, str):
            return
        if other.literal not in typed.options:
            self.refuse(f"{other.literal!r} is not an option of {self.text(node)} "
                        f"(options: {', '.join(sorted(typed.options))})")

    def membership(self, left_node: ast.AST, left: _Typed, right_node: ast.AST, right: _Typed) -> None:
        if right.definite - {"list", "text"}:
            self.refuse(f"{self.text(left_node)} in {self.text(right_node)}: 'in' needs a list "
                        f"(or a text), but {self.what(right_node, right)} is not one")
            return
        if right.definite == {"text"}:
            if left.definite - {"text"}:
                self.refuse(f"{self.text(left_node)} in {self.text(right_node)}: only a text can be "
                            f"found in a text, not {self.what(left_node, left)}")
            return
        items = _Typed(right.items - {"none"} or frozenset({"none"}), options=right.options)
        if left.definite and items.definite and not self.comparable(left, items):
            self.refuse(f"{self.text(left_node)} in {self.text(right_node)}: the list holds "
                        f"{describe(items.definite)}, never {self.what(left_node, left)}")
            return
        if left.options is not None and isinstance(right.literal, tuple):
            for value in right.literal:
                self.option_literal(left_node, left, _Typed(frozenset({"text"}), literal=value))
        if right.options is not None and isinstance(left.literal, str):
            self.option_literal(right_node, _Typed(frozenset({"list"}), options=right.options), left)

    # -- the records around this one ------------------------------------------------------
    def check_attribute(self, node: ast.Attribute) -> _Typed:
        """``parent.x`` (x of every level a parent may be) or ``ancestor('level').x``."""
        if isinstance(node.value, ast.Name) and node.value.id == PARENT:
            levels = list(self.scope.parents)
            if not levels:
                self.refuse(f"{self.text(node)}: this level has no parent level")
                return _UNKNOWN
        else:
            level = node.value.args[0].value  # type: ignore[attr-defined]
            if level not in self.scope.ancestors:
                self.refuse(f"{self.text(node)}: {level!r} is no level above this one"
                            + (f" (levels above: {', '.join(sorted(self.scope.ancestors))})"
                               if self.scope.ancestors else ""))
                return _UNKNOWN
            levels = [level]
        kinds: set[str] = set()
        options: set[str] = set()
        for level in levels:
            other = self.scope.of(level)
            if other is None:
                return _UNKNOWN
            kind = other.kinds.get(node.attr)
            if kind is None or node.attr == "today":
                self.refuse(f"{self.text(node)}: level {level!r} has no field {node.attr!r}")
                return _UNKNOWN
            kinds.add(kind)
            options |= other.options.get(node.attr, frozenset())
        return _Typed(frozenset(kinds) | {"none"}, items=frozenset({"text"}) if "list" in kinds else frozenset(),
                      options=frozenset(options) if options else None)

    def check_children(self, node: ast.Call) -> _Typed:
        """``children('level').sum('field')`` (avg, min, max) or ``.count(condition)``."""
        level = node.func.value.args[0].value  # type: ignore[attr-defined]
        method = node.func.attr  # type: ignore[attr-defined]
        other = self.scope.of(level)
        if level not in self.scope.children or other is None:
            self.refuse(f"{self.text(node)}: {level!r} is no level below this one"
                        + (f" (levels below: {', '.join(sorted(self.scope.children))})" if self.scope.children else ""))
            return _UNKNOWN
        if method == "count":
            if node.args:
                condition = Expression(self.source, frozenset(), node.args[0])
                _, problems = check(condition, other)
                for problem in problems:
                    self.refuse(f"{self.text(node)}, on the {level} records: {problem}")
            return _Typed(frozenset({"number"}))
        key = node.args[0].value  # type: ignore[attr-defined]
        kind = other.kinds.get(key)
        if kind is None or key in ("today", "title"):
            self.refuse(f"{self.text(node)}: level {level!r} has no field {key!r}")
            return _UNKNOWN
        allowed = {"number"} if method in ("sum", "avg") else {"number", "date"}
        if kind not in allowed:
            self.refuse(f"{self.text(node)}: {method} needs {describe(allowed)}, but {key} is {describe([kind])}")
            return _UNKNOWN
        return _Typed(frozenset({kind, "none"}) if method != "sum" else frozenset({"number"}))

    def check_call(self, node: ast.Call) -> _Typed:
        if isinstance(node.func, ast.Attribute):
            return self.check_children(node)
        name = node.func.id if isinstance(node.func, ast.Name) else "?"
        args = [self.check(a) for a in node.args]
        counts = {"len": (1, 1), "abs": (1, 1), "empty": (1, 1), "round": (1, 2), "days_since": (1, 1),
                  "days_until": (1, 1), "min": (1, 99), "max": (1, 99), "total": (2, 4),
                  "on_track": (1, 2), "review_due": (2, 2)}
        low, high = counts.get(name, (0, 99))
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}" if high < 99 else f"at least {low}"
            self.refuse(f"{self.text(node)}: {name} takes {expected} argument(s), not {len(args)}")
            return _UNKNOWN
        if name == "empty":
            return _Typed(frozenset({"bool"}))
        if any(a.unknown for a in args):
            return _Typed(frozenset({"number", "text", "date", "bool", "none"}), unknown=True)
        first = args[0]
        if name == "len":
            self.expect(node, 0, first, {"text", "list", "files"}, "len needs a text or a list")
            return _Typed(frozenset({"number"}))
        if name == "abs":
            self.expect(node, 0, first, {"number"}, "abs needs a number")
            return _Typed(frozenset({"number"}))
        if name in {"days_since", "days_until"}:
            if not (first.literal is not _NO_VALUE and isinstance(first.literal, str)
                    and _is_iso_date(first.literal)):
                self.expect(node, 0, first, {"date"}, f"{name} needs a date")
            return _Typed(frozenset({"number", "none"}))
        if name == "total":
            return self.check_total(node, args)
        if name == "on_track":
            return self.check_on_track(node, args)
        if name == "review_due":
            return self.check_review_due(node, args)
        if name == "round":
            self.expect(node, 0, first, {"number"}, "round needs a number")
            if len(args) == 2:
                digits = args[1]
                self.expect(node, 1, digits, {"number"}, "round's digits must be a whole number")
                if digits.literal is not _NO_VALUE and isinstance(digits.literal, (int, float)):
                    if not isinstance(digits.literal, int) or isinstance(digits.literal, bool):
                        self.refuse(f"{self.text(node)}: round's digits must be a whole number")
                    elif abs(digits.literal) > MAX_ROUND_DIGITS:
                        self.refuse(f"{self.text(node)}: round takes at most {MAX_ROUND_DIGITS} digits "
                                    "either way")
            return _Typed(frozenset({"number"}))
        return self.check_extreme(node, name, args)

    def check_total(self, node: ast.Call, args: list[_Typed]) -> _Typed:
        """total(grid, 'scenario'[, 'from', 'to']): a grid, one of its scenarios (a text, and
        when written out one the grid has), and periods written ``YYYY-MM``."""
        self.expect(node, 0, args[0], {"grid"}, "total needs a time-phased grid first")
        self.expect(node, 1, args[1], {"text"}, "total's scenario must be a text such as 'actual'")
        scenario = args[1].literal
        if isinstance(scenario, str) and args[0].options is not None and scenario not in args[0].options:
            self.refuse(f"{self.text(node)}: {scenario!r} is not a scenario of {self.text(node.args[0])} "
                        f"(scenarios: {', '.join(sorted(args[0].options))})")
        for index, period in enumerate(args[2:], start=2):
            self.expect(node, index, period, {"text"}, "total's periods must be texts such as '2027-01'")
            if isinstance(period.literal, str) and not _is_period(period.literal):
                self.refuse(f"{self.text(node)}: {period.literal!r} is no period; write periods as 'YYYY-MM'")
        grid = node.args[0]
        effect = self.scope.effects.get(grid.id) if isinstance(grid, ast.Name) else None
        return _Typed(frozenset({"number"}), effects=frozenset({effect}) if effect else frozenset())

    def check_on_track(self, node: ast.Call, args: list[_Typed]) -> _Typed:
        """on_track(kpi[, 'YYYY-MM']): a measure grid with a target and an actual."""
        self.expect(node, 0, args[0], {"grid"}, "on_track needs a measure grid (a KPI) first")
        if args[0].options is not None and not {"target", "actual"} <= args[0].options:
            self.refuse(f"{self.text(node)}: on_track compares a target with an actual, but "
                        f"{self.text(node.args[0])} has the scenarios {', '.join(sorted(args[0].options))}")
        if len(args) == 2:
            self.expect(node, 1, args[1], {"text"}, "on_track's period must be a text such as '2027-01'")
            if isinstance(args[1].literal, str) and not _is_period(args[1].literal):
                self.refuse(f"{self.text(node)}: {args[1].literal!r} is no period; write periods as 'YYYY-MM'")
        return _Typed(frozenset({"bool", "none"}))

    def check_review_due(self, node: ast.Call, args: list[_Typed]) -> _Typed:
        """review_due(last_review, 'quarter'): a date, and how often (a text or a choice
        whose options are all frequencies)."""
        self.expect(node, 0, args[0], {"date"}, "review_due needs the date of the last review first")
        every = args[1]
        self.expect(node, 1, every, {"text"}, "review_due's frequency must be a text such as 'month'")
        known = ", ".join(sorted(REVIEW_EVERY))
        if isinstance(every.literal, str) and every.literal not in REVIEW_EVERY:
            self.refuse(f"{self.text(node)}: {every.literal!r} is no review frequency (use {known})")
        elif every.options is not None and every.options - REVIEW_EVERY:
            self.refuse(f"{self.text(node)}: {self.text(node.args[1])} has options that are no review "
                        f"frequency ({', '.join(sorted(every.options - REVIEW_EVERY))}); use {known}")
        return _Typed(frozenset({"bool", "none"}))

    def check_extreme(self, node: ast.Call, name: str, args: list[_Typed]) -> _Typed:
        """min and max: of one list, or of several numbers, dates or texts of one kind."""
        if len(args) == 1:
            self.expect(node, 0, args[0], {"list"}, f"{name} of one value needs a list")
            return _Typed(args[0].items or frozenset({"text"}))
        kinds = frozenset().union(*(a.definite for a in args))
        if len(kinds) > 1 and not kinds <= {"date", "text"} or kinds - _ORDERED:
            self.refuse(f"{self.text(node)}: {name} needs values of one kind (numbers, dates or "
                        f"texts), not {describe(kinds)}")
        return _Typed(kinds | frozenset().union(*(a.kinds & {"none"} for a in args)))

    def expect(self, call: ast.Call, index: int, typed: _Typed, kinds: set[str], message: str) -> None:
        if typed.definite - kinds:
            self.refuse(f"{self.text(call)}: {message}, not {self.what(call.args[index], typed)}")


def _is_period(text: str) -> bool:
    """``YYYY-MM``, the key of a month in a time-phased grid."""
    return len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit() \
        and 1 <= int(text[5:]) <= 12


def _is_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def check(expression: Expression, scope: Scope) -> tuple[frozenset[str], list[str]]:
    """The kinds the expression may produce and what is wrong with it (messages for a
    consultant; empty when it makes sense). The kinds are all of :data:`KINDS` when a name
    is unknown to the scope."""
    checker = _Checker(expression, scope)
    typed = checker.check(expression.tree)
    return typed.kinds, checker.problems


def result_problem(kinds: frozenset[str], expected: str, result_type: str) -> str | None:
    """A computed field's problem when its expression may produce another kind than its
    ``result_type`` asks for (an empty result is always allowed)."""
    if kinds == KINDS:
        return None
    wrong = kinds - {"none", expected}
    if not wrong:
        return None
    return (f"the expression can produce {describe(wrong)}, but the result_type {result_type!r} "
            f"needs {describe([expected])}")
