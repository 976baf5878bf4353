"""Wire models of the OAuth token endpoint (``/oauth2/token``, RFC 6749 snake_case): the form, the token answer
and the OAuth error body.
"""

from __future__ import annotations

from typing import Literal

from gateway.wire.base import RfcModel

CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"
JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class TokenRequest(RfcModel):
    """Form fields of ``POST /oauth2/token`` (``application/x-www-form-urlencoded``; documentation only)."""

    grant_type: Literal["client_credentials", "urn:openid:params:grant-type:ciba",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer"]
    scope: str | None = None
    auth_req_id: str | None = None  # CIBA grant (three-legged): from POST /bc-authorize
    assertion: str | None = None  # JWT bearer grant (RFC 7523): signed with a service-account key
    client_id: str | None = None
    client_secret: str | None = None


class TokenResponse(RfcModel):
    """RFC 6749 access token response (snake_case on the wire, as the RFC names it)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str


class OAuthError(RfcModel):
    """RFC 6749 section 5.2 error body."""

    error: Literal["invalid_request", "invalid_client", "invalid_scope", "unsupported_grant_type",
                   "unauthorized_client", "authorization_pending", "slow_down", "expired_token", "access_denied",
                   "invalid_grant", "unknown_user_id"]
    error_description: str


class ServiceAccountFile(RfcModel):
    """A service-account key file in Google's format (snake_case as Google writes it), answered once: Google client
    libraries load it as it is and sign JWT bearer assertions for ``token_uri`` with ``private_key``."""

    type: Literal["service_account"] = "service_account"
    project_id: str | None = None  # the FCM project (an app id) a client sends to, when one was named
    private_key_id: str
    private_key: str  # PKCS#8 PEM; opsim keeps only the public half
    client_email: str
    client_id: str
    token_uri: str
    universe_domain: Literal["googleapis.com"] = "googleapis.com"  # so Google's libraries use the token URI


class ServiceAccountCreate(RfcModel):
    """Body of ``POST /admin/v1/partners/{partnerId}/service-accounts`` (optional)."""

    project_id: str | None = None
