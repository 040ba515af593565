"""Report HTML for print, and its PDF: our templates, our stylesheet, nothing fetched.

The dashboard page (Flask) and the PDF (here, also in a background worker without Flask)
render the same section partials under ``templates/reports/``. This module holds its own
Jinja environment over that folder, with autoescaping and one ``url_for`` that knows
only static files, so a worker process needs no web app to print a report.

Every printed document extends ``reports/pdf_base.html``: ``static/print.css`` (small, and
separate from the screen CSS, so WeasyPrint has little to cascade), page size and
orientation and the brand colour (:func:`page_css`, handed to WeasyPrint as a stylesheet
of its own: templates carry no inline style), a running header with the tenant's logo and name, a running footer with its
footer text ("Confidential"), "Page 3 of 12", PDF bookmarks from the headings, table
headers repeated on each page, rows and charts kept whole. A record's PDF can adopt it by
extending the same base with :func:`print_context` in its context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from steerco.config.model import Report, TenantConfig
from steerco.reports import chunks
from steerco.reports.data import ReportData
from steerco.reports.pdf import render_document
from steerco.settings import RESOURCE_ROOT

TEMPLATES = RESOURCE_ROOT / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"
PAGE_SIZES = {"A4", "A3", "Letter"}
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_LOGO = re.compile(r"^(data:image/(png|jpeg|gif|svg\+xml);base64,[A-Za-z0-9+/=]+|[a-z0-9_-][a-z0-9_.-]*"
                   r"(/[a-z0-9_-][a-z0-9_.-]*)*\.(png|jpe?g|gif|svg))$")
DEFAULT_COLOR = "#1f5f99"


@dataclass(frozen=True)
class Branding:
    """What a tenant's printed documents carry: name, logo, colour, footer text."""

    name: str
    logo_text: str
    #: a ``data:image/...`` URL, or a file under the app's static folder
    logo: str
    color: str
    footer: str

    @property
    def logo_url(self) -> str:
        if not self.logo or self.logo.startswith("data:"):
            return self.logo
        return static_url("static", filename=self.logo)


@dataclass(frozen=True)
class PageSetup:
    size: str = "A4"
    orientation: str = "portrait"

    @property
    def css(self) -> str:
        """The value of CSS ``@page { size }``, only ever from the allowed sizes."""
        size = self.size if self.size in PAGE_SIZES else "A4"
        return f"{size} {'landscape' if self.orientation == 'landscape' else 'portrait'}"


def branding_of(config: TenantConfig) -> Branding:
    """The tenant's branding, each value checked again before it reaches markup or CSS."""
    raw = config.branding
    color = raw.get("primary_color") or DEFAULT_COLOR
    logo = raw.get("logo") or ""
    return Branding(config.name, raw.get("logo_text") or config.name,
                    logo if _LOGO.match(logo) else "", color if _COLOR.match(color) else DEFAULT_COLOR,
                    raw.get("report_footer") or "")


def page_of(report: Report) -> PageSetup:
    return PageSetup(report.page_size, report.orientation)


def print_context(config: TenantConfig, page: PageSetup | None = None, **extra: Any) -> dict[str, Any]:
    """What ``reports/pdf_base.html`` needs: the branding and the page setup."""
    return {"branding": branding_of(config), "page": page or PageSetup(), **extra}


def page_css(context: dict[str, Any]) -> str:
    """The page size and orientation and the brand colour of a document rendered with
    :func:`print_context`, as CSS for WeasyPrint to apply next to ``static/print.css``.
    They come from configuration, so they cannot live in that file, and the templates
    carry no ``<style>`` (tests/web/test_headers.py); both values are checked already
    (:attr:`PageSetup.css` knows only the allowed sizes, :func:`branding_of` only
    ``#rrggbb`` colours)."""
    branding, page = context["branding"], context["page"]
    return f"@page {{ size: {page.css}; }}\n:root {{ --brand: {branding.color}; }}\n"


def static_url(endpoint: str, **values: Any) -> str:
    """``url_for`` for print templates: static files only, resolved by the PDF fetcher."""
    if endpoint != "static" or set(values) != {"filename"}:
        raise ValueError(f"print templates link only static files, not {endpoint!r}")
    return "/static/" + str(values["filename"]).lstrip("/")


class Printer:
    """Renders print templates and their PDFs (one per process; Jinja caches templates)."""

    def __init__(self, templates: Path = TEMPLATES, static_folder: Path = STATIC, workers: int = 1,
                 parallel_from: int = chunks.PARALLEL_FROM_ROWS):
        """``workers`` > 1: reports of ``parallel_from`` rows or more are laid out in that
        many processes at once (see :mod:`steerco.reports.chunks`)."""
        self.static_folder = static_folder
        self.workers, self.parallel_from = workers, parallel_from
        self.env = Environment(loader=FileSystemLoader(str(templates)), autoescape=select_autoescape(("html",)),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.globals["url_for"] = static_url

    def html(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def report_html(self, config: TenantConfig, report: Report, data: ReportData, continued: bool = False) -> str:
        """The whole report as one printable HTML document (``continued``: a later chunk of
        it, without cover and title)."""
        return self.html("reports/report_pdf.html", report=data, record_url=None, continued=continued,
                         **print_context(config, page_of(report)))

    def pdf(self, html: str, progress: Callable[[int, str], None] | None = None, css: str = "") -> bytes:
        """The PDF of ``html`` (with ``css``, e.g. :func:`page_css`): laid out first (most
        of the time), then written."""
        document = render_document(html, self.static_folder, css)
        if progress:
            progress(85, f"Writing {len(document.pages)} pages")
        return document.write_pdf()

    def report_pdf(self, config: TenantConfig, report: Report, data: ReportData,
                   progress: Callable[[int, str], None] | None = None, workers: int | None = None) -> bytes:
        """The report's PDF: in one piece, or for a big report with several workers in
        parallel chunks (``workers`` overrides the printer's own number)."""
        css = page_css(print_context(config, page_of(report)))
        workers = self.workers if workers is None else workers
        if workers > 1 and chunks.report_weight(data) >= self.parallel_from:
            if progress:
                progress(50, f"Laying out the pages in {workers} parts at once")
            return chunks.render_parallel(lambda part, continued: self.report_html(config, report, part, continued),
                                          data, self.static_folder, css, workers, progress)
        html = self.report_html(config, report, data)
        if progress:
            progress(50, "Laying out the pages")
        return self.pdf(html, progress, css)
