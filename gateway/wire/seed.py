"""The seed file of ``opsim serve --seed-data FILE``: partners and QA test phones to create at start.

Its entries are the admin API's own request bodies (camelCase, strict), so a seed file says exactly what the
equivalent admin calls would.
"""

from __future__ import annotations

from pydantic import Field

from gateway.wire.admin_partners import PartnerCreate
from gateway.wire.admin_subscribers import NewTestSubscriber
from gateway.wire.base import WireModel


class SeedPartner(PartnerCreate):
    """A partner to create (``POST /admin/v1/partners``); ``apiKey`` also issues an API key."""

    api_key: bool = False


class SeedData(WireModel):
    """Partners (their credentials are printed once) and test phones (``POST /admin/v1/subscribers``)."""

    partners: list[SeedPartner] = Field(default_factory=list, max_length=1000)
    test_phones: list[NewTestSubscriber] = Field(default_factory=list, max_length=10_000)
