"""Semantic checks: what JSON Schema cannot say about a tenant configuration.

Every reference must resolve (a level's parents, a section's fields, a transition's
stages, a role named in a permission), keys must be unique, expressions must parse and
read only fields the level has, computed fields must not depend on each other in a
circle, and every stage of a workflow must be reachable. The checks run even when the
schema pass found problems, on whatever parts are well-formed, so that a consultant sees
all problems at once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Iterator, Mapping

from steerco.config import filters
from steerco.config.errors import ConfigProblem, closest, pointer
from steerco.config.expressions import ExpressionError, parse, unknown_names
from steerco.config.model import SYSTEM_COLUMNS, default_number_prefix
from steerco.fields import registry


def _items(document: Any, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, item) for each well-formed object of ``document[key]``."""
    values = document.get(key) if isinstance(document, dict) else None
    if isinstance(values, list):
        for index, item in enumerate(values):
            if isinstance(item, dict) and isinstance(item.get("key", ""), str):
                yield index, item


def _keys(values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


class Checker:
    """Collects problems across all documents of one configuration."""

    def __init__(self, documents: Mapping[str, Any]):
        self.docs = documents
        self.problems: list[ConfigProblem] = []
        self.fields = {f["key"]: f for _, f in _items(documents.get("fields"), "fields")}
        self.levels = {lv["key"]: lv for _, lv in _items(documents.get("levels"), "levels")}
        self.roles = {r["key"]: r for _, r in _items(documents.get("roles"), "roles")}
        self.workflows = {w["key"]: w for _, w in _items(documents.get("workflows"), "workflows")}
        self.forums = {f["key"]: f for _, f in _items(documents.get("exceptions"), "forums")}
        self.level_fields = {
            key: [k for s in level.get("sections", []) if isinstance(s, dict) for k in _keys(s.get("fields"))]
            for key, level in self.levels.items()
        }

    # -- reporting ---------------------------------------------------------------------
    def problem(self, file: str, path: Iterable[object], message: str, code: str,
                hint: str | None = None) -> None:
        self.problems.append(ConfigProblem(f"{file}.json", pointer(*path), message, code, hint))

    def reference(self, file: str, path: list[object], value: Any, known: Iterable[str],
                  what: str) -> bool:
        """Report ``value`` unless it is one of ``known``; True when it resolves."""
        known = list(known)
        if not isinstance(value, str) or value in known:
            return True
        self.problem(file, path, f"unknown {what} {value!r}", f"unknown_{what.replace(' ', '_')}",
                     closest(value, known))
        return False

    def unique(self, file: str, path: list[object], items: Iterable[tuple[int, dict[str, Any]]],
               what: str) -> None:
        seen: dict[str, int] = {}
        for index, item in items:
            key = item.get("key")
            if key in seen:
                self.problem(file, [*path, index, "key"],
                             f"duplicate {what} key {key!r} (first at {pointer(*path, seen[key])})",
                             "duplicate_key")
            else:
                seen[key] = index

    # -- checks ------------------------------------------------------------------------
    def run(self) -> list[ConfigProblem]:
        for check in (self.check_unique_keys, self.check_levels, self.check_fields,
                      self.check_roles, self.check_workflows, self.check_exceptions,
                      self.check_reports, self.check_computed_cycles):
            check()
        return self.problems

    def check_unique_keys(self) -> None:
        for file, key, what in (("fields", "fields", "field"), ("levels", "levels", "level"),
                                ("roles", "roles", "role"), ("workflows", "workflows", "workflow"),
                                ("workflows", "status_dimensions", "status dimension"),
                                ("exceptions", "rules", "exception rule"),
                                ("exceptions", "forums", "forum"), ("reports", "reports", "report")):
            self.unique(file, [key], _items(self.docs.get(file), key), what)
        for index, field in _items(self.docs.get("fields"), "fields"):
            self.unique("fields", ["fields", index, "options"], _items(field, "options"), "option")
        for index, workflow in _items(self.docs.get("workflows"), "workflows"):
            self.unique("workflows", ["workflows", index, "stages"], _items(workflow, "stages"), "stage")
            self.unique("workflows", ["workflows", index, "transitions"],
                        _items(workflow, "transitions"), "transition")
        for index, level in _items(self.docs.get("levels"), "levels"):
            self.unique("levels", ["levels", index, "sections"], _items(level, "sections"), "section")

    def check_levels(self) -> None:
        if self.levels and not any(lv.get("parents") == [] for lv in self.levels.values()):
            self.problem("levels", ["levels"], "no top level: at least one level needs \"parents\": []",
                         "no_root_level")
        prefixes: dict[str, str] = {}
        for index, level in _items(self.docs.get("levels"), "levels"):
            base: list[object] = ["levels", index]
            numbering = level.get("numbering") if isinstance(level.get("numbering"), dict) else {}
            prefix = numbering.get("prefix") or default_number_prefix(str(level.get("key", "")))
            if prefix in prefixes:
                self.problem("levels", [*base, "numbering"], f"number prefix {prefix!r} is used by level "
                             f"{prefixes[prefix]!r} too; record numbers would collide", "duplicate_prefix")
            prefixes.setdefault(prefix, str(level.get("key")))
            for i, parent in enumerate(_keys(level.get("parents"))):
                self.reference("levels", [*base, "parents", i], parent, self.levels, "level")
            if "workflow" in level:
                self.reference("levels", [*base, "workflow"], level["workflow"], self.workflows, "workflow")
            placed: set[str] = set()
            for s, section in _items(level, "sections"):
                for i, key in enumerate(_keys(section.get("fields"))):
                    path = [*base, "sections", s, "fields", i]
                    if key in placed:
                        self.problem("levels", path, f"field {key!r} is placed twice in level "
                                     f"{level.get('key')!r}", "field_placed_twice")
                    placed.add(key)
                    self.reference("levels", path, key, self.fields, "field")
            for i, column in enumerate(_keys(level.get("list_columns"))):
                self.reference("levels", [*base, "list_columns", i], column,
                               [*placed, *SYSTEM_COLUMNS], "column")

    def levels_using_field(self, key: str) -> list[str]:
        return [lv for lv, keys in self.level_fields.items() if key in keys]

    def check_expression(self, file: str, path: list[object], source: Any,
                         level_keys: Iterable[str]) -> None:
        """Parse an expression and check its names against every level it applies to."""
        if not isinstance(source, str):
            return
        try:
            expression = parse(source)
        except ExpressionError as exc:
            self.problem(file, path, str(exc), "expression_syntax")
            return
        levels = list(level_keys)
        scopes = [(lv, set(self.level_fields.get(lv, []))) for lv in levels] or [(None, set(self.fields))]
        for level, known in scopes:
            for name in unknown_names(expression, known):
                where = f" (level {level!r} has no such field)" if level else ""
                self.problem(file, path, f"unknown field {name!r} in expression {source!r}{where}",
                             "unknown_name", closest(name, known))

    def check_fields(self) -> None:
        stages_by_workflow = {k: [s.get("key") for _, s in _items(w, "stages")]
                              for k, w in self.workflows.items()}
        for index, field in _items(self.docs.get("fields"), "fields"):
            base: list[object] = ["fields", index]
            key, type_key = field.get("key"), field.get("type")
            levels = self.levels_using_field(key)
            for attribute in ("visible_if", "editable_if", "expression"):
                self.check_expression("fields", [*base, attribute], field.get(attribute), levels)
            for attribute in ("read_roles", "write_roles"):
                for i, role in enumerate(_keys(field.get(attribute))):
                    self.reference("fields", [*base, attribute, i], role, self.roles, "role")
            if "target_level" in field:
                self.reference("fields", [*base, "target_level"], field["target_level"], self.levels, "level")
            required = field.get("required")
            if isinstance(required, dict) and isinstance(required.get("from_stage"), str):
                for level in levels:
                    workflow = self.levels[level].get("workflow")
                    stages = stages_by_workflow.get(workflow, [])
                    self.reference("fields", [*base, "required", "from_stage"], required["from_stage"],
                                   stages, "stage")
            if not isinstance(type_key, str) or type_key not in registry:
                continue
            kind = registry.get(type_key)
            rollup = field.get("rollup", "none")
            if isinstance(rollup, str) and rollup not in kind.rollups:
                self.problem("fields", [*base, "rollup"], f"a {type_key} field cannot roll up by "
                             f"{rollup!r}; possible: {', '.join(sorted(kind.rollups))}", "bad_rollup")
            low, high = field.get("min"), field.get("max")
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
                self.problem("fields", [*base, "min"], f"min {low} is greater than max {high}", "min_above_max")

    def check_roles(self) -> None:
        for index, role in _items(self.docs.get("roles"), "roles"):
            for p, permission in enumerate(role.get("permissions") or []):
                if not isinstance(permission, dict):
                    continue
                for i, level in enumerate(_keys(permission.get("levels"))):
                    if level != "*":
                        self.reference("roles", ["roles", index, "permissions", p, "levels", i],
                                       level, self.levels, "level")
            overrides = role.get("fields")
            if isinstance(overrides, dict):
                for key in overrides:
                    self.reference("roles", ["roles", index, "fields", key], key, self.fields, "field")

    def check_workflows(self) -> None:
        for index, workflow in _items(self.docs.get("workflows"), "workflows"):
            base: list[object] = ["workflows", index]
            stages = [s.get("key") for _, s in _items(workflow, "stages")]
            levels = [k for k, lv in self.levels.items() if lv.get("workflow") == workflow.get("key")]
            level_fields = {f for lv in levels for f in self.level_fields.get(lv, [])} or set(self.fields)
            initial_ok = self.reference("workflows", [*base, "initial_stage"], workflow.get("initial_stage"),
                                        stages, "stage")
            edges: dict[str, set[str]] = defaultdict(set)
            for t, transition in _items(workflow, "transitions"):
                path: list[object] = [*base, "transitions", t]
                for i, source in enumerate(_keys(transition.get("from"))):
                    if self.reference("workflows", [*path, "from", i], source, stages, "stage"):
                        edges[source].add(transition.get("to"))
                self.reference("workflows", [*path, "to"], transition.get("to"), stages, "stage")
                if "reject_to" in transition:
                    self.reference("workflows", [*path, "reject_to"], transition["reject_to"], stages, "stage")
                for i, role in enumerate(_keys(transition.get("roles"))):
                    self.reference("workflows", [*path, "roles", i], role, self.roles, "role")
                if "escalate_to" in transition:
                    self.reference("workflows", [*path, "escalate_to"], transition["escalate_to"],
                                   [*self.roles, *self.forums], "role or forum")
                self.check_expression("workflows", [*path, "condition"], transition.get("condition"), levels)
                for i, key in enumerate(_keys(transition.get("required_fields"))):
                    self.reference("workflows", [*path, "required_fields", i], key, level_fields, "field")
                for i, key in enumerate(_keys(transition.get("required_evidence"))):
                    evidence = [k for k in level_fields if self.fields.get(k, {}).get("type") == "evidence"]
                    self.reference("workflows", [*path, "required_evidence", i], key, evidence, "evidence field")
                self.unique("workflows", [*path, "approvals"], _items(transition, "approvals"), "approval step")
                for a, step in _items(transition, "approvals"):
                    self.reference("workflows", [*path, "approvals", a, "role"], step.get("role"),
                                   self.roles, "role")
                    self.check_expression("workflows", [*path, "approvals", a, "threshold"],
                                          step.get("threshold"), levels)
            if initial_ok and isinstance(workflow.get("initial_stage"), str):
                self.check_reachable(base, workflow["initial_stage"], stages, edges)
        for index, dimension in _items(self.docs.get("workflows"), "status_dimensions"):
            base = ["status_dimensions", index]
            for i, level in enumerate(_keys(dimension.get("levels"))):
                self.reference("workflows", [*base, "levels", i], level, self.levels, "level")
            options = [o.get("key") for _, o in _items(dimension, "options")]
            if "default" in dimension:
                self.reference("workflows", [*base, "default"], dimension["default"], options, "option")
            for i, key in enumerate(_keys(dimension.get("comment_required_for"))):
                self.reference("workflows", [*base, "comment_required_for", i], key, options, "option")
            self.check_status_field(base, dimension, options)

    def check_status_field(self, base: list[object], dimension: Mapping[str, Any], options: list[Any]) -> None:
        """A field named like a status dimension holds that status: it must be a single
        choice with exactly the dimension's options, or the two would disagree."""
        field = self.fields.get(dimension.get("key"))
        if field is None:
            return
        field_options = sorted(str(o.get("key")) for _, o in _items(field, "options"))
        if field.get("type") != "single_choice" or field_options != sorted(map(str, options)):
            self.problem("workflows", [*base, "key"], f"field {dimension.get('key')!r} holds this status, so it "
                         "must be a single choice with the same options", "status_field_mismatch")

    def check_reachable(self, base: list[object], initial: str, stages: list[Any],
                        edges: Mapping[str, set[str]]) -> None:
        reached, frontier = {initial}, [initial]
        while frontier:
            for target in edges.get(frontier.pop(), ()):
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
        for i, stage in enumerate(stages):
            if stage not in reached:
                self.problem("workflows", [*base, "stages", i], f"stage {stage!r} cannot be reached "
                             f"from the initial stage {initial!r}", "unreachable_stage")

    def check_exceptions(self) -> None:
        for index, forum in _items(self.docs.get("exceptions"), "forums"):
            if "role" in forum:
                self.reference("exceptions", ["forums", index, "role"], forum["role"], self.roles, "role")
        for index, rule in _items(self.docs.get("exceptions"), "rules"):
            base: list[object] = ["rules", index]
            level_ok = self.reference("exceptions", [*base, "level"], rule.get("level"), self.levels, "level")
            levels = [rule["level"]] if level_ok and isinstance(rule.get("level"), str) else []
            self.check_expression("exceptions", [*base, "condition"], rule.get("condition"), levels)
            self.reference("exceptions", [*base, "owner_role"], rule.get("owner_role"), self.roles, "role")
            if "forum" in rule:
                self.reference("exceptions", [*base, "forum"], rule["forum"], self.forums, "forum")
            for e, step in enumerate(rule.get("escalation") or []):
                if isinstance(step, dict):
                    self.reference("exceptions", [*base, "escalation", e, "to"], step.get("to"),
                                   [*self.roles, *self.forums], "role or forum")
            for i, key in enumerate(_keys(rule.get("required_evidence"))):
                self.reference("exceptions", [*base, "required_evidence", i], key, self.fields, "field")

    def check_reports(self) -> None:
        for index, report in _items(self.docs.get("reports"), "reports"):
            base: list[object] = ["reports", index]
            for i, role in enumerate(_keys(report.get("audience"))):
                self.reference("reports", [*base, "audience", i], role, self.roles, "role")
            if not self.reference("reports", [*base, "level"], report.get("level"), self.levels, "level"):
                continue
            self.check_filter([*base, "filter"], report.get("filter"), report["level"])
            for s, section in enumerate(report.get("sections") or []):
                if isinstance(section, dict):
                    self.check_report_section([*base, "sections", s], section, report["level"])

    def check_filter(self, path: list[object], source: Any, level: str) -> None:
        """A report filter: known names, and only what the database can evaluate."""
        self.check_expression("reports", path, source, [level])
        try:
            expression = parse(source) if isinstance(source, str) else None
        except ExpressionError:
            return
        if expression is not None and (message := filters.problem(expression)):
            self.problem("reports", path, message, "filter_not_sql")
        elif expression is not None:
            workflow = self.workflows.get(self.levels.get(level, {}).get("workflow"), {})
            stages = [s.get("key") for _, s in _items(workflow, "stages")]
            for stage in filters.stage_literals(expression):
                self.reference("reports", path, stage, stages, "stage")

    def ancestors(self, level: str) -> list[str]:
        """Every level above ``level`` (through any of its parents)."""
        found: list[str] = []
        stack = list(_keys(self.levels.get(level, {}).get("parents")))
        while stack:
            parent = stack.pop()
            if parent not in found and parent in self.levels:
                found.append(parent)
                stack.extend(_keys(self.levels[parent].get("parents")))
        return found

    def check_report_section(self, path: list[object], section: dict[str, Any], report_level: str) -> None:
        level = section.get("level", report_level)
        if "level" in section and not self.reference("reports", [*path, "level"], level, self.levels, "level"):
            return
        fields = self.level_fields.get(level, [])
        if "filter" in section:
            self.check_filter([*path, "filter"], section["filter"], level)
        columns = [*fields, *SYSTEM_COLUMNS]
        for i, column in enumerate(_keys(section.get("columns"))):
            self.reference("reports", [*path, "columns", i], column, columns, "column")
        if "group_by" in section:
            self.reference("reports", [*path, "group_by"], section["group_by"],
                           [*columns, *self.ancestors(level)], "column")
        if "sort" in section:
            self.reference("reports", [*path, "sort"], section["sort"], columns, "column")
        if "field" in section:
            self.reference("reports", [*path, "field"], section["field"], fields, "field")
        for key in ("tiles", "series", "steps"):
            for t, item in enumerate(section.get(key) or []):
                if isinstance(item, dict):
                    self.reference("reports", [*path, key, t, "field"], item.get("field"), fields, "field")
        chart = section.get("chart")
        several = {"bar": "series", "waterfall": "steps"}.get(chart) if isinstance(chart, str) else None
        if several and ("field" in section) == (several in section):
            self.problem("reports", [*path], f"a {chart} chart needs \"field\" or \"{several}\""
                         + (", not both" if "field" in section else ""), "chart_measure")
        if "aggregate" in section and several and several in section:
            self.problem("reports", [*path, "aggregate"], f"with \"{several}\", each item names its "
                         "own aggregate", "chart_measure")

    def check_computed_cycles(self) -> None:
        graph = {}
        for index, field in _items(self.docs.get("fields"), "fields"):
            source = field.get("expression")
            if field.get("type") != "computed" or not isinstance(source, str):
                continue
            try:
                names = parse(source).names
            except ExpressionError:
                continue
            graph[field["key"]] = (index, {n for n in names if n in self.fields})
        for key in _cycle_members(graph):
            self.problem("fields", ["fields", graph[key][0], "expression"],
                         f"computed field {key!r} depends on itself through other computed fields",
                         "computed_cycle")


def _cycle_members(graph: Mapping[str, tuple[int, set[str]]]) -> list[str]:
    """Computed fields that sit on a dependency cycle."""
    members = []
    for start in graph:
        stack, seen = list(graph[start][1]), set()
        while stack:
            node = stack.pop()
            if node == start:
                members.append(start)
                break
            if node in seen or node not in graph:
                continue
            seen.add(node)
            stack.extend(graph[node][1])
    return members


def check(documents: Mapping[str, Any]) -> list[ConfigProblem]:
    """Every semantic problem of a configuration (an empty list when it is sound)."""
    return Checker(documents).run()
