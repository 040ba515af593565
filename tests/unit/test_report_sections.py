"""Cross-tabs, row colours (RAG), approval lists and drill-downs of reports (issue 11),
added to a tenant's reports.json with no code change. Every number equals one computed
here from the test's own data; what a reader may not see colours nothing and counts nowhere.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import update
from werkzeug.datastructures import MultiDict

from steerco.config.errors import ConfigInvalid
from steerco.config.compiler import compile_config
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Submission
from steerco.engine.workflow import Workflows
from steerco.reports.data import NO_VALUE, build_report, drill
from steerco.store.models import Record

from .test_report_data import MEASURES, documents as pack_documents, open_measures

SECTIONS = [
    {"type": "crosstab", "title": "Potential by category and stage", "group_by": "category", "column_by": "stage",
     "field": "potential"},
    {"type": "crosstab", "title": "Measures by program and category", "group_by": "program", "column_by": "category"},
    {"type": "table", "title": "Coloured", "columns": ["number", "title", "potential"],
     "row_colors": [{"when": "potential >= 500", "color": "red", "label": "Big"},
                    {"when": "potential < 500", "color": "green"}]},
    {"type": "approvals", "title": "Waiting"},
    {"type": "exceptions", "title": "Open exceptions"},
]


def documents() -> dict[str, Any]:
    docs = pack_documents()
    docs["reports"]["reports"].append({"key": "extra", "title": "Extra", "audience": ["admin", "partial", "lead"],
                                       "level": "measure", "filter": "stage != 'closed'",
                                       "sections": copy.deepcopy(SECTIONS)})
    decide = docs["workflows"]["workflows"][0]["transitions"][0]
    decide["approvals"] = [{"key": "board", "label": "Board decision", "role": "admin"}]
    docs["exceptions"] = {"forums": [{"key": "board", "label": "Board", "role": "admin"}],
                          "rules": [{"key": "big", "label": "Big measure", "level": "measure", "forum": "board",
                                     "condition": "potential >= 500", "owner_role": "admin", "due_days": 3}]}
    return docs


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin, second = make_user(tenant), make_user(tenant)
    records = records_for(tenant, admin)
    programs = {name: records.create("program", None, Submission(f"Program {name}", MultiDict())) for name in "AB"}
    made = {}
    for program, title, stage, values in MEASURES:
        measure = records.create("measure", programs[program], Submission(title, MultiDict(values)))
        session.execute(update(Record).where(Record.id == measure.id).values(stage_key=stage))
        made[title] = measure
    session.commit()
    people = {
        "admin": admin, "second": second,
        "blind": make_user(tenant, [("partial", None)]),
        "mixed": make_user(tenant, [("partial", None), ("lead", programs["A"].id)]),
        "lead_b": make_user(tenant, [("lead", programs["B"].id)]),
    }
    return tenant, programs, made, people


def _access(session, tenant, user):  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    return config, Access(config, tenants.actor_for(session, tenant, user))


def _sections(session, tenant, user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    config, access = _access(session, tenant, user)
    data = build_report(session, tenant.id, config, access, config.reports["extra"])
    return {s.title: s for s in data.sections}


def _cells(crosstab) -> dict[tuple[str, str], Any]:  # type: ignore[no-untyped-def]
    return {(row.label, label): cell.value for row in crosstab.rows
            for label, cell in zip(crosstab.columns, row.cells) if cell.text != "–"}


def test_a_crosstab_sums_each_cell_and_totals_like_an_independent_sum(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people = world
    x = _sections(session, tenant, people["admin"])["Potential by category and stage"].crosstab
    expected: dict[tuple[str, str], float] = {}
    for _, _, stage, values in open_measures():
        if "potential" in values:
            key = ({"procurement": "Procurement", "personnel": "Personnel"}.get(values.get("category"), "No value"),
                   stage.capitalize())
            expected[key] = expected.get(key, 0) + float(values["potential"])
    assert _cells(x) == expected
    assert x.columns == ("Defined", "Decided")  # workflow order
    assert x.total.value == sum(expected.values()) == 1720
    by_row = {row.label: row.total.value for row in x.rows}
    assert by_row["Procurement"] == 800 and by_row["Personnel"] == 920
    assert dict(zip(x.columns, (c.value for c in x.totals))) == {"Defined": 620, "Decided": 1100}


def test_a_crosstab_without_a_field_counts_records_and_groups_by_an_ancestor(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people = world
    x = _sections(session, tenant, people["admin"])["Measures by program and category"].crosstab
    assert x.measure == "Number of Measures"
    counts = {(label.rsplit(" ", 1)[-1], column): n for (label, column), n in _cells(x).items()}
    expected: dict[tuple[str, str], int] = {}
    for program, _, _, values in open_measures():
        column = {"procurement": "Procurement", "personnel": "Personnel"}.get(values.get("category"), "No value")
        expected[(program, column)] = expected.get((program, column), 0) + 1
    assert counts == expected
    assert x.total.value == len(open_measures())


def test_a_crosstab_leaves_out_what_the_reader_may_not_see_and_says_so(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people = world
    blind = _sections(session, tenant, people["blind"])["Potential by category and stage"]
    assert all(cell.hidden for row in blind.crosstab.rows for cell in row.cells)
    assert blind.notes == ("Potential is hidden from you.",)
    mixed = _sections(session, tenant, people["mixed"])["Potential by category and stage"]
    in_a = [v for p, _, stage, v in open_measures() if p == "A" and "potential" in v]
    assert mixed.crosstab.total.value == sum(float(v["potential"]) for v in in_a) == 920
    left_out = len([v for p, _, _, v in open_measures() if p == "B" and "potential" in v])
    assert mixed.notes == (f"{left_out} value of Potential you may not see is left out.",)
    lead_b = _sections(session, tenant, people["lead_b"])["Potential by category and stage"]
    assert lead_b.crosstab.total.value == 800  # only program B's records


def test_rows_take_the_colour_of_the_first_rule_that_holds_and_only_on_what_the_reader_sees(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, made, people = world
    rows = {r.number: r for g in _sections(session, tenant, people["admin"])["Coloured"].table.groups for r in g.rows}
    expected = {}
    for _, title, stage, values in open_measures():
        if "potential" in values:
            big = float(values["potential"]) >= 500
            expected[made[title].number] = ("red", "Big") if big else ("green", "Green")
        else:
            expected[made[title].number] = ("", "")
    assert {n: (r.color, r.color_label) for n, r in rows.items()} == expected
    blind = _sections(session, tenant, people["blind"])["Coloured"].table
    assert all(not r.color for g in blind.groups for r in g.rows)  # the colour would tell the hidden potential
    mixed = _sections(session, tenant, people["mixed"])["Coloured"].table
    coloured = {r.number for g in mixed.groups for r in g.rows if r.color}
    assert coloured == {made[t].number for p, t, s, v in open_measures() if p == "A" and "potential" in v}


def test_the_approvals_section_lists_waiting_steps_of_records_the_reader_may_read(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, programs, made, people = world
    assert _sections(session, tenant, people["admin"])["Waiting"].notes == ("No approval is waiting.",)
    config, access = _access(session, tenant, people["admin"])
    Workflows(session, tenant.id, config, access).request(made["Steel"], "decide", "Please")  # program A
    session.commit()
    waiting = _sections(session, tenant, people["admin"])["Waiting"].table
    rows = [r for g in waiting.groups for r in g.rows]
    assert [r.number for r in rows] == [made["Steel"].number]
    assert [c.text for c in rows[0].cells][2:4] == ["Decide", "Board decision"]
    assert _sections(session, tenant, people["lead_b"])["Waiting"].table is None  # program B only


def test_a_drill_down_lists_exactly_the_records_behind_a_number(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, made, people = world
    config, access = _access(session, tenant, people["admin"])
    report = config.reports["extra"]
    cell = drill(session, tenant.id, config, access, report, 0, row="procurement", column="defined")
    assert {r.title for r in cell.records} == {"Steel"} and cell.narrowed == ("Category: Procurement", "Stage: Defined")
    row = drill(session, tenant.id, config, access, report, 0, row="personnel")
    assert {r.title for r in row.records} == {"Payroll", "Energy"}
    empty = drill(session, tenant.id, config, access, report, 0, row=NO_VALUE)
    assert {r.title for r in empty.records} == {"Idea"}
    every = drill(session, tenant.id, config, access, report, 0)
    assert every.total == len(open_measures())
    config_b, access_b = _access(session, tenant, people["lead_b"])
    assert {r.title for r in drill(session, tenant.id, config_b, access_b, report, 0, row="personnel").records} == {"Energy"}
    with pytest.raises(LookupError):
        drill(session, tenant.id, config, access, report, 9)
    with pytest.raises(LookupError):
        drill(session, tenant.id, config, access, report, 1, row="not-a-number")  # program ids are numbers


def test_the_drill_down_page_links_each_record_and_refuses_strangers(client, session, world, login) -> None:  # type: ignore[no-untyped-def]
    tenant, _, made, people = world
    login(people["admin"].email)
    page = client.get(f"/t/{tenant.slug}/reports/extra")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"/t/{tenant.slug}/reports/extra/records?section=1&amp;row=procurement&amp;col=defined" in html
    assert 'class="rag rag-red"' in html and ">Big</span>" in html
    found = client.get(f"/t/{tenant.slug}/reports/extra/records?section=1&row=procurement&col=defined")
    assert found.status_code == 200 and made["Steel"].number in found.get_data(as_text=True)
    assert client.get(f"/t/{tenant.slug}/reports/extra/records?section=7").status_code == 404
    assert client.get(f"/t/{tenant.slug}/reports/nope/records?section=1").status_code == 404


@pytest.mark.parametrize("section, says", [
    ({"type": "crosstab", "group_by": "category"}, "column_by"),
    ({"type": "crosstab", "group_by": "category", "column_by": "nothing"}, "nothing"),
    ({"type": "chart", "chart": "bar", "field": "potential", "row_colors": [{"when": "potential > 1", "color": "red"}]},
     "row_colors"),
    ({"type": "table", "columns": ["number"], "row_colors": [{"when": "len(title) > 3", "color": "red"}]}, "when"),
    ({"type": "approvals", "group_by": "category"}, "group_by"),
])
def test_a_section_that_cannot_work_is_refused_where_it_is(section, says) -> None:  # type: ignore[no-untyped-def]
    docs = documents()
    docs["reports"]["reports"][-1]["sections"] = [section]
    with pytest.raises(ConfigInvalid) as refused:
        compile_config(docs)
    assert says in str(refused.value)


def test_a_leaders_home_shows_their_default_report_and_others_see_none(client, session, world, login) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people = world
    config, access = _access(session, tenant, people["admin"])
    from steerco.reports.data import home_report

    assert home_report(config, access) is None  # no report names a home yet
    docs = documents()
    docs["reports"]["reports"][-1]["home_for"] = ["admin"]
    tenants.store_config(session, docs)
    session.commit()
    config, access = _access(session, tenant, people["admin"])
    assert home_report(config, access).key == "extra"
    login(people["admin"].email)
    home = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert 'id="home-report"' in home and "Potential by category and stage" in home
    assert "Coloured" not in home  # tables stay in the full report
    _, blind_access = _access(session, tenant, people["blind"])
    assert home_report(config, blind_access) is None


def test_a_home_for_role_outside_the_audience_is_refused() -> None:
    docs = documents()
    docs["reports"]["reports"][-1]["home_for"] = ["owner"]
    with pytest.raises(ConfigInvalid) as refused:
        compile_config(docs)
    assert "home_not_audience" in str(refused.value) or "not in the report's audience" in str(refused.value)


def test_the_exceptions_section_lists_open_exceptions_of_records_the_reader_may_read(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, made, people = world
    open_big = {made[t].number for _, t, stage, v in open_measures() if float(v.get("potential", 0)) >= 500}
    rows = [r for g in _sections(session, tenant, people["admin"])["Open exceptions"].table.groups for r in g.rows]
    assert {r.number for r in rows} == open_big and all(r.cells[2].text == "Big measure" for r in rows)
    assert {r.cells[3].text for r in rows} == {"Board"}
    lead_b = [r for g in _sections(session, tenant, people["lead_b"])["Open exceptions"].table.groups for r in g.rows]
    assert {r.number for r in lead_b} == {made[t].number for p, t, s, v in open_measures()
                                         if p == "B" and float(v.get("potential", 0)) >= 500}
