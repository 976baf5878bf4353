"""The simulated installs of one app: a columnar table drawn from the world, and the ids and tokens of its rows.

Owns :class:`InstallTable` (numpy columns, one row per device that installed the app, sorted by subscriber) and
:func:`draw_installs` (:func:`draw_app`), which decides who installs an app from its popularity and each
subscriber's segments (age, interests, phone OS; inbound roamers count as interested in ``TRAVEL``), all
vectorised over the population and drawn from the world's named stream ``("apps-installs", app_seq)``: the same
seed and app give the same table. Each row's installation id,
registration token and the brand's user id are derived from the row (keyed hashes under a key drawn from the seed),
never stored, so a token names its app and row and is checked by recomputing it. A token refresh bumps a row's
``generation``: the token of the new generation is valid, every older one is not (FCM answers ``UNREGISTERED``). New
installs over simulated time append rows (:meth:`InstallTable.append`; see :mod:`gateway.services.apps.lifecycle`).

Shares (documented in the README): iOS asks for notifications and 50-60% allow (drawn per app); Android 13+ (65% of
Android installs) asks and 70-85% allow; older Android grants without asking; in-app marketing consent 40-60% (per
app); in-app location never / while using / always 45% / 45% / 10%; the user linked their phone line to the app
account (``linked``: operator signals need it besides the location permission) 35%, drawn from a stream of its own
(``("apps-links", app_seq)``) so the other columns draw as before.
It must not know about HTTP, SQL or push delivery.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gateway.services.apps.model import LOCATION_PERMISSIONS, PLATFORMS, AppSpec, InstallInfo
from simulator.segments import Segment
from simulator.world import World

AGE_BANDS = np.array([25, 45, 65], dtype=np.uint8)
"""Upper bounds of the age bands under 25, 25-44, 45-64 (65 and over is the last band)."""
AGE_WEIGHT = np.array([1.3, 1.1, 0.8, 0.5])
"""How much more (or less) likely each age band installs an app than its popularity says."""
INTEREST_WEIGHT = (1.6, 0.5)
"""Install weight of a subscriber with an interest among the app's categories, and of one without."""
TRAVEL_CATEGORY = "TRAVEL"
"""The app category every inbound roamer fits (a tourist's travel app), besides their own interests."""
IOS_OPT_IN = (0.50, 0.60)
ANDROID_13_SHARE = 0.65
ANDROID_13_OPT_IN = (0.70, 0.85)
MARKETING_CONSENT = (0.40, 0.60)
LOCATION_SHARES = (0.45, 0.45, 0.10)
LINKED_SHARE = 0.35
"""Share of installs whose user linked their phone line to the app account (an operator-login or number-verify
step in the app, done by about a third of users)."""
TOKEN_PREFIX = "APA91b"


@dataclass(frozen=True)
class PermissionChange:
    """New values of some permissions of one install (``None``: unchanged), as the operator sets them."""

    notifications: bool | None = None
    marketing: bool | None = None
    location: str | None = None
    """One of :data:`~gateway.services.apps.model.LOCATION_PERMISSIONS`."""
    linked: bool | None = None

    def to_json(self) -> dict[str, bool | str]:
        """Stored form (the fields given)."""
        return {k: v for k, v in (("notifications", self.notifications), ("marketing", self.marketing),
                                  ("location", self.location), ("linked", self.linked)) if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, bool | str]) -> PermissionChange:
        """Read the stored form back."""
        def flag(key: str) -> bool | None:
            return None if key not in data else bool(data[key])
        return cls(flag("notifications"), flag("marketing"), None if "location" not in data else str(data["location"]),
                   flag("linked"))


@dataclass
class InstallTable:
    """The installs of one app as aligned columns (row ``r`` is one device; rows never move).

    The rows drawn at registration are sorted by subscriber; rows appended by later installs follow in install
    order (a reinstall is a new row: a new installation id and token).
    """

    app_seq: int
    subscriber: NDArray[np.int64]
    platform: NDArray[np.uint8]
    """Index into :data:`~gateway.services.apps.model.PLATFORMS`."""
    notifications: NDArray[np.bool_]
    marketing: NDArray[np.bool_]
    location: NDArray[np.uint8]
    """Index into :data:`~gateway.services.apps.model.LOCATION_PERMISSIONS`."""
    installed: NDArray[np.bool_]
    generation: NDArray[np.uint16] = field(default_factory=lambda: np.zeros(0, np.uint16))
    """Token refreshes of each row so far (the token of generation ``g`` is valid only while it is the row's)."""
    initial: int = -1
    """Rows drawn at registration (sorted by subscriber); ``-1`` means all of them."""
    linked: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    """The user linked their phone line to the app account (operator signals need it and location permission)."""

    def __post_init__(self) -> None:
        if len(self.generation) != len(self.subscriber):
            self.generation = np.zeros(len(self.subscriber), np.uint16)
        if len(self.linked) != len(self.subscriber):
            self.linked = np.zeros(len(self.subscriber), bool)
        if self.initial < 0:
            self.initial = len(self.subscriber)

    @property
    def size(self) -> int:
        """Rows in the table (devices that ever installed the app)."""
        return len(self.subscriber)

    def rows_of(self, subscriber: int) -> NDArray[np.int64]:
        """Rows of one subscriber: the drawn one (if any), then those of later installs, in install order."""
        return self.rows_of_many(np.asarray([subscriber], np.int64))

    def rows_of_many(self, subscribers: NDArray[np.int64] | NDArray[np.int32]) -> NDArray[np.int64]:
        """:meth:`rows_of` of each of ``subscribers`` (distinct), one after the other in their order, as columns."""
        subs = np.asarray(subscribers, np.int64)
        drawn = self.subscriber[:self.initial]  # sorted by subscriber (the initial draw)
        lo, hi = np.searchsorted(drawn, subs, "left"), np.searchsorted(drawn, subs, "right")
        counts = hi - lo
        drawn_rows = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(lo - (np.cumsum(counts) - counts), counts)
        later = np.flatnonzero(np.isin(self.subscriber[self.initial:], subs)).astype(np.int64) + self.initial
        order = np.argsort(subs, kind="stable")
        owner = np.concatenate([np.repeat(np.arange(len(subs)), counts),
                                order[np.searchsorted(subs[order], self.subscriber[later])]])
        # Stable by owner: each subscriber's drawn row, then its later ones in install order.
        rows: NDArray[np.int64] = np.concatenate([drawn_rows, later])[np.argsort(owner, kind="stable")]
        return rows

    def append(self, subscriber: NDArray[np.int64], platform: NDArray[np.uint8], notifications: NDArray[np.bool_],
               marketing: NDArray[np.bool_], location: NDArray[np.uint8], linked: NDArray[np.bool_] | None = None
               ) -> NDArray[np.int64]:
        """Add new installs at the end (generation 0, installed; not linked unless ``linked`` says); returns their
        rows."""
        rows = np.arange(self.size, self.size + len(subscriber), dtype=np.int64)
        self.subscriber = np.concatenate([self.subscriber, subscriber.astype(np.int64)])
        self.platform = np.concatenate([self.platform, platform.astype(np.uint8)])
        self.notifications = np.concatenate([self.notifications, notifications.astype(bool)])
        self.marketing = np.concatenate([self.marketing, marketing.astype(bool)])
        self.location = np.concatenate([self.location, location.astype(np.uint8)])
        self.installed = np.concatenate([self.installed, np.ones(len(subscriber), bool)])
        self.generation = np.concatenate([self.generation, np.zeros(len(subscriber), np.uint16)])
        self.linked = np.concatenate([self.linked, np.zeros(len(subscriber), bool) if linked is None
                                      else linked.astype(bool)])
        return rows

    def signals_allowed(self, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether operator signals (where the phone is) may be used for each of ``rows`` now: installed, in-app
        location permission ``WHILE_USING`` or ``ALWAYS``, and the line linked to the app account."""
        allowed: NDArray[np.bool_] = self.installed[rows] & (self.location[rows] > 0) & self.linked[rows]
        return allowed

    def set_permissions(self, row: int, change: PermissionChange) -> None:
        """Apply an operator's change of one row's permissions (the fields it gives)."""
        if change.notifications is not None:
            self.notifications[row] = change.notifications
        if change.marketing is not None:
            self.marketing[row] = change.marketing
        if change.location is not None:
            self.location[row] = LOCATION_PERMISSIONS.index(change.location)
        if change.linked is not None:
            self.linked[row] = change.linked

    def installed_mask(self, population: int) -> NDArray[np.bool_]:
        """Whether each of the first ``population`` subscribers has the app now."""
        mask = np.zeros(population, dtype=bool)
        subs = self.subscriber[self.installed]
        mask[subs[subs < population]] = True
        return mask


@dataclass(frozen=True)
class Propensity:
    """Who may install an app and how likely, per subscriber of the world's base population (the same after a
    restart whatever test subscribers were added)."""

    p: NDArray[np.float64]
    """Chance that each subscriber has the app at registration (0 where the app does not run on the phone)."""
    ios: NDArray[np.bool_]


def install_propensity(world: World, spec: AppSpec, n: int | None = None) -> Propensity:
    """Install chances from the app's popularity and each subscriber's segments (age, interests, phone OS)."""
    n = world.subscriber_count if n is None else n
    subs = np.arange(n, dtype=np.int64)
    ios = world.segment_mask(subs, Segment(os=("IOS",)))
    android = world.segment_mask(subs, Segment(os=("ANDROID",)))
    p = np.full(n, spec.popularity) * AGE_WEIGHT[np.searchsorted(AGE_BANDS, world.ages(subs), side="right")]
    if spec.categories:
        fits = world.segment_mask(subs, Segment(interests_any=spec.categories))
        if TRAVEL_CATEGORY in spec.categories:  # visitors are travelling: a travel app suits them whatever they like
            fits |= world.device_kinds(subs)[0]
        p *= np.where(fits, INTEREST_WEIGHT[0], INTEREST_WEIGHT[1])
    supported = (ios & ("IOS" in spec.platforms)) | (android & ("ANDROID" in spec.platforms))
    return Propensity(np.where(supported, np.clip(p, 0.0, 1.0), 0.0), ios)


@dataclass(frozen=True)
class Shares:
    """An app's permission shares, drawn once per app (see the module docstring)."""

    ios_opt_in: float
    android_opt_in: float
    marketing: float


def draw_permissions(rng: np.random.Generator, on_ios: NDArray[np.bool_], shares: Shares
                     ) -> tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[np.bool_], NDArray[np.uint8]]:
    """(platform, notifications, marketing, location) of new installs on the given phones."""
    k = len(on_ios)
    asks = rng.random(k) < ANDROID_13_SHARE  # Android 13+ asks (POST_NOTIFICATIONS); older versions grant
    u = rng.random(k)
    notifications = np.where(on_ios, u < shares.ios_opt_in, np.where(asks, u < shares.android_opt_in, True))
    marketing = rng.random(k) < shares.marketing
    location = rng.choice(len(LOCATION_PERMISSIONS), size=k, p=LOCATION_SHARES).astype(np.uint8)
    platform = np.where(on_ios, PLATFORMS.index("IOS"), PLATFORMS.index("ANDROID")).astype(np.uint8)
    return platform, notifications.astype(bool), marketing, location


def draw_installs(world: World, app_seq: int, spec: AppSpec) -> InstallTable:
    """Who installs the app, and each install's permissions, drawn for the whole population at once."""
    return draw_app(world, app_seq, spec)[0]


def draw_app(world: World, app_seq: int, spec: AppSpec, population: int | None = None
             ) -> tuple[InstallTable, Shares]:
    """:func:`draw_installs` over the first ``population`` subscribers (default: all of them now) and the app's
    permission shares (later installs draw their permissions with them). A restart passes the count at
    registration, so test subscribers added later do not shift the draws."""
    n = world.subscriber_count if population is None else population
    rng = world.random_stream("apps-installs", app_seq)
    propensity = install_propensity(world, spec, n)
    chosen = rng.random(n) < propensity.p
    who = np.flatnonzero(chosen).astype(np.int64)
    shares = Shares(rng.uniform(*IOS_OPT_IN), rng.uniform(*ANDROID_13_OPT_IN), rng.uniform(*MARKETING_CONSENT))
    platform, notifications, marketing, location = draw_permissions(rng, propensity.ios[who], shares)
    linked = world.random_stream("apps-links", app_seq).random(len(who)) < LINKED_SHARE
    table = InstallTable(app_seq, who, platform, notifications, marketing, location, np.ones(len(who), dtype=bool),
                         linked=linked)
    return table, shares


class TokenCodec:
    """Installation ids, registration tokens and user ids of install rows, under one key drawn from the seed.

    An installation id packs (app, row) with a keyed check (22 URL-safe base64 characters, like Firebase
    installation ids); a registration token is ``<installation id>:APA91b<keyed hash>``. Both are recomputed,
    never stored, so :meth:`parse` answers which app and row a token names (or ``None``) without a lookup table.
    """

    def __init__(self, world: World) -> None:
        self._key = world.random_stream("apps-token-key").bytes(32)

    def _mac(self, what: bytes, app_seq: int, row: int, size: int) -> bytes:
        return hashlib.blake2b(what + struct.pack(">QQ", app_seq, row), key=self._key, digest_size=size).digest()

    def installation_id(self, app_seq: int, row: int) -> str:
        """The Firebase-installation-like id of a row."""
        raw = struct.pack(">II", app_seq, row) + self._mac(b"fid", app_seq, row, 8)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def token(self, app_seq: int, row: int, generation: int = 0) -> str:
        """The registration token of a row at a generation (opaque to the partner; a refresh makes a new one)."""
        what = b"token" if generation == 0 else b"token" + struct.pack(">H", generation)
        mac = base64.urlsafe_b64encode(self._mac(what, app_seq, row, 64)).decode().rstrip("=")
        return f"{self.installation_id(app_seq, row)}:{TOKEN_PREFIX}{mac}"

    def user_id(self, app_seq: int, row: int) -> str:
        """The brand's own account id of the user of a row (``u_`` and 16 hex digits)."""
        return "u_" + self._mac(b"user", app_seq, row, 8).hex()

    def parse_installation(self, installation_id: str) -> tuple[int, int] | None:
        """(app, row) an installation id names, ``None`` when it is not one of ours."""
        if len(installation_id) != 22 or not installation_id.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(installation_id + "==")
        except ValueError:
            return None
        if len(raw) != 16:  # characters outside the alphabet are dropped by the decoder, not refused
            return None
        app_seq, row = struct.unpack(">II", raw[:8])
        return (app_seq, row) if self.installation_id(app_seq, row) == installation_id else None

    def parse(self, token: str, generation: int = 0) -> tuple[int, int, int] | None:
        """(app, row, generation) a registration token names, ``None`` when it is not a token this world issued.

        ``generation`` is the highest generation to try (the row's current one): older tokens parse too, so a
        caller can tell a stale token (``UNREGISTERED``) from a foreign one.
        """
        named = self.parse_installation(token.partition(":")[0])
        if named is None:
            return None
        for g in range(generation, -1, -1):
            if self.token(*named, g) == token:
                return named[0], named[1], g
        return None

    def info(self, table: InstallTable, row: int) -> InstallInfo:
        """The decoded row ``row`` of ``table``."""
        return InstallInfo(
            row=row, subscriber=int(table.subscriber[row]), installation_id=self.installation_id(table.app_seq, row),
            user_id=self.user_id(table.app_seq, row),
            token=self.token(table.app_seq, row, int(table.generation[row])),
            platform=PLATFORMS[int(table.platform[row])], notifications_permitted=bool(table.notifications[row]),
            marketing_consent=bool(table.marketing[row]),
            location_permission=LOCATION_PERMISSIONS[int(table.location[row])], installed=bool(table.installed[row]),
            line_linked=bool(table.linked[row]))
