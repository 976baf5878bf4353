"""The scenario file format: pydantic models, unknown keys rejected everywhere.

A scenario names its ``seed``, ``start`` and ``tick``, the ``world`` (city preset or custom GeoJSON, population,
consent rates), ``events`` (gatherings, set up before serving; an ``add_gathering`` step adds one mid-run),
``partners`` (name, scopes, webhook sinks on the scenario's receiver) and ``steps`` at simulated times. Each
step has exactly one action key (:data:`STEP_ACTIONS`); ``at`` (an instant, or an ISO 8601 duration counted
from ``start``) makes the runner advance the clock there first. An optional ``sweep`` section varies parameters
over runs.

This module only describes and validates; it must not build worlds or talk to the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_snake
from pydantic_core import InitErrorDetails, PydanticCustomError

from gateway.wire.apps import Category as AppCategory
from gateway.wire.apps import LocationPermission as AppLocationPermission
from gateway.wire.apps import Platform as AppPlatform
from gateway.wire.base import Instant
from gateway.wire.camara.subject import PhoneNumber as Msisdn
from gateway.wire.campaigns import SegmentModel
from gateway.wire.cdp_triggers import MAX_WINDOW_S, PushKind
from gateway.wire.cdp_triggers import Rule as WireRule
from gateway.wire.faults import FaultProfileCreate, NetworkFaultCreate
from gateway.wire.geo import Latitude, Longitude
from gateway.wire.vocabulary import CampaignKind as MessageKind
from gateway.wire.vocabulary import Channel as MessageChannel
from gateway.wire.vocabulary import ConsentPurpose, Day, DeliveryChannel, LocationMode

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
Share = Annotated[float, Field(ge=0, le=1)]

_DURATION = TypeAdapter(timedelta)


MAX_SPAN = timedelta(days=36525)
"""Longest duration a scenario may give (100 years): added to a start in the accepted instant range it cannot
overflow; a result past that range is refused by the gateway like any other instant."""


def _bounded(value: timedelta) -> timedelta:
    if value > MAX_SPAN:
        raise ValueError(f"must be at most {MAX_SPAN.days} days")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return _bounded(value)


Duration = Annotated[timedelta, AfterValidator(_positive)]
"""An ISO 8601 duration (``PT15M``) or a number of seconds, positive and at most :data:`MAX_SPAN`."""


def _when(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("+").startswith("P"):
        return _DURATION.validate_python(value.lstrip("+"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("give an instant with a zone (2026-06-06T18:00:00Z) or a duration from start (PT3H)")
    return value


When = Annotated[Instant | Annotated[timedelta, AfterValidator(_bounded)], BeforeValidator(_when)]
"""An instant with a zone in the accepted range (see ``gateway.wire.Instant``), or a duration (``PT3H``,
``+PT3H``, at most :data:`MAX_SPAN`) counted from the scenario's ``start``."""


class Strict(BaseModel):
    """Base of every scenario model: unknown keys and non-finite numbers (YAML ``.inf``, ``.nan``) are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# -- world -----------------------------------------------------------------------------------------------
class ConsentRatesSpec(Strict):
    """Initial opt-in shares (the simulator's defaults when absent)."""

    advertising_push: Share | None = None
    advertising_sms: Share | None = None
    location_sharing: Share | None = None
    analytics: Share | None = None
    advertising_correlation: Annotated[float, Field(ge=-1, le=1)] | None = None


class CustomCity(Strict):
    """A city drawn from a GeoJSON Polygon file (relative to the scenario file), with its centre and country."""

    geojson: Name
    name: Name | None = None
    latitude: Latitude
    longitude: Longitude
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    timezone: Name | None = None


class WorldSpec(Strict):
    """The world to build."""

    city: Name = "berlin"
    country: Name | None = None  # a country preset (south-korea, russia, germany; or KR, RU, DE) instead of city
    custom_city: CustomCity | None = None
    subscribers: Annotated[int, Field(ge=1, le=2**31 - 1)] = 20_000
    consent: ConsentRatesSpec = Field(default_factory=ConsentRatesSpec)
    fictional_numbers: bool = False
    roaming_share: Annotated[float, Field(ge=0, le=0.5)] = 0.02
    locale: Name | None = None  # Faker locale of names and e-mails (e.g. en_GB); default: the city's

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        from faker.config import AVAILABLE_LOCALES

        if value is not None and value not in AVAILABLE_LOCALES:
            raise ValueError(f"unknown locale {value!r}; use a Faker locale such as en_US, de_DE, ko_KR")
        return value

    @field_validator("city")
    @classmethod
    def _known_city(cls, value: str) -> str:
        from simulator.city import PRESETS

        if value.lower() not in PRESETS:
            raise ValueError(f"unknown city {value!r}; presets: {', '.join(sorted(PRESETS))}")
        return value.lower()

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        from simulator.city import COUNTRY_PRESETS, country_preset_key

        if value is None:
            return None
        key = country_preset_key(value)
        if key is None:
            raise ValueError(f"unknown country {value!r}; presets: {', '.join(sorted(COUNTRY_PRESETS))}")
        return key

    @model_validator(mode="after")
    def _one_territory(self) -> Self:
        if self.country is not None and self.custom_city is not None:
            raise ValueError("give either country or custom_city, not both")
        return self


class Gathering(Strict):
    """People attending a place between two instants.

    Under ``events`` it is set up before the gateway serves; as an ``add_gathering`` step it is added at the
    step's time through the admin API (its start must not be in the past then).
    """

    name: Name
    place: Name | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    start: When
    end: When
    share: Annotated[float, Field(gt=0, le=1)] | None = None
    count: Annotated[int, Field(ge=1)] | None = None
    arrive_before: Duration = timedelta(minutes=60)

    @model_validator(mode="after")
    def _where_and_how_many(self) -> Self:
        if (self.place is None) == (self.latitude is None or self.longitude is None):
            raise ValueError("give either place or both latitude and longitude")
        if (self.share is None) == (self.count is None):
            raise ValueError("give exactly one of share, count")
        return self


class Event(Strict):
    """Something that happens in the world; today only gatherings."""

    gathering: Gathering


class PartnerSpec(Strict):
    """A partner: created through the admin API, its code runs through the partner client."""

    name: Name
    scopes: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9:._-]{0,99}$")]] = Field(
        default_factory=list)
    sinks: dict[Id, Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9/_.-]*$")]] = Field(default_factory=dict)
    """Webhook sinks by name: paths on the scenario's receiver (``/hooks/acme``)."""


class OperatorSpec(Strict):
    """The operator's campaign rules for this run (the gateway's defaults when absent).

    Quiet hours are local hours ``[quiet_start_hour, quiet_end_hour)``; equal hours switch them off.
    """

    quiet_start_hour: Annotated[int, Field(ge=0, le=23)] | None = None
    quiet_end_hour: Annotated[int, Field(ge=0, le=23)] | None = None
    daily_cap: Annotated[int, Field(ge=1, le=100)] | None = None
    min_audience: Annotated[int, Field(ge=0)] | None = None
    privacy_threshold: Annotated[int, Field(ge=1)] | None = None


# -- steps -----------------------------------------------------------------------------------------------
class AreaSpec(Strict):
    """A circle or a polygon.

    A circle is ``radius`` metres around a named ``place`` or ``latitude``/``longitude``; a ``polygon`` is 3 to 15
    ``[latitude, longitude]`` points.
    """

    place: Name | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius: Annotated[float, Field(gt=0)] | None = None
    polygon: Annotated[list[tuple[Latitude, Longitude]], Field(min_length=3, max_length=15)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        centre = self.place is not None or self.latitude is not None or self.longitude is not None
        if self.polygon is not None:
            if centre or self.radius is not None:
                raise ValueError("a polygon takes no place, latitude, longitude or radius")
            return self
        if self.radius is None:
            raise ValueError("give radius (metres) with place or latitude+longitude, or a polygon")
        if (self.place is None) == (self.latitude is None or self.longitude is None):
            raise ValueError("give either place or both latitude and longitude")
        return self


class TargetingSpec(Strict):
    """Where (areas, location mode, dwell, visit window) and whom (a segment, as the campaigns API takes it)."""

    areas: Annotated[list[AreaSpec], Field(min_length=1, max_length=10)]
    location_mode: LocationMode = "PRESENT"
    dwell_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    visited_from: When | None = None
    visited_to: When | None = None
    segment: SegmentModel | None = None


class EstimateSpec(TargetingSpec):
    """``POST /campaigns/v1/audience-estimates``."""

    kind: MessageKind = "PROMO"
    channel: MessageChannel = "PUSH_THEN_SMS"
    max_recipients: Annotated[int, Field(ge=1)] | None = None


class DailyHoursSpec(Strict):
    """A daily window in the subscriber's local time, ``HH:MM`` to ``HH:MM``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(alias="from")
    to: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class MessageSpec(Strict):
    """What is sent."""

    kind: MessageKind
    channel: MessageChannel = "PUSH_THEN_SMS"
    sender_name: Name
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class CreateCampaignSpec(TargetingSpec):
    """``POST /campaigns/v1/campaigns``; ``start``/``end`` may be durations from the scenario start."""

    name: Name
    start: When
    end: When
    daily_hours: DailyHoursSpec | None = None
    days_of_week: list[Day] | None = None
    message: MessageSpec
    max_recipients: Annotated[int, Field(ge=1)] | None = None


class CancelCampaignSpec(Strict):
    """``DELETE /campaigns/v1/campaigns/{id}`` of the campaign an earlier step created."""

    campaign: Id
    """The id of the ``create_campaign`` step."""


class Advance(Strict):
    """Run the clock for ``by`` or to ``to``."""

    by: Duration | None = None
    to: When | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"by": value} if isinstance(value, str | int | float) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.by is None) == (self.to is None):
            raise ValueError("give exactly one of by, to")
        return self


class SetConsent(Strict):
    """Grant or withdraw a subscriber's consent (operator side, as if the subscriber used the app).

    Advertising consent is per channel; without ``channel`` it is set on every channel.
    """

    msisdn: Msisdn
    purpose: ConsentPurpose
    channel: DeliveryChannel | None = None
    granted: bool


class TestProfile(Strict):
    """Profile of a QA phone; the simulator fills what is absent."""

    first_name: Name | None = None
    last_name: Name | None = None
    age: Annotated[int, Field(ge=0, le=120)] | None = None
    gender: Name | None = None
    language: Name | None = None
    status: Name | None = None
    interests: list[Name] | None = None
    os: Name | None = None
    app_installed: bool | None = None
    tariff: Name | None = None
    roaming: bool | None = None


class AddTestSubscriber(Strict):
    """An integrator's QA phone, pinned where it is put (default: the city centre)."""

    msisdn: Msisdn
    profile: TestProfile = Field(default_factory=TestProfile)
    consent: dict[ConsentPurpose, dict[Literal["PUSH", "SMS", "ANY"], bool]] = Field(default_factory=dict)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    place: Name | None = None
    """A named place of the city instead of coordinates."""


class PinSubscriber(Strict):
    """Hold a subscriber at a place (coordinates or a named place), or ``release`` them to their routine."""

    msisdn: Msisdn
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    place: Name | None = None
    release: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        given = (self.place is not None) + (self.latitude is not None or self.longitude is not None) + self.release
        if given != 1:
            raise ValueError("give exactly one of place, latitude+longitude, release: true")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude")
        return self


Comparable = float | int | str | bool | None


class Check(Strict):
    """One assertion on a value the scenario can observe, with tolerances for numbers.

    ``of`` selects the value: ``inbox`` (messages on a device: ``msisdn``), ``webhooks`` (what the receiver got:
    ``sink``/``partner``, ``event_type``), ``subscriber`` (the operator-side view of ``msisdn``), ``step``
    (the recorded answer of an earlier step, by its ``id``), ``report`` (the partner's campaign report now, of
    the ``campaign`` an earlier step created) or ``truth`` (the operator-side outcome counts of that campaign:
    ``records``, ``delivered``, ``failed``, ``opened``, ``clicked``, ``suppressed.<REASON>``, ``recipients``).
    ``audience`` (the partner's view of the audience a ``define_audience`` step defined, by ``step``, plus
    ``members``, the exported member count), ``push`` (operator-side counts of the pushes a ``send_push`` step sent,
    by ``step``: ``messages``, ``delivered``, ``held``, ``expired``, ``suppressed``, ``displayed``, ``opened``,
    ``recipients``, ``fanouts``), ``app`` (the partner's view of a ``register_app`` step's app, by ``step``, plus the
    operator-side install counts ``installed``, ``notificationsPermitted``, ``marketingConsent``, ``locationAlways``,
    ``lineLinked``),
    ``profile`` (the partner's CDP profile of ``identity``, a user or anonymous id, ``${id.path}`` allowed) or
    ``trigger`` (what a ``define_trigger`` step's trigger did, by ``step``; only the fires of user ``identity`` when
    given: ``fires``, ``sent``, ``suppressed``, ``reasons.<REASON>``, ``users``, ``firstAt``, ``lastAt``,
    ``steps[i]`` with the same per chain step, ``sentHours`` (local hours of the city with a send),
    ``maxSentPerUserDay``, ``pushes`` (as ``push``), ``webhooks`` (its CloudEvents at the receiver: ``received``,
    ``dataKeys``, ``phoneNumbers``, ``coordinates``, ``unknownUsers``) and ``audit`` against the install tables of
    its apps: ``sentWithoutLocation``, ``pushedWithoutMarketingConsent``; ``truncated`` when the view stopped reading
    after 100,000 fires).
    ``path`` (dotted, ``count`` for lengths) picks a field of it; ``*`` maps the rest of the path over every item
    of a list (items lacking the field are skipped, nested ``*`` flatten) and ``max``, ``min``, ``sum`` reduce a
    list of numbers (``*.type``, ``slots.*.maxPplDensity.max``). Then any of ``equals``, ``at_least``,
    ``at_most``, ``approx`` (with ``tolerance``, relative, or ``abs_tolerance``), ``contains``.
    """

    name: Name | None = None
    of: Literal["inbox", "webhooks", "subscriber", "step", "report", "truth", "audience", "push", "app", "profile",
                "trigger"]
    msisdn: Msisdn | None = None
    identity: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    step: Id | None = None
    campaign: Id | None = None
    partner: Name | None = None
    sink: Id | None = None
    event_type: Name | None = None
    path: Annotated[str, StringConstraints(max_length=200)] = "count"
    equals: Comparable | list[Any] | dict[str, Any] = Field(default=None)
    at_least: float | None = None
    at_most: float | None = None
    approx: float | None = None
    tolerance: Annotated[float, Field(ge=0)] | None = None
    abs_tolerance: Annotated[float, Field(ge=0)] | None = None
    contains: Comparable = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.of in ("inbox", "subscriber") and self.msisdn is None:
            raise ValueError(f"a check of {self.of} needs msisdn")
        if self.of in ("step", "audience", "push", "app", "trigger") and self.step is None:
            raise ValueError(f"a check of {self.of} needs step (the id of an earlier step)")
        if self.of == "profile" and self.identity is None:
            raise ValueError("a check of profile needs identity (a user id or anonymous id)")
        if self.of in ("report", "truth") and self.campaign is None:
            raise ValueError(f"a check of {self.of} needs campaign (the id of a create_campaign step)")
        ops = [k for k in ("equals", "at_least", "at_most", "approx", "contains") if k in self.model_fields_set]
        if not ops:
            raise ValueError("give at least one of equals, at_least, at_most, approx, contains")
        if self.approx is None and (self.tolerance is not None or self.abs_tolerance is not None):
            raise ValueError("tolerance applies to approx only")
        return self


class CircleSpec(Strict):
    """A circle: ``radius`` metres around a named ``place`` or ``latitude``/``longitude``."""

    place: Name | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius: Annotated[float, Field(ge=1)]

    @model_validator(mode="after")
    def _centre(self) -> Self:
        if (self.place is None) == (self.latitude is None or self.longitude is None):
            raise ValueError("give either place or both latitude and longitude")
        return self


class SubscribeGeofence(Strict):
    """``POST /geofencing-subscriptions/v0.5/subscriptions``: watch one device for one event type.

    The CloudEvents go to the partner's ``sink`` (a name under its ``sinks``; default: its first sink).
    ``expire_at`` (an instant or a duration from start) ends the subscription in simulated time;
    ``max_events`` after that many area events; ``initial_event`` reports the current state at once.
    """

    msisdn: Msisdn
    area: CircleSpec
    event: Literal["area-entered", "area-left"]
    sink: Id | None = None
    expire_at: When | None = None
    max_events: Annotated[int, Field(ge=1)] | None = None
    initial_event: bool = False


class VerifyLocation(Strict):
    """``POST /location-verification/v3/verify``: whether the device is within the circle (``max_age`` in s)."""

    msisdn: Msisdn
    area: CircleSpec
    max_age: Annotated[int, Field(ge=0)] | None = None


class CountDevices(Strict):
    """``POST /region-device-count/v0.2/count``: devices in an area now, or during [``start``, ``end``]."""

    area: AreaSpec
    start: When | None = None
    end: When | None = None
    roaming_status: list[Literal["roaming", "non-roaming"]] | None = None
    device_type: list[Literal["human device", "IoT device", "other"]] | None = None

    @model_validator(mode="after")
    def _window(self) -> Self:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither (a count now)")
        return self


class DensitySpec(Strict):
    """``POST /population-density-data/v0.3/retrieve``: hourly people/km² over an area for [``start``, ``end``].

    The API takes polygons: a circle is sent as a 12-sided polygon inscribed in it. The period must lie wholly
    in the past or wholly in the future of the step's time. The runner adds a per-slot summary to the answer
    (``slots[i].maxPplDensity``, ``meanPplDensity``, ``estimatedCells``, ``lowDensityCells``) and ``peakSlot``,
    the start of the slot with the highest density.
    """

    area: AreaSpec
    start: When
    end: When
    precision: Annotated[int, Field(ge=4, le=8)] = 7
    """Geohash length of the grid (4 ≈ 39 km … 8 ≈ 38 m cells)."""


class FaultsSpec(Strict):
    """Fault injection from this step on, applied in this order.

    ``clear`` every profile, ``remove`` some by name, ``add`` profiles (as ``POST /admin/v1/faults`` takes them),
    inject ``network`` faults (as ``POST /admin/v1/faults/network`` takes them).
    """

    clear: bool = False
    remove: list[Name] = Field(default_factory=list)
    add: list[FaultProfileCreate] = Field(default_factory=list)
    network: list[NetworkFaultCreate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.clear or self.remove or self.add or self.network):
            raise ValueError("give at least one of clear, remove, add, network")
        return self


class RequestSpec(Strict):
    """Any API call, as a partner (default; ``partner`` picks which) or as the operator (``caller: admin``).

    ``path`` (with the query in ``query``) and ``body`` (JSON) are sent as given, except that ``${id.path}`` in a
    string is replaced by that field of an earlier step's answer (``${s3.id}``) and ``<inbox>`` by the scenario's
    webhook receiver. ``status`` is the expected HTTP status (default: any success); ``fields`` maps dotted paths
    of the answer (as in checks) to their expected values. ``opsim record-to-scenario`` writes these steps.
    """

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: Annotated[str, StringConstraints(pattern=r"^/[^?#\s]*$", max_length=2000)]
    query: dict[Annotated[str, StringConstraints(min_length=1, max_length=200)],
                Annotated[str, StringConstraints(max_length=2000)]] = Field(default_factory=dict)
    body: Any = None
    caller: Literal["partner", "admin"] = "partner"
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    fields: dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], Any] = Field(default_factory=dict)


# -- partner apps, CDP and push (issue 13) ---------------------------------------------------------------
class RegisterApp(Strict):
    """``POST /apps/v1/apps``: the partner's own app; the simulated subscribers install it at once."""

    name: Name
    platforms: Annotated[list[AppPlatform], Field(min_length=1, max_length=2)] = Field(
        default_factory=lambda: list[AppPlatform](["ANDROID", "IOS"]))
    categories: Annotated[list[AppCategory], Field(max_length=5)] = Field(default_factory=list)
    popularity: Share
    push_quota_per_minute: Annotated[int, Field(ge=1, le=600_000)] | None = None


class CreateSource(Strict):
    """``POST /cdp/v1/sources``; with ``app`` (a ``register_app`` step id) that app's installs report through it.

    The write key is kept for ``track`` steps (the transcript shows it redacted).
    """

    name: Name
    app: Id | None = None


TRACK_TYPES = ("track", "identify", "page", "screen", "group", "alias")
"""Segment-spec call types a ``track`` step may send."""


class TrackSpec(Strict):
    """Server-side calls of the Segment spec through a source's write key (``source``: a ``create_source`` id).

    Each call is the spec's JSON object (``{"userId": ..., "event": ..., "properties": {...}}``; ``type`` defaults
    to ``track``); ``${id.path}`` in a string is replaced as in ``request`` steps. ``batch`` (default) sends all
    calls as one ``/v1/batch`` (all or none accepted), else one call each to ``/v1/<type>``.
    """

    source: Id
    calls: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]
    batch: bool = True

    @field_validator("calls")
    @classmethod
    def _typed(cls, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, call in enumerate(calls):
            kind = call.get("type", "track")
            if kind not in TRACK_TYPES:
                raise ValueError(f"call {i}: type must be one of {', '.join(TRACK_TYPES)}")
            if kind == "track" and not isinstance(call.get("event"), str):
                raise ValueError(f"call {i}: a track call needs event (a name)")
        return calls


class DefineAudience(Strict):
    """``POST /cdp/v1/audiences`` with the CDP's definition language (README, *CDP*)."""

    name: Name
    definition: dict[str, Any]


class ExportAudience(Strict):
    """Every member of a ``define_audience`` step's audience by the partner's user ids.

    All pages of ``/members``; the answer is ``{"userIds": [...], "total": n}``.
    """

    audience: Id


class PushNotificationSpec(Strict):
    """What the device shows (a push with one is marketing: it needs in-app marketing consent)."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.title is None and self.body is None:
            raise ValueError("give title or body")
        return self


class SendPush(Strict):
    """FCM v1 ``messages:send`` for the app of a ``register_app`` step (its id is the FCM project).

    One target: ``token`` (``${id.path}`` allowed), ``install`` (the current token of that row of the app's
    install table: the brand's backend knows its installs' tokens; the runner reads them on the operator side),
    ``users`` (an ``export_audience`` step: one send per installed device of each member, as the brand's backend
    would do with its token registry), ``topic`` or ``condition``. A single-target send records the FCM answer
    (its error code for ``expect_error``); a ``users`` send counts ``accepted`` and ``errors`` by FCM code.
    ``ttl`` becomes ``android.ttl`` and ``apns-expiration``.
    """

    app: Id
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    install: Annotated[int, Field(ge=0)] | None = None
    users: Id | None = None
    topic: Annotated[str, StringConstraints(min_length=1, max_length=900)] | None = None
    condition: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    notification: PushNotificationSpec | None = None
    data: dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], str] | None = None
    ttl: Duration | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        targets = [k for k in ("token", "install", "users", "topic", "condition") if getattr(self, k) is not None]
        if len(targets) != 1:
            raise ValueError("give exactly one of token, install, users, topic, condition"
                             + (f" (got {', '.join(targets)})" if targets else ""))
        if self.notification is None and not self.data:
            raise ValueError("give notification or data (or both)")
        return self


class SubscribeTopic(Strict):
    """Instance ID ``:batchAdd`` (``:batchRemove`` with ``unsubscribe``) of installs of an app to ``topic``.

    The app is a ``register_app`` step's; the installs are the ``install`` rows given, or every installed device
    of the members of ``users`` (an ``export_audience`` step). The answer counts ``tokens``, ``done`` and
    ``errors`` by reason.
    """

    app: Id
    topic: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9-_.~%]{1,900}$")]
    install: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=1000)] | None = None
    users: Id | None = None
    unsubscribe: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.install is None) == (self.users is None):
            raise ValueError("give exactly one of install, users")
        return self


class SetAppPermissions(Strict):
    """``PATCH /admin/v1/apps/{appId}/installations/{installationId}``: the operator sets an install's permissions.

    Row ``install`` of a ``register_app`` step's app's install table, now, as if its user changed them on the phone.
    At least one of ``notifications`` (OS), ``marketing_consent``, ``location_permission``, ``line_linked``; the
    answer is the install as it is then.
    """

    app: Id
    install: Annotated[int, Field(ge=0)]
    notifications: bool | None = None
    marketing_consent: bool | None = None
    location_permission: AppLocationPermission | None = None
    line_linked: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if all(getattr(self, k) is None for k in ("notifications", "marketing_consent", "location_permission",
                                                  "line_linked")):
            raise ValueError("give at least one of notifications, marketing_consent, location_permission, "
                             "line_linked")
        return self


# -- CDP triggers (issue 13) -----------------------------------------------------------------------------
RULE_REFERENCES = {"app": "app_id", "audience": "audience_id"}
"""Keys of a ``define_trigger`` rule that name an earlier step (``register_app``, ``define_audience``), and the
wire field each becomes (the made app's or audience's id)."""
RULE_REFERENCE_KINDS = {"app": "register_app", "audience": "define_audience"}
"""The step kind each rule reference must name."""
_RULE = TypeAdapter(WireRule)


def wire_rule(rule: dict[str, Any], resolve: Callable[[str, str], str],
              centre: Callable[[CircleSpec], tuple[float, float]]) -> dict[str, Any]:
    """A scenario rule in the wire's shape.

    References (:data:`RULE_REFERENCES`) become ids by ``resolve(key, step id)``, an ``area`` given as a scenario
    circle (``place`` or ``latitude``/``longitude``, ``radius``) becomes a CAMARA circle around ``centre(circle)``,
    an ISO 8601 duration under a ``*_seconds`` key becomes seconds; every other key passes as given (snake_case or
    camelCase), so rule kinds the wire gains need no scenario change.
    """
    out: dict[str, Any] = {}
    for key, value in rule.items():
        if key in RULE_REFERENCES:
            out[RULE_REFERENCES[key]] = resolve(key, str(value))
        elif key == "area" and isinstance(value, dict) and not {"areaType", "area_type"} & set(value):
            circle = CircleSpec.model_validate(value)
            lat, lon = centre(circle)
            out[key] = {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": circle.radius}
        elif key.endswith(("_seconds", "Seconds")) and isinstance(value, str) and value.startswith("P"):
            try:
                out[key] = round(_bounded(_DURATION.validate_python(value)).total_seconds())
            except (ValidationError, ValueError):
                out[key] = value  # not a duration: the wire model names the field
        else:
            out[key] = value
    return out


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    """Validate a scenario rule by the wire's rule model (references and places are checked by the loader)."""
    area = rule.get("area")
    try:
        if isinstance(area, dict) and not {"areaType", "area_type"} & set(area):
            CircleSpec.model_validate(area)
        probe = wire_rule(rule, lambda key, ref: "step", lambda c: (c.latitude or 0.0, c.longitude or 0.0))
        _RULE.validate_python(probe)
    except ValidationError as exc:  # the same problems, named as the scenario spells them
        raise _renamed(exc, "area" if exc.title == CircleSpec.__name__ else None, rule.get("kind")) from None
    return rule


def _renamed(exc: ValidationError, prefix: str | None, kind: Any) -> ValidationError:
    """``exc`` as the scenario spells it.

    Locations go under ``prefix``, without the rule's union tag, with missing fields in snake_case (references
    by their scenario key: ``app`` for ``app_id``).
    """
    back = {v: k for k, v in RULE_REFERENCES.items()}
    errors: list[InitErrorDetails] = []
    for e in exc.errors(include_url=False):
        loc = [p for i, p in enumerate(e["loc"]) if not (i == 0 and p == kind)]
        if e["type"] == "missing":
            loc = [back.get(to_snake(p), to_snake(p)) if isinstance(p, str) else p for p in loc]
        if prefix is not None:
            loc.insert(0, prefix)
        errors.append(InitErrorDetails(type=PydanticCustomError(e["type"], e["msg"]), loc=tuple(loc),
                                       input=e["input"]))
    return ValidationError.from_exception_data("rule", errors)


TriggerText = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Delay = Annotated[timedelta, Field(ge=timedelta(0), le=timedelta(seconds=MAX_WINDOW_S))]
"""A step's delay: an ISO 8601 duration (``P1D``) or seconds, from zero up to the wire's 30 days."""


class TriggerPush(Strict):
    """A templated push (``{{trait}}`` filled from the profile) to the user's installs of ``app``."""

    app: Id
    """The id of a ``register_app`` step."""
    title: TriggerText
    body: TriggerText
    kind: PushKind = "MARKETING"
    """``MARKETING`` obeys quiet hours, the daily cap and marketing consent; ``TRANSACTIONAL`` and
    ``INFORMATIONAL`` none of them."""


class TriggerStep(Strict):
    """One step of a trigger's chain: ``delay`` after the previous one, then a ``webhook`` or a ``push``."""

    delay: Delay = timedelta(0)
    webhook: Id | None = None
    """A sink name of the acting partner: the CloudEvents go to the scenario's receiver."""
    push: TriggerPush | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        if (self.webhook is None) == (self.push is None):
            raise ValueError("give exactly one of webhook (a sink name), push")
        return self


class TriggerQuietHours(Strict):
    """No action from ``start_hour`` to ``end_hour`` in the user's local time (the span may wrap midnight)."""

    start_hour: Annotated[int, Field(ge=0, le=23)]
    end_hour: Annotated[int, Field(ge=0, le=23)]


class DefineTrigger(Strict):
    """``POST /cdp/v1/triggers``: a rule, a chain of steps, an optional daily cap per user and quiet hours.

    ``rule`` is the API's rule (README, *Triggers*), validated by its wire model, with ``app``/``audience`` naming
    a ``register_app``/``define_audience`` step instead of ``app_id``/``audience_id``, ``area`` as a scenario
    circle (``place`` or ``latitude``/``longitude``, ``radius``) and durations (``PT2H``) for ``*_seconds``.
    """

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    rule: Annotated[dict[str, Any], AfterValidator(_rule)]
    steps: Annotated[list[TriggerStep], Field(min_length=1, max_length=10)]
    daily_cap: Annotated[int, Field(ge=1, le=100)] | None = None
    quiet_hours: TriggerQuietHours | None = None


class DeleteTrigger(Strict):
    """``DELETE /cdp/v1/triggers/{id}`` of the trigger a ``define_trigger`` step made: pending steps stop."""

    trigger: Id
    """The id of the ``define_trigger`` step."""


class Step(Strict):
    """One thing the scenario does at a simulated time. Exactly one action key."""

    id: Id | None = None
    at: When | None = None
    partner: Name | None = None
    """Which partner acts (default: the first one)."""
    expect_error: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_.]*$")] | None = None
    """The step must fail with this error code (``NOT_FOUND``, ``CONFLICT``…) to pass."""
    advance: Advance | None = None
    set_consent: SetConsent | None = None
    add_test_subscriber: AddTestSubscriber | None = None
    pin_subscriber: PinSubscriber | None = None
    expect: Annotated[list[Check], Field(min_length=1)] | None = None
    estimate: EstimateSpec | None = None
    create_campaign: CreateCampaignSpec | None = None
    cancel_campaign: CancelCampaignSpec | None = None
    subscribe_geofence: SubscribeGeofence | None = None
    verify_location: VerifyLocation | None = None
    count_devices: CountDevices | None = None
    density: DensitySpec | None = None
    add_gathering: Gathering | None = None
    faults: FaultsSpec | None = None
    request: RequestSpec | None = None
    register_app: RegisterApp | None = None
    create_source: CreateSource | None = None
    track: TrackSpec | None = None
    define_audience: DefineAudience | None = None
    export_audience: ExportAudience | None = None
    send_push: SendPush | None = None
    subscribe_topic: SubscribeTopic | None = None
    set_app_permissions: SetAppPermissions | None = None
    define_trigger: DefineTrigger | None = None
    delete_trigger: DeleteTrigger | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        given = [a for a in STEP_ACTIONS if a in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"a step needs exactly one action, one of: {', '.join(STEP_ACTIONS)}"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    @property
    def action(self) -> str:
        """The action key of this step."""
        return next(a for a in STEP_ACTIONS if a in self.model_fields_set)

    @property
    def body(self) -> Any:
        """The action's parameters."""
        return getattr(self, self.action)


STEP_ACTIONS: tuple[str, ...] = ("advance", "set_consent", "add_test_subscriber", "pin_subscriber", "add_gathering",
                                 "expect", "estimate", "create_campaign", "cancel_campaign", "subscribe_geofence",
                                 "verify_location", "count_devices", "density", "faults", "request", "register_app",
                                 "create_source", "track", "define_audience", "export_audience", "send_push",
                                 "subscribe_topic", "set_app_permissions", "define_trigger", "delete_trigger")
"""Step kinds (the action keys of a step); each has one registered action in :mod:`scenarios.actions`."""
ADMIN_ACTIONS = frozenset({"advance", "set_consent", "add_test_subscriber", "pin_subscriber", "add_gathering",
                           "expect", "faults", "set_app_permissions"})
"""Step actions done through the admin API (the others act as a partner)."""
NAMED_ACTIONS = frozenset({"create_campaign", "register_app", "create_source", "define_audience", "export_audience",
                           "define_trigger"})
"""Step actions later steps refer to by the step's id: such a step needs an ``id``."""


# -- sweep -----------------------------------------------------------------------------------------------
SWEEPABLE = ("seed", "world.subscribers", "world.consent.advertising_push", "world.consent.advertising_sms",
             "world.consent.location_sharing", "world.consent.analytics", "world.roaming_share",
             "operator.quiet_start_hour", "operator.quiet_end_hour", "operator.daily_cap", "operator.min_audience")
"""Parameters a sweep may vary (dotted paths into the scenario)."""


class Metric(Strict):
    """A number read from each run.

    A dotted ``path`` into the answer of step ``step`` (``of: step``), into the list of received webhook bodies
    (``of: webhooks``), into the world's final summary (``of: world``), or into the final partner report or
    operator-side truth of ``campaign`` (``of: report`` / ``of: truth``, as in checks).
    """

    name: Id
    of: Literal["step", "webhooks", "world", "report", "truth"] = "step"
    step: Id | None = None
    campaign: Id | None = None
    path: Annotated[str, StringConstraints(max_length=200)] = "count"

    @model_validator(mode="after")
    def _needs_step(self) -> Self:
        if self.of == "step" and self.step is None:
            raise ValueError("a metric of a step needs step (its id)")
        if self.of in ("report", "truth") and self.campaign is None:
            raise ValueError(f"a metric of {self.of} needs campaign (the id of a create_campaign step)")
        return self


class Sweep(Strict):
    """Every combination of ``parameters`` (× ``seeds``) is one run; ``metrics`` are tabulated and plotted."""

    parameters: dict[str, Annotated[list[float | int], Field(min_length=1, max_length=50)]]
    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=100)] = Field(
        default_factory=lambda: [0])
    metrics: Annotated[list[Metric], Field(min_length=1)]
    x: Name | None = None
    """The parameter on the plot's x axis (default: the first)."""
    workers: Annotated[int, Field(ge=1, le=64)] = 2

    @field_validator("parameters")
    @classmethod
    def _sweepable(cls, value: dict[str, list[float | int]]) -> dict[str, list[float | int]]:
        for key in value:
            if key not in SWEEPABLE:
                raise ValueError(f"cannot sweep {key!r}; sweepable: {', '.join(SWEEPABLE)}")
        if not value:
            raise ValueError("give at least one parameter")
        return value


# -- scenario --------------------------------------------------------------------------------------------
class Scenario(Strict):
    """A whole scenario file."""

    name: Id
    description: Annotated[str, StringConstraints(max_length=4000)] = ""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    start: Instant
    tick: Annotated[Duration, Field(ge=timedelta(seconds=1), le=timedelta(hours=1))] = timedelta(minutes=1)
    world: WorldSpec = Field(default_factory=WorldSpec)
    operator: OperatorSpec = Field(default_factory=OperatorSpec)
    events: list[Event] = Field(default_factory=list)
    partners: list[PartnerSpec] = Field(default_factory=list)
    steps: Annotated[list[Step], Field(min_length=1)]
    sweep: Sweep | None = None

    @model_validator(mode="after")
    def _references(self) -> Self:
        names = [p.name for p in self.partners]
        if len(set(names)) != len(names):
            raise ValueError("partner names must be unique")
        ids = [s.id for s in self.steps if s.id is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique")
        return self

    def instant(self, when: datetime | timedelta) -> datetime:
        """A step time as an instant."""
        return self.start + when if isinstance(when, timedelta) else when
