"""Partner accounts and their credentials: the service behind the admin partner API, OAuth and authentication.

Owns the rules: client credentials are checked against salted hashes, requested scopes must be a subset of the
partner's, a disabled partner's credentials stop working at once, a partner only ever sees its own keys. It
knows nothing of HTTP (handlers translate its results and errors) and reads time from two injected sources:
sim time for record stamps, wall time (``settings.wall_clock``) for credential expiry.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from gateway.core.errors import NotFound
from gateway.core.ids import KEY_PREFIX, PARTNER_PREFIX, parse_public_id, partner_public_id
from gateway.core.store import ApiKeyRow, Grant, PartnerRow, ServiceAccountKey, Store
from gateway.wire.base import format_instant

"""The largest counter an id may carry: SQLite integers are 64-bit, so a larger number is no row of ours."""




@dataclass(frozen=True)
class IssuedToken:
    """An access token as returned once to the partner."""

    access_token: str
    expires_in: int
    scopes: tuple[str, ...]


class InvalidClient(Exception):
    """Client authentication failed (unknown id, wrong secret, disabled partner)."""


class InvalidScope(Exception):
    """Requested scopes are not all granted to the partner."""


class InvalidGrant(Exception):
    """A JWT bearer assertion that cannot be accepted (RFC 7523 ``invalid_grant``); the message says why."""


ASSERTION_MAX_LIFETIME_S = 3600
"""The longest an assertion may be valid (``exp - iat``), as Google's token endpoint allows."""
CLOCK_SKEW_S = 60
"""How far the assertion's signer's clock may be off the gateway's wall clock."""
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
"""The audience Google's own libraries (google-auth) write into every assertion, whatever the file's token URI."""


@dataclass(frozen=True)
class ServiceAccount:
    """A new service-account key as answered once: its public record, the private key (PKCS#8 PEM) and the
    partner's OAuth client id."""

    key: ServiceAccountKey
    private_key: str
    client_id: str


class PartnerService:
    """Creates partners and keys, issues tokens, resolves presented credentials."""

    def __init__(self, store: Store, sim_now: Callable[[], datetime], wall_clock: Callable[[], float],
                 token_lifetime_s: int) -> None:
        self._store = store
        self._sim_now = sim_now
        self._wall = wall_clock
        self._lifetime = token_lifetime_s

    def _stamp(self) -> str:
        return format_instant(self._sim_now())

    # -- operator side -------------------------------------------------------------------------------------
    def create(self, name: str, scopes: tuple[str, ...], limits: dict[str, Any]) -> tuple[PartnerRow, str, str]:
        """New partner; returns it with its client id and secret (the secret is never retrievable again)."""
        unique = tuple(dict.fromkeys(scopes))  # keep the order given, drop repeats
        return self._store.create_partner(name, unique, limits, self._stamp())

    def get(self, public_id: str) -> PartnerRow:
        """A partner by wire id, 404 when unknown."""
        number = parse_public_id(public_id, PARTNER_PREFIX)
        partner = None if number is None else self._store.get_partner(number)
        if partner is None:
            raise NotFound(f"Partner {public_id} not found.")
        return partner

    def all(self) -> list[PartnerRow]:
        """All partners."""
        return self._store.list_partners()

    def client_id(self, partner: PartnerRow) -> str:
        """Client id of a partner's credential."""
        return self._store.client_id_of(partner.id) or ""

    def set_disabled(self, public_id: str, disabled: bool) -> PartnerRow:
        """Disable or re-enable a partner."""
        partner = self.get(public_id)
        self._store.set_partner_disabled(partner.id, disabled)
        return self.get(public_id)

    def issue_key(self, public_id: str) -> tuple[ApiKeyRow, str]:
        """New API key for a partner; the clear key is returned once."""
        partner = self.get(public_id)
        return self._store.create_api_key(partner.id, self._stamp())

    def keys(self, partner_id: int) -> list[ApiKeyRow]:
        """A partner's API keys."""
        return self._store.list_api_keys(partner_id)

    def key(self, partner_id: int, public_key_id: str) -> ApiKeyRow:
        """One of the partner's keys; another partner's key is 404, like a key that does not exist."""
        number = parse_public_id(public_key_id, KEY_PREFIX)
        row = None if number is None else self._store.get_api_key(partner_id, number)
        if row is None:
            raise NotFound(f"API key {public_key_id} not found.")
        return row

    def revoke_key(self, partner_id: int, public_key_id: str) -> None:
        """Revoke one of the partner's keys (404 if it is not theirs)."""
        row = self.key(partner_id, public_key_id)
        self._store.revoke_api_key(partner_id, row.id)

    # -- OAuth client credentials --------------------------------------------------------------------------
    def issue_token(self, client_id: str, client_secret: str, requested: tuple[str, ...] | None) -> IssuedToken:
        """Client-credentials grant: check the client, narrow the scopes, issue a token."""
        partner = self._store.check_client(client_id, client_secret)
        if partner is None or partner.disabled:
            raise InvalidClient
        return self._token(partner, requested)

    def _token(self, partner: PartnerRow, requested: tuple[str, ...] | None) -> IssuedToken:
        """A token for ``partner`` with ``requested`` of its scopes (all of them when ``None``)."""
        if requested is None:
            scopes = partner.scopes
        else:
            missing = sorted(set(requested) - set(partner.scopes))
            if missing:
                raise InvalidScope(f"scope not granted to this client: {' '.join(missing)}")
            scopes = tuple(dict.fromkeys(requested))
        now = self._wall()
        self._store.purge_tokens(now)  # keeps the table small without a background job
        token = self._store.create_token(partner.id, scopes, now + self._lifetime)
        return IssuedToken(token, self._lifetime, scopes)

    def create_service_account(self, public_id: str, token_uri: str) -> ServiceAccount:
        """A new RSA key for the partner's service account (404 for an unknown partner): the gateway keeps the
        public half; assertions signed with the private half, addressed to ``token_uri``, are exchanged for tokens
        (:meth:`issue_token_for_assertion`)."""
        partner = self.get(public_id)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        key = ServiceAccountKey(
            key_id, partner.id, f"opsim-{key_id[:12]}@{partner_public_id(partner.id)}.iam.opsim.test",
            private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode(), token_uri)
        self._store.add_service_account_key(key, self._stamp())
        return ServiceAccount(key, private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
                              self._store.client_id_of(partner.id) or "")

    def issue_token_for_assertion(self, assertion: str) -> IssuedToken:
        """JWT bearer grant (RFC 7523), as Google service-account credentials use it: an RS256 assertion whose
        ``kid`` names a service-account key, signed by it, ``iss`` its client e-mail, ``aud`` its token URI (or
        Google's, which google-auth always writes), valid
        now (``iat``/``exp`` on the wall clock, at most an hour apart). Its ``scope`` narrows the partner's scopes
        by the opsim scope names it holds; URL scopes (``https://www.googleapis.com/auth/...``) are Google's and
        grant nothing more or less."""
        try:
            kid = jwt.get_unverified_header(assertion).get("kid")
        except jwt.PyJWTError:
            raise InvalidGrant("the assertion is not a JWT") from None
        key = self._store.service_account_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidGrant("the assertion's kid names no service-account key")
        try:
            claims = jwt.decode(assertion, key.public_key, algorithms=["RS256"],
                                audience=[key.token_uri, GOOGLE_TOKEN_URI],
                                issuer=key.client_email,
                                options={"require": ["exp", "iat", "iss", "aud"], "verify_exp": False,
                                         "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise InvalidGrant(f"the assertion does not verify: {exc}") from None
        issued, expires = claims["iat"], claims["exp"]
        if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in (issued, expires)):
            raise InvalidGrant("iat and exp must be numbers")
        now = self._wall()
        if expires <= now - CLOCK_SKEW_S:
            raise InvalidGrant("the assertion has expired")
        if issued > now + CLOCK_SKEW_S:
            raise InvalidGrant("the assertion is issued in the future")
        if expires - issued > ASSERTION_MAX_LIFETIME_S + CLOCK_SKEW_S:
            raise InvalidGrant(f"the assertion is valid for more than {ASSERTION_MAX_LIFETIME_S} s")
        partner = self._store.get_partner(key.partner_id)
        if partner is None or partner.disabled:
            raise InvalidGrant("the service account's partner is disabled")
        scope = claims.get("scope")
        if scope is not None and not isinstance(scope, str):
            raise InvalidGrant("scope must be a string")
        requested = tuple(name for name in (scope or "").split() if "://" not in name)
        return self._token(partner, requested or None)

    def limit(self, partner_id: int, name: str) -> float | None:
        """One of the partner's limits by its wire name (e.g. ``maxCampaigns``), ``None`` when unlimited."""
        row = self._store.get_partner(partner_id)
        value = None if row is None else row.limits.get(name)
        return None if value is None else float(value)

    def rate_limit(self, partner_id: int) -> float | None:
        """The partner's ``requestsPerSecond`` limit, ``None`` when unlimited (0 is treated as unlimited)."""
        return self.limit(partner_id, "requestsPerSecond") or None

    # -- request authentication ----------------------------------------------------------------------------
    def resolve(self, credential: str) -> Grant | None:
        """What a bearer credential (access token or API key) grants, ``None`` if nothing valid."""
        if credential.startswith("opsim_key_"):
            grant = self._store.resolve_api_key(credential)
        else:
            grant = self._store.resolve_token(credential, self._wall())
        if grant is None or grant.disabled:
            return None
        return grant
