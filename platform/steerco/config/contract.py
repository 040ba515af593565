"""The contract of the configuration schemas: every key a schema accepts has an effect, or
is listed in :data:`NOT_IN_EFFECT`, and ``steerco validate`` warns when a tenant uses one.

Keys are written ``file.json:/json/pointer`` with ``*`` for any item of a list or any key
of a map (``workflows.json:/workflows/*/stages/*/risk_weight``); an entry covers the keys
below it too (``reports.json:/reports`` is the whole of reports.json). A value of an
enumeration is written after ``=`` (``roles.json:/roles/*/permissions/*/actions/*=delete``).

:data:`EFFECTS` says, for every other key, where its effect lives: the attribute of the
compiled model that carries it, which code outside ``steerco.config`` reads.
``tests/unit/test_config_contract.py`` holds this module to its word: every schema key is
in exactly one of the two, the compiler reads every key of :data:`EFFECTS` into its
attribute, and every such attribute is read outside the configuration package. A key that
is merely copied into the compiled model and used by nothing else is not in effect.

The check that an attribute is read goes by its name (``.color`` somewhere in the engine,
the web layer or a template), so for common names (``key``, ``label``) it proves little;
the entries here are meant to be read and judged, the tests catch the forgotten ones.

When you give a key its effect, remove it from :data:`NOT_IN_EFFECT` and add it to
:data:`EFFECTS`; the list is meant to shrink to nothing.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from steerco.config.errors import ConfigProblem, pointer

#: Keys the schemas accept that nothing acts on yet (see the module docstring).
NOT_IN_EFFECT: frozenset[str] = frozenset({
    "tenant.json:/fiscal_year_start",
    "roles.json:/roles/*/description",
    "fields.json:/fields/*/options/*/color",
})

#: The effect of a key that only identifies its item: it must be unique, and it names the
#: item in configuration problems ("levels.json:/levels/4/sections/2 (level measure › section
#: money)") and, later, on the configuration screens.
NAMES_ITEM = "names the item"

#: Schema key -> the compiled attribute (``Class.attribute``, or ``Class.attribute[key]`` for
#: a key of a mapping, or a method of the model reading it) whose readers give the key its
#: effect, or :data:`NAMES_ITEM`.
EFFECTS: Mapping[str, str] = {
    "tenant.json:/key": "TenantConfig.key",
    "tenant.json:/name": "TenantConfig.name",
    "tenant.json:/currency": "TenantConfig.currency",
    "tenant.json:/reporting": "TenantConfig.periods",
    "tenant.json:/reporting/granularity": "TenantConfig.periods",
    "tenant.json:/reporting/start": "TenantConfig.periods",
    "tenant.json:/reporting/periods": "TenantConfig.periods",
    "tenant.json:/branding": "TenantConfig.branding",
    "tenant.json:/branding/primary_color": "TenantConfig.branding[primary_color]",
    "tenant.json:/branding/logo_text": "TenantConfig.branding[logo_text]",
    "tenant.json:/branding/report_footer": "TenantConfig.branding[report_footer]",
    "tenant.json:/branding/logo": "TenantConfig.branding[logo]",
    "tenant.json:/locale": "TenantConfig.locale",
    "tenant.json:/timezone": "TenantConfig.timezone",
    "levels.json:/levels": "TenantConfig.levels",
    "levels.json:/levels/*/key": "Level.key",
    "levels.json:/levels/*/label": "Level.label",
    "levels.json:/levels/*/label_plural": "Level.label_plural",
    "levels.json:/levels/*/parents": "Level.parents",
    "levels.json:/levels/*/numbering": "Level.number_prefix",
    "levels.json:/levels/*/numbering/prefix": "Level.number_prefix",
    "levels.json:/levels/*/numbering/digits": "Level.number_digits",
    "levels.json:/levels/*/workflow": "Level.workflow",
    "levels.json:/levels/*/title_label": "Level.title_label",
    "levels.json:/levels/*/list_columns": "Level.list_columns",
    "levels.json:/levels/*/approval_card": "Level.approval_card",
    "levels.json:/levels/*/sections": "Level.sections",
    "levels.json:/levels/*/sections/*/key": NAMES_ITEM,
    "levels.json:/levels/*/sections/*/label": "Section.label",
    "levels.json:/levels/*/sections/*/fields": "Section.fields",
    "levels.json:/levels/*/rules": "Level.rules",
    "levels.json:/levels/*/rules/*/key": NAMES_ITEM,
    "levels.json:/levels/*/rules/*/condition": "ValidationRule.condition",
    "levels.json:/levels/*/rules/*/message": "ValidationRule.message",
    "levels.json:/levels/*/rules/*/fields": "ValidationRule.fields",
    "fields.json:/fields": "TenantConfig.fields",
    "fields.json:/fields/*/key": "Field.key",
    "fields.json:/fields/*/label": "Field.label",
    "fields.json:/fields/*/type": "Field.kind",
    "fields.json:/fields/*/help": "Field.help",
    "fields.json:/fields/*/required": "Field.required_always",
    "fields.json:/fields/*/required/from_stage": "Field.required_from_stage",
    "fields.json:/fields/*/min": "Field.min",
    "fields.json:/fields/*/max": "Field.max",
    "fields.json:/fields/*/max_length": "Field.max_length",
    "fields.json:/fields/*/pattern": "Field.pattern",
    "fields.json:/fields/*/pattern/regex": "Field.pattern",
    "fields.json:/fields/*/pattern/message": "Field.pattern_message",
    "fields.json:/fields/*/default": "Field.default",
    "fields.json:/fields/*/placeholder": "Field.placeholder",
    "fields.json:/fields/*/options": "Field.options",
    "fields.json:/fields/*/options/*/key": "Option.key",
    "fields.json:/fields/*/options/*/label": "Option.label",
    "fields.json:/fields/*/visible_if": "Field.visible_if",
    "fields.json:/fields/*/editable_if": "Field.editable_if",
    "fields.json:/fields/*/read_roles": "Role.mode_of",
    "fields.json:/fields/*/write_roles": "Role.mode_of",
    "fields.json:/fields/*/expression": "Field.expression",
    "fields.json:/fields/*/result_type": "Field.result_type",
    "fields.json:/fields/*/target_level": "Field.target_level",
    "fields.json:/fields/*/accept": "Field.accept",
    "fields.json:/fields/*/max_size_mb": "Field.max_size_mb",
    "fields.json:/fields/*/scenarios": "Field.scenarios",
    # a grid scenario entered only once the record reached a stage (steerco.engine.plan)
    "fields.json:/fields/*/editable_from": "Field.editable_from",
    "fields.json:/fields/*/editable_from/*": "Field.editable_from",
    # recurring grids have a run-rate; totals never mix the kinds (steerco.engine.plan, typecheck)
    "fields.json:/fields/*/effect": "Field.effect",
    # a measure grid's unit heads its grid and columns; its direction decides on_track
    "fields.json:/fields/*/unit": "Field.unit",
    "fields.json:/fields/*/direction": "Field.direction",
    # how a report table's subtotals and total add up the field (steerco.reports.data), and
    # how the field rolls up a record's subtree (steerco.engine.rollups)
    "fields.json:/fields/*/rollup": "Field.rollup",
    "roles.json:/roles": "TenantConfig.roles",
    "roles.json:/roles/*/key": "Role.key",
    "roles.json:/roles/*/label": "Role.label",
    "roles.json:/roles/*/admin": "Role.admin",
    "roles.json:/roles/*/permissions": "Role.permissions",
    "roles.json:/roles/*/permissions/*/levels": "Permission.levels",
    "roles.json:/roles/*/permissions/*/actions": "Permission.actions",
    "roles.json:/roles/*/permissions/*/scope": "Permission.scope",
    "roles.json:/roles/*/fields": "Role.fields",
    "roles.json:/roles/*/fields/*": "Role.fields",
    "workflows.json:/workflows": "TenantConfig.workflows",
    "workflows.json:/workflows/*/key": "Workflow.key",
    "workflows.json:/workflows/*/label": "Workflow.label",
    "workflows.json:/workflows/*/initial_stage": "Workflow.initial_stage",
    "workflows.json:/workflows/*/stages": "Workflow.stages",
    "workflows.json:/workflows/*/stages/*/key": "Stage.key",
    "workflows.json:/workflows/*/stages/*/label": "Stage.label",
    "workflows.json:/workflows/*/stages/*/order": "Stage.order",
    "workflows.json:/workflows/*/stages/*/color": "Stage.color",
    "workflows.json:/workflows/*/stages/*/category": "Stage.category",
    # each stage's sum times its weight: the risk-weighted pipeline of a rollup (steerco.engine.rollups)
    "workflows.json:/workflows/*/stages/*/risk_weight": "Stage.risk_weight",
    # the plan of a record that reached the stage is frozen beside its baseline (steerco.engine.plan)
    "workflows.json:/workflows/*/stages/*/plan_frozen": "Stage.plan_frozen",
    # the approvals a change to a frozen plan or a locked period's values passes (steerco.engine.plan)
    "workflows.json:/workflows/*/plan_change": "Workflow.plan_change",
    "workflows.json:/workflows/*/plan_change/approvals": "Transition.approvals",
    "workflows.json:/workflows/*/plan_change/approvals/*/key": "ApprovalStep.key",
    "workflows.json:/workflows/*/plan_change/approvals/*/label": "ApprovalStep.label",
    "workflows.json:/workflows/*/plan_change/approvals/*/role": "ApprovalStep.role",
    "workflows.json:/workflows/*/plan_change/approvals/*/threshold": "ApprovalStep.threshold",
    "workflows.json:/workflows/*/plan_change/approvals/*/quorum": "ApprovalStep.quorum",
    "workflows.json:/workflows/*/plan_change/approvals/*/quorum/n": "ApprovalStep.quorum",
    "workflows.json:/workflows/*/plan_change/approvals/*/roles": "ApprovalStep.roles",
    "workflows.json:/workflows/*/plan_change/approvals/*/parallel_with_previous":
        "ApprovalStep.parallel_with_previous",
    "workflows.json:/workflows/*/plan_change/approvals/*/same_approver_allowed":
        "ApprovalStep.same_approver_allowed",
    "workflows.json:/workflows/*/transitions": "Workflow.transitions",
    "workflows.json:/workflows/*/transitions/*/key": "Transition.key",
    "workflows.json:/workflows/*/transitions/*/label": "Transition.label",
    "workflows.json:/workflows/*/transitions/*/from": "Transition.sources",
    "workflows.json:/workflows/*/transitions/*/to": "Transition.target",
    "workflows.json:/workflows/*/transitions/*/roles": "Transition.roles",
    "workflows.json:/workflows/*/transitions/*/condition": "Transition.condition",
    "workflows.json:/workflows/*/transitions/*/required_fields": "Transition.required_fields",
    "workflows.json:/workflows/*/transitions/*/required_evidence": "Transition.required_evidence",
    "workflows.json:/workflows/*/transitions/*/reject_to": "Transition.reject_to",
    "workflows.json:/workflows/*/transitions/*/escalate_after_days": "Transition.escalate_after_days",
    "workflows.json:/workflows/*/transitions/*/approval_content": "Transition.approval_content",
    "workflows.json:/workflows/*/transitions/*/on_change": "Transition.on_change",
    "workflows.json:/workflows/*/transitions/*/escalate_to": "Transition.escalate_to",
    "workflows.json:/workflows/*/transitions/*/approvals": "Transition.approvals",
    "workflows.json:/workflows/*/transitions/*/approvals/*/key": "ApprovalStep.key",
    "workflows.json:/workflows/*/transitions/*/approvals/*/label": "ApprovalStep.label",
    "workflows.json:/workflows/*/transitions/*/approvals/*/role": "ApprovalStep.role",
    "workflows.json:/workflows/*/transitions/*/approvals/*/roles": "ApprovalStep.roles",
    "workflows.json:/workflows/*/transitions/*/approvals/*/parallel_with_previous":
        "ApprovalStep.parallel_with_previous",
    "workflows.json:/workflows/*/transitions/*/approvals/*/threshold": "ApprovalStep.threshold",
    "workflows.json:/workflows/*/transitions/*/approvals/*/quorum": "ApprovalStep.quorum",
    "workflows.json:/workflows/*/transitions/*/approvals/*/quorum/n": "ApprovalStep.quorum",
    "workflows.json:/workflows/*/transitions/*/approvals/*/same_approver_allowed":
        "ApprovalStep.same_approver_allowed",
    "workflows.json:/status_dimensions": "TenantConfig.status_dimensions",
    "workflows.json:/status_dimensions/*/key": "StatusDimension.key",
    "workflows.json:/status_dimensions/*/label": "StatusDimension.label",
    "workflows.json:/status_dimensions/*/levels": "StatusDimension.levels",
    "workflows.json:/status_dimensions/*/options": "StatusDimension.options",
    "workflows.json:/status_dimensions/*/options/*/key": "Option.key",
    "workflows.json:/status_dimensions/*/options/*/label": "Option.label",
    "workflows.json:/status_dimensions/*/options/*/color": "Option.color",
    "workflows.json:/status_dimensions/*/default": "StatusDimension.default",
    "workflows.json:/status_dimensions/*/comment_required_for": "StatusDimension.comment_required_for",
    # Forums are where overdue approval steps escalate to (escalate_to); the exception
    # rules that would use them too are not in effect yet.
    "exceptions.json:/forums": "TenantConfig.forums",
    "exceptions.json:/forums/*/key": "Forum.key",
    "exceptions.json:/forums/*/label": "Forum.label",
    "exceptions.json:/forums/*/role": "Forum.role",
    "exceptions.json:/rules": "TenantConfig.exception_rules",
    "exceptions.json:/rules/*/key": "ExceptionRule.key",
    "exceptions.json:/rules/*/label": "ExceptionRule.label",
    "exceptions.json:/rules/*/level": "ExceptionRule.level",
    "exceptions.json:/rules/*/condition": "ExceptionRule.condition",
    "exceptions.json:/rules/*/owner_role": "ExceptionRule.owner_role",
    "exceptions.json:/rules/*/forum": "ExceptionRule.forum",
    "exceptions.json:/rules/*/due_days": "ExceptionRule.due_days",
    "exceptions.json:/rules/*/required_evidence": "ExceptionRule.required_evidence",
    "exceptions.json:/rules/*/escalation": "ExceptionRule.escalation",
    "exceptions.json:/rules/*/escalation/*/after_days": "ExceptionRule.escalation",
    "exceptions.json:/rules/*/escalation/*/to": "ExceptionRule.escalation",
    "exceptions.json:/rules/*/close_when_clear": "ExceptionRule.close_when_clear",
    # a resource conflict: steerco.engine.capacity sums the hours per person and period
    "exceptions.json:/rules/*/capacity": "ExceptionRule.capacity",
    "exceptions.json:/rules/*/capacity/person": "Capacity.person",
    "exceptions.json:/rules/*/capacity/hours": "Capacity.hours",
    "exceptions.json:/rules/*/capacity/scenario": "Capacity.scenario",
    "exceptions.json:/rules/*/capacity/hours_per_period": "Capacity.hours_per_period",
    "exceptions.json:/rules/*/overlap": "ExceptionRule.overlap",
    "exceptions.json:/rules/*/overlap/keys": "Overlap.keys",
    "exceptions.json:/rules/*/overlap/grid": "Overlap.grid",
    "exceptions.json:/rules/*/overlap/scenario": "Overlap.scenario",
    "exceptions.json:/rules/*/overlap/min_overlap": "Overlap.min_overlap",
    # Reports: listed for their audience, gathered by steerco.reports.data (SQL through
    # steerco.reports.scope), shown as a dashboard and printed by steerco.reports.render.
    "reports.json:/reports": "TenantConfig.reports",
    "reports.json:/reports/*/key": "Report.key",
    "reports.json:/reports/*/title": "Report.title",
    "reports.json:/reports/*/audience": "Report.audience",
    "reports.json:/reports/*/home_for": "Report.home_for",
    "reports.json:/reports/*/snapshot_by": "Report.snapshot_by",
    "reports.json:/reports/*/level": "Report.level",
    "reports.json:/reports/*/filter": "Report.filter",
    "reports.json:/reports/*/page": "Report.page_size",
    "reports.json:/reports/*/page/size": "Report.page_size",
    "reports.json:/reports/*/page/orientation": "Report.orientation",
    "reports.json:/reports/*/page/cover": "Report.cover",
    "reports.json:/reports/*/sections": "Report.sections",
    "reports.json:/reports/*/sections/*/type": "ReportSection.type",
    "reports.json:/reports/*/sections/*/title": "ReportSection.title",
    "reports.json:/reports/*/sections/*/level": "ReportSection.level",
    "reports.json:/reports/*/sections/*/filter": "ReportSection.filter",
    "reports.json:/reports/*/sections/*/new_page": "ReportSection.new_page",
    "reports.json:/reports/*/sections/*/tiles": "ReportSection.tiles",
    "reports.json:/reports/*/sections/*/tiles/*/label": "ReportMeasure.label",
    "reports.json:/reports/*/sections/*/tiles/*/field": "ReportMeasure.field",
    "reports.json:/reports/*/sections/*/tiles/*/aggregate": "ReportMeasure.aggregate",
    "reports.json:/reports/*/sections/*/tiles/*/target": "ReportMeasure.target",
    "reports.json:/reports/*/sections/*/tiles/*/compare_to": "ReportMeasure.compare_to",
    "reports.json:/reports/*/sections/*/tiles/*/better": "ReportMeasure.better",
    "reports.json:/reports/*/sections/*/tiles/*/scenario": "ReportMeasure.scenario",
    "reports.json:/reports/*/sections/*/tiles/*/tolerance": "ReportMeasure.tolerance",
    "reports.json:/reports/*/sections/*/columns": "ReportSection.columns",
    "reports.json:/reports/*/sections/*/group_by": "ReportSection.group_by",
    "reports.json:/reports/*/sections/*/totals": "ReportSection.totals",
    "reports.json:/reports/*/sections/*/sort": "ReportSection.sort",
    "reports.json:/reports/*/sections/*/descending": "ReportSection.descending",
    "reports.json:/reports/*/sections/*/chart": "ReportSection.chart",
    # a chart's one field and its aggregate become its one series (labelled by the field)
    "reports.json:/reports/*/sections/*/field": "ReportSection.series",
    "reports.json:/reports/*/sections/*/aggregate": "ReportSection.series",
    "reports.json:/reports/*/sections/*/series": "ReportSection.series",
    "reports.json:/reports/*/sections/*/series/*/label": "ReportMeasure.label",
    "reports.json:/reports/*/sections/*/series/*/field": "ReportMeasure.field",
    "reports.json:/reports/*/sections/*/series/*/aggregate": "ReportMeasure.aggregate",
    "reports.json:/reports/*/sections/*/stacked": "ReportSection.stacked",
    "reports.json:/reports/*/sections/*/steps": "ReportSection.steps",
    "reports.json:/reports/*/sections/*/steps/*/label": "ReportMeasure.label",
    "reports.json:/reports/*/sections/*/steps/*/field": "ReportMeasure.field",
    "reports.json:/reports/*/sections/*/steps/*/aggregate": "ReportMeasure.aggregate",
    "reports.json:/reports/*/sections/*/limit": "ReportSection.limit",
    "reports.json:/reports/*/sections/*/text": "ReportSection.text",
    "reports.json:/reports/*/sections/*/column_by": "ReportSection.column_by",
    "reports.json:/reports/*/sections/*/row_colors": "ReportSection.row_colors",
    "reports.json:/reports/*/sections/*/row_colors/*/when": "RowColor.when",
    "reports.json:/reports/*/sections/*/row_colors/*/color": "RowColor.color",
    "reports.json:/reports/*/sections/*/row_colors/*/label": "RowColor.label",
}


def _split(entry: str) -> tuple[str, list[str], str | None]:
    """``file.json:/a/*/b=value`` -> ("file", ["a", "*", "b"], "value")."""
    file, _, rest = entry.partition(":")
    path, _, value = rest.partition("=")
    return file.removesuffix(".json"), [p for p in path.split("/") if p], value or None


def _matches(node: Any, parts: list[str], where: list[object]) -> Iterator[tuple[list[object], Any]]:
    """(pointer parts, value) of every place in ``node`` that the pattern ``parts`` names."""
    if not parts:
        yield where, node
        return
    head, rest = parts[0], parts[1:]
    if head == "*" and isinstance(node, list):
        for index, item in enumerate(node):
            yield from _matches(item, rest, [*where, index])
    elif head == "*" and isinstance(node, dict):
        for key, item in node.items():
            yield from _matches(item, rest, [*where, key])
    elif isinstance(node, dict) and head in node:
        yield from _matches(node[head], rest, [*where, head])


def uses(documents: Mapping[str, Any], entry: str) -> list[str]:
    """JSON Pointers of the places where a tenant's documents use the key (or value) ``entry``."""
    document, parts, value = _split(entry)
    if document not in documents:
        return []
    places = []
    for where, found in _matches(documents[document], parts, []):
        if value is None or found == value:
            places.append(pointer(*where))
    return places


def warnings(documents: Mapping[str, Any]) -> list[ConfigProblem]:
    """One warning per key of :data:`NOT_IN_EFFECT` that the tenant uses, at its first place."""
    found = []
    for entry in sorted(NOT_IN_EFFECT):
        places = uses(documents, entry)
        if places:
            document, parts, value = _split(entry)
            more = f" (and {len(places) - 1} more place(s))" if len(places) > 1 else ""
            what = f"the value {value!r}" if value else repr(parts[-1])
            found.append(ConfigProblem(f"{document}.json", places[0],
                                       f"{what} is accepted, not in effect yet{more}", "not_in_effect"))
    return found
