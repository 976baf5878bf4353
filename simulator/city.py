"""City and country presets and custom cities: centres, country numbering plan, time zones, locale, zones, places.

A city is a disc (or a GeoJSON polygon) around a centre, in local metres. Concentric zones of different
density (``CENTRE``, ``RESIDENTIAL``, ``SUBURB``) drive where people live and work and how dense the cell
grid is. Named places carry approximate real coordinates. A *country* preset is the same :class:`City` type
made of several metros (:class:`Metro`: real cities with their population shares) on one projection centred on
the first (the capital); a city preset is a one-metro country. Each metro keeps its own IANA time zone (a
country preset may span several: Russia's cities run from Moscow to Vladivostok time); a territory's
:attr:`City.timezones` lists them, the capital's first. Country presets also carry the intercity travel
figures (:class:`Intercity`). This module only describes territories; it does not generate people or cells.
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

    @property
    def number_capacity(self) -> int:
        """How many mobile numbers the plan holds (NANP exchange codes start at 2: 8 of 10 subscriber ranges)."""
        space: int = 10**self.subscriber_digits
        if self.dial == "1":
            space -= 2 * 10 ** (self.subscriber_digits - 1)
        return space * len(self.mobile_prefixes)


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
    # +44 7XXX XXXXXX: the whole 07 mobile range (Ofcom), not a handful of blocks, so visitors never run out
    "GB": Country("GB", "44", ("74", "75", "77", "78", "79"), 8, "234", "15", "en_GB",
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

# Cities that only appear as parts of a country preset (not selectable with --city on their own).
_CITIES: dict[str, CityPreset] = {
    "busan": CityPreset("busan", "Busan", 35.1796, 129.0756, "KR", 3_000, 8_000, 14_000, (
        NamedPlace("Busan Asiad Main Stadium", "STADIUM", 35.1900, 129.0586, 53_000),
        NamedPlace("Shinsegae Centum City", "MALL", 35.1689, 129.1295),
        NamedPlace("Busan Station", "STATION", 35.1151, 129.0418),
        NamedPlace("Gimhae International Airport", "AIRPORT", 35.1795, 128.9382),
        NamedPlace("Haeundae Beach", "PARK", 35.1587, 129.1604),
    )),
    "incheon": CityPreset("incheon", "Incheon", 37.4563, 126.7052, "KR", 3_000, 8_000, 14_000, (
        NamedPlace("Incheon Munhak Stadium", "STADIUM", 37.4348, 126.6930, 49_000),
        NamedPlace("Incheon Station", "STATION", 37.4764, 126.6168),
        NamedPlace("Incheon International Airport", "AIRPORT", 37.4602, 126.4407),
        NamedPlace("Songdo", "BUSINESS", 37.3925, 126.6390),
    )),
    "daegu": CityPreset("daegu", "Daegu", 35.8714, 128.6014, "KR", 2_500, 7_000, 12_000, (
        NamedPlace("Daegu Stadium", "STADIUM", 35.8297, 128.6889, 66_000),
        NamedPlace("Dongdaegu Station", "STATION", 35.8797, 128.6286),
        NamedPlace("Daegu International Airport", "AIRPORT", 35.8941, 128.6586),
    )),
    "daejeon": CityPreset("daejeon", "Daejeon", 36.3504, 127.3845, "KR", 2_000, 6_000, 10_000, (
        NamedPlace("Daejeon World Cup Stadium", "STADIUM", 36.3653, 127.3250, 40_000),
        NamedPlace("Daejeon Station", "STATION", 36.3322, 127.4346),
    )),
    "gwangju": CityPreset("gwangju", "Gwangju", 35.1595, 126.8526, "KR", 2_000, 6_000, 10_000, (
        NamedPlace("Gwangju World Cup Stadium", "STADIUM", 35.1336, 126.8752, 40_000),
        NamedPlace("Gwangju Songjeong Station", "STATION", 35.1379, 126.7934),
        NamedPlace("Gwangju Airport", "AIRPORT", 35.1264, 126.8089),
    )),
    "saint-petersburg": CityPreset("saint-petersburg", "Saint Petersburg", 59.9343, 30.3351, "RU", 3_500, 10_000,
                                   20_000, (
        NamedPlace("Gazprom Arena", "STADIUM", 59.9730, 30.2206, 68_000),
        NamedPlace("Moskovsky Rail Terminal", "STATION", 59.9296, 30.3620),
        NamedPlace("Pulkovo Airport", "AIRPORT", 59.8003, 30.2625),
        NamedPlace("Galeria", "MALL", 59.9272, 30.3600),
    )),
    "yekaterinburg": CityPreset("yekaterinburg", "Yekaterinburg", 56.8389, 60.6057, "RU", 2_500, 7_000, 15_000, (
        NamedPlace("Ekaterinburg Arena", "STADIUM", 56.8325, 60.5736, 35_000),
        NamedPlace("Yekaterinburg-Passazhirsky Station", "STATION", 56.8586, 60.6003),
        NamedPlace("Koltsovo Airport", "AIRPORT", 56.7431, 60.8027),
    ), timezone="Asia/Yekaterinburg"),
    "novosibirsk": CityPreset("novosibirsk", "Novosibirsk", 55.0084, 82.9357, "RU", 2_500, 7_000, 16_000, (
        NamedPlace("Spartak Stadium", "STADIUM", 55.0405, 82.9235, 12_500),
        NamedPlace("Novosibirsk-Glavny Station", "STATION", 55.0356, 82.8975),
        NamedPlace("Tolmachevo Airport", "AIRPORT", 55.0126, 82.6507),
    ), timezone="Asia/Novosibirsk"),
    "vladivostok": CityPreset("vladivostok", "Vladivostok", 43.1155, 131.8855, "RU", 2_000, 6_000, 12_000, (
        NamedPlace("Vladivostok Station", "STATION", 43.1112, 131.8816),
        NamedPlace("Far Eastern Federal University", "UNIVERSITY", 43.0250, 131.8940),
        NamedPlace("Vladivostok International Airport", "AIRPORT", 43.3990, 132.1480),
    ), timezone="Asia/Vladivostok"),
    "hamburg": CityPreset("hamburg", "Hamburg", 53.5511, 9.9937, "DE", 3_000, 8_000, 15_000, (
        NamedPlace("Volksparkstadion", "STADIUM", 53.5872, 9.8986, 57_000),
        NamedPlace("Hamburg Hauptbahnhof", "STATION", 53.5530, 10.0069),
        NamedPlace("Hamburg Airport", "AIRPORT", 53.6304, 9.9882),
    )),
    "munich": CityPreset("munich", "Munich", 48.1351, 11.5820, "DE", 3_000, 8_000, 15_000, (
        NamedPlace("Allianz Arena", "STADIUM", 48.2188, 11.6247, 75_000),
        NamedPlace("München Hauptbahnhof", "STATION", 48.1402, 11.5600),
        NamedPlace("Munich Airport", "AIRPORT", 48.3538, 11.7861),
    )),
    "cologne": CityPreset("cologne", "Cologne", 50.9375, 6.9603, "DE", 2_500, 7_000, 16_000, (
        NamedPlace("RheinEnergieStadion", "STADIUM", 50.9335, 6.8752, 50_000),
        NamedPlace("Köln Hauptbahnhof", "STATION", 50.9430, 6.9589),
        NamedPlace("Cologne Bonn Airport", "AIRPORT", 50.8659, 7.1427),
    )),
    "frankfurt": CityPreset("frankfurt", "Frankfurt am Main", 50.1109, 8.6821, "DE", 2_500, 6_000, 13_000, (
        NamedPlace("Deutsche Bank Park", "STADIUM", 50.0686, 8.6455, 51_500),
        NamedPlace("Frankfurt Hauptbahnhof", "STATION", 50.1070, 8.6632),
        NamedPlace("Frankfurt Airport", "AIRPORT", 50.0379, 8.5622),
    )),
}

TRAVEL_MODES = ("RAIL", "AIR", "ROAD")
"""Modes of intercity trips; rail and air legs run between the cities' stations and airports."""


@dataclass(frozen=True)
class Intercity:
    """How people travel between the cities of a country preset.

    ``daily_share`` of the residents start a trip to another city each day (destinations in proportion to the
    cities' population shares); ``overnight_share`` of those trips stay the night and come back the next day;
    ``modes`` are the shares of rail, air and road (in :data:`TRAVEL_MODES` order) before the distance rules
    (no flight under 150 km, always a flight over 1,500 km).
    """

    daily_share: float
    overnight_share: float
    modes: tuple[float, float, float]


NO_INTERCITY = Intercity(0.0, 0.0, (0.0, 0.0, 1.0))
"""A one-city territory: nobody travels to another city."""


@dataclass(frozen=True)
class CountryPreset:
    """The data of a built-in country: its cities (the first is the capital) with their population shares."""

    name: str
    display_name: str
    country: str
    cities: tuple[tuple[str, float], ...]  # (city preset key, population share)
    intercity: Intercity


COUNTRY_PRESETS: dict[str, CountryPreset] = {
    # City populations: Statistics Korea 2023 resident registration (Seoul 9.39M, Busan 3.29M, Incheon 3.00M,
    # Daegu 2.37M, Daejeon 1.44M, Gwangju 1.42M). Intercity: KTX/SRT, express buses and domestic flights carry
    # a few percent of the big cities' residents a day (MOLIT national travel statistics); rail leads between
    # Seoul and the southern cities, flights are few outside Jeju.
    "south-korea": CountryPreset("south-korea", "South Korea", "KR", (
        ("seoul", 0.448), ("busan", 0.157), ("incheon", 0.143), ("daegu", 0.113), ("daejeon", 0.069),
        ("gwangju", 0.070)), Intercity(0.02, 0.3, (0.35, 0.05, 0.60))),
    # The two largest cities and the main cities of the Urals, Siberia and the Far East, each on its own time
    # (Moscow UTC+3, Yekaterinburg UTC+5, Novosibirsk UTC+7, Vladivostok UTC+10). Rosstat 2021 census: Moscow
    # 13.01M, Saint Petersburg 5.60M, Novosibirsk 1.63M, Yekaterinburg 1.54M, Vladivostok 0.60M. Long distances:
    # fewer trips a day, more overnight stays, rail and air lead (a flight beyond 1,500 km).
    "russia": CountryPreset("russia", "Russia", "RU", (
        ("moscow", 0.581), ("saint-petersburg", 0.250), ("novosibirsk", 0.073), ("yekaterinburg", 0.069),
        ("vladivostok", 0.027)), Intercity(0.006, 0.6, (0.50, 0.25, 0.25))),
    # Destatis 2022: Berlin 3.76M, Hamburg 1.89M, Munich 1.51M, Cologne 1.08M, Frankfurt 0.77M. Long-distance
    # trips (Mobilität in Deutschland 2017: about 1.5% of person-days include a trip over 100 km) are mostly by
    # car, then rail; few domestic flights.
    "germany": CountryPreset("germany", "Germany", "DE", (
        ("berlin", 0.417), ("hamburg", 0.210), ("munich", 0.168), ("cologne", 0.120), ("frankfurt", 0.085)),
        Intercity(0.015, 0.4, (0.25, 0.05, 0.70))),
}
COUNTRY_ALIASES: dict[str, str] = {"KR": "south-korea", "KOREA": "south-korea", "RU": "russia", "DE": "germany"}
"""ISO codes (and a common name) accepted for a country preset, e.g. ``--country KR``."""

# Relative density per square metre of residents and jobs by zone (centre, residential, suburb).
RESIDENT_DENSITY = (0.9, 1.0, 0.35)
JOB_DENSITY = (4.0, 0.6, 0.15)


@dataclass(frozen=True)
class Metro:
    """One city of a territory, in the territory's local metres: centre, zone radii, population share."""

    name: str
    display_name: str
    x: float
    y: float
    centre_radius_m: float
    residential_radius_m: float
    suburb_radius_m: float
    share: float
    bounds: tuple[float, float, float, float] | None = None
    """Bounding box of the metro's territory (its disc and the disc of an outlying airport)."""
    timezone: str | None = None
    """IANA time zone of the metro (``None``: the territory's)."""


AIRPORT_DISC_M = 3_000.0
"""An airport beyond a country city's suburbs gets a disc of its own (terminals, aprons, access roads)."""


@dataclass
class City:
    """A territory in local metres: boundary, zones, country and named places; one or several metros.

    A city preset or a custom city is one metro centred on the projection's origin; a country preset has
    several (:attr:`metros`, the first one at the origin), and its boundary is the union of theirs.
    :attr:`timezone` is the capital's zone; :attr:`timezones` every distinct zone of the metros (the capital's
    first) and :attr:`metro_zone` each metro's index into it.
    """

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
    metros: tuple[Metro, ...] = ()
    intercity: Intercity = NO_INTERCITY

    def __post_init__(self) -> None:
        if self.places:
            x, y = self.projection.to_xy([p.latitude for p in self.places], [p.longitude for p in self.places])
            self.place_xy = np.column_stack([x, y])
        shapely.prepare(self.boundary)
        minx, miny, maxx, maxy = self.boundary.bounds
        self.bounds = (float(minx), float(miny), float(maxx), float(maxy))
        if not self.metros:
            reach = max(abs(v) for v in self.bounds)
            self.metros = (Metro(self.name, self.display_name, 0.0, 0.0, self.centre_radius_m,
                                 self.residential_radius_m, max(reach, self.residential_radius_m), 1.0),)
        self._metro_x = np.asarray([m.x for m in self.metros])
        self._metro_y = np.asarray([m.y for m in self.metros])
        self._metro_r = np.asarray([m.suburb_radius_m for m in self.metros])
        zones = [m.timezone or self.timezone for m in self.metros]
        self.timezones: list[str] = list(dict.fromkeys([self.timezone, *zones]))
        self.metro_zone = np.asarray([self.timezones.index(z) for z in zones], np.uint8)
        self.place_metro = self.metro_of(self.place_xy[:, 0], self.place_xy[:, 1]) if self.places else \
            np.zeros(0, np.int16)

    # -- geometry --------------------------------------------------------------------------------------
    @property
    def metro_shares(self) -> NDArray[np.float64]:
        """Population share of each metro (sums to 1)."""
        shares = np.asarray([m.share for m in self.metros], dtype=np.float64)
        out: NDArray[np.float64] = shares / shares.sum()
        return out

    def metro_of(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.int16]:
        """Metro of each point: the one whose centre is nearest relative to its size (0 in a one-city territory)."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        if len(self.metros) == 1:
            return np.zeros(xa.shape, np.int16)
        rel = np.hypot(xa[..., None] - self._metro_x, ya[..., None] - self._metro_y) / self._metro_r
        out: NDArray[np.int16] = np.argmin(rel, axis=-1).astype(np.int16)
        return out

    def timezone_of(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.uint8]:
        """Time zone of each point (index into :attr:`timezones`): the zone of its metro."""
        out: NDArray[np.uint8] = self.metro_zone[self.metro_of(x, y)]
        return out

    def zone_of(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.int8]:
        """Zone code of each point (``ZONE_OUTSIDE`` outside the boundary), by the radii of its metro."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        centre_r: float | NDArray[np.float64]
        res_r: float | NDArray[np.float64]
        if len(self.metros) == 1:
            r = np.hypot(xa, ya)
            centre_r, res_r = self.centre_radius_m, self.residential_radius_m
        else:
            m = self.metro_of(xa, ya)
            r = np.hypot(xa - self._metro_x[m], ya - self._metro_y[m])
            centre_r = np.asarray([mm.centre_radius_m for mm in self.metros])[m]
            res_r = np.asarray([mm.residential_radius_m for mm in self.metros])[m]
        zone = np.where(r <= centre_r, ZONE_CENTRE,
                        np.where(r <= res_r, ZONE_RESIDENTIAL, ZONE_SUBURB)).astype(np.int8)
        inside = shapely.contains_xy(self.boundary, xa, ya)
        zone[~inside] = ZONE_OUTSIDE
        return zone

    def metro_bounds(self, m: int) -> tuple[float, float, float, float]:
        """Bounding box of metro ``m`` (the whole territory's in a one-city territory)."""
        if len(self.metros) == 1:
            return self.bounds
        mm = self.metros[m]
        if mm.bounds is not None:
            return mm.bounds
        r = mm.suburb_radius_m
        return (mm.x - r, mm.y - r, mm.x + r, mm.y + r)

    def contains(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Whether each point is inside the city boundary."""
        return np.asarray(shapely.contains_xy(self.boundary, x, y))

    def sample_points(self, rng: np.random.Generator, n: int, weights: tuple[float, float, float],
                      hotspots: NDArray[np.float64] | None = None, hotspot_share: float = 0.0,
                      hotspot_sigma: float = 600.0, metro: int | None = None) -> NDArray[np.float64]:
        """Draw ``n`` points inside the city with per-zone density ``weights`` (rejection sampling).

        A share of points can be drawn around ``hotspots`` (e.g. business districts) instead. With ``metro``
        (a territory of several metros) every point lies in that metro.
        """
        several = metro is not None and len(self.metros) > 1
        if several:
            assert metro is not None
            if hotspots is not None and len(hotspots):
                hotspots = hotspots[self.metro_of(hotspots[:, 0], hotspots[:, 1]) == metro]
        out = np.empty((n, 2), dtype=np.float64)
        filled = 0
        n_hot = round(n * hotspot_share) if hotspots is not None and len(hotspots) else 0
        if n_hot:
            assert hotspots is not None
            idx = rng.integers(0, len(hotspots), n_hot)
            pts = hotspots[idx] + rng.normal(0.0, hotspot_sigma, (n_hot, 2))
            ok = self.contains(pts[:, 0], pts[:, 1])
            if several:
                ok &= self.metro_of(pts[:, 0], pts[:, 1]) == metro
            pts = pts[ok]
            out[: len(pts)] = pts
            filled = len(pts)
        wmax = max(weights)
        minx, miny, maxx, maxy = self.metro_bounds(metro) if several and metro is not None else self.bounds
        while filled < n:
            need = n - filled
            m = int(need * 2.5) + 64
            px = rng.uniform(minx, maxx, m)
            py = rng.uniform(miny, maxy, m)
            zone = self.zone_of(px, py)
            if several:
                zone[self.metro_of(px, py) != metro] = ZONE_OUTSIDE
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


def country_from_preset(name: str) -> City:
    """Build a country preset by name (``south-korea``, ``russia``, ``germany``) or ISO code (``KR``, ...).

    One projection centred on the capital (the first city) holds every city, each a disc of its preset's radii;
    the places of all cities are the territory's places.
    """
    key = name.strip().lower()
    key = COUNTRY_ALIASES.get(key.upper(), key)
    if key not in COUNTRY_PRESETS:
        raise UnknownCityError(f"unknown country {name!r}; presets: {', '.join(sorted(COUNTRY_PRESETS))} "
                               f"(or {', '.join(sorted(a for a in COUNTRY_ALIASES if len(a) == 2))})")
    cp = COUNTRY_PRESETS[key]
    country = COUNTRIES[cp.country]
    cities = [PRESETS.get(c) or _CITIES[c] for c, _ in cp.cities]
    capital = cities[0]
    proj = LocalProjection(capital.latitude, capital.longitude)
    metros = []
    discs = []
    places: list[NamedPlace] = []
    for preset, (_, share) in zip(cities, cp.cities, strict=True):
        x, y = proj.point_xy(preset.latitude, preset.longitude)
        parts = [Point(x, y).buffer(preset.suburb_radius_m, quad_segs=64)]
        for place in preset.places:
            px, py = proj.point_xy(place.latitude, place.longitude)
            if place.kind == "AIRPORT" and math.hypot(px - x, py - y) > preset.suburb_radius_m - AIRPORT_DISC_M:
                parts.append(Point(px, py).buffer(AIRPORT_DISC_M, quad_segs=16))
        territory = shapely.union_all(parts)
        minx, miny, maxx, maxy = (float(v) for v in territory.bounds)
        metros.append(Metro(preset.name, preset.display_name, x, y, preset.centre_radius_m,
                            preset.residential_radius_m, preset.suburb_radius_m, share, (minx, miny, maxx, maxy),
                            preset.timezone or country.timezone))
        discs.append(territory)
        places.extend(preset.places)
    return City(cp.name, cp.display_name, proj, country, capital.timezone or country.timezone, country.locale,
                shapely.union_all(discs),
                capital.centre_radius_m, capital.residential_radius_m, places, metros=tuple(metros),
                intercity=cp.intercity)


def territory_country(city: str, country: str | None = None) -> tuple[Country, str]:
    """The country and display name of a city preset, or of the country preset ``country`` when given.

    Unknown names raise KeyError.
    """
    if country is not None:
        key = country.strip().lower()
        preset = COUNTRY_PRESETS[COUNTRY_ALIASES.get(key.upper(), key)]
        return COUNTRIES[preset.country], preset.display_name
    city_preset = PRESETS[city.strip().lower()]
    return COUNTRIES[city_preset.country], city_preset.display_name


def preset_places(city: str, country: str | None = None) -> tuple[NamedPlace, ...]:
    """Named places of a city preset, or of every city of the country preset ``country`` when given."""
    if country is None:
        return PRESETS[city.strip().lower()].places
    key = country.strip().lower()
    preset = COUNTRY_PRESETS[COUNTRY_ALIASES.get(key.upper(), key)]
    return tuple(p for c, _ in preset.cities for p in (PRESETS.get(c) or _CITIES[c]).places)


def country_preset_key(name: str) -> str | None:
    """The key of the country preset ``name`` names (a preset name or an ISO code), or None."""
    key = name.strip().lower()
    key = COUNTRY_ALIASES.get(key.upper(), key)
    return key if key in COUNTRY_PRESETS else None


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
