"""Three-legged consent: OpenID Connect CIBA (Client-Initiated Backchannel Authentication), simulated.

A partner asks to act for one subscriber (``login_hint=tel:+…``) for API scopes and exactly one ``dpv:`` purpose;
the simulated subscriber answers when the partner polls the token endpoint with the CIBA grant. By default the
answer follows the subscriber's consent (location scopes need ``LOCATION_SHARING``); the operator can make a
subscriber approve, deny or leave requests pending through the admin API. An approved request yields one access
token bound to the subscriber (``AuthContext.subscriber``). Requests and policies live in the store; expiry is
wall time like every credential. This module owns the rules and errors of the flow; it knows nothing of HTTP.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Literal

from gateway.core.settings import Settings
from gateway.core.store import Store
from gateway.services.partners import InvalidClient, IssuedToken
from simulator.errors import UnknownSubscriberError
from simulator.world import World

PolicyMode = Literal["consent", "approve", "deny", "pending"]
POLICY_MODES: tuple[PolicyMode, ...] = ("consent", "approve", "deny", "pending")
LOCATION_SCOPE_PREFIXES = ("location-verification:", "location-retrieval:", "geofencing-subscriptions:")
TWO_LEGGED_ONLY_PREFIXES = ("region-device-count:", "population-density-data:")


class CibaError(Exception):
    """An OAuth/CIBA error: ``error`` is the RFC/CIBA code, ``status`` the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class AuthRequest:
    """An accepted backchannel authentication request."""

    auth_req_id: str
    expires_in: int
    interval: int


def msisdn_of_login_hint(login_hint: str) -> str:
    """``tel:+491511234567`` → ``+491511234567`` (CAMARA login hints are ``tel:`` URIs with an E.164 number)."""
    if not login_hint.startswith("tel:"):
        raise CibaError("invalid_request", "login_hint must be a tel: URI with an E.164 number")
    number = login_hint[4:]
    if not number.startswith("+") or not number[1:].isdigit() or not 5 <= len(number) - 1 <= 15:
        raise CibaError("invalid_request", "login_hint must be a tel: URI with an E.164 number")
    return number


class CibaService:
    """Backchannel authentication requests, the simulated subscribers' answers, and the tokens they yield."""

    def __init__(self, store: Store, world: World, settings: Settings) -> None:
        self.store = store
        self.world = world
        self.settings = settings

    def authorize(self, client_id: str, client_secret: str, scope: str | None, login_hint: str | None) -> AuthRequest:
        """``POST /bc-authorize``: check the client, the scopes and purpose, find the subscriber."""
        partner = self.store.check_client(client_id, client_secret)
        if partner is None or partner.disabled:
            raise InvalidClient
        if not scope or not scope.strip():
            raise CibaError("invalid_scope", "scope is required")
        if not login_hint:
            raise CibaError("invalid_request", "login_hint is required")
        api_scopes, purpose = self._scopes(partner.scopes, scope)
        msisdn = msisdn_of_login_hint(login_hint)
        try:
            subscriber = self.world.find_subscriber(msisdn)
        except UnknownSubscriberError:
            raise CibaError("unknown_user_id", "login_hint does not identify a subscriber") from None
        return self._request(partner.id, subscriber, msisdn, api_scopes, purpose, None)

    def network_authenticate(self, partner_id: int, subscriber: int, msisdn: str, scope: str) -> AuthRequest:
        """The subscriber's device authenticated for the partner by the mobile network itself (no user
        interaction, ``amr`` ``nba``): an already approved request whose ``auth_req_id`` the partner redeems at
        the token endpoint with the CIBA grant (the simulated stand-in for OIDC ``prompt=none`` on mobile data)."""
        partner = self.store.get_partner(partner_id)
        assert partner is not None
        api_scopes, purpose = self._scopes(partner.scopes, scope)
        return self._request(partner_id, subscriber, msisdn, api_scopes, purpose, "nba")

    @staticmethod
    def _scopes(granted: tuple[str, ...], scope: str | None) -> tuple[tuple[str, ...], str]:
        """(API scopes, dpv: purpose) of a requested scope string, checked against the partner's scopes."""
        if not scope or not scope.strip():
            raise CibaError("invalid_scope", "scope is required")
        words = scope.split()
        purposes = [w for w in words if w.startswith("dpv:")]
        if len(purposes) != 1:
            raise CibaError("invalid_scope", "scope must name exactly one dpv: purpose")
        api_scopes = tuple(dict.fromkeys(w for w in words if w != "openid" and not w.startswith("dpv:")))
        if not api_scopes:
            raise CibaError("invalid_scope", "scope must name at least one API scope")
        two_legged = [s for s in api_scopes if s.startswith(TWO_LEGGED_ONLY_PREFIXES)]
        if two_legged:
            raise CibaError("invalid_scope", f"these APIs take two-legged tokens only: {' '.join(two_legged)}")
        missing = sorted(set(api_scopes) - set(granted))
        if missing:
            raise CibaError("invalid_scope", f"scope not granted to this client: {' '.join(missing)}")
        return api_scopes, purposes[0]

    def _request(self, partner_id: int, subscriber: int, msisdn: str, api_scopes: tuple[str, ...], purpose: str,
                 amr: str | None) -> AuthRequest:
        auth_req_id = "ciba_" + secrets.token_urlsafe(24)
        lifetime = self.settings.ciba_request_lifetime_s
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO ciba_requests(auth_req_id, partner_id, subscriber, msisdn, scopes, purpose, "
                         "expires_at, amr) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (auth_req_id, partner_id, subscriber, msisdn, json.dumps(list(api_scopes)), purpose,
                          self.settings.wall_clock() + lifetime, amr))
        return AuthRequest(auth_req_id, lifetime, self.settings.ciba_poll_interval_s)

    def exchange(self, client_id: str, client_secret: str, auth_req_id: str | None) -> IssuedToken:
        """Token endpoint, CIBA grant: the token once the subscriber approved, else the CIBA error."""
        partner = self.store.check_client(client_id, client_secret)
        if partner is None or partner.disabled:
            raise InvalidClient
        partner_id = partner.id
        if not auth_req_id:
            raise CibaError("invalid_request", "auth_req_id is required")
        row = self.store.conn.execute("SELECT * FROM ciba_requests WHERE auth_req_id = ?", (auth_req_id,)).fetchone()
        if row is None or row["partner_id"] != partner_id or row["state"] == "redeemed":
            raise CibaError("invalid_grant", "unknown, foreign or already used auth_req_id")
        now = self.settings.wall_clock()
        if now >= row["expires_at"]:
            raise CibaError("expired_token", "the authentication request has expired")
        if row["state"] == "denied":
            raise CibaError("access_denied", "the subscriber denied the request")
        interval = self.settings.ciba_poll_interval_s
        if interval and row["last_poll"] is not None and now - row["last_poll"] < interval:
            self._touch(auth_req_id, now)
            raise CibaError("slow_down", f"poll at most every {interval} s")
        self._touch(auth_req_id, now)
        scopes = tuple(json.loads(row["scopes"]))
        # Network-based authentication involves no user: the network vouches for the device, no answer awaited.
        decision = "approve" if row["amr"] == "nba" else self.decision(row["msisdn"], row["subscriber"], scopes)
        if decision == "pending":
            raise CibaError("authorization_pending", "the subscriber has not answered yet")
        if decision == "deny":
            with self.store.transaction() as conn:
                conn.execute("UPDATE ciba_requests SET state = 'denied' WHERE auth_req_id = ?", (auth_req_id,))
            raise CibaError("access_denied", "the subscriber denied the request")
        lifetime = self.settings.token_lifetime_s
        token = self.store.create_token(partner_id, scopes, now + lifetime, subscriber=int(row["subscriber"]),
                                        amr=row["amr"])
        with self.store.transaction() as conn:
            conn.execute("UPDATE ciba_requests SET state = 'redeemed' WHERE auth_req_id = ?", (auth_req_id,))
        return IssuedToken(token, lifetime, scopes)

    def _touch(self, auth_req_id: str, now: float) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE ciba_requests SET last_poll = ? WHERE auth_req_id = ?", (now, auth_req_id))

    def decision(self, msisdn: str, subscriber: int, scopes: tuple[str, ...]) -> Literal["approve", "deny", "pending"]:
        """What the subscriber answers now: the operator's policy, else their consent."""
        mode = self.policy(msisdn)
        if mode != "consent":
            return mode
        if any(s.startswith(LOCATION_SCOPE_PREFIXES) for s in scopes):
            allowed = self.world.consent.is_permitted(subscriber, "LOCATION_SHARING", None)
            return "approve" if allowed else "deny"
        return "approve"

    def policy(self, msisdn: str) -> PolicyMode:
        """How a subscriber answers CIBA requests (``consent`` unless the operator set otherwise)."""
        row = self.store.conn.execute("SELECT mode FROM ciba_policies WHERE msisdn = ?", (msisdn,)).fetchone()
        mode: PolicyMode = "consent" if row is None else row["mode"]
        return mode

    def set_policy(self, msisdn: str, mode: PolicyMode) -> None:
        """Make a subscriber approve, deny, leave pending, or follow their consent (``consent``)."""
        self.world.find_subscriber(msisdn)  # 404 for an unknown number
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO ciba_policies(msisdn, mode) VALUES (?, ?) ON CONFLICT(msisdn) DO UPDATE SET "
                         "mode = excluded.mode", (msisdn, mode))
