"""Hand-written hostile inputs: refused with a 4xx in the CAMARA error shape (or answered), never a 5xx.

Headers with non-ASCII bytes, instants at both ends of the representable range, ids too large for any counter,
non-finite and overflowing numbers, very long strings, wrong JSON types, empty and non-object bodies. One
gateway serves the whole module: nearly every request is refused, and the few that are answered (a campaign
created under an idempotency key, a location read) change nothing another case depends on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aiohttp import web

from gateway.http.app import API_MODULES
from gateway.http.openapi import build_openapi
from gateway.http.routing import Access, ApiRoute, RouteRegistry
from simulator.world import World
from tests.gateway.conftest import ADMIN
from tests.gateway.live_gateway import BackgroundLoop, Live, all_scopes, serve


def _registry() -> RouteRegistry:
    registry = RouteRegistry()
    app = web.Application()
    for module in API_MODULES:
        registry.install(app, module.routes)
    return registry


REGISTRY = _registry()
DOCUMENT = build_openapi(REGISTRY)
JSON_ROUTES = [r for r in REGISTRY.routes
               if r.request_model is not None and r.request_content_type == "application/json"]
ID_ROUTES = [r for r in REGISTRY.routes if "{" in r.path]
HUGE = "9" * 26
PREFIXES = ("", "+", "cmp_", "ptn_", "key_", "jny_", "enr_", "msg_", "snd_", "tpl_", "vrf_", "gfs_", "sss_", "op_")
"""Every id prefix of the gateway (and none, and the ``+`` of a phone number), so each parser sees a huge number."""

MSISDN = "+4915112345678"  # placeholder: test_hostile_fields swaps in a real subscriber's number


@pytest.fixture(scope="module")
def live(base_world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    loop = BackgroundLoop()
    try:
        db = tmp_path_factory.mktemp("hostile") / "hostile.db"
        with serve(loop, base_world, db, all_scopes(DOCUMENT)) as running:
            yield running
    finally:
        loop.close()


@pytest.fixture(scope="module")
def msisdn(base_world: World) -> str:
    return base_world.msisdn_of(0)


def _headers(route: ApiRoute, live: Live) -> dict[str, str]:
    if route.access is Access.ADMIN:
        return dict(ADMIN)
    return live.partner if route.access is Access.PARTNER else {}


def _assert_answered(resp: requests.Response, what: str, expected: int | None) -> None:
    """Not a 5xx, the ``expected`` status if given, and any error in the CAMARA shape with the correlator."""
    assert resp.status_code < 500, f"{what}: {resp.status_code} {resp.text[:300]}"
    assert expected is None or resp.status_code == expected, f"{what}: {resp.status_code} {resp.text[:300]}"
    assert resp.headers.get("x-correlator"), what
    if resp.status_code >= 400:
        _assert_refused(resp, what)


def _assert_refused(resp: requests.Response, what: str) -> None:
    """A 4xx with the CAMARA body whose status matches, and the correlator header."""
    assert 400 <= resp.status_code < 500, f"{what}: {resp.status_code} {resp.text[:300]}"
    body = resp.json()
    if "/v1/projects/" in resp.url and "error" in body:  # the FCM-compatible push route answers FCM's error model
        assert body["error"]["code"] == resp.status_code and body["error"]["status"], f"{what}: {body}"
    elif "/iid/v1" in resp.url and "error" in body:  # FCM topic management answers the Instance ID error model
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], f"{what}: {body}"
    else:
        assert set(body) >= {"status", "code", "message"} and body["status"] == resp.status_code, f"{what}: {body}"
    assert resp.headers.get("x-correlator"), what


def _call(live: Live, method: str, path: str, *, headers: dict[str, Any],
          body: bytes | None = None) -> requests.Response:
    if body is not None:
        headers = {"Content-Type": "application/json", **headers}
    return requests.request(method, live.url + path, headers=headers, data=body, timeout=60)


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{\w+(?::[^}]*)?\}", value.replace("+", "%2B"), path)


def _campaign(**schedule: str) -> dict[str, Any]:
    return {"name": "Sale", "targeting": {"areas": [_circle()], "locationMode": "PRESENT"},
            "schedule": {"startTime": "2026-06-01T09:00:00Z", "endTime": "2026-06-01T11:00:00Z", **schedule},
            "message": {"kind": "PROMO", "channel": "PUSH_THEN_SMS", "senderName": "Acme", "text": "Hello"}}


def _circle(lat: Any = 52.52, lon: Any = 13.405, radius: Any = 3000) -> dict[str, Any]:
    return {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": radius}


def _raw(value: dict[str, Any], **replace: str) -> bytes:
    """``value`` as JSON with placeholders swapped for raw tokens JSON cannot express (``NaN``, ``1e400``)."""
    text = json.dumps(value)
    for placeholder, token in replace.items():
        text = text.replace(f'"{placeholder}"', token)
    return text.encode()


EARLY = "0001-01-01T00:00:00+00:01"  # a minute before the first representable UTC instant
LATE = "9999-12-31T23:59:59-23:59"  # almost a day after the last representable UTC instant
LONG = "x" * 60_000  # just under the 64 KiB body limit


# -- headers -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value", "expected"), [
    ("Authorization", b"Bearer \xc3\xa9t\xc3\xa9", 401),  # UTF-8 bytes in a bearer token
    ("Authorization", b"Bearer \xff\xfe", 401),  # bytes that are not UTF-8 at all
    ("x-api-key", b"opsim_key_\xe2\x82\xac", 401),  # UTF-8 euro sign in an API key
    ("x-rapidapi-key", b"\xff", 401),  # a lone high byte
    ("Idempotency-Key", b"k\xc3\xa9y", None),  # UTF-8 in an idempotency key: any answer but a 5xx
    ("Idempotency-Key", b"\xff" * 300, None),  # long, not UTF-8
    ("x-correlator", b"corr-\xc3\xa9", 400),  # UTF-8 in the correlator (outside its pattern)
    ("x-correlator", b"x" * 257, 400),  # one character past the correlator's length limit
])
def test_non_ascii_headers(live: Live, name: str, value: bytes, expected: int | None) -> None:
    """A header that is not ASCII is refused like any bad credential or argument, or ignored; never a 5xx."""
    body = _raw(_campaign())
    for method, path in (("GET", "/partner/v1/me"), ("GET", "/admin/v1/clock"), ("POST", "/campaigns/v1/campaigns")):
        caller = ADMIN if path.startswith("/admin") else live.partner
        headers: dict[str, Any] = {name: value} if name in ("Authorization", "x-api-key", "x-rapidapi-key") else {
            **caller, name: value}
        resp = _call(live, method, path, headers=headers, body=body if method == "POST" else None)
        _assert_answered(resp, f"{method} {path} with {name}: {value[:20]!r}", expected)


# -- ids -----------------------------------------------------------------------------------------------------

def _id_params() -> list[Any]:
    return [pytest.param(r, id=f"{r.method} {r.path}") for r in ID_ROUTES]


@pytest.mark.parametrize("route", _id_params())
def test_huge_ids(live: Live, route: ApiRoute) -> None:
    """An id beyond any counter (with every prefix) is an unknown resource or a bad argument, not a 500."""
    body = b"{}" if route.request_model is not None else None
    for prefix in PREFIXES:
        resp = _call(live, route.method, _fill(route.path, prefix + HUGE), headers=_headers(route, live), body=body)
        _assert_refused(resp, f"{route.method} {route.path} with {prefix}{HUGE}")


# -- bodies --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b"",  # empty
    b"   ",  # only whitespace
    b"[]",  # an array
    b'"text"',  # a string
    b"null",  # null
    b"42",  # a number
    b"1e400",  # a number that overflows a double
    b"NaN",  # not JSON at all, though Python's json reads it
    b"{",  # truncated
    b'{"a": "\xff"}',  # not UTF-8
    b'{"a": 1, "a": 2}',  # a repeated key with an unknown name
    b"[" * 5000 + b"]" * 5000,  # deep nesting
])
def test_non_object_bodies(live: Live, body: bytes) -> None:
    """Every JSON route refuses a body that is not one JSON object with 400 (or 401/403/404 before reading it)."""
    for route in JSON_ROUTES:
        resp = _call(live, route.method, _fill(route.path, "x"), headers=_headers(route, live), body=body)
        _assert_refused(resp, f"{route.method} {route.path} with {body[:20]!r}")


def _row(case: str, method: str, path: str, body: bytes, *, refused: bool = True) -> Any:
    return pytest.param(method, path, body, refused, id=case)


ADVANCE, CAMPAIGNS, ESTIMATES = "/admin/v1/clock/advance", "/campaigns/v1/campaigns", "/campaigns/v1/audience-estimates"
VERIFY, RETRIEVE = "/location-verification/v3/verify", "/location-retrieval/v0.5/retrieve"
COUNT = "/region-device-count/v0.2/count"
GEOFENCING, GATHERINGS = "/geofencing-subscriptions/v0.5/subscriptions", "/admin/v1/gatherings"
DEVICE = {"phoneNumber": MSISDN}
AREA_ENTERED = "org.camaraproject.geofencing-subscriptions.v0.area-entered"
STADIUM = {"name": "Match", "place": "Olympiastadion", "start": "2026-06-01T08:00:00Z", "end": "2026-06-01T10:00:00Z",
           "count": 300}

FIELD_CASES = [
    # clock: seconds that overflow, are infinite or not a number; a huge duration; instants at both ends
    _row("advance-1e400", "POST", ADVANCE, _raw({"seconds": "N"}, N="1e400")),
    _row("advance-infinity", "POST", ADVANCE, _raw({"seconds": "N"}, N="Infinity")),
    _row("advance-nan", "POST", ADVANCE, _raw({"seconds": "N"}, N="NaN")),
    _row("advance-1e300", "POST", ADVANCE, b'{"seconds": 1e300}'),
    _row("advance-huge-duration", "POST", ADVANCE, b'{"duration": "P999999999D"}'),
    _row("advance-to-0001", "POST", ADVANCE, _raw({"to": EARLY})),
    _row("advance-to-9999", "POST", ADVANCE, _raw({"to": LATE})),
    # campaigns: a window at the ends of time, areas with non-finite geometry
    _row("campaign-start-0001", "POST", CAMPAIGNS, _raw(_campaign(startTime=EARLY))),
    _row("campaign-end-9999", "POST", CAMPAIGNS, _raw(_campaign(endTime=LATE))),
    _row("campaign-both-9999", "POST", CAMPAIGNS, _raw(_campaign(startTime=LATE, endTime=LATE))),
    _row("estimate-radius-1e400", "POST", ESTIMATES, _raw({"targeting": {"areas": [_circle(radius="R")]}}, R="1e400")),
    _row("estimate-lat-nan", "POST", ESTIMATES, _raw({"targeting": {"areas": [_circle(lat="L")]}}, L="NaN")),
    _row("estimate-lon-minus-infinity", "POST", ESTIMATES,
         _raw({"targeting": {"areas": [_circle(lon="L")]}}, L="-Infinity")),
    # CAMARA location and insights: non-finite areas; a huge maxAge is "any age", so any answer but a 5xx
    _row("verify-radius-nan", "POST", VERIFY, _raw({"device": DEVICE, "area": _circle(radius="R")}, R="NaN")),
    _row("verify-radius-1e400", "POST", VERIFY, _raw({"device": DEVICE, "area": _circle(radius="R")}, R="1e400")),
    _row("verify-maxage-huge", "POST", VERIFY, _raw({"device": DEVICE, "area": _circle(), "maxAge": "A"}, A=HUGE),
         refused=False),
    _row("retrieve-maxage-huge", "POST", RETRIEVE, _raw({"device": DEVICE, "maxAge": "A"}, A=HUGE), refused=False),
    _row("count-window-ends-of-time", "POST", COUNT, _raw({"area": _circle(), "starttime": EARLY, "endtime": LATE}),
         refused=False),
    _row("count-lat-infinity", "POST", COUNT, _raw({"area": _circle(lat="L")}, L="Infinity")),
    _row("sim-swap-maxage-huge", "POST", "/sim-swap/v2/check", _raw({"phoneNumber": MSISDN, "maxAge": "A"}, A=HUGE)),
    # subscriptions and gatherings: instants at both ends, a huge count
    _row("geofencing-expire-9999", "POST", GEOFENCING, _raw({
        "protocol": "HTTP", "sink": "http://127.0.0.1:9/sink", "types": [AREA_ENTERED],
        "config": {"subscriptionDetail": {"device": DEVICE, "area": _circle()}, "subscriptionExpireTime": LATE}})),
    _row("gathering-ends-of-time", "POST", GATHERINGS, _raw({**STADIUM, "start": EARLY, "end": LATE})),
    _row("gathering-count-huge", "POST", GATHERINGS, _raw({**STADIUM, "count": "C"}, C=HUGE)),
    # very long strings
    _row("partner-name-long", "POST", "/admin/v1/partners", _raw({"name": LONG})),
    _row("sim-swap-number-long", "POST", "/sim-swap/v2/check", _raw({"phoneNumber": "+" + "1" * 60_000})),
    _row("message-text-long", "POST", "/messages/v1/messages", _raw({"to": MSISDN, "text": LONG})),
    _row("campaign-name-long", "POST", CAMPAIGNS, _raw({**_campaign(), "name": LONG})),
    # wrong JSON types
    _row("partner-name-number", "POST", "/admin/v1/partners", b'{"name": 5}'),
    _row("partner-scopes-string", "POST", "/admin/v1/partners", b'{"name": "a", "scopes": "all"}'),
    _row("advance-seconds-string", "POST", ADVANCE, b'{"seconds": "60"}'),
    _row("advance-seconds-bool", "POST", ADVANCE, b'{"seconds": true}'),
    _row("sim-swap-number-list", "POST", "/sim-swap/v2/check", _raw({"phoneNumber": [MSISDN]})),
    _row("campaign-targeting-list", "POST", CAMPAIGNS, _raw({**_campaign(), "targeting": []})),
]


@pytest.mark.parametrize(("method", "path", "body", "refused"), FIELD_CASES)
def test_hostile_fields(live: Live, msisdn: str, method: str, path: str, body: bytes, refused: bool) -> None:
    """A body valid but for one hostile field is refused with a 4xx (or, where it means something, answered)."""
    route = next(r for r in REGISTRY.routes if (r.method, r.path) == (method, path))
    resp = _call(live, method, path, headers=_headers(route, live), body=body.replace(MSISDN.encode(), msisdn.encode()))
    _assert_answered(resp, f"{method} {path}", None)
    if refused:
        _assert_refused(resp, f"{method} {path}")
