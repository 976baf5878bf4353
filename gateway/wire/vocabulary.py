"""The string vocabularies several APIs (and scenario files) share, each written once.

Each is a ``Literal`` alias rather than an ``enum.StrEnum``: the wire and the OpenAPI document stay exactly as
they were (an enum would become a named schema component) and strict validation of already-parsed input (scenario
files, query strings) keeps accepting plain strings. ``typing.get_args`` gives a vocabulary's values as a tuple,
in order, for code that iterates or indexes them.
"""

from __future__ import annotations

from typing import Literal

MessageKind = Literal["TRANSACTIONAL", "INFORMATIONAL", "AUTHENTICATION", "PROMO"]
"""What a message is for: the kind decides consent, quiet hours and caps (direct messages and journey steps)."""

CampaignKind = Literal["PROMO", "INFORMATIONAL"]
"""The kinds a campaign may send (a subset of :data:`MessageKind`)."""

Channel = Literal["PUSH", "SMS", "PUSH_THEN_SMS"]
"""How a message is to be sent: one channel, or push with SMS fallback."""

DeliveryChannel = Literal["PUSH", "SMS"]
"""One channel a message (or a verification code) actually went out on; also a consent channel."""

ConsentPurpose = Literal["ADVERTISING", "LOCATION_SHARING", "ANALYTICS"]
"""What a subscriber consents to."""

LocationMode = Literal["PRESENT", "ENTERS", "VISITED", "HOME", "WORK"]
"""How a campaign's area selects people: there now, arriving, seen there lately, living or working there."""

Day = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
"""A day of the week, in the operator's local time."""
