"""The OpenAPI 3.1 document of an app, generated from its route registry and pydantic models.

Owns the translation of :class:`~gateway.http.routing.ApiRoute` declarations into paths, parameters, request bodies
(with their examples), responses, security requirements and component schemas; the scope catalogue (``x-scopes``
per operation, the routes of each scope, a table in ``info.description``) and the event-type catalogue (the full
CloudEvents ``type`` of every webhook, how to subscribe to it, ``x-event-types``); and the rendering of every
description as Markdown (docstrings are RST-ish: ````code```` becomes `` `code` ``). It must not hand-write schemas
that a model already states: the models are the single source of truth for the wire format.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.core.webhooks import CLOUDEVENTS_JSON, SIGNATURE_HEADER
from gateway.http.routing import Access, ApiRoute, RouteRegistry
from gateway.services.camara import geofencing, sim_swap_events
from gateway.services.camara.callbacks import callback_type
from gateway.services.campaigns.model import EVENT_TYPES as CAMPAIGN_EVENT_TYPES
from gateway.services.journeys.model import EVENT_TYPES as JOURNEY_EVENT_TYPES
from gateway.services.messages.model import EVENT_TYPE as MESSAGE_EVENT_TYPE
from gateway.services.partner_events import CAMPAIGN_FEED, JOURNEY_FEED
from gateway.wire.errors import ErrorInfo
from gateway.wire.oauth import OAuthError

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")

_CORRELATOR_HEADER = {
    "description": "Correlation id, echoed from the request or generated.",
    "schema": {"type": "string", "pattern": r"^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$"},
}

_IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": ("Makes a retry safe: the same key with the same body gives back the first answer (200), the "
                    "same key with another body is 409. Printable ASCII; the first 200 characters count."),
    "schema": {"type": "string"},
}

_ERROR_TEXT = {
    400: "Invalid argument (malformed JSON, schema violation, unknown field, bad x-correlator or Idempotency-Key).",
    401: "Missing, invalid or expired credentials.",
    403: "The credential lacks a required scope.",
    404: "No such resource (or it belongs to another partner).",
    409: "Conflict with the current state.",
    413: "Request body too large.",
    415: "Content-Type is not application/json, or declares a charset other than UTF-8.",
    422: "Semantically invalid request.",
    429: "Rate limit reached.",
}


_SUCCESS_TEXT = {
    200: "Replay of an earlier request with the same Idempotency-Key (or a pending resend): the first answer.",
    202: "Accepted: the answer is POSTed to the request's sink.",
}


# -- descriptions as Markdown ---------------------------------------------------------------------------------

_RST_LITERAL = re.compile(r"``(.+?)``", re.S)
_RST_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|attr|mod|exc|obj|const):`(~?)([^`]+)`")
_NOT_PROSE = frozenset({"example", "examples", "default", "const", "enum"})
"""Keys whose values are data, never descriptions, even when they hold a ``description`` field."""


def markdown(text: str) -> str:
    """A docstring (RST-ish) as Markdown: indentation removed, ````code```` as `` `code` ``, ``:class:`~a.B``` as
    `` `B` ``."""
    text = inspect.cleandoc(text)
    text = _RST_ROLE.sub(lambda m: "`" + (m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)) + "`", text)
    return _RST_LITERAL.sub(lambda m: "`" + m.group(1) + "`", text)


def _render_descriptions(node: Any) -> None:
    """Every ``description`` and ``summary`` of the document (schemas included) as Markdown, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                node[key] = markdown(value)
            elif key not in _NOT_PROSE:
                _render_descriptions(value)
    elif isinstance(node, list):
        for item in node:
            _render_descriptions(item)


# -- the event-type catalogue -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventType:
    """One kind of webhook the gateway sends."""

    type: str
    """The CloudEvents ``type`` in full (for asynchronous answers: the outbox's type; their body is plain JSON)."""
    subscribe: str
    """What to put in a subscription request's ``types`` (``""``: not chosen, always sent)."""
    method: str
    path: str
    """The operation that asks for it."""
    about: str


def event_catalogue() -> list[EventType]:
    """Every webhook type, with the operation that subscribes to it (from the services' own constants)."""
    out: list[EventType] = []
    for feed, names, base in ((CAMPAIGN_FEED, CAMPAIGN_EVENT_TYPES, "/campaigns/v1/subscriptions"),
                              (JOURNEY_FEED, JOURNEY_EVENT_TYPES, "/journeys/v1/subscriptions")):
        out += [EventType(feed.type_prefix + name, name, "POST", base,
                          f"A {feed.api[:-1]} event: aggregates only, never a subscriber's identity.")
                for name in names]
    geofences = "/geofencing-subscriptions/v0.5/subscriptions"
    out += [EventType(t, t, "POST", geofences, "The device entered or left the subscription's area.")
            for t in geofencing.SUBSCRIPTION_TYPES]
    swaps = "/sim-swap-subscriptions/v0.3/subscriptions"
    out.append(EventType(sim_swap_events.SWAPPED, sim_swap_events.SWAPPED, "POST", swaps,
                         "The SIM of the watched line changed."))
    for prefix, path in ((geofencing.TYPE_PREFIX, geofences), (sim_swap_events.TYPE_PREFIX, swaps)):
        out += [EventType(prefix + "subscription-started", "", "POST", path,
                          "Lifecycle: the subscription started (geofencing v0.4 and later)."
                          if prefix == geofencing.TYPE_PREFIX else "Lifecycle: the subscription started."),
                EventType(prefix + "subscription-ended", "", "POST", path,
                          "Lifecycle: the subscription ended (deleted, expired, max events reached, sink gone).")]
    out.append(EventType(MESSAGE_EVENT_TYPE, "", "POST", "/messages/v1/messages",
                         "A status change of a direct message sent with a `callback`."))
    out += [EventType(callback_type(api), "", "POST", path, "The answer of a request sent with a `sink` "
                      "(plain `application/json`, not a CloudEvent).")
            for api, path in (("region-device-count", "/region-device-count/v0.2/count"),
                              ("population-density-data", "/population-density-data/v0.3/retrieve"))]
    return out


def _event_section(events: list[EventType]) -> str:
    rows = "\n".join(f"| `{e.type}` | {f'`{e.subscribe}`' if e.subscribe else '(always)'} | "
                     f"`{e.method} {e.path}` | {e.about} |" for e in events)
    return ("## Event types\n\nWebhooks are POSTed to the sink given at subscription as CloudEvents 1.0 "
            f"(`{CLOUDEVENTS_JSON}`), signed with `{SIGNATURE_HEADER}: sha256=<hex>` (HMAC-SHA256 of the body with "
            "the partner's webhook secret, `GET /partner/v1/webhook-secret`). Campaign and journey subscriptions "
            "name types without their prefix; CAMARA subscriptions name them in full.\n\n"
            "| CloudEvents `type` | In `types` | Subscribed by | What |\n|---|---|---|---|\n" + rows)


# -- the scope catalogue -----------------------------------------------------------------------------------------

def _scope_section(scopes: dict[str, list[str]]) -> str:
    rows = "\n".join(f"| `{scope}` | {', '.join(f'`{op}`' for op in ops)} |" for scope, ops in scopes.items())
    return ("## Scopes\n\nEach operation names the scopes it needs (`x-scopes`, and the scopes of its `oauth2` "
            "security requirement; `x-scopes-one-of`: one of them, depending on the request). Partner operations "
            "without a scope take any credential of an enabled partner; admin operations take the operator's admin "
            "token. Ask for scopes at `POST /oauth2/token` (`scope`, space-separated) or get all the partner's.\n\n"
            "| Scope | Operations |\n|---|---|\n" + rows)


def _models(registry: RouteRegistry) -> list[tuple[type[pydantic.BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[pydantic.BaseModel], JsonSchemaMode], None] = {
        (ErrorInfo, "serialization"): None, (OAuthError, "serialization"): None}
    for route in registry.routes:
        if route.request_model is not None:
            seen[(route.request_model, "validation")] = None
        if route.response_model is not None:
            seen[(route.response_model, "serialization")] = None
        for _status, model in route.also:
            seen[(model, "serialization")] = None
    return list(seen)


def _security(route: ApiRoute) -> list[dict[str, list[str]]]:
    if route.access is Access.PARTNER:
        oauth = [{"oauth2": [*route.scopes, alt]} for alt in route.any_scopes] or [{"oauth2": list(route.scopes)}]
        return [*oauth, {"bearerApiKey": []}, {"apiKey": []}, {"rapidApiKey": []}]
    if route.access is Access.ADMIN:
        return [{"adminToken": []}]
    return []


def _query_parameters(model: type[pydantic.BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True, ref_template=_REF)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def _operation(route: ApiRoute, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    is_token_endpoint = route.request_content_type == "application/x-www-form-urlencoded"
    error_schema = refs[(OAuthError if is_token_endpoint else ErrorInfo, "serialization")]
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path)]
    parameters.append({"name": "x-correlator", "in": "header", "required": False,
                       "schema": _CORRELATOR_HEADER["schema"]})
    if route.idempotent:
        parameters.append(_IDEMPOTENCY_HEADER)
    if route.query_model is not None:
        parameters.extend(_query_parameters(route.query_model))
    success: dict[str, Any] = {"description": route.summary, "headers": {"x-correlator": _CORRELATOR_HEADER}}
    if route.response_model is not None:
        success["content"] = {route.response_content_type: {"schema": refs[(route.response_model, "serialization")]}}
    elif route.status != 204:
        success["content"] = {route.response_content_type: {"schema": {"type": "string"}}}
    codes = set(route.errors) | {400}  # 400: any request may carry a bad x-correlator
    if route.request_model is not None:
        codes |= {413} if is_token_endpoint else {413, 415}
    if route.access is not Access.PUBLIC:
        codes.add(401)
    if route.access is Access.PARTNER:
        codes.add(429)  # the partner's rate limit
    if route.scopes:
        codes.add(403)
    responses: dict[str, Any] = {str(route.status): success}
    own = {status: model for status, model in route.also if status >= 400}
    for status, model in route.also:
        responses[str(status)] = {"description": _SUCCESS_TEXT.get(status, route.summary),
                                  "headers": {"x-correlator": _CORRELATOR_HEADER},
                                  "content": {route.response_content_type: {"schema": refs[(model, "serialization")]}}}
    for code in sorted(codes):
        # The token endpoint answers RFC 6749 bodies for its own 400/401 only; a bad x-correlator, a body too
        # large or the rate limit are the gateway's, in the CAMARA shape.
        schema = refs[(ErrorInfo, "serialization")]
        if is_token_endpoint and code == 400:
            schema = {"anyOf": [error_schema, schema]}
        elif code == 401:
            schema = error_schema
        if code in own:  # a route answering in another API's error model (FCM) declares it in ``also``
            schema = {"anyOf": [refs[(own[code], "serialization")], schema]}
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "Error."),
                                "headers": {"x-correlator": _CORRELATOR_HEADER},
                                "content": {"application/json": {"schema": schema}}}
    responses["default"] = {"description": "Any other error, in the CAMARA error shape.",
                            "content": {"application/json": {"schema": refs[(ErrorInfo, "serialization")]}}}
    operation: dict[str, Any] = {
        "operationId": f"{route.method.lower()}{_operation_suffix(route.path)}",
        "summary": route.summary, "tags": [route.tag], "parameters": parameters, "responses": responses,
        "security": _security(route),
    }
    if route.description:
        operation["description"] = route.description
    if route.access is not Access.PUBLIC:
        operation["x-access"] = route.access.value
        operation["x-scopes"] = list(route.scopes)
        if route.any_scopes:
            operation["x-scopes-one-of"] = list(route.any_scopes)
    if route.request_model is not None:
        media: dict[str, Any] = {"schema": refs[(route.request_model, "validation")]}
        example = route.example if route.example is not None else _model_example(route.request_model)
        if example is not None:
            media["example"] = example
        operation["requestBody"] = {"required": True, "content": {route.request_content_type: media}}
    return operation


def _model_example(model: type[pydantic.BaseModel]) -> Any:
    """The first of the model's own ``examples`` (``json_schema_extra``), if it states any."""
    examples = model.model_json_schema(by_alias=True).get("examples")
    return examples[0] if isinstance(examples, list) and examples else None


def _operation_suffix(path: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", _PATH_PARAM.sub(lambda m: "By" + m.group(1), path))
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def build_openapi(registry: RouteRegistry, *, title: str = "opsim gateway", version: str = "0.1.0",
                  server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in the registry marked ``in_schema``."""
    refs, top = models_json_schema(_models(registry), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    scope_ops: dict[str, list[str]] = {}
    for route in registry.routes:
        if not route.in_schema:
            continue
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, refs)
        for scope in (*route.scopes, *route.any_scopes):
            scope_ops.setdefault(scope, []).append(f"{route.method} {path}")
    scope_ops = dict(sorted(scope_ops.items()))
    scopes = {scope: "Needed by " + ", ".join(ops) + "." for scope, ops in scope_ops.items()}
    events = [e for e in event_catalogue() if e.path in paths]
    bearer: Literal["bearer"] = "bearer"
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": (
            "A simulated mobile operator's partner gateway. Every non-2xx response has the CAMARA shape "
            "`{status, code, message}` except `/oauth2/token`, which answers RFC 6749 errors. Access tokens "
            "last wall-clock seconds; all other instants are simulated time.\n\n"
            + _scope_section(scope_ops) + "\n\n" + _event_section(events))},
        "x-event-types": [{"type": e.type, "subscribe": e.subscribe or None, "operation": f"{e.method} {e.path}",
                           "description": e.about} for e in events],
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": "/oauth2/token", "scopes": scopes}}},
                "bearerApiKey": {"type": "http", "scheme": bearer, "description": "An API key as a bearer token."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "rapidApiKey": {"type": "apiKey", "in": "header", "name": "x-rapidapi-key"},
                "adminToken": {"type": "http", "scheme": bearer, "description": "The operator's admin token."},
            },
        },
    }
    if server_url is not None:
        document["servers"] = [{"url": server_url}]
    _render_descriptions(document)
    return document
