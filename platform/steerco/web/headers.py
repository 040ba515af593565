"""Security headers on every answer, and the per-workspace stylesheet that lets the
Content-Security-Policy forbid inline styles as well as inline scripts.

- ``Content-Security-Policy``: only our own origin's scripts, styles, images and fonts;
  no plugins, no ``<base>``, no framing, forms post only to us. Templates carry no inline
  script, ``on*=`` handler or ``style=`` attribute: behaviour lives in
  ``static/steerco.js``, colours a workspace configures (stages, statuses, branding) in
  ``/t/<tenant>/theme.css`` as one class per colour (``color-1f77b4``), and htmx's own
  indicator style (``includeIndicatorStyles`` is off) in ``static/steerco.css``; htmx
  settles no ``style`` attribute (``attributesToSettle`` in ``layout.html``) and evaluates
  no strings (``allowEval`` off);
- ``Strict-Transport-Security`` when served over HTTPS (``STEERCO_SECURE_COOKIES=1``);
- ``Cache-Control: no-store`` on every page the app renders (and every export): they
  carry one person's view of tenant data, or a link's token; only static files and the
  versioned stylesheet may be cached.
"""

from __future__ import annotations

import re
from typing import Iterable

from flask import Flask, Response, g, request

from steerco.config.model import TenantConfig
from steerco.web.tenancy import tenant_blueprint

CONTENT_SECURITY_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")
HSTS = "max-age=31536000; includeSubDomains"
#: the configuration schemas allow #rrggbb colours only; anything else is no class
_HEX = re.compile(r"#([0-9a-fA-F]{6})")


def color_class(color: str | None) -> str:
    """The class that paints an element in a configured colour (see :func:`theme_css`)."""
    found = _HEX.fullmatch(color or "")
    return f"color-{found.group(1).lower()}" if found else ""


def _colors(config: TenantConfig) -> Iterable[str | None]:
    yield config.branding.get("primary_color")
    for workflow in config.workflows.values():
        yield from (stage.color for stage in workflow.stages)
    for dimension in config.status_dimensions.values():
        yield from (option.color for option in dimension.options)
    for field in config.fields.values():
        yield from (option.color for option in getattr(field, "options", None) or ())


def theme_css(config: TenantConfig) -> str:
    """One rule per colour the workspace configures: ``--color`` (and the stage and status
    badges' ``--stage``/``--status``) for elements that carry its class."""
    rules = {}
    for color in _colors(config):
        name = color_class(color)
        if name:
            value = "#" + name.removeprefix("color-")
            rules[name] = f".{name} {{ --color: {value}; --stage: {value}; --status: {value}; }}"
    return "\n".join(rules[name] for name in sorted(rules)) + "\n"


def add_security_headers(app: Flask, response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if app.config.get("SECURE_COOKIES"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    # send_file (attachments, PDFs) says "no-cache", which still lets a cache store the file.
    if request.endpoint != "static" and headers.get("Cache-Control", "no-cache") == "no-cache":
        headers["Cache-Control"] = "no-store"
    return response


bp = tenant_blueprint("theme", __name__)


@bp.get("/theme.css")
def stylesheet():  # type: ignore[no-untyped-def]
    """The workspace's colours as classes; its URL carries the configuration version, so
    a browser may keep it until the configuration changes."""
    return Response(theme_css(g.config), mimetype="text/css",
                    headers={"Cache-Control": "private, max-age=86400"})
