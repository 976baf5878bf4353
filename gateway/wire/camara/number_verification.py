"""Wire models of CAMARA ``number-verification`` v2: the number (or its hash) to verify, the match and the
device's number, and the admin's network-based authentication of a device.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints, model_validator

from gateway.wire.base import RfcModel, WireModel
from gateway.wire.camara.subject import PhoneNumber

HashedPhoneNumber = Annotated[str, StringConstraints(pattern=r"^[a-fA-F0-9]{64}$")]


class NumberVerificationRequest(WireModel):
    """Exactly one of the plain or hashed phone number."""

    phone_number: PhoneNumber | None = None
    hashed_phone_number: HashedPhoneNumber | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> NumberVerificationRequest:
        if (self.phone_number is None) == (self.hashed_phone_number is None):
            raise ValueError("give exactly one of phoneNumber and hashedPhoneNumber")
        return self


class NumberVerificationMatchResponse(WireModel):
    """Whether the number is the device's."""

    device_phone_number_verified: bool


class NumberVerificationShareResponse(WireModel):
    """The device's number."""

    device_phone_number: str


class NetworkAuthentication(WireModel):
    """The partner (by client id) whose app on the device asks for ``scope`` (API scopes and one ``dpv:``)."""

    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    scope: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class NetworkAuthenticationResult(RfcModel):
    """What the partner redeems at ``/oauth2/token`` with the CIBA grant."""

    auth_req_id: str
    expires_in: int
    amr: list[str]
