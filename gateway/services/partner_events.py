"""Partner event subscriptions: partners receive their campaigns' and journeys' events as CloudEvents at a sink of
their own.

One :class:`PartnerEvents` per :class:`EventFeed` (:data:`CAMPAIGN_FEED`, :data:`JOURNEY_FEED`) owns that feed's
subscriptions (rows of ``event_subscriptions`` with the feed's ``api``) and the listener plugged into the service's
``add_listener`` (:meth:`gateway.services.campaigns.service.CampaignService.add_listener`,
:meth:`gateway.services.journeys.JourneyService.add_listener`): each event (``campaign.started``, ``.completed``,
``.cancelled``, ``.rejected``, ``.report.hourly``; ``journey.started``, ``.completed``, ``.cancelled``,
``.report.hourly``) of a partner's campaign or journey goes to each of that partner's active subscriptions to its
type, through the webhook outbox, under an id derived from the subscription, the type, the campaign or journey and
the simulated instant (the same event is never issued twice). Event data are aggregates only, as the services
emit them. A ``410`` from a sink ends its subscription, and so does the expiry of its
``sinkCredential`` access token (simulated time): no event is sent with an expired token. This module knows nothing
of HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.core.errors import NotFound
from gateway.core.ids import PARTNER_PREFIX, parse_public_id
from gateway.core.store import Store
from gateway.core.webhooks import Outbox, OutboxEvent, cloud_event
from gateway.services.camara.subscriptions import insert_subscription
from simulator.clock import from_micros, to_micros


@dataclass(frozen=True)
class EventFeed:
    """What tells one feed of partner events from another."""

    api: str
    """``event_subscriptions.api`` of its subscriptions."""
    id_prefix: str
    """Of its subscription ids."""
    type_prefix: str
    """Of its CloudEvents types (``<type_prefix><event type>``)."""
    source: str
    """CloudEvents ``source``."""
    subject: str
    """The event data field naming the campaign or journey."""


CAMPAIGN_FEED = EventFeed("campaigns", "cms_", "org.opsim.campaigns.v1.", "/campaigns/v1", "campaignId")
JOURNEY_FEED = EventFeed("journeys", "jns_", "org.opsim.journeys.v1.", "/journeys/v1", "journeyId")


@dataclass
class EventSubscription:
    """A partner's subscription to some of its campaigns' (or journeys') events."""

    id: str
    partner_id: int
    types: tuple[str, ...]
    sink: str
    sink_token: str | None
    created_at: datetime
    ended: bool = False
    token_expires: datetime | None = None
    """``sinkCredential.accessTokenExpiresUtc``: the subscription is over from then on."""

    def active_at(self, at: datetime) -> bool:
        """Whether events at ``at`` go to this subscription's sink."""
        return not self.ended and (self.token_expires is None or at < self.token_expires)


class PartnerEvents:
    """Subscriptions to one feed's events and their delivery through the outbox."""

    def __init__(self, store: Store, outbox: Outbox, feed: EventFeed = CAMPAIGN_FEED) -> None:
        self.store = store
        self.outbox = outbox
        self.feed = feed
        self._subs: dict[str, EventSubscription] | None = None

    def _all(self) -> dict[str, EventSubscription]:
        if self._subs is None:
            subs = {}
            for row in self.store.conn.execute("SELECT * FROM event_subscriptions WHERE api = ? AND deleted_us IS "
                                               "NULL ORDER BY seq", (self.feed.api,)):
                spec = json.loads(row["spec"])
                expires = spec.get("sink_token_expires")
                subs[row["id"]] = EventSubscription(row["id"], row["partner_id"], tuple(spec["types"]), spec["sink"],
                                                       spec["sink_token"], from_micros(row["created_us"]),
                                                       bool(json.loads(row["state"]).get("ended")),
                                                       None if expires is None else from_micros(expires))
            self._subs = subs
        return self._subs

    def create(self, partner_id: int, types: tuple[str, ...], sink: str, sink_token: str | None,
               now: datetime, token_expires: datetime | None = None) -> EventSubscription:
        """A new subscription (active at once, until ``token_expires`` when the sink token has one)."""
        spec = json.dumps({"types": list(types), "sink": sink, "sink_token": sink_token,
                           "sink_token_expires": None if token_expires is None else to_micros(token_expires)},
                          sort_keys=True)
        sub_id = insert_subscription(self.store, self.feed.id_prefix, partner_id, self.feed.api, "v1", spec, now)
        sub = EventSubscription(sub_id, partner_id, types, sink, sink_token, now, token_expires=token_expires)
        self._all()[sub_id] = sub
        return sub

    def list(self, partner_id: int) -> list[EventSubscription]:
        """A partner's subscriptions, oldest first."""
        return [s for s in self._all().values() if s.partner_id == partner_id]

    def get(self, partner_id: int, sub_id: str) -> EventSubscription:
        """One of the partner's subscriptions (another partner's is 404)."""
        sub = self._all().get(sub_id)
        if sub is None or sub.partner_id != partner_id:
            raise NotFound(f"Subscription {sub_id} not found.")
        return sub

    def delete(self, partner_id: int, sub_id: str, now: datetime) -> None:
        """Remove a subscription; its pending events are dropped."""
        self.get(partner_id, sub_id)
        with self.store.transaction() as conn:
            conn.execute("UPDATE event_subscriptions SET deleted_us = ? WHERE id = ?", (to_micros(now), sub_id))
        self._all().pop(sub_id, None)
        self.outbox.cancel(sub_id, "subscription deleted")

    def on_gone(self, sub_id: str) -> None:
        """A sink answered 410: the subscription ends."""
        sub = self._all().get(sub_id)
        if sub is None:
            return
        sub.ended = True
        with self.store.transaction() as conn:
            conn.execute("UPDATE event_subscriptions SET state = ? WHERE id = ?", (json.dumps({"ended": True}), sub_id))

    def on_event(self, event_type: str, data: dict[str, Any], at: datetime) -> None:
        """Service listener: one CloudEvent per matching subscription of the campaign's (journey's) partner."""
        partner_id = parse_public_id(str(data.get("partnerId", "")), PARTNER_PREFIX)
        if partner_id is None:
            return
        events = []
        for sub in self._all().values():
            if sub.partner_id != partner_id or not sub.active_at(at) or event_type not in sub.types:
                continue
            event_id = f"{sub.id}-{event_type}-{data.get(self.feed.subject, '')}-{to_micros(at)}"
            kind = self.feed.type_prefix + event_type
            events.append(OutboxEvent(event_id, sub.id, partner_id, kind, sub.sink, sub.sink_token, cloud_event(
                event_id, self.feed.source, kind, at, {"subscriptionId": sub.id, **data}), at))
        self.outbox.add(events)
