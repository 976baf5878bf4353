"""The API describes itself: a valid OpenAPI 3.1 document, an offline docs page, health and metrics."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientResponse
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from gateway.http.keys import ROUTES
from tests.gateway.conftest import ADMIN, Client, MakePartner, bearer, fetch_token


async def _spec(client: Client) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_openapi_is_valid_and_complete(client: Client) -> None:
    """Every served route (but the docs themselves) is in a document that validates as OpenAPI 3.1."""
    spec = await _spec(client)
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    served = {(r.method, r.resource.canonical) for r in client.app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    # The documents, the console page and its event stream (never-ending: not for generated clients or fuzzers).
    assert documented == served - {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/console"),
                                   ("GET", "/admin/v1/console/stream")}


async def test_openapi_describes_auth_errors_and_models(client: Client) -> None:
    """Security, scopes, error responses and camelCase schemas come from the code's declarations."""
    spec = await _spec(client)
    op = spec["paths"]["/partner/v1/api-keys/{keyId}"]["get"]
    assert {"oauth2": ["api-keys:read"]} in op["security"]
    assert {"401", "403", "404"} <= set(op["responses"])
    assert spec["paths"]["/admin/v1/partners"]["post"]["security"] == [{"adminToken": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    token = spec["paths"]["/oauth2/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    schemas = spec["components"]["schemas"]
    assert "ErrorInfo" in schemas
    assert "clientSecret" in schemas["PartnerCreated"]["properties"]
    assert schemas["PartnerCreate"]["additionalProperties"] is False
    assert "api-keys:read" in spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]


async def test_docs_page_is_offline(client: Client) -> None:
    """The docs page is self-contained HTML that reads /openapi.json: no external scripts or styles."""
    resp = await client.get("/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "/openapi.json" in page
    assert not re.search(r"""(src|href)=["']https?://""", page)


async def test_health(client: Client) -> None:
    """No auth, sim time and clock mode."""
    body = await (await client.get("/health")).json()
    assert body == {"status": "UP", "simTime": "2026-06-01T06:00:00Z", "clockMode": "manual"}


async def test_metrics(client: Client, make_partner: MakePartner) -> None:
    """Requests by route and status, latency histogram, sim time, tick duration, subscribers."""
    creds = await make_partner()
    token = await fetch_token(client, creds)
    await client.get("/partner/v1/me", headers=bearer(token))
    await client.get("/partner/v1/me")
    await client.get("/nowhere")
    await client.post("/admin/v1/clock/advance", json={"seconds": 120}, headers=ADMIN)
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    assert 'opsim_http_requests_total{method="GET",route="/partner/v1/me",status="200"} 1.0' in text
    assert 'opsim_http_requests_total{method="GET",route="/partner/v1/me",status="401"} 1.0' in text
    assert 'opsim_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'opsim_http_request_duration_seconds_bucket{le="0.001",route="/partner/v1/me"}' in text
    sim_time = re.search(r"^opsim_sim_time_seconds (\S+)$", text, re.M)
    assert sim_time is not None and float(sim_time.group(1)) == 1780293720.0  # 2026-06-01T06:02:00Z
    assert "opsim_subscribers 2000.0" in text
    tick = re.search(r"^opsim_tick_duration_seconds (\S+)$", text, re.M)
    assert tick is not None and float(tick.group(1)) > 0


# -- the document against what the server really answers ----------------------------------------------------

async def _conformance(client: Client) -> Callable[[str, str, ClientResponse], Awaitable[None]]:
    """A checker: raises unless a real response is one the served /openapi.json documents for the operation."""
    api = OpenAPI.from_dict(await _spec(client))

    async def check(method: str, path: str, resp: ClientResponse) -> None:
        body = await resp.read()
        headers = {k: v for k, v in resp.headers.items() if k.lower() == "x-correlator"}
        request = MockRequest("http://localhost", method.lower(), path)
        response = MockResponse(body, status_code=resp.status, headers=headers,
                                content_type=resp.content_type if body else "application/json")
        try:
            api.validate_response(request, response)
        except Exception as exc:  # show which answer broke the document
            raise AssertionError(f"{method} {path} -> {resp.status} {body[:300]!r}: {exc!r} {exc.__cause__!r}") from exc

    return check


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def _concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "nosuchid", path)


async def _all_scopes_token(client: Client, make_partner: MakePartner, spec: dict[str, Any]) -> str:
    scopes = spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]
    return await fetch_token(client, await make_partner("everything", scopes=tuple(scopes)))


async def test_error_answers_of_every_operation_conform(client: Client, make_partner: MakePartner) -> None:
    """Every operation's 401 (no credential), 400 (bad x-correlator), 404 (unknown id) and body errors (415,
    400 not JSON, 400 off-schema) are answers the document describes."""
    spec = await _spec(client)
    check = await _conformance(client)
    token = await _all_scopes_token(client, make_partner, spec)
    for method, path, op in _operations(spec):
        url = _concrete(path)
        auth = bearer(token) if {"oauth2": []} in op["security"] or any("oauth2" in s for s in op["security"]) \
            else ADMIN if op["security"] else {}
        if op["security"]:
            await check(method, path, await client.request(method, url))  # 401, no credential
        await check(method, path, await client.request(method, url, headers={**auth, "x-correlator": "bad value"}))
        if "{" in path:
            await check(method, path, await client.request(method, url, headers=auth))  # 404 (or 400, 405...)
        if "requestBody" in op:
            for body, content_type in (("{}", "application/json"), ("not json", "application/json"),
                                       ("{}", "text/plain"), ("{}", "application/json; charset=utf-16"),
                                       ("grant_type=nope", "application/x-www-form-urlencoded")):
                headers = {**auth, "Content-Type": content_type}
                await check(method, path, await client.request(method, url, data=body, headers=headers))


async def test_success_answers_of_the_main_routes_conform(client: Client, make_partner: MakePartner) -> None:
    """Every list/read route without a path parameter, and the main creations, answer as documented."""
    spec = await _spec(client)
    check = await _conformance(client)
    token = await _all_scopes_token(client, make_partner, spec)
    for method, path, op in _operations(spec):
        if method == "GET" and "{" not in path:
            auth = ADMIN if op["security"] == [{"adminToken": []}] else bearer(token)
            resp = await client.get(path, headers=auth)
            # device-phone-number needs a three-legged token from network authentication: its 403 is checked
            assert resp.status == (403 if path.endswith("/device-phone-number") else 200), (path, await resp.text())
            await check(method, path, resp)
    posts: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        # a partner, then its API key and a test subscriber (admin)
        ("/admin/v1/partners", {"name": "beta", "scopes": ["api-keys:read"]}, ADMIN),
        ("/admin/v1/gatherings", {"name": "fair", "latitude": 52.52, "longitude": 13.40, "count": 50,
                                  "start": "2026-06-01T08:00:00Z", "end": "2026-06-01T10:00:00Z"}, ADMIN),
        ("/admin/v1/clock/advance", {"seconds": 60}, ADMIN),
        # CAMARA: synchronous count and its asynchronous 202 twin
        ("/region-device-count/v0.2/count",
         {"area": {"areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.40}, "radius": 2000}},
         bearer(token)),
        ("/region-device-count/v0.2/count",
         {"area": {"areaType": "CIRCLE", "center": {"latitude": 52.52, "longitude": 13.40}, "radius": 2000},
          "sink": "https://127.0.0.1:9/hook"}, bearer(token)),
    ]
    for path, body, auth in posts:
        resp = await client.post(path, json=body, headers=auth)
        assert resp.status < 300, (path, await resp.text())
        await check("POST", path, resp)
    resp = await client.post("/oauth2/token", data={"grant_type": "client_credentials", "client_id": "nobody",
                                                    "client_secret": "x"})
    assert resp.status == 401
    await check("POST", "/oauth2/token", resp)


IDEMPOTENT_ROUTES = {
    ("post", "/campaigns/v1/campaigns"),  # create a campaign
    ("post", "/journeys/v1/journeys"),  # create a journey
    ("post", "/messages/v1/messages"),  # send a direct message
}


async def test_openapi_documents_the_idempotency_key_header(client: Client) -> None:
    """The POSTs that read Idempotency-Key document it as an optional header parameter, and no other route does."""
    spec = await _spec(client)
    documented = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for param in op["parameters"]:
                if param["in"] == "header" and param["name"] == "Idempotency-Key":
                    documented[(method, path)] = param
    assert set(documented) == IDEMPOTENT_ROUTES
    for param in documented.values():
        assert param["required"] is False and param["schema"] == {"type": "string"}
        assert "409" in param["description"]
    # The declarations are the ones whose handlers read the header (a new reader must declare it).
    readers = {(r.method.lower(), r.path) for r in client.app[ROUTES].routes
               if "idempotency_key(request)" in inspect.getsource(r.handler)}
    assert readers == IDEMPOTENT_ROUTES
