"""Partner accounts and their credentials: the service behind the admin partner API, OAuth and authentication.

Owns the rules: client credentials are checked against salted hashes, requested scopes must be a subset of the
partner's, a disabled partner's credentials stop working at once, a partner only ever sees its own keys. It
knows nothing of HTTP (handlers translate its results and errors) and reads time from two injected sources:
sim time for record stamps, wall time (``settings.wall_clock``) for credential expiry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.core.errors import NotFound
from gateway.core.ids import KEY_PREFIX, PARTNER_PREFIX, parse_public_id
from gateway.core.store import ApiKeyRow, Grant, PartnerRow, Store
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
