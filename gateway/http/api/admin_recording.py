"""Admin API of session recording: start (``POST``), stop (``DELETE``) and read (``GET``) ``/admin/v1/recording``.

The recording itself is :class:`gateway.http.recording.Recording`; ``opsim record-to-scenario`` turns its file into
a scenario.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from gateway.core.errors import InvalidArgument
from gateway.http.keys import SETTINGS
from gateway.http.recording import RECORDING, operator_rules
from gateway.http.routing import Access, RouteTable, json_response, read_json
from gateway.wire.admin_recording import RecordingStart, RecordingState

routes = RouteTable("admin: recording")


def _state(request: web.Request) -> web.Response:
    recording = request.app[RECORDING]
    return json_response(RecordingState(active=recording.active,
                                        file=str(recording.path) if recording.path is not None else None,
                                        lines=recording.lines))


@routes.get("/admin/v1/recording", summary="Read the recording state", access=Access.ADMIN,
            response=RecordingState)
async def get_recording(request: web.Request) -> web.Response:
    """Whether a session recording runs, its file and lines written."""
    return _state(request)


@routes.post("/admin/v1/recording", summary="Start recording the session", access=Access.ADMIN,
             request=RecordingStart, response=RecordingState, errors=(400,))
async def start_recording(request: web.Request) -> web.Response:
    """Record every partner request and answer and every admin move to ``file`` (JSON Lines, secrets redacted;
    a plain file name, written in the database's directory); a running recording is stopped first. 400 when the
    file cannot be opened."""
    body = await read_json(request, RecordingStart)
    db = request.app[SETTINGS].db_path  # beside the database, never wherever the server happened to be started
    path = (Path(db).parent if str(db) != ":memory:" else Path.cwd()) / body.file
    try:
        request.app[RECORDING].start(path, operator_rules(request.app))
    except OSError as exc:
        raise InvalidArgument(f"file: cannot open {body.file!r}: {exc.strerror or exc}") from None
    return _state(request)


@routes.delete("/admin/v1/recording", summary="Stop recording", access=Access.ADMIN, response=RecordingState)
async def stop_recording(request: web.Request) -> web.Response:
    """Close the recording file (idempotent)."""
    request.app[RECORDING].stop()
    return _state(request)
