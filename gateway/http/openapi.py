"""The OpenAPI 3.1 document of an app, generated from its route registry and pydantic models.

Owns the translation of :class:`~gateway.http.routing.ApiRoute` declarations into paths, parameters, request bodies,
responses, security requirements and component schemas. It must not hand-write schemas that a model already
states: the models are the single source of truth for the wire format.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pydantic
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.http.routing import Access, ApiRoute, RouteRegistry
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
        scopes = list(route.scopes)
        return [{"oauth2": scopes}, {"bearerApiKey": []}, {"apiKey": []}, {"rapidApiKey": []}]
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
    if route.request_model is not None:
        operation["requestBody"] = {"required": True, "content": {
            route.request_content_type: {"schema": refs[(route.request_model, "validation")]}}}
    return operation


def _operation_suffix(path: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", _PATH_PARAM.sub(lambda m: "By" + m.group(1), path))
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def build_openapi(registry: RouteRegistry, *, title: str = "opsim gateway", version: str = "0.1.0",
                  server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in the registry marked ``in_schema``."""
    refs, top = models_json_schema(_models(registry), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    scopes: dict[str, str] = {}
    for route in registry.routes:
        if not route.in_schema:
            continue
        paths.setdefault(_PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path), {})[
            route.method.lower()] = _operation(route, refs)
        for scope in route.scopes:
            scopes[scope] = f"Required by {route.method} {route.path} (and others)."
    bearer: Literal["bearer"] = "bearer"
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": (
            "A simulated mobile operator's partner gateway. Every non-2xx response has the CAMARA shape "
            "`{status, code, message}` except `/oauth2/token`, which answers RFC 6749 errors. Access tokens "
            "last wall-clock seconds; all other instants are simulated time.")},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": "/oauth2/token", "scopes": dict(sorted(scopes.items()))}}},
                "bearerApiKey": {"type": "http", "scheme": bearer, "description": "An API key as a bearer token."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "rapidApiKey": {"type": "apiKey", "in": "header", "name": "x-rapidapi-key"},
                "adminToken": {"type": "http", "scheme": bearer, "description": "The operator's admin token."},
            },
        },
    }
    if server_url is not None:
        document["servers"] = [{"url": server_url}]
    return document
