"""The CAMARA error body on the wire: ``{"status", "code", "message"}`` plus optional ``details``.

Owns the shape only; the errors that produce it live in :mod:`gateway.core.errors`.
"""

from __future__ import annotations

from gateway.wire.base import WireModel


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
