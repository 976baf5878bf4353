"""Every served route has a method of the Python client: a new route without one fails here."""

from __future__ import annotations

import inspect

import pytest

from gateway.client import AdminClient, PartnerClient, TrackingClient
from gateway.http.app import API_MODULES

# (method, path) of the route registry → the client method that calls it.
CLIENT_METHODS: dict[tuple[str, str], str] = {
    ("GET", "/health"): "PartnerClient.health",
    ("GET", "/metrics"): "AdminClient.metrics",
    ("GET", "/openapi.json"): "PartnerClient.openapi",
    ("POST", "/oauth2/token"): "PartnerClient.fetch_token",
    ("POST", "/bc-authorize"): "PartnerClient.ciba_authorize",
    # partner self-service
    ("GET", "/partner/v1/me"): "PartnerClient.me",
    ("GET", "/partner/v1/api-keys"): "PartnerClient.api_keys",
    ("GET", "/partner/v1/api-keys/{keyId}"): "PartnerClient.api_key",
    ("DELETE", "/partner/v1/api-keys/{keyId}"): "PartnerClient.revoke_api_key",
    ("GET", "/partner/v1/webhook-secret"): "PartnerClient.webhook_secret",
    ("POST", "/partner/v1/webhook-secret/rotate"): "PartnerClient.webhook_secret",
    # campaigns
    ("POST", "/campaigns/v1/audience-estimates"): "PartnerClient.estimate",
    ("POST", "/campaigns/v1/campaigns"): "PartnerClient.create_campaign",
    ("GET", "/campaigns/v1/campaigns"): "PartnerClient.campaigns",
    ("GET", "/campaigns/v1/campaigns/{campaignId}"): "PartnerClient.campaign",
    ("DELETE", "/campaigns/v1/campaigns/{campaignId}"): "PartnerClient.cancel_campaign",
    ("GET", "/campaigns/v1/campaigns/{campaignId}/report"): "PartnerClient.campaign_report",
    ("POST", "/campaigns/v1/subscriptions"): "PartnerClient.subscribe_campaign_events",
    ("GET", "/campaigns/v1/subscriptions"): "PartnerClient.campaign_event_subscriptions",
    ("GET", "/campaigns/v1/subscriptions/{subscriptionId}"): "PartnerClient.campaign_event_subscription",
    ("DELETE", "/campaigns/v1/subscriptions/{subscriptionId}"): "PartnerClient.delete_campaign_event_subscription",
    # journeys
    ("POST", "/journeys/v1/journeys"): "PartnerClient.create_journey",
    ("GET", "/journeys/v1/journeys"): "PartnerClient.journeys",
    ("GET", "/journeys/v1/journeys/{journeyId}"): "PartnerClient.journey",
    ("DELETE", "/journeys/v1/journeys/{journeyId}"): "PartnerClient.cancel_journey",
    ("POST", "/journeys/v1/journeys/{journeyId}/enrolments"): "PartnerClient.enrol",
    ("GET", "/journeys/v1/journeys/{journeyId}/report"): "PartnerClient.journey_report",
    ("POST", "/journeys/v1/subscriptions"): "PartnerClient.subscribe_journey_events",
    ("GET", "/journeys/v1/subscriptions"): "PartnerClient.journey_event_subscriptions",
    ("GET", "/journeys/v1/subscriptions/{subscriptionId}"): "PartnerClient.journey_event_subscription",
    ("DELETE", "/journeys/v1/subscriptions/{subscriptionId}"): "PartnerClient.delete_journey_event_subscription",
    # direct messages and authentication codes
    ("POST", "/messages/v1/messages"): "PartnerClient.send_message",
    ("GET", "/messages/v1/messages/{messageId}"): "PartnerClient.message",
    ("POST", "/messages/v1/senders"): "PartnerClient.register_sender",
    ("GET", "/messages/v1/senders"): "PartnerClient.senders",
    ("POST", "/messages/v1/templates"): "PartnerClient.register_template",
    ("GET", "/messages/v1/templates"): "PartnerClient.templates",
    ("POST", "/verify/v1/verifications"): "PartnerClient.start_verification",
    ("POST", "/verify/v1/verifications/{verificationId}/check"): "PartnerClient.check_verification",
    ("GET", "/verify/v1/verifications/{verificationId}"): "PartnerClient.verification",
    # CAMARA (current versions)
    ("POST", "/sim-swap/v2/check"): "PartnerClient.check_sim_swap",
    ("POST", "/sim-swap/v2/retrieve-date"): "PartnerClient.sim_swap_date",
    ("POST", "/sim-swap-subscriptions/v0.3/subscriptions"): "PartnerClient.create_sim_swap_subscription",
    ("GET", "/sim-swap-subscriptions/v0.3/subscriptions"): "PartnerClient.sim_swap_subscriptions",
    ("GET", "/sim-swap-subscriptions/v0.3/subscriptions/{subscriptionId}"): "PartnerClient.sim_swap_subscription",
    ("DELETE", "/sim-swap-subscriptions/v0.3/subscriptions/{subscriptionId}"):
        "PartnerClient.delete_sim_swap_subscription",
    ("POST", "/number-verification/v2/verify"): "PartnerClient.verify_number",
    ("GET", "/number-verification/v2/device-phone-number"): "PartnerClient.device_phone_number",
    ("POST", "/location-verification/v3/verify"): "PartnerClient.verify_location",
    ("POST", "/location-retrieval/v0.5/retrieve"): "PartnerClient.retrieve_location",
    ("POST", "/geofencing-subscriptions/v0.5/subscriptions"): "PartnerClient.create_geofence_subscription",
    ("GET", "/geofencing-subscriptions/v0.5/subscriptions"): "PartnerClient.geofence_subscriptions",
    ("GET", "/geofencing-subscriptions/v0.5/subscriptions/{subscriptionId}"): "PartnerClient.geofence_subscription",
    ("DELETE", "/geofencing-subscriptions/v0.5/subscriptions/{subscriptionId}"):
        "PartnerClient.delete_geofence_subscription",
    ("POST", "/region-device-count/v0.2/count"): "PartnerClient.count_devices",
    ("POST", "/population-density-data/v0.3/retrieve"): "PartnerClient.population_density",
    ("POST", "/device-reachability-status/v1/retrieve"): "PartnerClient.reachability",
    ("POST", "/device-roaming-status/v1/retrieve"): "PartnerClient.roaming",
    # admin: partners, clock, world
    ("POST", "/admin/v1/partners"): "AdminClient.create_partner",
    ("GET", "/admin/v1/partners"): "AdminClient.partners",
    ("GET", "/admin/v1/partners/{partnerId}"): "AdminClient.partner",
    ("POST", "/admin/v1/partners/{partnerId}/disable"): "AdminClient.disable_partner",
    ("POST", "/admin/v1/partners/{partnerId}/enable"): "AdminClient.enable_partner",
    ("POST", "/admin/v1/partners/{partnerId}/api-keys"): "AdminClient.issue_api_key",
    ("DELETE", "/admin/v1/partners/{partnerId}/api-keys/{keyId}"): "AdminClient.revoke_api_key",
    ("POST", "/admin/v1/partners/{partnerId}/service-accounts"): "AdminClient.issue_service_account",
    ("GET", "/admin/v1/partners/{partnerId}/webhook-secret"): "AdminClient.partner_webhook_secret",
    ("POST", "/admin/v1/partners/{partnerId}/webhook-secret/rotate"): "AdminClient.partner_webhook_secret",
    ("GET", "/admin/v1/clock"): "AdminClient.clock",
    ("POST", "/admin/v1/clock/advance"): "AdminClient.advance",
    ("POST", "/admin/v1/clock/mode"): "AdminClient.set_clock_mode",
    ("POST", "/admin/v1/clock/pause"): "AdminClient.pause",
    ("POST", "/admin/v1/clock/resume"): "AdminClient.resume",
    ("GET", "/admin/v1/recording"): "AdminClient.recording",
    ("POST", "/admin/v1/recording"): "AdminClient.start_recording",
    ("DELETE", "/admin/v1/recording"): "AdminClient.stop_recording",
    ("GET", "/admin/v1/world"): "AdminClient.world",
    ("GET", "/admin/v1/console/map"): "AdminClient.console_map",
    ("GET", "/admin/v1/console/occupancy"): "AdminClient.occupancy",
    ("GET", "/admin/v1/console/state"): "AdminClient.console_state",
    ("GET", "/admin/v1/console/subscribers/{msisdn}/track"): "AdminClient.track",
    ("POST", "/admin/v1/gatherings"): "AdminClient.add_gathering",
    ("GET", "/admin/v1/gatherings"): "AdminClient.gatherings",
    # admin: subscribers and lines
    ("GET", "/admin/v1/subscribers/{msisdn}"): "AdminClient.subscriber",
    ("PUT", "/admin/v1/subscribers/{msisdn}/consent"): "AdminClient.set_consent",
    ("POST", "/admin/v1/subscribers/{msisdn}/pin"): "AdminClient.pin",
    ("DELETE", "/admin/v1/subscribers/{msisdn}/pin"): "AdminClient.release",
    ("POST", "/admin/v1/subscribers"): "AdminClient.add_test_subscriber",
    ("GET", "/admin/v1/subscribers/{msisdn}/inbox"): "AdminClient.inbox",
    ("GET", "/admin/v1/subscribers/{msisdn}/ciba"): "AdminClient.ciba_policy",
    ("PUT", "/admin/v1/subscribers/{msisdn}/ciba"): "AdminClient.set_ciba_policy",
    ("POST", "/admin/v1/subscribers/{msisdn}/network-authentication"): "AdminClient.network_authentication",
    ("GET", "/admin/v1/subscribers/{msisdn}/line"): "AdminClient.line",
    ("POST", "/admin/v1/subscribers/{msisdn}/sim-swap"): "AdminClient.sim_swap",
    # admin: messaging approvals and blocks, operator-side truth
    ("GET", "/admin/v1/message-senders"): "AdminClient.message_senders",
    ("POST", "/admin/v1/message-senders/{senderId}/decision"): "AdminClient.decide_sender",
    ("GET", "/admin/v1/message-templates"): "AdminClient.message_templates",
    ("POST", "/admin/v1/message-templates/{templateId}/decision"): "AdminClient.decide_template",
    ("GET", "/admin/v1/subscribers/{msisdn}/sender-blocks"): "AdminClient.sender_blocks",
    ("POST", "/admin/v1/subscribers/{msisdn}/sender-blocks"): "AdminClient.block_sender",
    ("DELETE", "/admin/v1/subscribers/{msisdn}/sender-blocks/{partnerId}/{sender}"): "AdminClient.unblock_sender",
    ("GET", "/admin/v1/campaigns/{campaignId}/deliveries"): "AdminClient.campaign_deliveries",
    ("GET", "/admin/v1/journeys/{journeyId}/recipients"): "AdminClient.journey_recipients",
    # admin: webhooks outbox
    ("GET", "/admin/v1/webhooks/events"): "AdminClient.webhook_events",
    ("GET", "/admin/v1/webhooks/counts"): "AdminClient.webhook_counts",
    ("GET", "/admin/v1/webhooks/events/{eventId}"): "AdminClient.webhook_event",
    ("GET", "/admin/v1/webhooks/dead-letters"): "AdminClient.dead_letters",
    ("POST", "/admin/v1/webhooks/dead-letters/{eventId}/redrive"): "AdminClient.redrive",
    # fault injection (admin)
    ("POST", "/admin/v1/faults"): "AdminClient.add_fault_profile",
    ("GET", "/admin/v1/faults"): "AdminClient.fault_profiles",
    ("DELETE", "/admin/v1/faults"): "AdminClient.clear_fault_profiles",
    ("GET", "/admin/v1/faults/{name}"): "AdminClient.fault_profile",
    ("DELETE", "/admin/v1/faults/{name}"): "AdminClient.remove_fault_profile",
    ("POST", "/admin/v1/faults/network"): "AdminClient.add_network_fault",
    ("GET", "/admin/v1/faults/network"): "AdminClient.network_faults",
    # partner apps and push (issue 13)
    ("POST", "/apps/v1/apps"): "PartnerClient.register_app",
    ("GET", "/apps/v1/apps"): "PartnerClient.apps",
    ("GET", "/apps/v1/apps/{appId}"): "PartnerClient.app",
    ("POST", "/v1/projects/{projectId}/messages:send"): "PartnerClient.send_push",
    ("POST", "/iid/v1:batchAdd"): "PartnerClient.subscribe_topic",
    ("POST", "/iid/v1:batchRemove"): "PartnerClient.subscribe_topic",
    ("POST", "/iid/v1/{token}/rel/topics/{topic}"): "PartnerClient.subscribe_token",
    ("GET", "/admin/v1/apps/{appId}/installations"): "AdminClient.installations",
    ("DELETE", "/admin/v1/apps/{appId}/installations/{installationId}"): "AdminClient.uninstall",
    ("PATCH", "/admin/v1/apps/{appId}/installations/{installationId}"): "AdminClient.set_installation_permissions",
    ("GET", "/admin/v1/push/messages/{messageId}"): "AdminClient.push_message",
    ("GET", "/admin/v1/push/fanouts/{fanoutId}"): "AdminClient.push_fanout",
    # CDP: the partner's API and a source's tracking calls (Segment spec)
    ("POST", "/cdp/v1/sources"): "PartnerClient.create_source",
    ("GET", "/cdp/v1/sources"): "PartnerClient.sources",
    ("GET", "/cdp/v1/profiles/{identity}"): "PartnerClient.profile",
    ("POST", "/cdp/v1/audiences"): "PartnerClient.create_audience",
    ("GET", "/cdp/v1/audiences"): "PartnerClient.audiences",
    ("GET", "/cdp/v1/audiences/{audienceId}"): "PartnerClient.audience",
    ("DELETE", "/cdp/v1/audiences/{audienceId}"): "PartnerClient.delete_audience",
    ("GET", "/cdp/v1/audiences/{audienceId}/members"): "PartnerClient.audience_members",
    ("POST", "/cdp/v1/triggers"): "PartnerClient.create_trigger",
    ("GET", "/cdp/v1/triggers"): "PartnerClient.triggers",
    ("GET", "/cdp/v1/triggers/{triggerId}"): "PartnerClient.trigger",
    ("DELETE", "/cdp/v1/triggers/{triggerId}"): "PartnerClient.delete_trigger",
    ("GET", "/cdp/v1/triggers/{triggerId}/fires"): "PartnerClient.trigger_fires",
    **{("POST", f"/v1/{kind}"): f"TrackingClient.{kind}"
       for kind in ("track", "identify", "page", "screen", "group", "alias", "batch")},
}

# Routes the client deliberately leaves out, with the reason.
_OLDER = "an older CAMARA version kept for existing integrations; the client speaks the current one"
NOT_IN_CLIENT: dict[tuple[str, str], str] = {
    ("GET", "/docs"): "an HTML page for browsers",
    ("GET", "/console"): "an HTML page for browsers",
    ("GET", "/admin/v1/console/stream"): "the console page's event stream (console_state reads once)",
    ("POST", "/location-verification/v2/verify"): _OLDER,
    ("POST", "/location-verification/v1/verify"): _OLDER,
    ("POST", "/location-retrieval/v0.4/retrieve"): _OLDER,
    **{(method, f"/geofencing-subscriptions/{version}/subscriptions{tail}"): _OLDER
       for version in ("v0.4", "v0.3")
       for method, tail in (("POST", ""), ("GET", ""), ("GET", "/{subscriptionId}"),
                            ("DELETE", "/{subscriptionId}"))},
}

CLIENTS = {"PartnerClient": PartnerClient, "AdminClient": AdminClient, "TrackingClient": TrackingClient}


def _served() -> set[tuple[str, str]]:
    return {(route.method, route.path) for module in API_MODULES for route in module.routes.routes}


def test_every_route_has_a_client_method_or_a_reason() -> None:
    """A route added to the gateway without a client method (or a stated reason) fails this test."""
    served = _served()
    missing = sorted(served - CLIENT_METHODS.keys() - NOT_IN_CLIENT.keys())
    assert not missing, f"routes without a client method: {missing}"
    stale = sorted((CLIENT_METHODS.keys() | NOT_IN_CLIENT.keys()) - served)
    assert not stale, f"mapped routes the gateway no longer serves: {stale}"
    assert not CLIENT_METHODS.keys() & NOT_IN_CLIENT.keys()


@pytest.mark.parametrize("route", sorted(CLIENT_METHODS), ids=" ".join)
def test_mapped_client_method_exists_and_is_documented(route: tuple[str, str]) -> None:
    """The mapped method exists on its client, is a coroutine function and has a docstring."""
    owner, name = CLIENT_METHODS[route].split(".")
    method = getattr(CLIENTS[owner], name, None)
    assert method is not None, f"{CLIENT_METHODS[route]} does not exist"
    assert inspect.iscoroutinefunction(method) and method.__doc__
