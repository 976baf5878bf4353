"""CAMARA SIM Swap ``/sim-swap/v2``: ``POST /check`` (``maxAge`` hours) and ``POST /retrieve-date``.

The answers come from the world's line lifecycle (:mod:`simulator.lifecycle`): the latest SIM change of a line
is its latest swap or, never swapped, its activation (CAMARA counts a new subscription as a SIM swap). The
subject follows the two-/three-legged rule of :func:`gateway.services.camara.subject.resolve` (``phoneNumber`` stands
for
the ``device``). An operator ``monitored_days`` (``SimSwapSettings``) hides older changes: ``retrieve-date``
answers ``latestSimChange: null`` with ``monitoredPeriod``, and a ``maxAge`` reaching past it is
``400 OUT_OF_RANGE``. Scopes: ``sim-swap:check`` and ``sim-swap:retrieve-date``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from gateway.core.errors import InvalidArgument, OutOfRange
from gateway.core.principal import AuthContext
from gateway.core.settings import SimSwapSettings
from gateway.http.auth import auth_of
from gateway.http.keys import SETTINGS, WORLD
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.camara.subject import Subject, resolve
from gateway.wire.camara.sim_swap import CheckSimSwapInfo, CreateCheckSimSwap, CreateSimSwapDate, SimSwapInfo
from gateway.wire.camara.subject import Device
from simulator.world import World

SCOPE_CHECK = "sim-swap:check"
SCOPE_RETRIEVE = "sim-swap:retrieve-date"
MAX_AGE_LIMIT = 2400

routes = RouteTable("sim-swap")










def phone_subject(world: World, auth: AuthContext, phone_number: str | None) -> Subject:
    """The subscriber of an API whose only identifier is ``phoneNumber`` (sim-swap, number-verification)."""
    return resolve(world, auth, None if phone_number is None else Device(phone_number=phone_number))


class SimSwapService:
    """Answers of the SIM swap API at the simulated instant."""

    def __init__(self, world: World, rules: SimSwapSettings) -> None:
        self.world = world
        self.rules = rules

    def check(self, auth: AuthContext, phone_number: str | None, max_age_hours: int) -> bool:
        """Whether the line's SIM changed within the last ``max_age_hours`` (the range is checked first)."""
        if max_age_hours < 1:
            raise InvalidArgument("maxAge must be at least 1 hour.")
        if max_age_hours > MAX_AGE_LIMIT:
            raise OutOfRange(f"maxAge must be at most {MAX_AGE_LIMIT} hours.")
        days = self.rules.monitored_days
        if days is not None and max_age_hours > days * 24:
            raise OutOfRange(f"Check monitor period could not exceed local regulations ({days} days).")
        subject = phone_subject(self.world, auth, phone_number)
        return self.world.last_sim_change(subject.index) > self.world.clock.now - timedelta(hours=max_age_hours)

    def retrieve(self, auth: AuthContext, phone_number: str | None) -> tuple[datetime | None, int | None]:
        """Latest SIM change and, when it is hidden by the monitored period, that period in days."""
        subject = phone_subject(self.world, auth, phone_number)
        latest = self.world.last_sim_change(subject.index)
        days = self.rules.monitored_days
        if days is not None and latest < self.world.clock.now - timedelta(days=days):
            return None, days
        return latest, None


def _service(request: web.Request) -> SimSwapService:
    return SimSwapService(request.app[WORLD], request.app[SETTINGS].sim_swap)


@routes.post("/sim-swap/v2/check", summary="Check SIM swap", access=Access.PARTNER, scopes=(SCOPE_CHECK,),
             request=CreateCheckSimSwap, response=CheckSimSwapInfo, errors=(400, 401, 403, 404, 422, 429))
async def check(request: web.Request) -> web.Response:
    """Whether the SIM of the line changed (swap or new subscription) within ``maxAge`` hours."""
    body = await read_json(request, CreateCheckSimSwap)
    swapped = _service(request).check(auth_of(request), body.phone_number, body.max_age)
    return json_response(CheckSimSwapInfo(swapped=swapped))


@routes.post("/sim-swap/v2/retrieve-date", summary="Retrieve SIM swap date", access=Access.PARTNER,
             scopes=(SCOPE_RETRIEVE,), request=CreateSimSwapDate, response=SimSwapInfo,
             errors=(400, 401, 403, 404, 422, 429))
async def retrieve_date(request: web.Request) -> web.Response:
    """Latest SIM change of the line: its latest swap, or its activation when never swapped."""
    body = await read_json(request, CreateSimSwapDate)
    latest, period = _service(request).retrieve(auth_of(request), body.phone_number)
    # latestSimChange is required even when null, so only monitoredPeriod may be left out.
    info = SimSwapInfo(latest_sim_change=latest, monitored_period=period)
    return web.Response(text=info.model_dump_json(by_alias=True, exclude={"monitored_period"} if period is None
                                                  else None), content_type="application/json")
