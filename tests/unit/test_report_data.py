"""A report's data for one reader, without Flask: the numbers equal sums computed here
independently, and what a reader may not see gives no value anywhere (a tile says
"Hidden", a column is named as hidden, a partly hidden total says how much was left out)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from configs import minimal_documents
from sqlalchemy import event, select, update
from werkzeug.datastructures import MultiDict

from steerco.demo import load_demo
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Submission
from steerco.reports.data import build_report, readable_reports, report_json
from steerco.store.models import PeriodValue, Record, Tenant, User

PACK = {
    "key": "pack", "title": "Steering pack", "audience": ["admin", "partial", "lead"], "level": "measure",
    "filter": "stage != 'closed'",
    "sections": [
        {"type": "kpi_tiles", "title": "Figures", "tiles": [
            {"label": "Potential", "field": "potential", "aggregate": "sum"},
            {"label": "Average potential", "field": "potential", "aggregate": "avg"},
            {"label": "Measures", "field": "category", "aggregate": "count"},
            {"label": "Capex", "field": "capex_amount", "aggregate": "sum"},
            {"label": "Latest due date", "field": "due", "aggregate": "max"}]},
        {"type": "table", "title": "By category", "columns": ["number", "title", "category", "potential", "weighted"],
         "group_by": "category", "totals": True, "sort": "potential", "descending": True},
        {"type": "table", "title": "By program", "columns": ["number", "potential"], "group_by": "program",
         "totals": True},
        {"type": "chart", "title": "Funnel", "chart": "stage_funnel", "field": "potential"},
        {"type": "chart", "title": "By category", "chart": "bar", "group_by": "category",
         "series": [{"label": "Potential", "field": "potential"}, {"label": "Weighted", "field": "weighted"}]},
        {"type": "chart", "title": "Top two", "chart": "bar", "field": "potential", "limit": 2},
        {"type": "chart", "title": "Bridge", "chart": "waterfall", "steps": [
            {"label": "Potential", "field": "potential"}, {"label": "Weighted", "field": "weighted"}]},
        {"type": "chart", "title": "Plan and actual", "chart": "line", "field": "financials"},
        {"type": "text", "title": "Reading", "text": "Potential is annual."},
    ],
}

#: (program, title, stage, values); "closed" measures are outside the report's filter
MEASURES = [
    ("A", "Steel", "defined", {"potential": "500", "category": "procurement", "has_capex": "1", "capex_amount": "70",
                               "due": "2026-03-31",
                               "financials.plan.2026-01": "10", "financials.actual.2026-01": "8"}),
    ("A", "Copper", "decided", {"potential": "300", "category": "procurement", "financials.plan.2026-02": "5"}),
    ("A", "Payroll", "defined", {"potential": "120", "category": "personnel", "has_capex": "0"}),
    ("A", "Old", "closed", {"potential": "9999", "category": "personnel"}),
    ("B", "Energy", "decided", {"potential": "800", "category": "personnel", "has_capex": "1", "capex_amount": "30",
                                "due": "2026-02-28",
                                "financials.plan.2026-01": "20"}),
    ("B", "Idea", "defined", {}),
]


def documents() -> dict[str, Any]:
    docs = minimal_documents()
    docs["roles"]["roles"] += [
        {"key": "partial", "label": "Reader without potential", "fields": {"potential": "hidden"},
         "permissions": [{"levels": ["*"], "actions": ["read"], "scope": "tenant"}]},
        {"key": "lead", "label": "Program lead",
         "permissions": [{"levels": ["*"], "actions": ["read"], "scope": "subtree"}]},
    ]
    docs["reports"] = {"reports": [copy.deepcopy(PACK)]}
    return docs


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    records = records_for(tenant, admin)
    programs = {name: records.create("program", None, Submission(f"Program {name}", MultiDict())) for name in "AB"}
    for program, title, stage, values in MEASURES:
        measure = records.create("measure", programs[program], Submission(title, MultiDict(values)))
        session.execute(update(Record).where(Record.id == measure.id).values(stage_key=stage))
    session.commit()
    people = {
        "admin": admin,
        "blind": make_user(tenant, [("partial", None)]),
        "mixed": make_user(tenant, [("partial", None), ("lead", programs["A"].id)]),
    }
    return tenant, programs, people


def build(session, tenant: Tenant, user: User, report: str = "pack", **options: Any):  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    access = Access(config, tenants.actor_for(session, tenant, user))
    return build_report(session, tenant.id, config, access, config.reports[report], **options)


def open_measures() -> list[tuple[str, str, str, dict[str, str]]]:
    return [m for m in MEASURES if m[2] != "closed"]


def total(field: str, rows=None) -> float:  # type: ignore[no-untyped-def]
    return sum(float(v[field]) for _, _, _, v in (rows or open_measures()) if field in v)


def tiles(data) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {t.label: t for t in data.sections[0].tiles}


def test_tiles_equal_sums_computed_independently(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, people = world
    data = build(session, tenant, people["admin"])
    shown = tiles(data)
    with_potential = [m for m in open_measures() if "potential" in m[3]]
    assert shown["Potential"].value == total("potential") == 1720
    assert shown["Potential"].text == "€1,720"
    assert shown["Average potential"].value == pytest.approx(total("potential") / len(with_potential))
    assert shown["Measures"].value == len([m for m in open_measures() if "category" in m[3]]) == 4
    # capex counts only where it is shown: has_capex ticked
    assert shown["Capex"].value == 100
    assert (shown["Latest due date"].value, shown["Latest due date"].text) == ("2026-03-31", "31 Mar 2026")


def test_table_groups_rows_with_subtotals_that_add_up_to_the_total(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, people = world
    table = build(session, tenant, people["admin"]).sections[1].table
    assert [c.label for c in table.columns] == ["No.", "Title", "Category", "Potential", "Weighted potential"]
    assert [c.totals for c in table.columns] == [False, False, False, True, True]
    groups = {g.label: g for g in table.groups}
    assert list(groups) == ["Procurement", "Personnel", "No value"]  # option order, then no value
    assert [r.cells[1].text for r in groups["Procurement"].rows] == ["Steel", "Copper"]  # potential descending
    for label, category in (("Procurement", "procurement"), ("Personnel", "personnel")):
        rows = [m for m in open_measures() if m[3].get("category") == category]
        assert groups[label].subtotal[3].value == total("potential", rows)
        assert groups[label].subtotal[4].value == total("potential", rows) / 2
    assert sum(g.subtotal[3].value or 0 for g in table.groups) == table.total[3].value == 1720
    assert table.records == 5 and table.grouped_by == "Category"


def test_a_table_groups_by_a_level_above(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, programs, people = world
    table = build(session, tenant, people["admin"]).sections[2].table
    by_program = {g.label: g for g in table.groups}
    a, b = (f"{programs[p].number} Program {p}" for p in "AB")
    assert list(by_program) == [a, b]
    assert by_program[a].subtotal[1].value == 920 and by_program[b].subtotal[1].value == 800
    assert [len(g.rows) for g in table.groups] == [3, 2]


def test_charts_carry_the_same_numbers(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, people = world
    sections = {s.title: s for s in build(session, tenant, people["admin"]).sections}
    funnel = sections["Funnel"].chart
    assert funnel.labels == ("Defined", "Decided", "Closed")
    assert funnel.series[0][1] == (620.0, 1100.0, 0)  # the closed one is outside the filter
    bars = sections["By category"].chart
    assert bars.labels == ("Procurement", "Personnel", "No value")
    assert bars.series == (("Potential", (800.0, 920.0, None)), ("Weighted", (400.0, 460.0, 0.0)))
    assert sections["Top two"].chart.labels[0].endswith("Energy") and len(sections["Top two"].chart.labels) == 2
    bridge = sections["Bridge"].chart
    assert bridge.labels == ("Potential", "Change to Weighted", "Weighted")
    assert bridge.series[0][1] == (1720.0, -860.0, 860.0)
    line = dict(sections["Plan and actual"].chart.series)
    assert line["Plan"][:3] == (30.0, 5.0, None) and line["Actual"][0] == 8.0
    for section in sections.values():
        if section.chart is not None:
            assert str(section.chart.svg).startswith("<svg") and 'role="img"' in str(section.chart.svg)


def test_a_reader_who_sees_a_field_in_part_of_the_tree_gets_that_part_and_is_told(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, programs, people = world
    config = tenants.active_config(session, tenant)
    access = Access(config, tenants.actor_for(session, tenant, people["mixed"]))
    potential = config.levels["measure"].field("potential")
    rows = list(session.scalars(select(Record).where(Record.tenant_id == tenant.id, Record.level_key == "measure",
                                                     Record.stage_key != "closed")))
    seen = [r for r in rows if access.field_mode(potential, r, "measure") != "hidden"]
    expected = sum(r.values.get("potential") or 0 for r in seen)
    left_out = len([r for r in rows if r not in seen and r.values.get("potential") is not None])
    data = build(session, tenant, people["mixed"])
    tile = tiles(data)["Potential"]
    assert (tile.value, tile.left_out) == (expected, left_out) == (920, 1)
    assert "1 value of Potential you may not see is left out." in data.sections[0].notes
    by_title = {r.cells[1].text: r.cells[3] for g in data.sections[1].table.groups for r in g.rows}
    assert by_title["Energy"].hidden and by_title["Energy"].value is None and not by_title["Steel"].hidden


def test_a_field_hidden_from_the_reader_gives_no_value_anywhere(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, people = world
    data = build(session, tenant, people["blind"])
    assert tiles(data)["Potential"].hidden and tiles(data)["Potential"].text == "Hidden"
    assert tiles(data)["Measures"].value == 4  # what they may see still counts
    table = data.sections[1].table
    assert table.hidden_columns == ("Potential", "Weighted potential")
    assert [c.key for c in table.columns] == ["number", "title", "category"]
    sections = {s.title: s for s in data.sections}
    assert sections["Funnel"].chart is None and sections["Funnel"].notes == ("Potential is hidden from you.",)
    assert sections["Plan and actual"].chart is not None
    body = json.dumps(report_json(data))
    for secret in ("1720", "1,720", "920", "800.0", "Energy\", \"value\": 800"):
        assert secret not in body


def test_a_section_selected_by_a_hidden_field_shows_nothing(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, people = world
    docs = documents()
    docs["reports"]["reports"][0]["filter"] = "potential > 200 and stage != 'closed'"
    tenants.store_config(session, docs)
    session.commit()
    data = build(session, tenant, people["blind"])
    for section in data.sections[:-1]:
        assert section.tiles == () and section.table is None and section.chart is None
        assert section.notes == ("This section selects records by Potential, which you may not see, so it shows "
                                 "nothing.",)
    assert tiles(build(session, tenant, people["admin"]))["Potential"].value == 1600


def test_a_report_limited_to_a_subtree(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, programs, people = world
    data = build(session, tenant, people["admin"], under=programs["B"])
    assert tiles(data)["Potential"].value == 800 and data.scope == f"{programs['B'].number} Program B"


def test_the_report_list_follows_the_audience(session, world, make_user) -> None:  # type: ignore[no-untyped-def]
    tenant, _, people = world
    config = tenants.active_config(session, tenant)
    owner = make_user(tenant, [("owner", None)])
    for user, expected in ((people["mixed"], ["pack"]), (owner, [])):
        access = Access(config, tenants.actor_for(session, tenant, user))
        assert [r.key for r in readable_reports(config, access)] == expected


def test_the_json_holds_the_same_content(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, people = world
    data = build(session, tenant, people["admin"])
    body = json.loads(json.dumps(report_json(data)))
    assert body["title"] == "Steering pack" and body["sections"][0]["id"] == "section-1"
    assert body["sections"][0]["tiles"][0]["value"] == 1720
    assert body["sections"][3]["chart"]["labels"] == ["Defined", "Decided", "Closed"]
    assert "svg" not in body["sections"][3]["chart"]
    assert body["data_version"] == data.data_version > 0


def test_statements_stay_flat_as_records_grow(session, db_engine, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, programs, people = world
    counts = []
    for extra in (0, 30):
        records = records_for(tenant, people["admin"])
        for n in range(extra):
            records.create("measure", programs["B"], Submission(f"Extra {n}", MultiDict({
                "potential": str(n), "category": "personnel", "financials.plan.2026-03": "1"})))
        session.commit()
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db_engine, "before_cursor_execute", listener)
        try:
            build(session, tenant, people["mixed"])
        finally:
            event.remove(db_engine, "before_cursor_execute", listener)
        counts.append(len(statements))
    assert counts[0] == counts[1] and counts[0] < 40, counts


@pytest.mark.parametrize("slug", ["acme", "servicedesk"])
def test_the_sql_field_filter_agrees_with_the_per_record_decision(session, slug) -> None:  # type: ignore[no-untyped-def]
    """For every demo user and every field: the records ``field_filter`` selects are exactly
    those on which ``field_mode`` does not hide the field (the aggregates rest on this)."""
    load_demo(session)
    session.commit()
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    config = tenants.active_config(session, tenant)
    records = list(session.scalars(select(Record).where(Record.tenant_id == tenant.id)))
    users = session.scalars(select(User).where(User.email.like(f"%@{slug}.example"))).all()
    wrong = []
    for user in users:
        access = Access(config, tenants.actor_for(session, tenant, user))
        for level in config.levels.values():
            readable = {r.id for r in records if r.level_key == level.key and access.can("read", level.key, r)}
            for fld in level.fields:
                expected = {r.id for r in records if r.id in readable
                            and access.field_mode(fld, r, level.key) != "hidden"}
                found = set(session.scalars(select(Record.id).where(
                    Record.tenant_id == tenant.id, Record.level_key == level.key, access.read_filter(level.key),
                    access.field_filter(fld, level.key))))
                if found != expected:
                    wrong.append(f"{user.email} {level.key}.{fld.key}")
    assert wrong == []


def test_money_grid_totals_come_from_the_time_phased_table(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, people = world
    stored = session.scalars(select(PeriodValue).where(PeriodValue.tenant_id == tenant.id,
                                                       PeriodValue.period == "2026-01",
                                                       PeriodValue.scenario == "plan")).all()
    assert sum(v.amount for v in stored) == Decimal("30")
    line = dict(build(session, tenant, people["blind"]).sections[7].chart.series)
    assert line["Plan"][0] == 30.0
