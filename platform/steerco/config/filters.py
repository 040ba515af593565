"""The part of the expression language a database can evaluate: report filters.

A report's filter selects records before anything is summed, so it must run in SQL
(``steerco.reports.scope`` translates it); the same filter evaluated in Python record by
record would not scale and would drift from the SQL. Filters may use:

    stage != 'cancelled'
    stage in ['doi5', 'doi6'] and potential >= 100000
    not empty(target_date) and category == 'procurement'
    has_capex or title == 'Pilot'

comparisons (``== != < <= > >= in not in``, ``is None``), ``and``/``or``/``not``, a yes/no
field alone, ``empty(field)``, and literals (numbers, text, lists of them, ``today``).
Anything else (arithmetic, other functions, conditional expressions) is refused when the
configuration is loaded, with this list in the message.
"""

from __future__ import annotations

import ast

from steerco.config.expressions import Expression

FILTER_HELP = ("report filters may use comparisons (== != < <= > >= in, not in, is None), "
               "and/or/not, a yes/no field alone, empty(field), and literals")


def tree(expression: Expression) -> ast.AST:
    """The parsed expression body (parsed again: cheap, and done once per compiled config)."""
    return ast.parse(expression.source.strip(), mode="eval").body


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, (str, int, float, bool))
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(isinstance(e, ast.Constant) and isinstance(e.value, (str, int, float)) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float))
    return isinstance(node, ast.Name) and node.id == "today"


def _is_operand(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) or _is_literal(node)


def problem(expression: Expression) -> str | None:
    """Why the database cannot evaluate ``expression``, or None when it can."""
    return _problem(tree(expression), expression.source)


def _problem(node: ast.AST, source: str) -> str | None:
    if isinstance(node, ast.BoolOp):
        return next((p for v in node.values if (p := _problem(v, source))), None)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _problem(node.operand, source)
    if isinstance(node, ast.Name):
        return None
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id == "empty" and len(node.args) == 1 \
                and isinstance(node.args[0], ast.Name):
            return None
        return f"{ast.unparse(node)!r} cannot be evaluated by the database in {source!r}; {FILTER_HELP}"
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        op = node.ops[0]
        if isinstance(op, (ast.In, ast.NotIn)) and not (
                isinstance(node.left, ast.Name) and isinstance(node.comparators[0], (ast.List, ast.Tuple))):
            return f"{ast.unparse(node)!r}: 'in' needs a field on its left and a list on its right in {source!r}"
        if isinstance(op, (ast.Is, ast.IsNot)) and not any(
                isinstance(o, ast.Constant) and o.value is None for o in operands):
            return f"{ast.unparse(node)!r}: 'is' compares with None only in {source!r}"
        if len(operands) == 2 and all(_is_operand(o) for o in operands) \
                and any(isinstance(o, ast.Name) and o.id != "today" for o in operands):
            return None
        return f"{ast.unparse(node)!r} compares more than a field with a literal in {source!r}; {FILTER_HELP}"
    return f"{ast.unparse(node)!r} cannot be evaluated by the database in {source!r}; {FILTER_HELP}"


def stage_literals(expression: Expression) -> list[str]:
    """The stage keys an expression compares ``stage`` with (to check them against the workflow)."""
    found: list[str] = []
    for node in ast.walk(tree(expression)):
        if isinstance(node, ast.Compare) and any(isinstance(o, ast.Name) and o.id == "stage"
                                                 for o in (node.left, *node.comparators)):
            for operand in (node.left, *node.comparators):
                values = operand.elts if isinstance(operand, (ast.List, ast.Tuple)) else [operand]
                found += [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return found
