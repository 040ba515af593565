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
