"""Property-based fuzzing of the gateway's own ``/openapi.json`` with schemathesis, against a real server.

Every documented operation gets schema-conforming (positive) and schema-violating (negative) requests, as the
admin on admin routes and as a partner holding every scope on partner routes, each operation on a fresh
gateway. Checks: no 5xx, every status code documented, every body, header and content type as documented, and
negative data rejected. Bounded and derandomised, so CI sends the same requests every run;
``OPSIM_FUZZ_EXAMPLES`` (default 15 per operation and mode) raises the count for a deeper local run.

One bound: clock advances are kept to a simulated week. A valid advance of up to 366 days runs every tick of it
(minutes on the fuzz world) and is answered correctly, only later than a fuzz request may take; the long advances
have tests of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation
from schemathesis import checks as st_checks
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode

from gateway.http.app import API_MODULES
from gateway.http.openapi import build_openapi
from gateway.http.routing import RouteRegistry
from gateway.wire.admin_clock import ClockAdvance
from simulator.world import World
from tests.gateway.conftest import ADMIN
from tests.gateway.live_gateway import BackgroundLoop, Live, all_scopes, serve

EXAMPLES = int(os.environ.get("OPSIM_FUZZ_EXAMPLES", "15"))


def _document() -> dict[str, Any]:
    """The document the server serves, from the same route tables but without a world (collection stays cheap)."""
    registry = RouteRegistry()
    app = web.Application()
    for module in API_MODULES:
        registry.install(app, module.routes)
    return build_openapi(registry)


DOCUMENT = _document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)


def _operations() -> dict[str, APIOperation[Any, Any, Any, Any]]:
    operations = {}
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), result  # every operation of the document must load
        operations[result.ok().label] = result.ok()
    return operations


OPERATIONS = _operations()
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE

CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance, st_checks.content_type_conformance,
          st_checks.response_schema_conformance, st_checks.response_headers_conformance,
          st_checks.negative_data_rejection]

@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    running = BackgroundLoop()
    yield running
    running.close()


@pytest.fixture
def live(loop: BackgroundLoop, base_world: World, tmp_path: Path) -> Iterator[Live]:
    """A fresh gateway per operation, so what one operation's requests change never leaks into another's."""
    with serve(loop, base_world, tmp_path / "fuzz.db", all_scopes(DOCUMENT)) as running:
        yield running


def _credentials(label: str, live: Live) -> dict[str, str]:
    security = OPERATIONS[label].definition.raw.get("security") or []
    if {"adminToken": []} in security:
        return dict(ADMIN)
    return live.partner if security else {}


ADVANCE = "POST /admin/v1/clock/advance"
LONGEST_ADVANCE = timedelta(days=7)


def _quick(label: str, case: Any, now: datetime) -> bool:
    """Whether the gateway answers ``case`` promptly: anything but a valid clock advance beyond a week."""
    if label != ADVANCE or not isinstance(case.body, dict):
        return True
    try:
        body = ClockAdvance.model_validate(case.body)
    except pydantic.ValidationError:
        return True  # refused at once
    if body.to is not None:
        return body.to - now <= LONGEST_ADVANCE
    if body.seconds is not None:
        return body.seconds <= LONGEST_ADVANCE.total_seconds()
    return body.duration is None or body.duration <= LONGEST_ADVANCE


def _params() -> list[Any]:
    params = []
    for label in sorted(OPERATIONS):
        for mode in (POSITIVE, NEGATIVE):
            params.append(pytest.param(label, mode, id=f"{label} {mode.value}"))
    return params


def test_served_document_is_the_fuzzed_one(live: Live) -> None:
    """The server's own /openapi.json is the document the fuzzer reads."""
    assert requests.get(f"{live.url}/openapi.json", timeout=30).json() == DOCUMENT


@pytest.mark.parametrize(("label", "mode"), _params())
def test_fuzz(label: str, mode: GenerationMode, live: Live, base_world: World) -> None:
    """Generated requests never get a 5xx and every response is as documented."""
    operation = OPERATIONS[label]
    headers = _credentials(label, live)
    now = base_world.clock.now

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode).filter(lambda case: _quick(label, case, now)))
    def fuzz(case: Any) -> None:
        response = case.call(base_url=live.url, session=session, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)

    with requests.Session() as session:
        fuzz()
