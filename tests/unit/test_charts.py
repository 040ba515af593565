"""Charts are SVG we write ourselves: the tests read the SVG back with xml.etree and check
what a reader (or a screen reader) gets from it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from steerco.reports import charts
from steerco.reports.charts import Series, Stage, Step

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:rect[@class]", NS)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_a_chart_is_an_image_with_a_name_and_a_description_in_words() -> None:
    svg = charts.bar_chart("Budget by project", ["Alpha", "Beta"], [Series("Budget", (100.0, 250.0))])
    root = parse(svg)
    assert root.get("role") == "img"
    title, desc = root.find("svg:title", NS), root.find("svg:desc", NS)
    assert title is not None and title.text == "Budget by project"
    assert desc is not None and desc.text == "Budget: Alpha 100; Beta 250."
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "<script" not in svg and "style=" not in svg


def test_bar_lengths_are_proportional_to_the_values() -> None:
    root = parse(charts.bar_chart("t", ["a", "b", "c"], [Series("s", (100.0, 200.0, 50.0))]))
    widths = [float(b.get("width", 0)) for b in bars(root)]
    assert len(widths) == 3
    assert widths[1] == pytest.approx(2 * widths[0], rel=0.01)
    assert widths[2] == pytest.approx(widths[0] / 2, rel=0.01)


def test_several_series_give_one_bar_each_and_a_legend() -> None:
    root = parse(charts.bar_chart("Plan vs actual", ["P1", "P2"],
                                  [Series("Plan", (10.0, 20.0)), Series("Actual", (12.0, None))]))
    assert len(bars(root)) == 3  # a missing value draws no bar
    assert {"Plan", "Actual"} <= set(texts(root))
    fills = {b.get("fill") for b in bars(root)}
    assert len(fills) == 2


def test_stacked_bars_sit_end_to_end_and_label_the_total() -> None:
    root = parse(charts.bar_chart("t", ["only"], [Series("a", (30.0,)), Series("b", (70.0,))], stacked=True))
    first, second = bars(root)
    assert float(first.get("x")) + float(first.get("width")) == pytest.approx(float(second.get("x")), abs=0.2)
    assert float(second.get("width")) == pytest.approx(70 / 30 * float(first.get("width")), rel=0.02)
    assert "100" in texts(root)


def test_negative_values_grow_left_of_the_zero_line() -> None:
    root = parse(charts.bar_chart("t", ["gain", "loss"], [Series("s", (50.0, -50.0))]))
    gain, loss = bars(root)
    assert float(loss.get("x")) + float(loss.get("width")) == pytest.approx(float(gain.get("x")), abs=0.2)
    assert float(loss.get("width")) == pytest.approx(float(gain.get("width")), rel=0.01)
    assert "-50" in texts(root)


def test_labels_are_escaped_and_long_ones_shortened_with_the_full_text_kept() -> None:
    long = "Consolidate <b>PCB</b> & \"sensor\" suppliers across every plant of the group"
    svg = charts.bar_chart("A & B <script>", [long], [Series("R&D", (1.0,))])
    root = parse(svg)  # well-formed XML despite the markup characters
    assert root.find("svg:title", NS).text == "A & B <script>"
    shown = [t for t in root.iter("{http://www.w3.org/2000/svg}text") if "".join(t.itertext()).endswith("…")]
    assert shown and shown[0].find("svg:title", NS).text == long
    assert "<b>" not in svg and "<script>" not in svg


def test_empty_data_says_so() -> None:
    for svg in (charts.bar_chart("t", [], []), charts.line_chart("t", ["Jan"], [Series("s", (None,))]),
                charts.funnel_chart("t", []), charts.waterfall_chart("t", [])):
        root = parse(svg)
        assert root.get("role") == "img" and root.find("svg:desc", NS).text == "No data to show."
        assert not bars(root)


def test_the_same_data_gives_the_same_bytes() -> None:
    def draw() -> str:
        return str(charts.line_chart("Trend", ["Jan", "Feb", "Mar"], [Series("plan", (1.0, 2.0, 3.0))]))

    assert draw() == draw()
    other = str(charts.line_chart("Trend", ["Jan", "Feb", "Mar"], [Series("plan", (1.0, 2.0, 4.0))]))
    ids = re.findall(r'id="([^"]+)"', draw())
    assert ids and ids != re.findall(r'id="([^"]+)"', other)  # two charts on one page keep apart


def test_a_line_breaks_at_a_missing_period_and_series_differ_by_dash_too() -> None:
    root = parse(charts.line_chart("t", ["1", "2", "3", "4"],
                                   [Series("plan", (1.0, 2.0, None, 4.0)), Series("actual", (1.0, 1.5, 2.0, 2.5))]))
    lines = root.findall(".//svg:polyline", NS)
    assert len(lines) == 3  # plan in two runs, actual in one
    assert {line.get("stroke-dasharray") for line in lines} == {None, "6 3"}
    assert len(root.findall(".//svg:circle", NS)) == 7


def test_funnel_widths_follow_the_stage_values_and_colours_stay_readable() -> None:
    root = parse(charts.funnel_chart("Pipeline", [Stage("Defined", 400.0, 8, "#B0BEC5"),
                                                  Stage("Decided", 100.0, 2, "#1E88E5")]))
    first, second = bars(root)
    assert float(first.get("width")) == pytest.approx(4 * float(second.get("width")), rel=0.01)
    assert charts.contrast(first.get("fill")) >= 3.0  # the light configured grey was darkened
    assert "400 (8)" in texts(root)


def test_waterfall_changes_float_from_the_running_total() -> None:
    root = parse(charts.waterfall_chart("Bridge", [Step("Target", 100.0, True), Step("Risk", -40.0),
                                                   Step("Forecast", 60.0, True), Step("Upside", 10.0)]))
    target, risk, forecast, upside = bars(root)
    assert [b.get("fill") for b in (target, risk, forecast, upside)] == [charts.TOTAL, charts.DOWN,
                                                                         charts.TOTAL, charts.UP]
    assert float(risk.get("y")) == pytest.approx(float(target.get("y")), abs=0.2)  # starts at 100
    assert float(risk.get("height")) == pytest.approx(0.4 * float(target.get("height")), rel=0.02)
    assert float(forecast.get("y")) == pytest.approx(float(risk.get("y")) + float(risk.get("height")), abs=0.2)
    assert "−40" in texts(root) and "+10" in texts(root)
    assert root.find("svg:desc", NS).text == "Target: total 100; Risk: down 40; Forecast: total 60; Upside: up 10."


def test_palette_and_text_colours_meet_wcag_contrast_on_white() -> None:
    for color in charts.PALETTE + (charts.UP, charts.DOWN, charts.TOTAL):
        assert charts.contrast(color) >= 3.0, color
    for color in (charts.INK, charts.MUTED):
        assert charts.contrast(color) >= 4.5, color
    assert charts.accessible("#ffff00") != "#ffff00" and charts.contrast(charts.accessible("#ffff00")) >= 3.0
    assert charts.accessible("not a colour") == charts.PALETTE[0]


def test_the_number_formatter_writes_every_value_label() -> None:
    svg = charts.bar_chart("t", ["a"], [Series("s", (1234.5,))], fmt=lambda v: f"{v:,.1f} €".replace(",", "."))
    assert "1.234.5 €" in texts(parse(svg))


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    assert charts.nice_ticks(0, 95) == [0, 20, 40, 60, 80, 100]
    ticks = charts.nice_ticks(-130, 870)
    assert ticks[0] <= -130 and ticks[-1] >= 870 and 0 in ticks
    assert charts.compact(1_500_000) == "1.5M" and charts.compact(-2000) == "-2k" and charts.compact(12) == "12"
