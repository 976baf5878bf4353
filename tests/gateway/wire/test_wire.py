"""The wire floor on its own: instants, camelCase, strictness, finite numbers, shared vocabularies, the client."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pydantic
import pytest

from gateway.wire.base import Instant, WireModel
from gateway.wire.camara.areas import Circle
from gateway.wire.campaigns import CircleArea
from gateway.wire.geo import Point
from gateway.wire.messages import SendMessage
from gateway.wire.vocabulary import (
    CampaignKind,
    Channel,
    ConsentPurpose,
    Day,
    DeliveryChannel,
    LocationMode,
    MessageKind,
)
from simulator.clock import MAX_INSTANT, MIN_INSTANT


class Stamp(WireModel):
    at: Instant


class Reading(WireModel):
    sensor_value: float


def parse(model: type[pydantic.BaseModel], body: dict[str, Any] | str) -> pydantic.BaseModel:
    """Parse as the gateway parses a request body (see ``gateway.http.routing.read_json``)."""
    raw = body if isinstance(body, str) else json.dumps(body)
    return model.model_validate_json(raw, strict=True, by_alias=True, by_name=False)


@pytest.mark.parametrize("text", [
    "2030-01-01T12:00:00",  # naive: no zone
    MAX_INSTANT.isoformat(),  # the first instant past the range
    (MIN_INSTANT - timedelta(seconds=1)).isoformat(),  # just before the range
    "2030-13-01T00:00:00Z",  # not a date
])
def test_instant_out_of_range_or_naive_is_refused(text: str) -> None:
    """An instant must carry a zone and lie in the simulator's range."""
    with pytest.raises(pydantic.ValidationError):
        parse(Stamp, {"at": text})


def test_instant_is_written_in_utc_with_z() -> None:
    """Any zone in, UTC with ``Z`` out; the instant itself is kept."""
    stamp = parse(Stamp, {"at": "2030-06-01T14:30:00+02:00"})
    assert isinstance(stamp, Stamp)
    assert stamp.at == datetime(2030, 6, 1, 12, 30, tzinfo=UTC)
    assert json.loads(stamp.model_dump_json()) == {"at": "2030-06-01T12:30:00Z"}
    assert Stamp(at=datetime(2030, 6, 1, 12, 30, tzinfo=timezone(timedelta(hours=-5)))).model_dump_json() == (
        '{"at":"2030-06-01T17:30:00Z"}')


def test_camel_case_on_the_wire_only() -> None:
    """Fields are camelCase on the wire: the snake_case name is refused on input and never written."""
    assert parse(Reading, {"sensorValue": 1.5}) == Reading(sensor_value=1.5)
    with pytest.raises(pydantic.ValidationError):
        parse(Reading, {"sensor_value": 1.5})
    assert Reading(sensor_value=2.0).model_dump_json() == '{"sensorValue":2.0}'


@pytest.mark.parametrize("body", [
    {"sensorValue": 1.0, "extra": 1},  # an unknown field
    {"sensorValue": "1.0"},  # a number as a string: strict, no coercion
    {},  # a required field missing
])
def test_off_schema_bodies_are_refused(body: dict[str, Any]) -> None:
    """Unknown fields, coercions and missing fields are validation errors."""
    with pytest.raises(pydantic.ValidationError):
        parse(Reading, body)


@pytest.mark.parametrize("raw", [
    '{"sensorValue": NaN}',  # JSON's non-standard NaN
    '{"sensorValue": Infinity}',  # nor infinity
    '{"sensorValue": -Infinity}',
    '{"sensorValue": 1e400}',  # overflows to infinity
])
def test_numbers_are_finite(raw: str) -> None:
    """NaN, infinities and overflowing numbers are not numbers on the wire."""
    with pytest.raises(pydantic.ValidationError):
        parse(Reading, raw)


def test_python_infinities_are_refused_too() -> None:
    """Models built in Python refuse them as well (a response could not be written)."""
    with pytest.raises(pydantic.ValidationError):
        Reading(sensor_value=float("inf"))


# Every shared vocabulary, with its values in the order the wire and the OpenAPI document list them.
VOCABULARIES = [
    (MessageKind, ("TRANSACTIONAL", "INFORMATIONAL", "AUTHENTICATION", "PROMO")),  # messages, journey steps
    (CampaignKind, ("PROMO", "INFORMATIONAL")),  # campaigns, scenario campaigns
    (Channel, ("PUSH", "SMS", "PUSH_THEN_SMS")),  # messages, journeys, campaigns, scenarios
    (DeliveryChannel, ("PUSH", "SMS")),  # a message's history, a verification's sends, consent channels
    (ConsentPurpose, ("ADVERTISING", "LOCATION_SHARING", "ANALYTICS")),  # scenario consent
    (LocationMode, ("PRESENT", "ENTERS", "VISITED", "HOME", "WORK")),  # campaign targeting
    (Day, ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")),  # schedules
]


@pytest.mark.parametrize(("vocabulary", "values"), VOCABULARIES)
def test_vocabularies_serialise_as_plain_strings(vocabulary: Any, values: tuple[str, ...]) -> None:
    """A vocabulary is its strings: same values, an inline string enum in schemas, strings in and out."""
    assert get_args(vocabulary) == values
    adapter: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(vocabulary)
    assert adapter.json_schema() == {"enum": list(values), "type": "string"}
    for value in values:
        assert adapter.validate_python(value, strict=True) == value  # plain strings, even strictly
        assert adapter.dump_json(value) == json.dumps(value).encode()
    with pytest.raises(pydantic.ValidationError):
        adapter.validate_python(values[0].lower())


def test_a_message_writes_its_vocabulary_as_strings() -> None:
    """A request using the shared vocabularies reads and writes the same strings as before."""
    body = {"phoneNumber": "+4915112345678", "kind": "PROMO", "senderName": "Acme", "text": "Hi"}
    message = parse(SendMessage, body)
    assert isinstance(message, SendMessage)
    written = json.loads(message.model_dump_json(exclude_none=True))
    assert written["kind"] == "PROMO" and written["channel"] == "PUSH_THEN_SMS"


def test_one_point_for_every_area() -> None:
    """Campaign and CAMARA areas use the one WGS84 point model."""
    assert CircleArea.model_fields["center"].annotation is Point
    assert Circle.model_fields["center"].annotation is Point


def test_client_imports_only_wire() -> None:
    """Importing the partner client loads no gateway core, services or HTTP module."""
    code = ("import sys, gateway.client; print('\\n'.join(m for m in sys.modules if m.startswith("
            "('gateway.core', 'gateway.services', 'gateway.http'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == []
