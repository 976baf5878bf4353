"""Route declarations and the request/response plumbing every handler uses.

Owns :class:`RouteTable` (what a resource module declares: method, path, summary, access, scopes, models),
:class:`RouteRegistry` (installs tables into an app, finds the declaration of a matched request, feeds the
OpenAPI document) and the helpers that turn a request into a validated model and a model into a response.
Resource modules in ``gateway/http/api/`` and ``gateway/http/camara/`` each expose ``routes: RouteTable``;
:data:`gateway.http.app.API_MODULES` lists them.
This module must not hold any state of its own beyond what an app owns.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pydantic
from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from gateway.core.errors import InvalidArgument, UnsupportedMediaType, from_validation
from gateway.wire.base import WireModel

M = TypeVar("M", bound=pydantic.BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Access(enum.Enum):
    """Who may call a route."""

    PUBLIC = "public"  # no credential (health, docs, the token endpoint)
    PARTNER = "partner"  # OAuth access token or API key of an enabled partner
    ADMIN = "admin"  # the operator's admin token only


PartnerOf = Callable[[web.Request], Awaitable[str | None]]
"""The wire id of the partner a request authenticates as (``None``: no valid credential)."""
FaultAnswer = Callable[[int, int | None], web.Response]
"""An injected error ``(status, retry_after_s)`` in a route's own error model."""


@dataclass(frozen=True)
class FaultModel:
    """How fault injection (:mod:`gateway.http.faults`) reaches a route that authenticates in its handler
    (declared :attr:`Access.PUBLIC` because it answers in another API's error model): who the caller is, and how
    an injected error reads."""

    partner: PartnerOf
    """Resolves the caller as the handler would; ``None`` (unauthenticated) means no fault: its normal 401."""
    answer: FaultAnswer | None = None
    """Renders an injected error; ``None``: raised as the gateway's CAMARA error."""


@dataclass(frozen=True)
class ApiRoute:
    """Everything the gateway knows about one route: how to serve it, who may call it, how to document it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    access: Access
    scopes: tuple[str, ...] = ()
    request_model: type[pydantic.BaseModel] | None = None
    response_model: type[pydantic.BaseModel] | None = None
    query_model: type[pydantic.BaseModel] | None = None
    status: int = 200
    request_content_type: str = "application/json"
    response_content_type: str = "application/json"
    errors: tuple[int, ...] = ()
    in_schema: bool = True
    description: str = ""
    also: tuple[tuple[int, type[pydantic.BaseModel]], ...] = ()
    """Other success answers as (status, model): an idempotent replay's 200, an asynchronous 202."""
    changes_world: bool = False
    """The handler changes the world or what is scheduled on its clock: it runs under the control plane's lock
    (taken by :func:`gateway.http.serialise.serialise_middleware`, never by the handler)."""
    idempotent: bool = False
    """The handler reads the ``Idempotency-Key`` request header (:func:`idempotency_key`): documented as such."""
    any_scopes: tuple[str, ...] = ()
    """Scopes of which one is needed, depending on the request (e.g. the create scope of the requested event type):
    documented only, the handler checks which."""
    example: dict[str, Any] | None = None
    """A request body example (wire names; form fields for a form body), shown by /docs and its try-it form."""
    faults: FaultModel | None = None
    """Fault injection on a public route that authenticates in its handler (partner routes take it anyway)."""


@dataclass
class RouteTable:
    """The routes of one resource module, declared with decorators::

        routes = RouteTable("partners")

        @routes.get("/partner/v1/me", summary="Who am I", access=Access.PARTNER, response=Me)
        async def me(request: web.Request) -> web.Response: ...
    """

    tag: str
    routes: list[ApiRoute] = field(default_factory=list)

    def route(self, method: str, path: str, *, summary: str, access: Access, scopes: tuple[str, ...] = (),
              request: type[pydantic.BaseModel] | None = None, response: type[pydantic.BaseModel] | None = None,
              query: type[pydantic.BaseModel] | None = None, status: int = 200,
              request_content_type: str = "application/json", response_content_type: str = "application/json",
              errors: tuple[int, ...] = (), in_schema: bool = True, description: str = "",
              also: tuple[tuple[int, type[pydantic.BaseModel]], ...] = (), changes_world: bool = False,
              idempotent: bool = False,
              any_scopes: tuple[str, ...] = (), example: dict[str, Any] | None = None,
              faults: FaultModel | None = None,
              ) -> Callable[[Handler], Handler]:
        """Declare a route served by the decorated handler (``changes_world``: serialised with every other
        world-changing request and the paced clock; ``any_scopes``, ``example`` and ``faults``: see
        :class:`ApiRoute`)."""

        def register(handler: Handler) -> Handler:
            self.routes.append(ApiRoute(
                method=method, path=path, handler=handler, summary=summary, tag=self.tag, access=access,
                scopes=scopes, request_model=request, response_model=response, query_model=query, status=status,
                request_content_type=request_content_type, response_content_type=response_content_type,
                errors=errors, in_schema=in_schema, description=description or (handler.__doc__ or "").strip(),
                also=also, changes_world=changes_world, idempotent=idempotent, any_scopes=any_scopes,
                example=example, faults=faults,
            ))
            return handler

        return register

    def get(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Declare a GET route (see :meth:`route`)."""
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Declare a POST route (see :meth:`route`)."""
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Declare a PUT route (see :meth:`route`)."""
        return self.route("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Declare a DELETE route (see :meth:`route`)."""
        return self.route("DELETE", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Declare a PATCH route (see :meth:`route`)."""
        return self.route("PATCH", path, **kwargs)


class RouteRegistry:
    """All routes of one app, installed into its router and looked up per request."""

    def __init__(self) -> None:
        self.routes: list[ApiRoute] = []
        self._by_route: dict[AbstractRoute, ApiRoute] = {}

    def install(self, app: web.Application, table: RouteTable) -> None:
        """Add a module's routes to ``app``'s router."""
        for api_route in table.routes:
            # HEAD is not added implicitly for GET: the registry must describe exactly what is served.
            route = app.router.add_route(api_route.method, api_route.path, api_route.handler)
            self._by_route[route] = api_route
            self.routes.append(api_route)

    def lookup(self, request: web.Request) -> ApiRoute | None:
        """The declaration of the route a request matched (``None`` for unmatched requests)."""
        return self._by_route.get(request.match_info.route)

    def world_changing(self) -> list[ApiRoute]:
        """The routes declared with ``changes_world=True``, the ones served under the control plane's lock."""
        return [r for r in self.routes if r.changes_world]


def route_label(request: web.Request) -> str:
    """Low-cardinality route name for logs and metrics: the path template, or ``unmatched``."""
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    resource = info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# -- parsing and serialising -------------------------------------------------------------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"
UTF8_CHARSETS = frozenset({"utf-8", "utf8"})
"""The only ``charset`` a request body may declare (JSON is UTF-8 by RFC 8259; so are OAuth forms)."""


def visible_ascii(value: str) -> bool:
    """Whether a header value is printable ASCII, as every credential, key and correlator the gateway accepts is.

    aiohttp hands header bytes that are not UTF-8 over as surrogate escapes; such values must be refused before
    they reach hashing, SQLite or a response.
    """
    return value.isascii() and value.isprintable()


def idempotency_key(request: web.Request) -> str | None:
    """The request's ``Idempotency-Key`` (its first 200 characters), ``None`` when absent or empty.

    400 unless printable ASCII (the header is a structured-field string, RFC 8941).
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return None
    if not visible_ascii(key):
        raise InvalidArgument("Idempotency-Key must be printable ASCII.")
    return key[:200]


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (content_type.startswith("application/")
                                                   and content_type.endswith("+json"))


def _check_json(request: web.Request) -> None:
    """415 unless the request declares a UTF-8 JSON body."""
    if not _is_json(request.content_type):
        raise UnsupportedMediaType(f"Expected Content-Type application/json, got {request.content_type}.")
    if request.charset is not None and request.charset.lower() not in UTF8_CHARSETS:
        raise UnsupportedMediaType("JSON bodies must be UTF-8: send Content-Type application/json "
                                   "(optionally with charset=utf-8).")


async def prefetch_json(request: web.Request) -> None:
    """Read a declared JSON body into the request's cache, so that :func:`read_json` no longer waits on the client.

    Does nothing for a body :func:`read_json` would refuse unread (wrong media type), so its answers keep their
    order; a body past the size limit is refused here as it would be there (413).
    """
    if request.body_exists:
        try:
            _check_json(request)
        except UnsupportedMediaType:
            return
        await request.read()


async def read_json(request: web.Request, model: type[M]) -> M:
    """The request body validated as ``model``: 415 unless UTF-8 JSON, 400 if malformed or off-schema.

    A ``charset`` other than UTF-8 is refused rather than guessed at. Validation is strict (no string-to-number
    coercion) and by wire name only (camelCase).
    """
    _check_json(request)
    raw = await request.read()  # raises 413 past client_max_size (cached: a second read returns the same bytes)
    if not raw.strip():
        raise InvalidArgument("Request body is empty; a JSON object is expected.")
    try:
        return model.model_validate_json(raw, strict=True, by_alias=True, by_name=False)
    except pydantic.ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise InvalidArgument("Request body is not valid JSON.") from None
        raise from_validation(exc) from None


def read_query(request: web.Request, model: type[M]) -> M:
    """Query parameters validated as ``model`` (lax: query values are strings by nature)."""
    params: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        params[key] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(params, by_alias=True, by_name=False)
    except pydantic.ValidationError as exc:
        raise from_validation(exc, where="query") from None


def validate_input(model: type[M], data: Any, where: str = "body") -> M:
    """Validate already-parsed input (e.g. a path segment or form) as ``model``: 400 with details if it fails."""
    try:
        return model.model_validate(data, by_alias=True, by_name=False)
    except pydantic.ValidationError as exc:
        raise from_validation(exc, where=where) from None


def json_response(model: WireModel | pydantic.BaseModel, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    """Serialise a model as camelCase JSON (``None`` fields omitted)."""
    return web.Response(status=status, text=model.model_dump_json(by_alias=True, exclude_none=True),
                        content_type="application/json", headers=headers)


def no_content() -> web.Response:
    """An empty 204 response."""
    return web.Response(status=204)
