"""The period filter, KPI tiles compared with a target or the last snapshot, and report
snapshots (issue 11), all added to a tenant's reports.json with no code change. Numbers
are the test's own data (``MEASURES`` of test_report_data); a reader never sees through a
snapshot what they may not see now.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from werkzeug.datastructures import MultiDict

from steerco.config.compiler import compile_config
from steerco.config.errors import ConfigInvalid
from steerco.engine import tenants, tokens
from steerco.engine.access import Access
from steerco.engine.errors import Forbidden
from steerco.engine.records import Submission
from steerco.reports import snapshots
from steerco.reports.data import build_report, drill
from steerco.reports.period import BadPeriod, depends_on_period, parse_period
from steerco.store.models import AuditEvent, Record, RoleAssignment

from .test_report_data import MEASURES, documents as pack_documents

TILES = {"type": "kpi_tiles", "title": "Against target", "tiles": [
    {"label": "Potential", "field": "potential", "aggregate": "sum", "target": 1500, "tolerance": 20},
    {"label": "Potential vs weighted", "field": "potential", "aggregate": "sum", "target": "weighted"},
    {"label": "Capex", "field": "capex_amount", "aggregate": "sum", "target": 120, "better": "lower"},
    {"label": "Measures", "field": "category", "aggregate": "count", "compare_to": "snapshot"}]}
LINE = {"type": "chart", "title": "Plan and actual", "chart": "line", "field": "financials"}
BARS = {"type": "chart", "title": "By category", "chart": "bar", "group_by": "category", "field": "potential"}
GRID = {"type": "kpi_tiles", "title": "Plan in the periods", "tiles": [
    {"label": "Plan", "field": "financials", "aggregate": "sum", "scenario": "plan", "target": 30},
    {"label": "Actual", "field": "financials", "aggregate": "sum", "scenario": "actual"}]}


def documents() -> dict[str, Any]:
    docs = pack_documents()
    docs["reports"]["reports"].append({"key": "cycle", "title": "Cycle", "audience": ["admin", "partial", "lead"],
                                       "snapshot_by": ["admin"], "level": "measure", "filter": "stage != 'closed'",
                                       "sections": copy.deepcopy([TILES, LINE, BARS, GRID])})
    return docs


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    records = records_for(tenant, admin)
    programs = {name: records.create("program", None, Submission(f"Program {name}", MultiDict())) for name in "AB"}
    made = {}
    for program, title, stage, values in MEASURES:
        made[title] = records.create("measure", programs[program], Submission(title, MultiDict(values)))
        session.execute(update(Record).where(Record.id == made[title].id).values(stage_key=stage))
    session.commit()
    people = {"admin": admin, "blind": make_user(tenant, [("partial", None)]),
              "lead_a": make_user(tenant, [("lead", programs["A"].id)])}
    return tenant, programs, made, people, records


def _reader(session, tenant, user):  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    return config, Access(config, tenants.actor_for(session, tenant, user))


def _build(session, tenant, user, **options):  # type: ignore[no-untyped-def]
    config, access = _reader(session, tenant, user)
    return build_report(session, tenant.id, config, access, config.reports["cycle"], **options)


def _tiles(data) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {t.label: t for s in data.sections for t in s.tiles}


# -- the period filter ---------------------------------------------------------------------
def test_a_period_range_narrows_the_time_phased_sections_only(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, made, people, _ = world
    config, _ = _reader(session, tenant, people["admin"])
    january = parse_period(config, "2026-01")
    both = parse_period(config, "2026-01", "2026-02")
    assert (january.param, both.param) == ("2026-01", "2026-01..2026-02")
    assert parse_period(config, "2026-02..2026-01") == both  # a reversed range is read the right way round
    whole = {s.title: s for s in _build(session, tenant, people["admin"]).sections}
    narrowed = {s.title: s for s in _build(session, tenant, people["admin"], period=both).sections}
    assert narrowed["Plan and actual"].chart.labels == tuple(p.label for p in config.periods[:2])
    assert dict(narrowed["Plan and actual"].chart.series)["Plan"] == (30.0, 5.0)
    assert len(whole["Plan and actual"].chart.labels) == len(config.periods)
    # what does not read time-phased values is the same with and without the filter
    assert narrowed["By category"].chart == whole["By category"].chart
    assert narrowed["Against target"].tiles == whole["Against target"].tiles
    # the sections the dashboard re-renders when the period changes
    only = _build(session, tenant, people["admin"], period=january,
                  only=lambda s: depends_on_period(config, s))
    assert [s.title for s in only.sections] == ["Plan and actual", "Plan in the periods"]
    # a tile of a time-phased field sums its scenario over the chosen periods (all without)
    grid = {t.label: t for t in only.sections[1].tiles}
    assert (grid["Plan"].value, grid["Actual"].value) == (30.0, 8.0)
    assert (grid["Plan"].comparison.delta, grid["Plan"].comparison.rag) == (0.0, "green")
    everything = {t.label: t.value for t in whole["Plan in the periods"].tiles}
    assert everything == {"Plan": 35.0, "Actual": 8.0}
    february = {t.label: t.value for t in _build(session, tenant, people["admin"],
                                                 period=parse_period(config, "2026-02")).sections[3].tiles}
    assert february == {"Plan": 5.0, "Actual": None}
    assert only.period == "2026-01" and only.period_label == config.periods[0].label
    # the drill-down of the line lists the records with an amount in the chosen periods
    _, access = _reader(session, tenant, people["admin"])
    report = config.reports["cycle"]
    in_january = drill(session, tenant.id, config, access, report, 1, period=january)
    assert {r.title for r in in_january.records} == {"Steel", "Energy"}
    in_february = drill(session, tenant.id, config, access, report, 1, period=parse_period(config, "2026-02"))
    assert {r.title for r in in_february.records} == {"Copper"}


@pytest.mark.parametrize("text", ["2020-01", "soon", "2026-01..2099-12"])
def test_a_period_outside_the_reporting_periods_is_refused_with_the_allowed_span(session, world, text) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people, _ = world
    config, _ = _reader(session, tenant, people["admin"])
    with pytest.raises(BadPeriod) as refused:
        parse_period(config, text)
    assert config.periods[0].key in refused.value.message and refused.value.status == 400


# -- KPI comparison ----------------------------------------------------------------------------
def test_tiles_compare_with_their_target_in_red_amber_green(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people, _ = world
    tiles = _tiles(_build(session, tenant, people["admin"], previous=None))
    potential = tiles["Potential"]  # 500 + 300 + 120 + 800 = 1720 against 1500: above, green
    assert potential.value == 1720 and potential.comparison.delta == 220
    assert (potential.comparison.direction, potential.comparison.rag) == ("up", "green")
    weighted = tiles["Potential vs weighted"].comparison  # the weighted potential is below the potential
    assert weighted.direction == "up" and weighted.rag == "green" and weighted.delta > 0
    assert weighted.reference.startswith("Target ")
    capex = tiles["Capex"].comparison  # 100 against 120, lower is better: green although below
    assert (capex.delta, capex.direction, capex.rag) == (-20, "down", "green")
    assert tiles["Measures"].comparison.note == "No earlier snapshot to compare with."


def test_a_target_hidden_from_the_reader_compares_nothing(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people, _ = world
    tiles = _tiles(_build(session, tenant, people["blind"]))
    assert tiles["Potential"].hidden and tiles["Potential"].comparison.delta is None
    assert tiles["Potential vs weighted"].comparison.delta is None


def test_amber_within_the_tolerance_red_beyond(session, world, make_tenant, make_user, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people, _ = world
    config, access = _reader(session, tenant, people["admin"])
    section = config.reports["cycle"].sections[0]
    import dataclasses

    for target, tolerance, rag in ((1800, 10, "amber"), (2500, 10, "red"), (2500, 40, "amber")):
        tile = dataclasses.replace(section.tiles[0], target=target, tolerance=tolerance)
        report = dataclasses.replace(config.reports["cycle"], sections=(dataclasses.replace(section, tiles=(tile,)),))
        data = build_report(session, tenant.id, config, access, report, previous=None)
        assert data.sections[0].tiles[0].comparison.rag == rag, (target, tolerance)


# -- snapshots ------------------------------------------------------------------------------------
def test_a_snapshot_keeps_each_view_and_later_changes_do_not_touch_it(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, programs, made, people, records = world
    config, admin = _reader(session, tenant, people["admin"])
    report = config.reports["cycle"]
    taken = snapshots.take(session, tenant.id, config, report, by=admin, label="March committee")
    session.commit()
    assert session.scalar(select(AuditEvent).where(AuditEvent.kind == "report.snapshot")).data["label"] == \
        "March committee"
    records.create("measure", programs["B"], Submission("Late", MultiDict({"potential": "1000", "category": "personnel"})))
    session.commit()
    live = _tiles(_build(session, tenant, people["admin"]))
    kept = _tiles(snapshots.view_for(session, tenant.id, config, admin, taken))
    assert kept["Potential"].value == 1720 and live["Potential"].value == 2720
    # the tile compared with the snapshot says how many measures came since
    assert (live["Measures"].comparison.delta, live["Measures"].comparison.direction) == (1, "up")
    # each reader gets the view built for what they may see: no potential for "blind"
    _, blind = _reader(session, tenant, people["blind"])
    assert _tiles(snapshots.view_for(session, tenant.id, config, blind, taken))["Potential"].hidden
    _, lead = _reader(session, tenant, people["lead_a"])
    lead_view = snapshots.view_for(session, tenant.id, config, lead, taken)
    assert _tiles(lead_view)["Potential"].value == 920  # program A only: 500 + 300 + 120
    assert lead_view.snapshot == "March committee"


def test_a_reader_never_sees_through_a_snapshot_what_they_may_not_see_now(session, world, make_user) -> None:  # type: ignore[no-untyped-def]
    tenant, programs, _, people, _ = world
    config, admin = _reader(session, tenant, people["admin"])
    taken = snapshots.take(session, tenant.id, config, config.reports["cycle"], by=admin)
    session.commit()
    # a role taken away: the view of the old grants is no longer theirs
    session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == people["lead_a"].id))
    session.commit()
    outsider = make_user(tenant, [("lead", programs["B"].id)])  # joined later, a view no one had: none
    for user in (people["lead_a"], outsider):
        _, access = _reader(session, tenant, user)
        assert snapshots.view_for(session, tenant.id, config, access, taken) is None
    # someone who joins later holding more than a view's grants sees that narrower view
    later = make_user(tenant, [("partial", None), ("lead", programs["B"].id)])
    _, access = _reader(session, tenant, later)
    assert _tiles(snapshots.view_for(session, tenant.id, config, access, taken))["Potential"].hidden


def test_only_the_snapshot_roles_take_snapshots(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people, _ = world
    config, blind = _reader(session, tenant, people["blind"])
    with pytest.raises(Forbidden):
        snapshots.take(session, tenant.id, config, config.reports["cycle"], by=blind)


@pytest.mark.parametrize("change, says", [
    (lambda r: r["sections"][0]["tiles"][0].update(compare_to="target", target=None) or
     r["sections"][0]["tiles"][0].pop("target"), "target"),
    (lambda r: r["sections"][0]["tiles"][0].update(target="nothing"), "nothing"),
    (lambda r: r["sections"][0]["tiles"][0].update(target="category"), "'sum' of 'Category' cannot be computed"),
    (lambda r: r.update(snapshot_by=["nobody"]), "nobody"),
    # keys that would have no effect are refused, not ignored
    (lambda r: r["sections"][0]["tiles"][0].update(compare_to="snapshot"), "target"),
    (lambda r: r["sections"][0]["tiles"][3].update(tolerance=5), "tolerance"),
    (lambda r: r["sections"][0]["tiles"][3].pop("compare_to") and r["sections"][0]["tiles"][3].update(better="lower"),
     "better"),
    (lambda r: r["sections"][3]["tiles"][0].pop("scenario"), "sums one of its scenarios"),
    (lambda r: r["sections"][3]["tiles"][0].update(scenario="dream"), "sums one of its scenarios"),
    (lambda r: r["sections"][0]["tiles"][0].update(scenario="plan"), "sums one of its scenarios"),
    (lambda r: r["sections"][0]["tiles"][0].update(target="financials"), "'Financials' is time-phased"),
])
def test_a_comparison_or_snapshot_key_that_cannot_work_is_refused(change, says) -> None:  # type: ignore[no-untyped-def]
    docs = documents()
    change(docs["reports"]["reports"][-1])
    with pytest.raises(ConfigInvalid) as refused:
        compile_config(docs)
    assert says in str(refused.value)


# -- the dashboard, the API and the PDF ----------------------------------------------------------
def _bearer(session, user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, token = tokens.create_token(session, user, "reports")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_the_period_filter_reloads_only_its_sections_and_every_link_keeps_it(client, session, world, login) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people, _ = world
    login(people["admin"].email)
    base = f"/t/{tenant.slug}/reports/cycle"
    page = client.get(base).get_data(as_text=True)
    assert 'id="period-from"' in page and 'hx-push-url="true"' in page and 'id="period-indicator"' in page
    part = client.get(f"{base}?period=2026-01&period_to=2026-02",
                      headers={"HX-Request": "true", "X-Report-Part": "period"}).get_data(as_text=True)
    assert part.count("<section ") == 2 and 'id="section-2"' in part and 'id="section-4"' in part
    assert 'hx-swap-oob="true"' in part
    assert "section-1" not in part and "section-3" not in part
    assert f"{base}.pdf?period=2026-01..2026-02" in part
    api = client.get(f"/api/t/{tenant.slug}/reports/cycle?period=2026-02", headers=_bearer(session, people["admin"])).get_json()
    line = next(s for s in api["sections"] if s["title"] == "Plan and actual")
    assert api["period"] == "2026-02" and line["chart"]["series"][0][1] == [5.0]
    assert client.get(f"{base}?period=1999-01").status_code == 400
    found = client.get(f"{base}/records?section=2&period=2026-02").get_data(as_text=True)
    assert "Copper" in found and "Steel" not in found


def test_snapshots_from_the_page_with_confirmation_then_viewed_and_printed(client, session, world, login) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _, people, _ = world
    base = f"/t/{tenant.slug}/reports/cycle"
    login(people["blind"].email)
    assert 'id="take-snapshot"' not in client.get(base).get_data(as_text=True)
    assert client.post(f"{base}/snapshots", data={"label": "x"}).status_code == 403
    client.post("/logout")
    login(people["admin"].email)
    page = client.get(base).get_data(as_text=True)
    assert 'id="take-snapshot"' in page and "data-confirm=" in page
    taken = client.post(f"{base}/snapshots", data={"label": "Committee 1"})
    assert taken.status_code == 303 and "as_of=" in taken.headers["Location"]
    shown = client.get(taken.headers["Location"]).get_data(as_text=True)
    assert "Snapshot “Committee 1”" in shown and ".pdf?as_of=" in shown
    snapshot_id = int(taken.headers["Location"].rsplit("=", 1)[1])
    assert client.get(f"/api/t/{tenant.slug}/reports/cycle?as_of={snapshot_id}",
                      headers=_bearer(session, people["admin"])).get_json()["snapshot"] == \
        "Committee 1"
    assert client.get(f"{base}?as_of=999999").status_code == 404


def test_the_pdf_job_prints_the_chosen_periods_and_a_snapshot(session, world, db_engine, upload_dir) -> None:  # type: ignore[no-untyped-def]
    import io

    from pypdf import PdfReader
    from sqlalchemy.orm import sessionmaker

    from steerco.reports import jobs
    from steerco.reports.render import Printer
    from steerco.store.blobs import DiskBlobStore
    from steerco.store.models import ReportJob

    tenant, _, _, people, records = world
    config, admin = _reader(session, tenant, people["admin"])
    report = config.reports["cycle"]
    taken = snapshots.take(session, tenant.id, config, report, by=admin, label="Before the late one")
    session.commit()
    environment = jobs.JobEnvironment(sessionmaker(db_engine, expire_on_commit=False), DiskBlobStore(upload_dir),
                                      Printer())
    report_jobs = jobs.ReportJobs(session, tenant.id, config, admin, DiskBlobStore(upload_dir))
    period = parse_period(config, "2026-02")
    texts = {}
    for name, options in (("period", {"period": period}), ("snapshot", {"snapshot": taken})):
        job, new = report_jobs.start(report, **options)
        session.commit()
        assert new and job.params == ({"period": "2026-02"} if name == "period" else {"as_of": taken.id})
        jobs.run_job(environment, tenant.id, job.id)
        session.expire_all()
        done = session.get(ReportJob, job.id)
        assert done.state == "done", done.error
        texts[name] = "".join(p.extract_text() for p in PdfReader(io.BytesIO(report_jobs.pdf(done))).pages)
        assert report_jobs.cached(report, **options).id == job.id
    assert config.periods[1].label in texts["period"]
    assert "Before the late one" in texts["snapshot"]
