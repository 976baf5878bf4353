"""The in-memory cache of what credentials grant: a warm cache answers without SQL and never outlives a change.

Each change is made while the credential's grant is cached (it was used just before), on a route that
authenticates in the middleware (``/partner/v1/me``) and on the FCM send, which authenticates in its handler.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from gateway.core.store import GRANT_CACHE_SIZE, Store
from gateway.http.keys import STORE
from tests.gateway.conftest import ADMIN, Client, MakePartner, Wall, bearer, fetch_token

SCOPES = ("apps:read", "apps:write", "push:send", "api-keys:read", "api-keys:write")
APP = {"name": "Shoply", "platforms": ["ANDROID", "IOS"], "categories": ["SHOPPING"], "popularity": 0.5}
MESSAGE = {"message": {"notification": {"title": "Sale", "body": "20% off"}, "token": "not-a-token"}}


async def _setup(client: Client, make_partner: MakePartner) -> tuple[str, str, dict[str, Any], str]:
    """A partner with all scopes: its id, a token, an API key (id and key) and an app id."""
    creds = await make_partner("acme", SCOPES)
    token = await fetch_token(client, creds)
    key = await (await client.post(f"/admin/v1/partners/{creds.id}/api-keys", headers=ADMIN)).json()
    app = await (await client.post("/apps/v1/apps", json=APP, headers=bearer(token))).json()
    return creds.id, token, key, app["id"]


async def _statuses(client: Client, headers: dict[str, str], app_id: str) -> tuple[int, int]:
    """Status of ``/partner/v1/me`` and of an FCM send (404 UNREGISTERED for the made-up registration token once
    authenticated)."""
    me = await client.get("/partner/v1/me", headers=headers)
    fcm = await client.post(f"/v1/projects/{app_id}/messages:send", json=MESSAGE, headers=headers)
    return me.status, fcm.status


def _queries(store: Store) -> list[str]:
    """The statements the store's connection runs from now on (appended as they run)."""
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    return seen


async def test_cached_grant_runs_no_sql(client: Client, make_partner: MakePartner) -> None:
    """Once a token or key has been resolved, the next request with it reads no credential table."""
    _, token, key, app_id = await _setup(client, make_partner)
    for headers in (bearer(token), {"x-api-key": key["key"]}):
        assert await _statuses(client, headers, app_id) == (200, 404)
        seen = _queries(client.app[STORE])
        assert await _statuses(client, headers, app_id) == (200, 404)
        client.app[STORE].conn.set_trace_callback(None)
        assert not [q for q in seen if "tokens" in q or "api_keys" in q]


async def test_revoked_key_is_refused_at_once(client: Client, make_partner: MakePartner) -> None:
    """A cached API key revoked by its partner is 401 on the next request, on both kinds of route."""
    _, token, key, app_id = await _setup(client, make_partner)
    headers = {"x-api-key": key["key"]}
    assert await _statuses(client, headers, app_id) == (200, 404)
    assert (await client.delete(f"/partner/v1/api-keys/{key['id']}", headers=bearer(token))).status == 204
    assert await _statuses(client, headers, app_id) == (401, 401)
    assert await _statuses(client, bearer(token), app_id) == (200, 404)  # the token is not the key


@pytest.mark.parametrize("credential", [
    "token",  # deleted with the partner's disabling: it stays refused after enabling
    "key",    # refused while disabled, accepted again once enabled
])
async def test_disabled_partner_is_refused_at_once(client: Client, make_partner: MakePartner,
                                                   credential: str) -> None:
    """Disabling a partner refuses its cached credentials on the next request; enabling brings back keys only."""
    partner, token, key, app_id = await _setup(client, make_partner)
    headers = bearer(token) if credential == "token" else {"x-api-key": key["key"]}
    assert await _statuses(client, headers, app_id) == (200, 404)
    assert (await client.post(f"/admin/v1/partners/{partner}/disable", headers=ADMIN)).status == 200
    assert await _statuses(client, headers, app_id) == (401, 401)
    assert (await client.post(f"/admin/v1/partners/{partner}/enable", headers=ADMIN)).status == 200
    expected = (401, 401) if credential == "token" else (200, 404)
    assert await _statuses(client, headers, app_id) == expected


async def test_expired_token_is_refused_at_once(client: Client, make_partner: MakePartner, wall: Wall) -> None:
    """A cached token is refused from the first wall-clock instant past its expiry, as the query refuses it."""
    _, token, _, app_id = await _setup(client, make_partner)
    assert await _statuses(client, bearer(token), app_id) == (200, 404)
    wall.now += 3599.5
    assert await _statuses(client, bearer(token), app_id) == (200, 404)
    wall.now += 0.5  # expires_at itself: no longer valid (expires_at > now)
    assert await _statuses(client, bearer(token), app_id) == (401, 401)


async def test_narrowed_token_keeps_its_own_scopes(client: Client, make_partner: MakePartner) -> None:
    """Grants are cached per credential: a token without ``push:send`` is 403 though the partner's other token,
    cached, has it."""
    creds = await make_partner("acme", SCOPES)
    wide = await fetch_token(client, creds)
    narrow = await fetch_token(client, creds, scope="apps:read")
    app = await (await client.post("/apps/v1/apps", json=APP, headers=bearer(wide))).json()
    assert await _statuses(client, bearer(wide), app["id"]) == (200, 404)
    resp = await client.post(f"/v1/projects/{app['id']}/messages:send", json=MESSAGE, headers=bearer(narrow))
    assert resp.status == 403
    assert (await resp.json())["error"]["status"] == "PERMISSION_DENIED"
    resp = await client.post("/apps/v1/apps", json=APP, headers=bearer(narrow))
    assert resp.status == 403


def test_cache_is_bounded_and_forgets_the_oldest(tmp_path: Any) -> None:
    """Past ``GRANT_CACHE_SIZE`` credentials the oldest resolved is dropped (and resolves again from SQL)."""
    store = Store(tmp_path / "s.db")
    store.open()
    partner, _, _ = store.create_partner("p", ("a",), {}, "2026-01-01T00:00:00Z")
    tokens = [store.create_token(partner.id, ("a",), 100.0) for _ in range(GRANT_CACHE_SIZE + 1)]
    for token in tokens:
        assert store.resolve_token(token, 0.0) is not None
    assert len(store._grants) == GRANT_CACHE_SIZE
    seen = _queries(store)
    assert store.resolve_token(tokens[-1], 0.0) is not None  # cached
    assert seen == []
    assert store.resolve_token(tokens[0], 0.0) is not None  # dropped: read again
    assert len(seen) == 1
    store.close()


def test_reopened_store_forgets_grants(tmp_path: Any) -> None:
    """A grant cached before the database is closed is read again after it is reopened (another writer may have
    changed the file meanwhile)."""
    store = Store(tmp_path / "s.db")
    store.open()
    partner, _, _ = store.create_partner("p", ("a",), {}, "2026-01-01T00:00:00Z")
    token = store.create_token(partner.id, ("a",), 100.0)
    assert store.resolve_token(token, 0.0) is not None
    store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("DELETE FROM tokens")
    store.open()
    assert store.resolve_token(token, 0.0) is None
    store.close()
