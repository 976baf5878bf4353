"""/docs and /openapi.json for integrators: the scope catalogue, event types in full, Markdown descriptions,
request examples that validate, and an offline page with try-it forms."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest
from openapi_core.validation.request.validators import V31RequestBodyValidator

from gateway.http.openapi import event_catalogue, markdown
from gateway.wire.campaigns import EstimateRequest
from tests.gateway.conftest import Client, MakePartner, bearer, fetch_token

MAIN_OPERATIONS = [  # the operations an integrator tries first: each has a request body example
    ("post", "/oauth2/token"),
    ("post", "/campaigns/v1/campaigns"),
    ("post", "/campaigns/v1/audience-estimates"),
    ("post", "/location-verification/v3/verify"),
    ("post", "/geofencing-subscriptions/v0.5/subscriptions"),
    ("post", "/messages/v1/messages"),
    ("post", "/verify/v1/verifications"),
]


async def _spec(client: Client) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield method, path, op


def _prose(node: Any) -> Iterator[str]:
    """Every description and summary of the document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("description", "summary") and isinstance(v, str):
                yield v
            elif k not in ("example", "examples", "default", "const", "enum"):
                yield from _prose(v)
    elif isinstance(node, list):
        for item in node:
            yield from _prose(item)


async def test_every_non_public_operation_lists_its_scopes(client: Client) -> None:
    """x-access and x-scopes on every operation with a credential; its oauth2 requirement and the catalogue agree."""
    spec = await _spec(client)
    catalogue = spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]
    description = spec["info"]["description"]
    for method, path, op in _operations(spec):
        if not op["security"]:
            assert "x-access" not in op, (method, path)
            continue
        assert op["x-access"] in ("partner", "admin") and isinstance(op["x-scopes"], list), (method, path)
        if op["x-access"] == "admin":
            assert op["x-scopes"] == [] and op["security"] == [{"adminToken": []}]
            continue
        wanted = op["x-scopes"]
        oauth = [s["oauth2"] for s in op["security"] if "oauth2" in s]
        alternatives = op.get("x-scopes-one-of", [])
        assert oauth == ([[*wanted, alt] for alt in alternatives] or [wanted]), (method, path)
        for scope in (*wanted, *alternatives):
            assert f"{method.upper()} {path}" in catalogue[scope]
            assert f"| `{scope}` |" in description


async def test_scopes_that_depend_on_the_request_are_alternatives(client: Client) -> None:
    """A geofencing subscription needs the create scope of its event type: both are listed, one suffices."""
    spec = await _spec(client)
    op = spec["paths"]["/geofencing-subscriptions/v0.5/subscriptions"]["post"]
    prefix = "geofencing-subscriptions:org.camaraproject.geofencing-subscriptions.v0."
    assert op["x-scopes"] == []
    assert op["x-scopes-one-of"] == [f"{prefix}area-entered:create", f"{prefix}area-left:create"]
    me = spec["paths"]["/partner/v1/me"]["get"]
    assert (me["x-access"], me["x-scopes"]) == ("partner", [])


async def test_event_types_are_catalogued_in_full(client: Client) -> None:
    """Every webhook type is spelled in full, with the operation that subscribes to it, in x-event-types and prose."""
    spec = await _spec(client)
    listed = {e["type"]: e for e in spec["x-event-types"]}
    assert {"org.opsim.campaigns.v1.campaign.started", "org.opsim.journeys.v1.journey.report.hourly",
            "org.camaraproject.geofencing-subscriptions.v0.area-entered",
            "org.camaraproject.geofencing-subscriptions.v0.subscription-ended",
            "org.camaraproject.sim-swap-subscriptions.v0.swapped", "org.opsim.messages.v1.message-status",
            "org.camaraproject.region-device-count.v0.callback"} <= set(listed)
    assert listed["org.opsim.campaigns.v1.campaign.started"]["subscribe"] == "campaign.started"
    assert len(listed) == len(event_catalogue())
    for event in spec["x-event-types"]:
        method, path = event["operation"].split(" ")
        assert method.lower() in spec["paths"][path], event
        assert f"| `{event['type']}` |" in spec["info"]["description"]


async def test_descriptions_are_markdown(client: Client) -> None:
    """No description or summary keeps RST markup (``double backticks`` or :class: roles)."""
    spec = await _spec(client)
    prose = list(_prose(spec))
    assert len(prose) > 200
    for text in prose:
        assert "``" not in text and not re.search(r":(class|meth|func|data|attr|mod):`", text), text
    token = spec["paths"]["/oauth2/token"]["post"]["description"]
    assert token.startswith("Client credentials grant. Authenticate with HTTP Basic or `client_id`/`client_secret`")
    assert "\n    " not in token  # the docstring's indentation is gone


@pytest.mark.parametrize(("rst", "md"), [
    ("``code``", "`code`"),  # literal
    ("a ``b`` and ``c d``", "a `b` and `c d`"),  # several on a line, spaces inside
    ("``{\"error\", \"x\"}``", "`{\"error\", \"x\"}`"),  # braces and quotes kept
    (":class:`~gateway.http.routing.ApiRoute`", "`ApiRoute`"),  # a role with ~: the last name
    (":meth:`gateway.x.Y.z`", "`gateway.x.Y.z`"),  # a role without ~: the full name
    ("First line.\n\n    Indented ``x``.", "First line.\n\nIndented `x`."),  # docstring indentation removed
    ("plain `md` stays", "plain `md` stays"),  # already Markdown
])
def test_markdown_of_docstrings(rst: str, md: str) -> None:
    """RST-ish docstring markup becomes Markdown."""
    assert markdown(rst) == md


async def test_request_examples_validate_against_their_schemas(client: Client) -> None:
    """The main operations have examples; every example is a valid body for its operation's schema."""
    spec = await _spec(client)
    api = OpenAPI.from_dict(spec, config=Config(request_validator_cls=V31RequestBodyValidator))
    examples = 0
    for method, path, op in _operations(spec):
        for content_type, media in op.get("requestBody", {}).get("content", {}).items():
            if (method, path) in MAIN_OPERATIONS:
                assert "example" in media, (method, path)
            if "example" not in media:
                continue
            examples += 1
            example = media["example"]
            data = urlencode(example) if content_type.endswith("urlencoded") else json.dumps(example)
            request = MockRequest("http://localhost", method, re.sub(r"\{\w+\}", "x", path), data=data.encode(),
                                  content_type=content_type)
            api.validate_request(request)  # raises on an invalid body
    assert examples >= len(MAIN_OPERATIONS)


async def test_examples_are_answered_by_the_server(client: Client, make_partner: MakePartner) -> None:
    """What the try-it form sends: the token example with real credentials, then the estimate example."""
    spec = await _spec(client)
    creds = await make_partner("tryit", ("campaigns:read", "campaigns:write"))
    form = dict(spec["paths"]["/oauth2/token"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"]["example"])
    form.update(client_id=creds.client_id, client_secret=creds.client_secret)
    resp = await client.post("/oauth2/token", data=urlencode(form),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["scope"] == "campaigns:read campaigns:write"
    example = spec["paths"]["/campaigns/v1/audience-estimates"]["post"]["requestBody"]["content"][
        "application/json"]["example"]
    EstimateRequest.model_validate_json(json.dumps(example), strict=True, by_alias=True, by_name=False)
    resp = await client.post("/campaigns/v1/audience-estimates", json=example,
                             headers=bearer(await fetch_token(client, creds)))
    assert resp.status == 200, await resp.text()


async def test_docs_page_is_self_contained_with_try_it(client: Client) -> None:
    """/docs is HTML without any external URL; it renders the catalogue and has a token field and try-it forms."""
    resp = await client.get("/docs")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert not re.search(r"https?://", page)  # no CDN, no external script, style, font or link
    assert 'fetch("/openapi.json")' in page and "credentials: \"same-origin\"" in page
    assert 'id="token"' in page and "Try it" in page and "Authorization = `Bearer ${token}`" in page
    for key in ("x-scopes", "x-scopes-one-of", "x-access"):
        assert f'"{key}"' in page
