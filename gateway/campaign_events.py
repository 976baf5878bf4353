"""Campaign event subscriptions: partners receive their campaigns' events as CloudEvents at a sink of their own.

Owns the subscriptions (rows of ``event_subscriptions`` with ``api = 'campaigns'``) and the listener plugged into
:meth:`gateway.campaigns.CampaignService.add_listener`: each event (``campaign.started``, ``.completed``,
``.cancelled``, ``.rejected``, ``.report.hourly``) of a partner's campaign goes to each of that partner's active
subscriptions to its type, through the webhook outbox, under an id derived from the subscription, the type, the
campaign and the simulated instant (the same event is never issued twice). Event data are aggregates only, as
the campaign service emits them. A ``410`` from a sink ends its subscription, and so does the expiry of its
``sinkCredential`` access token (simulated time): no event is sent with an expired token. This module knows nothing
of HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.errors import NotFound
from gateway.partners import PARTNER_PREFIX, parse_public_id
from gateway.store import Store, from_micros, to_micros
from gateway.webhooks import Outbox, OutboxEvent, cloud_event

API = "campaigns"
ID_PREFIX = "cms_"
TYPE_PREFIX = "org.opsim.campaigns.v1."
SOURCE = "/campaigns/v1"


@dataclass
class CampaignSubscription:
    """A partner's subscription to some of its campaigns' events."""

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


class CampaignEvents:
    """Subscriptions to campaign events and their delivery through the outbox."""

    def __init__(self, store: Store, outbox: Outbox) -> None:
        self.store = store
        self.outbox = outbox
        self._subs: dict[str, CampaignSubscription] | None = None

    def _all(self) -> dict[str, CampaignSubscription]:
        if self._subs is None:
            subs = {}
            for row in self.store.conn.execute("SELECT * FROM event_subscriptions WHERE api = ? AND deleted_us IS "
                                               "NULL ORDER BY seq", (API,)):
                spec = json.loads(row["spec"])
                expires = spec.get("sink_token_expires")
                subs[row["id"]] = CampaignSubscription(row["id"], row["partner_id"], tuple(spec["types"]), spec["sink"],
                                                       spec["sink_token"], from_micros(row["created_us"]),
                                                       bool(json.loads(row["state"]).get("ended")),
                                                       None if expires is None else from_micros(expires))
            self._subs = subs
        return self._subs

    def create(self, partner_id: int, types: tuple[str, ...], sink: str, sink_token: str | None,
               now: datetime, token_expires: datetime | None = None) -> CampaignSubscription:
        """A new subscription (active at once, until ``token_expires`` when the sink token has one)."""
        spec = json.dumps({"types": list(types), "sink": sink, "sink_token": sink_token,
                           "sink_token_expires": None if token_expires is None else to_micros(token_expires)},
                          sort_keys=True)
        with self.store.transaction() as conn:
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM event_subscriptions").fetchone()[0])
            sub_id = f"{ID_PREFIX}{seq:06d}"
            conn.execute("INSERT INTO event_subscriptions(id, seq, partner_id, api, version, spec, created_us) "
                         "VALUES (?, ?, ?, ?, 'v1', ?, ?)", (sub_id, seq, partner_id, API, spec, to_micros(now)))
        sub = CampaignSubscription(sub_id, partner_id, types, sink, sink_token, now, token_expires=token_expires)
        self._all()[sub_id] = sub
        return sub

    def list(self, partner_id: int) -> list[CampaignSubscription]:
        """A partner's subscriptions, oldest first."""
        return [s for s in self._all().values() if s.partner_id == partner_id]

    def get(self, partner_id: int, sub_id: str) -> CampaignSubscription:
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

    def on_campaign_event(self, event_type: str, data: dict[str, Any], at: datetime) -> None:
        """Campaign service listener: one CloudEvent per matching subscription of the campaign's partner."""
        partner_id = parse_public_id(str(data.get("partnerId", "")), PARTNER_PREFIX)
        if partner_id is None:
            return
        events = []
        for sub in self._all().values():
            if sub.partner_id != partner_id or not sub.active_at(at) or event_type not in sub.types:
                continue
            event_id = f"{sub.id}-{event_type}-{data.get('campaignId', '')}-{to_micros(at)}"
            kind = TYPE_PREFIX + event_type
            events.append(OutboxEvent(event_id, sub.id, partner_id, kind, sub.sink, sub.sink_token,
                                      cloud_event(event_id, SOURCE, kind, at, {"subscriptionId": sub.id, **data}), at))
        self.outbox.add(events)
