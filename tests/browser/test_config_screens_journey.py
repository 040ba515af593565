"""The configuration screens in a real browser (acme demo workspace, CSRF on, no JSON typed):

acme's administrator adds a field (placed in a section of Measure) and an approval step to
the first DoI gate through the screens, sees the diff and the impact, and activates; the
measure owner sees the new field at once and, on their next request of the gate, the new
step; a rollback restores the gate without approval and takes the field away. A draft
with a problem shows it at its control and cannot be activated.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from steerco.demo import DEMO_PASSWORD
from steerco.store.models import ConfigVersion, Record, Tenant, User

MEASURE = "Consolidate PCB suppliers"


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/t/acme/$"))


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))


def assert_every_control_is_labelled(page: Page) -> None:
    """Every visible control of the page has a label (or an aria-label)."""
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'main input:not([type=hidden]), main select, main textarea, main button')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map(e => e.outerHTML)""")
    assert unlabelled == []


def _measures(session) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """The owner's PCB measure, another measure still at DoI1 (theirs if any), and the
    number of acme's active configuration version."""
    owner = session.scalar(select(User.id).where(User.email == "owner@acme.example"))
    theirs = session.scalar(select(Record.id).where(Record.title == MEASURE))
    other = session.scalar(select(Record.id).where(Record.stage_key == "doi1", Record.id != theirs,
                                                   Record.level_key == "measure").order_by(Record.owner_id != owner))
    active = session.scalar(select(ConfigVersion.number).join(Tenant, Tenant.active_config_id == ConfigVersion.id)
                            .where(Tenant.slug == "acme"))
    session.close()
    return theirs, other, active


def test_an_admin_adds_a_field_and_an_approval_step_through_the_screens(page: Page, demo, session, console_errors) -> None:  # type: ignore[no-untyped-def]
    theirs, other, before = _measures(session)
    log_in(page, "admin@acme.example")
    page.get_by_role("link", name="Configuration").click()
    page.get_by_role("link", name="Edit the configuration").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Fields")
    expect(page.locator("#first-edit")).to_contain_text("Your first change starts a draft")

    # A field: its type decides which controls the form offers (htmx swaps them in).
    page.get_by_role("link", name="Add to fields").click()
    page.get_by_label(re.compile(r"^Type\b")).select_option("text")
    expect(page.get_by_label("Max length")).to_be_visible()
    page.get_by_label(re.compile(r"^Key\b")).fill("supplier_contact")
    page.get_by_label(re.compile(r"^Label\b")).fill("Supplier contact")
    page.get_by_label("Show it in").select_option(label="Measure › General")
    page.get_by_label("Visible if").fill("potentiall > 0")
    expect(page.locator("#check-ctl-visible_if")).to_contain_text("potentiall")  # checked as typed
    page.get_by_label("Visible if").fill("potential > 0")
    expect(page.locator("#check-ctl-visible_if")).to_contain_text("Valid.")
    expect(page.locator("#check-ctl-visible_if")).to_contain_text(re.compile(r"On M-\d+ .*: (True|False)"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("started from the active version")
    expect(page.locator(".flash")).to_contain_text("The draft validates.")
    expect(page.get_by_label(re.compile(r"^Label\b"))).to_have_value("Supplier contact")
    assert_every_control_is_labelled(page)

    # Reordered by keyboard: the up button of the new (last) field, focused, Enter.
    page.locator("nav.files").get_by_role("link", name="Fields").click()
    page.get_by_role("button", name="Move Supplier contact (supplier_contact) up").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("Saved.")
    items = page.locator("#list-fields ol.items > li > a")
    expect(items.nth(items.count() - 2)).to_have_text("Supplier contact (supplier_contact)")

    # An approval step on the first gate: workflow > transition > approval steps.
    page.locator("nav.files").get_by_role("link", name="Workflows").click()
    page.get_by_role("link", name="Degree of Implementation (doi)", exact=True).click()
    page.get_by_role("link", name="Identify (DoI1 → DoI2) (identify)", exact=True).click()
    page.get_by_role("link", name="Add to approvals").click()
    page.get_by_label(re.compile(r"^Key\b")).fill("controller_check")
    page.get_by_label(re.compile(r"^Label\b")).fill("Controller check")
    page.get_by_label(re.compile(r"^Role\b")).fill("controllr")  # a slip: shown at its control after the save
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("problem(s)")
    expect(page.locator('[data-pointer="/role"] .error')).to_contain_text("controllr")
    page.get_by_role("link", name="Activate…").click()
    expect(page.get_by_role("button", name=re.compile(r"^Activate version"))).to_be_disabled()
    page.go_back()
    page.get_by_label(re.compile(r"^Role\b")).fill("controller")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("The draft validates.")
    expect(page.locator('[data-pointer="/role"] .error')).to_be_empty()
    assert_every_control_is_labelled(page)

    page.get_by_role("link", name="Diff", exact=True).click()
    expect(page.locator("#changes")).to_contain_text("Field Supplier contact added to Measure")
    expect(page.locator("#changes")).to_contain_text("Controller check")
    page.get_by_role("link", name="Impact on records").click()
    expect(page.locator("#impact-items")).to_be_visible()
    page.get_by_role("link", name="Diff", exact=True).click()
    page.get_by_role("link", name=re.compile(r"^Version \d+$")).click()
    page.get_by_label("Comment").fill("Supplier contact; the controller checks the first gate")
    page.get_by_label(re.compile("I checked the diff and the impact")).check()
    page.get_by_role("button", name=re.compile(r"^Activate version")).click()
    expect(page.locator(".flash")).to_contain_text("is active")
    log_out(page)

    # The owner: the new field at once, the new step on the next request of the gate.
    log_in(page, "owner@acme.example")
    page.goto(f"/t/acme/r/{theirs}/edit")
    expect(page.get_by_label("Supplier contact")).to_be_visible()
    page.get_by_label("Supplier contact").fill("Mia Lieferant")
    page.get_by_label("Target date").fill("2027-06-30")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved.")
    gate = page.locator("#option-identify")
    expect(gate).to_contain_text("Approval by: Controller check")
    with page.expect_response(re.compile(r"/transitions/identify$")):
        gate.get_by_role("button", name=re.compile("^Request")).click()
    pending = page.locator("#pending-request")
    expect(pending).to_contain_text("waiting for approval")
    expect(pending.locator(".step")).to_have_count(1)
    expect(pending.locator(".step")).to_contain_text("Controller check")
    log_out(page)

    # A rollback restores the previous behaviour.
    log_in(page, "admin@acme.example")
    page.goto("/t/acme/admin/config")
    page.get_by_role("link", name=f"Version {before}", exact=True).click()
    page.get_by_label("Comment").fill("Back to the gate without a check")
    page.get_by_label(f"Roll back to version {before}").check()
    page.get_by_role("button", name=f"Roll back to version {before}").click()
    expect(page.locator(".flash")).to_contain_text("Rolled back")
    page.goto(f"/t/acme/r/{other}")
    expect(page.locator("#option-identify")).to_contain_text("No approval needed")
    log_out(page)

    log_in(page, "owner@acme.example")
    page.goto(f"/t/acme/r/{theirs}/edit")
    expect(page.get_by_label("Target date")).to_be_visible()
    expect(page.get_by_label("Supplier contact")).to_have_count(0)
    assert [e for e in console_errors() if "status of 422" not in e] == []
