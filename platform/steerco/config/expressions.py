"""The one small, safe expression language of tenant configuration.

Conditions (``visible_if``, a transition's ``condition``, an approval ``threshold``) and
computed fields are written as Python-like expressions::

    has_capex and capex_amount > 250000
    potential if benefit_validated else 0
    priority in ['p1', 'p2']

Parsing happens once, when the configuration is compiled: the syntax tree is checked
against a whitelist of node types (no attribute access, subscripts, lambdas or
comprehensions) and every name must be a field of the level or a system name, so an
unknown field is a configuration error rather than a runtime 500. Evaluation is delegated
to simpleeval, a maintained sandboxed evaluator, with our own function table; Python's
``eval`` is never used.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

import simpleeval

#: Names every expression may use besides the level's own fields.
SYSTEM_NAMES = frozenset({"stage", "title", "today"})

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.IfExp, ast.Call, ast.Name, ast.Load, ast.Constant, ast.List,
    ast.Tuple,
)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        return dt.date.fromisoformat(value)
    return None


def _days_since(value: Any, *, today: dt.date) -> int | None:
    day = _as_date(value)
    return None if day is None else (today - day).days


def _days_until(value: Any, *, today: dt.date) -> int | None:
    day = _as_date(value)
    return None if day is None else (day - today).days


FUNCTION_NAMES = frozenset({"len", "min", "max", "abs", "round", "empty", "days_since", "days_until"})


class ExpressionError(ValueError):
    """An expression that cannot be accepted; ``message`` is written for a consultant."""


class EvaluationError(ValueError):
    """An expression that could not be evaluated against a record's values (incomplete data,
    a value of an unexpected type). Callers that decide governance (approval thresholds,
    transition conditions) treat it as "cannot tell" and fail closed."""


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression: its source, the names it reads, and the parsed tree."""

    source: str
    names: frozenset[str]
    _tree: ast.AST = field(repr=False, compare=False)

    def evaluate(self, values: Mapping[str, Any], *, today: dt.date | None = None) -> Any:
        """Evaluate against a record's values; a failure at run time yields ``None``.

        Run-time failures (a comparison of None with a number, a division by zero) mean the
        data is incomplete, not that the configuration is wrong, so they never raise here.
        Governance decisions use :meth:`evaluate_strict` instead, which says so.
        """
        try:
            return self.evaluate_strict(values, today=today)
        except EvaluationError:
            return None

    def evaluate_strict(self, values: Mapping[str, Any], *, today: dt.date | None = None) -> Any:
        """Evaluate against a record's values; raise :class:`EvaluationError` when it cannot be."""
        today = today or dt.date.today()
        names = {name: values.get(name) for name in self.names}
        if names.get("today") is None:
            names["today"] = today.isoformat()
        functions = {
            "len": len, "min": min, "max": max, "abs": abs, "round": round, "empty": _empty,
            "days_since": lambda v: _days_since(v, today=today),
            "days_until": lambda v: _days_until(v, today=today),
        }
        evaluator = simpleeval.EvalWithCompoundTypes(names=names, functions=functions)
        try:
            return evaluator.eval(self.source, previously_parsed=self._tree)
        except Exception as exc:  # noqa: BLE001 - whatever simpleeval or the data raise
            raise EvaluationError(f"{self.source}: {type(exc).__name__}: {exc}") from None

    def holds(self, values: Mapping[str, Any], *, today: dt.date | None = None) -> bool:
        """Evaluate as a condition: anything falsy, or a failure, is ``False``."""
        return bool(self.evaluate(values, today=today))


def parse(source: str) -> Expression:
    """Parse and whitelist-check an expression; raise ExpressionError with a clear message."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error in expression {source!r}: {exc.msg}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"{type(node).__name__} is not allowed in expressions ({source!r}); "
                "use fields, literals, operators and the functions "
                + ", ".join(sorted(FUNCTION_NAMES))
            )
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTION_NAMES:
                called = node.func.id if isinstance(node.func, ast.Name) else "?"
                raise ExpressionError(
                    f"unknown function {called!r} in {source!r}; known: "
                    + ", ".join(sorted(FUNCTION_NAMES))
                )
            if node.keywords:
                raise ExpressionError(f"keyword arguments are not allowed in {source!r}")
        elif isinstance(node, ast.Name) and node.id not in FUNCTION_NAMES:
            names.add(node.id)
    return Expression(source=source, names=frozenset(names), _tree=tree.body)


def unknown_names(expression: Expression, known: frozenset[str] | set[str]) -> list[str]:
    """Names the expression reads that are neither known fields nor system names."""
    return sorted(n for n in expression.names if n not in known and n not in SYSTEM_NAMES)
