"""Big report PDFs in parallel: the report cut into chunks of about equal weight, each
laid out by WeasyPrint in its own process, merged with pypdf.

WeasyPrint lays a document out on one core; a 1,000-row table is seconds of it. The
report's data is cut between sections, and inside a long table between row groups (a
group longer than a chunk between rows): each chunk is a whole printable document of the
same template and stylesheet. The first chunk carries the cover, the title and its
bookmark; later ones continue the table without a heading (so no bookmark repeats), with
the report's title as running header; the table's totals and notes stay with its last
chunk. Page numbers ("Page 3 of 12") cannot be counted inside a chunk, so chunks print
none and one more small WeasyPrint document of blank pages with only the numbers is laid
over the merged pages. Bookmarks of every chunk are kept, pointing at their pages in the
merged file. A chunk starts on a new page, so the parallel PDF may have a page more than
the single one.
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

from steerco.reports.data import ReportData, RowGroup, Section, Table
from steerco.reports.pdf import render_pdf

#: rows (or row-equivalents) below which a report is printed in one piece
PARALLEL_FROM_ROWS = 400
#: a section that is not a table weighs this many rows
SECTION_WEIGHT = 25


def weight(section: Section) -> int:
    if section.table is not None:
        return max(SECTION_WEIGHT, section.table.shown)
    if section.crosstab is not None:
        return max(SECTION_WEIGHT, len(section.crosstab.rows))
    return SECTION_WEIGHT


def report_weight(data: ReportData) -> int:
    return sum(weight(s) for s in data.sections)


def split(data: ReportData, parts: int) -> list[ReportData]:
    """The report as ``parts`` (or fewer) reports of about equal weight, in order."""
    budget = max(1, -(-report_weight(data) // parts))
    chunks: list[list[Section]] = [[]]
    room = budget
    for section in data.sections:
        pieces = _cut(section, room, budget) if section.table is not None else [section]
        for n, piece in enumerate(pieces):
            if room <= 0 or (n > 0):
                if chunks[-1]:
                    chunks.append([])
                room = budget
            chunks[-1].append(piece)
            room -= weight(piece)
    return [dataclasses.replace(data, sections=tuple(sections)) for sections in chunks if sections]


def _cut(section: Section, room: int, budget: int) -> list[Section]:
    """A table section as pieces: the first fills ``room``, the next ones ``budget`` each."""
    table = section.table
    assert table is not None
    if table.shown <= room:
        return [section]
    pieces: list[list[RowGroup]] = [[]]
    left = room
    for group in table.groups:
        rows = list(group.rows)
        while rows:
            if left <= 0:
                pieces.append([])
                left = budget
            take, rows = rows[:left], rows[left:]
            pieces[-1].append(dataclasses.replace(group, rows=tuple(take), subtotal=None if rows else group.subtotal))
            left -= len(take)
    pieces = [p for p in pieces if p]
    out = []
    for n, groups in enumerate(pieces):
        last = n == len(pieces) - 1
        piece_table: Table = dataclasses.replace(table, groups=tuple(groups), total=table.total if last else None,
                                                 shown=sum(len(g.rows) for g in groups),
                                                 hidden_columns=table.hidden_columns if last else ())
        out.append(dataclasses.replace(section, table=piece_table, notes=section.notes if last else (),
                                       title=section.title if n == 0 else "",
                                       new_page=section.new_page if n == 0 else False))
    return out


def _render_chunk(html: str, static_folder: str, css: str) -> tuple[bytes, float]:
    """One chunk's PDF, and the CPU seconds its worker spent on it."""
    started = time.process_time()
    pdf = render_pdf(html, static_folder, css)
    return pdf, time.process_time() - started


#: the CPU seconds each chunk of the last parallel rendering took in its worker (benchmarks)
last_chunk_cpu: list[float] = []


_pool: ProcessPoolExecutor | None = None


def pool(workers: int) -> Executor:
    """One process pool per process, started once (forkserver: safe in a threaded web app)."""
    global _pool
    if _pool is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["steerco.reports.pdf"])
        _pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    return _pool


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def render_parallel(chunk_html: Callable[[ReportData, bool], str], data: ReportData, static_folder: Path,
                    css: str, workers: int, progress: Callable[[int, str], None] | None = None) -> bytes:
    """The report's PDF from ``workers`` chunks laid out at once, merged, then numbered."""
    from pypdf import PdfReader, PdfWriter

    chunks = split(data, workers)
    # Chunks print no page numbers (the overlay does); later chunks carry the title as header.
    # (!important: a stylesheet handed to WeasyPrint beside the document's counts as the user's)
    plain = css + "@page { @bottom-right { content: none !important; } }\n"
    later = plain + f"@page {{ @top-right {{ content: {_css_string(data.title)} !important; }} }}\n"
    futures = [pool(workers).submit(_render_chunk, chunk_html(chunk, n > 0), str(static_folder),
                                    plain if n == 0 else later) for n, chunk in enumerate(chunks)]
    writer = PdfWriter()
    last_chunk_cpu.clear()
    for n, future in enumerate(futures):
        pdf, cpu = future.result()
        last_chunk_cpu.append(cpu)
        writer.append(PdfReader(io.BytesIO(pdf)), import_outline=True)
        if progress:
            progress(60 + int(25 * (n + 1) / len(futures)), f"Laid out part {n + 1} of {len(futures)}")
    numbers = PdfReader(io.BytesIO(render_pdf(_numbers_html(len(writer.pages), data.cover), str(static_folder),
                                              css)))
    for page, overlay in zip(writer.pages, numbers.pages):
        page.merge_page(overlay)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _numbers_html(pages: int, cover: bool) -> str:
    """Blank pages of the report's size whose only ink is the footer's page numbers (the
    cover's page has none, as in the single document)."""
    body = "".join(f'<div class="{"cover" if cover and n == 0 else "blank"}"></div>' for n in range(pages))
    return ('<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/static/print.css">'
            '</head><body class="page-numbers">' + body + "</body></html>")


def available_workers() -> int:
    """The cores this process may use (at least 1)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


__all__ = ["PARALLEL_FROM_ROWS", "available_workers", "render_parallel", "report_weight", "split"]
