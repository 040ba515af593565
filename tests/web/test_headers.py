"""Security headers: a Content-Security-Policy without inline script or style, HSTS and
``__Host-`` cookies over HTTPS, and no caching of pages with someone's data.

The policy only holds if no template needs an exception, so every template is checked
for inline scripts, ``on*=`` handlers, ``style=`` attributes and ``javascript:`` URLs
(the browser journeys also fail on any CSP violation in the console).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from steerco.web.headers import CONTENT_SECURITY_POLICY, color_class, theme_css

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PASSWORD = "correct-horse-battery"  # the conftest's password for every made user


def test_the_policy_is_the_one_promised() -> None:
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")
                                            if p.name != "record_pdf.html"))  # the PDF is rendered, not browsed
def test_no_template_needs_inline_script_or_style(template) -> None:  # type: ignore[no-untyped-def]
    html = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html), "an on*= handler"
    assert not re.search(r"\sstyle\s*=", html), "a style= attribute"
    assert "<style" not in html and "javascript:" not in html
    assert "hx-on" not in html  # htmx would need eval for it, and allowEval is off


def test_every_answer_carries_the_headers(client, session, make_tenant, make_user, records_for, login) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    for response in (client.get("/login"), client.get("/static/steerco.css")):
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP in tests
    assert "no-store" not in client.get("/static/steerco.css").headers.get("Cache-Control", "")
    login(user.email)
    from steerco.engine.records import Submission
    from werkzeug.datastructures import MultiDict

    program = records_for(tenant, user).create("program", None, Submission("A program", MultiDict()))
    session.commit()
    for url in ("/t/mini/", "/t/mini/list/program", "/t/mini/list/program/export.csv", "/account/tokens",
                "/account/password", "/t/mini/admin/users", f"/t/mini/r/{program.id}/pdf"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store", url
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url


def test_over_https_cookies_are_secure_host_cookies_and_hsts_is_sent(database_url, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    from steerco import create_app
    from steerco.settings import _cookies

    tenant = make_tenant()
    user = make_user(tenant)
    app = create_app({"TESTING": True, "SECRET_KEY": "https", "SQLALCHEMY_DATABASE_URI": database_url,
                      "WTF_CSRF_ENABLED": False, "SECURE_COOKIES": True, **_cookies(True)})
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "1"},
                           base_url="https://steerco.example")
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie and "Domain" not in cookie
    assert "SameSite=Lax" in cookie
    assert _cookies(True)["REMEMBER_COOKIE_NAME"] == "__Host-remember_token"


def test_the_workspace_colours_come_from_a_stylesheet(client, make_tenant, make_user, login) -> None:  # type: ignore[no-untyped-def]
    from configs import minimal_documents

    documents = minimal_documents()
    documents["tenant"]["branding"] = {"primary_color": "#1F77B4"}
    tenant = make_tenant(documents)
    login(make_user(tenant).email)
    page = client.get("/t/mini/").get_data(as_text=True)
    assert 'class="tenant color-1f77b4"' in page
    href = re.search(r'<link rel="stylesheet" href="(/t/mini/theme\.css\?v=\d+)">', page).group(1)
    css = client.get(href)
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert ".color-1f77b4 { --color: #1f77b4;" in css.get_data(as_text=True)
    assert css.headers["Cache-Control"] == "private, max-age=86400"


def test_only_hex_colours_become_classes() -> None:
    assert color_class("#A0b1C2") == "color-a0b1c2"
    assert color_class("red; background: url(x)") == "" and color_class(None) == ""


def test_every_configured_colour_of_the_demo_is_in_its_stylesheet() -> None:
    from steerco.config import compile_config
    from steerco.config.loader import read_folder

    for slug in ("acme", "servicedesk"):
        documents, _ = read_folder(str(TEMPLATES.parent / "tenants" / slug))
        config = compile_config(documents)
        css = theme_css(config)
        for workflow in config.workflows.values():
            for stage in workflow.stages:
                assert f".{color_class(stage.color)} {{" in css, (slug, stage.key)
