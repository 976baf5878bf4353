"""Writing a run's outputs: ``report.json``, ``transcript.jsonl``, ``deliveries.csv`` and the plots.

Owns the files of ``opsim run --out DIR`` and their layout: the report (per-step results, expectations met or
failed, campaign reports next to operator-side truth, timings), the transcript with its digest, the delivery
table, a map of the city (boundary, cells, named places labelled without overlap, gathering venues, target and
measured areas, delivery points and target areas in each campaign's own colour and marker, test-device tracks,
a legend) and an hourly chart with a panel per kind of activity (campaign messages per campaign; crowds: devices
seen per hour in measured areas with the device-count and density answers; webhooks and location checks), so a
scenario without campaigns still shows what it measured. Plots use matplotlib's Agg backend, so no display is
needed; they are not part of the transcript. Every file is written atomically. It must not run scenarios.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.export import atomic_path, write_json, write_rows
from scenarios.results import RunResult, StepResult
from scenarios.schema import AreaSpec, CircleSpec, Scenario
from scenarios.transcript import stamp
from simulator.errors import SimulatorError
from simulator.geo import Area

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


PALETTE = ("#e63946", "#1d3557", "#2a9d8f", "#8338ec", "#f4a261", "#3a86ff", "#6a994e", "#b5179e")
"""Colours of campaigns (in step order), then of measured areas."""
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
"""Markers of campaigns' delivery points, in step order."""
MEASURED = ("#7209b7", "#f77f00", "#0077b6", "#38b000", "#9d0208", "#5f0f40")
"""Colours of areas that were measured (estimate, device count, density, geofence, location check), in step
order; the map's outline and the hourly chart's line of an area share one."""


@dataclass(frozen=True)
class CampaignStyle:
    """How one campaign is drawn: its name (from the scenario), colour and marker."""

    step: str
    name: str
    colour: str
    marker: str


def campaign_styles(scenario: Scenario) -> dict[str, CampaignStyle]:
    """A style per campaign step (by step id or position), in the scenario's step order; no two alike."""
    out: dict[str, CampaignStyle] = {}
    for i, step in enumerate(scenario.steps):
        if step.create_campaign is not None:
            key = step.id or f"step {i}"
            k = len(out)
            # colour and marker cycle at different paces: 64 campaigns before a pair repeats
            out[key] = CampaignStyle(key, step.create_campaign.name, PALETTE[k % len(PALETTE)],
                                     MARKERS[(k + k // len(PALETTE)) % len(MARKERS)])
    return out


def _style_by_campaign_id(result: RunResult) -> dict[str, CampaignStyle]:
    styles = campaign_styles(result.scenario)
    return {c["id"]: styles[c["step"]] for c in result.campaigns if c.get("step") in styles}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})


# -- the map ---------------------------------------------------------------------------------------------------
def plot_map(result: RunResult, path: Path) -> None:
    """Write :func:`map_figure` as a PNG."""
    plt = _pyplot()
    fig = map_figure(result)
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


def map_figure(result: RunResult) -> Any:
    """The city (left) and a close-up of where things happened (right, when anything did).

    Boundary, cell sites, named places (labels placed so that none overlaps another), gathering venues, target
    areas in their campaign's colour, measured areas, delivery points by serving cell in their campaign's colour
    and marker, test-device tracks; a legend on each panel. The caller closes the figure.
    """
    plt = _pyplot()
    box = _focus(result)
    fig, axes = plt.subplots(1, 2 if box else 1, figsize=(15 if box else 8, 7.5), squeeze=False)
    panels: list[tuple[Any, str, tuple[float, float, float, float] | None]] = [
        (axes[0][0], f"{result.scenario.name}: {result.world.city.display_name}, "
                           f"{result.summary['subscribers']:,} subscribers, seed {result.seed}", None)]
    if box:
        panels.append((axes[0][1], "close-up", box))
    for ax, title, limits in panels:
        _draw_map(ax, result, title)
        if limits is not None:
            ax.set_xlim(limits[1], limits[3])
            ax.set_ylim(limits[0], limits[2])
        legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), fontsize=7, ncols=2, frameon=False)
        places = [(p.longitude, p.latitude, p.name) for p in result.world.city.places]
        place_labels(ax, places, avoid=[legend])
    return fig


LABEL_OFFSETS = tuple(
    (round(r * dx), round(r * dy), ha, va)
    for r in (4, 12, 22)
    for dx, dy, ha, va in ((1, 0.6, "left", "bottom"), (-1, 0.6, "right", "bottom"), (1, -0.6, "left", "top"),
                           (-1, -0.6, "right", "top"), (0, 1, "center", "bottom"), (0, -1, "center", "top"),
                           (1.2, 0, "left", "center"), (-1.2, 0, "right", "center")))
"""Candidate label offsets (points) around a point, nearest first: (dx, dy, horizontal and vertical alignment)."""


def place_labels(ax: Any, points: list[tuple[float, float, str]], *, fontsize: float = 7.0,
                 avoid: list[Any] | None = None) -> list[Any]:
    """Label data points so that no two labels overlap (greedy, in the order given); returns the labels placed.

    Each label takes the first of a few offsets around its point (nearest first, then farther with a leader line)
    whose box, in display coordinates, stays inside the axes and overlaps no label placed before it, no other
    point's marker and none of the ``avoid`` artists (the legend); a label without such a spot is left out.
    Call it after the axes' limits are final.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax.apply_aspect()
    frame = ax.get_window_extent(renderer)
    xy = [ax.transData.transform((x, y)) for x, y, _ in points]
    visible = [i for i, (px, py) in enumerate(xy) if frame.x0 <= px <= frame.x1 and frame.y0 <= py <= frame.y1]
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    def marker_box(i: int) -> Any:
        px, py = xy[i]
        return Bbox.from_extents(px - 3, py - 3, px + 3, py + 3)

    taken = [a.get_window_extent(renderer) for a in (avoid or [])]
    placed: list[Any] = []
    for i in visible:
        x, y, text = points[i]
        others = [marker_box(j) for j in visible if j != i]
        for dx, dy, ha, va in LABEL_OFFSETS:
            far = abs(dx) > 6 or abs(dy) > 6
            label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                                fontsize=fontsize, zorder=6,
                                arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "#555555"} if far else None)
            label.update_positions(renderer)  # resolve the offset before measuring
            text_box = Text.get_window_extent(label, renderer)  # the text alone, not its leader line
            inside = (frame.x0 <= text_box.x0 and text_box.x1 <= frame.x1 and frame.y0 <= text_box.y0
                      and text_box.y1 <= frame.y1)
            if inside and not any(text_box.overlaps(b) for b in [*taken, *others]):
                taken.append(text_box)
                placed.append(label)
                break
            label.remove()
    return placed


def _focus(result: RunResult, pad_m: float = 1500.0) -> tuple[float, float, float, float] | None:
    """(lat0, lon0, lat1, lon1) around target areas, located deliveries and tracks, padded; None if nothing."""
    proj = result.world.city.projection
    xs: list[float] = []
    ys: list[float] = []
    for area in _areas(result):
        points = area.polygon or [(area.latitude, area.longitude)]
        r = 0.0 if area.polygon else area.radius
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


def _outline(result: RunResult, area: MapArea) -> tuple[Any, Any]:
    """(lat, lon) arrays of an area's closed outline."""
    if area.polygon:
        return (np.asarray([p[0] for p in area.polygon] + [area.polygon[0][0]]),
                np.asarray([p[1] for p in area.polygon] + [area.polygon[0][1]]))
    proj = result.world.city.projection
    theta = np.linspace(0, 2 * np.pi, 120)
    cx, cy = proj.point_xy(area.latitude, area.longitude)
    return proj.to_latlon(cx + area.radius * np.cos(theta), cy + area.radius * np.sin(theta))


def _draw_map(ax: Any, result: RunResult, title: str) -> None:
    world = result.world
    city = world.city
    proj = city.projection
    geoms = getattr(city.boundary, "geoms", [city.boundary])
    for k, g in enumerate(geoms):
        bx, by = g.exterior.xy
        blat, blon = proj.to_latlon(np.asarray(bx), np.asarray(by))
        ax.plot(blon, blat, color="#555555", lw=1.0, label="city boundary" if k == 0 else None)
    clat, clon = world.network.cell_latlon()
    ax.scatter(clon, clat, s=1.5, color="#9bb7d4", label=f"cells ({len(clat):,})", zorder=1)
    ax.scatter([p.longitude for p in city.places], [p.latitude for p in city.places], marker="^", s=30,
               color="#333333", zorder=3, label=f"named places ({len(city.places)})")
    venues = _gathering_venues(result)
    if venues:
        ax.scatter([v.longitude for v in venues], [v.latitude for v in venues], marker="*", s=140,
                   color="#ffb703", edgecolors="#333333", linewidths=0.6, zorder=4,
                   label="gatherings: " + ", ".join(sorted({v.label for v in venues})))
    styles = campaign_styles(result.scenario)
    measured = _measured_colours(result)
    for area in _merged_areas(result):
        alat, alon = _outline(result, area)
        style = styles.get(area.campaign) if area.campaign else None
        colour = style.colour if style else measured[area.shape]
        if style:
            ax.fill(alon, alat, color=colour, alpha=0.12, zorder=2)
        ax.plot(alon, alat, color=colour, lw=1.3, ls="-" if style else "--", zorder=2, label=area.label)
    by_id = _style_by_campaign_id(result)
    located: dict[str, Counter[tuple[float, float]]] = defaultdict(Counter)
    for d in result.deliveries:
        if d.get("outcome") == "DELIVERED" and d.get("latitude") is not None:
            located[str(d.get("campaign"))][(d["latitude"], d["longitude"])] += 1
    for campaign_id, counts in sorted(located.items(), key=lambda kv: _campaign_order(result, kv[0])):
        style = by_id.get(campaign_id)
        points = sorted(counts.items())
        ax.scatter([p[0][1] for p in points], [p[0][0] for p in points],
                   s=[10 + 5 * np.sqrt(n) for _, n in points], color=style.colour if style else "#2a9d8f",
                   marker=style.marker if style else "o", alpha=0.7, edgecolors="white", linewidths=0.4,
                   label=f"{style.name if style else campaign_id}: deliveries by serving cell "
                         f"({sum(counts.values()):,})", zorder=4)
    for msisdn, track in sorted(result.tracks.items()):
        ax.plot([t[2] for t in track], [t[1] for t in track], "-o", ms=3, lw=1.2, label=f"test device {msisdn}",
                zorder=5)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1.0 / max(0.1, float(np.cos(np.radians(proj.lat0)))))
    ax.set_title(title, fontsize=10)


def _campaign_order(result: RunResult, campaign_id: str) -> int:
    ids = [c["id"] for c in result.campaigns]
    return ids.index(campaign_id) if campaign_id in ids else len(ids)


@dataclass(frozen=True)
class MapArea:
    """An area a step names: a circle (``latitude``, ``longitude``, ``radius`` metres) or a ``polygon``."""

    label: str
    step: int
    """The index of the step that names it."""
    campaign: str | None = None
    """The campaign step whose target area it is (``None``: measured by an estimate or a CAMARA call)."""
    latitude: float = 0.0
    longitude: float = 0.0
    radius: float = 0.0
    polygon: tuple[tuple[float, float], ...] = ()

    @property
    def shape(self) -> tuple[Any, ...]:
        """What identifies the geometry (two steps naming the same circle share it)."""
        return self.polygon or (self.latitude, self.longitude, self.radius)


STEP_AREAS = (("estimate", "estimate"), ("count_devices", "device count"), ("density", "density"),
              ("subscribe_geofence", "geofence"), ("verify_location", "location check"))
"""Step kinds that name measured areas, and how the legend calls them."""


def _areas(result: RunResult) -> list[MapArea]:
    """Areas of the scenario's estimate, campaign and CAMARA steps, in step order (circles and polygons)."""
    places = {p.name.lower(): p for p in result.world.city.places}
    styles = campaign_styles(result.scenario)
    out: list[MapArea] = []
    for i, step in enumerate(result.scenario.steps):
        specs: list[tuple[AreaSpec | CircleSpec, str, str | None]] = []
        if step.create_campaign is not None:
            key = step.id or f"step {i}"
            specs += [(a, f"{styles[key].name}: target area", key) for a in step.create_campaign.areas]
        if step.estimate is not None:
            specs += [(a, "estimate", None) for a in step.estimate.areas]
        for kind, word in STEP_AREAS[1:]:
            camara = getattr(step, kind)
            if camara is not None:
                specs.append((camara.area, word, None))
        for area, word, campaign in specs:
            if isinstance(area, AreaSpec) and area.polygon is not None:
                out.append(MapArea(f"{word}: polygon" if campaign is None else word, i, campaign,
                                   polygon=tuple(area.polygon)))
                continue
            where = f"{float(area.radius or 0):.0f} m"
            if area.place is not None:
                named = places[area.place.lower()]
                lat, lon, where = named.latitude, named.longitude, f"{named.name} {where}"
            else:
                lat, lon = float(area.latitude or 0.0), float(area.longitude or 0.0)
                where = f"{lat:.4f},{lon:.4f} {where}"
            out.append(MapArea(word if campaign else f"{word}: {where}", i, campaign, lat, lon,
                               float(area.radius or 0)))
    return out


def _merged_areas(result: RunResult) -> list[MapArea]:
    """One entry per campaign area and per measured geometry (its label naming every kind of step that used it)."""
    out: dict[tuple[Any, ...], MapArea] = {}
    for area in _areas(result):
        key = (area.campaign, area.shape)
        if key not in out:
            out[key] = area
        elif area.campaign is None:
            kinds = out[key].label.split(": ", 1)
            word = area.label.split(": ", 1)[0]
            if word not in kinds[0].split(", "):
                out[key] = replace(out[key], label=f"{kinds[0]}, {word}: {kinds[1]}")
    return list(out.values())


def _measured_colours(result: RunResult) -> dict[tuple[Any, ...], str]:
    """A colour per measured geometry, in step order."""
    shapes = [a.shape for a in _merged_areas(result) if a.campaign is None]
    return {shape: MEASURED[k % len(MEASURED)] for k, shape in enumerate(dict.fromkeys(shapes))}


@dataclass(frozen=True)
class Venue:
    """Where a gathering of the scenario takes place."""

    label: str
    latitude: float
    longitude: float


def _gathering_venues(result: RunResult) -> list[Venue]:
    """Venues of the scenario's gatherings (events and add_gathering steps), by place or coordinates."""
    places = {p.name.lower(): p for p in result.world.city.places}
    gatherings = [e.gathering for e in result.scenario.events]
    gatherings += [s.add_gathering for s in result.scenario.steps if s.add_gathering is not None]
    out = []
    for g in gatherings:
        if g.place is not None and g.place.lower() in places:
            p = places[g.place.lower()]
            out.append(Venue(f"{g.name} ({p.name})", p.latitude, p.longitude))
        elif g.latitude is not None and g.longitude is not None:
            out.append(Venue(g.name, g.latitude, g.longitude))
    return out


# -- the hourly chart ------------------------------------------------------------------------------------------
def _hour(t: Any) -> datetime | None:
    if not isinstance(t, str):
        return None
    try:
        return datetime.fromisoformat(t.replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)
    except ValueError:
        return None


def _instant(t: Any) -> datetime | None:
    if isinstance(t, datetime):
        return t
    if not isinstance(t, str):
        return None
    try:
        return datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None


def run_hours(result: RunResult) -> list[datetime]:
    """The simulated hours of the run (UTC, each the start of an hour), from the scenario's start to now."""
    start = result.scenario.start.replace(minute=0, second=0, microsecond=0)
    end = result.world.clock.now
    hours = []
    h = start
    while h <= end:
        hours.append(h)
        h += timedelta(hours=1)
    return hours


def hourly_counts(result: RunResult, campaign: str | None = None) -> tuple[list[datetime], dict[str, list[int]]]:
    """Per simulated hour of the run: sends, deliveries, suppressions by reason, opens (of one campaign id)."""
    hours = run_hours(result)
    index = {stamp(h): i for i, h in enumerate(hours)}
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(hours))
    series["sent"] = [0] * len(hours)
    series["delivered"] = [0] * len(hours)
    series["opened"] = [0] * len(hours)
    for d in result.deliveries:
        if campaign is not None and d.get("campaign") != campaign:
            continue
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


@dataclass(frozen=True)
class Region:
    """A measured area or gathering venue, and the devices the operator saw in it per hour."""

    label: str
    colour: str
    devices: list[int | None]
    """Devices served by one of its cells at some moment of each hour (``None``: before the kept history)."""
    area: MapArea | None = None


def area_devices(result: RunResult, hours: list[datetime], limit: int = 6) -> list[Region]:
    """Per measured area (estimate, CAMARA steps) and gathering venue, devices seen per hour.

    Read from the operator's presence history (a device counts when a cell serving part of the area served it
    at some moment of the hour), so a scenario that asked the APIs only now and then still shows the whole curve.
    """
    world = result.world
    proj = world.city.projection
    wanted: list[tuple[str, Area, MapArea | None]] = []
    for area in _merged_areas(result):
        if area.campaign is not None:
            continue
        try:
            geometry = (Area.polygon_wgs84(proj, list(area.polygon)) if area.polygon
                        else Area.circle_wgs84(proj, area.latitude, area.longitude, area.radius))
        except SimulatorError:
            continue
        wanted.append((area.label.split(": ", 1)[-1], geometry, area))
    for venue in _gathering_venues(result):
        x, y = proj.point_xy(venue.latitude, venue.longitude)
        if any(g.contains(np.asarray([x]), np.asarray([y]))[0] for _, g, _ in wanted):
            continue  # already drawn as a measured area around the venue
        wanted.append((f"{venue.label} {GATHERING_RADIUS_M:.0f} m", Area.circle(x, y, GATHERING_RADIUS_M), None))
    out = []
    one_tick = timedelta(seconds=result.scenario.tick.total_seconds())
    colours = _measured_colours(result)
    for k, (label, geometry, source) in enumerate(wanted[:limit]):
        try:
            cells = world.area_cells(geometry)
        except SimulatorError:
            continue
        devices: list[int | None] = []
        for h in hours:
            t1, t2 = max(h, world.history_start), min(h + timedelta(hours=1) - one_tick, world.clock.now)
            devices.append(None if t2 < t1 else len(world.visitors_of_cells(cells, t1, t2)))
        colour = colours[source.shape] if source else MEASURED[(len(colours) + k) % len(MEASURED)]
        out.append(Region(label, colour, devices, source))
    return out


OUTSIDE_LEGEND: dict[str, Any] = {"fontsize": 7, "loc": "upper left", "bbox_to_anchor": (1.01, 1.0),
                                   "borderaxespad": 0.0}
"""Legends of the hourly panels sit right of their panel, clear of the data."""

GATHERING_RADIUS_M = 600.0
"""Radius of the circle around a gathering's venue whose devices the hourly chart counts."""


def hourly_figure(result: RunResult) -> Any:
    """One panel per kind of thing the run did, sharing the hour axis (local time); the caller closes it.

    Messages (when it ran campaigns): per campaign, in its own colour, sent and delivered bars, opens as a line,
    suppressions stacked by reason. Crowds (when it measured or gathered anyone): devices the operator saw per
    hour in each measured area and gathering venue, the region-device-count answers as markers (a bar over a
    counted window) and population-density answers (peak and mean per slot) on a second axis. Events (when any
    arrived): webhooks per hour by event type and location checks by result. A run that did none of these gets
    the city's cell changes per hour, so no chart is empty.
    """
    plt = _pyplot()
    hours = run_hours(result)
    regions = area_devices(result, hours)
    counts = [s for s in result.steps if s.action == "count_devices" and isinstance(s.answer, dict)
              and isinstance(s.answer.get("count"), int)]
    densities = [s for s in result.steps if s.action == "density" and isinstance(s.answer, dict)
                 and s.answer.get("slots")]
    events = _event_counts(result, hours)
    panels: list[str] = []
    if result.campaigns or result.deliveries:
        panels.append("messages")
    if regions or counts or densities:
        panels.append("crowds")
    if events:
        panels.append("events")
    if not panels:
        panels.append("city")
    width = max(7.0, 0.45 * len(hours) + 3) + 4.0  # the legends sit right of the panels
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 3.6 * len(panels) + 0.8), sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        if panel == "messages":
            _messages_panel(ax, result, hours)
        elif panel == "crowds":
            _crowds_panel(ax, result, hours, regions, counts, densities)
        elif panel == "events":
            _events_panel(ax, plt, hours, events)
        else:
            _city_panel(ax, result, hours)
        ax.grid(axis="y", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
    tz = result.world.tz
    last = axes[-1][0]
    last.set_xlim(0, len(hours))
    ticks = list(range(len(hours) + 1))
    labels = [(hours[0] + timedelta(hours=i)).astimezone(tz).strftime("%a %H:%M") for i in ticks]
    last.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=7)
    fig.suptitle(f"{result.scenario.name}: per hour ({result.world.city.timezone} local time), seed {result.seed}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_hourly(result: RunResult, path: Path) -> None:
    """Write :func:`hourly_figure` as a PNG."""
    plt = _pyplot()
    fig = hourly_figure(result)
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


def _x(hours: list[datetime], t: datetime) -> float:
    """Position of an instant on the hour axis (0 = the start of the first hour)."""
    return (t - hours[0]).total_seconds() / 3600.0


def _messages_panel(ax: Any, result: RunResult, hours: list[datetime]) -> None:
    by_id = _style_by_campaign_id(result)
    ids = [c["id"] for c in result.campaigns]
    ids += sorted({str(d.get("campaign")) for d in result.deliveries} - set(ids))
    _, totals = hourly_counts(result)
    reasons = sorted(k for k in totals if k.startswith("suppressed"))
    slots = len(ids) + (1 if reasons else 0)
    width = 0.84 / max(1, slots)
    centres = np.arange(len(hours)) + 0.5
    for k, campaign_id in enumerate(ids):
        style = by_id.get(campaign_id)
        colour = style.colour if style else PALETTE[k % len(PALETTE)]
        name = style.name if style else campaign_id
        _, series = hourly_counts(result, campaign_id)
        left = np.arange(len(hours)) + 0.08 + k * width
        ax.bar(left, series["sent"], width, align="edge", color=colour, alpha=0.35, label=f"{name}: sent")
        ax.bar(left + width * 0.2, series["delivered"], width * 0.6, align="edge", color=colour,
               label=f"{name}: delivered")
        if any(series["opened"]):
            ax.plot(centres, series["opened"], "-", marker=style.marker if style else "o", ms=4, color=colour,
                    lw=1.0, label=f"{name}: opened")
    bottom = np.zeros(len(hours))
    reds = _pyplot().get_cmap("Reds")(np.linspace(0.45, 0.9, max(1, len(reasons))))
    left = np.arange(len(hours)) + 0.08 + len(ids) * width
    for colour, key in zip(reds, reasons, strict=False):
        ax.bar(left, totals[key], width, bottom=bottom, align="edge", color=colour, label=key)
        bottom += np.asarray(totals[key])
    ax.set_ylabel("messages")
    ax.set_title("campaign messages (each campaign in its colour; suppressions of all campaigns by reason)",
                 fontsize=9)
    ax.legend(**OUTSIDE_LEGEND)


def _crowds_panel(ax: Any, result: RunResult, hours: list[datetime], regions: list[Region],
                  counts: list[StepResult], densities: list[StepResult]) -> None:
    centres = np.arange(len(hours)) + 0.5
    colour_of: dict[tuple[Any, ...], str] = {}
    for region in regions:
        ys = [np.nan if v is None else v for v in region.devices]
        ax.plot(centres, ys, "-", marker=".", color=region.colour, lw=1.4,
                label=f"devices seen per hour: {region.label}")
        if region.area is not None:
            colour_of[region.area.shape] = region.colour
    areas_by_step = {a.step: a.shape for a in _areas(result) if a.campaign is None}
    for step in counts:
        shape = areas_by_step.get(step.index)
        colour = colour_of.get(shape, "#333333") if shape else "#333333"
        spec = result.scenario.steps[step.index].count_devices
        value = step.answer["count"]
        name = step.id or f"step {step.index}"
        if spec is not None and spec.start is not None and spec.end is not None:
            x0 = _x(hours, result.scenario.instant(spec.start))
            x1 = _x(hours, result.scenario.instant(spec.end))
            ax.plot([x0, x1], [value, value], "-", color=colour, lw=3, alpha=0.6, solid_capstyle="butt")
            ax.plot([x1], [value], "D", color=colour, mec="black", ms=6, label=f"device count API: {name} (window)")
        else:
            ax.plot([_x(hours, step.at)], [value], "D", color=colour, mec="black", ms=6,
                    label=f"device count API: {name}")
        ax.annotate(f"{value:,}", (_x(hours, step.at) if spec is None or spec.end is None
                                   else _x(hours, result.scenario.instant(spec.end)), value),
                    xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax.set_ylabel("devices")
    ax.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    if densities:
        twin = ax.twinx()
        for k, step in enumerate(densities):
            name = step.id or f"step {step.index}"
            for key, ls, what in (("maxPplDensity", "-", "peak"), ("meanPplDensity", ":", "mean")):
                xs: list[float] = []
                levels: list[float] = []
                for slot in step.answer["slots"]:
                    t0, t1 = _instant(slot.get("startTime")), _instant(slot.get("endTime"))
                    value = slot.get(key)
                    if t0 is None or t1 is None:
                        continue
                    xs += [_x(hours, t0), _x(hours, t1)]
                    levels += [np.nan if value is None else float(value)] * 2
                twin.plot(xs, levels, ls, color=PALETTE[(k + 1) % len(PALETTE)], lw=1.6,
                          label=f"density API {what} (people/km²): {name}")
        twin.set_ylabel("people per km²")
        twin.set_ylim(bottom=0)
        more_h, more_l = twin.get_legend_handles_labels()
        handles, labels = handles + more_h, labels + more_l
        legend_ax = twin
    else:
        legend_ax = ax
    ax.set_title("crowds: devices the operator saw, and what the partner's API calls answered", fontsize=9)
    legend_ax.legend(handles, labels, **{**OUTSIDE_LEGEND, "bbox_to_anchor": (1.08, 1.0)})


def _event_counts(result: RunResult, hours: list[datetime]) -> dict[str, list[int]]:
    """Per hour: webhooks by event type (the last part of a CloudEvent's type) and location checks by result."""
    index = {stamp(h): i for i, h in enumerate(hours)}
    out: dict[str, list[int]] = defaultdict(lambda: [0] * len(hours))
    for hook in result.webhooks:
        body = hook.get("body")
        if not isinstance(body, dict):
            continue
        hour = _hour(body.get("time"))
        i = index.get(stamp(hour)) if hour else None
        if i is not None:
            out[f"webhook: {str(body.get('type') or 'untyped').rsplit('.', 1)[-1]}"][i] += 1
    for step in result.steps:
        if step.action == "verify_location" and isinstance(step.answer, dict):
            i = index.get(stamp(step.at.replace(minute=0, second=0, microsecond=0)))
            if i is not None:
                out[f"location check: {step.answer.get('verificationResult')}"][i] += 1
    return dict(sorted(out.items()))


def _events_panel(ax: Any, plt: Any, hours: list[datetime], events: dict[str, list[int]]) -> None:
    colours = plt.get_cmap("tab10")(np.arange(len(events)) % 10)
    bottom = np.zeros(len(hours))
    for colour, (key, values) in zip(colours, events.items(), strict=True):
        ax.bar(np.arange(len(hours)) + 0.5, values, 0.7, bottom=bottom, color=colour, label=key)
        bottom += np.asarray(values)
    ax.set_ylabel("events")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("events the partner received (webhooks by type) and location checks by result", fontsize=9)
    ax.legend(**OUTSIDE_LEGEND)


def _city_panel(ax: Any, result: RunResult, hours: list[datetime]) -> None:
    world = result.world
    ticks, _, _ = world.presence.events()
    changes = np.zeros(len(hours), dtype=np.int64)
    if len(ticks):
        starts = np.asarray([world.tick_of(h) for h in hours])
        which = np.searchsorted(starts, ticks, side="right") - 1
        which = which[(which >= 0) & (which < len(hours))]
        changes = np.bincount(which, minlength=len(hours))[: len(hours)]
    ax.bar(np.arange(len(hours)) + 0.5, changes, 0.7, color="#457b9d", label="cell changes (whole city)")
    ax.set_ylabel("cell changes")
    ax.set_title("the city's movement per hour (this scenario ran no campaign and measured no area)", fontsize=9)
    ax.legend(**OUTSIDE_LEGEND)
