"""Admin API for a subscriber's line: SIM activation and swaps (read, and swap the SIM now).

MSISDNs in paths are E.164, with the ``+`` URL-encoded (``%2B``) or left out.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import CONTROL, WORLD
from gateway.http.routing import Access, RouteTable, json_response
from gateway.wire.admin_lines import LineInfo

routes = RouteTable("admin: lines")




def _line(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    world = request.app[WORLD]
    i = control.find(request.match_info["msisdn"])
    return json_response(LineInfo(msisdn=world.msisdn_of(i), activated_at=world.sim_activated(i),
                                  latest_sim_change=world.last_sim_change(i), swaps_since_start=world.sim_swaps(i)))


@routes.get("/admin/v1/subscribers/{msisdn}/line", summary="SIM activation and swaps", access=Access.ADMIN,
            response=LineInfo, errors=(404,))
async def get_line(request: web.Request) -> web.Response:
    """Activation instant, latest SIM change and swaps since the simulation started."""
    return _line(request)


@routes.post("/admin/v1/subscribers/{msisdn}/sim-swap", summary="Swap the SIM now", access=Access.ADMIN,
             response=LineInfo, errors=(404,), changes_world=True)
async def sim_swap(request: web.Request) -> web.Response:
    """Give the line a new SIM at the current simulated instant (journaled; SIM swap events follow)."""
    await request.app[CONTROL].sim_swap(request.match_info["msisdn"])
    return _line(request)
