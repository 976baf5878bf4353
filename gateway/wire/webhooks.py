"""Wire models of webhooks: sink credentials partners give, their signing secrets, and the operator's view of the
durable outbox (events, attempts, counts, dead letters).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from gateway.wire.base import Instant, WireModel


class SinkCredential(WireModel):
    """CAMARA ``sinkCredential``: only ``ACCESSTOKEN`` with a ``bearer`` token is supported."""

    credential_type: Literal["PLAIN", "ACCESSTOKEN", "REFRESHTOKEN"]
    identifier: str | None = None
    secret: str | None = None
    access_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    access_token_expires_utc: Instant | None = None
    access_token_type: str | None = None
    refresh_token: str | None = None
    refresh_token_endpoint: str | None = None


class WebhookSecret(WireModel):
    """The secret that signs the partner's webhooks."""

    partner_id: str
    secret: str
    rotated_at: str
    signature_header: str = "X-Opsim-Signature"
    algorithm: str = "HMAC-SHA256 of the raw body, hex, prefixed 'sha256='"


class AttemptView(WireModel):
    """One delivery attempt."""

    attempt: int
    at: Instant
    status_code: int | None = None
    error: str | None = None
    duration_ms: float


class OutboxEventView(WireModel):
    """A stored event and its delivery state."""

    event_id: str
    subscription_id: str
    partner_id: str
    type: str
    sink: str
    time: Instant
    state: str = Field(description="pending (not attempted yet), retrying (attempted, waiting in back-off), "
                                   "delivered, dead or cancelled.")
    attempts: int
    last_error: str | None = None
    history: list[AttemptView] | None = None


class OutboxList(WireModel):
    """Stored events, oldest first."""

    events: list[OutboxEventView]


class OutboxCounts(WireModel):
    """How many stored events are in each delivery state."""

    pending: int = Field(description="Stored and not attempted yet (on their way).")
    retrying: int = Field(description="Attempted, failed, waiting in back-off for their next attempt.")
    delivered: int
    dead: int
    cancelled: int


class OutboxQuery(WireModel):
    """Filters of the outbox listing."""

    state: Literal["pending", "retrying", "delivered", "dead", "cancelled"] | None = Field(
        default=None, description="Delivery state, as /admin/v1/webhooks/counts counts it.")
    subscription_id: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
