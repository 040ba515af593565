"""Finding records, as people do it (real Chromium against the live server).

- the measure owner reaches each of their measures from "My records" in one click;
- a leader filters the list of all measures by stage and owner, and the footer total
  follows (the address keeps the filters: the list can be bookmarked);
- a role that reads the workspace without being assigned to a record starts from its lists;
- at 390 px the page never scrolls sideways (home, list, record, inbox) and the
  navigation opens and closes from the keyboard.

Every page visited is also checked by axe-core (see ``conftest.py``).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.demo import DEMO_PASSWORD
from steerco.store.models import Record, User

pytestmark = pytest.mark.usefixtures("demo")


def log_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/t/acme/$"))


def _user_id(session: Session, email: str) -> int:
    return session.scalar(select(User.id).where(User.email == email))


def test_the_owner_reaches_each_measure_from_my_records_in_one_click(page: Page, session: Session) -> None:
    owner = _user_id(session, "owner@acme.example")
    measures = [(r.id, r.number, r.title) for r in session.scalars(
        select(Record).where(Record.level_key == "measure", Record.owner_id == owner).order_by(Record.number))]
    session.close()
    assert len(measures) > 3
    log_in(page, "owner@acme.example")
    page.get_by_role("link", name="My records").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My records")
    mine = page.locator("#children-measure")
    expect(mine.locator("tbody tr")).to_have_count(len(measures))
    for record_id, number, title in measures:
        page.goto("/t/acme/mine")
        page.locator("#children-measure").get_by_role("link", name=number, exact=True).click()
        expect(page).to_have_url(re.compile(rf"/t/acme/r/{record_id}$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(title)


def _footer(page: Page) -> str:
    return page.locator('#children-measure [data-total="potential"]').inner_text().strip()


def test_a_leader_filters_all_measures_by_stage_and_owner(page: Page, session: Session) -> None:
    owner, pm = _user_id(session, "owner@acme.example"), _user_id(session, "pm@acme.example")
    measures = list(session.scalars(select(Record).where(Record.level_key == "measure").order_by(Record.number)))
    # Some measures move on to DoI2: two of the owner's and one of the program manager's.
    moved = [m for m in measures if m.owner_id == owner][:2] + [m for m in measures if m.owner_id == pm][:1]
    for m in moved:
        m.stage_key = "doi2"
    session.commit()
    session.close()

    log_in(page, "cfo@acme.example")
    page.locator("#site-nav").get_by_role("link", name="Measures", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("All measures")
    everything = _footer(page)
    assert everything

    page.get_by_label("Stage").select_option(label="DoI2 Identified")
    expect(page.locator("#children-measure tbody tr")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"stage=doi2"))
    at_doi2 = _footer(page)
    assert at_doi2 != everything

    page.get_by_label("Owner").select_option(value=str(owner))
    expect(page.locator("#children-measure tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(rf"stage=doi2.*owner={owner}|owner={owner}.*stage=doi2"))
    theirs = _footer(page)
    assert theirs not in (at_doi2, everything)

    # The address is the list: opened again, it shows the same rows and total.
    page.goto(page.url)
    expect(page.locator("#children-measure tbody tr")).to_have_count(2)
    assert _footer(page) == theirs

    # Search by number, as one types.
    page.goto("/t/acme/list/measure")
    page.get_by_label("Number or title").fill(moved[0].number)
    expect(page.locator("#children-measure tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"q={moved[0].number}"))


def test_a_role_reading_the_workspace_starts_from_its_lists(page: Page) -> None:
    log_in(page, "controller@acme.example")
    expect(page.get_by_text("There is nothing for you to see here yet")).to_have_count(0)
    work = page.locator("#your-work")
    expect(work).to_contain_text("Controller")
    work.get_by_role("link", name="Measures").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("All measures")
    expect(page.locator("#children-measure tbody tr").first).to_be_visible()


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url}: the page is {widths[0]} px wide in a {widths[1]} px window"


def test_small_screens_never_scroll_sideways(page: Page, session: Session) -> None:
    measure = session.scalar(select(Record.id).where(Record.level_key == "measure").order_by(Record.number))
    session.close()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "pm@acme.example")
    for url in ("/t/acme/", "/t/acme/list/measure", f"/t/acme/r/{measure}", "/t/acme/inbox", "/t/acme/mine"):
        page.goto(url)
        _no_sideways_scroll(page)

    # The navigation is folded away behind a button that works from the keyboard.
    nav, toggle = page.locator("#site-nav"), page.get_by_role("button", name="Menu")
    expect(nav).to_be_hidden()
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Inbox")).to_be_visible()
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    _no_sideways_scroll(page)
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(toggle).to_be_focused()
