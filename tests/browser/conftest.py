"""Browser fixtures: a live Steerco server with CSRF on, Debian's Chromium driven by Playwright.

The server is a separate app from the ``app`` fixture (which turns CSRF off for the Flask
test client), so the browser exercises the real CSRF path: the hidden form token and the
``X-CSRFToken`` header htmx sends. It shares the test database, so rows a test writes
through ``session`` are what the browser sees, and the autouse wipe in ``tests/conftest.py``
clears them after each test (every fixture here depends on ``db_engine``).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
#: Default timeout for Playwright actions and ``expect`` assertions, in milliseconds.
TIMEOUT_MS = 5_000


@pytest.fixture(scope="session")
def live_app(db_engine: Engine, database_url: str, upload_dir: Path, outbox_dir: Path):  # type: ignore[no-untyped-def]
    """The app the browser talks to: the test settings, but with CSRF protection enabled."""
    from steerco import create_app

    return create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_DIR": str(upload_dir), "OUTBOX_DIR": str(outbox_dir),
    })


@pytest.fixture(scope="session")
def live_server(live_app, db_engine: Engine) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve ``live_app`` on a free local port in a daemon thread; yields the base URL."""
    from werkzeug.serving import make_server

    assert live_app.config["WTF_CSRF_ENABLED"] is not False, "the browser must exercise CSRF"
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="steerco-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator["object"]:
    """Debian's Chromium, launched once per run. Missing Chromium is a failure, never a skip."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. "
                    "Run `make test` (it installs it) or `sudo apt-get install chromium`.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


#: axe-core from the npm registry (``npm pack axe-core``), vendored for the tests only:
#: it checks every page the browser tests visit against WCAG 2.1 AA
AXE_SCRIPT = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
#: the rules of WCAG 2.0 and 2.1, levels A and AA
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: impacts that fail a test (moderate and minor ones are left to review)
AXE_FAILING = ("serious", "critical")
#: Runs in every document before its own scripts (Playwright's init scripts are not
#: subject to the page's Content-Security-Policy): checks the page once it has loaded and
#: again after each htmx swap has settled, and reports what fails to the test.
AXE_RUNNER = """
(() => {
  if (window.top !== window) return;
  const tags = %s, failing = %s;
  let running = false, again = false, timer = null;
  const check = () => {
    timer = null;
    if (!window.axe || !window.__axeReport) return;
    if (running) { again = true; return; }  // one run at a time: axe refuses a second
    running = true;
    let run;
    try {  // axe throws at once while another run (the test's own) is under way
      run = window.axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
    } catch (error) {
      running = false;
      timer = setTimeout(check, 200);
      return;
    }
    window.__axeRunning = run
      .then((result) => window.__axeReport({url: location.href, violations: result.violations
        .filter((v) => failing.includes(v.impact))
        .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                      nodes: v.nodes.map((n) => n.target.join(" ") + ": " + (n.failureSummary || "")).slice(0, 5)}))}))
      .catch(() => {})
      .finally(() => { running = false; if (again) { again = false; schedule(50); } });
  };
  const schedule = (delay) => { if (!timer) timer = setTimeout(check, delay); };
  window.addEventListener("load", () => schedule(0));
  document.addEventListener("htmx:afterSettle", () => schedule(50));
})();
""" % (json.dumps(AXE_TAGS), json.dumps(list(AXE_FAILING)))


def _axe_findings(report: dict) -> list[str]:  # type: ignore[type-arg]
    return [f"{report['url']}: {v['impact']} {v['id']} ({v['help']}): {'; '.join(v['nodes'])}"
            for v in report["violations"]]


@pytest.fixture
def page(browser, live_server: str) -> Iterator["object"]:  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) and page per test, with ``base_url`` set.

    axe-core is injected into every page the test visits: each serious or critical WCAG
    2.1 AA violation it finds (after load and after each htmx swap) fails the test.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    accessibility: list[str] = []
    context.expose_binding("__axeReport", lambda source, report: accessibility.extend(_axe_findings(report)))
    context.add_init_script(path=str(AXE_SCRIPT))
    context.add_init_script(AXE_RUNNER)
    pg = context.new_page()
    console_errors: list[str] = []
    pg.on("console", lambda msg: console_errors.append(f"{msg.text} ({msg.location.get('url')})")
          if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: console_errors.append(str(exc)))
    pg.console_errors = console_errors  # type: ignore[attr-defined]
    pg.accessibility_findings = accessibility  # type: ignore[attr-defined]
    try:
        yield pg
        # The Content-Security-Policy allows no inline script or style: a template that
        # breaks it fails whichever journey renders it.
        violations = [e for e in console_errors if "Content Security Policy" in e]
        assert violations == [], violations
        _check_last_page(pg, accessibility)
        assert accessibility == [], "WCAG 2.1 AA (axe-core):\n" + "\n".join(dict.fromkeys(accessibility))
    finally:
        context.close()


def _check_last_page(pg, accessibility: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The page the test ends on, as it is now (its last change may not have been checked)."""
    if not pg.url.startswith("http"):
        return
    try:
        report = pg.evaluate("""async (args) => {
            if (!window.axe) return null;
            await (window.__axeRunning || Promise.resolve()).catch(() => {});
            const r = await window.axe.run(document, {runOnly: {type: "tag", values: args.tags},
                                                      resultTypes: ["violations"]});
            return {url: location.href, violations: r.violations.filter((v) => args.failing.includes(v.impact))
              .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) =>
                n.target.join(" ") + ": " + (n.failureSummary || "")).slice(0, 5)}))};
        }""", {"tags": AXE_TAGS, "failing": list(AXE_FAILING)})
    except Exception:  # noqa: BLE001 - a page closed or mid-navigation: its loads were checked
        return
    if report:
        accessibility.extend(_axe_findings(report))


#: Console noise that is not a failure of the page under test: the missing favicon, and
#: htmx's console.error for ``htmx:sendAbort`` when ``hx-sync="this:replace"`` aborts a
#: superseded state refresh (Playwright acts faster than a person: the ``change`` a blur fires
#: and the next field's event follow each other within one round trip).
BENIGN_CONSOLE = ("/favicon.ico", "htmx:sendAbort", "htmx:afterRequest")


@pytest.fixture
def console_errors(page):  # type: ignore[no-untyped-def]
    """Call it to get the page's console errors and uncaught exceptions so far, minus
    :data:`BENIGN_CONSOLE`."""
    return lambda: [e for e in page.console_errors if not any(b in e for b in BENIGN_CONSOLE)]


@pytest.fixture
def demo(session: Session, live_server: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The demo workspaces (acme, servicedesk) with their users, committed for the server.

    The 15 demo passwords are hashed with a cheap PBKDF2 instead of scrypt (2 of the 3
    seconds a demo load takes); logging in still goes through ``check_password_hash``.
    """
    from functools import partial

    from werkzeug.security import generate_password_hash

    from steerco.demo import load_demo
    from steerco.engine import users

    monkeypatch.setattr(users, "generate_password_hash",
                        partial(generate_password_hash, method="pbkdf2:sha256:1000"))
    loaded = load_demo(session)
    session.commit()
    session.close()
    return loaded


@pytest.fixture
def package_id(demo, session: Session) -> int:  # type: ignore[no-untyped-def]
    """The id of the demo measure package Steel & Metals (acme)."""
    from sqlalchemy import select

    from steerco.store.models import Record

    found = session.scalars(select(Record.id).where(Record.title == "Steel & Metals",
                                                     Record.level_key == "measure_package")).one()
    session.close()  # hold no transaction open while the server writes
    return found
