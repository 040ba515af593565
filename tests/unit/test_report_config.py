"""Report layouts in reports.json: what a consultant may write, what is refused and why.

Each case plants one layout in the full test tenant and compiles it through the real
compiler; a refusal names its file, JSON pointer and code, like every other config error.
"""

from __future__ import annotations

from typing import Any

import pytest
from configs import full_documents

from steerco.config import ConfigInvalid, compile_config
from steerco.config.model import ReportMeasure, ReportSection


def with_sections(*sections: dict[str, Any], **report: Any) -> dict[str, Any]:
    docs = full_documents()
    docs["reports"]["reports"][0].update(report)
    docs["reports"]["reports"][0]["sections"] = list(sections)
    return docs


def problems(docs: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigInvalid) as caught:
        compile_config(docs)
    return [(p.pointer, p.code) for p in caught.value.problems]


def test_a_layout_compiles_into_typed_sections() -> None:
    config = compile_config(with_sections(
        {"type": "kpi_tiles", "title": "Money", "tiles": [{"label": "Potential", "field": "potential",
                                                           "aggregate": "sum"}]},
        {"type": "chart", "chart": "bar", "group_by": "category", "stacked": True, "limit": 5,
         "series": [{"label": "Potential", "field": "potential"}, {"label": "Weighted", "field": "weighted"}]},
        {"type": "chart", "chart": "waterfall", "steps": [{"label": "Target", "field": "potential"},
                                                          {"label": "Weighted", "field": "weighted"}]},
        {"type": "table", "level": "program", "columns": ["number", "title"], "new_page": True},
        page={"size": "A3", "orientation": "portrait", "cover": True},
    ))
    report = config.reports["steerco"]
    tiles, bars, bridge, programs = report.sections
    assert report.cover and report.page_size == "A3"
    assert tiles == ReportSection("kpi_tiles", "Money", "measure", tiles=(ReportMeasure("Potential", "potential"),))
    assert bars.series == (ReportMeasure("Potential", "potential"), ReportMeasure("Weighted", "weighted"))
    assert bars.stacked and bars.limit == 5 and bars.field is None and bars.group_by == "category"
    assert [s.field for s in bridge.steps] == ["potential", "weighted"]
    assert programs.level == "program" and programs.new_page


def test_a_chart_of_one_field_is_a_chart_of_one_series_labelled_by_the_field() -> None:
    config = compile_config(with_sections({"type": "chart", "chart": "stage_funnel", "field": "potential",
                                           "aggregate": "count"}))
    funnel = config.reports["steerco"].sections[0]
    assert funnel.field == "potential" and funnel.series == (ReportMeasure("Potential", "potential", "count"),)


@pytest.mark.parametrize("filter_, message", [
    ("potential * 2 > 100", "compares more than a field with a literal"),
    ("'defined' in stage", "'in' needs a field on its left"),
    ("days_until(due) < 0", "compares more than a field with a literal"),
    ("len(title)", "cannot be evaluated by the database"),
    ("potential if has_capex else 0", "cannot be evaluated by the database"),
    ("potential is 5", "'is' compares with None only"),
])
def test_a_filter_the_database_cannot_evaluate_is_refused_with_what_filters_may_use(filter_, message) -> None:
    docs = with_sections({"type": "text", "text": "x"}, filter=filter_)
    with pytest.raises(ConfigInvalid) as caught:
        compile_config(docs)
    problem = next(p for p in caught.value.problems if p.code == "filter_not_sql")
    assert problem.pointer == "/reports/0/filter" and message in problem.message
    assert "comparisons" in problem.message or "'in'" in problem.message or "'is'" in problem.message


@pytest.mark.parametrize("filter_", [
    "stage != 'closed' and potential >= 100", "category in ['procurement'] or not has_capex",
    "not empty(due) and due < today", "potential is None", "title == 'Alpha'", "100 <= potential",
])
def test_filters_the_database_evaluates_are_accepted(filter_) -> None:
    assert compile_config(with_sections({"type": "text", "text": "x"}, filter=filter_)).reports["steerco"].filter


@pytest.mark.parametrize("section, pointer, code", [
    ({"type": "kpi_tiles", "tiles": [{"label": "x", "field": "description", "aggregate": "sum"}]},
     "/reports/0/sections/0/tiles/0/field", "bad_measure"),
    ({"type": "kpi_tiles", "tiles": [{"label": "x", "field": "financials", "aggregate": "sum"}]},
     "/reports/0/sections/0/tiles/0/field", "bad_measure"),
    ({"type": "chart", "chart": "line", "field": "potential"}, "/reports/0/sections/0/field", "bad_measure"),
    ({"type": "chart", "chart": "bar", "series": [{"label": "x", "field": "due", "aggregate": "sum"}]},
     "/reports/0/sections/0/series/0/field", "bad_measure"),
    ({"type": "chart", "chart": "bar", "field": "potential", "series": [{"label": "x", "field": "potential"}]},
     "/reports/0/sections/0", "chart_measure"),
    ({"type": "chart", "chart": "waterfall"}, "/reports/0/sections/0", "chart_measure"),
    ({"type": "chart", "chart": "bar", "series": [{"label": "x", "field": "potential"}], "aggregate": "avg"},
     "/reports/0/sections/0/aggregate", "chart_measure"),
    ({"type": "table", "columns": ["number"], "group_by": "evidence"}, "/reports/0/sections/0/group_by",
     "bad_group"),
    ({"type": "table", "columns": ["number"], "group_by": "organisation"}, "/reports/0/sections/0/group_by",
     "unknown_column"),
    ({"type": "table", "columns": ["number"], "sort": "potentail"}, "/reports/0/sections/0/sort", "unknown_column"),
    ({"type": "table", "level": "progam", "columns": ["number"]}, "/reports/0/sections/0/level", "unknown_level"),
    ({"type": "table", "level": "program", "columns": ["potential"]}, "/reports/0/sections/0/columns/0",
     "unknown_column"),
    ({"type": "table", "columns": ["number"], "filter": "not empty(financials)"}, "/reports/0/sections/0/filter",
     "filter_not_sql"),
    ({"type": "text", "text": "x", "level": "program"}, "/reports/0/sections/0/level", "schema.not_allowed"),
    ({"type": "table", "columns": ["number"], "filter": "stage in ['defined', 'decidd']"},
     "/reports/0/sections/0/filter", "unknown_stage"),
])
def test_each_layout_mistake_is_named_at_its_pointer(section, pointer, code) -> None:
    assert (pointer, code) in problems(with_sections(section))


def test_tables_group_by_a_field_a_system_column_or_a_level_above() -> None:
    for group_by in ("category", "stage", "owner", "program"):
        config = compile_config(with_sections({"type": "table", "columns": ["number", "potential"],
                                               "group_by": group_by, "totals": True}))
        assert config.reports["steerco"].sections[0].group_by == group_by


def test_the_demo_layouts_compile() -> None:
    from steerco.config.loader import read_folder
    from steerco.settings import RESOURCE_ROOT

    for slug in ("acme", "servicedesk"):
        documents, found = read_folder(str(RESOURCE_ROOT / "tenants" / slug))
        assert not found
        assert compile_config(documents).reports
