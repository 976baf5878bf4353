"""Device status: is the phone reachable (and how), is it roaming — the service behind two CAMARA APIs.

Reachability is the world's (phone on and in coverage now); a reachable smartphone has data and SMS, a feature
phone SMS only. Roaming means an inbound roamer (a visitor whose home operator is abroad): the country is the
city's. An inbound roamer who is abroad is not attached to this network, so the operator cannot tell where it is
or whether it roams: that is ``422 SERVICE_NOT_APPLICABLE`` (the roaming API's documented code for a device the
service does not apply to), as location answers ``UNABLE_TO_LOCATE`` and reachability ``reachable: false`` for it.
``lastStatusTime`` is the last network contact. This module knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from gateway.core.errors import Unprocessable
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
        """An inbound roamer is roaming in the city's country; one abroad (not attached) is ``422
        SERVICE_NOT_APPLICABLE``: a foreign SIM is seen only while it is on this network."""
        world = self.world
        idx = np.asarray([subject.index])
        roaming, _ = world.device_kinds(idx)
        last = world.last_seen(subject.index)
        if not bool(roaming[0]):
            return Roaming(False, None, (), last)
        if int(world.serving_cells(idx)[0]) < 0:
            raise Unprocessable("The device is not on this network: a foreign SIM's roaming status is known only "
                                "while it is attached here.", code="SERVICE_NOT_APPLICABLE")
        country = COUNTRIES[world.city.country.code]
        return Roaming(True, int(country.mcc), (country.code,), last)
