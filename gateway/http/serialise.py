"""Serialisation of world-changing requests: the middleware that runs them one at a time.

The world is synchronous and every change to it (or to what is scheduled on its clock) must happen between two
ticks, never in the middle of an advance that yields between ticks. Routes say so in their declaration
(``changes_world=True`` in :class:`gateway.http.routing.RouteTable`); this middleware holds the control plane's
lock (:attr:`gateway.services.control.ControlPlane.lock`, also taken by the paced clock per wake-up) around
exactly those handlers, so no handler takes it by hand. Reads are never held up.

Records such a handler queued for a group commit (:meth:`gateway.core.store.Store.queue_row`, e.g. a push) are
committed before its answer leaves, after the lock is let go: the requests in flight together share one commit,
and an acknowledged record survives a crash. Under load (``Settings.group_commit_siblings`` such requests in
flight) the commit lingers ``Settings.group_commit_linger_ms`` for more to join, as a database's commit delay
does: fewer, larger commits for at most that much more latency; a lone request never waits.
"""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import CONTROL, GROUP_COMMIT, ROUTES, STORE
from gateway.http.middleware import Handler
from gateway.http.routing import prefetch_json


@web.middleware
async def serialise_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run a world-changing route's handler under the control plane's lock; any other route as it comes."""
    app = request.app
    declared = app[ROUTES].lookup(request)
    if declared is None or not declared.changes_world:
        return await handler(request)
    # The body is read before queueing for the lock: a slow client must not hold the world while it uploads.
    await prefetch_json(request)
    commits = app[GROUP_COMMIT]
    commits.in_flight += 1
    try:
        async with app[CONTROL].lock:
            response = await handler(request)
        await app[STORE].queued_committed(commits.linger())
    finally:
        commits.in_flight -= 1
    return response
