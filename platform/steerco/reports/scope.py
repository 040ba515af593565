"""Which records a report section is about, as one SQL condition.

A section's scope is its level, the reader's read filter (``Access.read_filter``, the one
filter every list and export starts from), the report's and the section's filters
translated to SQL, and optionally a subtree (a record the reader chose). Filters run in
the database, never record by record in Python, so totals and rows come from the same
rows at any size; :mod:`steerco.config.filters` says which expressions qualify and the
configuration refuses the others when it is loaded.

The translation keeps the expression language's meaning for missing values: ``x != 'a'``
and ``x not in [...]`` hold for a record without x (as they do in Python), comparisons
with ``<``/``>`` do not, and ``not`` of a failed comparison is false, as a condition that
cannot be evaluated is false.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, literal, not_, or_, select, true
from sqlalchemy.sql import Select

from steerco.config import filters
from steerco.config.expressions import Expression
from steerco.config.model import Field, Level, Report, ReportSection, TenantConfig
from steerco.engine.access import Access
from steerco.store.models import Record


class FilterError(ValueError):
    """A filter the database cannot evaluate (the configuration check lets none through)."""


@dataclass(frozen=True)
class Scope:
    """The records of one level a section counts, for one reader."""

    tenant_id: int
    config: TenantConfig
    access: Access
    level: Level
    condition: ColumnElement[bool]
    #: fields the filters read that some role of the reader hides: the section shows nothing
    hidden_inputs: tuple[Field, ...] = ()

    def records(self) -> Select[tuple[Record]]:
        """SELECT of the records in scope (callers add columns, order, grouping)."""
        return select(Record).where(self.where())

    def where(self) -> ColumnElement[bool]:
        return and_(Record.tenant_id == self.tenant_id, Record.deleted_at.is_(None),
                    Record.level_key == self.level.key, self.access.read_filter(self.level.key),
                    self.condition)


def section_scope(config: TenantConfig, access: Access, tenant_id: int, report: Report,
                  section: ReportSection, under: Record | None = None,
                  today: dt.date | None = None) -> Scope:
    """The scope of ``section``: its level, the report filter (when the section is about
    the report's level), its own filter and the subtree under ``under``."""
    level = config.levels[section.level]
    today = today or dt.date.today()
    expressions = [e for e in ((report.filter if section.level == report.level else None), section.filter) if e]
    conditions = [sql_condition(e, level, today) for e in expressions]
    if under is not None:
        conditions.append(Record.path.startswith(under.path, autoescape=True))
    hidden = tuple(dict.fromkeys(
        fld for e in expressions for name in sorted(e.names)
        if (fld := level.field(name)) is not None and not access.field_visible_everywhere(fld, level.key)))
    return Scope(tenant_id, config, access, level, and_(true(), *conditions), hidden)


# -- expressions to SQL -----------------------------------------------------------------
def value_column(fld: Field) -> ColumnElement[Any]:
    """A field's stored value, read by SQL the way the field type says (text, number, yes/no)."""
    return getattr(Record.values[fld.key], f"as_{fld.kind.sort_cast(fld)}")()


def sql_condition(expression: Expression, level: Level, today: dt.date) -> ColumnElement[bool]:
    """``expression`` as a SQL condition on :class:`Record` (raises FilterError)."""
    if (message := filters.problem(expression)) is not None:
        raise FilterError(message)
    holds, fails = _Translator(level, today).node(filters.tree(expression))
    return and_(holds, not_(fails))


_FLIPPED = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE,
            ast.Eq: ast.Eq, ast.NotEq: ast.NotEq, ast.Is: ast.Is, ast.IsNot: ast.IsNot}
_ORDER = {ast.Lt: "__lt__", ast.LtE: "__le__", ast.Gt: "__gt__", ast.GtE: "__ge__"}
#: (holds, fails): the condition as the expression language evaluates it, and whether that
#: evaluation fails (``<`` on a missing value); both never NULL, so ``not`` stays exact
Pair = tuple[ColumnElement[bool], ColumnElement[bool]]


class _Translator:
    """Python's meaning in SQL: ``==``, ``in`` and truthiness never fail, ordering
    comparisons fail on a missing value, ``and``/``or`` stop at the first operand that
    decides (so a later failure does not count), and a failure anywhere makes the whole
    filter false, as :meth:`Expression.holds` does."""

    def __init__(self, level: Level, today: dt.date):
        self.level = level
        self.today = today

    def node(self, node: ast.AST) -> Pair:
        if isinstance(node, ast.BoolOp):
            return self.boolean(isinstance(node.op, ast.And), [self.node(v) for v in node.values])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            holds, fails = self.node(node.operand)
            return not_(holds), fails
        if isinstance(node, ast.Name):
            return self.truthy(node.id), false()
        if isinstance(node, ast.Call):  # empty(name): the only call filters.problem lets through
            return self.empty(node.args[0].id), false()  # type: ignore[attr-defined]
        if isinstance(node, ast.Compare):
            return self.compare(node.left, node.ops[0], node.comparators[0])
        raise FilterError(f"cannot translate {ast.unparse(node)!r}")

    @staticmethod
    def boolean(conjunction: bool, parts: list[Pair]) -> Pair:
        holds, fails = parts[0]
        for next_holds, next_fails in parts[1:]:
            # the next operand is evaluated only when the ones so far did not decide
            reached = and_(holds, not_(fails)) if conjunction else and_(not_(holds), not_(fails))
            fails = or_(fails, and_(reached, next_fails))
            holds = and_(holds, next_holds) if conjunction else or_(holds, next_holds)
        return holds, fails

    def column(self, name: str) -> tuple[ColumnElement[Any], str]:
        """The SQL column of a name, and how it reads (string, float, boolean)."""
        if name == "stage":
            return Record.stage_key, "string"
        if name == "title":
            return Record.title, "string"
        fld = self.level.field(name)
        if fld is None:
            raise FilterError(f"{self.level.label} has no field {name!r}")
        return value_column(fld), fld.kind.sort_cast(fld)

    def literal_value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Name) and node.id == "today":
            return self.today.isoformat()
        if isinstance(node, (ast.List, ast.Tuple)):
            return [e.value for e in node.elts]  # type: ignore[attr-defined]
        return ast.literal_eval(node)

    def truthy(self, name: str) -> ColumnElement[bool]:
        column, cast = self.column(name)
        if cast == "boolean":
            return and_(column.is_not(None), column.is_(True))
        return and_(column.is_not(None), column != (0 if cast == "float" else ""))

    def empty(self, name: str) -> ColumnElement[bool]:
        column, cast = self.column(name)
        return or_(column.is_(None), column == "") if cast == "string" else column.is_(None)

    def compare(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> Pair:
        if not (isinstance(left, ast.Name) and left.id != "today"):
            left, right, op = right, left, _FLIPPED[type(op)]()
        column, _ = self.column(left.id)  # type: ignore[attr-defined]
        value = self.literal_value(right)
        present = column.is_not(None)
        if isinstance(op, (ast.In, ast.NotIn)):
            inside = and_(present, column.in_(value)) if value else false()
            return (inside if isinstance(op, ast.In) else not_(inside)), false()
        if value is None:
            if isinstance(op, (ast.Eq, ast.Is)):
                return column.is_(None), false()
            if isinstance(op, (ast.NotEq, ast.IsNot)):
                return present, false()
            return false(), true()  # None < x fails
        if isinstance(op, (ast.Eq, ast.NotEq)):
            equal = and_(present, column == literal(value))
            return (equal if isinstance(op, ast.Eq) else not_(equal)), false()
        if isinstance(op, (ast.Is, ast.IsNot)):
            raise FilterError("'is' compares with None only")
        return and_(present, getattr(column, _ORDER[type(op)])(literal(value))), not_(present)
