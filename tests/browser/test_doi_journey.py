"""One acme measure from DoI1 to DoI6 in a real browser (demo workspace, CSRF on), as the
people who move it:

- the measure owner (Oskar) fills what each gate asks for through the edit form, reached
  from the gate's links (target date, description, the business case file), and requests
  each transition; a critical implementation status closes the DoI5 gate and a lost
  potential (each with its required comment) closes the last one, until they recover;
- the program manager (Petra) finds the DoI4 decision in her inbox and approves it there;
- the CFO (Frank) finds the second step in his inbox (potential 425,000 > 250,000) and
  approves it on the record page;
- the controller (Carla) validates the benefit and approves the DoI6 closure.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from steerco.demo import DEMO_PASSWORD
from steerco.store.models import Record

MEASURE = "Consolidate PCB suppliers"
PANEL_SHOT = "/tmp/steerco-workflow-panel.png"
INBOX_SHOT = "/tmp/steerco-inbox.png"
STATUS_SHOT = "/tmp/steerco-statuses.png"
DELEGATIONS_SHOT = "/tmp/steerco-delegations.png"


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/t/acme/$"))


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))


def stage_is(page: Page, label: str) -> None:
    expect(page.locator("#workflow .stage-path [aria-current=step]")).to_have_text(label)
    expect(page.locator("#record-stage")).to_have_text(label)


def option(page: Page, key: str):  # type: ignore[no-untyped-def]
    return page.locator(f"#option-{key}")


def fix_through_the_gate_link(page: Page, transition: str, missing: str) -> None:
    """The gate names what is missing; its link opens the edit form at that field."""
    gate = option(page, transition)
    expect(gate.get_by_role("button", name=re.compile("^Request"))).to_have_count(0)  # refused until it holds
    gate.get_by_role("link", name=missing).click()
    expect(page).to_have_url(re.compile(r"/edit#field-\w+$"))


def save(page: Page) -> None:
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved.")


def request(page: Page, transition: str, comment: str = "") -> None:
    gate = option(page, transition)
    if comment:
        gate.get_by_label("Comment").fill(comment)
    with page.expect_response(re.compile(rf"/transitions/{transition}$")) as answer:
        gate.get_by_role("button", name=re.compile("^Request")).click()
    assert answer.value.status == 200


def errors_except_refusals(console_errors) -> list[str]:  # type: ignore[no-untyped-def]
    """Console errors, leaving out the browser's log line for a refusal this test provoked
    on purpose (a status change without its required comment answers 422)."""
    return [e for e in console_errors() if not ("status of 422" in e and "/status/potential_status" in e)]


def inbox_link(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("banner").get_by_role("link", name=re.compile(r"^Inbox"))


def open_exceptions(page: Page) -> int:
    """How many open exceptions the person answers for (the inbox's Exceptions section)."""
    page.goto("/t/acme/inbox")
    return int(page.locator("#exceptions-title .count").inner_text())


@pytest.mark.browser
def test_a_measure_goes_from_doi1_to_doi6(page: Page, demo, session, console_errors) -> None:  # type: ignore[no-untyped-def]
    measure_id = session.scalar(select(Record.id).where(Record.title == MEASURE))
    session.close()
    record_url = f"/t/acme/r/{measure_id}"

    # -- the owner: DoI1 -> DoI2 -> DoI3, and the request for the DoI4 decision ------------
    log_in(page, "owner@acme.example")
    inbox_link(page).click()
    blocked = page.locator("#blocked")
    expect(blocked).to_contain_text(MEASURE)
    blocked.locator(f"#blocked-{measure_id}").get_by_role("link", name="Target date is empty.").click()
    expect(page).to_have_url(re.compile(r"/edit#field-target_date$"))
    page.get_by_label("Target date").fill("2027-06-30")
    save(page)
    stage_is(page, "DoI1 Defined")
    expect(option(page, "identify")).to_contain_text("No approval needed")
    request(page, "identify", "Scope agreed with purchasing")
    stage_is(page, "DoI2 Identified")
    expect(page.locator("#workflow-message")).to_contain_text("now at DoI2 Identified")

    fix_through_the_gate_link(page, "detail", "Description is empty.")
    page.get_by_label("Description").fill("Bundle the PCB volume of both plants with two suppliers instead of five.")
    save(page)
    request(page, "detail")
    stage_is(page, "DoI3 Detailed")

    decide = option(page, "decide")
    expect(decide).to_contain_text("Program manager decision, then CFO approval (potential above 250,000 EUR)")
    fix_through_the_gate_link(page, "decide", "Business case: no file attached.")
    page.get_by_label("Business case").set_input_files(files=[{
        "name": "business-case.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n% business case\n"}])
    save(page)
    expect(page.locator("#value-business_case")).to_contain_text("business-case.pdf")
    request(page, "decide", "Supplier audits passed.")
    pending = page.locator("#pending-request")
    expect(pending).to_contain_text("waiting for approval")
    expect(pending).to_contain_text("Requested by Oskar Owner")
    expect(pending.locator(".step")).to_have_count(2)
    expect(pending.locator(".step").first).to_contain_text("open")
    expect(pending.get_by_role("button", name="Approve")).to_have_count(0)  # not their own request
    expect(pending.get_by_role("button", name="Withdraw request")).to_be_visible()
    assert console_errors() == []
    log_out(page)

    # -- the program manager approves the first step in her inbox ------------------------------
    log_in(page, "pm@acme.example")
    cases = open_exceptions(page)
    # The count is everything that needs her: this step, her own measure held up at DoI1,
    # and the open exceptions she answers for (the demo data raises some).
    expect(inbox_link(page)).to_have_text(f"Inbox ({2 + cases})")
    inbox_link(page).click()
    waiting = page.locator("#waiting .inbox-item")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text(MEASURE)
    expect(waiting).to_contain_text("Program manager decision")
    expect(waiting).to_contain_text("requested by Oskar Owner")
    page.screenshot(path=INBOX_SHOT, full_page=True)
    waiting.get_by_label("Comment").fill("Good case.")
    with page.expect_response(re.compile(r"/tasks/\d+/decision$")) as answer:
        waiting.get_by_role("button", name="Approve").click()
    assert answer.value.status == 200
    expect(waiting).to_contain_text("Program manager decision: approved. Next: CFO approval")
    expect(inbox_link(page)).to_have_text(f"Inbox ({1 + cases})")  # the count followed out of band
    assert console_errors() == []
    log_out(page)

    # -- the CFO: the second step is now in his inbox; he approves on the record page ----------
    log_in(page, "cfo@acme.example")
    expect(inbox_link(page)).to_have_text("Inbox (1)")
    inbox_link(page).click()
    item = page.locator("#waiting .inbox-item")
    expect(item).to_contain_text("CFO approval")
    item.get_by_role("link", name=re.compile(MEASURE)).click()
    panel = page.locator("#workflow")
    expect(panel.locator(".votes")).to_contain_text("Petra Program: approved")
    expect(panel.locator(".votes")).to_contain_text("Good case.")
    page.screenshot(path=PANEL_SHOT, full_page=True)
    panel.get_by_role("button", name="Approve").click()
    stage_is(page, "DoI4 Decided")
    expect(page.locator("#workflow-message")).to_contain_text("CFO approval")
    expect(inbox_link(page)).to_have_text("Inbox (0)")
    assert console_errors() == []
    log_out(page)

    # -- the owner: DoI4 -> DoI5; the close gate holds only while the potential is not lost ------
    log_in(page, "owner@acme.example")
    page.goto(record_url)
    stage_is(page, "DoI4 Decided")
    # A critical implementation cannot be confirmed: the gate says so until the status recovers.
    card = page.locator("#status-implementation_status")
    card.get_by_label("Change to").select_option("critical")
    card.get_by_label("Comment").fill("Supplier B failed qualification.")
    card.get_by_role("button", name="Change implementation status").click()
    expect(page.locator("#status-implementation_status .status-current")).to_have_text("Critical")
    expect(option(page, "implement")).to_contain_text("The condition implementation_status != 'critical' does not hold.")
    expect(option(page, "implement").get_by_role("button", name=re.compile("^Request"))).to_have_count(0)
    card = page.locator("#status-implementation_status")
    card.get_by_label("Change to").select_option("on_track")
    card.get_by_role("button", name="Change implementation status").click()
    expect(page.locator("#status-implementation_status .status-current")).to_have_text("On track")
    request(page, "implement")
    stage_is(page, "DoI5 Implemented")
    expect(option(page, "close")).to_contain_text("Benefit validation by controlling")
    expect(option(page, "close").get_by_role("button", name=re.compile("^Request"))).to_be_visible()

    card = page.locator("#status-potential_status")
    card.get_by_label("Change to").select_option("lost")
    card.get_by_role("button", name="Change potential status").click()
    expect(page.locator("#status-error-potential_status")).to_contain_text("a comment is required")
    card = page.locator("#status-potential_status")
    card.get_by_label("Comment").fill("The second plant dropped out of the bundle.")
    card.get_by_role("button", name="Change potential status").click()
    card = page.locator("#status-potential_status")
    expect(card.locator(".status-current")).to_have_text("Lost")
    expect(card.locator(".status-history")).to_contain_text("The second plant dropped out of the bundle.")
    expect(page.locator("#value-potential_status")).to_have_text("Lost")  # the values followed
    expect(option(page, "close")).to_contain_text("The condition potential_status != 'lost' does not hold.")
    expect(option(page, "close").get_by_role("button", name=re.compile("^Request"))).to_have_count(0)
    page.screenshot(path=STATUS_SHOT, full_page=True)

    card.get_by_label("Change to").select_option("confirmed")
    card.get_by_label("Comment").fill("Plant two is back in.")
    card.get_by_role("button", name="Change potential status").click()
    expect(page.locator("#status-potential_status .status-current")).to_have_text("Confirmed")
    request(page, "close", "Savings visible in the October close")
    expect(page.locator("#pending-request")).to_contain_text("Benefit validation by controlling")
    # Withdrawing asks first: "cancel" keeps the request, "OK" withdraws it; then ask again.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Withdraw request").click()
    expect(page.locator("#pending-request")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Withdraw request").click()
    expect(page.locator("#workflow-message")).to_contain_text("request withdrawn")
    expect(page.locator("#workflow .latest")).to_contain_text("withdrawn")
    request(page, "close", "Savings visible in the October close.")
    expect(page.locator("#pending-request")).to_contain_text("Benefit validation by controlling")
    assert errors_except_refusals(console_errors) == []
    log_out(page)

    # -- the controller validates the benefit and approves the closure ----------------------------
    log_in(page, "controller@acme.example")
    expect(inbox_link(page)).to_have_text("Inbox (1)")
    inbox_link(page).click()
    expect(page.locator("#waiting .inbox-item")).to_contain_text("Benefit validation by controlling")
    page.locator("#waiting").get_by_role("link", name=re.compile(MEASURE)).click()
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_label("Description")).to_be_disabled()  # only their field is theirs to change
    page.get_by_label("Benefit validated by controlling").check()
    save(page)
    expect(page.locator("#value-benefit_validated")).to_have_text("Yes")
    page.locator("#workflow").get_by_label("Comment").fill("Effect booked in the P&L.")
    page.locator("#workflow").get_by_role("button", name="Approve").click()
    stage_is(page, "DoI6 Closed")
    expect(page.locator("#workflow")).to_contain_text("Final stage reached.")
    expect(inbox_link(page)).to_have_text("Inbox (0)")

    # The history tells the whole story.
    page.get_by_role("link", name="History").click()
    history = page.locator("#history")
    for text in ("DoI1 Defined → DoI2 Identified", "DoI5 Implemented → DoI6 Closed",
                 "Program manager decision: approved: Good case.",
                 "CFO approval (potential above 250,000 EUR): approved",
                 "Benefit validation by controlling: approved: Effect booked in the P&L.",
                 "Potential status: Confirmed → Lost: The second plant dropped out of the bundle."):
        expect(history).to_contain_text(text)
    assert errors_except_refusals(console_errors) == []


@pytest.mark.browser
def test_revoking_a_delegation_asks_first(page: Page, demo, console_errors) -> None:  # type: ignore[no-untyped-def]
    """The program manager hands her approvals to the CFO, then revokes it after saying "no" once."""
    log_in(page, "pm@acme.example")
    inbox_link(page).click()
    page.get_by_role("link", name="Delegations").click()
    page.get_by_label("Deputy").select_option(label="Frank CFO")
    page.get_by_label("Until (included)").fill("2099-12-31")
    page.get_by_role("button", name="Delegate").click()
    expect(page.locator(".flash")).to_contain_text("Your approvals go to Frank CFO")
    row = page.locator("#delegations-given tbody tr")
    expect(row).to_contain_text("active")
    page.screenshot(path=DELEGATIONS_SHOT, full_page=True)
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(row).to_contain_text("active")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.locator("#delegation-message")).to_have_text("Delegation revoked.")
    expect(page.locator("#delegations-given tbody tr")).to_contain_text("revoked")
    assert console_errors() == []
