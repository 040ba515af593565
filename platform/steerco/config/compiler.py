"""Compile validated configuration documents into one immutable :class:`TenantConfig`.

``compile_config`` is the only way from JSON to a configuration the engine uses: it runs
the schema pass and the semantic pass over all documents, raises :class:`ConfigInvalid`
with every problem found, and otherwise builds the frozen model, parsing each expression
exactly once and fixing the evaluation order of computed fields.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Iterator, Mapping

from steerco.config import checks, semantics
from steerco.config.errors import ConfigInvalid, ConfigProblem, pointer, with_items
from steerco.config.expressions import SYSTEM_NAMES, Expression, parse
from steerco.config.model import (
    ApprovalStep, Capacity, ExceptionRule, Field, Forum, Level, Option, Overlap, Period, Permission, Report,
    ReportMeasure, PLAN_CHANGE, ReportSection, Role, RowColor, Section, Stage, StatusDimension, TenantConfig,
    Transition, ValidationRule, Workflow,
    deep_freeze,
    default_number_prefix, frozen_map,
)
from steerco.config.schema import DOCUMENTS, OPTIONAL_DOCUMENTS, validate_document
from steerco.fields import registry


def problems_of(documents: Mapping[str, Any]) -> list[ConfigProblem]:
    """All schema and semantic problems of a set of documents."""
    problems: list[ConfigProblem] = []
    for name in DOCUMENTS:
        if name not in documents:
            if name not in OPTIONAL_DOCUMENTS:
                problems.append(ConfigProblem(f"{name}.json", "", "file is missing", "missing_file"))
            continue
        problems.extend(validate_document(name, documents[name]))
    # A place the schema already objects to is reported once: a semantic finding there
    # ("unknown level 'Measure'") only lends the schema's problem its "did you mean".
    by_place = {(p.file, p.pointer): i for i, p in enumerate(problems)}
    for problem in semantics.check(_with_defaults(documents)):
        index = by_place.get((problem.file, problem.pointer))
        if index is None:
            problems.append(problem)
        elif problems[index].hint is None and problem.hint:
            problems[index] = dataclasses.replace(problems[index], hint=problem.hint)
    return with_items(problems, documents)


def compile_config(documents: Mapping[str, Any], version: int = 0) -> TenantConfig:
    """Validate and compile; raise ConfigInvalid listing every problem."""
    problems = problems_of(documents)
    if problems:
        raise ConfigInvalid(problems)
    return compile_checked(documents, version)


def compile_checked(documents: Mapping[str, Any], version: int = 0) -> TenantConfig:
    """Compile documents in which :func:`problems_of` found nothing (it is not run again);
    raise ConfigInvalid with what only the compiled configuration shows."""
    config = _build(_with_defaults(documents), version)
    found = [*checks.problems(config), *_report_problems(config)]
    if found:
        raise ConfigInvalid(with_items(found, documents))
    return config


def _scalar(fld: Field) -> bool:
    """A field whose one value sits on the record (or is computed onto it): SQL can read it."""
    return fld.kind.storage in ("values", "computed") and \
        fld.kind.value_schema(fld).get("type") not in ("array", "object")


def _report_problems(config: TenantConfig) -> Iterator[ConfigProblem]:
    """What report sections ask of their fields' types: sums of numbers, lines over
    time-phased values, groups and filters on values the database can read."""
    for r, report in enumerate(config.reports.values()):
        yield from _filter_problems(config.levels[report.level], report.filter, ["reports", r, "filter"])
        for s, section in enumerate(report.sections):
            path: list[object] = ["reports", r, "sections", s]
            level = config.levels[section.level]
            for name, measures in (("tiles", section.tiles), ("series", section.series), ("steps", section.steps)):
                for i, measure in enumerate(measures):
                    where = [*path, "field"] if name == "series" and section.field else [*path, name, i, "field"]
                    yield from _measure_problems(level.field(measure.field), measure, section, where)
                    if isinstance(measure.target, str):
                        target = dataclasses.replace(measure, field=measure.target, scenario=None)
                        found = level.field(measure.target)
                        if found is not None and found.kind.storage == "periods":
                            yield ConfigProblem("reports.json", pointer(*path, name, i, "target"),
                                                f"a target is a number or a field of the record; {found.label!r} "
                                                "is time-phased", "bad_measure")
                            continue
                        yield from _measure_problems(found, target, section, [*path, name, i, "target"])
            for key in ("group_by", "column_by"):
                name = getattr(section, key)
                if name and (fld := level.field(name)) is not None and not _scalar(fld):
                    yield ConfigProblem("reports.json", pointer(*path, key),
                                        f"cannot group by {fld.label!r}: it holds several values", "bad_group")
            yield from _filter_problems(level, section.filter, [*path, "filter"])
            for c, color in enumerate(section.row_colors):
                yield from _filter_problems(level, color.when, [*path, "row_colors", c, "when"])


def _filter_problems(level: Level, expression: Expression | None, where: list[object]) -> Iterator[ConfigProblem]:
    for name in sorted(expression.names if expression else ()):
        fld = level.field(name)
        if fld is not None and not _scalar(fld):
            yield ConfigProblem("reports.json", pointer(*where), f"a filter cannot read {fld.label!r}: it holds "
                                "several values", "filter_not_sql")


def _measure_problems(fld: Field | None, measure: ReportMeasure, section: ReportSection,
                      where: list[object]) -> Iterator[ConfigProblem]:
    if fld is None:
        return
    if section.type == "kpi_tiles" and (fld.kind.storage == "periods" or measure.scenario):
        if fld.kind.storage != "periods" or measure.aggregate != "sum" or measure.scenario not in fld.scenarios:
            yield ConfigProblem("reports.json", pointer(*where), f"a tile of a time-phased field sums one of its "
                                f"scenarios ({', '.join(fld.scenarios or ()) or 'none'}); {fld.label!r} with "
                                f"{measure.aggregate!r} and scenario {measure.scenario!r} cannot", "bad_measure")
        return
    if section.chart == "line":
        if fld.kind.storage != "periods" or measure.aggregate != "sum":
            yield ConfigProblem("reports.json", pointer(*where), f"a line chart shows the sum of a time-phased "
                                f"field over the periods; {fld.label!r} is not one", "bad_measure")
        return
    if not _scalar(fld) or measure.aggregate not in fld.kind.rollups:
        allowed = sorted(a for a in fld.kind.rollups if a != "none") if _scalar(fld) else []
        yield ConfigProblem("reports.json", pointer(*where), f"{measure.aggregate!r} of {fld.label!r} cannot be "
                            "computed" + (f"; it allows {', '.join(allowed)}" if allowed else
                                          " (time-phased and multi-valued fields come with the value layer)"),
                            "bad_measure")


def _with_defaults(documents: Mapping[str, Any]) -> dict[str, Any]:
    return {**OPTIONAL_DOCUMENTS, **documents}


def _expr(source: str | None) -> Expression | None:
    return parse(source) if source else None


def _capacity(raw: Mapping[str, Any] | None) -> Capacity | None:
    if raw is None:
        return None
    return Capacity(raw["person"], raw["hours"], raw.get("scenario", "plan"), float(raw["hours_per_period"]))


def _options(items: list[dict[str, Any]] | None) -> tuple[Option, ...]:
    return tuple(Option(o["key"], o["label"], o.get("color")) for o in items or [])


def _periods(reporting: Mapping[str, Any]) -> tuple[Period, ...]:
    year, month = map(int, reporting["start"].split("-"))
    step = 3 if reporting["granularity"] == "quarter" else 1
    periods = []
    for _ in range(reporting["periods"]):
        start = dt.date(year, month, 1)
        if step == 3:
            label = f"Q{(month - 1) // 3 + 1} {year}" if month % 3 == 1 else start.strftime("%b %Y") + " +2"
        else:
            label = start.strftime("%b %Y")
        periods.append(Period(start.strftime("%Y-%m"), label))
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return tuple(periods)


def _field(raw: Mapping[str, Any]) -> Field:
    required = raw.get("required", False)
    return Field(
        key=raw["key"], label=raw["label"], type=raw["type"], kind=registry.get(raw["type"]),
        help=raw.get("help", ""),
        required_always=required is True,
        required_from_stage=required.get("from_stage") if isinstance(required, dict) else None,
        min=raw.get("min"), max=raw.get("max"), max_length=raw.get("max_length"),
        default=raw.get("default"), placeholder=raw.get("placeholder", ""),
        options=_options(raw.get("options")),
        visible_if=_expr(raw.get("visible_if")), editable_if=_expr(raw.get("editable_if")),
        read_roles=tuple(raw.get("read_roles", ())), write_roles=tuple(raw.get("write_roles", ())),
        rollup=raw.get("rollup", "none"), expression=_expr(raw.get("expression")),
        result_type=raw.get("result_type"), target_level=raw.get("target_level"),
        accept=tuple(raw.get("accept", ())), max_size_mb=raw.get("max_size_mb", 10.0),
        scenarios=tuple(raw.get("scenarios", registry.get(raw["type"]).default_scenarios)),
        unit=raw.get("unit", ""), direction=raw.get("direction", "higher_is_better"),
        pattern=raw["pattern"]["regex"] if "pattern" in raw else None,
        pattern_message=raw["pattern"]["message"] if "pattern" in raw else "",
        editable_from=dict(raw.get("editable_from", {})), effect=raw.get("effect"),
    )


def _computed_order(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """Computed fields so that each comes after the computed fields it reads (no cycles here)."""
    computed = {f.key: f for f in fields if f.expression is not None}
    ordered: list[Field] = []
    placed: set[str] = set()

    def visit(field: Field) -> None:
        if field.key in placed:
            return
        placed.add(field.key)
        for name in sorted(field.expression.names if field.expression else ()):
            if name in computed and name != field.key:
                visit(computed[name])
        ordered.append(field)

    for field in computed.values():
        visit(field)
    return tuple(ordered)


def _level(raw: Mapping[str, Any], fields: Mapping[str, Field], children: tuple[str, ...]) -> Level:
    sections = tuple(
        Section(s["key"], s["label"], tuple(fields[k] for k in s["fields"])) for s in raw["sections"]
    )
    numbering = raw.get("numbering", {})
    all_fields = tuple(f for s in sections for f in s.fields)
    return Level(
        key=raw["key"], label=raw["label"], label_plural=raw["label_plural"],
        parents=tuple(raw["parents"]), children=children, sections=sections,
        number_prefix=numbering.get("prefix", default_number_prefix(raw["key"])),
        number_digits=numbering.get("digits", 4), workflow=raw.get("workflow"),
        title_label=raw.get("title_label", "Title"),
        list_columns=tuple(raw.get("list_columns", ("number", "title", "owner", "updated_at"))),
        computed_order=_computed_order(all_fields),
        rules=tuple(ValidationRule(r["key"], parse(r["condition"]), r["message"], tuple(r["fields"]))
                    for r in raw.get("rules", ())),
        approval_card=tuple(dict.fromkeys(raw.get("approval_card", ()))),
    )


def _approval_content(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """What an approval of the transition is given on: as configured, else its required
    fields, its required evidence and the fields its thresholds read (in that order)."""
    if "approval_content" in raw:
        return tuple(dict.fromkeys(raw["approval_content"]))
    if not raw.get("approvals"):
        return ()
    read = sorted({name for a in raw["approvals"] if a.get("threshold")
                   for name in parse(a["threshold"]).names} - SYSTEM_NAMES)
    return tuple(dict.fromkeys([*raw.get("required_fields", ()), *raw.get("required_evidence", ()), *read]))


def _workflow(raw: Mapping[str, Any]) -> Workflow:
    stages = tuple(sorted(
        (Stage(s["key"], s["label"], s["order"], s.get("color", "#6b7280"), s.get("category", "open"),
               s.get("risk_weight", 1.0), s.get("plan_frozen", False)) for s in raw["stages"]),
        key=lambda s: s.order,
    ))
    transitions = tuple(_transition(t) for t in raw["transitions"])
    plan_change = None
    if "plan_change" in raw:
        plan_change = _transition({"key": PLAN_CHANGE, "label": "Plan change", "from": [s.key for s in stages],
                                   "to": "", "roles": [], **raw["plan_change"]})
    return Workflow(raw["key"], raw["label"], raw["initial_stage"], stages, transitions, plan_change)


def _transition(t: Mapping[str, Any]) -> Transition:
    return Transition(
        key=t["key"], label=t["label"], sources=tuple(t["from"]), target=t["to"],
        roles=tuple(t["roles"]), condition=_expr(t.get("condition")),
        required_fields=tuple(t.get("required_fields", ())),
        required_evidence=tuple(t.get("required_evidence", ())),
        approvals=tuple(_approval_step(a) for a in t.get("approvals", ())),
        reject_to=t.get("reject_to"), escalate_after_days=t.get("escalate_after_days"),
        escalate_to=t.get("escalate_to"), approval_content=_approval_content(t),
        on_change=t.get("on_change", "refuse"),
    )


def _overlap(raw: Mapping[str, Any] | None) -> Overlap | None:
    if raw is None:
        return None
    return Overlap(tuple(raw["keys"]), raw["grid"], raw["scenario"], float(raw.get("min_overlap", 0)))


def _approval_step(raw: Mapping[str, Any]) -> ApprovalStep:
    """One step: ``role``, or ``roles`` for a cross-role quorum (one approval from each)."""
    roles = tuple(raw["roles"]) if "roles" in raw else (raw["role"],)
    quorum = raw["quorum"]["n"] if isinstance(raw.get("quorum"), dict) else \
        raw.get("quorum", "all" if "roles" in raw else "any")
    return ApprovalStep(raw["key"], raw["label"], roles[0], _expr(raw.get("threshold")), quorum,
                        raw.get("same_approver_allowed", False), roles, raw.get("parallel_with_previous", False))


def _measures(items: list[dict[str, Any]] | None) -> tuple[ReportMeasure, ...]:
    return tuple(ReportMeasure(m["label"], m["field"], m.get("aggregate", "sum"), m.get("target"),
                               m.get("compare_to", "target" if "target" in m else ""), m.get("better", "higher"),
                               float(m.get("tolerance", 10)), m.get("scenario")) for m in items or ())


def _section(raw: Mapping[str, Any], report_level: str, fields: Mapping[str, Field]) -> ReportSection:
    series = _measures(raw.get("series"))
    if "field" in raw:
        fld = fields.get(raw["field"])
        series = (ReportMeasure(fld.label if fld else raw["field"], raw["field"], raw.get("aggregate", "sum")),)
    return ReportSection(
        type=raw["type"], title=raw.get("title", ""), level=raw.get("level", report_level),
        filter=_expr(raw.get("filter")), new_page=raw.get("new_page", False),
        tiles=_measures(raw.get("tiles")), columns=tuple(raw.get("columns", ())),
        group_by=raw.get("group_by"), totals=raw.get("totals", False), sort=raw.get("sort"),
        descending=raw.get("descending", False), chart=raw.get("chart"), field=raw.get("field"), series=series,
        stacked=raw.get("stacked", False), steps=_measures(raw.get("steps")),
        limit=raw.get("limit"), text=raw.get("text", ""), column_by=raw.get("column_by"),
        row_colors=tuple(RowColor(_expr(c["when"]), c["color"], c.get("label") or c["color"].capitalize())  # type: ignore[arg-type]
                         for c in raw.get("row_colors", ())),
    )


def _report(raw: Mapping[str, Any], fields: Mapping[str, Field]) -> Report:
    page = raw.get("page", {})
    return Report(
        raw["key"], raw["title"], tuple(raw["audience"]), raw["level"], _expr(raw.get("filter")),
        page.get("size", "A4"), page.get("orientation", "portrait"),
        tuple(_section(s, raw["level"], fields) for s in raw["sections"]), page.get("cover", False),
        tuple(raw.get("home_for", ())), tuple(raw.get("snapshot_by", ())),
    )


def _build(docs: Mapping[str, Any], version: int) -> TenantConfig:
    tenant = docs["tenant"]
    fields = {raw["key"]: _field(raw) for raw in docs["fields"]["fields"]}
    raw_levels = docs["levels"]["levels"]
    levels = {
        raw["key"]: _level(raw, fields, tuple(c["key"] for c in raw_levels if raw["key"] in c["parents"]))
        for raw in raw_levels
    }
    roles = {
        r["key"]: Role(
            r["key"], r["label"], r.get("description", ""), tuple(r.get("admin", ())),
            tuple(Permission(tuple(p["levels"]), tuple(p["actions"]), p["scope"]) for p in r["permissions"]),
            frozen_map(r.get("fields")),
        )
        for r in docs["roles"]["roles"]
    }
    exceptions = docs["exceptions"]
    return TenantConfig(
        key=tenant["key"], name=tenant["name"], currency=tenant["currency"], locale=tenant["locale"],
        timezone=tenant.get("timezone", "UTC"),
        fiscal_year_start=tenant["fiscal_year_start"], periods=_periods(tenant["reporting"]),
        branding=frozen_map(tenant.get("branding")),
        fields=frozen_map(fields), levels=frozen_map(levels), roles=frozen_map(roles),
        workflows=frozen_map({w["key"]: _workflow(w) for w in docs["workflows"]["workflows"]}),
        status_dimensions=frozen_map({
            d["key"]: StatusDimension(d["key"], d["label"], tuple(d["levels"]), _options(d["options"]),
                                      d.get("default"), tuple(d.get("comment_required_for", ())))
            for d in docs["workflows"].get("status_dimensions", [])
        }),
        forums=frozen_map({f["key"]: Forum(f["key"], f["label"], f.get("role"))
                           for f in exceptions.get("forums", [])}),
        exception_rules=frozen_map({
            r["key"]: ExceptionRule(
                r["key"], r["label"], r["level"], _expr(r.get("condition")), r["owner_role"], r.get("forum"),
                r["due_days"], tuple(r.get("required_evidence", ())),
                tuple((e["after_days"], e["to"]) for e in r.get("escalation", ())),
                r.get("close_when_clear", False), _capacity(r.get("capacity")), _overlap(r.get("overlap")),
            )
            for r in exceptions["rules"]
        }),
        reports=frozen_map({r["key"]: _report(r, fields) for r in docs["reports"]["reports"]}),
        version=version,
    )
