"""Operator changes of an install's permissions (``PATCH /admin/v1/apps/{appId}/installations/{id}``): immediate
effect on the next push, refused bad bodies that change nothing, and the same table after a restart."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.client import AdminClient
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.keys import STORE
from gateway.wire.apps import InstallationChange
from simulator.world import World
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, Client, MakePartner
from tests.gateway.http.test_apps_lifecycle import advance, partner_token_for
from tests.gateway.http.test_apps_push import MSG, installs, partner_token, reachable_install, register, send


def path(app_id: str, installation_id: str) -> str:
    return f"/admin/v1/apps/{app_id}/installations/{installation_id}"


async def truth(client: Client, resp: Any) -> dict[str, Any]:
    assert resp.status == 200, await resp.text()
    message_id = (await resp.json())["name"].rsplit("/", 1)[1]
    got = await client.get(f"/admin/v1/push/messages/{message_id}", headers=ADMIN)
    body: dict[str, Any] = await got.json()
    return body


async def test_withdrawn_marketing_consent_suppresses_the_very_next_send(client: Client, make_partner: MakePartner,
                                                                        world: World) -> None:
    """A push to an install with both consents goes out; once the operator withdraws marketing consent the next
    send to the same token is SUPPRESSED; given back, the next one goes out again."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=1.0)
    row = reachable_install(world, [r for r in await installs(client, app["id"]) if r["installed"]])
    before = await truth(client, await send(client, token, app["id"], {**MSG, "token": row["registrationToken"]}))
    assert before["status"] != "SUPPRESSED"
    resp = await client.patch(path(app["id"], row["installationId"]), json={"marketingConsent": False},
                              headers=ADMIN)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {**row, "marketingConsent": False}  # only that field changed
    after = await truth(client, await send(client, token, app["id"], {**MSG, "token": row["registrationToken"]}))
    assert after["status"] == "SUPPRESSED" and not after["displayed"]
    resp = await client.patch(path(app["id"], row["installationId"]), json={"marketingConsent": True},
                              headers=ADMIN)
    again = await truth(client, await send(client, token, app["id"], {**MSG, "token": row["registrationToken"]}))
    assert again["status"] != "SUPPRESSED"


async def test_every_field_is_set_and_shown(client: Client, make_partner: MakePartner) -> None:
    """All four fields at once are set and answered; the list view shows them too (lineLinked included)."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=1.0)
    row = (await installs(client, app["id"]))[0]
    assert isinstance(row["lineLinked"], bool)
    wanted = {"notifications": not row["notificationsPermitted"], "marketingConsent": not row["marketingConsent"],
              "locationPermission": "ALWAYS" if row["locationPermission"] != "ALWAYS" else "NEVER",
              "lineLinked": not row["lineLinked"]}
    resp = await client.patch(path(app["id"], row["installationId"]), json=wanted, headers=ADMIN)
    expected = {**row, "notificationsPermitted": wanted["notifications"], "marketingConsent": wanted[
        "marketingConsent"], "locationPermission": wanted["locationPermission"], "lineLinked": wanted["lineLinked"]}
    assert await resp.json() == expected
    assert (await installs(client, app["id"]))[0] == expected


@pytest.mark.parametrize(("body", "status"), [
    ({}, 400),  # nothing to change
    ({"marketingConsent": "no"}, 400),  # not a boolean
    ({"notifications": 0}, 400),  # a number is not a boolean (strict)
    ({"locationPermission": "SOMETIMES"}, 400),  # not a permission
    ({"lineLinked": None}, 400),  # null is not a value
    ({"marketingConsent": False, "colour": "red"}, 400),  # unknown field
    ([{"marketingConsent": False}], 400),  # not an object
    ("bad app", 404),  # unknown app
    ("bad installation", 404),  # unknown installation of a known app
    ("uninstalled", 409),  # the app was removed from the device: nothing left to set
])
async def test_bad_changes_are_refused_and_change_nothing(client: Client, make_partner: MakePartner, body: Any,
                                                         status: int) -> None:
    """Bad bodies are a CAMARA-shaped 400, unknown apps and installations 404; the table is as it was."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=0.6)
    before = await installs(client, app["id"])
    target = before[0]["installationId"]
    if body == "bad app":
        url, body = path("app_999999", target), {"marketingConsent": False}
    elif body == "bad installation":
        url, body = path(app["id"], "A" * 22), {"marketingConsent": False}
    elif body == "uninstalled":
        url, body = path(app["id"], target), {"marketingConsent": False}
        assert (await client.delete(url, headers=ADMIN)).status == 204
        before = await installs(client, app["id"])
    else:
        url = path(app["id"], target)
    resp = await client.patch(url, json=body, headers={**ADMIN, "x-correlator": "c-1"})
    assert resp.status == status, await resp.text()
    err = await resp.json()
    assert {"status", "code", "message"} <= set(err) and err["status"] == status
    assert err["code"] == {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "CONFLICT"}[status]
    assert resp.headers["x-correlator"] == "c-1"
    assert await installs(client, app["id"]) == before
    assert client.app[STORE].conn.execute("SELECT COUNT(*) FROM app_permission_changes").fetchone()[0] == 0


async def test_the_client_sets_permissions(client: Client, make_partner: MakePartner) -> None:
    """``AdminClient.set_installation_permissions`` sends only the fields given and answers the install."""
    token = await partner_token(client, make_partner)
    app = await register(client, token, popularity=1.0)
    row = (await installs(client, app["id"]))[0]
    base = str(client.make_url("")).rstrip("/")
    async with AdminClient(base, ADMIN_TOKEN) as admin:
        got = await admin.set_installation_permissions(app["id"], row["installationId"],
                                                       InstallationChange(line_linked=not row["lineLinked"]))
    assert got.line_linked is not row["lineLinked"] and got.marketing_consent is row["marketingConsent"]


async def test_restart_keeps_the_operators_permission_changes(aiohttp_client: AiohttpClient,
                                                              fresh_world: Callable[[], World],
                                                              settings: Settings, tmp_path: Any) -> None:
    """Permission changes made between days are where they were after a restart: the rebuilt table, and the
    days drawn from it after, equal those of a gateway that never stopped."""
    async def start(world: World, db: str) -> Client:
        return await aiohttp_client(create_app(world, dataclasses.replace(settings, db_path=tmp_path / db)))

    async def prepare(client: Client) -> tuple[str, list[dict[str, Any]]]:
        token = await partner_token_for(client)
        app = await register(client, token, popularity=0.8)
        await advance(client, "PT20H")
        rows = await installs(client, app["id"])
        for r, change in ((rows[2], {"marketingConsent": False, "locationPermission": "NEVER"}),
                          (rows[5], {"lineLinked": not rows[5]["lineLinked"], "notifications": False}),
                          (rows[2], {"locationPermission": "ALWAYS"})):  # the same row twice: order counts
            resp = await client.patch(path(app["id"], r["installationId"]), json=change, headers=ADMIN)
            assert resp.status == 200, await resp.text()
        await advance(client, "PT12H")
        return str(app["id"]), rows

    steady = await start(fresh_world(), "steady.db")
    app_id, drawn = await prepare(steady)
    await advance(steady, "PT30H")
    expected = await installs(steady, app_id)

    first = await start(fresh_world(), "restarted.db")
    await prepare(first)
    await first.close()
    second = await start(fresh_world(), "restarted.db")
    await advance(second, "PT30H")
    assert await installs(second, app_id) == expected
    assert expected[5]["lineLinked"] != drawn[5]["lineLinked"]  # the changes are in the table compared
    assert expected[2]["locationPermission"] == "ALWAYS" and expected[2]["marketingConsent"] is False
    assert second.app[STORE].conn.execute("SELECT COUNT(*) FROM app_permission_changes").fetchone()[0] == 3
