"""The one small, safe expression language of tenant configuration.

Conditions (``visible_if``, a transition's ``condition``, an approval ``threshold``, a
level's validation ``rules``) and computed fields are written as Python-like expressions::

    has_capex and capex_amount > 250000
    potential if benefit_validated else 0
    priority in ['p1', 'p2']

Parsing happens once, when the configuration is compiled: the syntax tree is checked
against a whitelist of node types (no attribute access, subscripts, lambdas, comprehensions
or powers) and every name must be a field of the level or a system name, so an unknown
field is a configuration error rather than a runtime 500; ``steerco.config.typecheck``
then checks the types. Evaluation is delegated to simpleeval, a maintained sandboxed
evaluator, with our own operator and function tables; Python's ``eval`` is never used.

Every evaluation is bounded, so that no configuration can make the server spend minutes or
gigabytes on one record: arithmetic only on numbers (text may only be joined with ``+``;
no ``%`` formatting, no repetition), numbers stay below ``MAX_NUMBER`` in magnitude, text
below ``MAX_TEXT`` characters, ``round`` takes at most ``MAX_ROUND_DIGITS`` digits either
way, and each evaluation visits at most ``MAX_NODES`` nodes within ``TIME_BUDGET`` seconds.
Going beyond a bound raises :class:`LimitExceeded`.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import simpleeval

#: Names every expression may use besides the level's own fields.
SYSTEM_NAMES = frozenset({"stage", "title", "today"})

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.IfExp, ast.Call, ast.Name, ast.Load, ast.Constant, ast.List,
    ast.Tuple, ast.Attribute,
)

#: The records around the one an expression is about: ``parent.field``,
#: ``ancestor('level').field`` and ``children('level').sum('field')`` / ``.count(condition)``.
PARENT = "parent"
RELATION_FUNCTIONS = frozenset({"ancestor", "children"})
CHILD_AGGREGATES = frozenset({"sum", "avg", "min", "max", "count"})
#: the key under which a values mapping carries its :class:`Related` records (not a field key)
RELATED = "\x00related"


class Related(Protocol):
    """What an expression may read of the records around its own (``steerco.engine.related``
    reads them from the database): each record as a mapping of its values, ``stage`` and
    ``title``; None when there is no such record."""

    def parent(self) -> Mapping[str, Any] | None: ...

    def ancestor(self, level: str) -> Mapping[str, Any] | None: ...

    def children(self, level: str) -> Sequence[Mapping[str, Any]]: ...


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


def _total(grid: Any, scenario: Any, first: Any = None, last: Any = None) -> float:
    """The sum of a time-phased grid's amounts in one scenario, optionally only from period
    ``first`` to period ``last`` (``YYYY-MM``, both included). An empty grid totals 0."""
    if grid is None:
        return 0.0
    if not isinstance(grid, Mapping):
        raise EvaluationError(f"total needs a time-phased grid, not {_kind(grid)}")
    amounts = grid.get(scenario) or {}
    if not isinstance(amounts, Mapping):
        raise EvaluationError(f"total: the grid's scenario {scenario!r} holds {_kind(amounts)}")
    total = 0.0
    for period, amount in amounts.items():
        if amount is None or (first is not None and period < first) or (last is not None and period > last):
            continue
        if not _is_number(amount):
            raise EvaluationError(f"total: the amount of {period} is {_kind(amount)}")
        total += amount
    return total


class Series(dict):  # type: ignore[type-arg]
    """A measure grid as an expression reads it: the grid, knowing which way is better
    (``higher_is_better`` or ``lower_is_better``) for :func:`_on_track`."""

    def __init__(self, grid: Any, direction: str):
        super().__init__(grid if isinstance(grid, Mapping) else {})
        self.direction = direction


def on_track(grid: Any, period: Any = None) -> bool | None:
    """Whether a KPI's actual meets its target in ``period`` (``YYYY-MM``), or in the latest
    period that has both; None when that period lacks either. Meeting is ``actual >= target``
    for a ``higher_is_better`` measure and ``actual <= target`` for a ``lower_is_better`` one."""
    if grid is None:
        return None
    if not isinstance(grid, Mapping):
        raise EvaluationError(f"on_track needs a measure grid, not {_kind(grid)}")
    targets, actuals = grid.get("target") or {}, grid.get("actual") or {}
    both = sorted(p for p, v in actuals.items() if _is_number(v) and _is_number(targets.get(p)))
    if period is None:
        period = both[-1] if both else None
    if period is None or period not in both:
        return None
    if getattr(grid, "direction", "higher_is_better") == "lower_is_better":
        return bool(actuals[period] <= targets[period])
    return bool(actuals[period] >= targets[period])


#: how often a review is due: ``review_due(last_review, 'quarter')`` (or ``'quarterly'``, the
#: key a choice field of frequencies tends to have), in days or in months
REVIEW_DAYS = {"week": 7, "weekly": 7, "biweekly": 14, "fortnightly": 14}
REVIEW_MONTHS = {"month": 1, "monthly": 1, "quarter": 3, "quarterly": 3, "half_year": 6, "half_yearly": 6,
                 "year": 12, "yearly": 12, "annually": 12}
REVIEW_EVERY = frozenset({*REVIEW_DAYS, *REVIEW_MONTHS})


def next_review(last: Any, every: Any) -> dt.date | None:
    """The day the review after ``last`` (a date) is due, ``every`` (one of
    :data:`REVIEW_EVERY`) after it (the 31st of a month is due on the last day of a shorter one)."""
    day = _as_date(last)
    if day is None or every is None:
        return None
    if every in REVIEW_DAYS:
        return day + dt.timedelta(days=REVIEW_DAYS[every])
    if every not in REVIEW_MONTHS:
        raise EvaluationError(f"a review is due every {', '.join(sorted(REVIEW_EVERY))}, not {every!r}")
    months = day.year * 12 + day.month - 1 + REVIEW_MONTHS[every]
    year, month = divmod(months, 12)
    following = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return dt.date(year, month + 1, min(day.day, (following - dt.timedelta(days=1)).day))


def _review_due(last: Any, every: Any, *, today: dt.date) -> bool | None:
    """Whether the review after ``last`` is past its day and not done (no later review
    date entered); None when no review date is known."""
    due = next_review(last, every)
    return None if due is None else due < today


FUNCTION_NAMES = frozenset({"len", "min", "max", "abs", "round", "empty", "days_since", "days_until", "total",
                            "on_track", "review_due"})

#: Bounds of every evaluation (see the module docstring). Numbers share the limit of typed
#: numbers (``steerco.fields.types.LARGEST_NUMBER``), so a computed value can be stored.
MAX_NUMBER = 10**15
MAX_TEXT = 10_000
MAX_ROUND_DIGITS = 15
MAX_NODES = 10_000
#: How deeply an expression may nest (the evaluator walks the tree recursively).
MAX_DEPTH = 60
#: Seconds of this thread's CPU an evaluation may take. The wall clock is checked first (it
#: is cheap) and the CPU time only once it has run out, so a machine busy with other work
#: does not make a harmless expression fail.
TIME_BUDGET = 0.25


class ExpressionError(ValueError):
    """An expression that cannot be accepted; ``message`` is written for a consultant."""


class EvaluationError(ValueError):
    """An expression that could not be evaluated against a record's values (incomplete data,
    a value of an unexpected type). Callers that decide governance (approval thresholds,
    transition conditions) treat it as "cannot tell" and fail closed."""


class LimitExceeded(EvaluationError):
    """An evaluation that went beyond one of the bounds (a number, a text, ``round``'s digits,
    the node or time budget). ``steerco validate`` refuses an expression that does so with
    ordinary sample values."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    """A value's kind in words, for the messages of refused operations."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "yes/no"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a grid"
    return type(value).__name__


def _numbers(symbol: str, apply: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An arithmetic operator that works on numbers only (no text repetition or formatting)."""
    def checked(left: Any, right: Any) -> Any:
        if not (_is_number(left) and _is_number(right)):
            if symbol == "%" and isinstance(left, str):
                raise EvaluationError("% formatting of text is not allowed")
            raise EvaluationError(f"{symbol} needs numbers, not {_kind(left)} and {_kind(right)}")
        return apply(left, right)
    return checked


def _add(left: Any, right: Any) -> Any:
    """Numbers add up; texts are joined, within the text limit (checked before joining)."""
    if _is_number(left) and _is_number(right):
        return left + right
    if isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_TEXT:
            raise LimitExceeded(f"the text would be longer than {MAX_TEXT:,} characters")
        return left + right
    raise EvaluationError(f"+ needs two numbers or two texts, not {_kind(left)} and {_kind(right)}")


def _sign(apply: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def checked(value: Any) -> Any:
        if not _is_number(value):
            raise EvaluationError(f"a sign needs a number, not {_kind(value)}")
        return apply(value)
    return checked


def _contains(item: Any, container: Any) -> bool:
    if not isinstance(container, (list, tuple, str)):
        raise EvaluationError(f"'in' needs a list, not {_kind(container)}")
    return item in container


OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: _add,
    ast.Sub: _numbers("-", operator.sub),
    ast.Mult: _numbers("*", operator.mul),
    ast.Div: _numbers("/", operator.truediv),
    ast.FloorDiv: _numbers("//", operator.floordiv),
    ast.Mod: _numbers("%", operator.mod),
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
    ast.Gt: operator.gt, ast.Lt: operator.lt, ast.GtE: operator.ge, ast.LtE: operator.le,
    ast.Not: operator.not_, ast.USub: _sign(operator.neg), ast.UAdd: _sign(operator.pos),
    ast.In: _contains,
    ast.NotIn: lambda item, container: not _contains(item, container),
    ast.Is: lambda x, y: x is y,
    ast.IsNot: lambda x, y: x is not y,
}


def _round(value: Any, digits: Any = None) -> Any:
    if not _is_number(value):
        raise EvaluationError(f"round needs a number, not {_kind(value)}")
    if digits is None:
        return round(value)
    if not isinstance(digits, int) or isinstance(digits, bool):
        raise EvaluationError("round's digits must be a whole number")
    if abs(digits) > MAX_ROUND_DIGITS:
        raise LimitExceeded(f"round takes at most {MAX_ROUND_DIGITS} digits either way, not {digits:,}")
    return round(value, digits)


def _abs(value: Any) -> Any:
    if not _is_number(value):
        raise EvaluationError(f"abs needs a number, not {_kind(value)}")
    return abs(value)


def _len(value: Any) -> int:
    if not isinstance(value, (str, list, tuple)):
        raise EvaluationError(f"len needs a text or a list, not {_kind(value)}")
    return len(value)


def _number_of(value: Any) -> Any:
    if not _is_number(value):
        raise EvaluationError(f"a sum over children needs numbers, not {_kind(value)}")
    return value


def _check_size(value: Any, produced: bool) -> Any:
    """Refuse a number beyond the bound, whether computed or read from a record, and a text
    beyond it that the expression produced (a long text a record holds may still be read)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) >= MAX_NUMBER:
            raise LimitExceeded(f"a number reached {MAX_NUMBER:.0e} in magnitude (the limit)")
    elif isinstance(value, float):
        if not math.isfinite(value) or abs(value) >= MAX_NUMBER:
            raise LimitExceeded(f"a number reached {MAX_NUMBER:.0e} in magnitude (the limit)")
    elif produced and isinstance(value, str) and len(value) > MAX_TEXT:
        raise LimitExceeded(f"a text reached more than {MAX_TEXT:,} characters (the limit)")
    return value


class _BoundedEvaluator(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval with our operators, a node budget, a deadline and size checks on every
    intermediate value."""

    def __init__(self, names: Mapping[str, Any], functions: Mapping[str, Any], related: Related | None = None,
                 budget: "_BoundedEvaluator | None" = None):
        super().__init__(operators=OPERATORS, functions=dict(functions), names=dict(names))
        self._visited = 0
        self._deadline = time.monotonic() + TIME_BUDGET
        self._cpu_start = time.thread_time()
        self._related = related
        #: the evaluation whose budget this one shares (a condition counted over children)
        self._budget = budget

    def reset(self, names: dict[str, Any], functions: Mapping[str, Any], related: Related | None) -> None:
        """Ready for a new evaluation, as if just made (what ``__init__`` sets, without
        building simpleeval's dispatch table again: that was a third of an evaluation)."""
        self.names = names
        self.functions = {**functions, "list": list, "tuple": tuple, "dict": dict, "set": set}
        self._visited = 0
        self._deadline = time.monotonic() + TIME_BUDGET
        self._cpu_start = time.thread_time()
        self._related = related
        self._budget = None

    def _eval(self, node: ast.AST) -> Any:
        budget = self._budget or self
        budget._visited += 1
        if budget._visited > MAX_NODES:
            raise LimitExceeded(f"the evaluation visited more than {MAX_NODES:,} steps")
        if time.monotonic() > budget._deadline and budget._over_cpu_budget():
            raise LimitExceeded(f"the evaluation took longer than {TIME_BUDGET} s")
        return _check_size(super(_BoundedEvaluator, self)._eval(node), produced=not isinstance(node, ast.Name))

    def _over_cpu_budget(self) -> bool:
        """Past the wall-clock deadline: whether the evaluation itself used its budget (else
        the machine was busy elsewhere, and the deadline moves on by what is left)."""
        used = time.thread_time() - self._cpu_start
        if used > TIME_BUDGET:
            return True
        self._deadline = time.monotonic() + (TIME_BUDGET - used)
        return False

    def _related_records(self) -> Related:
        if self._related is None:
            raise EvaluationError("the records around this one are not known here")
        return self._related

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        """``parent.field`` and ``ancestor('level').field``: a value of that record."""
        related = self._related_records()
        if isinstance(node.value, ast.Name):
            record, what = related.parent(), "parent"
        else:
            level = node.value.args[0].value  # type: ignore[attr-defined]
            record, what = related.ancestor(level), f"{level} above"
        if record is None:
            raise EvaluationError(f"there is no {what}")
        return record.get(node.attr)

    def _eval_call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Attribute):
            return super()._eval_call(node)
        # children('level').sum('field') / .count(condition): over the direct children
        level = node.func.value.args[0].value  # type: ignore[attr-defined]
        children = self._related_records().children(level)
        function = node.func.attr
        if function == "count":
            if not node.args:
                return len(children)
            return sum(1 for child in children if self._holds_for(child, node.args[0]))
        key = node.args[0].value  # type: ignore[attr-defined]
        values = [v for child in children if (v := child.get(key)) is not None]
        if function == "sum":
            return sum(_number_of(v) for v in values)
        if not values:
            return None
        if function == "avg":
            return sum(_number_of(v) for v in values) / len(values)
        return min(values) if function == "min" else max(values)

    def _holds_for(self, child: Mapping[str, Any], condition: ast.AST) -> bool:
        """A condition evaluated on one child's values, within this evaluation's budget; one
        that cannot be evaluated on a child does not count it."""
        names = {**child, "today": self.names.get("today")}
        evaluator = _BoundedEvaluator(names, self.functions, None, self._budget or self)
        try:
            return bool(evaluator._eval(condition))
        except LimitExceeded:
            raise
        except Exception:  # noqa: BLE001 - incomplete data on that child
            return False



class _Free(threading.local):
    """Evaluators of this thread not in use: a list or an export evaluates each computed
    field once per record, and making an evaluator costs as much as a small evaluation.
    One is taken per evaluation and given back after it, so nested evaluations never share."""

    def __init__(self) -> None:
        self.evaluators: list[_BoundedEvaluator] = []


_FREE = _Free()


def _take_evaluator(names: dict[str, Any], functions: Mapping[str, Any],
                    related: Related | None) -> _BoundedEvaluator:
    if _FREE.evaluators:
        evaluator = _FREE.evaluators.pop()
        evaluator.reset(names, functions, related)
        return evaluator
    return _BoundedEvaluator(names, functions, related)


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression: its source, the names it reads, and the parsed tree."""

    source: str
    names: frozenset[str]
    _tree: ast.AST = field(repr=False, compare=False)

    #: does it read the records around its own (``parent.x``, ``children(...)``)?
    uses_related: bool = False

    @property
    def tree(self) -> ast.AST:
        """The parsed syntax tree (the body of the expression), for the type check."""
        return self._tree

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
            "len": _len, "min": min, "max": max, "abs": _abs, "round": _round, "empty": _empty,
            "days_since": lambda v: _days_since(v, today=today),
            "days_until": lambda v: _days_until(v, today=today),
            "total": _total,
            "on_track": on_track,
            "review_due": lambda last, every: _review_due(last, every, today=today),
        }
        related = values.get(RELATED) if self.uses_related else None
        evaluator = _take_evaluator(names, functions, related)
        try:
            return evaluator.eval(self.source, previously_parsed=self._tree)
        except LimitExceeded as exc:
            raise LimitExceeded(f"{self.source}: {exc}") from None
        except EvaluationError as exc:
            raise EvaluationError(f"{self.source}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - whatever simpleeval or the data raise
            raise EvaluationError(f"{self.source}: {type(exc).__name__}: {exc}") from None
        finally:
            _FREE.evaluators.append(evaluator)

    def holds(self, values: Mapping[str, Any], *, today: dt.date | None = None) -> bool:
        """Evaluate as a condition: anything falsy, or a failure, is ``False``."""
        return bool(self.evaluate(values, today=today))


def parse(source: str) -> Expression:
    """Parse and whitelist-check an expression; raise ExpressionError with a clear message."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error in expression {source!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"expression {source[:60]!r}… is nested too deeply") from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"expression {source[:60]!r}… is nested more than {MAX_DEPTH} deep; "
                              "split it into computed fields")
    names: set[str] = set()
    related = any(isinstance(node, ast.Attribute) or isinstance(node, ast.Name) and
                  (node.id == PARENT or node.id in RELATION_FUNCTIONS) for node in ast.walk(tree))
    if related:
        _check_relations(tree.body, source)
    for node in _own_nodes(tree) if related else ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"{type(node).__name__} is not allowed in expressions ({source!r}); "
                "use fields, literals, operators and the functions "
                + ", ".join(sorted(FUNCTION_NAMES))
            )
        if isinstance(node, ast.Attribute) or isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            continue  # a relation, checked above
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RELATION_FUNCTIONS:
            continue
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTION_NAMES:
                called = node.func.id if isinstance(node.func, ast.Name) else "?"
                raise ExpressionError(
                    f"unknown function {called!r} in {source!r}; known: "
                    + ", ".join(sorted(FUNCTION_NAMES))
                )
            if node.keywords:
                raise ExpressionError(f"keyword arguments are not allowed in {source!r}")
        elif isinstance(node, ast.Name) and node.id not in FUNCTION_NAMES and node.id != PARENT \
                and node.id not in RELATION_FUNCTIONS:
            names.add(node.id)
    return Expression(source=source, names=frozenset(names), _tree=tree.body, uses_related=related)


def _relation_level(node: ast.AST) -> str | None:
    """The level of ``ancestor('level')`` or ``children('level')``, else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RELATION_FUNCTIONS \
            and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def _check_relations(tree: ast.AST, source: str) -> None:
    """Relations have three shapes only: ``parent.field``, ``ancestor('level').field`` and
    ``children('level').sum('field')`` (or avg, min, max, count; ``count`` takes an optional
    condition on the children's fields)."""
    help_text = ("use parent.field, ancestor('level').field, children('level').sum('field') "
                 "(or .avg, .min, .max) or children('level').count(condition)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            value = node.value
            if isinstance(value, ast.Name) and value.id == PARENT or \
                    isinstance(value, ast.Call) and getattr(value.func, "id", None) == "ancestor" \
                    and _relation_level(value) is not None:
                continue
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "children":
                continue  # a method of children(...), checked with its call
            raise ExpressionError(f"Attribute is not allowed in expressions ({ast.unparse(node)!r} in {source!r}) "
                                  f"but to read the records around: {help_text}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, method = node.func.value, node.func.attr
            if not (isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "children"
                    and _relation_level(owner) is not None and method in CHILD_AGGREGATES and not node.keywords):
                raise ExpressionError(f"{ast.unparse(node)!r} in {source!r}: {help_text}")
            if method == "count":
                if len(node.args) > 1:
                    raise ExpressionError(f"{ast.unparse(node)!r} in {source!r}: count takes one condition at most")
            elif len(node.args) != 1 or not isinstance(node.args[0], ast.Constant) \
                    or not isinstance(node.args[0].value, str):
                raise ExpressionError(f"{ast.unparse(node)!r} in {source!r}: {method} takes the key of a "
                                      f"field of the children, in quotes: children('level').{method}('field')")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in RELATION_FUNCTIONS:
            if _relation_level(node) is None:
                raise ExpressionError(f"{ast.unparse(node)!r} in {source!r}: name the level in quotes, "
                                      f"{node.func.id}('level')")  # type: ignore[attr-defined]
    for node in ast.walk(tree):  # a bare relation (not read from) means nothing
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Name) and child.id == PARENT and not isinstance(node, ast.Attribute):
                raise ExpressionError(f"'parent' alone in {source!r}: {help_text}")
            if _relation_level(child) is not None and not isinstance(node, ast.Attribute):
                raise ExpressionError(f"{ast.unparse(child)!r} alone in {source!r}: {help_text}")
    if isinstance(tree, ast.Name) and tree.id == PARENT or _relation_level(tree) is not None:
        raise ExpressionError(f"{ast.unparse(tree)!r} alone in {source!r}: {help_text}")


def _own_nodes(tree: ast.AST) -> list[ast.AST]:
    """The nodes of the expression itself, without the conditions of ``.count(...)``, which
    read the children's fields, not this record's."""
    found, pending = [], [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "count":
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def count_conditions(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """(children's level, condition) of every ``children('level').count(condition)``."""
    return [(_relation_level(node.func.value), node.args[0])  # type: ignore[misc, attr-defined]
            for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "count" and node.args]


def _depth(tree: ast.AST) -> int:
    """How deeply the syntax tree nests (without recursion: the tree may be deep)."""
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, level = pending.pop()
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


def unknown_names(expression: Expression, known: frozenset[str] | set[str]) -> list[str]:
    """Names the expression reads that are neither known fields nor system names."""
    return sorted(n for n in expression.names if n not in known and n not in SYSTEM_NAMES)
