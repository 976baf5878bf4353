"""The console in a real headless Chromium (Playwright): the map draws, a clock advance updates the view, dragging a
test phone into a geofence triggers the geofence event, and the page asks nothing of any other host.

Uses the system browser (``/usr/bin/chromium``; ``make test`` installs Debian's ``chromium`` when it can) and
skips, saying why, when the browser or the ``playwright`` package is missing. ``playwright install`` is never run.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from gateway.core.settings import Settings
from gateway.http.app import create_app
from simulator.world import World
from tests.gateway.camara_helpers import ENTERED, LEFT, start_sink
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, Wall

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]  # containers often have a tiny /dev/shm
PHONE = "+4915100000042"

async_api = pytest.importorskip("playwright.async_api",
                                reason="playwright is not installed (pip install -e '.[test]'): browser test skipped")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium): browser test skipped")


@pytest.fixture
def settings(tmp_path: Path, wall: Wall) -> Settings:
    return Settings(db_path=tmp_path / "opsim.db", admin_token=ADMIN_TOKEN, wall_clock=wall, port=0,
                    webhook_backoff_base_s=0.02, webhook_backoff_max_s=0.1, webhook_poll_s=0.01,
                    webhook_timeout_s=0.5)


async def call(session: aiohttp.ClientSession, method: str, url: str, status: int, **kwargs: Any) -> Any:
    async with session.request(method, url, **kwargs) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def test_console_in_a_browser(aiohttp_server: AiohttpServer, world: World, settings: Settings) -> None:
    """Map drawn, clock advance shown, a dragged test phone enters a geofence and the event reaches sink and page."""
    server = await aiohttp_server(create_app(world, settings), host="127.0.0.1", port=0)
    base = str(server.make_url("")).rstrip("/")
    sink = await start_sink(aiohttp_server)
    place = world.city.places[0]
    async with aiohttp.ClientSession() as s:
        # A test phone at the city centre, with location consent; a geofence around a place kilometres away.
        await call(s, "POST", f"{base}/admin/v1/subscribers", 201, headers=ADMIN, json={
            "msisdn": PHONE, "latitude": world.city.projection.lat0, "longitude": world.city.projection.lon0,
            "consent": {"LOCATION_SHARING": {"ANY": True}}})
        creds = await call(s, "POST", f"{base}/admin/v1/partners", 201, headers=ADMIN, json={
            "name": "qa", "scopes": [f"geofencing-subscriptions:{ENTERED}:create",
                                     f"geofencing-subscriptions:{LEFT}:create"]})
        token = (await call(s, "POST", f"{base}/oauth2/token", 200, data={
            "grant_type": "client_credentials", "client_id": creds["clientId"],
            "client_secret": creds["clientSecret"]}))["access_token"]
        area = {"areaType": "CIRCLE", "center": {"latitude": place.latitude, "longitude": place.longitude},
                "radius": 2000}
        await call(s, "POST", f"{base}/geofencing-subscriptions/v0.5/subscriptions", 201,
                   headers={"Authorization": f"Bearer {token}"},
                   json={"protocol": "HTTP", "sink": sink.url, "types": [ENTERED],
                         "config": {"subscriptionDetail": {"device": {"phoneNumber": PHONE}, "area": area}}})
        await sink.wait_for(1)  # subscription-started
        assert not sink.events("area-entered")

    requested: list[str] = []
    async with async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1300, "height": 850})
            page.on("request", lambda request: requested.append(request.url))
            await page.goto(f"{base}/console#token={ADMIN_TOKEN}")

            # The map: one hexagon per cell, and the state of now.
            cells = world.cell_count
            await page.wait_for_function(f"() => document.getElementById('map').dataset.cells === '{cells}'")
            assert await page.locator("#layer-cells polygon").count() == cells
            await page.wait_for_function("() => document.getElementById('map').dataset.now !== undefined")
            shown = await page.text_content("#clock")
            assert shown == "2026-06-01T06:00:00Z"
            assert await page.locator("circle.phone").count() == 1
            # Served: the tiny world, phone included, but the roamers abroad (not attached)
            served = world.subscriber_count - int((world.cell < 0).sum())
            assert served < world.subscriber_count and await page.text_content("#total") == str(served)

            # A clock advance through the page's own button: the stream brings the new instant.
            await page.click("#advance-hour")
            later = (datetime.fromisoformat(shown) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            await page.wait_for_function(f"() => document.getElementById('clock').textContent === '{later}'")
            assert await page.get_attribute("#map", "data-now") == later

            # Drag the phone onto the geofenced place: the page pins it there and the geofence fires.
            phone = await page.locator(f"circle.phone[data-msisdn='{PHONE}']").bounding_box()
            assert phone is not None
            target = await page.evaluate(
                """([lat, lon]) => { const [x, y] = proj.xy(lat, lon); const p = svg.createSVGPoint();
                   p.x = x; p.y = y; const s = p.matrixTransform(svg.getScreenCTM()); return [s.x, s.y]; }""",
                [place.latitude, place.longitude])
            await page.mouse.move(phone["x"] + phone["width"] / 2, phone["y"] + phone["height"] / 2)
            await page.mouse.down()
            await page.mouse.move(target[0], target[1], steps=12)
            await page.mouse.up()

            await sink.wait_for(2, timeout=20)
            assert [e["data"]["subscriptionId"] for e in sink.events("area-entered")]
            await page.wait_for_function("() => document.getElementById('events').textContent.includes('area-entered')")
            pinned = world.locate(world.find_subscriber(PHONE))
            assert abs(pinned.latitude - place.latitude) < 0.01 and abs(pinned.longitude - place.longitude) < 0.01
            assert await page.text_content("#error") == ""

            # The subscriber search draws the phone's track.
            await page.fill("#search", PHONE)
            await page.click("#find")
            await page.wait_for_function("() => document.querySelectorAll('#layer-track circle').length >= 2")
        finally:
            await browser.close()

    assert requested, "the page made no request"
    assert all(url.startswith(base + "/") for url in requested), [u for u in requested if not u.startswith(base)]
    assert f"{base}/admin/v1/subscribers/{quote(PHONE)}/pin" in requested
