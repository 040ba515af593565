"""The money grid as people use a spreadsheet, in a real browser against the demo tenants:
a pasted block fills cells and the totals follow; amounts typed in the workspace's locale
(de-DE in acme, en-GB in servicedesk) save as the same number; one bad cell is marked alone
and keeps every other typed cell; an evidence file survives a refused save; arrow keys and
Enter move between cells; the first column and the totals stay in view while the periods
scroll inside the card.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.demo import DEMO_PASSWORD
from steerco.store.models import Attachment, PeriodValue, Record
from steerco.store.scoping import across_tenants

STATE_URL = re.compile(r"/form/\w+/state")


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/t/\w+/$"))


def record_id(session: Session, title: str) -> int:
    with across_tenants(session):
        found = session.scalars(select(Record.id).where(Record.title == title)).one()
    session.close()  # hold no transaction open while the server writes
    return found


def amount(session: Session, record: int, field: str, scenario: str, period: str) -> float | None:
    with across_tenants(session):
        value = session.scalars(select(PeriodValue.amount).where(
            PeriodValue.record_id == record, PeriodValue.field_key == field,
            PeriodValue.scenario == scenario, PeriodValue.period == period)).one_or_none()
    session.close()
    return None if value is None else float(value)


def cell(page: Page, field: str, scenario: str, period: str):  # type: ignore[no-untyped-def]
    return page.locator(f'input[name="{field}.{scenario}.{period}"]')


def settle(page: Page) -> None:
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def paste(page: Page, target, text: str) -> None:  # type: ignore[no-untyped-def]
    """Paste ``text`` into ``target`` as the clipboard would (a paste event with text/plain)."""
    target.focus()
    target.evaluate("""(input, text) => {
        const data = new DataTransfer();
        data.setData('text/plain', text);
        input.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
    }""", text)


def save(page: Page) -> None:
    page.get_by_role("button", name="Save").click()


@pytest.mark.browser
def test_a_block_pasted_from_a_spreadsheet_fills_the_grid_and_the_totals_follow(page: Page, demo, package_id, console_errors) -> None:  # type: ignore[no-untyped-def]
    log_in(page, "admin@acme.example")
    page.goto(f"/t/acme/new/measure?parent={package_id}")
    grid = page.locator("#field-financials [data-money-grid]")
    expect(grid).to_be_visible()
    # A 3 x 4 block as a spreadsheet copies it (German numbers, tab- and newline-separated),
    # pasted into plan / Feb 2026: it fills plan..actual and Feb..May.
    block = "1.000\t2.000\t3.000\t4.000\r\n10\t20\t30\t40\r\n0,5\t0,5\t0,5\t0,5\r\n"
    with page.expect_response(STATE_URL):
        paste(page, cell(page, "financials", "plan", "2026-02"), block)
    settle(page)
    expect(cell(page, "financials", "plan", "2026-01")).to_have_value("")
    expect(cell(page, "financials", "plan", "2026-02")).to_have_value("1.000")
    expect(cell(page, "financials", "plan", "2026-05")).to_have_value("4.000")
    expect(cell(page, "financials", "forecast", "2026-03")).to_have_value("20")
    expect(cell(page, "financials", "actual", "2026-05")).to_have_value("0,5")
    expect(cell(page, "financials", "plan", "2026-06")).to_have_value("")
    # Row totals, column totals and the grand total, in the workspace's locale.
    rows = grid.locator("tbody tr")
    expect(rows.nth(0).locator("[data-row-total]")).to_have_text("10.000")
    expect(rows.nth(1).locator("[data-row-total]")).to_have_text("100")
    expect(rows.nth(2).locator("[data-row-total]")).to_have_text("2")
    columns = grid.locator("[data-column-total]")
    expect(columns.nth(0)).to_have_text("0")
    expect(columns.nth(1)).to_have_text("1.010,5")
    expect(columns.nth(4)).to_have_text("4.040,5")
    expect(grid.locator("[data-grand-total]")).to_have_text("10.102")
    # Typing changes them at once.
    cell(page, "financials", "plan", "2026-01").fill("5.000,50")
    expect(rows.nth(0).locator("[data-row-total]")).to_have_text("15.000,5")
    expect(grid.locator("[data-grand-total]")).to_have_text("15.102,5")
    # A cell that is no number here is marked while typing, and counts as nothing.
    cell(page, "financials", "plan", "2026-01").fill("1.5k")
    expect(cell(page, "financials", "plan", "2026-01")).to_have_class(re.compile("unreadable"))
    expect(rows.nth(0).locator("[data-row-total]")).to_have_text("10.000")
    settle(page)
    assert console_errors() == []


@pytest.mark.browser
def test_arrow_keys_and_enter_move_between_cells(page: Page, demo, package_id) -> None:  # type: ignore[no-untyped-def]
    log_in(page, "admin@acme.example")
    page.goto(f"/t/acme/new/measure?parent={package_id}")
    start = cell(page, "financials", "plan", "2026-01")
    start.focus()
    page.keyboard.press("ArrowDown")
    expect(cell(page, "financials", "forecast", "2026-01")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(cell(page, "financials", "forecast", "2026-02")).to_be_focused()
    page.keyboard.type("12")
    page.keyboard.press("ArrowLeft")  # the caret moves inside the typed text first
    expect(cell(page, "financials", "forecast", "2026-02")).to_be_focused()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowLeft")
    expect(cell(page, "financials", "forecast", "2026-01")).to_be_focused()
    page.keyboard.press("Enter")  # down, not a submit
    expect(cell(page, "financials", "actual", "2026-01")).to_be_focused()
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("ArrowUp")
    expect(start).to_be_focused()
    expect(page).to_have_url(re.compile(r"/new/measure"))


@pytest.mark.browser
def test_the_first_column_and_totals_stay_in_view_while_periods_scroll(page: Page, demo, package_id) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, "admin@acme.example")
    page.goto(f"/t/acme/new/measure?parent={package_id}")
    grid = page.locator("#field-financials [data-money-grid]")
    # Two years of months (acme's reporting calendar), scrolling inside the card.
    expect(grid.locator("thead th")).to_have_count(1 + 24 + 1)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert grid.evaluate("(wrap) => wrap.scrollWidth > wrap.clientWidth")
    grid.evaluate("(wrap) => { wrap.scrollLeft = wrap.scrollWidth; }")
    wrap_box = grid.bounding_box()
    for sticky in (grid.locator("tbody th").first, grid.locator("[data-row-total]").first):
        box = sticky.bounding_box()
        assert wrap_box["x"] - 1 <= box["x"] and box["x"] + box["width"] <= wrap_box["x"] + wrap_box["width"] + 1
    expect(grid.locator("thead th").last).to_have_text("Total")
    expect(grid.locator("thead th").nth(24)).to_have_text("Dec 2027")


@pytest.mark.browser
def test_german_and_english_grouping_both_save_as_the_same_amount(page: Page, demo, session) -> None:  # type: ignore[no-untyped-def]
    measure = record_id(session, "Scrap rate reduction")
    log_in(page, "admin@acme.example")
    page.goto(f"/t/acme/r/{measure}/edit")
    cell(page, "financials", "forecast", "2026-01").fill("5.000,50")
    save(page)
    expect(page).to_have_url(re.compile(rf"/t/acme/r/{measure}$"))
    assert amount(session, measure, "financials", "forecast", "2026-01") == 5000.5
    page.goto(f"/t/acme/r/{measure}/edit")
    expect(cell(page, "financials", "forecast", "2026-01")).to_have_value("5.000,5")

    page.context.clear_cookies()
    improvement = record_id(session, "Chatbot for FAQ")
    log_in(page, "admin@servicedesk.example")
    page.goto(f"/t/servicedesk/r/{improvement}/edit")
    cell(page, "savings", "plan", "2026-04").fill("5,000.50")  # the actual opens "in delivery"
    save(page)
    expect(page).to_have_url(re.compile(rf"/t/servicedesk/r/{improvement}$"))
    assert amount(session, improvement, "savings", "plan", "2026-04") == 5000.5


@pytest.mark.browser
def test_one_bad_cell_keeps_every_other_typed_cell(page: Page, demo, session) -> None:  # type: ignore[no-untyped-def]
    measure = record_id(session, "Scrap rate reduction")
    before = amount(session, measure, "financials", "plan", "2026-03")
    log_in(page, "admin@acme.example")
    page.goto(f"/t/acme/r/{measure}/edit")
    cell(page, "financials", "forecast", "2026-01").fill("7.000")
    cell(page, "financials", "forecast", "2026-02").fill("1.5k")
    cell(page, "financials", "forecast", "2026-03").fill("2.500,25")
    save(page)
    expect(page.get_by_role("alert").filter(has_text="Please correct")).to_be_visible()
    expect(cell(page, "financials", "forecast", "2026-01")).to_have_value("7.000")
    expect(cell(page, "financials", "forecast", "2026-02")).to_have_value("1.5k")
    expect(cell(page, "financials", "forecast", "2026-03")).to_have_value("2.500,25")
    expect(page.locator('#field-financials input[aria-invalid="true"]')).to_have_count(1)
    expect(cell(page, "financials", "forecast", "2026-02")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-financials")).to_contain_text("2026-02 forecast")
    # The stored plan is shown as the locale writes it, so it saves back unchanged.
    expect(cell(page, "financials", "plan", "2026-03")).to_have_value(
        re.compile(r"^\d{1,3}(\.\d{3})*(,\d+)?$"))
    assert amount(session, measure, "financials", "forecast", "2026-01") is None  # nothing saved
    # Fixing the one cell saves them all.
    cell(page, "financials", "forecast", "2026-02").fill("")
    save(page)
    expect(page).to_have_url(re.compile(rf"/t/acme/r/{measure}$"))
    assert amount(session, measure, "financials", "forecast", "2026-01") == 7000
    assert amount(session, measure, "financials", "forecast", "2026-03") == 2500.25
    assert amount(session, measure, "financials", "plan", "2026-03") == before


@pytest.mark.browser
def test_an_evidence_file_survives_a_failed_save(page: Page, demo, session) -> None:  # type: ignore[no-untyped-def]
    measure = record_id(session, "Scrap rate reduction")
    log_in(page, "admin@acme.example")
    page.goto(f"/t/acme/r/{measure}/edit")
    page.get_by_label("Business case").set_input_files(
        files=[{"name": "business-case.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 case"}])
    cell(page, "financials", "forecast", "2026-02").fill("1.5k")
    save(page)
    expect(page.get_by_role("alert").filter(has_text="Please correct")).to_be_visible()
    kept = page.get_by_role("checkbox", name=re.compile("business-case.pdf"))
    expect(kept).to_be_checked()
    cell(page, "financials", "forecast", "2026-02").fill("")
    save(page)  # without attaching the file again
    expect(page).to_have_url(re.compile(rf"/t/acme/r/{measure}$"))
    expect(page.locator("#field-business_case, #value-business_case").first).to_contain_text("business-case.pdf")
    with across_tenants(session):
        files = session.scalars(select(Attachment.filename).where(Attachment.record_id == measure)).all()
    session.close()
    assert files == ["business-case.pdf"]
