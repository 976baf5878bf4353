"""Service-account key files and the JWT bearer grant (RFC 7523): Google's client libraries (google-auth, PyFCM)
load opsim's file unchanged, get tokens from ``/oauth2/token`` and send pushes; bad assertions are ``invalid_grant``
and issue nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import google.auth.transport.requests
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from google.oauth2 import service_account
from pyfcm import FCMNotification

from gateway.client import AdminClient
from gateway.core.settings import epoch_seconds
from simulator.world import World
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, Client, MakePartner, Wall, bearer
from tests.gateway.http.test_apps_push import SCOPES, installs, partner_token, reachable_install, register

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


async def key_file(client: Client, partner_id: str, **body: Any) -> dict[str, Any]:
    resp = await client.post(f"/admin/v1/partners/{partner_id}/service-accounts", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    file: dict[str, Any] = await resp.json()
    return file


def google_credentials(file: dict[str, Any]) -> service_account.Credentials:
    """What a Google client library makes of the key file (scoped for FCM, as PyFCM asks)."""
    credentials: service_account.Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        file, scopes=[FCM_SCOPE])
    return credentials


def assertion(file: dict[str, Any], now: float, **claims: Any) -> str:
    """An assertion as google-auth signs one, with ``claims`` replaced (``None`` drops a claim)."""
    payload = {"iss": file["client_email"], "aud": file["token_uri"], "iat": int(now), "exp": int(now) + 3600,
               "scope": FCM_SCOPE, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, file["private_key"], algorithm="RS256",
                      headers={"kid": file["private_key_id"]})


async def test_google_auth_gets_a_token_with_the_partners_scopes(client: Client, make_partner: MakePartner,
                                                                  wall: Wall) -> None:
    """google-auth's service-account credentials, loaded from the file as they are, refresh against the gateway;
    the token works on the partner's routes."""
    wall.now = epoch_seconds()  # google-auth signs with the real clock
    creds = await make_partner("acme", SCOPES)
    async with AdminClient(str(client.make_url("")).rstrip("/"), ADMIN_TOKEN) as admin:
        file = (await admin.issue_service_account(creds.id)).model_dump(exclude_none=True)
    assert file["type"] == "service_account" and file["client_id"] == creds.client_id
    assert file["token_uri"] == str(client.make_url("/oauth2/token"))
    google_creds = google_credentials(file)
    await asyncio.to_thread(google_creds.refresh, google.auth.transport.requests.Request())
    resp = await client.get("/apps/v1/apps", headers=bearer(str(google_creds.token)))
    assert resp.status == 200, await resp.text()


async def test_pyfcm_sends_a_push_with_the_key_file(client: Client, make_partner: MakePartner, wall: Wall,
                                                    world: World) -> None:
    """PyFCM, its endpoint pointed at the gateway, sends with opsim's key file: the push reaches the device."""
    wall.now = epoch_seconds()
    token = await partner_token(client, make_partner)
    app = await register(client, token)
    target = reachable_install(world, await installs(client, app["id"]))
    partner_id = (await (await client.get("/admin/v1/partners", headers=ADMIN)).json())["partners"][0]["id"]
    file = await key_file(client, partner_id, project_id=app["id"])
    assert file["project_id"] == app["id"]

    fcm = FCMNotification(credentials=google_credentials(file))
    fcm.FCM_END_POINT_BASE = str(client.make_url("/v1/projects"))  # the one change a real client makes
    answer = await asyncio.to_thread(fcm.notify, fcm_token=target["registrationToken"],
                                     notification_title="Sale", notification_body="20% off today")
    assert answer["name"].startswith(f"projects/{app['id']}/messages/psh_")
    inbox = world.inbox(world.find_subscriber(target["phoneNumber"]))
    assert inbox[-1]["channel"] == "APP_PUSH" and inbox[-1]["text"] == "20% off today"


def _other_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


@pytest.mark.parametrize(("change", "reason"), [
    ({"exp": -120}, "expired"),  # ended two minutes ago, beyond the minute of clock skew allowed
    ({"iat": 600, "exp": 4200}, "future"),  # issued ten minutes from now
    ({"exp": 7200}, "more than"),  # valid for two hours
    ({"aud": "https://elsewhere.example/token"}, "does not verify"),  # addressed to another token server
    ({"iss": "someone@else.test"}, "does not verify"),  # another issuer than the key's account
    ({"exp": None}, "does not verify"),  # no expiry
    ({"kid": "0" * 40}, "kid"),  # names no key
    ({"key": "other"}, "does not verify"),  # signed with another key
    ({"scope": "campaigns:write"}, "scope not granted"),  # an opsim scope the partner lacks
    ({"raw": "not-a-jwt"}, "not a JWT"),  # garbage
    ({"exp": "later"}, "must be numbers"),  # an instant that is no number
    ({"scope": 7}, "scope must be a string"),  # a scope that is no string
])
async def test_bad_assertions_are_invalid_grant(client: Client, make_partner: MakePartner, wall: Wall,
                                                change: dict[str, Any], reason: str) -> None:
    """Every assertion the grant cannot accept is a 400 with RFC 6749's error code saying why; no token."""
    creds = await make_partner("acme", SCOPES)
    file = await key_file(client, creds.id)
    now = wall.now
    claims = {k: (now + v if k in ("iat", "exp") and isinstance(v, int) else v) for k, v in change.items()
              if k not in ("kid", "key", "raw")}
    signing = {**file, "private_key": _other_key()} if "key" in change else dict(file)
    if "kid" in change:
        signing["private_key_id"] = change["kid"]
    if "iat" not in claims:
        claims["iat"] = now
    form = {"grant_type": GRANT, "assertion": change.get("raw") or assertion(signing, now, **claims)}
    resp = await client.post("/oauth2/token", data=form)
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == ("invalid_scope" if reason == "scope not granted" else "invalid_grant")
    assert reason in body["error_description"]


async def test_assertion_grant_narrows_to_opsim_scopes_and_stops_with_the_partner(
        client: Client, make_partner: MakePartner, wall: Wall) -> None:
    """Opsim scope names in ``scope`` narrow the token; a disabled partner's key issues nothing."""
    creds = await make_partner("acme", SCOPES)
    file = await key_file(client, creds.id)
    form = {"grant_type": GRANT, "assertion": assertion(file, wall.now, scope=f"{FCM_SCOPE} apps:read")}
    resp = await client.post("/oauth2/token", data=form)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["scope"] == "apps:read"
    assert (await client.post(f"/admin/v1/partners/{creds.id}/disable", headers=ADMIN)).status == 200
    resp = await client.post("/oauth2/token", data={"grant_type": GRANT, "assertion": assertion(file, wall.now)})
    assert resp.status == 400 and "disabled" in (await resp.json())["error_description"]


@pytest.mark.parametrize(("partner", "body", "status"), [
    ("ptn_999999", {}, 404),  # no such partner
    (None, {"project_id": "app_999999"}, 400),  # not one of the partner's apps
    (None, {"projectId": "app_000001"}, 400),  # the file's own snake_case names only
    (None, {"project_id": 7}, 400),  # not a string
])
async def test_bad_key_file_requests(client: Client, make_partner: MakePartner, partner: str | None,
                                     body: dict[str, Any], status: int) -> None:
    """Unknown partners and bad bodies are refused in the error shape; nothing is issued."""
    creds = await make_partner("acme", SCOPES)
    resp = await client.post(f"/admin/v1/partners/{partner or creds.id}/service-accounts", json=body, headers=ADMIN)
    assert resp.status == status, await resp.text()
    assert {"status", "code", "message"} <= set(await resp.json())


async def test_missing_assertion_is_invalid_request(client: Client) -> None:
    """The grant without an assertion says what is missing."""
    resp = await client.post("/oauth2/token", data={"grant_type": GRANT})
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"
