"""Device status: is the phone reachable (and how), is it roaming — the service behind two CAMARA APIs.

Reachability is the world's (phone on and in coverage now); a reachable smartphone has data and SMS, a feature
phone SMS only. Roaming means an inbound roamer (a visitor whose home operator is abroad): the country is the
city's. ``lastStatusTime`` is the last network contact. This module knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from gateway.services.camara.subject import Subject
from simulator.city import COUNTRIES
from simulator.world import World


@dataclass(frozen=True)
class Reachability:
    """Whether the device is reachable now, over what, and since when the network knows."""

    reachable: bool
    connectivity: tuple[str, ...]
    last_status_time: datetime


@dataclass(frozen=True)
class Roaming:
    """Whether the device is roaming and where (MCC and ISO country code)."""

    roaming: bool
    country_code: int | None
    country_name: tuple[str, ...]
    last_status_time: datetime


class DeviceStatusService:
    """Reachability and roaming of one device at the simulated instant."""

    def __init__(self, world: World) -> None:
        self.world = world

    def reachability(self, subject: Subject) -> Reachability:
        """Reachable now? With DATA and SMS for smartphones, SMS only for feature phones."""
        world = self.world
        reachable = bool(world.is_reachable(subject.index)[0])
        _, smartphone = world.device_kinds(np.asarray([subject.index]))
        connectivity = (("DATA", "SMS") if bool(smartphone[0]) else ("SMS",)) if reachable else ()
        return Reachability(reachable, connectivity, world.last_seen(subject.index))

    def roaming(self, subject: Subject) -> Roaming:
        """An inbound roamer is roaming in the city's country."""
        world = self.world
        roaming, _ = world.device_kinds(np.asarray([subject.index]))
        last = world.last_seen(subject.index)
        if not bool(roaming[0]):
            return Roaming(False, None, (), last)
        country = COUNTRIES[world.city.country.code]
        return Roaming(True, int(country.mcc), (country.code,), last)
