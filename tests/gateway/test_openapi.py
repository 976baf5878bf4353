"""The API describes itself: a valid OpenAPI 3.1 document, an offline docs page, health and metrics."""

from __future__ import annotations

import re
from typing import Any

from openapi_spec_validator import validate

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
    assert documented == served - {("GET", "/openapi.json"), ("GET", "/docs")}


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
