"""The gateway's one error shape and the exceptions that produce it.

Owns ``ErrorInfo`` (CAMARA ``{"status", "code", "message"}`` plus optional ``details``), the ``GatewayError``
hierarchy whose subclasses fix status and code, the translation of simulator, pydantic (input) and aiohttp errors into
that hierarchy, and the middleware that renders them. Handlers and services raise; only this module renders.
It must not know about particular routes or services.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Awaitable, Callable
from typing import ClassVar

import pydantic
from aiohttp import http_exceptions, web

from gateway.keys import CORRELATOR
from gateway.wire import WireModel
from simulator import errors as sim_errors

log = logging.getLogger("opsim.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ErrorDetail(WireModel):
    """One problem found in a request (validation failures list one per field)."""

    field: str
    message: str


class ErrorInfo(WireModel):
    """CAMARA error body: every non-2xx response of the gateway (except ``/oauth2/token``) has this shape."""

    status: int
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose; subclasses fix ``status`` and ``code``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL"
    default_message: ClassVar[str] = "Unknown server error."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 details: list[ErrorDetail] | None = None, headers: dict[str, str] | None = None) -> None:
        self.message = message or self.default_message
        self.error_code = code or self.code
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    def info(self) -> ErrorInfo:
        """The body this error renders to."""
        return ErrorInfo(status=self.status, code=self.error_code, message=self.message, details=self.details)


class InvalidArgument(GatewayError):
    status, code = 400, "INVALID_ARGUMENT"
    default_message = "Client specified an invalid argument, request body or query param."


class OutOfRange(InvalidArgument):
    code = "OUT_OF_RANGE"
    default_message = "Client specified an invalid range."


class Unauthenticated(GatewayError):
    status, code = 401, "UNAUTHENTICATED"
    # CAMARA: a missing or bad credential is always the same generic answer, so callers learn nothing.
    default_message = "Request not authenticated due to missing, invalid, or expired credentials."


class PermissionDenied(GatewayError):
    status, code = 403, "PERMISSION_DENIED"
    default_message = "Client does not have sufficient permissions to perform this action."


class NotFound(GatewayError):
    status, code = 404, "NOT_FOUND"
    default_message = "The specified resource is not found."


class IdentifierNotFound(NotFound):
    code = "IDENTIFIER_NOT_FOUND"
    default_message = "Device identifier not found."


class MethodNotAllowed(GatewayError):
    status, code = 405, "METHOD_NOT_ALLOWED"
    default_message = "The requested method is not allowed/supported on the target resource."


class Conflict(GatewayError):
    status, code = 409, "CONFLICT"
    default_message = "A specified resource duplicate entry found."


class PayloadTooLarge(GatewayError):
    status, code = 413, "PAYLOAD_TOO_LARGE"
    default_message = "The request body is larger than the server accepts."


class UnsupportedMediaType(GatewayError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"
    default_message = "The server refuses to accept the request because the payload format is unsupported."


class Unprocessable(GatewayError):
    """422 with an API-specific code, e.g. ``Unprocessable("...", code="MISSING_IDENTIFIER")``."""

    status, code = 422, "UNPROCESSABLE_ENTITY"
    default_message = "The request is well formed but cannot be processed."


class TooManyRequests(GatewayError):
    status, code = 429, "TOO_MANY_REQUESTS"
    default_message = "Rate limit reached."


class QuotaExceeded(TooManyRequests):
    """A partner limit set by the operator (e.g. active campaigns) is used up."""

    code = "QUOTA_EXCEEDED"
    default_message = "Out of resource quota."


class Internal(GatewayError):
    status, code = 500, "INTERNAL"
    default_message = "Unknown server error."


class ServiceUnavailable(GatewayError):
    status, code = 503, "UNAVAILABLE"
    default_message = "Service unavailable."


# -- translation of foreign errors ------------------------------------------------------------------------

# Looked up along the exception's MRO, so a new SimulatorError subclass falls back to its nearest ancestor.
_SIMULATOR_ERRORS: dict[type[Exception], type[GatewayError]] = {
    sim_errors.UnknownSubscriberError: NotFound,
    sim_errors.InstantRangeError: OutOfRange,
    sim_errors.ClockError: Conflict,
    sim_errors.UnknownCityError: InvalidArgument,
    sim_errors.InvalidAreaError: InvalidArgument,
    sim_errors.AreaNotCoveredError: InvalidArgument,
    sim_errors.InvalidConfigError: InvalidArgument,
    sim_errors.DuplicateSubscriberError: Conflict,
    sim_errors.SimulatorError: InvalidArgument,
}

_HTTP_STATUS_ERRORS: dict[int, type[GatewayError]] = {
    400: InvalidArgument, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 413: PayloadTooLarge, 415: UnsupportedMediaType, 422: Unprocessable, 429: TooManyRequests,
    503: ServiceUnavailable,
}


def from_simulator(exc: sim_errors.SimulatorError) -> GatewayError:
    """The gateway error a simulator error stands for (its message is meant for users)."""
    for klass in type(exc).__mro__:
        target = _SIMULATOR_ERRORS.get(klass)
        if target is not None:
            return target(str(exc))
    return InvalidArgument(str(exc))  # pragma: no cover - SimulatorError itself is in the table


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def from_validation(exc: pydantic.ValidationError, where: str = "body") -> InvalidArgument:
    """400 INVALID_ARGUMENT listing every failed field (names as on the wire)."""
    details = [ErrorDetail(field=f"{where}.{_location(err['loc'])}" if err["loc"] else where,
                           message=err["msg"]) for err in exc.errors(include_url=False)]
    return InvalidArgument("Request does not match the schema.", details=details)


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


_REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [\x21-\x7e]+ HTTP/1\.[01]")
_QUOTED_BYTES = re.compile(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"")


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


# -- rendering ------------------------------------------------------------------------------------------

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
