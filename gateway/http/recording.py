"""Recording a live session: every partner request and answer, and every admin move, as JSON Lines.

Owns :class:`Recording` (off until started by ``opsim serve --record FILE`` or ``POST /admin/v1/recording``) and
:func:`recording_middleware`, which appends one line per request while a recording runs. The file is the input of
``opsim record-to-scenario`` (:mod:`scenarios.recorded`), which turns it into a scenario replaying the session.

Lines (``kind``): ``session`` (first line: the world's config and operator rules, so the replay builds the same
world), ``request`` (``caller`` partner, admin or public; simulated instant ``at`` when it arrived and ``now``
when answered, method, path, query, JSON or form body, partner id and scopes, status and JSON answer). Secrets are
never written: no headers at all, and every field named like a credential (client secrets, tokens, API keys,
passwords, signatures) is ``<redacted>`` in bodies, forms, queries and answers. Each line is written whole and
flushed, so a crash leaves a valid file (at most a torn last line, which the converter tolerates).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

from aiohttp import web

from gateway.http.keys import AUTH, ROUTES, SETTINGS
from gateway.http.middleware import Handler
from gateway.http.routing import Access
from simulator.world import World

FORMAT_VERSION = 1
REDACTED = "<redacted>"
_SECRET = re.compile(r"(secret|password|token|api[_-]?key|^key$|signature|authorization|assertion)", re.IGNORECASE)
"""Field names whose values are credentials: written as :data:`REDACTED`."""
MAX_BODY_BYTES = 1_000_000
"""Larger request or answer bodies are not copied into the recording (``bodyOmitted``)."""


def stamp(instant: datetime) -> str:
    """RFC 3339 UTC with ``Z``."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def redact(value: Any) -> Any:
    """``value`` with every credential-named field replaced by :data:`REDACTED` (recursively)."""
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET.search(str(k)) and v is not None else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class Recording:
    """The session recording of one app: a JSON Lines file while started, nothing while stopped."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.path: Path | None = None
        self.lines = 0
        self._file: IO[str] | None = None

    @property
    def active(self) -> bool:
        """Whether requests are being recorded."""
        return self._file is not None

    def start(self, path: Path, operator: dict[str, Any] | None = None) -> None:
        """Start writing to ``path`` (truncated), beginning with the ``session`` line; a running one stops first.

        Raises :class:`OSError` when the file cannot be opened.
        """
        file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - open for the recording's lifetime
        self.stop()
        self._file, self.path, self.lines = file, path, 0
        config = self.world.config
        world: dict[str, Any] = {
            "city": config.city, "subscribers": config.subscribers, "seed": config.seed, "start": stamp(config.start),
            "tickSeconds": config.tick_seconds, "fictionalNumbers": config.fictional_numbers,
            "roamingShare": config.roaming_share, "locale": config.locale, "country": config.country,
            "customCity": config.custom_city is not None,
            "consent": asdict(config.consent) if config.consent is not None and is_dataclass(config.consent) else None}
        self.write({"kind": "session", "version": FORMAT_VERSION, "at": stamp(self.world.clock.now),
                    "world": world, "operator": operator or {}})

    def stop(self) -> None:
        """Close the file (nothing more is recorded)."""
        if self._file is not None:
            self._file.close()
        self._file = None

    def write(self, line: dict[str, Any]) -> None:
        """Append one complete line and flush it."""
        if self._file is None:
            return
        self._file.write(json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
        self._file.flush()
        self.lines += 1


RECORDING: web.AppKey[Recording] = web.AppKey("recording")
"""The app's session recording (here rather than in ``keys``, which must not import this module)."""


def install_recording(app: web.Application, world: World) -> None:
    """Give ``app`` its (stopped) :class:`Recording`, closed when the app cleans up."""
    recording = Recording(world)
    app[RECORDING] = recording

    async def close(_: web.Application) -> None:
        recording.stop()

    app.on_cleanup.append(close)


def start_recording(app: web.Application, path: Path) -> None:
    """Start ``app``'s recording to ``path`` (``opsim serve --record``); :class:`OSError` if it cannot be opened."""
    app[RECORDING].start(path, operator_rules(app))


def operator_rules(app: web.Application) -> dict[str, Any]:
    """The campaign rules a scenario's ``operator`` section can set, as served."""
    campaigns = app[SETTINGS].campaigns
    return {k: getattr(campaigns, k) for k in ("quiet_start_hour", "quiet_end_hour", "daily_cap", "min_audience",
                                                 "privacy_threshold") if hasattr(campaigns, k)}


async def _request_body(request: web.Request) -> Any:
    """The request's JSON (or form) body, redacted; ``None`` when empty, unreadable or too large."""
    if not request.body_exists or (request.content_length or 0) > MAX_BODY_BYTES:
        return None
    try:
        raw = await request.read()  # cached by aiohttp when the handler read it
    except Exception:  # an unreadable body (too large, cut off) is recorded as absent; the answer still is
        return None
    text = raw.decode("utf-8", "replace")
    if request.content_type == "application/x-www-form-urlencoded":
        return redact(dict(parse_qsl(text, keep_blank_values=True)))
    try:
        return redact(json.loads(text))
    except ValueError:
        return None


def _answer(response: web.StreamResponse) -> Any:
    """The JSON answer, redacted (``None`` for streamed, empty or non-JSON answers)."""
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return None
    body = response.body
    if not isinstance(body, bytes | bytearray) or not body or len(body) > MAX_BODY_BYTES:
        return None
    try:
        return redact(json.loads(body))
    except ValueError:
        return None


@web.middleware
async def recording_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While a recording runs, append the request and its final answer (errors included) to it."""
    recording = request.app[RECORDING]
    if not recording.active:
        return await handler(request)
    route = request.app[ROUTES].lookup(request)
    at = recording.world.clock.now
    response = await handler(request)
    if not recording.active or route is None:  # unmatched paths are noise, not part of a session
        return response
    caller = "partner" if route.access is Access.PARTNER else "admin" if route.access is Access.ADMIN else "public"
    if caller == "admin" and request.method == "GET":  # reads of the control plane change nothing
        return response
    line: dict[str, Any] = {"kind": "request", "caller": caller, "at": stamp(at),
                            "now": stamp(recording.world.clock.now), "method": request.method,
                            "path": request.rel_url.raw_path, "route": route.path,  # as sent: %-escapes kept
                            "query": redact(dict(request.query)), "body": await _request_body(request),
                            "status": response.status, "answer": _answer(response)}
    if AUTH in request:
        line["partner"] = request[AUTH].partner
        line["scopes"] = sorted(request[AUTH].scopes)
    recording.write(line)
    return response
