"""Accounts in a real browser (demo workspace, CSRF and the Content-Security-Policy on):

- acme's administrator invites a new colleague; the colleague opens the mailed link,
  chooses their own password and lands in the workspace;
- deactivating asks first (the question comes from static/steerco.js, no inline handler):
  "Cancel" changes nothing, "OK" closes the workspace to the person.
"""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from steerco.demo import DEMO_PASSWORD


def log_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _mailed_link(outbox_dir, to: str) -> str:  # type: ignore[no-untyped-def]
    for path in sorted(outbox_dir.glob("*.eml"), reverse=True):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if message["To"] == to:
            return urlsplit(re.search(r"http://\S+/account/invitation/\S+", message.get_content()).group(0)).path
    raise AssertionError(f"no mail to {to}")


def test_an_invited_colleague_chooses_their_password_and_joins(page: Page, demo, outbox_dir, browser, live_server,
                                                             console_errors) -> None:  # type: ignore[no-untyped-def]
    log_in(page, "admin@acme.example")
    page.goto("/t/acme/admin/users/new")
    page.get_by_label("E-mail").fill("ines.new@acme.example")
    page.get_by_label("Name").fill("Ines New")
    page.get_by_label("Role").select_option(label="Viewer")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator(".flash")).to_contain_text("Invitation sent to ines.new@acme.example.")
    expect(page.locator("#user-status")).to_have_text("Invited: has not accepted the invitation yet")

    newcomer = browser.new_context(base_url=live_server).new_page()
    try:
        newcomer.goto(_mailed_link(outbox_dir, "ines.new@acme.example"))
        expect(newcomer.get_by_role("heading", level=1)).to_have_text("Join ACME Industrial Group – Cost Transformation")
        newcomer.locator("#input-password").fill("ines picks her own")
        newcomer.get_by_label("New password again").fill("ines picks her own")
        newcomer.get_by_role("button", name="Set password and join").click()
        expect(newcomer).to_have_url(re.compile(r"/t/acme/$"))
        expect(newcomer.locator(".who")).to_have_text("Ines New")
    finally:
        newcomer.context.close()
    page.reload()
    expect(page.locator("#user-status")).to_have_text("Active in this workspace")
    assert console_errors() == []


def test_deactivating_asks_first(page: Page, demo, console_errors) -> None:  # type: ignore[no-untyped-def]
    log_in(page, "admin@acme.example")
    page.goto("/t/acme/admin/users?q=viewer")
    page.get_by_role("link", name="Vera Viewer").click()
    questions: list[str] = []

    def answer(accept: bool):  # type: ignore[no-untyped-def]
        def handle(dialog):  # type: ignore[no-untyped-def]
            questions.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handle

    page.once("dialog", answer(False))
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator("#user-status")).to_have_text("Active in this workspace")
    page.once("dialog", answer(True))
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator("#user-status")).to_contain_text("Deactivated in this workspace")
    assert questions == ["Deactivate Vera Viewer? They can no longer open this workspace, from their next click on."] * 2
    assert console_errors() == []
