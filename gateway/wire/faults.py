"""Wire models of :mod:`gateway.http.api.admin_faults`: fault profiles (HTTP and webhook faults) and network faults.

A profile is what ``POST /admin/v1/faults``, the ``faults`` section of ``opsim serve --config`` and a scenario's
``faults`` step take. Inputs are strict (unknown fields refused); probabilities are in [0, 1]; times are bounded.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from gateway.wire.base import Instant, WireModel
from gateway.wire.geo import Point

Probability = Annotated[float, Field(ge=0, le=1)]
Millis = Annotated[float, Field(ge=0, le=60_000)]
"""Milliseconds of added latency (at most a minute)."""
Glob = Annotated[str, StringConstraints(min_length=1, max_length=300)]
ProfileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
ErrorStatus = Literal[429, 500, 502, 503, 504]

LATENCY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "fixed": ("ms",),
    "uniform": ("min_ms", "max_ms"),
    "normal": ("mean_ms", "stddev_ms"),
    "exponential": ("mean_ms",),
}
"""The parameters each latency distribution needs (and the only ones it takes)."""
_CAMEL = {"ms": "ms", "min_ms": "minMs", "max_ms": "maxMs", "mean_ms": "meanMs", "stddev_ms": "stddevMs",
          "phone_number": "phoneNumber", "area": "area", "delay_s": "delayS"}


class Latency(WireModel):
    """Added latency in wall milliseconds: fixed, or drawn from a distribution (clamped to [0, 60 000] ms)."""

    distribution: Literal["fixed", "uniform", "normal", "exponential"] = "fixed"
    ms: Millis | None = None
    """``fixed``: the delay."""
    min_ms: Millis | None = None
    """``uniform``: lower bound."""
    max_ms: Millis | None = None
    """``uniform``: upper bound."""
    mean_ms: Millis | None = None
    """``normal`` and ``exponential``: the mean."""
    stddev_ms: Millis | None = None
    """``normal``: the standard deviation."""
    probability: Probability = 1.0
    """Share of matching requests delayed."""

    @model_validator(mode="after")
    def _parameters(self) -> Self:
        wanted = LATENCY_PARAMETERS[self.distribution]
        given = {name for name in ("ms", "min_ms", "max_ms", "mean_ms", "stddev_ms") if getattr(self, name) is not None}
        if given != set(wanted):
            raise ValueError(f"{self.distribution} latency takes exactly {', '.join(_CAMEL[w] for w in wanted)}")
        if self.distribution == "uniform" and (self.min_ms or 0) > (self.max_ms or 0):
            raise ValueError("minMs must not exceed maxMs")
        return self


class ErrorFault(WireModel):
    """An error answer in the route's error shape instead of the real one."""

    status: ErrorStatus
    probability: Probability
    retry_after_s: Annotated[int, Field(ge=0, le=3600)] | None = None
    """``Retry-After`` of a 429 (default 1 s); only 429 takes it."""

    @model_validator(mode="after")
    def _retry_after(self) -> Self:
        if self.retry_after_s is not None and self.status != 429:
            raise ValueError("retryAfterS is for status 429 only")
        return self


class HttpFaults(WireModel):
    """Faults of partner requests whose path matches one of ``routes`` (globs, ``*`` spans ``/``)."""

    routes: Annotated[list[Glob], Field(min_length=1, max_length=50)] = Field(default_factory=lambda: ["*"])
    latency: Latency | None = None
    errors: Annotated[list[ErrorFault], Field(max_length=10)] = Field(default_factory=list)
    drop_probability: Probability = 0.0
    """Share of matching requests whose connection is closed without an answer (a timeout or reset)."""

    @model_validator(mode="after")
    def _shares(self) -> Self:
        if self.drop_probability + sum(e.probability for e in self.errors) > 1.0 + 1e-9:
            raise ValueError("dropProbability and the errors' probabilities must add up to at most 1")
        return self


class WebhookFaults(WireModel):
    """Faults of webhook deliveries to sinks matching one of ``sinks`` (URL globs). Events are never lost."""

    sinks: Annotated[list[Glob], Field(min_length=1, max_length=50)] = Field(default_factory=lambda: ["*"])
    delay_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    """Wall seconds an affected event is held before its first attempt."""
    delay_probability: Probability = 0.0
    duplicate_probability: Probability = 0.0
    """The event is POSTed twice (same id and body)."""
    reorder_probability: Probability = 0.0
    """The subscription's next pending event is sent before this one."""
    drop_then_retry_probability: Probability = 0.0
    """The first attempt is dropped (never sent, recorded as failed); the outbox's retry delivers it later."""

    @model_validator(mode="after")
    def _delay(self) -> Self:
        if self.delay_probability > 0 and self.delay_s <= 0:
            raise ValueError("delayProbability needs a positive delayS")
        return self


class FaultProfileCreate(WireModel):
    """A named, seeded fault profile for one partner (or every partner), HTTP side and/or webhook side."""

    name: ProfileName
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    partner: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    """Wire id of the partner (``ptn_…``) the profile applies to; absent: every partner."""
    http: HttpFaults | None = None
    webhooks: WebhookFaults | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.http is None and self.webhooks is None:
            raise ValueError("give http faults, webhook faults or both")
        return self


class FaultProfile(FaultProfileCreate):
    """A profile as stored, with how many decisions it drew and how many faults it injected."""

    decisions: int = 0
    injected: int = 0


class FaultProfileList(WireModel):
    """Every active profile, in the order they are evaluated (creation order)."""

    profiles: list[FaultProfile]


NetworkFaultKind = Literal["DEVICE_UNREACHABLE", "CELL_OUTAGE", "SMS_DELAY"]


class OutageArea(WireModel):
    """A circle (metres) whose serving cells go down."""

    center: Point
    radius: Annotated[float, Field(ge=1, le=50_000)]


class NetworkFaultCreate(WireModel):
    """A fault of the simulated network from now for ``duration_s`` simulated seconds.

    ``DEVICE_UNREACHABLE`` takes ``phone_number``; ``CELL_OUTAGE`` takes ``area`` (every cell serving some point of
    it is down: devices there are unreachable and cannot be located); ``SMS_DELAY`` takes ``delay_s`` (every SMS
    sent while it lasts arrives that much later).
    """

    kind: NetworkFaultKind
    duration_s: Annotated[int, Field(ge=1, le=366 * 86_400)]
    phone_number: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{4,14}$")] | None = None
    area: OutageArea | None = None
    delay_s: Annotated[int, Field(ge=1, le=7 * 86_400)] | None = None

    @model_validator(mode="after")
    def _target(self) -> Self:
        wanted = {"DEVICE_UNREACHABLE": "phone_number", "CELL_OUTAGE": "area", "SMS_DELAY": "delay_s"}[self.kind]
        given = {name for name in ("phone_number", "area", "delay_s") if getattr(self, name) is not None}
        if given != {wanted}:
            raise ValueError(f"{self.kind} takes {_CAMEL[wanted]} (and durationS) only")
        return self


class NetworkFault(WireModel):
    """A network fault as applied: its id, what it affects and until when (simulated time)."""

    id: str
    kind: NetworkFaultKind
    start: Instant
    end: Instant
    phone_number: str | None = None
    area: OutageArea | None = None
    cells: list[str] | None = None
    """Cell ids down (``CELL_OUTAGE``)."""
    delay_s: int | None = None


class NetworkFaultList(WireModel):
    """Network faults not yet over."""

    faults: list[NetworkFault]
