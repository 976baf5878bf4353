"""Async Python clients of the gateway: :class:`PartnerClient` (what an integrator's code does) and
:class:`AdminClient` (operator-side test set-up: partners, clock, subscribers).

They speak HTTP only, return the very pydantic models the server serialises, and raise :class:`ApiError` for
every non-2xx answer. Scenarios and the demo use them; later issues add methods. They must not import server
internals beyond the wire models.
"""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp
import pydantic

from gateway.wire.admin_clock import ClockAdvance, ClockModeChange, ClockState
from gateway.wire.admin_gatherings import Gathering, GatheringCreate, GatheringList
from gateway.wire.admin_lines import LineInfo
from gateway.wire.admin_messages import (
    AdminRegistration,
    AdminSenderList,
    AdminTemplateList,
    BlockList,
    BlockRequest,
    Decision,
)
from gateway.wire.admin_partners import (
    ApiKeyCreated,
    Partner,
    PartnerCreate,
    PartnerCreated,
    PartnerLimits,
    PartnerList,
)
from gateway.wire.admin_recording import RecordingState
from gateway.wire.admin_subscribers import (
    ConsentChange,
    Inbox,
    NewTestSubscriber,
    PinRequest,
    ProfileFields,
    SubscriberView,
)
from gateway.wire.admin_world import WorldSummary
from gateway.wire.apps import (
    App,
    AppList,
    AppRequest,
    Installation,
    InstallationChange,
    InstallationList,
    PushFanout,
    PushMessage,
)
from gateway.wire.camara.device_reachability_status import DeviceStatusRequest, ReachabilityStatusResponse
from gateway.wire.camara.device_roaming_status import RoamingStatusResponse
from gateway.wire.camara.geofencing_subscriptions import Subscription as GeofenceSubscription
from gateway.wire.camara.geofencing_subscriptions import SubscriptionRequest
from gateway.wire.camara.location_retrieval import Location as RetrievedLocation
from gateway.wire.camara.location_retrieval import RetrievalLocationRequest
from gateway.wire.camara.location_verification import VerifyLocationRequest, VerifyLocationResponse
from gateway.wire.camara.number_verification import (
    NetworkAuthentication,
    NetworkAuthenticationResult,
    NumberVerificationMatchResponse,
    NumberVerificationRequest,
    NumberVerificationShareResponse,
)
from gateway.wire.camara.population_density_data import PopulationDensityRequest, PopulationDensityResponse
from gateway.wire.camara.region_device_count import RegionDeviceCountRequest, RegionDeviceCountResponse
from gateway.wire.camara.sim_swap import CheckSimSwapInfo, CreateCheckSimSwap, CreateSimSwapDate, SimSwapInfo
from gateway.wire.camara.sim_swap_subscriptions import Subscription as SimSwapSubscription
from gateway.wire.camara.sim_swap_subscriptions import SubscriptionRequest as SimSwapSubscriptionRequest
from gateway.wire.campaigns import (
    AudienceEstimate,
    Campaign,
    CampaignCreate,
    CampaignList,
    CampaignReport,
    CampaignSubscriptionRequest,
    DeliveryList,
    EstimateRequest,
)
from gateway.wire.cdp import Audience as CdpAudience
from gateway.wire.cdp import (
    AudienceList,
    AudienceMembers,
    AudienceRequest,
    Profile,
    SourceList,
    SourceRequest,
    TrackingAck,
)
from gateway.wire.cdp import Source as CdpSource
from gateway.wire.cdp_triggers import Trigger, TriggerFire, TriggerFireList, TriggerList, TriggerRequest
from gateway.wire.ciba import BackchannelResponse, CibaPolicy, CibaPolicyView
from gateway.wire.console import ConsoleMap, ConsoleOccupancy, ConsoleState, ConsoleTrack
from gateway.wire.event_subscriptions import EventSubscriptionList, EventSubscriptionView
from gateway.wire.faults import (
    FaultProfile,
    FaultProfileCreate,
    FaultProfileList,
    NetworkFault,
    NetworkFaultCreate,
    NetworkFaultList,
)
from gateway.wire.fcm import Message as PushMessageBody
from gateway.wire.fcm import SendRequest, SendResponse, TopicBatchRequest, TopicBatchResponse
from gateway.wire.health import Health
from gateway.wire.journeys import (
    Enrolment,
    EnrolmentRequest,
    Journey,
    JourneyCreate,
    JourneyList,
    JourneyReportModel,
    JourneySubscriptionRequest,
    RecipientList,
)
from gateway.wire.messages import (
    Message,
    RegistrationView,
    SenderList,
    SenderRequest,
    SendMessage,
    TemplateList,
    TemplateRequest,
)
from gateway.wire.oauth import CIBA_GRANT_TYPE, ServiceAccountCreate, ServiceAccountFile, TokenResponse
from gateway.wire.partners import ApiKeyInfo, ApiKeyList, Me
from gateway.wire.verify import CheckCode, StartVerification, Verification
from gateway.wire.webhooks import OutboxCounts, OutboxEventView, OutboxList, WebhookSecret

M = TypeVar("M", bound=pydantic.BaseModel)

GEOFENCING = "/geofencing-subscriptions/v0.5/subscriptions"
SIM_SWAP_SUBSCRIPTIONS = "/sim-swap-subscriptions/v0.3/subscriptions"

TOKEN_MARGIN_S = 30.0
"""Refresh a token this many wall seconds before it expires."""


class ApiError(Exception):
    """A non-2xx answer: CAMARA ``status``/``code``/``message`` (or the OAuth ``error``), and the correlator."""

    def __init__(self, status: int, code: str, message: str, correlator: str | None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.correlator = correlator
        self.details = details or []


async def _raise_for(response: aiohttp.ClientResponse) -> None:
    if response.status < 400:
        return
    correlator = response.headers.get("x-correlator")
    text = await response.text()
    try:
        body = pydantic.TypeAdapter(dict[str, Any]).validate_json(text)
    except pydantic.ValidationError:
        body = {}
    error = body.get("error")
    if isinstance(error, dict):  # FCM (Google API) error: the FCM errorCode when there is one, else the status
        details = [d for d in error.get("details", []) if isinstance(d, dict)]
        codes = [str(d["errorCode"]) for d in details if d.get("errorCode")]
        raise ApiError(response.status, codes[0] if codes else str(error.get("status", "UNKNOWN")),
                       str(error.get("message", "")), correlator, details)
    if "error" in body:  # RFC 6749 token endpoint error, or the Instance ID API's {"error": "<reason>"}
        raise ApiError(response.status, str(body["error"]), str(body.get("error_description", "")), correlator)
    raise ApiError(response.status, str(body.get("code", "UNKNOWN")), str(body.get("message", text[:200])),
                   correlator, body.get("details"))


def _dump(model: pydantic.BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def msisdn_path(msisdn: str) -> str:
    """An MSISDN as a path segment (the ``+`` URL-encoded)."""
    return quote(msisdn, safe="")


class _Client:
    def __init__(self, base_url: str, timeout_s: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)  # wall time: network I/O only
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the client as an async context manager")
        return self._session

    def _headers(self) -> dict[str, str]:
        return {}

    async def send(self, method: str, path: str, *, json: Any = None, correlator: str | None = None,
                   params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Raw call: status and body of a 2xx answer, :class:`ApiError` otherwise."""
        headers = {**(headers or {}), **await self._auth_headers()}
        if correlator is not None:
            headers["x-correlator"] = correlator
        async with self.session.request(method, self.base_url + path, json=json, headers=headers,
                                        params=params) as response:
            await _raise_for(response)
            return response.status, await response.read()

    async def _auth_headers(self) -> dict[str, str]:
        return self._headers()

    async def call(self, model: type[M], method: str, path: str, *, json: Any = None,
                   correlator: str | None = None) -> M:
        """Call and parse the answer as ``model``."""
        _, body = await self.send(method, path, json=json, correlator=correlator)
        return model.model_validate_json(body)

    async def health(self) -> Health:
        """``GET /health``."""
        return await self.call(Health, "GET", "/health")

    async def openapi(self) -> dict[str, Any]:
        """``GET /openapi.json``: the OpenAPI 3.1 document of every route."""
        _, raw = await self.send("GET", "/openapi.json")
        return pydantic.TypeAdapter(dict[str, Any]).validate_json(raw)


class PartnerClient(_Client):
    """A partner's client: fetches an OAuth token (client credentials) and refreshes it before it expires."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, scopes: list[str] | None = None,
                 timeout_s: float = 300.0) -> None:
        super().__init__(base_url, timeout_s)
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self._token: str | None = None
        self._expires_at = 0.0  # time.monotonic() reading

    async def fetch_token(self) -> TokenResponse:
        """Get a new access token now."""
        form = {"grant_type": "client_credentials"}
        if self.scopes is not None:
            form["scope"] = " ".join(self.scopes)
        # RFC 6749 2.3.1: id and secret are form-urlencoded, then Basic-encoded.
        pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
        headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        async with self.session.post(self.base_url + "/oauth2/token", data=form, headers=headers) as response:
            await _raise_for(response)
            token = TokenResponse.model_validate_json(await response.read())
        self._token = token.access_token
        self._expires_at = time.monotonic() + token.expires_in - TOKEN_MARGIN_S
        return token

    async def _auth_headers(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._expires_at:
            await self.fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    async def send(self, method: str, path: str, *, json: Any = None, correlator: str | None = None,
                   params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Raw call; a 401 triggers one token refresh and retry (the token may have been revoked or expired)."""
        try:
            return await super().send(method, path, json=json, correlator=correlator, params=params, headers=headers)
        except ApiError as exc:
            if exc.status != 401:
                raise
            self._token = None
            return await super().send(method, path, json=json, correlator=correlator, params=params, headers=headers)

    async def me(self) -> Me:
        """``GET /partner/v1/me``."""
        return await self.call(Me, "GET", "/partner/v1/me")

    async def api_keys(self) -> list[ApiKeyInfo]:
        """``GET /partner/v1/api-keys``."""
        return (await self.call(ApiKeyList, "GET", "/partner/v1/api-keys")).api_keys

    async def api_key(self, key_id: str) -> ApiKeyInfo:
        """``GET /partner/v1/api-keys/{keyId}``."""
        return await self.call(ApiKeyInfo, "GET", f"/partner/v1/api-keys/{quote(key_id, safe='')}")

    async def revoke_api_key(self, key_id: str) -> None:
        """``DELETE /partner/v1/api-keys/{keyId}``."""
        await self.send("DELETE", f"/partner/v1/api-keys/{quote(key_id, safe='')}")


    # -- campaigns -----------------------------------------------------------------------------------------
    async def estimate(self, body: EstimateRequest) -> AudienceEstimate:
        """``POST /campaigns/v1/audience-estimates``."""
        return await self.call(AudienceEstimate, "POST", "/campaigns/v1/audience-estimates", json=_dump(body))

    async def create_campaign(self, body: CampaignCreate, idempotency_key: str | None = None) -> Campaign:
        """``POST /campaigns/v1/campaigns`` (the same key and body give back the same campaign)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        _, raw = await self.send("POST", "/campaigns/v1/campaigns", json=_dump(body), headers=headers)
        return Campaign.model_validate_json(raw)

    async def campaigns(self, limit: int = 20, cursor: str | None = None) -> CampaignList:
        """``GET /campaigns/v1/campaigns`` (one page; follow ``next_cursor``)."""
        params = {"limit": str(limit), **({"cursor": cursor} if cursor is not None else {})}
        _, raw = await self.send("GET", "/campaigns/v1/campaigns", params=params)
        return CampaignList.model_validate_json(raw)

    async def campaign(self, campaign_id: str) -> Campaign:
        """``GET /campaigns/v1/campaigns/{id}``."""
        return await self.call(Campaign, "GET", f"/campaigns/v1/campaigns/{quote(campaign_id, safe='')}")

    async def cancel_campaign(self, campaign_id: str) -> Campaign:
        """``DELETE /campaigns/v1/campaigns/{id}``."""
        return await self.call(Campaign, "DELETE", f"/campaigns/v1/campaigns/{quote(campaign_id, safe='')}")

    async def campaign_report(self, campaign_id: str) -> CampaignReport:
        """``GET /campaigns/v1/campaigns/{id}/report``."""
        return await self.call(CampaignReport, "GET",
                               f"/campaigns/v1/campaigns/{quote(campaign_id, safe='')}/report")

    # -- journeys ----------------------------------------------------------------------------------------------
    async def create_journey(self, body: JourneyCreate, idempotency_key: str | None = None) -> Journey:
        """``POST /journeys/v1/journeys`` (the same key and body give back the same journey)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        _, raw = await self.send("POST", "/journeys/v1/journeys", json=_dump(body), headers=headers)
        return Journey.model_validate_json(raw)

    async def journeys(self, limit: int = 20, cursor: str | None = None) -> JourneyList:
        """``GET /journeys/v1/journeys`` (one page; follow ``next_cursor``)."""
        params = {"limit": str(limit), **({"cursor": cursor} if cursor is not None else {})}
        _, raw = await self.send("GET", "/journeys/v1/journeys", params=params)
        return JourneyList.model_validate_json(raw)

    async def journey(self, journey_id: str) -> Journey:
        """``GET /journeys/v1/journeys/{id}``."""
        return await self.call(Journey, "GET", f"/journeys/v1/journeys/{quote(journey_id, safe='')}")

    async def cancel_journey(self, journey_id: str) -> Journey:
        """``DELETE /journeys/v1/journeys/{id}``."""
        return await self.call(Journey, "DELETE", f"/journeys/v1/journeys/{quote(journey_id, safe='')}")

    async def enrol(self, journey_id: str, body: EnrolmentRequest) -> Enrolment:
        """``POST /journeys/v1/journeys/{id}/enrolments`` (``EVENT_REMINDER`` journeys)."""
        return await self.call(Enrolment, "POST", f"/journeys/v1/journeys/{quote(journey_id, safe='')}/enrolments",
                               json=_dump(body))

    async def journey_report(self, journey_id: str) -> JourneyReportModel:
        """``GET /journeys/v1/journeys/{id}/report``."""
        return await self.call(JourneyReportModel, "GET",
                               f"/journeys/v1/journeys/{quote(journey_id, safe='')}/report")

    async def journey_event_subscriptions(self) -> list[EventSubscriptionView]:
        """``GET /journeys/v1/subscriptions``."""
        return (await self.call(EventSubscriptionList, "GET", "/journeys/v1/subscriptions")).subscriptions

    async def subscribe_journey_events(self, body: JourneySubscriptionRequest) -> EventSubscriptionView:
        """``POST /journeys/v1/subscriptions``: journey events as CloudEvents at the partner's sink."""
        return await self.call(EventSubscriptionView, "POST", "/journeys/v1/subscriptions", json=_dump(body))

    async def journey_event_subscription(self, subscription_id: str) -> EventSubscriptionView:
        """``GET /journeys/v1/subscriptions/{id}``."""
        return await self.call(EventSubscriptionView, "GET",
                               f"/journeys/v1/subscriptions/{quote(subscription_id, safe='')}")

    async def delete_journey_event_subscription(self, subscription_id: str) -> None:
        """``DELETE /journeys/v1/subscriptions/{id}``."""
        await self.send("DELETE", f"/journeys/v1/subscriptions/{quote(subscription_id, safe='')}")

    # -- direct messages ---------------------------------------------------------------------------------------
    async def send_message(self, body: SendMessage, idempotency_key: str | None = None) -> Message:
        """``POST /messages/v1/messages`` (scope ``messages:send``; the same key and body: the same message)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        _, raw = await self.send("POST", "/messages/v1/messages", json=_dump(body), headers=headers)
        return Message.model_validate_json(raw)

    async def message(self, message_id: str) -> Message:
        """``GET /messages/v1/messages/{id}``: status, reason and history."""
        return await self.call(Message, "GET", f"/messages/v1/messages/{quote(message_id, safe='')}")

    async def register_sender(self, name: str) -> RegistrationView:
        """``POST /messages/v1/senders``: ask the operator to approve a sender name (``PENDING`` until decided)."""
        return await self.call(RegistrationView, "POST", "/messages/v1/senders", json=_dump(SenderRequest(name=name)))

    async def senders(self) -> list[RegistrationView]:
        """``GET /messages/v1/senders``: the partner's sender names and their status."""
        return (await self.call(SenderList, "GET", "/messages/v1/senders")).senders

    async def register_template(self, body: TemplateRequest) -> RegistrationView:
        """``POST /messages/v1/templates``: ask the operator to approve a message template."""
        return await self.call(RegistrationView, "POST", "/messages/v1/templates", json=_dump(body))

    async def templates(self) -> list[RegistrationView]:
        """``GET /messages/v1/templates``: the partner's templates and their status."""
        return (await self.call(TemplateList, "GET", "/messages/v1/templates")).templates

    # -- authentication codes ----------------------------------------------------------------------------------
    async def start_verification(self, body: StartVerification) -> Verification:
        """``POST /verify/v1/verifications`` (scope ``verify``): a code goes to the device's inbox."""
        return await self.call(Verification, "POST", "/verify/v1/verifications", json=_dump(body))

    async def check_verification(self, verification_id: str, code: str) -> Verification:
        """``POST /verify/v1/verifications/{id}/check``: ``APPROVED``, ``PENDING``, ``EXPIRED`` or ``MAX_ATTEMPTS``."""
        return await self.call(Verification, "POST",
                               f"/verify/v1/verifications/{quote(verification_id, safe='')}/check",
                               json=_dump(CheckCode(code=code)))

    async def verification(self, verification_id: str) -> Verification:
        """``GET /verify/v1/verifications/{id}``: status, counts and every send."""
        return await self.call(Verification, "GET", f"/verify/v1/verifications/{quote(verification_id, safe='')}")

    # -- CAMARA ----------------------------------------------------------------------------------------------
    async def verify_location(self, body: VerifyLocationRequest) -> VerifyLocationResponse:
        """``POST /location-verification/v3/verify`` (scope ``location-verification:verify``)."""
        return await self.call(VerifyLocationResponse, "POST", "/location-verification/v3/verify", json=_dump(body))

    async def retrieve_location(self, body: RetrievalLocationRequest) -> RetrievedLocation:
        """``POST /location-retrieval/v0.5/retrieve`` (scope ``location-retrieval:read``)."""
        return await self.call(RetrievedLocation, "POST", "/location-retrieval/v0.5/retrieve", json=_dump(body))

    async def create_geofence_subscription(self, body: SubscriptionRequest) -> GeofenceSubscription:
        """``POST /geofencing-subscriptions/v0.5/subscriptions`` (scope ``geofencing-subscriptions:<type>:create``)."""
        return await self.call(GeofenceSubscription, "POST", GEOFENCING, json=_dump(body))

    async def geofence_subscriptions(self) -> list[GeofenceSubscription]:
        """``GET /geofencing-subscriptions/v0.5/subscriptions`` (a bare JSON array)."""
        _, raw = await self.send("GET", GEOFENCING)
        return pydantic.TypeAdapter(list[GeofenceSubscription]).validate_json(raw)

    async def geofence_subscription(self, subscription_id: str) -> GeofenceSubscription:
        """``GET /geofencing-subscriptions/v0.5/subscriptions/{id}``."""
        return await self.call(GeofenceSubscription, "GET", f"{GEOFENCING}/{quote(subscription_id, safe='')}")

    async def delete_geofence_subscription(self, subscription_id: str) -> None:
        """``DELETE /geofencing-subscriptions/v0.5/subscriptions/{id}`` (a ``subscription-ended`` event follows)."""
        await self.send("DELETE", f"{GEOFENCING}/{quote(subscription_id, safe='')}")

    async def count_devices(self, body: RegionDeviceCountRequest) -> RegionDeviceCountResponse:
        """``POST /region-device-count/v0.2/count`` (scope ``region-device-count:count``)."""
        return await self.call(RegionDeviceCountResponse, "POST", "/region-device-count/v0.2/count", json=_dump(body))

    async def population_density(self, body: PopulationDensityRequest) -> PopulationDensityResponse:
        """``POST /population-density-data/v0.3/retrieve`` (scope ``population-density-data:read``)."""
        return await self.call(PopulationDensityResponse, "POST", "/population-density-data/v0.3/retrieve",
                               json=_dump(body))

    async def reachability(self, body: DeviceStatusRequest) -> ReachabilityStatusResponse:
        """``POST /device-reachability-status/v1/retrieve`` (scope ``device-reachability-status:read``)."""
        return await self.call(ReachabilityStatusResponse, "POST", "/device-reachability-status/v1/retrieve",
                               json=_dump(body))

    async def roaming(self, body: DeviceStatusRequest) -> RoamingStatusResponse:
        """``POST /device-roaming-status/v1/retrieve`` (scope ``device-roaming-status:read``)."""
        return await self.call(RoamingStatusResponse, "POST", "/device-roaming-status/v1/retrieve", json=_dump(body))

    async def check_sim_swap(self, body: CreateCheckSimSwap) -> CheckSimSwapInfo:
        """``POST /sim-swap/v2/check`` (scope ``sim-swap:check``): swapped within ``maxAge`` hours?"""
        return await self.call(CheckSimSwapInfo, "POST", "/sim-swap/v2/check", json=_dump(body))

    async def sim_swap_date(self, body: CreateSimSwapDate) -> SimSwapInfo:
        """``POST /sim-swap/v2/retrieve-date`` (scope ``sim-swap:retrieve-date``): the latest SIM change."""
        return await self.call(SimSwapInfo, "POST", "/sim-swap/v2/retrieve-date", json=_dump(body))

    async def create_sim_swap_subscription(self, body: SimSwapSubscriptionRequest) -> SimSwapSubscription:
        """``POST /sim-swap-subscriptions/v0.3/subscriptions``: ``swapped`` events at the partner's sink."""
        return await self.call(SimSwapSubscription, "POST", SIM_SWAP_SUBSCRIPTIONS, json=_dump(body))

    async def sim_swap_subscriptions(self) -> list[SimSwapSubscription]:
        """``GET /sim-swap-subscriptions/v0.3/subscriptions`` (a bare JSON array)."""
        _, raw = await self.send("GET", SIM_SWAP_SUBSCRIPTIONS)
        return pydantic.TypeAdapter(list[SimSwapSubscription]).validate_json(raw)

    async def sim_swap_subscription(self, subscription_id: str) -> SimSwapSubscription:
        """``GET /sim-swap-subscriptions/v0.3/subscriptions/{id}``."""
        return await self.call(SimSwapSubscription, "GET",
                               f"{SIM_SWAP_SUBSCRIPTIONS}/{quote(subscription_id, safe='')}")

    async def delete_sim_swap_subscription(self, subscription_id: str) -> None:
        """``DELETE /sim-swap-subscriptions/v0.3/subscriptions/{id}``."""
        await self.send("DELETE", f"{SIM_SWAP_SUBSCRIPTIONS}/{quote(subscription_id, safe='')}")

    async def verify_number(self, body: NumberVerificationRequest) -> NumberVerificationMatchResponse:
        """``POST /number-verification/v2/verify`` (three-legged token from network authentication)."""
        return await self.call(NumberVerificationMatchResponse, "POST", "/number-verification/v2/verify",
                               json=_dump(body))

    async def device_phone_number(self) -> NumberVerificationShareResponse:
        """``GET /number-verification/v2/device-phone-number`` (three-legged token from network authentication)."""
        return await self.call(NumberVerificationShareResponse, "GET", "/number-verification/v2/device-phone-number")

    # -- three-legged tokens (CIBA) and webhooks ------------------------------------------------------------------
    async def ciba_authorize(self, msisdn: str, scope: str) -> BackchannelResponse:
        """``POST /bc-authorize``: ask the subscriber to approve ``scope`` (API scopes plus one ``dpv:`` purpose)."""
        form = {"login_hint": f"tel:{msisdn}", "scope": scope, "client_id": self.client_id,
                "client_secret": self._secret}
        async with self.session.post(self.base_url + "/bc-authorize", data=form) as response:
            await _raise_for(response)
            return BackchannelResponse.model_validate_json(await response.read())

    async def ciba_token(self, auth_req_id: str) -> TokenResponse:
        """Poll ``/oauth2/token`` with the CIBA grant once; ``ApiError`` ``authorization_pending`` until approved.

        The token is bound to the subscriber: use it with a client of its own (``use_token``).
        """
        form = {"grant_type": CIBA_GRANT_TYPE, "auth_req_id": auth_req_id, "client_id": self.client_id,
                "client_secret": self._secret}
        async with self.session.post(self.base_url + "/oauth2/token", data=form) as response:
            await _raise_for(response)
            return TokenResponse.model_validate_json(await response.read())

    def use_token(self, token: TokenResponse) -> None:
        """Call with ``token`` (e.g. a three-legged one) until it expires; then client credentials again."""
        self._token = token.access_token
        self._expires_at = time.monotonic() + token.expires_in - TOKEN_MARGIN_S

    async def webhook_secret(self, rotate: bool = False) -> WebhookSecret:
        """The secret signing this partner's webhooks (``X-Opsim-Signature``); ``rotate`` replaces it."""
        if rotate:
            return await self.call(WebhookSecret, "POST", "/partner/v1/webhook-secret/rotate")
        return await self.call(WebhookSecret, "GET", "/partner/v1/webhook-secret")

    async def subscribe_campaign_events(self, body: CampaignSubscriptionRequest) -> EventSubscriptionView:
        """``POST /campaigns/v1/subscriptions``: campaign events as CloudEvents at the partner's sink."""
        return await self.call(EventSubscriptionView, "POST", "/campaigns/v1/subscriptions", json=_dump(body))

    async def campaign_event_subscriptions(self) -> list[EventSubscriptionView]:
        """``GET /campaigns/v1/subscriptions``."""
        return (await self.call(EventSubscriptionList, "GET", "/campaigns/v1/subscriptions")).subscriptions

    async def campaign_event_subscription(self, subscription_id: str) -> EventSubscriptionView:
        """``GET /campaigns/v1/subscriptions/{id}``."""
        return await self.call(EventSubscriptionView, "GET",
                               f"/campaigns/v1/subscriptions/{quote(subscription_id, safe='')}")

    async def delete_campaign_event_subscription(self, subscription_id: str) -> None:
        """``DELETE /campaigns/v1/subscriptions/{id}``."""
        await self.send("DELETE", f"/campaigns/v1/subscriptions/{quote(subscription_id, safe='')}")

    # -- CDP (/cdp/v1) -------------------------------------------------------------------------------------
    async def create_source(self, name: str, app_id: str | None = None) -> CdpSource:
        """A new CDP source; the answer carries its write key (once). With ``app_id`` the app reports through it."""
        return await self.call(CdpSource, "POST", "/cdp/v1/sources", json=_dump(SourceRequest(name=name,
                                                                                             app_id=app_id)))

    async def sources(self) -> list[CdpSource]:
        """The partner's CDP sources (without write keys)."""
        return (await self.call(SourceList, "GET", "/cdp/v1/sources")).sources

    async def profile(self, identity: str, limit: int = 20) -> Profile:
        """A profile by one of its user ids or anonymous ids, with up to ``limit`` latest calls."""
        _, raw = await self.send("GET", f"/cdp/v1/profiles/{quote(identity, safe='')}",
                                 params={"limit": str(limit)})
        return Profile.model_validate_json(raw)

    async def create_audience(self, name: str, definition: dict[str, Any]) -> CdpAudience:
        """Define an audience (the condition language is in the README's CDP section)."""
        return await self.call(CdpAudience, "POST", "/cdp/v1/audiences",
                               json=_dump(AudienceRequest(name=name, definition=definition)))

    async def audiences(self) -> list[CdpAudience]:
        """The partner's audiences with their disclosed sizes."""
        return (await self.call(AudienceList, "GET", "/cdp/v1/audiences")).audiences

    async def audience(self, audience_id: str) -> CdpAudience:
        """One audience with its disclosed size now."""
        return await self.call(CdpAudience, "GET", f"/cdp/v1/audiences/{quote(audience_id, safe='')}")

    async def delete_audience(self, audience_id: str) -> None:
        """Stop computing an audience."""
        await self.send("DELETE", f"/cdp/v1/audiences/{quote(audience_id, safe='')}")

    async def audience_members(self, audience_id: str, offset: int = 0, limit: int = 1000) -> AudienceMembers:
        """A page of an audience's members by user id (follow ``next_offset``)."""
        _, raw = await self.send("GET", f"/cdp/v1/audiences/{quote(audience_id, safe='')}/members",
                                 params={"offset": str(offset), "limit": str(limit)})
        return AudienceMembers.model_validate_json(raw)

    async def create_trigger(self, body: TriggerRequest | dict[str, Any]) -> Trigger:
        """Create a CDP trigger (a rule and its steps; see the README's Triggers subsection)."""
        spec = body if isinstance(body, TriggerRequest) else TriggerRequest.model_validate(body)
        return await self.call(Trigger, "POST", "/cdp/v1/triggers", json=_dump(spec))

    async def triggers(self) -> list[Trigger]:
        """The partner's triggers, oldest first."""
        return (await self.call(TriggerList, "GET", "/cdp/v1/triggers")).triggers

    async def trigger(self, trigger_id: str) -> Trigger:
        """One trigger."""
        return await self.call(Trigger, "GET", f"/cdp/v1/triggers/{quote(trigger_id, safe='')}")

    async def delete_trigger(self, trigger_id: str) -> None:
        """Delete a trigger (pending steps do nothing more)."""
        await self.send("DELETE", f"/cdp/v1/triggers/{quote(trigger_id, safe='')}")

    async def trigger_fire_page(self, trigger_id: str, limit: int = 1000, cursor: str | None = None) -> TriggerFireList:
        """``GET /cdp/v1/triggers/{id}/fires``: one page of what the trigger's steps did (follow ``next_cursor``)."""
        params = {"limit": str(limit), **({"cursor": cursor} if cursor is not None else {})}
        _, raw = await self.send("GET", f"/cdp/v1/triggers/{quote(trigger_id, safe='')}/fires", params=params)
        return TriggerFireList.model_validate_json(raw)

    async def trigger_fires(self, trigger_id: str, most: int | None = None, limit: int = 1000) -> list[TriggerFire]:
        """What the trigger's steps did, oldest first: every page, ``limit`` fires each, until the last one (or
        until ``most`` fires are read, when given)."""
        fires: list[TriggerFire] = []
        cursor: str | None = None
        while True:
            page = await self.trigger_fire_page(trigger_id, limit, cursor)
            fires.extend(page.fires)
            cursor = page.next_cursor
            if cursor is None or (most is not None and len(fires) >= most):
                return fires


    # -- partner apps and push (FCM v1, Instance ID topics) ----------------------------------------------------
    async def register_app(self, body: AppRequest) -> App:
        """Register an app (its id is also its FCM project id); the simulated subscribers install it."""
        return await self.call(App, "POST", "/apps/v1/apps", json=_dump(body))

    async def apps(self) -> list[App]:
        """The partner's apps, oldest first."""
        return (await self.call(AppList, "GET", "/apps/v1/apps")).apps

    async def app(self, app_id: str) -> App:
        """One of the partner's apps."""
        return await self.call(App, "GET", f"/apps/v1/apps/{quote(app_id, safe='')}")

    async def send_push(self, project_id: str, message: PushMessageBody, validate_only: bool = False
                        ) -> SendResponse:
        """FCM v1 ``messages:send`` to a token, topic or condition; FCM errors raise :class:`ApiError` with the
        FCM ``errorCode`` (``UNREGISTERED``, ``QUOTA_EXCEEDED``...) as ``code``."""
        body = SendRequest(message=message, validate_only=validate_only)
        return await self.call(SendResponse, "POST", f"/v1/projects/{quote(project_id, safe='')}/messages:send",
                               json=body.model_dump(mode="json", exclude_none=True))

    async def subscribe_topic(self, topic: str, tokens: list[str], subscribe: bool = True) -> TopicBatchResponse:
        """Instance ID ``:batchAdd`` (``subscribe=False``: ``:batchRemove``): one result per token, in order."""
        body = TopicBatchRequest(to=topic if topic.startswith("/topics/") else f"/topics/{topic}",
                                 registration_tokens=tokens)
        path = "/iid/v1:batchAdd" if subscribe else "/iid/v1:batchRemove"
        return await self.call(TopicBatchResponse, "POST", path, json=body.model_dump(mode="json"))

    async def subscribe_token(self, token: str, topic: str) -> None:
        """Instance ID ``POST /iid/v1/{token}/rel/topics/{topic}``: subscribe one token."""
        await self.send("POST", f"/iid/v1/{quote(token, safe='')}/rel/topics/{quote(topic, safe='')}")


class AdminClient(_Client):
    """The operator's control plane client (``/admin/v1``), authenticated with the admin token."""

    def __init__(self, base_url: str, admin_token: str, timeout_s: float = 300.0) -> None:
        super().__init__(base_url, timeout_s)
        self._admin_token = admin_token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._admin_token}"}

    # -- partners ------------------------------------------------------------------------------------------
    async def create_partner(self, name: str, scopes: list[str] | None = None,
                             limits: PartnerLimits | None = None) -> PartnerCreated:
        """Create a partner; the answer carries its client secret (once)."""
        body = PartnerCreate(name=name, scopes=scopes or [], limits=limits or PartnerLimits())
        return await self.call(PartnerCreated, "POST", "/admin/v1/partners", json=_dump(body))

    async def partners(self) -> list[Partner]:
        """All partners."""
        return (await self.call(PartnerList, "GET", "/admin/v1/partners")).partners

    async def partner(self, partner_id: str) -> Partner:
        """One partner."""
        return await self.call(Partner, "GET", f"/admin/v1/partners/{partner_id}")

    async def disable_partner(self, partner_id: str) -> Partner:
        """Disable a partner (its credentials stop working)."""
        return await self.call(Partner, "POST", f"/admin/v1/partners/{partner_id}/disable")

    async def enable_partner(self, partner_id: str) -> Partner:
        """Re-enable a partner."""
        return await self.call(Partner, "POST", f"/admin/v1/partners/{partner_id}/enable")

    async def issue_api_key(self, partner_id: str) -> ApiKeyCreated:
        """New API key for a partner (the key is in the answer, once)."""
        return await self.call(ApiKeyCreated, "POST", f"/admin/v1/partners/{partner_id}/api-keys")

    async def revoke_api_key(self, partner_id: str, key_id: str) -> None:
        """Revoke a partner's API key."""
        await self.send("DELETE", f"/admin/v1/partners/{partner_id}/api-keys/{key_id}")

    async def issue_service_account(self, partner_id: str, project_id: str | None = None) -> ServiceAccountFile:
        """A service-account key file for a partner (Google's format, shown once): Google client libraries load it
        and get the partner's tokens from this gateway. ``project_id``: one of the partner's apps (the FCM
        project those libraries send to)."""
        return await self.call(ServiceAccountFile, "POST", f"/admin/v1/partners/{partner_id}/service-accounts",
                               json=ServiceAccountCreate(project_id=project_id).model_dump(exclude_none=True))

    # -- clock ---------------------------------------------------------------------------------------------
    async def clock(self) -> ClockState:
        """Read the clock."""
        return await self.call(ClockState, "GET", "/admin/v1/clock")

    async def advance(self, duration: timedelta | None = None, *, to: datetime | None = None) -> ClockState:
        """Advance by ``duration`` or to the instant ``to`` (manual mode); returns when the world is there."""
        body = ClockAdvance(duration=duration, to=to)
        return await self.call(ClockState, "POST", "/admin/v1/clock/advance", json=_dump(body))

    async def set_clock_mode(self, mode: str, factor: float | None = None) -> ClockState:
        """Switch to ``manual`` or ``paced`` (``factor`` × wall time)."""
        body = ClockModeChange.model_validate({"mode": mode, "factor": factor})
        return await self.call(ClockState, "POST", "/admin/v1/clock/mode", json=_dump(body))

    async def pause(self) -> ClockState:
        """Pause paced time."""
        return await self.call(ClockState, "POST", "/admin/v1/clock/pause")

    async def resume(self) -> ClockState:
        """Resume paced time."""
        return await self.call(ClockState, "POST", "/admin/v1/clock/resume")

    # -- subscribers and world -------------------------------------------------------------------------------
    async def subscriber(self, msisdn: str) -> SubscriberView:
        """Operator-side view of a subscriber."""
        return await self.call(SubscriberView, "GET", f"/admin/v1/subscribers/{msisdn_path(msisdn)}")

    async def set_consent(self, msisdn: str, purpose: str, granted: bool, channel: str | None = None,
                          ) -> SubscriberView:
        """Grant or withdraw consent now."""
        body = ConsentChange(purpose=purpose, channel=channel, granted=granted)
        return await self.call(SubscriberView, "PUT", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/consent",
                               json=_dump(body))

    async def pin(self, msisdn: str, latitude: float, longitude: float) -> SubscriberView:
        """Hold a subscriber at a place."""
        body = PinRequest(latitude=latitude, longitude=longitude)
        return await self.call(SubscriberView, "POST", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/pin",
                               json=_dump(body))

    async def release(self, msisdn: str) -> SubscriberView:
        """Let a pinned subscriber return to their routine."""
        return await self.call(SubscriberView, "DELETE", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/pin")

    async def add_test_subscriber(self, msisdn: str, *, profile: ProfileFields | None = None,
                                  consent: dict[str, dict[str, bool]] | None = None, latitude: float | None = None,
                                  longitude: float | None = None) -> SubscriberView:
        """Add a QA phone with a chosen number, profile, consent and place."""
        body = NewTestSubscriber(msisdn=msisdn, profile=profile or ProfileFields(), consent=consent or {},
                                 latitude=latitude, longitude=longitude)
        return await self.call(SubscriberView, "POST", "/admin/v1/subscribers", json=_dump(body))

    async def add_gathering(self, body: GatheringCreate) -> Gathering:
        """People attend a place between two instants (journaled)."""
        return await self.call(Gathering, "POST", "/admin/v1/gatherings", json=_dump(body))

    async def gatherings(self) -> list[Gathering]:
        """Every gathering of the world."""
        return (await self.call(GatheringList, "GET", "/admin/v1/gatherings")).gatherings

    async def webhook_events(self, state: str | None = None, limit: int = 100) -> list[OutboxEventView]:
        """Outbox events (oldest first), optionally in one state (``pending``, ``retrying``, ``delivered``…)."""
        params = {"limit": str(limit), **({"state": state} if state is not None else {})}
        _, raw = await self.send("GET", "/admin/v1/webhooks/events", params=params)
        return OutboxList.model_validate_json(raw).events

    async def webhook_counts(self) -> OutboxCounts:
        """Outbox events per delivery state (``pending``: not attempted yet, ``retrying``, ``delivered``…)."""
        return await self.call(OutboxCounts, "GET", "/admin/v1/webhooks/counts")

    async def webhook_event(self, event_id: str) -> OutboxEventView:
        """One outbox event with every delivery attempt."""
        return await self.call(OutboxEventView, "GET", f"/admin/v1/webhooks/events/{quote(event_id, safe='')}")

    async def dead_letters(self) -> list[OutboxEventView]:
        """Events given up after the maximum age."""
        return (await self.call(OutboxList, "GET", "/admin/v1/webhooks/dead-letters")).events

    async def redrive(self, event_id: str) -> OutboxEventView:
        """Send a dead-lettered event again (same id)."""
        return await self.call(OutboxEventView, "POST",
                               f"/admin/v1/webhooks/dead-letters/{quote(event_id, safe='')}/redrive")

    async def partner_webhook_secret(self, partner_id: str, rotate: bool = False) -> WebhookSecret:
        """A partner's webhook secret (``rotate`` replaces it)."""
        path = f"/admin/v1/partners/{partner_id}/webhook-secret"
        return await self.call(WebhookSecret, "POST" if rotate else "GET", path + ("/rotate" if rotate else ""))

    async def set_ciba_policy(self, msisdn: str, mode: str) -> CibaPolicyView:
        """How a subscriber answers CIBA requests: ``consent``, ``approve``, ``deny`` or ``pending``."""
        body = CibaPolicy.model_validate({"mode": mode})
        return await self.call(CibaPolicyView, "PUT", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/ciba",
                               json=_dump(body))

    async def ciba_policy(self, msisdn: str) -> CibaPolicyView:
        """How a subscriber answers CIBA requests now."""
        return await self.call(CibaPolicyView, "GET", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/ciba")

    async def network_authentication(self, msisdn: str, client_id: str, scope: str) -> NetworkAuthenticationResult:
        """The device of ``msisdn`` authenticates on the network for a partner's app (``auth_req_id`` with
        ``amr`` ``nba``; exchange it at ``/oauth2/token`` with :meth:`PartnerClient.ciba_token`)."""
        body = NetworkAuthentication(client_id=client_id, scope=scope)
        return await self.call(NetworkAuthenticationResult, "POST",
                               f"/admin/v1/subscribers/{msisdn_path(msisdn)}/network-authentication",
                               json=_dump(body))

    # -- lines (SIM swap) ------------------------------------------------------------------------------------
    async def line(self, msisdn: str) -> LineInfo:
        """A line's activation, latest SIM change and swaps since the start."""
        return await self.call(LineInfo, "GET", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/line")

    async def sim_swap(self, msisdn: str) -> LineInfo:
        """Swap the line's SIM now (journaled: survives a restart)."""
        return await self.call(LineInfo, "POST", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/sim-swap")

    # -- message senders, templates and blocks -----------------------------------------------------------------
    async def message_senders(self, status: str | None = None) -> list[AdminRegistration]:
        """Every partner's sender names, optionally in one status (``PENDING``, ``APPROVED``, ``REJECTED``)."""
        params = {"status": status} if status is not None else None
        _, raw = await self.send("GET", "/admin/v1/message-senders", params=params)
        return AdminSenderList.model_validate_json(raw).senders

    async def decide_sender(self, sender_id: str, decision: str, reason: str | None = None) -> AdminRegistration:
        """Approve or reject a sender name (``APPROVED`` or ``REJECTED`` with a reason)."""
        body = Decision.model_validate({"decision": decision, "reason": reason})
        return await self.call(AdminRegistration, "POST",
                               f"/admin/v1/message-senders/{quote(sender_id, safe='')}/decision", json=_dump(body))

    async def message_templates(self, status: str | None = None) -> list[AdminRegistration]:
        """Every partner's templates, optionally in one status."""
        params = {"status": status} if status is not None else None
        _, raw = await self.send("GET", "/admin/v1/message-templates", params=params)
        return AdminTemplateList.model_validate_json(raw).templates

    async def decide_template(self, template_id: str, decision: str, reason: str | None = None) -> AdminRegistration:
        """Approve or reject a template (``APPROVED`` or ``REJECTED`` with a reason)."""
        body = Decision.model_validate({"decision": decision, "reason": reason})
        return await self.call(AdminRegistration, "POST",
                               f"/admin/v1/message-templates/{quote(template_id, safe='')}/decision",
                               json=_dump(body))

    async def sender_blocks(self, msisdn: str) -> BlockList:
        """The senders a subscriber blocked."""
        return await self.call(BlockList, "GET", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/sender-blocks")

    async def block_sender(self, msisdn: str, partner_id: str, sender: str) -> BlockList:
        """The subscriber blocks a partner's sender (``*``: every sender of the partner)."""
        body = BlockRequest(partner_id=partner_id, sender=sender)
        return await self.call(BlockList, "POST", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/sender-blocks",
                               json=_dump(body))

    async def unblock_sender(self, msisdn: str, partner_id: str, sender: str) -> None:
        """Lift a block."""
        await self.send("DELETE", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/sender-blocks/"
                                  f"{quote(partner_id, safe='')}/{quote(sender, safe='')}")

    async def inbox(self, msisdn: str) -> list[dict[str, Any]]:
        """What the device received."""
        return (await self.call(Inbox, "GET", f"/admin/v1/subscribers/{msisdn_path(msisdn)}/inbox")).messages

    async def world(self) -> WorldSummary:
        """World summary."""
        return await self.call(WorldSummary, "GET", "/admin/v1/world")

    # -- console (what /console draws) ----------------------------------------------------------------------
    async def console_map(self) -> ConsoleMap:
        """Every cell as a hexagon, the city's outline, zones and named places."""
        return await self.call(ConsoleMap, "GET", "/admin/v1/console/map")

    async def occupancy(self) -> ConsoleOccupancy:
        """Subscribers served by each cell now (in the map's cell order)."""
        return await self.call(ConsoleOccupancy, "GET", "/admin/v1/console/occupancy")

    async def console_state(self) -> ConsoleState:
        """Clock, occupancy, test phones, campaigns, geofences and their events, outbox counts."""
        return await self.call(ConsoleState, "GET", "/admin/v1/console/state")

    async def track(self, msisdn: str, hours: float = 6.0) -> ConsoleTrack:
        """The cells that served a subscriber over the last ``hours``."""
        _, raw = await self.send("GET", f"/admin/v1/console/subscribers/{msisdn_path(msisdn)}/track",
                                 params={"hours": str(hours)})
        return ConsoleTrack.model_validate_json(raw)

    async def metrics(self) -> str:
        """Prometheus text of ``/metrics``."""
        _, body = await self.send("GET", "/metrics")
        return body.decode()

    async def recording(self) -> RecordingState:
        """Whether a session recording runs (``opsim serve --record``), its file and lines written."""
        return await self.call(RecordingState, "GET", "/admin/v1/recording")

    async def start_recording(self, file: str) -> RecordingState:
        """Record partner requests and admin moves to ``file`` on the gateway's machine (``record-to-scenario``)."""
        return await self.call(RecordingState, "POST", "/admin/v1/recording", json={"file": file})

    async def stop_recording(self) -> RecordingState:
        """Close the session recording."""
        return await self.call(RecordingState, "DELETE", "/admin/v1/recording")

    # -- campaigns (operator-side truth) ---------------------------------------------------------------------
    async def campaign_deliveries(self, campaign_id: str, limit: int = 100, cursor: int = 0) -> DeliveryList:
        """Every delivery and suppression of a campaign, one page (follow ``next_cursor``)."""
        _, raw = await self.send("GET", f"/admin/v1/campaigns/{quote(campaign_id, safe='')}/deliveries",
                                 params={"limit": str(limit), "cursor": str(cursor)})
        return DeliveryList.model_validate_json(raw)

    # -- fault injection -------------------------------------------------------------------------------------
    async def add_fault_profile(self, profile: FaultProfileCreate) -> FaultProfile:
        """Activate a seeded fault profile (HTTP and/or webhook faults)."""
        return await self.call(FaultProfile, "POST", "/admin/v1/faults", json=_dump(profile))

    async def fault_profiles(self) -> list[FaultProfile]:
        """Active fault profiles, in evaluation order."""
        return (await self.call(FaultProfileList, "GET", "/admin/v1/faults")).profiles

    async def fault_profile(self, name: str) -> FaultProfile:
        """One active fault profile by name."""
        return await self.call(FaultProfile, "GET", f"/admin/v1/faults/{quote(name, safe='')}")

    async def remove_fault_profile(self, name: str) -> None:
        """Deactivate one fault profile."""
        await self.send("DELETE", f"/admin/v1/faults/{quote(name, safe='')}")

    async def clear_fault_profiles(self) -> None:
        """Deactivate every fault profile."""
        await self.send("DELETE", "/admin/v1/faults")

    async def add_network_fault(self, fault: NetworkFaultCreate) -> NetworkFault:
        """A device unreachable, a cell outage or SMS delays, from now for a simulated duration."""
        return await self.call(NetworkFault, "POST", "/admin/v1/faults/network", json=_dump(fault))

    async def network_faults(self) -> list[NetworkFault]:
        """Network faults not over yet."""
        return (await self.call(NetworkFaultList, "GET", "/admin/v1/faults/network")).faults

    async def journey_recipients(self, journey_id: str, limit: int = 100, cursor: int = 0) -> RecipientList:
        """Every recipient of a journey with each step's outcome, one page (follow ``next_cursor``)."""
        _, raw = await self.send("GET", f"/admin/v1/journeys/{quote(journey_id, safe='')}/recipients",
                                 params={"limit": str(limit), "cursor": str(cursor)})
        return RecipientList.model_validate_json(raw)

    # -- partner apps and push (operator side) ----------------------------------------------------------------
    async def installations(self, app_id: str, offset: int = 0, limit: int = 100,
                            phone_number: str | None = None) -> InstallationList:
        """A page of an app's simulated installs (or those of one number), with their current tokens."""
        params = {"offset": str(offset), "limit": str(limit)}
        if phone_number is not None:
            params["phoneNumber"] = phone_number
        _, raw = await self.send("GET", f"/admin/v1/apps/{quote(app_id, safe='')}/installations", params=params)
        return InstallationList.model_validate_json(raw)

    async def uninstall(self, app_id: str, installation_id: str) -> None:
        """Remove the app from one device (its token answers ``UNREGISTERED`` from then on)."""
        await self.send("DELETE", f"/admin/v1/apps/{quote(app_id, safe='')}/installations/"
                                  f"{quote(installation_id, safe='')}")

    async def set_installation_permissions(self, app_id: str, installation_id: str, change: InstallationChange
                                           ) -> Installation:
        """Set permissions of one install now (the fields ``change`` gives); answers the install as it is then."""
        return await self.call(Installation, "PATCH", f"/admin/v1/apps/{quote(app_id, safe='')}/installations/"
                                                      f"{quote(installation_id, safe='')}", json=_dump(change))

    async def push_message(self, message_id: str) -> PushMessage:
        """Operator-side truth of one push (``psh_`` id)."""
        return await self.call(PushMessage, "GET", f"/admin/v1/push/messages/{quote(message_id, safe='')}")

    async def push_fanout(self, fanout_id: str) -> PushFanout:
        """Operator-side truth of one topic or condition send (``pst_`` id): its pushes by outcome."""
        return await self.call(PushFanout, "GET", f"/admin/v1/push/fanouts/{quote(fanout_id, safe='')}")

class TrackingClient(_Client):
    """A source's client of the Segment-spec tracking API, authenticated by its write key (HTTP Basic user).

    Bodies are the spec's JSON objects (``{"userId": ..., "event": ..., "properties": {...}}``); off-the-shelf
    Segment libraries pointed at the gateway work as well.
    """

    def __init__(self, base_url: str, write_key: str, timeout_s: float = 300.0) -> None:
        super().__init__(base_url, timeout_s)
        self._basic = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self._basic}

    async def _post(self, kind: str, body: dict[str, Any]) -> TrackingAck:
        return await self.call(TrackingAck, "POST", f"/v1/{kind}", json=body)

    async def track(self, body: dict[str, Any]) -> TrackingAck:
        """``POST /v1/track``: an event of a user or anonymous visitor."""
        return await self._post("track", body)

    async def identify(self, body: dict[str, Any]) -> TrackingAck:
        """``POST /v1/identify``: who the user is, and their traits."""
        return await self._post("identify", body)

    async def page(self, body: dict[str, Any]) -> TrackingAck:
        """``POST /v1/page``: a web page view (counted as ``Page Viewed``)."""
        return await self._post("page", body)

    async def screen(self, body: dict[str, Any]) -> TrackingAck:
        """``POST /v1/screen``: an app screen view (counted as ``Screen Viewed``)."""
        return await self._post("screen", body)

    async def group(self, body: dict[str, Any]) -> TrackingAck:
        """``POST /v1/group``: the user belongs to a group (company, household), with its traits."""
        return await self._post("group", body)

    async def alias(self, body: dict[str, Any]) -> TrackingAck:
        """``POST /v1/alias``: ``previousId`` and ``userId`` are one person."""
        return await self._post("alias", body)

    async def batch(self, calls: list[dict[str, Any]]) -> TrackingAck:
        """``POST /v1/batch``: many calls, each with its ``type``; all or none are accepted."""
        return await self._post("batch", {"batch": calls})
