"""The one composition point: every service of one served operator, built in one order, and their lifetimes.

Owns :func:`compose`, which ``create_app`` calls once: it builds the store, control plane, partners, webhooks,
campaigns, codes, messages, journeys, SIM swap and CAMARA services, wires the partner event feeds and restore
hooks between them, stores each under its typed app key, and appends the lifetimes in the order they depend on
each other (store open and world restored → geofences loaded and webhook sender running → pacer); the operator
console's views and live feed come last, the feed closed on shutdown so open console streams end. Handlers reach
the CAMARA services through :func:`camara`. It must not contain handlers or business rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.core.settings import Settings
from gateway.core.store import GroupCommit, Store
from gateway.core.webhooks import Webhooks
from gateway.http.keys import (
    APPS,
    CAMARA,
    CAMPAIGN_EVENTS,
    CAMPAIGNS,
    CDP,
    CIBA,
    CONSOLE,
    CONSOLE_FEED,
    CONTROL,
    FAULT_SLEEP,
    FAULTS,
    GROUP_COMMIT,
    JOURNEY_EVENTS,
    JOURNEYS,
    MESSAGES,
    METRICS,
    PARTNERS,
    PUSH,
    RATE_LIMITER,
    SETTINGS,
    SIM_SWAP_EVENTS,
    STORE,
    TRIGGERS,
    VERIFY,
    WEBHOOKS,
    WORLD,
)
from gateway.http.metrics import BusinessSources, Metrics
from gateway.http.ratelimit import RateLimiter
from gateway.services.apps.push import PushService
from gateway.services.apps.repository import AppRepository
from gateway.services.apps.service import AppService
from gateway.services.apps.usage import AppUsage
from gateway.services.camara import CamaraServices
from gateway.services.camara.callbacks import AsyncAnswers
from gateway.services.camara.device_status import DeviceStatusService
from gateway.services.camara.geofencing import GeofencingService
from gateway.services.camara.insights import InsightsService
from gateway.services.camara.location import LocationService
from gateway.services.camara.sim_swap_events import SimSwapSubscriptions
from gateway.services.campaigns.service import CampaignService
from gateway.services.cdp.repository import CdpRepository
from gateway.services.cdp.service import CdpService
from gateway.services.cdp.triggers import TriggerService
from gateway.services.ciba import CibaService
from gateway.services.console import ConsoleFeed, ConsoleService
from gateway.services.control import ControlPlane
from gateway.services.faults import FaultService
from gateway.services.journeys.service import JourneyService
from gateway.services.messages.service import MessageService
from gateway.services.partner_events import CAMPAIGN_FEED, JOURNEY_FEED, PartnerEvents
from gateway.services.partners import PartnerService
from gateway.services.verify import VerifyService
from simulator.world import World

log = logging.getLogger("opsim.gateway")


def camara(request: web.Request) -> CamaraServices:
    """The CAMARA services of the app serving ``request``."""
    return request.app[CAMARA]


def compose(app: web.Application, world: World, settings: Settings) -> None:
    """Build every service of ``app`` serving ``world`` (the store opens when the app starts)."""
    world.keep_history(settings.history_days)
    world.keep_inbox(settings.inbox_days)
    store = Store(settings.db_path)
    now = lambda: world.clock.now  # noqa: E731 - the one sim-time source every service reads
    app[WORLD], app[SETTINGS], app[STORE] = world, settings, store
    app[GROUP_COMMIT] = GroupCommit(settings.group_commit_linger_ms, settings.group_commit_siblings)
    control = ControlPlane(world, store, settings)
    app[CONTROL] = control
    partners = PartnerService(store, now, settings.wall_clock, settings.token_lifetime_s)
    app[PARTNERS] = partners
    webhooks = Webhooks.build(store, settings, now)
    app[WEBHOOKS] = webhooks
    is_live = lambda: control.restored is not None  # noqa: E731 - live once the restore has finished

    campaigns = CampaignService(world, store, settings.campaigns, is_live=is_live,
                                min_radius_m=settings.min_radius_m, partner_limit=partners.limit)
    app[CAMPAIGNS] = campaigns
    verify = VerifyService(world, store, settings.verify)
    app[VERIFY] = verify
    messages = MessageService(world, store, settings.messages, campaigns.rules, campaigns.caps,
                              settings.campaigns.moderation_terms, lambda: webhooks.outbox,
                              partner_limit=partners.limit)
    app[MESSAGES] = messages
    for service in (verify, messages):  # what was delivered and counted is replayed, what waits resumes
        control.on_restore(service.replay, service.resume)
    journeys = JourneyService(world, store, messages, settings.campaigns.privacy_threshold,
                              settings.min_radius_m, settings.campaigns.max_radius_m, is_live=is_live)
    app[JOURNEYS] = journeys
    swaps = SimSwapSubscriptions(world, store, lambda: webhooks.outbox)
    app[SIM_SWAP_EVENTS] = swaps
    app_repository = AppRepository(store)
    app[APPS] = apps = AppService(world, app_repository, now)
    app[PUSH] = push = PushService(world, app_repository, apps, now, is_live)
    usage = AppUsage(world, apps, push, app_repository)  # after push: a tick's deliveries are in its events
    # Install tables rebuilt from the seed, held pushes and topics back, event counters and owed app events back.
    for resume in (apps.resume, push.resume, usage.resume):
        control.on_restore(tuple, resume)
    app[CDP] = cdp = CdpService(CdpRepository(store), apps, now, settings.campaigns.privacy_threshold)
    control.on_restore(tuple, cdp.resume)  # profiles and audiences rebuilt from the event log (installs drawn)
    world.on_step(cdp.on_step)
    # The simulated installs report through the CDP's pipeline: their events meet a partner's own calls in one profile.
    apps.add_event_listener(cdp.ingest_app_events)

    # One batch with SIM swap events: their states are committed together with the clock at the end of a tick.
    geofencing = GeofencingService(world, store, webhooks.outbox, settings.min_radius_m, swaps.events)
    # Triggers listen to the CDP and the world's cell changes (area rules at cell level, as geofences are); after
    # the CDP's resume their waiting runs and pending steps go back on the clock.
    app[TRIGGERS] = triggers = TriggerService(store, world, cdp, apps, push, lambda: webhooks.outbox, geofencing,
                                              is_live, settings.allow_http_loopback_sinks)
    control.on_restore(tuple, triggers.resume)
    for key, source, feed in ((CAMPAIGN_EVENTS, campaigns, CAMPAIGN_FEED), (JOURNEY_EVENTS, journeys, JOURNEY_FEED)):
        events = PartnerEvents(store, webhooks.outbox, feed)
        source.add_listener(events.on_event)
        app[key] = events
        webhooks.sender.on_gone(events.on_gone)
    for on_gone in (geofencing.on_gone, swaps.on_gone, triggers.on_gone):
        webhooks.sender.on_gone(on_gone)
    app[CIBA] = CibaService(store, world, settings)
    app[CAMARA] = CamaraServices(LocationService(world, settings.min_radius_m),
                                 InsightsService(world, settings.privacy_threshold), DeviceStatusService(world),
                                 geofencing, AsyncAnswers(store, webhooks.outbox, now))
    app[METRICS] = metrics = Metrics(world, BusinessSources(campaigns.engine.outcomes, webhooks.outbox, verify,
                                                            messages))
    webhooks.sender.on_attempt(metrics.webhook_attempt)
    faults = FaultService(world, settings.faults)  # off unless a profile is active: one attribute read per request
    faults.on_injected(metrics.fault)
    webhooks.sender.faults = faults
    app[FAULTS], app[FAULT_SLEEP] = faults, asyncio.sleep
    app[RATE_LIMITER] = RateLimiter(partners.rate_limit)
    app[CONSOLE] = ConsoleService(world, campaigns, geofencing, lambda: webhooks.outbox)
    app[CONSOLE_FEED] = console_feed = ConsoleFeed(world)
    webhooks.sender.on_attempt(lambda attempt, result: console_feed.poke())  # the console shows delivery states

    async def store_lifetime(app: web.Application) -> AsyncIterator[None]:
        report = control.start()  # opens the store and restores the world
        if report.entries or report.restored_to:
            log.info("restored %d journal entries; clock at %s", report.entries, report.restored_to)
        yield
        control.stop()

    async def subscriptions_lifetime(app: web.Application) -> AsyncIterator[None]:
        # The store is open and the world restored (replayed without subscriptions) by now.
        geofencing.load()
        async for _ in webhooks.lifetime():
            yield

    async def pacer_lifetime(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(control.pacer(), name="opsim-pacer")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def load_swaps(app: web.Application) -> None:
        swaps.load()  # on_startup runs after every cleanup_ctx: store open, world restored, sender running

    app.cleanup_ctx.extend([store_lifetime, subscriptions_lifetime, pacer_lifetime])
    app.on_startup.append(load_swaps)

    async def end_console_streams(app: web.Application) -> None:
        console_feed.close()  # on_shutdown: before aiohttp waits for the open streams to finish

    app.on_shutdown.append(end_console_streams)
