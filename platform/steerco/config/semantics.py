"""Semantic checks: what JSON Schema cannot say about a tenant configuration.

Every reference must resolve (a level's parents, a section's fields, a transition's
stages, a role named in a permission), keys must be unique, expressions must parse and
read only fields the level has, computed fields must not depend on each other in a
circle, and every stage of a workflow must be reachable. The checks run even when the
schema pass found problems, on whatever parts are well-formed, so that a consultant sees
all problems at once.
"""

from __future__ import annotations

import functools

from collections import defaultdict
from typing import Any, Iterable, Iterator, Mapping

from steerco.config import filters, typecheck
from steerco.config.errors import ConfigProblem, closest, pointer
from steerco.config.expressions import Expression, ExpressionError, parse, unknown_names
from steerco.config.model import SCENARIOS, SYSTEM_COLUMNS, default_number_prefix
from steerco.fields import registry
from steerco.fields.types import compile_pattern

#: The longest chain of computed fields reading computed fields: beyond it a configuration
#: is refused (each link multiplies what one save costs, and nobody can follow such a chain).
MAX_COMPUTED_DEPTH = 10


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
        # Which levels place a field, computed once: a linear search per field made a
        # tenant of 20,000 fields take minutes to validate.
        self.field_levels: dict[str, list[str]] = defaultdict(list)
        for level_key, keys in self.level_fields.items():
            for key in dict.fromkeys(keys):
                self.field_levels[key].append(level_key)
        self._scopes: dict[str | None, typecheck.Scope] = {}
        self.level_field_sets = {key: frozenset(keys) for key, keys in self.level_fields.items()}
        self.all_fields = frozenset(self.fields)

    # -- reporting ---------------------------------------------------------------------
    def problem(self, file: str, path: Iterable[object], message: str, code: str,
                hint: str | None = None) -> None:
        self.problems.append(ConfigProblem(f"{file}.json", pointer(*path), message, code, hint))

    def reference(self, file: str, path: list[object], value: Any, known: Iterable[str],
                  what: str) -> bool:
        """Report ``value`` unless it is one of ``known``; True when it resolves."""
        if not isinstance(known, (Mapping, set, frozenset)):
            known = list(known)
        if not isinstance(value, str) or value in known:
            return True
        self.problem(file, path, f"unknown {what} {value!r}", f"unknown_{what.replace(' ', '_')}",
                     closest(value, list(known)))
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
        for check in (self.check_tenant, self.check_unique_keys, self.check_levels, self.check_fields,
                      self.check_roles, self.check_workflows, self.check_editable_from, self.check_exceptions,
                      self.check_reports, self.check_computed_cycles):
            check()
        return self.problems

    def check_tenant(self) -> None:
        tenant = self.docs.get("tenant")
        zone = tenant.get("timezone") if isinstance(tenant, dict) else None
        if isinstance(zone, str) and zone not in _time_zones():
            self.problem("tenant", ["timezone"], f"unknown time zone {zone!r}: use an IANA name such as "
                         "Europe/Berlin or UTC", "unknown_timezone")

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
            if level.get("approval_card") and not level.get("workflow"):
                self.problem("levels", [*base, "approval_card"], f"level {level.get('key')!r} has no workflow, "
                             "so nothing is approved on it", "approval_card_without_workflow")
            for i, key in enumerate(_keys(level.get("approval_card"))):
                self.reference("levels", [*base, "approval_card", i], key, placed, "field")
            self.check_rules(base, level, placed)

    def check_rules(self, base: list[object], level: Mapping[str, Any], placed: set[str]) -> None:
        """A level's validation rules: unique keys, a sound condition, fields of the level."""
        self.unique("levels", [*base, "rules"], _items(level, "rules"), "rule")
        for r, rule in _items(level, "rules"):
            path = [*base, "rules", r]
            self.check_expression("levels", [*path, "condition"], rule.get("condition"), [level["key"]])
            for i, key in enumerate(_keys(rule.get("fields"))):
                self.reference("levels", [*path, "fields", i], key, placed, "field")

    def levels_using_field(self, key: str) -> list[str]:
        return self.field_levels.get(key, [])

    def scope(self, level_key: str | None) -> typecheck.Scope:
        """What the names of a level's expressions are (all fields when it is None)."""
        hit = self._scopes.get(level_key)
        if hit is None:
            keys = self.level_fields.get(level_key, []) if level_key else list(self.fields)
            kinds: dict[str, str] = {"title": "text", "today": "date", "stage": "text"}
            options: dict[str, frozenset[str]] = {}
            effects = {key: self.fields[key]["effect"] for key in keys
                       if isinstance(self.fields.get(key, {}).get("effect"), str)}
            for key in keys:
                field = self.fields.get(key, {})
                type_key = field.get("type")
                if not isinstance(type_key, str) or type_key not in registry:
                    continue
                kinds[key] = registry.get(type_key).value_expression_type(field.get("result_type"))
                if isinstance(field.get("options"), list):
                    options[key] = frozenset(o.get("key") for _, o in _items(field, "options"))
                elif kinds[key] == "grid":  # what total(grid, 'scenario') may name
                    options[key] = frozenset(field.get("scenarios") or registry.get(type_key).default_scenarios
                                             or SCENARIOS)
            workflow = self.workflows.get(self.levels.get(level_key, {}).get("workflow")) if level_key else None
            if workflow is not None:
                options["stage"] = frozenset(s.get("key") for _, s in _items(workflow, "stages"))
            parents, ancestors, children = self.relatives(level_key)
            hit = self._scopes[level_key] = typecheck.Scope(kinds, options, parents, ancestors, children, self.scope,
                                                            effects)
        return hit

    def relatives(self, level_key: str | None) -> tuple[tuple[str, ...], frozenset[str], frozenset[str]]:
        """A level's parent levels, every level above it and the levels right below it."""
        if not level_key or level_key not in self.levels:
            return (), frozenset(), frozenset()

        def parents_of(key: str) -> tuple[str, ...]:
            raw = self.levels.get(key, {}).get("parents")
            return tuple(p for p in raw if isinstance(p, str) and p in self.levels) if isinstance(raw, list) else ()

        above: set[str] = set()
        pending = list(parents_of(level_key))
        while pending:
            key = pending.pop()
            if key not in above:
                above.add(key)
                pending.extend(parents_of(key))
        below = frozenset(k for k in self.levels if level_key in parents_of(k))
        return parents_of(level_key), frozenset(above), below
        return hit

    def check_expression(self, file: str, path: list[object], source: Any,
                         level_keys: Iterable[str], result_type: Any = None) -> Expression | None:
        """Parse an expression and check its names and types against every level it applies
        to; a computed field's expression must produce its ``result_type``."""
        if not isinstance(source, str):
            return None
        try:
            expression = parse(source)
        except ExpressionError as exc:
            self.problem(file, path, str(exc), "expression_syntax")
            return None
        levels: list[str | None] = list(level_keys) or [None]
        reported: set[str] = set()
        for level in levels:
            known = self.level_field_sets.get(level, frozenset()) if level else self.all_fields
            unknown = unknown_names(expression, known)
            for name in unknown:
                where = f" (level {level!r} has no such field)" if level else ""
                self.problem(file, path, f"unknown field {name!r} in expression {source!r}{where}",
                             "unknown_name", closest(name, known))
            kinds, messages = typecheck.check(expression, self.scope(level))
            for message in messages:
                if message not in reported:
                    reported.add(message)
                    self.problem(file, path, f"in expression {source!r}: {message}",
                                 "mixed_effects" if typecheck.MIXED_EFFECTS in message else "expression_type")
            if isinstance(result_type, str) and result_type in registry and not unknown and not messages:
                expected = registry.get(result_type).expression_type
                problem = typecheck.result_problem(kinds, expected, result_type)
                if problem and problem not in reported:
                    reported.add(problem)
                    self.problem(file, path, f"in expression {source!r}: {problem}", "result_type_mismatch")
        return expression

    def check_fields(self) -> None:
        stages_by_workflow = {k: [s.get("key") for _, s in _items(w, "stages")]
                              for k, w in self.workflows.items()}
        for index, field in _items(self.docs.get("fields"), "fields"):
            base: list[object] = ["fields", index]
            key, type_key = field.get("key"), field.get("type")
            levels = self.levels_using_field(key)
            for attribute in ("visible_if", "editable_if"):
                self.check_expression("fields", [*base, attribute], field.get(attribute), levels)
            self.check_expression("fields", [*base, "expression"], field.get("expression"), levels,
                                  result_type=field.get("result_type"))
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
            pattern = field.get("pattern")
            if isinstance(pattern, dict) and isinstance(pattern.get("regex"), str):
                try:
                    compile_pattern(pattern["regex"])
                except ValueError as exc:
                    self.problem("fields", [*base, "pattern", "regex"], f"not a regular expression RE2 "
                                 f"accepts: {exc} (backreferences and lookarounds are not supported)",
                                 "bad_pattern")
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
                    if self.reference("workflows", [*path, "roles", i], role, self.roles, "role"):
                        self.check_right("workflows", [*path, "roles", i], role, "transition", levels,
                                         "request this transition")
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
                    named = [(["role"], step.get("role"))] if "role" in step else \
                        [(["roles", i], role) for i, role in enumerate(_keys(step.get("roles")))]
                    for where, role in named:
                        if self.reference("workflows", [*path, "approvals", a, *where], role, self.roles, "role"):
                            self.check_right("workflows", [*path, "approvals", a, *where], role,
                                             "approve", levels, "decide this step")
                    self.check_parallel_step(path, a, step)
                    self.check_expression("workflows", [*path, "approvals", a, "threshold"],
                                          step.get("threshold"), levels)
                self.check_approval_binding(path, transition, level_fields)
            self.check_plan_change(base, workflow, levels)
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

    def check_plan_change(self, base: list[object], workflow: Mapping[str, Any], levels: list[str]) -> None:
        """The plan change's approval steps: unique keys, roles that may approve on every
        level of the workflow, sound thresholds (as a transition's steps)."""
        change = workflow.get("plan_change")
        if not isinstance(change, dict):
            return
        path: list[object] = [*base, "plan_change"]
        self.unique("workflows", [*path, "approvals"], _items(change, "approvals"), "approval step")
        for a, step in _items(change, "approvals"):
            if self.reference("workflows", [*path, "approvals", a, "role"], step.get("role"), self.roles, "role"):
                self.check_right("workflows", [*path, "approvals", a, "role"], step.get("role"),
                                 "approve", levels, "decide this step")
            self.check_expression("workflows", [*path, "approvals", a, "threshold"], step.get("threshold"), levels)

    def check_editable_from(self) -> None:
        """A grid's ``editable_from`` names its own scenarios and a stage of the workflow of
        every level that shows it (a level without a workflow never reaches a stage)."""
        workflows = {w.get("key"): w for _, w in _items(self.docs.get("workflows"), "workflows")}
        for index, field in _items(self.docs.get("fields"), "fields"):
            rules = field.get("editable_from")
            if not isinstance(rules, dict):
                continue
            scenarios = field.get("scenarios") or SCENARIOS
            for scenario, stage in rules.items():
                path: list[object] = ["fields", index, "editable_from", scenario]
                self.reference("fields", path, scenario, list(scenarios), "scenario")
                for level_key in self.levels_using_field(field.get("key")):
                    workflow = workflows.get(self.levels.get(level_key, {}).get("workflow"))
                    if workflow is None:
                        self.problem("fields", path, f"level {level_key!r} shows this grid but has no workflow, "
                                     "so its records never reach a stage", "editable_from_without_workflow")
                        continue
                    self.reference("fields", path, stage, [s.get("key") for _, s in _items(workflow, "stages")],
                                   "stage")

    def allows(self, role_key: str, action: str, level_key: str) -> bool:
        """Does one of the role's permissions grant ``action`` on the level?"""
        role = self.roles.get(role_key, {})
        return any(isinstance(p, dict) and action in _keys(p.get("actions"))
                   and ("*" in _keys(p.get("levels")) or level_key in _keys(p.get("levels")))
                   for p in role.get("permissions") or [])

    def check_parallel_step(self, path: list[object], index: int, step: Mapping[str, Any]) -> None:
        """A cross-role step needs one approval from each of its roles by distinct people:
        a quorum other than "all", or one person deciding it and another step, would say
        something else; a first step has no step to open with."""
        at = [*path, "approvals", index]
        if "roles" in step and "role" in step:
            self.problem("workflows", [*at, "roles"], "a step names its role (\"role\") or, for a cross-role "
                         "quorum, its roles (\"roles\"), not both", "role_and_roles")
        if "roles" in step:
            if step.get("quorum", "all") != "all":
                self.problem("workflows", [*at, "quorum"], "a step with several roles needs one approval from "
                             "each of them: its quorum is \"all\" (leave it out, or split the step in two)",
                             "quorum_across_roles")
            if step.get("same_approver_allowed"):
                self.problem("workflows", [*at, "same_approver_allowed"], "a step with several roles is decided "
                             "by distinct people: one person cannot approve for two of its roles",
                             "same_approver_across_roles")
        if step.get("parallel_with_previous") and index == 0:
            self.problem("workflows", [*at, "parallel_with_previous"], "the first approval step has no step "
                         "before it to open with", "parallel_without_previous")

    def check_right(self, file: str, path: list[object], role_key: Any, action: str,
                    levels: list[str], purpose: str) -> None:
        """A role named to act in a workflow must hold the right to, on every level that uses
        the workflow; otherwise its requests or approvals would wait forever."""
        if not isinstance(role_key, str):
            return
        lacking = [lv for lv in levels if not self.allows(role_key, action, lv)]
        if lacking:
            self.problem(file, path, f"role {role_key!r} is named to {purpose}, but none of its permissions "
                         f"grants {action!r} on level {', '.join(map(repr, lacking))}; add {action!r} to its "
                         "permissions there or name another role", f"role_cannot_{action}")

    def check_approval_binding(self, path: list[object], transition: Mapping[str, Any],
                               level_fields: set[str]) -> None:
        """``approval_content`` names fields of the workflow's levels; it and ``on_change``
        bind votes, so on a transition without approval steps they would do nothing."""
        for i, key in enumerate(_keys(transition.get("approval_content"))):
            self.reference("workflows", [*path, "approval_content", i], key, level_fields, "field")
        if next(_items(transition, "approvals"), None) is None:
            for key in ("approval_content", "on_change"):
                if key in transition:
                    self.problem("workflows", [*path, key], f"{key} has an effect only on a transition "
                                 "with approval steps", "no_effect")

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
            if isinstance(rule.get("capacity"), dict) and levels:
                self.check_capacity([*base, "capacity"], rule["capacity"], levels[0])
            if isinstance(rule.get("overlap"), dict):
                if "condition" in rule:
                    self.problem("exceptions", [*base, "overlap"], "a rule raises its exception on a condition or "
                                 "on an overlap between records, not both", "condition_and_overlap")
                self.check_overlap([*base, "overlap"], rule["overlap"], levels)
            self.reference("exceptions", [*base, "owner_role"], rule.get("owner_role"), self.roles, "role")
            if "forum" in rule:
                self.reference("exceptions", [*base, "forum"], rule["forum"], self.forums, "forum")
            for e, step in enumerate(rule.get("escalation") or []):
                if isinstance(step, dict):
                    self.reference("exceptions", [*base, "escalation", e, "to"], step.get("to"),
                                   [*self.roles, *self.forums], "role or forum")
            for i, key in enumerate(_keys(rule.get("required_evidence"))):
                self.reference("exceptions", [*base, "required_evidence", i], key, self.fields, "field")

    def check_capacity(self, path: list[object], capacity: Mapping[str, Any], level: str) -> None:
        """A resource conflict's person is a user field of its level, its hours a
        time-phased field of the level that has the scenario counted."""
        placed = self.level_fields.get(level, [])
        for key, wanted, what in (("person", {"user"}, "a user field"), ("hours", {"grid"}, "a time-phased field")):
            name = capacity.get(key)
            if not self.reference("exceptions", [*path, key], name, placed, f"field of level {level}"):
                continue
            if self.scope(level).kinds.get(name) not in wanted:
                self.problem("exceptions", [*path, key], f"{name!r} is not {what}", "capacity_field_type")
        hours, scenario = capacity.get("hours"), capacity.get("scenario", "plan")
        scenarios = self.scope(level).options.get(hours) if isinstance(hours, str) else None
        if scenarios is not None and self.scope(level).kinds.get(hours) == "grid" and scenario not in scenarios:
            self.problem("exceptions", [*path, "scenario"], f"{hours!r} has no scenario {scenario!r} "
                         f"(scenarios: {', '.join(sorted(scenarios))})", "unknown_scenario")

    def check_overlap(self, path: list[object], overlap: Mapping[str, Any], levels: list[str]) -> None:
        """A double-count guard compares stored one-value fields of its level (a computed,
        a list or a file field has no one value to compare in SQL) and a grid's scenario."""
        if not levels:
            return
        placed = self.level_fields.get(levels[0], [])
        for i, key in enumerate(_keys(overlap.get("keys"))):
            if not self.reference("exceptions", [*path, "keys", i], key, placed, "field"):
                continue
            kind = registry.get(self.fields.get(key, {}).get("type", "")) \
                if self.fields.get(key, {}).get("type") in registry else None
            if kind is not None and not (kind.tabular and kind.storage == "values" and kind.accepts_input):
                self.problem("exceptions", [*path, "keys", i], f"field {key!r} cannot be a key of an overlap: "
                             "it has no single stored value to compare (choose a choice, text, number, "
                             "user or record field)", "overlap_key_not_comparable")
        grid = overlap.get("grid")
        if not self.reference("exceptions", [*path, "grid"], grid, placed, "field"):
            return
        field = self.fields.get(grid, {})
        kind = registry.get(field["type"]) if field.get("type") in registry else None
        if kind is None or kind.storage != "periods":
            self.problem("exceptions", [*path, "grid"], f"field {grid!r} is not a time-phased money field, so "
                         "there is no amount per period to compare", "overlap_not_a_grid")
            return
        self.reference("exceptions", [*path, "scenario"], overlap.get("scenario"),
                       list(field.get("scenarios") or SCENARIOS), "scenario")

    def check_reports(self) -> None:
        for index, report in _items(self.docs.get("reports"), "reports"):
            base: list[object] = ["reports", index]
            audience = _keys(report.get("audience"))
            for i, role in enumerate(audience):
                self.reference("reports", [*base, "audience", i], role, self.roles, "role")
            for i, role in enumerate(_keys(report.get("home_for"))):
                if self.reference("reports", [*base, "home_for", i], role, self.roles, "role") and role not in audience:
                    self.problem("reports", [*base, "home_for", i], f"role {role!r} cannot have this report on its "
                                 "home page: it is not in the report's audience", "home_not_audience")
            for i, role in enumerate(_keys(report.get("snapshot_by"))):
                if self.reference("reports", [*base, "snapshot_by", i], role, self.roles, "role") and \
                        role not in audience:
                    self.problem("reports", [*base, "snapshot_by", i], f"role {role!r} cannot take snapshots of "
                                 "this report: it is not in the report's audience", "snapshot_not_audience")
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
        for key in ("group_by", "column_by"):
            if key in section:
                self.reference("reports", [*path, key], section[key], [*columns, *self.ancestors(level)], "column")
        for c, color in enumerate(section.get("row_colors") or []):
            if isinstance(color, dict) and "when" in color:
                self.check_filter([*path, "row_colors", c, "when"], color["when"], level)
        if "sort" in section:
            self.reference("reports", [*path, "sort"], section["sort"], columns, "column")
        if "field" in section:
            self.reference("reports", [*path, "field"], section["field"], fields, "field")
        for key in ("tiles", "series", "steps"):
            for t, item in enumerate(section.get(key) or []):
                if isinstance(item, dict):
                    self.reference("reports", [*path, key, t, "field"], item.get("field"), fields, "field")
                    if isinstance(item.get("target"), str):
                        self.reference("reports", [*path, key, t, "target"], item["target"], fields, "field")
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
        cycle = _cycle_members(graph)
        for key in cycle:
            self.problem("fields", ["fields", graph[key][0], "expression"],
                         f"computed field {key!r} depends on itself through other computed fields",
                         "computed_cycle")
        if cycle:
            return
        depths = _chain_depths(graph)
        for key, depth in depths.items():
            if depth > MAX_COMPUTED_DEPTH:
                self.problem("fields", ["fields", graph[key][0], "expression"],
                             f"computed field {key!r} sits at the end of a chain of {depth} computed fields "
                             f"reading each other; at most {MAX_COMPUTED_DEPTH} are allowed",
                             "computed_chain_too_deep")


def _cycle_members(graph: Mapping[str, tuple[int, set[str]]]) -> list[str]:
    """Computed fields that sit on a dependency cycle: the members of strongly connected
    components with more than one field, or reading themselves (Tarjan's algorithm, without
    recursion, in linear time)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    members: list[str] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root][1])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child][1]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node][1]:
                    members.extend(component)
    return sorted(members, key=lambda key: graph[key][0])


def _chain_depths(graph: Mapping[str, tuple[int, set[str]]]) -> dict[str, int]:
    """For each computed field, the length of the longest chain of computed fields ending in
    it (1 when it reads no computed field); the graph has no cycles."""
    depths: dict[str, int] = {}

    def depth(key: str) -> int:
        if key not in depths:
            stack = [(key, iter(sorted(graph[key][1])))]
            depths[key] = 0  # in progress
            while stack:
                node, children = stack[-1]
                child = next((c for c in children if c in graph and c != node), None)
                if child is None:
                    stack.pop()
                    depths[node] = 1 + max((depths[c] for c in graph[node][1] if c in graph and c != node),
                                           default=0)
                elif child not in depths:
                    depths[child] = 0
                    stack.append((child, iter(sorted(graph[child][1]))))
        return depths[key]

    for key in graph:
        depth(key)
    return depths


@functools.cache
def _time_zones() -> frozenset[str]:
    """The IANA time zones this machine knows (the tzdata package where the OS has none)."""
    import zoneinfo

    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def check(documents: Mapping[str, Any]) -> list[ConfigProblem]:
    """Every semantic problem of a configuration (an empty list when it is sound)."""
    return Checker(documents).run()
