"""Leaders and their reports, through the app: the list, the dashboard and its scope, the
PDF through a job with a progress page, the cache, the JSON, and the command line."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.cli import cli
from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tenants, tokens
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.reports import jobs
from steerco.store.models import Record, ReportJob, Tenant, User

HTMX = {"HX-Request": "true"}
PACK = "/t/acme/reports/steering_committee_report"


@pytest.fixture
def demo(session):  # type: ignore[no-untyped-def]
    load_demo(session)
    session.commit()
    return session.scalar(select(Tenant).where(Tenant.slug == "acme"))


def login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def wait_for_job(client, url: str, seen: list[str] | None = None, timeout: float = 90) -> str:  # type: ignore[no-untyped-def]
    """Poll the job's partial as the page's htmx does, until it stops asking to be polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url, headers=HTMX).get_data(as_text=True)
        if seen is not None:
            seen.append(body)
        if 'hx-trigger="every 1s"' not in body:
            return body
        time.sleep(0.2)
    raise AssertionError(f"the job at {url} did not finish")


def test_a_leader_reads_the_pack_and_downloads_its_pdf_through_a_job(client, session, demo) -> None:  # type: ignore[no-untyped-def]
    login(client, "steerco@acme.example")
    home = client.get("/t/acme/").get_data(as_text=True)
    assert 'href="/t/acme/reports"' in home
    listing = client.get("/t/acme/reports").get_data(as_text=True)
    assert listing.count('class="card"') == 4 and "Steering committee report" in listing

    page = client.get(PACK)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="report"' in html
    assert "5.610.000" in html and 'role="img"' in html and "<table" in html
    assert html.count('class="report-section') == 11 and 'name="under"' in html

    program = session.scalar(select(Record).where(Record.tenant_id == demo.id, Record.title == "Procurement 2027"))
    partial = client.get(f"{PACK}?under={program.id}", headers=HTMX).get_data(as_text=True)
    assert partial.startswith('<div id="report-view">') and "<html" not in partial
    assert "Procurement 2027" in partial and "5.610.000" not in partial
    assert f'href="/t/acme/reports/steering_committee_report.pdf?under={program.id}"' in partial

    started = client.get(f"{PACK}.pdf")
    assert started.status_code == 303 and "/reports/jobs/" in started.headers["Location"]
    job_page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert 'id="report-job"' in job_page and ("<progress" in job_page or "Your PDF is ready" in job_page)
    polls: list[str] = []
    done = wait_for_job(client, started.headers["Location"], polls)
    assert "Your PDF is ready." in done and all('<progress' in p for p in polls[:-1])
    link = re.search(r'href="([^"]+/download)"', done).group(1)
    download = client.get(link)
    assert download.mimetype == "application/pdf" and "attachment" in download.headers["Content-Disposition"]
    text = text_of(download.data)
    assert "Steering committee report" in text and "5.610.000" in text and "Confidential" in text

    cached = client.get(f"{PACK}.pdf")  # nothing changed: the PDF at once
    assert cached.status_code == 200 and cached.data == download.data

    admin = session.scalar(select(User).where(User.email == "admin@acme.example"))
    config = tenants.active_config(session, demo)
    records = Records(session, demo.id, config, Access(config, tenants.actor_for(session, demo, admin)))
    measure = session.scalar(select(Record).where(Record.tenant_id == demo.id, Record.level_key == "measure"))
    records.update(measure, Submission(measure.title, MultiDict({"potential": "1"})), measure.version)
    session.commit()
    changed = client.get(f"{PACK}.pdf")  # a changed record: rendered again
    assert changed.status_code == 303
    wait_for_job(client, changed.headers["Location"])


def test_a_viewer_sees_that_budgets_are_hidden_and_never_their_values(client, session, demo) -> None:  # type: ignore[no-untyped-def]
    login(client, "viewer@acme.example")
    html = client.get("/t/acme/reports/portfolio_overview").get_data(as_text=True)
    assert "Hidden from you: Budget, Cost to date, Over budget." in html
    assert re.search(r'tile-label">Budget</span><span class="tile-value">Hidden', html)
    assert "Budget is hidden from you." in html
    for budget in ("450,000", "2,450,000", "1,500,000"):
        assert budget not in html
    assert client.get("/t/acme/reports/steering_committee_report").status_code == 404  # not in its audience
    listing = client.get("/t/acme/reports").get_data(as_text=True)
    assert "Portfolio overview" in listing and "Steering committee" not in listing


def test_the_json_api_gives_the_same_numbers(client, session, demo) -> None:  # type: ignore[no-untyped-def]
    cfo = session.scalar(select(User).where(User.email == "cfo@acme.example"))
    _, token = tokens.create_token(session, cfo, "reports")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/t/acme/reports/steering_committee_report", headers=headers).get_json()
    tiles = {t["label"]: t for t in body["sections"][0]["tiles"]}
    potential = tiles["Total potential (run-rate)"]
    assert {k: potential[k] for k in ("label", "text", "value", "hidden", "left_out", "key")} == {
        "label": "Total potential (run-rate)", "text": "5.610.000\xa0€", "value": 5610000.0, "hidden": False,
        "left_out": 0, "key": "potential.sum"}
    # the demo's target of 5,000,000 with a 15 % tolerance: above it, so green
    assert potential["comparison"] == {"against": "target", "reference": "Target 5.000.000\xa0€", "delta": 610000.0,
                                       "delta_text": "+610.000\xa0€", "direction": "up", "rag": "green",
                                       "rag_label": "On target", "note": ""}
    sections = {s["title"]: s for s in body["sections"]}
    assert sections["Pipeline by Degree of Implementation"]["chart"]["labels"][0] == "DoI1 Defined"
    table = sections["Measures by gate"]["table"]
    assert table["total"][4]["value"] == 5610000.0 and table["records"] == 18
    assert client.get("/api/t/acme/reports/steering_committee_report").status_code == 401
    missing = client.get("/api/t/acme/reports/nothing", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"]["status"] == 404


def test_scopes_and_jobs_of_others_are_not_found(client, session, demo) -> None:  # type: ignore[no-untyped-def]
    login(client, "pm@acme.example")
    desk = session.scalar(select(Record).where(Record.title == "Service Desk"))
    assert client.get(f"{PACK}?under={desk.id}").status_code == 404  # another workspace's record
    outside = session.scalar(select(Record).where(Record.title == "Pricing Power"))
    assert client.get(f"{PACK}?under={outside.id}").status_code == 404  # a record pm@ may not read
    assert client.get(f"{PACK}?under=abc").status_code == 200  # not an id: no scope
    assert client.get("/t/acme/reports/nothing.pdf").status_code == 404
    cfo = session.scalar(select(User).where(User.email == "cfo@acme.example"))
    config = tenants.active_config(session, demo)
    theirs, _ = jobs.ReportJobs(session, demo.id, config, Access(config, tenants.actor_for(session, demo, cfo)),
                                None).start(config.reports["steering_committee_report"])  # type: ignore[arg-type]
    session.commit()
    assert client.get(f"/t/acme/reports/jobs/{theirs.id}").status_code == 404
    assert client.get(f"/t/acme/reports/jobs/{theirs.id}/download").status_code == 404


def test_a_failed_job_and_an_unreachable_queue_say_so(app, client, session, demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.extensions, "steerco.report_runner", jobs.RQRunner("redis://127.0.0.1:1/0", "nowhere"))
    login(client, "cfo@acme.example")
    started = client.get(f"{PACK}.pdf")
    assert started.status_code == 303
    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert 'role="alert"' in page and "The report queue cannot be reached" in page and "try again" in page
    assert "every 1s" not in page
    job = session.scalar(select(ReportJob).where(ReportJob.state == "failed"))
    assert job is not None and job.progress == 100


def test_report_render_on_the_command_line(runner, session, demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "pack.pdf"
    result = runner.invoke(cli, ["report", "render", "acme", "steering_committee_report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Steering committee report" in result.output and "5.610.000" in text_of(out.read_bytes())
    viewer = tmp_path / "viewer.pdf"
    result = runner.invoke(cli, ["report", "render", "acme", "portfolio_overview", "--out", str(viewer),
                                 "--as", "viewer@acme.example", "--under", "PG-001"])
    assert result.exit_code == 0, result.output
    text = text_of(viewer.read_bytes())
    assert "Hidden from you: Budget" in text and "450.000" not in text and "450000" not in text and "PG-001" in text
    wrong = runner.invoke(cli, ["report", "render", "acme", "nothing", "--out", str(out)])
    assert wrong.exit_code == 1 and "has no report 'nothing'" in wrong.output and "steering_committee_report" in wrong.output


def test_the_worker_needs_redis(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["worker", "--burst"])
    assert result.exit_code == 1 and "Set REDIS_URL" in result.output


def test_snapshots_on_the_command_line_keep_what_the_committee_saw(runner, session, demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    taken = runner.invoke(cli, ["report", "snapshot", "acme", "steering_committee_report", "--label", "Committee March"])
    assert taken.exit_code == 0, taken.output
    snapshot_id = int(re.search(r"snapshot (\d+):", taken.output).group(1))
    listed = runner.invoke(cli, ["report", "snapshots", "acme", "steering_committee_report"])
    assert f"{snapshot_id}\t" in listed.output and "Committee March" in listed.output
    # a later change is not in the snapshot; the live PDF of a period range names it
    tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    admin = session.scalar(select(User).where(User.email == "admin@acme.example"))
    config = tenants.active_config(session, tenant)
    records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, admin)))
    package = session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.level_key == "measure_package"))
    records.create("measure", package, Submission("Late measure", MultiDict({"potential": "1000000",
                                                                              "category": "procurement"})))
    session.commit()
    kept, live = tmp_path / "kept.pdf", tmp_path / "live.pdf"
    result = runner.invoke(cli, ["report", "render", "acme", "steering_committee_report", "--out", str(kept),
                                 "--as", "steerco@acme.example", "--as-of", str(snapshot_id)])
    assert result.exit_code == 0, result.output
    assert "5.610.000" in text_of(kept.read_bytes()) and "Committee March" in text_of(kept.read_bytes())
    result = runner.invoke(cli, ["report", "render", "acme", "steering_committee_report", "--out", str(live),
                                 "--as", "steerco@acme.example", "--period", "2026-01..2026-03"])
    assert result.exit_code == 0, result.output
    text = text_of(live.read_bytes())
    assert "6.610.000" in text and "Jan 2026 – Mar 2026" in text
    wrong = runner.invoke(cli, ["report", "render", "acme", "steering_committee_report", "--out", str(live),
                                "--period", "1999-01"])
    assert wrong.exit_code == 1 and "not a reporting period" in wrong.output


def test_the_benefit_pack_sums_actual_financials_over_the_chosen_periods(client, session, demo) -> None:  # type: ignore[no-untyped-def]
    login(client, "cfo@acme.example")
    base = "/t/acme/reports/benefit_validation"
    whole = client.get(base).get_data(as_text=True)
    assert 'id="period-from"' in whole and "Actual financials (chosen periods)" in whole
    part = client.get(f"{base}?period=2026-01", headers={"HX-Request": "true", "X-Report-Part": "period"})
    html = part.get_data(as_text=True)
    assert part.status_code == 200 and html.count("<section ") == 1 and 'id="section-1"' in html
    assert "Actual financials (chosen periods)" in html and "Validation status" not in html
