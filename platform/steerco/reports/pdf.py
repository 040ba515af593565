"""HTML to PDF with WeasyPrint, fetching nothing but our own static files.

WeasyPrint's default fetcher follows any URL in the document: a ``file://`` link or an
image on a loopback address would end up inside a PDF a user downloads. Pages rendered
here resolve against a base URL that is not on any network; the fetcher answers only
``data:`` URLs and files under the static folder, and refuses everything else (the
resource is then left out, the PDF is still produced).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint import CSS, HTML
from weasyprint.document import Document
from weasyprint.urls import URLFetcher, URLFetcherResponse

BASE_URL = "https://steerco.invalid/"


class StaticOnlyFetcher(URLFetcher):
    """Serves ``data:`` URLs and ``/static/…`` of our base URL from disk; nothing else."""

    def __init__(self, static_folder: str | Path):
        super().__init__(allowed_protocols={"data"}, allow_redirects=False, timeout=2)
        self.static_root = Path(static_folder).resolve()

    def fetch(self, url, headers=None):  # type: ignore[no-untyped-def, override]
        if url.startswith("data:"):
            return super().fetch(url, headers)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}/" != BASE_URL or not parts.path.startswith("/static/"):
            raise ValueError(f"not fetched while rendering a PDF: {url}")
        path = (self.static_root / unquote(parts.path[len("/static/"):])).resolve()
        if not path.is_relative_to(self.static_root) or not path.is_file():
            raise ValueError(f"no such static file: {url}")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})


def render_document(html: str, static_folder: str | Path, css: str = "") -> Document:
    """Our HTML laid out into pages (the slow part), ready to be written as a PDF; ``css``
    is applied next to the document's own stylesheets (a document's page setup)."""
    fetcher = StaticOnlyFetcher(static_folder)
    stylesheets = [CSS(string=css, base_url=BASE_URL, url_fetcher=fetcher)] if css else []
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).render(stylesheets=stylesheets)


def render_pdf(html: str, static_folder: str | Path, css: str = "") -> bytes:
    """The PDF of a page of our own HTML."""
    return render_document(html, static_folder, css).write_pdf()
