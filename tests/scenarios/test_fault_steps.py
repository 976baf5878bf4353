"""The ``faults`` step: fault profiles and network faults set from a scenario, recorded in the transcript."""

from __future__ import annotations

import pytest

from scenarios.loader import load_text
from scenarios.runner import run_scenario
from tests.scenarios.conftest import SMALL

FAULTS = SMALL.split("partners:")[0] + """partners:
  - name: acme
    scopes: [location-verification:verify]
    sinks: {main: /hooks/acme}
steps:
  - add_test_subscriber: {msisdn: "+4915100000001", place: Tiergarten, consent: {LOCATION_SHARING: {ANY: true}}}
  - id: flaky
    faults:
      add:
        - name: verify-down
          seed: 5
          http: {routes: ["/location-verification/*"], errors: [{status: 503, probability: 1.0}]}
  - expect_error: UNAVAILABLE
    verify_location: {msisdn: "+4915100000001", area: {place: Tiergarten, radius: 2000}}
  - faults:
      clear: true
      network:
        - {kind: CELL_OUTAGE, durationS: 600, area: {center: {latitude: 52.5145, longitude: 13.3501}, radius: 300}}
  - expect_error: LOCATION_VERIFICATION.UNABLE_TO_LOCATE
    verify_location: {msisdn: "+4915100000001", area: {place: Tiergarten, radius: 2000}}
  - advance: PT15M
  - id: back
    verify_location: {msisdn: "+4915100000001", area: {place: Tiergarten, radius: 2000}}
"""


def test_fault_steps_inject_and_are_recorded() -> None:
    """An injected 503 and a cell outage are step errors the scenario expects; both are in the transcript."""
    result = run_scenario(load_text(FAULTS))
    assert [s.ok for s in result.steps] == [True] * 7, [s.error for s in result.steps]
    assert result.steps[1].answer is not None
    assert result.steps[1].answer["profiles"] == ["verify-down"]
    assert result.steps[3].answer is not None and result.steps[3].answer["profiles"] == []
    text = "\n".join(result.transcript.lines())
    assert "verify-down" in text and "UNAVAILABLE" in text


@pytest.mark.parametrize("step", [
    "faults: {}",  # nothing to do
    "faults: {add: [{name: x}]}",  # a profile with no faults
    "faults: {network: [{kind: CELL_OUTAGE, durationS: 60}]}",  # an outage without an area
])
def test_bad_fault_steps_are_refused(step: str) -> None:
    """A faults step that cannot be applied is refused when the scenario is loaded."""
    text = SMALL.split("steps:")[0] + "steps:\n  - " + step + "\n"
    with pytest.raises(Exception, match="faults"):
        load_text(text)
