"""Rendering of errors: the middleware that turns every exception into the one error shape.

Owns the translation of aiohttp's own HTTP errors and the JSON rendering; the error classes live in
:mod:`gateway.core.errors`, the body in :mod:`gateway.wire.errors`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Awaitable, Callable

import pydantic
from aiohttp import http_exceptions, web

from gateway.core.errors import (
    Conflict,
    GatewayError,
    Internal,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
    Unprocessable,
    UnsupportedMediaType,
    from_simulator,
    log,
)
from gateway.http.keys import CORRELATOR
from simulator import errors as sim_errors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_HTTP_STATUS_ERRORS: dict[int, type[GatewayError]] = {
    400: InvalidArgument, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 413: PayloadTooLarge, 415: UnsupportedMediaType, 422: Unprocessable, 429: TooManyRequests,
    503: ServiceUnavailable,
}


def from_http_exception(exc: web.HTTPException) -> GatewayError:
    """aiohttp's own errors (unknown route, wrong method, body too large...) in the gateway's shape."""
    target = _HTTP_STATUS_ERRORS.get(exc.status)
    headers = {}
    if exc.status == 405 and "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    if target is None:
        err: GatewayError = Internal() if exc.status >= 500 else InvalidArgument(exc.reason)
        return err
    message = None if exc.status in (404, 405) else exc.text or None
    if exc.status == 413:
        message = "The request body is larger than the server accepts."
    return target(message, headers=headers)


def render(error: GatewayError) -> web.Response:
    """The JSON response of an error (status, CAMARA body, extra headers)."""
    body = error.info().model_dump_json(by_alias=True, exclude_none=True)
    return web.Response(status=error.status, text=body, content_type="application/json", headers=error.headers)


def correlator_of(request: web.Request) -> str:
    """The correlator the request runs under (set by the outer middleware)."""
    return str(request.get(CORRELATOR, "-"))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every exception as the one error shape; log the unexpected ones with the correlator."""
    try:
        return await handler(request)
    except GatewayError as exc:
        return render(exc)
    except sim_errors.SimulatorError as exc:
        return render(from_simulator(exc))
    except pydantic.ValidationError:
        # Inputs are validated by routing.read_json/read_query/validate_input, which raise InvalidArgument; a
        # ValidationError reaching here comes from building a *response* and is a server bug, not bad input.
        log.exception("response validation failed, correlator=%s", correlator_of(request))
        return render(Internal())
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like are not errors
        return render(from_http_exception(exc))
    except http_exceptions.HttpProcessingError as exc:  # a body aiohttp could not decode (bad chunks, encoding)
        return render(from_protocol_error(400, exc))
    except Exception:
        log.exception("unhandled error, correlator=%s", correlator_of(request))
        return render(Internal())


_QUOTED_BYTES = re.compile(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"")
_REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [\x21-\x7e]+ HTTP/1\.[01]")


def _well_formed_request_line(exc: http_exceptions.BadHttpMethod) -> bool:
    """Whether the refused request line was ``<token> <target> HTTP/1.x``: llhttp quotes it in its message."""
    quoted = _QUOTED_BYTES.search(exc.message)
    if quoted is None:  # the pure-Python parser refuses only methods that are not tokens
        return False
    try:
        line = ast.literal_eval(quoted.group())
    except (ValueError, SyntaxError):
        return False
    return isinstance(line, bytes) and _REQUEST_LINE.fullmatch(line) is not None


def from_protocol_error(status: int, exc: BaseException | None) -> GatewayError:
    """A request aiohttp's HTTP parser refused (or a failure outside every middleware) in the gateway's shape.

    aiohttp's own text is not echoed: it quotes the raw bytes of the request.
    """
    if isinstance(exc, http_exceptions.BadHttpMethod) and _well_formed_request_line(exc):
        # llhttp refuses methods it does not know (FOO) before any routing: the same answer as a known method
        # a path does not serve, without ``Allow`` since the path was never routed.
        return MethodNotAllowed("The request method is not supported.")
    if isinstance(exc, http_exceptions.LineTooLong):
        return InvalidArgument("The request line or a header field is too long (at most 8190 bytes).")
    if isinstance(exc, http_exceptions.InvalidURLError):
        return InvalidArgument("The request target is not a valid URL path.")
    if isinstance(exc, http_exceptions.BadStatusLine):
        return InvalidArgument("The request line is malformed.")
    if isinstance(exc, http_exceptions.HttpProcessingError) or 400 <= status < 500:
        return InvalidArgument("The HTTP request is malformed.")
    if status == 504:
        return ServiceUnavailable("The request took too long.")
    return Internal()
