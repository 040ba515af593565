"""A measure owner's journey in a real browser: log in, click down the demo tree to a
measure package, fill the generated "New Measure" form (with the htmx round trip that shows
the capex amount once capex is required), save, and find the measure in the package's list.
Also the form's answers to bad input: inline while typing, and after a submit.

Runs against the demo workspace ``acme`` (tenants/acme) on a live server with CSRF on.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from steerco.demo import DEMO_PASSWORD

ADMIN = "admin@acme.example"
SCREENSHOT = "/tmp/steerco-form.png"
#: ACME Group > Operations Excellence > Procurement 2027 > Direct Material Savings > Steel & Metals
PATH_TO_PACKAGE = ["ACME Group", "Operations Excellence", "Procurement 2027", "Direct Material Savings",
                   "Steel & Metals"]


def log_in(page: Page, email: str = ADMIN, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    # One workspace: the start page of acme.
    expect(page).to_have_url(re.compile(r"/t/acme/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("ACME")


def open_package(page: Page) -> None:
    """From the workspace start page, click down the tree to Steel & Metals."""
    for title in PATH_TO_PACKAGE:
        page.get_by_role("link", name=title, exact=True).first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    for title in PATH_TO_PACKAGE[:-1]:
        expect(crumbs).to_contain_text(title)


def open_new_measure_form(page: Page, package_id: int | None = None) -> None:
    """Log in and open "New Measure" under Steel & Metals: by clicking down the tree, or,
    for the tests about the form alone, by going to the package's page (``package_id``)."""
    log_in(page)
    if package_id is None:
        open_package(page)
    else:
        page.goto(f"/t/acme/r/{package_id}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Steel & Metals")
    measures = page.locator("#children-measure")
    expect(measures).to_be_visible()
    measures.get_by_role("link", name="New Measure").click()
    expect(page).to_have_url(re.compile(r"/t/acme/new/measure\?parent=\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("New Measure")
    # The crumbs end at the package the measure is created in.
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text("Steel & Metals")


STATE_URL = re.compile(r"/t/acme/form/measure/state")


def fill_and_settle(page: Page, label_or_locator, value: str) -> None:  # type: ignore[no-untyped-def]
    """Type into a field and wait for the htmx state refresh that typing triggers."""
    field = page.get_by_label(label_or_locator, exact=True) if isinstance(label_or_locator, str) \
        else label_or_locator
    with page.expect_response(STATE_URL) as refresh:
        field.fill(value)
    assert refresh.value.status == 200
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


@pytest.mark.browser
def test_create_measure_with_capex_through_the_generated_form(page: Page, demo, console_errors) -> None:  # type: ignore[no-untyped-def]
    open_new_measure_form(page)

    page.get_by_label("Measure title").fill("Consolidate steel service centres")
    page.get_by_label("Description").fill("Move the three regional service centres onto one framework contract.")
    page.get_by_label("Category").select_option(label="Procurement")
    page.get_by_label("Baseline", exact=True).fill("2400000")
    page.get_by_label("Potential", exact=True).fill("180000")

    capex_field = page.locator("#field-capex_amount")
    capex_input = page.get_by_label("Capex amount")
    has_capex = page.get_by_label("Requires capex")
    expect(capex_field).to_be_hidden()
    expect(has_capex).not_to_be_checked()

    # Ticking the box posts the form to form/measure/state; the capex field comes back out
    # of band, now visible.
    with page.expect_response(STATE_URL) as state_response:
        has_capex.check()
    assert state_response.value.status == 200
    # htmx sends the CSRF token from <body hx-headers>; the server checks it (CSRF is on).
    assert state_response.value.request.headers.get("x-csrftoken")
    expect(capex_field).to_be_visible()
    expect(capex_input).to_be_editable()
    fill_and_settle(page, capex_input, "75000")

    # The computed probability-weighted potential follows what was typed (50 % default).
    expect(page.locator("#field-probability_weighted_potential")).to_contain_text("90.000")
    # The fields typed into before the refresh kept their values.
    expect(page.get_by_label("Potential", exact=True)).to_have_value("180000")
    expect(capex_input).to_have_value("75000")
    expect(page.locator("p.error:not(:empty)")).to_have_count(0)

    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_role("button", name="Save").click()

    # The new measure's page.
    expect(page).to_have_url(re.compile(r"/t/acme/r/\d+$"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Consolidate steel service centres")
    number = heading.locator(".number").inner_text().strip()
    assert re.fullmatch(r"M-\d{5}", number), number
    expect(page.get_by_role("status")).to_contain_text(f"Measure {number} created.")
    expect(page.locator("#value-category")).to_have_text("Procurement")
    expect(page.locator("#value-has_capex")).to_have_text("Yes")
    expect(page.locator("#value-capex_amount")).to_contain_text("75.000")
    expect(page.locator("#value-potential")).to_contain_text("180.000")

    # Back to the package through the breadcrumbs: the measure is in its list.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=re.compile("Steel & Metals")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Steel & Metals")
    row = page.locator("#children-measure tbody tr").filter(has_text="Consolidate steel service centres")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(number)
    expect(row).to_contain_text("Procurement")
    row.get_by_role("link", name="Consolidate steel service centres").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)

    assert console_errors() == []


@pytest.mark.browser
def test_unticking_capex_hides_the_amount_again(page: Page, package_id: int) -> None:  # type: ignore[no-untyped-def]
    open_new_measure_form(page, package_id)
    capex_field = page.locator("#field-capex_amount")
    page.get_by_label("Requires capex").check()
    expect(capex_field).to_be_visible()
    page.get_by_label("Requires capex").uncheck()
    expect(capex_field).to_be_hidden()


@pytest.mark.browser
def test_inline_error_for_a_negative_amount_appears_while_typing(page: Page, package_id: int) -> None:  # type: ignore[no-untyped-def]
    open_new_measure_form(page, package_id)
    error = page.locator("#error-potential")
    expect(error).to_be_hidden()
    page.get_by_label("Potential", exact=True).fill("-5")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    # Fixing the value clears the message, still without submitting.
    page.get_by_label("Potential", exact=True).fill("5000")
    expect(error).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/new/measure\?parent=\d+$"))


@pytest.mark.browser
@pytest.mark.parametrize("typed", ["abc", "5,000.50"])
def test_inline_error_for_text_typed_into_a_money_field(page: Page, package_id: int, typed: str) -> None:  # type: ignore[no-untyped-def]
    """Typing something that is not a number into a money field shows a message, unsent
    (acme writes German numbers: "1,5" is one and a half there, English grouping is refused)."""
    open_new_measure_form(page, package_id)
    potential = page.get_by_label("Potential", exact=True)
    potential.click()
    page.keyboard.type(typed)
    error = page.locator("#error-potential")
    expect(error).to_be_visible(timeout=2_000)
    expect(error).to_contain_text("number")
    expect(page).to_have_url(re.compile(r"/new/measure\?parent=\d+$"))


@pytest.mark.browser
def test_an_unparseable_amount_is_not_silently_dropped_on_save(page: Page, package_id: int) -> None:  # type: ignore[no-untyped-def]
    open_new_measure_form(page, package_id)
    page.get_by_label("Measure title").fill("Typo in the potential")
    page.get_by_label("Category").select_option(label="Procurement")
    page.get_by_label("Potential", exact=True).click()
    page.keyboard.type("180000e")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    # Either the form comes back with a message, or the amount was kept; never "saved, value gone".
    if re.search(r"/r/\d+$", page.url):
        expect(page.locator("#value-potential")).to_contain_text("180.000", timeout=1_000)
    else:
        expect(page.locator("#error-potential")).to_be_visible(timeout=1_000)


@pytest.mark.browser
def test_submit_without_a_required_field_returns_the_form_with_values_and_a_message(page: Page, package_id: int) -> None:  # type: ignore[no-untyped-def]
    open_new_measure_form(page, package_id)
    page.get_by_label("Measure title").fill("Index-based nickel surcharge")
    page.get_by_label("Description").fill("Tie the nickel surcharge to the LME index.")
    page.get_by_label("Potential", exact=True).fill("42000")
    page.get_by_label("Requires capex").check()
    expect(page.locator("#field-capex_amount")).to_be_visible()
    fill_and_settle(page, "Capex amount", "1500")
    # Category (required) is left empty.
    with page.expect_response(lambda r: r.request.method == "POST" and "/new/measure" in r.url) as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 422

    expect(page.get_by_role("heading", level=1)).to_have_text("New Measure")
    expect(page.locator("#form-message")).to_be_visible()
    expect(page.locator("#form-message")).not_to_be_empty()
    expect(page.locator("#field-category")).to_have_class(re.compile(r"\binvalid\b"))
    expect(page.locator("#error-category")).to_be_visible()
    expect(page.get_by_label("Category")).to_have_attribute("aria-invalid", "true")
    # Everything typed is still there (numbers as the workspace's locale writes them).
    expect(page.get_by_label("Measure title")).to_have_value("Index-based nickel surcharge")
    expect(page.get_by_label("Description")).to_have_value("Tie the nickel surcharge to the LME index.")
    expect(page.get_by_label("Potential", exact=True)).to_have_value("42.000")
    expect(page.get_by_label("Requires capex")).to_be_checked()
    expect(page.locator("#field-capex_amount")).to_be_visible()
    expect(page.get_by_label("Capex amount")).to_have_value("1.500")

    # Fill the missing field and save: the form (and its CSRF token) still works.
    page.get_by_label("Category").select_option(label="Procurement")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/t/acme/r/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Index-based nickel surcharge")
    expect(page.locator("#value-capex_amount")).to_contain_text("1.500")


@pytest.mark.browser
def test_wrong_password_is_refused(page: Page, demo) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("E-mail").fill(ADMIN)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("E-mail or password is not right.")
    expect(page.get_by_label("E-mail")).to_have_value(ADMIN)


@pytest.mark.browser
def test_a_form_without_its_csrf_token_is_refused(page: Page, package_id: int) -> None:  # type: ignore[no-untyped-def]
    """The live server really checks CSRF: a form whose token was tampered with is refused."""
    open_new_measure_form(page, package_id)
    page.get_by_label("Measure title").fill("Forged measure")
    page.get_by_label("Category").select_option(label="Procurement")
    page.locator("form.record-form input[name=csrf_token]").evaluate("e => { e.value = 'forged'; }")
    with page.expect_response(lambda r: r.request.method == "POST" and "/new/measure" in r.url) as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 400
    expect(page.locator("main")).to_contain_text("Your form expired")
    page.goto(f"/t/acme/r/{package_id}")
    expect(page.locator("#children-measure")).not_to_contain_text("Forged measure")
