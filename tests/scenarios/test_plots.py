"""Plots: a scenario without campaigns charts what it measured, labels never overlap, campaigns are told apart."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scenarios.loader import load_text
from scenarios.report import campaign_styles, hourly_figure, map_figure, place_labels, write_outputs
from scenarios.results import RunResult
from scenarios.runner import run_scenario

MEASURING = """\
name: measuring
description: Counts and densities around a gathering, no campaign.
seed: 5
start: 2026-06-06T14:00:00Z
world: {city: berlin, subscribers: 2000}
events:
  - gathering: {name: match, place: Olympiastadion, start: 2026-06-06T15:00:00Z, end: 2026-06-06T16:00:00Z,
                count: 200}
partners:
  - name: crowds
    scopes: [region-device-count:count, population-density-data:read]
steps:
  - at: 2026-06-06T14:30:00Z
    id: before
    count_devices: {area: {place: Olympiastadion, radius: 800}}
  - at: 2026-06-06T15:30:00Z
    id: during
    count_devices: {area: {place: Olympiastadion, radius: 800}}
  - at: 2026-06-06T17:00:00Z
    id: density
    density: {area: {place: Olympiastadion, radius: 1000}, start: 2026-06-06T14:00:00Z,
              end: 2026-06-06T17:00:00Z, precision: 6}
"""


@pytest.fixture(scope="module")
def measured() -> RunResult:
    return run_scenario(load_text(MEASURING))


@pytest.fixture
def figure() -> Iterator[list[Any]]:
    """Figures made by a test, closed after it."""
    import matplotlib.pyplot as plt

    made: list[Any] = []
    yield made
    for fig in made:
        plt.close(fig)


def _drawn(ax: Any) -> bool:
    """Whether the axes holds a line with a finite point or a bar of non-zero height."""
    lines = any(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any() for line in ax.get_lines())
    bars = any(patch.get_height() > 0 for patch in ax.patches if hasattr(patch, "get_height"))
    return lines or bars


def test_hourly_chart_without_campaigns_shows_what_was_measured(measured: RunResult, figure: list[Any]) -> None:
    """No campaign: the chart plots devices per hour, the count answers and the density slots, with a legend."""
    assert all(s.ok for s in measured.steps) and not measured.campaigns
    fig = hourly_figure(measured)
    figure.append(fig)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(":")[0] for ax in panels] == ["crowds"]
    every = fig.axes  # the panel and its density twin
    assert any(_drawn(ax) for ax in every)
    labels = [t.get_text() for ax in every if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "device count API: before" in labels and "device count API: during" in labels
    assert any(label.startswith("devices seen per hour: Olympiastadion") for label in labels)
    assert any(label.startswith("density API peak") for label in labels)
    counted = [line for ax in every for line in ax.get_lines() if line.get_label() == "device count API: during"]
    assert counted and counted[0].get_ydata()[0] == measured.steps[1].answer["count"]


def test_map_has_legend_and_labels_that_do_not_overlap(measured: RunResult, figure: list[Any]) -> None:
    """The map: a legend naming the measured areas, place labels whose boxes do not intersect."""
    from matplotlib.text import Text

    fig = map_figure(measured)
    figure.append(fig)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "device count: Olympiastadion 800 m" in legend and "density: Olympiastadion 1000 m" in legend
        boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]
        assert boxes
        assert not any(a.overlaps(b) for a, b in combinations(boxes, 2))


def test_place_labels_never_overlap(figure: list[Any]) -> None:
    """Crowded points: every placed label's box (display coordinates) is clear of the others and inside the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    fig, ax = plt.subplots(figsize=(4, 4))
    figure.append(fig)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    rng = np.random.default_rng(1)
    points = [(float(x), float(y), f"place number {i}") for i, (x, y) in enumerate(rng.uniform(3, 7, (40, 2)))]
    placed = place_labels(ax, points)
    canvas: Any = fig.canvas  # Agg: it has a renderer
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    boxes = [Text.get_window_extent(label, renderer) for label in placed]
    assert 5 <= len(boxes) < len(points)  # crowded: some fit, the rest are left out rather than overlapped
    assert not any(a.overlaps(b) for a, b in combinations(boxes, 2))
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    assert len(ax.texts) == len(placed)  # the tries that did not fit are removed


def test_sparse_labels_sit_next_to_their_point(figure: list[Any]) -> None:
    """Points far apart: every label is placed, at the nearest offset."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    figure.append(fig)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    placed = place_labels(ax, [(2.0, 2.0, "a"), (8.0, 8.0, "b"), (2.0, 8.0, "c"), (20.0, 20.0, "outside")])
    assert [t.get_text() for t in placed] == ["a", "b", "c"]
    assert all(t.arrow_patch is None for t in placed)  # near: no leader line


def test_campaigns_are_told_apart() -> None:
    """Every campaign gets its own colour and marker pair, named after the campaign."""
    steps = "\n".join(
        f"""  - id: c{i}
    create_campaign:
      name: Offer {i}
      areas: [{{place: Alexa, radius: 300}}]
      start: 2026-06-06T14:00:00Z
      end: 2026-06-06T15:00:00Z
      message: {{kind: PROMO, channel: SMS, sender_name: Shop, text: "hello"}}""" for i in range(12))
    text = MEASURING.split("partners:")[0] + "partners:\n  - name: shop\nsteps:\n" + steps + "\n"
    styles = campaign_styles(load_text(text))
    assert [s.name for s in styles.values()] == [f"Offer {i}" for i in range(12)]
    assert len({(s.colour, s.marker) for s in styles.values()}) == 12


def test_plots_are_not_part_of_the_transcript(measured: RunResult, tmp_path: Path) -> None:
    """Writing the outputs (plots included) leaves the transcript and its digest as the run made them."""
    before = measured.digest
    outputs = write_outputs(measured, tmp_path / "out")
    assert outputs.digest == before == measured.digest
    assert outputs.hourly.read_bytes()[:4] == b"\x89PNG" and outputs.map.read_bytes()[:4] == b"\x89PNG"
