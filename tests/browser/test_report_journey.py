"""A leader's report in a real browser: open the steering committee pack, narrow it to one
program (htmx reloads only the report), download its PDF and watch the job's progress."""

from __future__ import annotations

import io
import re

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from steerco.demo import DEMO_PASSWORD

#: what the demo's measures under Procurement 2027 add up to (10 measures)
PROGRAM_POTENTIAL = "2.890.000"


def test_a_leader_narrows_the_pack_and_downloads_its_pdf(page: Page, demo, console_errors) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("E-mail").fill("steerco@acme.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("#nav-reports").click()
    page.get_by_role("link", name="Steering committee report – measure pipeline").click()
    tiles = page.locator("#section-1 .kpi-tile")
    expect(tiles.first).to_contain_text("5.610.000")
    expect(page.locator("#section-2 svg[role=img]")).to_be_visible()

    page.get_by_label("Scope").select_option(label="PG-001 Procurement 2027")
    expect(tiles.first).to_contain_text(PROGRAM_POTENTIAL)  # only the report was swapped
    expect(page).to_have_url(re.compile(r"under=\d+"))
    expect(page.locator(".report-meta")).to_contain_text("PG-001 Procurement 2027")

    page.get_by_role("link", name="Download PDF").click()
    expect(page).to_have_url(re.compile(r"/reports/jobs/\d+$"))
    # While the job runs, a labelled progress bar; then the download link.
    expect(page.locator("#report-job progress, #report-download").first).to_be_visible()
    link = page.locator("#report-download")
    expect(link).to_be_visible(timeout=90_000)
    with page.expect_download() as waiting:
        link.click()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(open(waiting.value.path(), "rb").read())).pages)
    assert "Steering committee report" in text and PROGRAM_POTENTIAL in text and "Confidential" in text
    assert console_errors() == []


def test_a_leader_filters_the_periods_drills_in_and_downloads_the_pdf_with_progress(  # type: ignore[no-untyped-def]
        page: Page, demo, live_app, console_errors, monkeypatch) -> None:
    """The issue's journey: the dashboard, the period filter (only its sections reload, the
    URL keeps it), a number drilled into its records, the PDF through a job whose progress
    bar shows (the parallel path forced by a low size threshold, so the job takes a while)."""
    from steerco.web.reports import printer

    with live_app.test_request_context():
        monkeypatch.setattr(printer(), "parallel_from", 1)
        monkeypatch.setattr(printer(), "workers", 2)
    page.goto("/login")
    page.get_by_label("E-mail").fill("steerco@acme.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("#nav-reports").click()
    page.get_by_role("link", name="Steering committee report – measure pipeline").click()
    expect(page.locator("#section-1 .tile-compare").first).to_contain_text("Target")
    line = page.locator("#section-4")
    expect(line.locator("svg[role=img]")).to_be_visible()
    # Mark two sections: the line (period-dependent) must be replaced, the tiles must not.
    page.evaluate("document.getElementById('section-1').dataset.kept = 'yes';"
                  "document.getElementById('section-4').dataset.kept = 'yes'")
    expect(page.locator("#period-indicator")).to_have_attribute("role", "status")
    page.locator("#period-from").focus()
    page.keyboard.press("ArrowDown")  # keyboard only: the first month (htmx sends on change)
    expect(page).to_have_url(re.compile(r"period=2026-01"))
    expect(page.locator("#section-4:not([data-kept])")).to_have_count(1)
    expect(page.locator("#section-1[data-kept=yes]")).to_have_count(1)
    page.locator("#period-to").select_option("2026-03")
    expect(page).to_have_url(re.compile(r"period=2026-01&period_to=2026-03"))
    expect(page.locator("#report-actions")).to_contain_text("Jan 2026 – Mar 2026")
    expect(page.locator("#report-pdf")).to_have_attribute("href", re.compile(r"period=2026-01..2026-03"))
    page.reload()  # the URL keeps the filter
    expect(page.locator("#period-to")).to_have_value("2026-03")

    # Drill into a number: a cross-tab cell lists exactly its records.
    cell = page.locator("#section-6 td a.drill").first
    cell.click()
    expect(page).to_have_url(re.compile(r"/records\?section=6"))
    expect(page.locator("table a").first).to_be_visible()
    page.go_back()

    page.get_by_role("link", name="Download PDF").click()
    expect(page).to_have_url(re.compile(r"/reports/jobs/\d+$"))
    expect(page.locator("#report-job-progress")).to_be_visible()  # the job's progress while it renders
    link = page.locator("#report-download")
    expect(link).to_be_visible(timeout=120_000)
    with page.expect_download() as waiting:
        link.click()
    reader = PdfReader(io.BytesIO(open(waiting.value.path(), "rb").read()))
    text = "".join(p.extract_text() for p in reader.pages)
    assert "Steering committee report" in text and "Jan 2026 – Mar 2026" in text
    assert f"Page 2 of {len(reader.pages)}" in text
    assert console_errors() == []
