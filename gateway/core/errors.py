"""The gateway's one error shape and the exceptions that produce it.

Owns the ``GatewayError`` hierarchy, whose subclasses fix the status and CAMARA code of the body
(:class:`gateway.wire.errors.ErrorInfo`: ``{"status", "code", "message"}`` plus optional ``details``), and the
translation of simulator and pydantic (input) errors into that hierarchy. Services and handlers raise; the one
place that renders is the HTTP floor's middleware (:mod:`gateway.http.middleware`, which also translates aiohttp's
own errors). It must not know about HTTP, particular routes or services.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import pydantic

from gateway.wire.errors import ErrorDetail, ErrorInfo
from simulator import errors as sim_errors

log = logging.getLogger("opsim.gateway")


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


class InvalidMessage(InvalidArgument):
    """A message breaks a channel limit (sender name, text, segments, title); the code names the API that refused
    it: ``InvalidMessage("...", api="CAMPAIGNS")`` is ``400 CAMPAIGNS.INVALID_MESSAGE``."""

    code = "INVALID_MESSAGE"
    default_message = "The message breaks a channel limit."

    def __init__(self, message: str | None = None, *, api: str) -> None:
        super().__init__(message, code=f"{api}.{self.code}")


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


class BadGateway(GatewayError):
    status, code = 502, "BAD_GATEWAY"
    default_message = "An upstream server answered badly."


class GatewayTimeout(GatewayError):
    status, code = 504, "TIMEOUT"
    default_message = "Request timeout exceeded."


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
    sim_errors.NotAttachedError: Conflict,
    sim_errors.SimulatorError: InvalidArgument,
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
