"""City presets and custom cities: centre, country numbering plan, time zone, locale, zones and named places.

A city is a disc (or a GeoJSON polygon) around a centre, in local metres. Concentric zones of different
density (``CENTRE``, ``RESIDENTIAL``, ``SUBURB``) drive where people live and work and how dense the cell
grid is. Named places carry approximate real coordinates. This module only describes cities; it does not
generate people or cells.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from simulator.errors import InvalidConfigError, UnknownCityError
from simulator.geo import LocalProjection

ZONE_CENTRE, ZONE_RESIDENTIAL, ZONE_SUBURB, ZONE_OUTSIDE = 0, 1, 2, -1
ZONE_NAMES = ("CENTRE", "RESIDENTIAL", "SUBURB")

PLACE_KINDS = ("STADIUM", "MALL", "STATION", "AIRPORT", "UNIVERSITY", "BUSINESS", "PARK", "ARENA")


@dataclass(frozen=True)
class Country:
    """Numbering plan and network codes of a country's (simulated) operator."""

    code: str  # ISO 3166-1 alpha-2
    dial: str  # country calling code
    mobile_prefixes: tuple[str, ...]  # national significant number prefixes of mobile numbers
    subscriber_digits: int  # digits after the prefix
    mcc: str
    mnc: str
    locale: str
    timezone: str
    ios_share: float  # share of iPhones among smartphones (StatCounter, 2024)
    median_age: float  # (UN World Population Prospects 2022)


COUNTRIES: dict[str, Country] = {
    # +7 9XX XXX XX XX
    "RU": Country("RU", "7", tuple(f"9{d:02d}" for d in (1, 2, 3, 5, 6, 9, 10, 11, 12, 15, 16, 17, 25, 26, 62, 85)),
                  7, "250", "01", "ru_RU", "Europe/Moscow", 0.30, 39.6),
    # +82 10 XXXX XXXX
    "KR": Country("KR", "82", ("10",), 8, "450", "05", "ko_KR", "Asia/Seoul", 0.30, 44.5),
    # +49 15x/16x/17x + 7-8 digits; we use 3-digit prefixes with 8 digits (e.g. +49 151 23456789)
    "DE": Country("DE", "49", ("151", "152", "157", "159", "160", "162", "163", "170", "171", "172", "173",
                               "174", "175", "176", "177", "178", "179"), 8, "262", "01", "de_DE",
                  "Europe/Berlin", 0.38, 45.7),
    # NANP: +1 NPA NXX XXXX (New York City area codes); NXX starts 2-9, drawn in numbering.py
    "US": Country("US", "1", ("212", "332", "347", "646", "718", "917", "929"), 7, "310", "260", "en_US",
                  "America/New_York", 0.57, 38.5),
    "GB": Country("GB", "44", ("7400", "7500", "7700", "7800", "7900"), 6, "234", "15", "en_GB",
                  "Europe/London", 0.50, 40.5),
    "FR": Country("FR", "33", ("6", "7"), 8, "208", "01", "fr_FR", "Europe/Paris", 0.35, 42.0),
}

FICTIONAL_DIAL = "999"
"""Fictional numbers live under ITU country code 999 (reserved, unassigned): they cannot reach a real phone."""


@dataclass(frozen=True)
class NamedPlace:
    """A real place with approximate coordinates."""

    name: str
    kind: str
    latitude: float
    longitude: float
    capacity: int = 0


@dataclass(frozen=True)
class CityPreset:
    """The data of a built-in city."""

    name: str
    display_name: str
    latitude: float
    longitude: float
    country: str
    centre_radius_m: float
    residential_radius_m: float
    suburb_radius_m: float
    places: tuple[NamedPlace, ...]
    timezone: str | None = None


PRESETS: dict[str, CityPreset] = {
    "moscow": CityPreset("moscow", "Moscow", 55.7558, 37.6173, "RU", 4_000, 12_000, 27_000, (
        NamedPlace("Luzhniki Stadium", "STADIUM", 55.7158, 37.5537, 81_000),
        NamedPlace("GUM", "MALL", 55.7547, 37.6215),
        NamedPlace("Aviapark", "MALL", 55.7904, 37.5310),
        NamedPlace("Evropeisky Mall", "MALL", 55.7447, 37.5660),
        NamedPlace("Komsomolskaya Square Stations", "STATION", 55.7762, 37.6553),
        NamedPlace("Belorussky Station", "STATION", 55.7765, 37.5816),
        NamedPlace("Sheremetyevo Airport", "AIRPORT", 55.9726, 37.4146),
        NamedPlace("Moscow State University", "UNIVERSITY", 55.7033, 37.5301),
        NamedPlace("Moscow City", "BUSINESS", 55.7494, 37.5399),
        NamedPlace("Gorky Park", "PARK", 55.7298, 37.6010),
    )),
    "seoul": CityPreset("seoul", "Seoul", 37.5665, 126.9780, "KR", 4_000, 11_000, 20_000, (
        NamedPlace("Seoul World Cup Stadium", "STADIUM", 37.5683, 126.8972, 66_000),
        NamedPlace("Jamsil Olympic Stadium", "STADIUM", 37.5159, 127.0731, 69_000),
        NamedPlace("COEX Mall", "MALL", 37.5116, 127.0595),
        NamedPlace("Lotte World Mall", "MALL", 37.5133, 127.1028),
        NamedPlace("Seoul Station", "STATION", 37.5547, 126.9707),
        NamedPlace("Gangnam Station", "STATION", 37.4979, 127.0276),
        NamedPlace("Gimpo International Airport", "AIRPORT", 37.5587, 126.7945),
        NamedPlace("Seoul National University", "UNIVERSITY", 37.4599, 126.9519),
        NamedPlace("Yeouido", "BUSINESS", 37.5219, 126.9245),
    )),
    "berlin": CityPreset("berlin", "Berlin", 52.5200, 13.4050, "DE", 3_500, 10_000, 20_000, (
        NamedPlace("Olympiastadion", "STADIUM", 52.5147, 13.2395, 74_000),
        NamedPlace("Mall of Berlin", "MALL", 52.5104, 13.3806),
        NamedPlace("Alexa", "MALL", 52.5197, 13.4152),
        NamedPlace("Berlin Hauptbahnhof", "STATION", 52.5251, 13.3694),
        NamedPlace("Alexanderplatz Station", "STATION", 52.5219, 13.4132),
        NamedPlace("Berlin Brandenburg Airport", "AIRPORT", 52.3667, 13.5033),
        NamedPlace("Humboldt University", "UNIVERSITY", 52.5180, 13.3934),
        NamedPlace("Potsdamer Platz", "BUSINESS", 52.5096, 13.3760),
        NamedPlace("Tiergarten", "PARK", 52.5145, 13.3501),
    )),
    "new-york": CityPreset("new-york", "New York", 40.7128, -74.0060, "US", 4_000, 12_000, 24_000, (
        NamedPlace("Yankee Stadium", "STADIUM", 40.8296, -73.9262, 46_500),
        NamedPlace("Madison Square Garden", "ARENA", 40.7505, -73.9934, 20_000),
        NamedPlace("Westfield World Trade Center", "MALL", 40.7116, -74.0110),
        NamedPlace("The Shops at Hudson Yards", "MALL", 40.7539, -74.0020),
        NamedPlace("Grand Central Terminal", "STATION", 40.7527, -73.9772),
        NamedPlace("Penn Station", "STATION", 40.7506, -73.9935),
        NamedPlace("JFK Airport", "AIRPORT", 40.6413, -73.7781),
        NamedPlace("Columbia University", "UNIVERSITY", 40.8075, -73.9626),
        NamedPlace("Midtown Manhattan", "BUSINESS", 40.7549, -73.9840),
        NamedPlace("Financial District", "BUSINESS", 40.7075, -74.0113),
        NamedPlace("Central Park", "PARK", 40.7829, -73.9654),
    )),
}

# Relative density per square metre of residents and jobs by zone (centre, residential, suburb).
RESIDENT_DENSITY = (0.9, 1.0, 0.35)
JOB_DENSITY = (4.0, 0.6, 0.15)


@dataclass
class City:
    """A city in local metres: boundary, zones, country and named places."""

    name: str
    display_name: str
    projection: LocalProjection
    country: Country
    timezone: str
    locale: str
    boundary: BaseGeometry
    centre_radius_m: float
    residential_radius_m: float
    places: list[NamedPlace] = field(default_factory=list)
    place_xy: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))

    def __post_init__(self) -> None:
        if self.places:
            x, y = self.projection.to_xy([p.latitude for p in self.places], [p.longitude for p in self.places])
            self.place_xy = np.column_stack([x, y])
        shapely.prepare(self.boundary)
        minx, miny, maxx, maxy = self.boundary.bounds
        self.bounds = (float(minx), float(miny), float(maxx), float(maxy))

    # -- geometry --------------------------------------------------------------------------------------
    def zone_of(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.int8]:
        """Zone code of each point (``ZONE_OUTSIDE`` outside the boundary)."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        r = np.hypot(xa, ya)
        zone = np.where(r <= self.centre_radius_m, ZONE_CENTRE,
                        np.where(r <= self.residential_radius_m, ZONE_RESIDENTIAL, ZONE_SUBURB)).astype(np.int8)
        inside = shapely.contains_xy(self.boundary, xa, ya)
        zone[~inside] = ZONE_OUTSIDE
        return zone

    def contains(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Whether each point is inside the city boundary."""
        return np.asarray(shapely.contains_xy(self.boundary, x, y))

    def sample_points(self, rng: np.random.Generator, n: int, weights: tuple[float, float, float],
                      hotspots: NDArray[np.float64] | None = None, hotspot_share: float = 0.0,
                      hotspot_sigma: float = 600.0) -> NDArray[np.float64]:
        """Draw ``n`` points inside the city with per-zone density ``weights`` (rejection sampling).

        A share of points can be drawn around ``hotspots`` (e.g. business districts) instead.
        """
        out = np.empty((n, 2), dtype=np.float64)
        filled = 0
        n_hot = round(n * hotspot_share) if hotspots is not None and len(hotspots) else 0
        if n_hot:
            assert hotspots is not None
            idx = rng.integers(0, len(hotspots), n_hot)
            pts = hotspots[idx] + rng.normal(0.0, hotspot_sigma, (n_hot, 2))
            ok = self.contains(pts[:, 0], pts[:, 1])
            pts = pts[ok]
            out[: len(pts)] = pts
            filled = len(pts)
        wmax = max(weights)
        minx, miny, maxx, maxy = self.bounds
        while filled < n:
            need = n - filled
            m = int(need * 2.5) + 64
            px = rng.uniform(minx, maxx, m)
            py = rng.uniform(miny, maxy, m)
            zone = self.zone_of(px, py)
            w = np.where(zone >= 0, np.asarray(weights)[np.clip(zone, 0, 2)], 0.0) / wmax
            keep = rng.random(m) < w
            pts = np.column_stack([px[keep], py[keep]])[:need]
            out[filled: filled + len(pts)] = pts
            filled += len(pts)
        return out

    def place(self, name: str) -> int:
        """Index of a named place (case-insensitive)."""
        for i, p in enumerate(self.places):
            if p.name.lower() == name.lower():
                return i
        raise UnknownCityError(f"unknown place {name!r} in {self.display_name}")


def with_locale(city: City, locale: str) -> City:
    """The same city with another Faker locale for names and e-mails (e.g. ``en_GB`` in Berlin)."""
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise InvalidConfigError(f"unknown locale {locale!r}; use a Faker locale such as en_US, de_DE, ko_KR")
    return dataclasses.replace(city, locale=locale)


def _disc_boundary(radius: float) -> BaseGeometry:
    return Point(0.0, 0.0).buffer(radius, quad_segs=64)


def city_from_preset(name: str) -> City:
    """Build a preset city by name (``moscow``, ``seoul``, ``berlin``, ``new-york``)."""
    key = name.strip().lower()
    if key not in PRESETS:
        raise UnknownCityError(f"unknown city {name!r}; presets: {', '.join(sorted(PRESETS))}")
    p = PRESETS[key]
    country = COUNTRIES[p.country]
    proj = LocalProjection(p.latitude, p.longitude)
    return City(p.name, p.display_name, proj, country, p.timezone or country.timezone, country.locale,
                _disc_boundary(p.suburb_radius_m), p.centre_radius_m, p.residential_radius_m, list(p.places))


def city_from_geojson(path: str | Path, name: str, latitude: float, longitude: float, country: str,
                      timezone: str | None = None, places: list[NamedPlace] | None = None) -> City:
    """Build a custom city from a GeoJSON Polygon (file) plus its centre and ISO country code.

    Zones are concentric around the centre, scaled to the polygon's size.
    """
    try:
        raw: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidConfigError(f"{path}: cannot read GeoJSON: {exc}") from exc
    return city_from_geojson_obj(raw, name, latitude, longitude, country, timezone, places, source=str(path))


def city_from_geojson_obj(raw: Any, name: str, latitude: float, longitude: float, country: str,
                          timezone: str | None = None, places: list[NamedPlace] | None = None,
                          source: str = "geojson") -> City:
    """Build a custom city from an already parsed GeoJSON object (Polygon, Feature or FeatureCollection)."""
    if country.upper() not in COUNTRIES:
        raise InvalidConfigError(f"unknown country {country!r}; known: {', '.join(sorted(COUNTRIES))}")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidConfigError("centre latitude/longitude out of range")
    geom_obj = raw
    if isinstance(raw, dict) and raw.get("type") == "FeatureCollection":
        feats = raw.get("features") or []
        if not feats:
            raise InvalidConfigError(f"{source}: FeatureCollection has no features")
        geom_obj = feats[0]
    if isinstance(geom_obj, dict) and geom_obj.get("type") == "Feature":
        geom_obj = geom_obj.get("geometry")
    if not isinstance(geom_obj, dict) or geom_obj.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidConfigError(f"{source}: expected a GeoJSON Polygon or MultiPolygon")
    try:
        geo = shape(geom_obj)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise InvalidConfigError(f"{source}: malformed polygon coordinates: {exc}") from exc
    proj = LocalProjection(latitude, longitude)
    polys = list(geo.geoms) if geo.geom_type == "MultiPolygon" else [geo]
    metric = []
    for poly in polys:
        lon, lat = np.asarray(poly.exterior.coords).T
        x, y = proj.to_xy(lat, lon)
        metric.append(Polygon(np.column_stack([x, y])))
    boundary = shapely.union_all(metric)
    if not boundary.is_valid or boundary.area <= 0:
        raise InvalidConfigError(f"{source}: polygon is not valid ({shapely.is_valid_reason(boundary)})")
    if not boundary.contains(Point(0, 0)):
        raise InvalidConfigError(f"{source}: the centre is not inside the polygon")
    radius = math.sqrt(boundary.area / math.pi)
    if radius > 60_000:
        raise InvalidConfigError(f"{source}: polygon is larger than a city (equivalent radius {radius:.0f} m)")
    c = COUNTRIES[country.upper()]
    return City(name, name, proj, c, timezone or c.timezone, c.locale, boundary, radius * 0.2, radius * 0.55,
                places or [])
