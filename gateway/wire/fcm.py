"""Wire models of the FCM HTTP v1 compatible send (``POST /v1/projects/{projectId}/messages:send``).

Owns the request body (``{"message": {...}, "validate_only": bool}``), its answer ``{"name": ...}`` and the FCM
error body ``{"error": {"code", "message", "status", "details": [...]}}``. Field names follow the proto3 JSON
mapping of ``google.firebase.fcm.v1.Message``: both ``snake_case`` and ``lowerCamelCase`` are accepted, unknown
names are refused (as FCM does). Free-form parts (an Android notification's options, the APNs payload) are kept as
JSON objects. Also the Instance ID API's topic management bodies (``/iid/v1:batchAdd``, ``:batchRemove``) and its
error body ``{"error": "<reason>"}``. It must not know about HTTP nor about delivery.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

DURATION = r"^[0-9]{1,12}(\.[0-9]{1,9})?s$"
"""A protobuf Duration in JSON: seconds with an ``s`` suffix (``"3600s"``, ``"3.5s"``)."""


class FcmModel(BaseModel):
    """Base of FCM bodies: snake_case or camelCase on input, unknown fields refused, strict types."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                              extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Notification(FcmModel):
    """The basic notification template shown on every platform."""

    title: Annotated[str, StringConstraints(max_length=1024)] | None = None
    body: Annotated[str, StringConstraints(max_length=4096)] | None = None
    image: Annotated[str, StringConstraints(max_length=2048)] | None = None


class FcmOptions(FcmModel):
    """Options of the FCM SDK on every platform."""

    analytics_label: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9-_.~%]{1,50}$")] | None = None


DataMap = dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], str]


class AndroidConfig(FcmModel):
    """Android-specific options (``ttl`` decides how long an unreachable device's message is kept)."""

    collapse_key: str | None = None
    priority: Literal["NORMAL", "HIGH"] | None = None
    ttl: Annotated[str, StringConstraints(pattern=DURATION)] | None = None
    restricted_package_name: str | None = None
    data: DataMap | None = None
    notification: dict[str, Any] | None = None
    fcm_options: FcmOptions | None = None
    direct_boot_ok: bool | None = None


class ApnsConfig(FcmModel):
    """APNs-specific options: headers (``apns-expiration`` in epoch seconds) and the raw payload."""

    headers: dict[str, str] | None = None
    payload: dict[str, Any] | None = None
    fcm_options: dict[str, Any] | None = None
    live_activity_token: str | None = None


class WebpushConfig(FcmModel):
    """Web push options (accepted for compatibility; the simulated installs are phones)."""

    headers: dict[str, str] | None = None
    data: DataMap | None = None
    notification: dict[str, Any] | None = None
    fcm_options: dict[str, Any] | None = None


class Message(FcmModel):
    """One message to exactly one target: ``token``, ``topic`` or ``condition``."""

    name: str | None = None
    data: DataMap | None = None
    notification: Notification | None = None
    android: AndroidConfig | None = None
    webpush: WebpushConfig | None = None
    apns: ApnsConfig | None = None
    fcm_options: FcmOptions | None = None
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    topic: Annotated[str, StringConstraints(pattern=r"^(/topics/)?[a-zA-Z0-9-_.~%]{1,900}$")] | None = None
    condition: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Message:
        targets = [t for t in (self.token, self.topic, self.condition) if t is not None]
        if len(targets) != 1:
            raise ValueError("exactly one of token, topic or condition must be set")
        return self


class SendRequest(FcmModel):
    """The body of ``messages:send``."""

    validate_only: bool = False
    message: Message


class SendResponse(BaseModel):
    """The sent message's resource name ``projects/{projectId}/messages/{messageId}``."""

    name: str


class ErrorDetail(BaseModel):
    """A typed detail of an FCM error (``FcmError`` with its ``errorCode``, or ``BadRequest`` field violations)."""

    model_config = ConfigDict(populate_by_name=True)

    type: str = Field(alias="@type")
    error_code: str | None = Field(default=None, alias="errorCode")
    field_violations: list[dict[str, str]] | None = Field(default=None, alias="fieldViolations")


class ErrorStatus(BaseModel):
    """The Google API error status."""

    code: int
    message: str
    status: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """FCM's error response ``{"error": {...}}``."""

    error: ErrorStatus


class TopicBatchRequest(BaseModel):
    """Instance ID API ``:batchAdd`` / ``:batchRemove`` body: a topic and up to 1000 registration tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    to: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    """``/topics/<name>`` (or the bare name)."""
    registration_tokens: list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=1000)


class TopicResult(BaseModel):
    """The outcome for one token, in request order: ``{}`` when done, else ``{"error": "NOT_FOUND"}`` (unknown,
    refreshed or uninstalled token) or ``{"error": "PERMISSION_DENIED"}`` (another partner's app)."""

    error: str | None = None


class TopicBatchResponse(BaseModel):
    """Instance ID API batch answer."""

    results: list[TopicResult]


class IidError(BaseModel):
    """Instance ID API error body ``{"error": "<reason>"}`` (what the Firebase Admin SDKs read)."""

    error: str
