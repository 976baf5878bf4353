"""Typed keys of the gateway's application and request state.

Owns the names under which ``create_app`` stores services and the middlewares store per-request facts. It holds
no values itself (no module-level singletons) and imports nothing heavier than type names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from gateway.core.principal import AuthContext
    from gateway.core.settings import Settings
    from gateway.core.store import GroupCommit, Store
    from gateway.core.webhooks import Webhooks
    from gateway.http.metrics import Metrics
    from gateway.http.ratelimit import RateLimiter
    from gateway.http.routing import RouteRegistry
    from gateway.services.apps.push import PushService
    from gateway.services.apps.service import AppService
    from gateway.services.camara import CamaraServices
    from gateway.services.camara.sim_swap_events import SimSwapSubscriptions
    from gateway.services.campaigns.service import CampaignService
    from gateway.services.cdp.service import CdpService
    from gateway.services.cdp.triggers import TriggerService
    from gateway.services.ciba import CibaService
    from gateway.services.console import ConsoleFeed, ConsoleService
    from gateway.services.control import ControlPlane
    from gateway.services.faults import FaultService
    from gateway.services.journeys.service import JourneyService
    from gateway.services.messages.service import MessageService
    from gateway.services.partner_events import PartnerEvents
    from gateway.services.partners import PartnerService
    from gateway.services.verify import VerifyService
    from simulator.world import World

WORLD: web.AppKey[World] = web.AppKey("world")
SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
STORE: web.AppKey[Store] = web.AppKey("store")
CONTROL: web.AppKey[ControlPlane] = web.AppKey("control")
GROUP_COMMIT: web.AppKey[GroupCommit] = web.AppKey("group_commit")
PARTNERS: web.AppKey[PartnerService] = web.AppKey("partners")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
ROUTES: web.AppKey[RouteRegistry] = web.AppKey("routes")
CAMPAIGNS: web.AppKey[CampaignService] = web.AppKey("campaigns")
CAMARA: web.AppKey[CamaraServices] = web.AppKey("camara")
CIBA: web.AppKey[CibaService] = web.AppKey("ciba")
WEBHOOKS: web.AppKey[Webhooks] = web.AppKey("webhooks")
CAMPAIGN_EVENTS: web.AppKey[PartnerEvents] = web.AppKey("campaign_events")
JOURNEY_EVENTS: web.AppKey[PartnerEvents] = web.AppKey("journey_events")
VERIFY: web.AppKey[VerifyService] = web.AppKey("verify")
MESSAGES: web.AppKey[MessageService] = web.AppKey("messages")
JOURNEYS: web.AppKey[JourneyService] = web.AppKey("journeys")
SIM_SWAP_EVENTS: web.AppKey[SimSwapSubscriptions] = web.AppKey("sim_swap_events")
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
APPS: web.AppKey[AppService] = web.AppKey("apps")
PUSH: web.AppKey[PushService] = web.AppKey("push")
CDP: web.AppKey[CdpService] = web.AppKey("cdp")
TRIGGERS: web.AppKey[TriggerService] = web.AppKey("cdp_triggers")
FAULTS: web.AppKey[FaultService] = web.AppKey("faults")
CONSOLE: web.AppKey[ConsoleService] = web.AppKey("console")
CONSOLE_FEED: web.AppKey[ConsoleFeed] = web.AppKey("console_feed")
FAULT_SLEEP: web.AppKey[Callable[[float], Awaitable[None]]] = web.AppKey("fault_sleep")
"""How injected latency waits (``asyncio.sleep``; tests put a recording fake here)."""

CORRELATOR: web.RequestKey[str] = web.RequestKey("correlator")
AUTH: web.RequestKey[AuthContext] = web.RequestKey("auth")
