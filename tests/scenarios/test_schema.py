"""Scenario files: every problem is one line ``file:line:column: field: problem``."""

from __future__ import annotations

import pytest

from scenarios.loader import ScenarioFileError, load_text

HEAD = "name: t\nstart: 2026-06-06T14:00:00Z\n"
STEP = "steps:\n  - advance: PT1H\n"


@pytest.mark.parametrize(("text", "where", "message"), [
    # an unknown top-level key points at the key
    (HEAD + STEP + "colour: blue\n", "5:1: colour", "unknown field"),
    # unknown city: the value is checked against the presets
    (HEAD + "world:\n  city: atlantis\n" + STEP, "4:9: world.city", "unknown city 'atlantis'"),
    # unknown country preset
    (HEAD + "world:\n  country: atlantis\n" + STEP, "4:12: world.country", "unknown country 'atlantis'"),
    # out of range number
    (HEAD + "world:\n  subscribers: 0\n" + STEP, "4:16: world.subscribers", "greater than or equal to 1"),
    # a required field missing: reported at the mapping that lacks it
    ("name: t\n" + STEP, "1:1: start", "required field missing"),
    # a naive instant is refused (zones matter for quiet hours)
    ("name: t\nstart: 2026-06-06T14:00:00\n" + STEP, "2:8: start", "timezone"),
    # a start the simulator cannot hold (year 10000 in UTC)
    ("name: t\nstart: 9999-12-31T23:59:59-01:00\n" + STEP, "2:8: start", "instant must be from 1970"),
    # a step duration from start that would overflow
    (HEAD + "steps:\n  - at: P999999999D\n    advance: PT1H\n", "4:9: steps[0].at", "at most 36525 days"),
    # an advance that would overflow
    (HEAD + "steps:\n  - advance: P999999999D\n", "4:14: steps[0].advance", "at most 36525 days"),
    # YAML's infinity is no number
    (HEAD + "steps:\n  - expect:\n      - {of: webhooks, at_least: .inf}\n", "5:34: steps[0].expect[0].at_least",
     "finite number"),
    # a step with two actions
    (HEAD + "steps:\n  - advance: PT1H\n"
            "    set_consent: {msisdn: '+4915100000001', purpose: ANALYTICS, granted: true}\n",
     "4:5: steps[0]", "exactly one action"),
    # an unknown step action
    (HEAD + "steps:\n  - teleport: {}\n", "4:5: steps[0].teleport", "unknown field"),
    # a misspelt step action: the closest step key is suggested
    (HEAD + "steps:\n  - advnce: PT1H\n", "4:5: steps[0].advnce", "unknown field; did you mean 'advance'?"),
    # an enum value in a flow mapping points at the key
    (HEAD + "steps:\n  - set_consent: {msisdn: '+4915100000001', purpose: FUN, granted: true}\n",
     "4:54: steps[0].set_consent.purpose", "ADVERTISING"),
    # a bad MSISDN
    (HEAD + "steps:\n  - pin_subscriber: {msisdn: '12', place: Tiergarten}\n",
     "4:30: steps[0].pin_subscriber.msisdn", "pattern"),
    # a numeric `at` is ambiguous
    (HEAD + "steps:\n  - at: 12\n    advance: PT1H\n", "4:9: steps[0].at", "duration from start"),
    # a step before the start
    (HEAD + "steps:\n  - at: 2026-06-06T13:00:00Z\n    advance: PT1H\n", "4:9: steps[0].at",
     "before the scenario start"),
    # an unknown named place of the city
    (HEAD + "steps:\n  - pin_subscriber: {msisdn: '+4915100000001', place: Atlantis}\n",
     "4:55: steps[0].pin_subscriber.place", "unknown place 'Atlantis'"),
    # a check referring to a step id that does not come earlier
    (HEAD + "steps:\n  - expect:\n      - {of: step, step: later, equals: 1}\n  - id: later\n    advance: PT1H\n",
     "5:26: steps[0].expect[0].step", "no earlier step has id 'later'"),
    # a check without an operator
    (HEAD + "steps:\n  - expect:\n      - {of: webhooks}\n", "5:9: steps[0].expect[0]", "at least one of equals"),
    # a gathering needs a place or coordinates
    (HEAD + "events:\n  - gathering: {name: x, start: PT1H, end: PT2H, share: 0.1}\n" + STEP,
     "4:16: events[0].gathering", "place or both latitude and longitude"),
    # a geofence is a circle: a polygon is not one of its fields
    (HEAD + "partners: [{name: p, sinks: {s: /h}}]\nsteps:\n  - subscribe_geofence:\n      msisdn: '+4915100000001'\n"
            "      event: area-entered\n      area: {polygon: [[52.5, 13.4], [52.6, 13.4], [52.5, 13.5]]}\n",
     "8:14: steps[0].subscribe_geofence.area.polygon", "unknown field"),
    # only the two area event types exist
    (HEAD + "partners: [{name: p, sinks: {s: /h}}]\nsteps:\n  - subscribe_geofence:\n      msisdn: '+4915100000001'\n"
            "      event: area-crossed\n      area: {place: Tiergarten, radius: 500}\n",
     "7:14: steps[0].subscribe_geofence.event", "area-entered"),
    # a sink the partner does not have
    (HEAD + "partners: [{name: p, sinks: {s: /h}}]\nsteps:\n  - subscribe_geofence:\n      msisdn: '+4915100000001'\n"
            "      event: area-left\n      sink: other\n      area: {place: Tiergarten, radius: 500}\n",
     "8:13: steps[0].subscribe_geofence.sink", "has no sink 'other'"),
    # a geofence needs somewhere to send its events
    (HEAD + "partners: [{name: p}]\nsteps:\n  - subscribe_geofence:\n      msisdn: '+4915100000001'\n"
            "      event: area-left\n      area: {place: Tiergarten, radius: 500}\n",
     "6:7: steps[0].subscribe_geofence", "has no sinks"),
    # a count over a window needs both ends
    (HEAD + "partners: [{name: p}]\nsteps:\n  - count_devices: {area: {place: Tiergarten, radius: 500}, start: PT1H}\n",
     "5:20: steps[0].count_devices", "both start and end"),
    # a density period must end after it starts
    (HEAD + "partners: [{name: p}]\nsteps:\n  - density: {area: {place: Tiergarten, radius: 500}, start: PT2H, "
            "end: PT1H}\n", "5:73: steps[0].density.end", "must be after start"),
    # a CAMARA step acts as a partner
    (HEAD + "steps:\n  - verify_location: {msisdn: '+4915100000001', area: {place: Tiergarten, radius: 500}}\n",
     "4:22: steps[0].verify_location", "needs a partner"),
    # a gathering step names a known place
    (HEAD + "steps:\n  - add_gathering: {name: g, place: Atlantis, start: PT1H, end: PT2H, count: 5}\n",
     "4:37: steps[0].add_gathering.place", "unknown place 'Atlantis'"),
    # a sweep over something that cannot be swept
    (HEAD + STEP + "sweep:\n  parameters: {world.city: [1]}\n  metrics: [{name: m, of: world, path: cells}]\n",
     "6:15: sweep.parameters", "cannot sweep 'world.city'"),
    # YAML syntax errors have positions too
    (HEAD + "steps: [\n", "4:1: (file)", "invalid YAML"),
])
def test_problem_lines(text: str, where: str, message: str) -> None:
    with pytest.raises(ScenarioFileError) as info:
        load_text(text, "f.yaml")
    lines = str(info.value).splitlines()
    assert any(line.startswith(f"f.yaml:{where}: ") and message in line for line in lines), lines


def test_a_country_world_names_places_of_all_its_cities() -> None:
    """world.country selects a country preset (ISO code too); a step may name a place of any of its cities."""
    from scenarios.loader import known_places

    text = HEAD + "world:\n  country: KR\n" + "steps:\n  - pin_subscriber: {msisdn: '+821012345678', " \
        "place: Busan Station}\n"
    scenario = load_text(text, "f.yaml")
    assert scenario.world.country == "south-korea"
    assert "busan station" in known_places(scenario) and "seoul station" in known_places(scenario)


def test_json_is_accepted() -> None:
    """JSON is YAML: the same schema and positions apply."""
    scenario = load_text('{"name": "j", "start": "2026-06-06T14:00:00Z", "steps": [{"advance": "PT1H"}]}', "f.json")
    assert scenario.steps[0].action == "advance"


def test_every_problem_is_reported() -> None:
    """Several problems give several lines, one each."""
    with pytest.raises(ScenarioFileError) as info:
        load_text(HEAD + "world: {city: atlantis, subscribers: -1}\n" + STEP, "f.yaml")
    assert len(info.value.problems) == 2
