"""Wire models of the OAuth token endpoint (``/oauth2/token``, RFC 6749 snake_case): the form, the token answer
and the OAuth error body.
"""

from __future__ import annotations

from typing import Literal

from gateway.wire.base import RfcModel

CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"


class TokenRequest(RfcModel):
    """Form fields of ``POST /oauth2/token`` (``application/x-www-form-urlencoded``; documentation only)."""

    grant_type: Literal["client_credentials", "urn:openid:params:grant-type:ciba"]
    scope: str | None = None
    auth_req_id: str | None = None  # CIBA grant (three-legged): from POST /bc-authorize
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
