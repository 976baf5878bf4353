"""Writing a run's outputs: ``report.json``, ``transcript.jsonl``, ``deliveries.csv`` and the plots.

Owns the files of ``opsim run --out DIR`` and their layout: the report (per-step results, expectations met or
failed, campaign reports next to operator-side truth, timings), the transcript with its digest, the delivery
table, a map of the city (boundary, cells, named places, target areas, delivery points, test-device tracks) and
an hourly chart (sends, deliveries, suppressions by reason, opens). Plots use matplotlib's Agg backend, so no
display is needed. Every file is written atomically. It must not run scenarios.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.export import atomic_path, write_json, write_rows
from scenarios.results import RunResult
from scenarios.schema import AreaSpec, CircleSpec
from scenarios.transcript import stamp

DELIVERY_COLUMNS = ("t", "campaign", "partner", "subscriber", "outcome", "reason", "channel", "cell", "latitude",
                    "longitude", "delivered_at", "opened_at")
"""Columns of ``deliveries.csv``: one operator-side record per decision; ``outcome`` is ``DELIVERED``, ``FAILED``
or ``SUPPRESSED`` (with ``reason``); ``cell``/``latitude``/``longitude`` locate a delivery by the recipient's
serving cell (the first few thousand deliveries only)."""


@dataclass(frozen=True)
class Outputs:
    """Paths of what :func:`write_outputs` wrote."""

    report: Path
    transcript: Path
    deliveries: Path
    map: Path
    hourly: Path
    digest: str


def report_data(result: RunResult) -> dict[str, Any]:
    """The content of ``report.json``."""
    summary = {k: v for k, v in result.summary.items() if k not in ("lastTickMs", "meanTickMs")}
    checks = result.checks
    return {
        "scenario": result.scenario.name,
        "description": result.scenario.description.strip(),
        "seed": result.seed,
        "digest": result.digest,
        "passed": not result.failed,
        "world": summary,
        "steps": [s.to_dict() for s in result.steps],
        "expectations": {"met": sum(c.ok for c in checks), "failed": sum(not c.ok for c in checks),
                         "failures": [c.to_dict() for c in checks if not c.ok]},
        "campaigns": result.campaigns,
        "webhooks": {"received": len(result.webhooks)},
        "deliveries": dict(sorted(Counter(str(d.get("outcome")) for d in result.deliveries).items())),
        "timings": result.timings.to_dict(),
    }


def write_outputs(result: RunResult, out: Path) -> Outputs:
    """Write every output of a run into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    digest = result.transcript.write(out / "transcript.jsonl")
    write_json(out / "report.json", report_data(result))
    deliveries = out / "deliveries.csv"
    write_rows(deliveries, list(DELIVERY_COLUMNS),
               ([d.get(c) for c in DELIVERY_COLUMNS] for d in result.deliveries), "csv")
    map_png = out / "map.png"
    hourly_png = out / "hourly.png"
    plot_map(result, map_png)
    plot_hourly(result, hourly_png)
    return Outputs(out / "report.json", out / "transcript.jsonl", deliveries, map_png, hourly_png, digest)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})


def plot_map(result: RunResult, path: Path) -> None:
    """The city (left) and a close-up of where things happened (right, when anything did).

    Boundary, cell sites, named places, target areas, delivery points by serving cell and test-device tracks.
    """
    plt = _pyplot()
    box = _focus(result)
    fig, axes = plt.subplots(1, 2 if box else 1, figsize=(15 if box else 8, 7.5), squeeze=False)
    try:
        _draw_map(axes[0][0], result, f"{result.scenario.name}: {result.world.city.display_name}, "
                  f"{result.summary['subscribers']:,} subscribers, seed {result.seed}")
        if box:
            ax = axes[0][1]
            _draw_map(ax, result, "close-up")
            ax.set_xlim(box[1], box[3])
            ax.set_ylim(box[0], box[2])
        _save(fig, path)
    finally:
        plt.close(fig)


def _focus(result: RunResult, pad_m: float = 1500.0) -> tuple[float, float, float, float] | None:
    """(lat0, lon0, lat1, lon1) around target areas, located deliveries and tracks, padded; None if nothing."""
    proj = result.world.city.projection
    xs: list[float] = []
    ys: list[float] = []
    for area in _areas(result):
        points = area["polygon"] if "polygon" in area else [(area["latitude"], area["longitude"])]
        r = 0.0 if "polygon" in area else area["radius"]
        for lat, lon in points:
            x, y = proj.point_xy(lat, lon)
            xs += [x - r, x + r]
            ys += [y - r, y + r]
    for d in result.deliveries:
        if d.get("latitude") is not None:
            x, y = proj.point_xy(d["latitude"], d["longitude"])
            xs.append(x)
            ys.append(y)
    for track in result.tracks.values():
        for _, lat, lon, _ in track:
            x, y = proj.point_xy(lat, lon)
            xs.append(x)
            ys.append(y)
    if not xs:
        return None
    half = max(max(xs) - min(xs), max(ys) - min(ys)) / 2 + pad_m
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    lat0, lon0 = proj.point_latlon(cx - half, cy - half)
    lat1, lon1 = proj.point_latlon(cx + half, cy + half)
    return lat0, lon0, lat1, lon1


def _draw_map(ax: Any, result: RunResult, title: str) -> None:
    world = result.world
    city = world.city
    proj = city.projection
    geoms = getattr(city.boundary, "geoms", [city.boundary])
    for g in geoms:
        bx, by = g.exterior.xy
        blat, blon = proj.to_latlon(np.asarray(bx), np.asarray(by))
        ax.plot(blon, blat, color="#555555", lw=1.0)
    clat, clon = world.network.cell_latlon()
    ax.scatter(clon, clat, s=1.5, color="#9bb7d4", label=f"cells ({len(clat):,})", zorder=1)
    for p in city.places:
        ax.scatter([p.longitude], [p.latitude], marker="^", s=30, color="#333333", zorder=3)
        ax.annotate(p.name, (p.longitude, p.latitude), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for area in _areas(result):
        if "polygon" in area:
            alat = np.asarray([p[0] for p in area["polygon"]] + [area["polygon"][0][0]])
            alon = np.asarray([p[1] for p in area["polygon"]] + [area["polygon"][0][1]])
        else:
            theta = np.linspace(0, 2 * np.pi, 120)
            cx, cy = proj.point_xy(area["latitude"], area["longitude"])
            alat, alon = proj.to_latlon(cx + area["radius"] * np.cos(theta), cy + area["radius"] * np.sin(theta))
        ax.fill(alon, alat, color="#f4a261", alpha=0.3, zorder=2)
        ax.plot(alon, alat, color="#e76f51", lw=1.2, zorder=2)
    located = Counter((d["latitude"], d["longitude"]) for d in result.deliveries
                      if d.get("outcome") == "DELIVERED" and d.get("latitude") is not None)
    if located:
        points = sorted(located.items())
        ax.scatter([p[0][1] for p in points], [p[0][0] for p in points],
                   s=[8 + 4 * np.sqrt(n) for _, n in points], color="#2a9d8f", alpha=0.7, edgecolors="white",
                   linewidths=0.4, label=f"deliveries by serving cell ({sum(located.values()):,})", zorder=4)
    for msisdn, track in sorted(result.tracks.items()):
        lats = [t[1] for t in track]
        lons = [t[2] for t in track]
        ax.plot(lons, lats, "-o", ms=3, lw=1.2, label=f"test device {msisdn}", zorder=5)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1.0 / max(0.1, float(np.cos(np.radians(proj.lat0)))))
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=7)


def _areas(result: RunResult) -> list[dict[str, Any]]:
    """Areas of the scenario's estimate, campaign and CAMARA steps, for the map (circles and polygons)."""
    places = {p.name.lower(): p for p in result.world.city.places}
    out: list[dict[str, Any]] = []
    for step in result.scenario.steps:
        targeting = step.estimate or step.create_campaign
        camara = step.subscribe_geofence or step.verify_location or step.count_devices or step.density
        areas: list[AreaSpec | CircleSpec] = list(targeting.areas) if targeting is not None else []
        if camara is not None:
            areas.append(camara.area)
        for area in areas:
            if isinstance(area, AreaSpec) and area.polygon is not None:
                out.append({"polygon": area.polygon})
                continue
            if area.place is not None:
                named = places[area.place.lower()]
                lat, lon = named.latitude, named.longitude
            else:
                lat, lon = float(area.latitude or 0.0), float(area.longitude or 0.0)
            out.append({"latitude": lat, "longitude": lon, "radius": float(area.radius or 0.0)})
    return out


def _hour(t: Any) -> datetime | None:
    if not isinstance(t, str):
        return None
    try:
        return datetime.fromisoformat(t.replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)
    except ValueError:
        return None


def hourly_counts(result: RunResult) -> tuple[list[datetime], dict[str, list[int]]]:
    """Per simulated hour of the run: sends, deliveries, suppressions by reason, opens."""
    start = result.scenario.start.replace(minute=0, second=0, microsecond=0)
    end = result.world.clock.now
    hours = []
    h = start
    while h <= end:
        hours.append(h)
        h += timedelta(hours=1)
    index = {stamp(h): i for i, h in enumerate(hours)}
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(hours))
    series["sent"] = [0] * len(hours)
    series["delivered"] = [0] * len(hours)
    series["opened"] = [0] * len(hours)
    for d in result.deliveries:
        hour = _hour(d.get("t"))
        i = index.get(stamp(hour)) if hour else None
        if i is None:
            continue
        outcome = d.get("outcome")
        if outcome == "SUPPRESSED":
            series[f"suppressed: {d.get('reason') or 'UNKNOWN'}"][i] += 1
            continue
        series["sent"][i] += 1
        if outcome == "DELIVERED":
            series["delivered"][i] += 1
        opened = _hour(d.get("opened_at"))
        j = index.get(stamp(opened)) if opened else None
        if j is not None:
            series["opened"][j] += 1
    return hours, dict(series)


def plot_hourly(result: RunResult, path: Path) -> None:
    """Bars per simulated hour: sends, deliveries, opens, and suppressions stacked by reason."""
    plt = _pyplot()
    hours, series = hourly_counts(result)
    tz = result.world.tz
    labels = [h.astimezone(tz).strftime("%a %H:%M") for h in hours]
    x = np.arange(len(hours))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(hours) + 2), 4.5))
    try:
        width = 0.27
        ax.bar(x - width, series["sent"], width, label="sent", color="#457b9d")
        ax.bar(x, series["delivered"], width, label="delivered", color="#2a9d8f")
        ax.bar(x, series["opened"], width * 0.5, label="opened", color="#e9c46a")
        bottom = np.zeros(len(hours))
        reasons = sorted(k for k in series if k.startswith("suppressed"))
        colours = plt.get_cmap("Reds")(np.linspace(0.45, 0.9, max(1, len(reasons))))
        for colour, key in zip(colours, reasons, strict=False):
            ax.bar(x + width, series[key], width, bottom=bottom, label=key, color=colour)
            bottom += np.asarray(series[key])
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("messages")
        ax.set_title(f"{result.scenario.name}: per hour ({result.world.city.timezone} local time)", fontsize=10)
        if not result.deliveries:
            ax.text(0.5, 0.5, "no campaign traffic in this scenario", transform=ax.transAxes, ha="center",
                    color="#888888")
        ax.legend(fontsize=7, loc="upper left")
        _save(fig, path)
    finally:
        plt.close(fig)
