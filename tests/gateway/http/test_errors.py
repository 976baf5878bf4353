"""One error shape everywhere, and the x-correlator rules."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from gateway.http.app import fresh_correlator
from gateway.wire.errors import ErrorInfo
from simulator.world import World, WorldSummary
from tests.gateway.conftest import ADMIN, Client, a_msisdn

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), [
    # unknown route
    ("GET", "/nowhere", {}, 404, "NOT_FOUND"),
    # unknown admin route (checked before auth: nothing to protect)
    ("GET", "/admin/v1/nowhere", {"headers": ADMIN}, 404, "NOT_FOUND"),
    # wrong method on a known route
    ("DELETE", "/health", {}, 405, "METHOD_NOT_ALLOWED"),
    ("GET", "/oauth2/token", {}, 405, "METHOD_NOT_ALLOWED"),
    # body over the limit (64 KiB in these tests)
    ("POST", "/admin/v1/partners", {"headers": {**ADMIN, **JSON}, "data": b'{"name": "' + b"x" * 70_000 + b'"}'},
     413, "PAYLOAD_TOO_LARGE"),
    # not JSON
    ("POST", "/admin/v1/partners", {"headers": {**ADMIN, "Content-Type": "text/plain"}, "data": b"{}"},
     415, "UNSUPPORTED_MEDIA_TYPE"),
    # no content type at all
    ("POST", "/admin/v1/clock/advance", {"headers": ADMIN, "data": b'{"seconds": 60}'}, 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    # malformed JSON
    ("POST", "/admin/v1/partners", {"headers": {**ADMIN, **JSON}, "data": b'{"name": '}, 400, "INVALID_ARGUMENT"),
    # empty body
    ("POST", "/admin/v1/partners", {"headers": {**ADMIN, **JSON}, "data": b""}, 400, "INVALID_ARGUMENT"),
    # JSON but not an object
    ("POST", "/admin/v1/partners", {"headers": ADMIN, "json": ["acme"]}, 400, "INVALID_ARGUMENT"),
    # unknown field
    ("POST", "/admin/v1/partners", {"headers": ADMIN, "json": {"name": "a", "colour": "red"}}, 400,
     "INVALID_ARGUMENT"),
    # snake_case is not the wire format
    ("POST", "/admin/v1/clock/advance", {"headers": ADMIN, "json": {"to_instant": "2026-06-02T00:00:00Z"}}, 400,
     "INVALID_ARGUMENT"),
    # wrong type (strict: no string-to-number coercion)
    ("POST", "/admin/v1/clock/advance", {"headers": ADMIN, "json": {"seconds": "60"}}, 400, "INVALID_ARGUMENT"),
    # naive instant (no zone)
    ("POST", "/admin/v1/clock/advance", {"headers": ADMIN, "json": {"to": "2026-06-02T00:00:00"}}, 400,
     "INVALID_ARGUMENT"),
    # bad scope name
    ("POST", "/admin/v1/partners", {"headers": ADMIN, "json": {"name": "a", "scopes": ["BAD SCOPE"]}}, 400,
     "INVALID_ARGUMENT"),
    # unknown partner
    ("GET", "/admin/v1/partners/ptn_424242", {"headers": ADMIN}, 404, "NOT_FOUND"),
    ("GET", "/admin/v1/partners/garbage", {"headers": ADMIN}, 404, "NOT_FOUND"),
    # unknown subscriber
    ("GET", "/admin/v1/subscribers/%2B4900000000", {"headers": ADMIN}, 404, "NOT_FOUND"),
    # bad correlator
    ("GET", "/health", {"headers": {"x-correlator": "bad correlator!"}}, 400, "INVALID_ARGUMENT"),
    # no credentials
    ("GET", "/partner/v1/me", {}, 401, "UNAUTHENTICATED"),
])
async def test_error_shape(client: Client, method: str, path: str, kwargs: dict[str, Any], status: int,
                           code: str) -> None:
    """Every non-2xx answer is ``{"status","code","message"}`` (+ ``details``) and carries an x-correlator."""
    resp = await client.request(method, path, **kwargs)
    assert resp.status == status
    assert resp.content_type == "application/json"
    body = await resp.json()
    info = ErrorInfo.model_validate(body)
    assert (info.status, info.code) == (status, code)
    assert set(body) <= {"status", "code", "message", "details"}
    assert "Traceback" not in info.message
    assert resp.headers["x-correlator"]


async def test_validation_details_name_wire_fields(client: Client) -> None:
    """Schema violations list each bad field by its camelCase name."""
    resp = await client.post("/admin/v1/partners", json={"name": "a", "limits": {"requestsPerSecond": -1}},
                             headers=ADMIN)
    body = await resp.json()
    assert body["details"][0]["field"] == "body.limits.requestsPerSecond"


async def test_405_keeps_allow_header(client: Client) -> None:
    """The 405 answer still tells which methods exist."""
    resp = await client.put("/health")
    assert "GET" in resp.headers["Allow"]


async def test_simulator_error_maps_to_400(client: Client, world: World) -> None:
    """A pin outside the city is the simulator's InvalidAreaError, rendered as 400 with its message."""
    resp = await client.post(f"/admin/v1/subscribers/{a_msisdn(world)}/pin", json={"latitude": 0.0, "longitude": 0.0},
                             headers=ADMIN)
    assert resp.status == 400
    assert "outside" in (await resp.json())["message"]


async def test_correlator_is_echoed(client: Client) -> None:
    """A valid correlator comes back unchanged, on success and on error."""
    for path in ("/health", "/nowhere"):
        resp = await client.get(path, headers={"x-correlator": "abc-123:{x}/y.z"})
        assert resp.headers["x-correlator"] == "abc-123:{x}/y.z"


async def test_correlator_is_generated(client: Client) -> None:
    """Without one, each response gets a fresh UUID."""
    first = (await client.get("/health")).headers["x-correlator"]
    second = (await client.get("/health")).headers["x-correlator"]
    assert re.fullmatch(r"[0-9a-f-]{36}", first)
    assert first != second


def test_fresh_correlator_is_a_version_4_uuid() -> None:
    """A generated correlator is the canonical text of a random (version 4, RFC 4122 variant) UUID."""
    for _ in range(200):
        text = fresh_correlator()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


@pytest.mark.parametrize("value", ["has space", "x" * 257, "semi;colon but\ttab", "ünïcode"])
async def test_bad_correlator_is_400_and_not_echoed(client: Client, value: str) -> None:
    """A correlator breaking the CAMARA pattern is refused; the bad value is never reflected."""
    resp = await client.get("/health", headers={"x-correlator": value.encode().decode("latin-1")})
    assert resp.status == 400
    assert resp.headers["x-correlator"] != value


async def test_unexpected_error_is_500_without_internals(client: Client, world: World,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """A bug surfaces as 500 INTERNAL with a generic message; the log has the correlator and traceback."""

    def broken() -> WorldSummary:
        raise RuntimeError("secret internals")

    world.summary = broken  # type: ignore[method-assign]
    resp = await client.get("/admin/v1/world", headers={**ADMIN, "x-correlator": "trace-me"})
    assert resp.status == 500
    body = await resp.json()
    assert body == {"status": 500, "code": "INTERNAL", "message": "Unknown server error."}
    assert "trace-me" in caplog.text
    assert "secret internals" in caplog.text
