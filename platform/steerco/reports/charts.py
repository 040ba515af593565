"""Charts as SVG, written by us, identical in the browser and in WeasyPrint's PDFs.

Why not a library: pygal (the maintained SVG chart library) writes a random id and the
generation date into every chart, embeds an inline ``<script>`` (which our
Content-Security-Policy forbids), has no waterfall and no ``role="img"``; leather has no
stacked bars, funnel or waterfall and no title or description for screen readers; plotly
needs a browser (kaleido) to write a file. What a report needs is small enough to own:

- :func:`bar_chart`: horizontal bars, one or several series, side by side or stacked;
- :func:`line_chart`: one line per series over periods;
- :func:`funnel_chart`: one centred bar per stage;
- :func:`waterfall_chart`: a value bridge of totals and the changes between them.

Every chart takes plain data (labels, numbers, a number formatter for the tenant's
locale) and returns one ``<svg role="img">`` string with a ``<title>`` and a ``<desc>``
that states the numbers in words, text labels rather than colour alone, colours of at
least 3:1 contrast on white (WCAG 1.4.11), every piece of text escaped, and the same
bytes for the same input. Nothing here imports Flask or touches the database.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence
from xml.sax.saxutils import escape

from markupsafe import Markup

Formatter = Callable[[float], str]

#: series colours, each at least 3:1 against white (tests check it)
PALETTE = ("#1f5f99", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0f766e", "#a16207", "#be185d")
INK = "#1f2937"  # text: 14:1 on white
MUTED = "#4b5563"  # axis labels: 7.6:1 on white
GRID = "#d1d5db"
UP, DOWN, TOTAL = "#15803d", "#b91c1c", "#1f5f99"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
WIDTH = 640
#: series drawn with a dash pattern too, so lines differ without colour
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass(frozen=True)
class Series:
    """One named row of values, one per label; None is a missing value."""

    name: str
    values: tuple[float | None, ...]
    color: str | None = None


@dataclass(frozen=True)
class Step:
    """A bar of a waterfall: a total (from zero) or a change from the running total."""

    label: str
    value: float
    total: bool = False


@dataclass(frozen=True)
class Stage:
    """A bar of a funnel: a stage, its value and (optionally) how many records it holds."""

    label: str
    value: float
    count: int | None = None
    color: str | None = None


# -- colours ----------------------------------------------------------------------------
def _channel(c: int) -> float:
    s = c / 255
    return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """Relative luminance of ``#rrggbb`` (WCAG 2)."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str = "#ffffff") -> float:
    """WCAG contrast ratio between two colours."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def accessible(color: str | None, fallback: str = PALETTE[0], minimum: float = 3.0) -> str:
    """``color`` darkened until it reaches ``minimum`` contrast on white (a configured
    light stage colour stays recognisable but readable as a shape)."""
    if not color or len(color) != 7 or not color.startswith("#"):
        return fallback
    try:
        rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    except ValueError:
        return fallback
    current = "#%02x%02x%02x" % tuple(rgb)
    while contrast(current) < minimum:
        rgb = [int(c * 0.9) for c in rgb]
        current = "#%02x%02x%02x" % tuple(rgb)
    return current


# -- numbers ----------------------------------------------------------------------------
def compact(value: float) -> str:
    """A short axis label: 1.5k, 2M, -300."""
    magnitude = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def plain(value: float) -> str:
    """The default value label: thousands separated, no decimals for whole numbers."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if high == low:
        high = low + 1
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


class _Scale:
    """Linear map from values to pixels over nice ticks that include zero."""

    def __init__(self, values: Iterable[float], start: float, end: float, count: int = 5):
        finite = [v for v in values if v is not None and math.isfinite(v)]
        low, high = min([0.0, *finite]), max([0.0, *finite])
        self.ticks = nice_ticks(low, high, count)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


# -- text and markup --------------------------------------------------------------------
def _esc(text: object) -> str:
    return escape(str(text), {'"': "&quot;"})


def _n(x: float) -> str:
    """A coordinate, written the same way every time."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def text_width(text: str, size: float) -> float:
    """Rough width of sans-serif text (no font metrics without a browser)."""
    return len(text) * size * 0.58


def fit(text: str, width: float, size: float) -> str:
    """``text`` cut with an ellipsis so that it fits ``width``."""
    if text_width(text, size) <= width:
        return text
    keep = max(1, int(width / (size * 0.58)) - 1)
    return text[:keep].rstrip() + "…"


def _text(x: float, y: float, content: str, *, size: float = 11, anchor: str = "start",
          color: str = INK, weight: str | None = None, full: str | None = None) -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    tip = f"<title>{_esc(full)}</title>" if full and full != content else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size:g}" text-anchor="{anchor}" fill="{color}"{bold}>'
            f"{tip}{_esc(content)}</text>")


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str, css: str = "bar") -> str:
    return (f'<rect class="{css}" x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0))}" height="{_n(max(h, 0))}" '
            f'fill="{color}"><title>{_esc(tip)}</title></rect>')


def _svg(kind: str, title: str, desc: str, height: float, body: list[str], key: str | None) -> Markup:
    """The outer element: an image with an accessible name and description."""
    ident = key or hashlib.sha1(f"{kind}\n{title}\n{desc}".encode()).hexdigest()[:10]
    ident = "".join(c if c.isalnum() or c in "-_" else "-" for c in ident)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
            f'width="{WIDTH}" height="{_n(height)}" viewBox="0 0 {WIDTH} {_n(height)}" '
            f'aria-labelledby="{ident}-title {ident}-desc" font-family="{FONT}">'
            f'<title id="{ident}-title">{_esc(title)}</title><desc id="{ident}-desc">{_esc(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def _empty(kind: str, title: str, key: str | None) -> Markup:
    return _svg(kind, title, "No data to show.", 80,
                [_text(WIDTH / 2, 45, "No data to show", anchor="middle", color=MUTED, size=13)], key)


def _legend(series: Sequence[Series], colors: Sequence[str], y: float, line: bool = False) -> list[str]:
    """Swatches with names in one row (several series only)."""
    if len(series) < 2:
        return []
    parts, x = [], 8.0
    for index, (s, color) in enumerate(zip(series, colors)):
        if line:
            dash = DASHES[index % len(DASHES)]
            pattern = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<line x1="{_n(x)}" y1="{_n(y - 4)}" x2="{_n(x + 18)}" y2="{_n(y - 4)}" '
                         f'stroke="{color}" stroke-width="2.5"{pattern}/>')
            x += 22
        else:
            parts.append(f'<rect x="{_n(x)}" y="{_n(y - 10)}" width="12" height="12" fill="{color}"/>')
            x += 16
        name = fit(s.name, 150, 11)
        parts.append(_text(x, y, name, color=INK, full=s.name))
        x += text_width(name, 11) + 18
    return parts


def _colors(series: Sequence[Series]) -> list[str]:
    return [accessible(s.color, PALETTE[i % len(PALETTE)]) if s.color else PALETTE[i % len(PALETTE)]
            for i, s in enumerate(series)]


def _describe(series: Sequence[Series], labels: Sequence[str], fmt: Formatter) -> str:
    parts = []
    for s in series:
        values = "; ".join(f"{label} {fmt(v)}" if v is not None else f"{label} no value"
                           for label, v in zip(labels, s.values))
        parts.append(f"{s.name}: {values}." if len(series) > 1 or s.name else f"{values}.")
    return " ".join(parts)


# -- bar chart --------------------------------------------------------------------------
def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, stacked: bool = False,
              fmt: Formatter = plain, axis_fmt: Formatter = compact, key: str | None = None) -> Markup:
    """Horizontal bars: one row per label, one bar per series (or one stacked bar).

    Rows run down the page, so long labels (project names) stay readable and a chart of
    many rows simply grows taller. Negative values grow to the left of the zero line.
    """
    labels = list(labels)
    if not labels or not series or all(v is None for s in series for v in s.values):
        return _empty("bar", title, key)
    colors = _colors(series)
    bars_per_row = 1 if stacked or len(series) == 1 else len(series)
    bar_h = 16.0
    row_h = bar_h * bars_per_row + 10
    top = 30.0 if len(series) > 1 else 8.0
    label_w = min(190.0, max(text_width(fit(lb, 190, 11), 11) for lb in labels) + 12)
    plot_left, plot_right = label_w, WIDTH - 12
    if stacked:
        extents = [sum(max(0.0, s.values[i] or 0) for s in series) for i in range(len(labels))] + \
                  [sum(min(0.0, s.values[i] or 0) for s in series) for i in range(len(labels))]
    else:
        extents = [v for s in series for v in s.values if v is not None]
    show_values = len(labels) * bars_per_row <= 40
    # Room for the value labels at the ends of the bars.
    pad = (max(text_width(fmt(v), 10) for v in extents) + 8) if show_values else 0
    scale = _Scale(extents, plot_left + (pad if min(extents) < 0 else 0),
                   plot_right - (pad if max(extents) > 0 else 0))
    zero = scale(0)
    height = top + row_h * len(labels) + 26
    body = _legend(series, colors, 18)
    body += _x_axis(scale, top, top + row_h * len(labels), axis_fmt)
    for i, label in enumerate(labels):
        y = top + i * row_h + 5
        body.append(_text(label_w - 8, y + row_h / 2 - 2, fit(label, label_w - 12, 11), anchor="end",
                          full=label))
        if stacked:
            body += _stacked_row(series, colors, i, label, y, bar_h, scale, fmt)
            continue
        for j, (s, color) in enumerate(zip(series, colors)):
            value = s.values[i] if i < len(s.values) else None
            if value is None:
                continue
            by = y + j * bar_h
            x0, x1 = sorted((zero, scale(value)))
            body.append(_rect(x0, by, x1 - x0, bar_h - 2, color, f"{label} – {s.name}: {fmt(value)}".strip(" –:")))
            if show_values:
                body.append(_text(x1 + 4 if value >= 0 else x0 - 4, by + bar_h - 5, fmt(value), size=10,
                                  anchor="start" if value >= 0 else "end"))
    body.append(f'<line x1="{_n(zero)}" y1="{_n(top)}" x2="{_n(zero)}" y2="{_n(top + row_h * len(labels))}" '
                f'stroke="{MUTED}"/>')
    return _svg("bar", title, _describe(series, labels, fmt), height, body, key)


def _stacked_row(series: Sequence[Series], colors: Sequence[str], i: int, label: str, y: float,
                 bar_h: float, scale: _Scale, fmt: Formatter) -> list[str]:
    parts, up, down = [], 0.0, 0.0
    for s, color in zip(series, colors):
        value = s.values[i] if i < len(s.values) else None
        if not value:
            continue
        start = up if value > 0 else down
        end = start + value
        x0, x1 = sorted((scale(start), scale(end)))
        parts.append(_rect(x0, y, x1 - x0, bar_h - 2, color, f"{label} – {s.name}: {fmt(value)}"))
        up, down = (end, down) if value > 0 else (up, end)
    total = sum(s.values[i] or 0 for s in series if i < len(s.values))
    edge = scale(up) if total >= 0 else scale(down)
    parts.append(_text(edge + 4 if total >= 0 else edge - 4, y + bar_h - 5, fmt(total), size=10,
                       anchor="start" if total >= 0 else "end"))
    return parts


def _x_axis(scale: _Scale, top: float, bottom: float, axis_fmt: Formatter) -> list[str]:
    parts = []
    for tick in scale.ticks:
        x = scale(tick)
        parts.append(f'<line x1="{_n(x)}" y1="{_n(top)}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="{GRID}"/>')
        parts.append(_text(x, bottom + 16, axis_fmt(tick), size=10, anchor="middle", color=MUTED))
    return parts


def _y_axis(scale: _Scale, left: float, right: float, axis_fmt: Formatter) -> list[str]:
    parts = []
    for tick in scale.ticks:
        y = scale(tick)
        parts.append(f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}" stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 4, axis_fmt(tick), size=10, anchor="end", color=MUTED))
    return parts


# -- line chart -------------------------------------------------------------------------
def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, fmt: Formatter = plain,
               axis_fmt: Formatter = compact, key: str | None = None) -> Markup:
    """One line per series over ``labels`` (periods); a missing value breaks the line."""
    labels = list(labels)
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not values:
        return _empty("line", title, key)
    colors = _colors(series)
    top = 34.0 if len(series) > 1 else 14.0
    height = 260.0
    bottom = height - 30
    left = max(text_width(axis_fmt(v), 10) for v in nice_ticks(min(0, *values), max(0, *values))) + 14
    right = WIDTH - 16
    scale = _Scale(values, bottom, top)
    step = (right - left) / max(1, len(labels) - 1) if len(labels) > 1 else 0
    xs = [left + i * step if len(labels) > 1 else (left + right) / 2 for i in range(len(labels))]
    body = _legend(series, colors, 18, line=True) + _y_axis(scale, left, right, axis_fmt)
    every = max(1, math.ceil(len(labels) * 56 / (right - left)))
    for i, label in enumerate(labels):
        if i % every == 0:
            body.append(_text(xs[i], bottom + 16, fit(label, 56 * every - 4, 10), size=10, anchor="middle",
                              color=MUTED, full=label))
    for index, (s, color) in enumerate(zip(series, colors)):
        dash = DASHES[index % len(DASHES)]
        for run in _runs(s.values):
            points = " ".join(f"{_n(xs[i])},{_n(scale(s.values[i]))}" for i in run)  # type: ignore[arg-type]
            body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2.5" points="{points}"'
                        + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        for i, value in enumerate(s.values):
            if value is not None and i < len(xs):
                body.append(f'<circle cx="{_n(xs[i])}" cy="{_n(scale(value))}" r="3" fill="{color}">'
                            f"<title>{_esc(f'{labels[i]} – {s.name}: {fmt(value)}')}</title></circle>")
    body.append(f'<line x1="{_n(left)}" y1="{_n(scale(0))}" x2="{_n(right)}" y2="{_n(scale(0))}" stroke="{MUTED}"/>')
    return _svg("line", title, _describe(series, labels, fmt), height, body, key)


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    """Indexes of consecutive present values (a line is not drawn across a gap)."""
    runs: list[list[int]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(i)
    return [r for r in runs if r]


# -- funnel -----------------------------------------------------------------------------
def funnel_chart(title: str, stages: Sequence[Stage], *, fmt: Formatter = plain,
                 key: str | None = None) -> Markup:
    """One centred bar per stage, its width proportional to the stage's value."""
    if not stages:
        return _empty("funnel", title, key)
    row_h, top = 30.0, 6.0
    label_w = min(200.0, max(text_width(fit(s.label, 200, 11), 11) for s in stages) + 14)
    value_w = max(text_width(_funnel_value(s, fmt), 10) for s in stages) + 12
    center = label_w + (WIDTH - label_w - value_w) / 2
    half = (WIDTH - label_w - value_w) / 2 - 4
    largest = max(max(s.value, 0) for s in stages) or 1
    body = []
    for i, stage in enumerate(stages):
        y = top + i * row_h
        width = max(0.0, stage.value) / largest * half * 2
        color = accessible(stage.color, PALETTE[0])
        body.append(_text(label_w - 8, y + row_h / 2 + 3, fit(stage.label, label_w - 12, 11), anchor="end",
                          full=stage.label))
        body.append(_rect(center - width / 2, y + 3, width, row_h - 6, color,
                          f"{stage.label}: {_funnel_value(stage, fmt)}"))
        body.append(_text(WIDTH - value_w + 4, y + row_h / 2 + 3, _funnel_value(stage, fmt), size=10))
    desc = "; ".join(f"{s.label}: {_funnel_value(s, fmt)}" for s in stages) + "."
    return _svg("funnel", title, desc, top + row_h * len(stages) + 8, body, key)


def _funnel_value(stage: Stage, fmt: Formatter) -> str:
    return fmt(stage.value) + (f" ({stage.count})" if stage.count is not None else "")


# -- waterfall --------------------------------------------------------------------------
def waterfall_chart(title: str, steps: Sequence[Step], *, fmt: Formatter = plain,
                    axis_fmt: Formatter = compact, key: str | None = None) -> Markup:
    """A value bridge: totals stand on zero, changes float from the running total (up green,
    down red), with a dashed connector from each bar to the next."""
    if not steps:
        return _empty("waterfall", title, key)
    spans, running = [], 0.0
    for step in steps:
        start, end = (0.0, step.value) if step.total else (running, running + step.value)
        spans.append((start, end))
        running = end
    extents = [v for span in spans for v in span]
    top, height = 24.0, 280.0
    bottom = height - 44
    left = max(text_width(axis_fmt(t), 10) for t in nice_ticks(min(extents + [0]), max(extents + [0]))) + 14
    right = WIDTH - 10
    scale = _Scale(extents, bottom, top)
    band = (right - left) / len(steps)
    bar_w = min(70.0, band * 0.62)
    body = _y_axis(scale, left, right, axis_fmt)
    for i, (step, (start, end)) in enumerate(zip(steps, spans)):
        x = left + i * band + (band - bar_w) / 2
        y0, y1 = sorted((scale(start), scale(end)))
        color = TOTAL if step.total else (UP if step.value >= 0 else DOWN)
        shown = fmt(step.value) if step.total else (("+" if step.value >= 0 else "−") + fmt(abs(step.value)))
        body.append(_rect(x, y0, bar_w, max(y1 - y0, 1), color, f"{step.label}: {shown}",
                          "bar total" if step.total else "bar change"))
        body.append(_text(x + bar_w / 2, y0 - 4, shown, size=10, anchor="middle"))
        for line_no, part in enumerate(_two_lines(step.label, band - 4, 10)):
            body.append(_text(x + bar_w / 2, bottom + 16 + line_no * 12, part, size=10, anchor="middle",
                              full=step.label if line_no == 0 else None))
        if i + 1 < len(steps):
            y = scale(end)
            body.append(f'<line x1="{_n(x + bar_w)}" y1="{_n(y)}" x2="{_n(x + band)}" y2="{_n(y)}" '
                        f'stroke="{MUTED}" stroke-dasharray="3 2"/>')
    body.append(f'<line x1="{_n(left)}" y1="{_n(scale(0))}" x2="{_n(right)}" y2="{_n(scale(0))}" stroke="{MUTED}"/>')
    desc = "; ".join(f"{s.label}: {'total ' if s.total else ('up ' if s.value >= 0 else 'down ')}"
                     f"{fmt(abs(s.value)) if not s.total else fmt(s.value)}" for s in steps) + "."
    return _svg("waterfall", title, desc, height, body, key)


def _two_lines(text: str, width: float, size: float) -> list[str]:
    """A label broken at a space into at most two lines that fit ``width``."""
    if text_width(text, size) <= width:
        return [text]
    words, first = text.split(), ""
    while words and text_width((first + " " + words[0]).strip(), size) <= width:
        first = (first + " " + words.pop(0)).strip()
    if not first:
        return [fit(text, width, size)]
    return [first, fit(" ".join(words), width, size)] if words else [first]
