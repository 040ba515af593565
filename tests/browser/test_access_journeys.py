"""What three acme people see in a real browser (demo workspace, CSRF on):

- the measure owner sees and edits only the measures they own;
- the viewer sees no edit controls anywhere, and typing an edit URL is refused;
- the program manager sees only their program's subtree.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from steerco.demo import DEMO_PASSWORD
from steerco.store.models import Record


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/t/acme/$"))


def open_area(page: Page, title: str) -> None:
    """From the start page, open the place where the user holds their role."""
    page.locator("#your-work").get_by_role("link", name=re.compile(re.escape(title))).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)


def click_down(page: Page, *titles: str) -> None:
    for title in titles:
        page.get_by_role("link", name=title, exact=True).first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(title)


def _ids(session, **titles: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    found = {name: session.scalar(select(Record.id).where(Record.title == title)) for name, title in titles.items()}
    session.close()
    return found


def test_measure_owner_sees_and_edits_only_their_measures(page: Page, demo, session, console_errors) -> None:  # type: ignore[no-untyped-def]
    ids = _ids(session, theirs="Consolidate PCB suppliers", not_theirs="Long-term agreement for sensors")
    log_in(page, "owner@acme.example")
    expect(page.locator("#children-organization")).to_have_count(0)  # the top is not theirs to see
    open_area(page, "Procurement 2027")
    click_down(page, "Direct Material Savings", "Electronics")
    measures = page.locator("#children-measure")
    expect(measures.get_by_role("link", name="Consolidate PCB suppliers")).to_be_visible()
    expect(measures.get_by_role("link", name="Design-to-cost for controllers")).to_be_visible()
    expect(measures).not_to_contain_text("Long-term agreement for sensors")  # the program manager's
    expect(measures.locator(".count")).to_have_text("2")

    measures.get_by_role("link", name="Consolidate PCB suppliers").click()
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Description").fill("Two suppliers instead of five.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved.")
    expect(page.locator("#value-description")).to_contain_text("Two suppliers instead of five.")
    assert console_errors() == []

    # Typed addresses of a measure that is not theirs answer "not found" (the browser logs the 404s).
    for url in (f"/t/acme/r/{ids['not_theirs']}", f"/t/acme/r/{ids['not_theirs']}/edit"):
        response = page.goto(url)
        assert response is not None and response.status == 404
        expect(page.locator("body")).not_to_contain_text("Long-term agreement for sensors")


def test_viewer_sees_no_edit_controls(page: Page, demo, session, console_errors) -> None:  # type: ignore[no-untyped-def]
    ids = _ids(session, measure="Renegotiate coil steel contracts")
    log_in(page, "viewer@acme.example")
    click_down(page, "ACME Group", "Operations Excellence", "Procurement 2027", "Direct Material Savings",
               "Steel & Metals")
    expect(page.locator("#children-measure")).to_contain_text("Renegotiate coil steel contracts")
    for name in ("Edit", re.compile(r"^New ")):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    page.get_by_role("link", name="Renegotiate coil steel contracts").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Renegotiate coil steel contracts")
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(page.locator("#value-baseline")).to_have_count(0)  # cost data stays hidden
    expect(page.locator("#value-potential")).to_be_visible()
    assert console_errors() == []
    response = page.goto(f"/t/acme/r/{ids['measure']}/edit")
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text("none of your roles allows update")


def test_program_manager_sees_only_their_programs_subtree(page: Page, demo, session, console_errors) -> None:  # type: ignore[no-untyped-def]
    ids = _ids(session, other_program="Footprint Optimisation", other_measure="Move assembly line 3",
               portfolio="Operations Excellence")
    log_in(page, "pm@acme.example")
    expect(page.locator("#children-organization")).to_have_count(0)
    open_area(page, "Procurement 2027")
    projects = page.locator("#children-project")
    expect(projects.get_by_role("link", name="Direct Material Savings")).to_be_visible()
    expect(projects.get_by_role("link", name="Indirect Spend")).to_be_visible()
    # The crumbs stop at what is theirs: no portfolio or group above the program.
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs).not_to_contain_text("Operations Excellence")
    click_down(page, "Direct Material Savings", "Electronics")
    expect(page.locator("#children-measure .count")).to_have_text("3")  # every measure of the program
    assert console_errors() == []
    for key in ("other_program", "other_measure", "portfolio"):
        response = page.goto(f"/t/acme/r/{ids[key]}")
        assert response is not None and response.status == 404
