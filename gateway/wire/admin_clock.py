"""Wire models of the admin clock API (``/admin/v1/clock``): the clock's state, an advance (to an instant, by
a duration or by seconds) and a switch between manual and paced mode.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from gateway.wire.base import Instant, WireModel


class ClockState(WireModel):
    """Where simulated time stands and how it moves."""

    now: Instant
    mode: Literal["manual", "paced"]
    factor: float
    paused: bool
    tick_seconds: int


class ClockAdvance(WireModel):
    """Exactly one of: ``duration`` (ISO 8601, e.g. ``PT1H``), ``seconds``, or ``to`` (an instant); at most
    366 days ahead (400 ``OUT_OF_RANGE`` beyond)."""

    duration: timedelta | None = None
    seconds: float | None = Field(default=None, gt=0)
    to: Instant | None = None

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("duration must be positive")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in ("duration", "seconds", "to") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of duration, seconds, to")
        return self


class ClockModeChange(WireModel):
    """Switch to manual or paced time; ``factor`` is simulated seconds per wall second."""

    mode: Literal["manual", "paced"]
    factor: float | None = Field(default=None, gt=0, le=1_000_000)
