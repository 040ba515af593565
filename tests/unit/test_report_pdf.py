"""Report PDFs parsed back: pages, running header and footer with the tenant's branding,
page numbers, bookmarks, the table header on every page of a long table, hidden values
absent, a chart that really draws; and a PDF that fetches nothing but our static files."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from configs import minimal_documents
from PIL import Image
from pypdf import PdfReader
from werkzeug.datastructures import MultiDict

from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Submission
from steerco.reports import charts
from steerco.reports.data import build_report
from steerco.reports.pdf import BASE_URL, StaticOnlyFetcher, render_pdf
from steerco.reports.render import STATIC, Printer, branding_of

LOGO = "data:image/svg+xml;base64," + base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20" fill="#7c3aed"/>'
    b"</svg>").decode()
ROWS = 140
SECRET = 987654


def documents() -> dict[str, Any]:
    docs = minimal_documents()
    docs["tenant"]["branding"] = {"primary_color": "#7c3aed", "logo_text": "Mini Transformation Office",
                                  "report_footer": "Mini Corp · Confidential", "logo": LOGO}
    docs["roles"]["roles"].append({"key": "reader", "label": "Reader", "fields": {"potential": "hidden"},
                                   "permissions": [{"levels": ["*"], "actions": ["read"], "scope": "tenant"}]})
    docs["reports"] = {"reports": [{
        "key": "pack", "title": "Measure pack", "audience": ["admin", "reader"], "level": "measure",
        "page": {"size": "A4", "orientation": "landscape", "cover": True},
        "sections": [
            {"type": "kpi_tiles", "title": "Headline", "tiles": [
                {"label": "Total potential", "field": "potential", "aggregate": "sum"}]},
            {"type": "chart", "title": "Potential by category", "chart": "bar", "field": "potential",
             "group_by": "category"},
            {"type": "table", "title": "All measures", "new_page": True, "columns": ["number", "title", "category",
                                                                                    "potential"],
             "group_by": "category", "totals": True},
        ],
    }]}
    return docs


@pytest.fixture(scope="module")
def printer() -> Printer:
    return Printer()


@pytest.fixture
def pack(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Program", MultiDict()))
    for n in range(ROWS):
        potential = SECRET if n == 7 else 1000 + n
        records.create("measure", program, Submission(f"Measure number {n}", MultiDict({
            "potential": str(potential), "category": ["procurement", "personnel"][n % 2]})))
    session.commit()
    return tenant, {"admin": admin, "reader": make_user(tenant, [("reader", None)])}


def render(session, printer, tenant, user) -> bytes:  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    access = Access(config, tenants.actor_for(session, tenant, user))
    report = config.reports["pack"]
    return printer.report_pdf(config, report, build_report(session, tenant.id, config, access, report))


def test_a_long_report_prints_with_branding_page_numbers_bookmarks_and_repeated_headers(session, pack, printer) -> None:  # type: ignore[no-untyped-def]
    tenant, people = pack
    reader = PdfReader(io.BytesIO(render(session, printer, tenant, people["admin"])))
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) >= 4
    assert all(p.mediabox.width > p.mediabox.height for p in reader.pages)  # the report's A4 landscape
    cover, first = pages[0], pages[1]
    assert "Measure pack" in cover and "Mini Corp" in cover and "Page 1 of" not in cover  # the cover has no number
    for number, text in enumerate(pages[1:], start=2):
        assert "Mini Transformation Office" in text and "Mini Corp · Confidential" in text
        assert f"Page {number} of {len(pages)}" in text
    assert "Total potential" in first and f"€{sum(1000 + n for n in range(ROWS) if n != 7) + SECRET:,}" in first
    table_pages = [t for t in pages if "Measure number" in t]
    assert len(table_pages) >= 2
    for text in table_pages:  # the header row repeats on every page of the table
        assert "No." in text and "Potential" in text and "Category" in text
    assert "All measures" not in first  # the table section starts on a new page
    assert "Subtotal" in pages[-1] and f"Total ({ROWS})" in pages[-1]
    titles = [item.title for item in _flatten(reader.outline)]
    assert titles[:1] == ["Measure pack"] and {"Headline", "Potential by category", "All measures"} <= set(titles)
    assert reader.metadata.title == "Measure pack"


def _flatten(outline: list[Any]) -> list[Any]:
    found = []
    for item in outline:
        found += _flatten(item) if isinstance(item, list) else [item]
    return found


def test_a_hidden_field_is_absent_from_the_pdf(session, pack, printer) -> None:  # type: ignore[no-untyped-def]
    tenant, people = pack
    admin = "".join(p.extract_text() for p in PdfReader(io.BytesIO(render(session, printer, tenant, people["admin"]))).pages)
    pdf = render(session, printer, tenant, people["reader"])
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert f"{SECRET:,}" in admin
    assert f"{SECRET:,}" not in text and "€1,001" not in text
    assert "Hidden" in text and "Hidden from you: Potential." in text and "Measure number 7" in text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_a_chart_draws_in_the_pdf(tmp_path: Path) -> None:
    svg = charts.bar_chart("Plan vs actual", ["Alpha", "Beta", "Gamma"],
                           [charts.Series("Plan", (300.0, 500.0, 200.0)), charts.Series("Actual", (250.0, 520.0, 90.0))])
    html = f'<html><body style="margin:0"><figure class="chart" style="margin:0">{svg}</figure></body></html>'
    (tmp_path / "chart.pdf").write_bytes(render_pdf(html, STATIC))
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(tmp_path / "chart.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    image = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    colors = image.crop((0, 0, image.width, image.height // 2)).getcolors(maxcolors=1 << 20) or []

    def near(color: str) -> int:
        r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
        return sum(n for n, (pr, pg, pb) in colors if abs(pr - r) + abs(pg - g) + abs(pb - b) < 40)

    assert near(charts.PALETTE[0]) > 300 and near(charts.PALETTE[1]) > 300  # both series' bars are there
    assert sum(n for n, pixel in colors if pixel != (255, 255, 255)) > 2000


def test_branding_values_are_checked_again_before_they_reach_css_or_markup(session, make_tenant) -> None:  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, make_tenant(documents()))
    branding = branding_of(config)
    assert branding.color == "#7c3aed" and branding.logo == LOGO and branding.footer == "Mini Corp · Confidential"
    forged = type(config.branding)({"primary_color": "red;} body{display:none", "logo": "javascript:alert(1)"})
    sneaky = branding_of(type("C", (), {"branding": forged, "name": "X"})())  # type: ignore[arg-type]
    assert sneaky.color == "#1f5f99" and sneaky.logo == ""


def test_pdf_rendering_fetches_only_static_files_and_data_urls(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    fetcher = StaticOnlyFetcher(STATIC)
    for url in (f"file://{secret}", "http://127.0.0.1:9/x.png", "https://169.254.169.254/latest/meta-data",
                f"{BASE_URL}static/../../secret.txt", f"{BASE_URL}static/..%2f..%2fsecret.txt",
                f"{BASE_URL}not-static/print.css", "ftp://example.org/x", f"{BASE_URL}static/no-such-file.css"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert b"@page" in fetcher.fetch(f"{BASE_URL}static/print.css").read()
    # An image inside a data: SVG goes through the same fetcher: nested file:// is refused too.
    nested = base64.b64encode(f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
                              f'<image xlink:href="file://{secret}" width="10" height="10"/></svg>'.encode()).decode()
    pdf = render_pdf(f'<p>Hello</p><img src="data:image/svg+xml;base64,{nested}">'
                     f'<a href="file://{secret}" rel="attachment">x</a>'
                     f'<link rel="stylesheet" href="http://127.0.0.1:9/x.css">', STATIC)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Hello" in text and b"TOP-SECRET" not in pdf


def test_the_print_base_template_can_wrap_any_document(session, make_tenant, printer) -> None:  # type: ignore[no-untyped-def]
    """Another printed document (a record's sheet) adopts the branding by extending the base."""
    from steerco.reports.render import PageSetup, page_css, print_context

    config = tenants.active_config(session, make_tenant(documents()))
    template = printer.env.from_string('{% extends "reports/pdf_base.html" %}{% block title %}Sheet{% endblock %}'
                                       '{% block content %}<h1>Sheet</h1><p>Body</p>{% endblock %}')
    context = print_context(config, PageSetup("A3", "portrait"))
    html = template.render(**context)
    assert "print.css" in html and "<style" not in html  # the page setup comes as a stylesheet of its own
    css = page_css(context)
    assert "size: A3 portrait" in css and "--brand: #7c3aed" in css
    page = PdfReader(io.BytesIO(printer.pdf(html, css=css))).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 1191)  # A3, in points
    text = page.extract_text()
    assert "Mini Corp · Confidential" in text and "Page 1 of 1" in text and "Mini Transformation Office" in text


def test_a_big_report_printed_in_parallel_chunks_reads_as_one_document(session, pack, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The parallel path (reports/chunks.py) with a low threshold: the same pages' content,
    page numbers over the merged whole, each bookmark once and pointing at its page, the
    table's totals at its end, the header row on every table page."""
    from steerco.reports import chunks

    tenant, people = pack
    config = tenants.active_config(session, tenant)
    access = Access(config, tenants.actor_for(session, tenant, people["admin"]))
    report = config.reports["pack"]
    data = build_report(session, tenant.id, config, access, report)
    parts = chunks.split(data, 2)
    assert len(parts) == 2 and parts[1].sections[0].title == ""  # the table goes on, without a new heading
    rows = [r.number for part in parts for s in part.sections if s.table for g in s.table.groups for r in g.rows]
    assert rows == [r.number for s in data.sections if s.table for g in s.table.groups for r in g.rows]
    reader = PdfReader(io.BytesIO(Printer(workers=2, parallel_from=10).report_pdf(config, report, data)))
    pages = [p.extract_text() for p in reader.pages]
    assert "Measure pack" in pages[0] and "Page 1 of" not in pages[0]
    for number, text in enumerate(pages[1:], start=2):
        assert f"Page {number} of {len(pages)}" in text and "Mini Corp · Confidential" in text
        assert "Measure pack" in text  # the running header, in every chunk
    for n in range(ROWS):
        assert sum(f"Measure number {n}\n" in t or t.endswith(f"Measure number {n}") or
                   f"Measure number {n} " in t for t in pages) >= 1
    table_pages = [t for t in pages if "Measure number" in t]
    assert all("No." in t and "Potential" in t for t in table_pages)
    assert f"Total ({ROWS})" in pages[-1] and f"Total ({ROWS})" not in "".join(pages[:-1])
    outline = _flatten(reader.outline)
    titles = [item.title for item in outline]
    assert titles.count("All measures") == 1 and titles.count("Measure pack") == 1
    target = reader.get_destination_page_number(outline[titles.index("All measures")])
    assert "All measures" in pages[target]
