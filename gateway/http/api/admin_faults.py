"""Admin API for fault injection: seeded fault profiles (HTTP and webhook faults) and network faults of the world.

Profiles and network faults live in memory (:class:`gateway.services.faults.FaultService`): a restart forgets
them, except the profiles of the ``--config`` file. Bad input is ``400`` in the CAMARA shape and stores nothing.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import FAULTS
from gateway.http.routing import Access, RouteTable, json_response, no_content, read_json
from gateway.wire.faults import (
    FaultProfile,
    FaultProfileCreate,
    FaultProfileList,
    NetworkFault,
    NetworkFaultCreate,
    NetworkFaultList,
)

routes = RouteTable("admin: faults")


@routes.post("/admin/v1/faults", summary="Add a fault profile", access=Access.ADMIN, request=FaultProfileCreate,
             response=FaultProfile, status=201, errors=(400, 409))
async def add_profile(request: web.Request) -> web.Response:
    """Activate a seeded fault profile (409 when one of that name is active)."""
    body = await read_json(request, FaultProfileCreate)
    return json_response(request.app[FAULTS].add(body), status=201)


@routes.get("/admin/v1/faults", summary="List fault profiles", access=Access.ADMIN, response=FaultProfileList)
async def list_profiles(request: web.Request) -> web.Response:
    """Active profiles in evaluation order, with their decision and injection counts."""
    return json_response(FaultProfileList(profiles=request.app[FAULTS].profiles()))


@routes.delete("/admin/v1/faults", summary="Remove every fault profile", access=Access.ADMIN, status=204)
async def clear_profiles(request: web.Request) -> web.Response:
    """Deactivate every profile (network faults run their course)."""
    request.app[FAULTS].clear()
    return no_content()


@routes.post("/admin/v1/faults/network", summary="Inject a network fault", access=Access.ADMIN,
             request=NetworkFaultCreate, response=NetworkFault, status=201, errors=(400, 404))
async def add_network_fault(request: web.Request) -> web.Response:
    """A device unreachable, a cell outage over an area or SMS delays, from now for ``durationS`` sim seconds."""
    body = await read_json(request, NetworkFaultCreate)
    return json_response(request.app[FAULTS].add_network(body), status=201)


@routes.get("/admin/v1/faults/network", summary="List network faults", access=Access.ADMIN,
            response=NetworkFaultList)
async def list_network_faults(request: web.Request) -> web.Response:
    """Network faults not over yet (simulated time)."""
    return json_response(NetworkFaultList(faults=request.app[FAULTS].network()))


@routes.get("/admin/v1/faults/{name}", summary="Read a fault profile", access=Access.ADMIN, response=FaultProfile,
            errors=(404,))
async def get_profile(request: web.Request) -> web.Response:
    """One active profile."""
    return json_response(request.app[FAULTS].get(request.match_info["name"]))


@routes.delete("/admin/v1/faults/{name}", summary="Remove a fault profile", access=Access.ADMIN, status=204,
               errors=(404,))
async def remove_profile(request: web.Request) -> web.Response:
    """Deactivate one profile."""
    request.app[FAULTS].remove(request.match_info["name"])
    return no_content()
