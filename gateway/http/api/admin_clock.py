"""Admin API for the clock: read it, advance it (manual mode), switch mode, pause and resume."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import CONTROL
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.services.control import advance_span
from gateway.wire.admin_clock import ClockAdvance, ClockModeChange, ClockState

routes = RouteTable("admin: clock")








def _state(request: web.Request) -> web.Response:
    return json_response(ClockState.model_validate(request.app[CONTROL].clock_state()))


@routes.get("/admin/v1/clock", summary="Read the clock", access=Access.ADMIN, response=ClockState)
async def get_clock(request: web.Request) -> web.Response:
    """Now, mode, pace factor, pause state."""
    return _state(request)


@routes.post("/admin/v1/clock/advance", summary="Advance the clock", access=Access.ADMIN, request=ClockAdvance,
             response=ClockState, errors=(400, 409), changes_world=True)
async def advance(request: web.Request) -> web.Response:
    """Run the world step by step to the new instant and answer when done. Manual mode only (else 409);
    an instant in the past is 409."""
    body = await read_json(request, ClockAdvance)
    control = request.app[CONTROL]
    if body.to is not None:
        await control.advance_to(body.to)
    else:
        delta = body.duration if body.duration is not None else advance_span(body.seconds or 0)
        await control.advance_by(delta)
    return _state(request)


@routes.post("/admin/v1/clock/mode", summary="Switch clock mode", access=Access.ADMIN, request=ClockModeChange,
             response=ClockState, changes_world=True)
async def set_mode(request: web.Request) -> web.Response:
    """Manual (moves only when advanced) or paced (``factor`` × wall time)."""
    body = await read_json(request, ClockModeChange)
    await request.app[CONTROL].set_mode(body.mode, body.factor)
    return _state(request)


@routes.post("/admin/v1/clock/pause", summary="Pause paced time", access=Access.ADMIN, response=ClockState,
             changes_world=True)
async def pause(request: web.Request) -> web.Response:
    """Paced time stops until resumed."""
    await request.app[CONTROL].pause()
    return _state(request)


@routes.post("/admin/v1/clock/resume", summary="Resume paced time", access=Access.ADMIN, response=ClockState,
             changes_world=True)
async def resume(request: web.Request) -> web.Response:
    """Paced time continues from the current instant."""
    await request.app[CONTROL].resume()
    return _state(request)
