"""Scenario steps for CDP triggers (``define_trigger``, ``delete_trigger``, ``of: trigger`` checks): validation,
the rule passed through to the wire model, runs and determinism."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway.wire.cdp_triggers import TriggerRequest
from scenarios.cli import main
from scenarios.loader import load_text
from scenarios.replay import summarise
from scenarios.runner import run_scenario
from scenarios.schema import CircleSpec, wire_rule
from tests.scenarios.conftest import assert_one_problem

HEAD = ("name: t\nstart: 2026-06-05T16:00:00Z\npartners:\n"
        "  - {name: brand, scopes: [apps:write, cdp:write], sinks: {hook: /hooks/brand}}\nsteps:\n"
        "  - id: app\n    register_app: {name: Shop, popularity: 0.5}\n")
PUSH = "{push: {app: app, title: Hi, body: There}}"


def trigger(rule: str, steps: str = f"[{PUSH}]", extra: str = "") -> str:
    """A scenario whose second step defines a trigger (line 9 of the file)."""
    return HEAD + f"  - id: t\n    define_trigger: {{name: T, rule: {rule}, steps: {steps}{extra}}}\n"


CART = "{kind: EVENT_NOT_FOLLOWED, event: Product Added, not_followed_by: Order Completed, within_seconds: PT2H}"

RUN = """\
name: trigger-steps
seed: 3
start: 2026-06-05T08:00:00Z
tick: PT5M
world: {city: berlin, subscribers: 300}
partners:
  - {name: brand, scopes: [apps:write, cdp:read, cdp:write], sinks: {hook: /hooks/brand}}
steps:
  - id: web
    create_source: {name: Backend}
  - id: cart
    define_trigger:
      name: Cart abandoned
      rule: {kind: EVENT_NOT_FOLLOWED, event: Product Added, notFollowedBy: Order Completed, withinSeconds: 3600}
      steps:
        - webhook: hook
        - {delay: PT30M, webhook: hook}
      daily_cap: 1
  - track:
      source: web
      calls:
        - {userId: left, event: Product Added}
        - {userId: bought, event: Product Added}
  - at: PT20M
    track: {source: web, calls: [{userId: bought, event: Order Completed}]}
  - at: PT2H
    expect:
      - {name: one user, of: trigger, step: cart, path: users, equals: 1}
      - {name: the reminder, of: trigger, step: cart, identity: left, path: steps.0.sent, equals: 1}
      - {name: capped, of: trigger, step: cart, identity: left, path: steps.1.reasons.FREQUENCY_CAP, equals: 1}
      - {name: cancelled, of: trigger, step: cart, identity: bought, path: fires, equals: 0}
      - {name: at the window's end, of: trigger, step: cart, path: firstAt, equals: "2026-06-05T09:00:00Z"}
      - {name: the CloudEvent, of: trigger, step: cart, path: webhooks.received, equals: 1}
      - {name: its fields, of: trigger, step: cart, path: webhooks.dataKeys,
         equals: [event, rule, step, triggerId, triggerName, userId]}
      - {name: no number, of: trigger, step: cart, path: webhooks.phoneNumbers, equals: 0}
      - {name: at the sink, of: webhooks, sink: hook, path: "*.data.userId", equals: [left]}
  - id: gone
    delete_trigger: {trigger: cart}
  - delete_trigger: {trigger: cart}
    expect_error: NOT_FOUND
  - track: {source: web, calls: [{userId: late, event: Product Added}]}
  - advance: PT2H
  - expect:
      - {name: the fires at deletion stay readable, of: trigger, step: cart, path: fires, equals: 2}
      - {name: a deleted trigger sends nothing more, of: webhooks, sink: hook, equals: 1}
"""


@pytest.mark.parametrize(("text", "where", "message"), [
    # a rule kind the wire does not know
    (trigger("{kind: NOPE}"), "9:37: steps[1].define_trigger.rule", "Input tag 'NOPE' found using 'kind'"),
    # a rule without a field the wire model requires (named in snake_case, as scenarios spell fields)
    (trigger("{kind: EVENT_NOT_FOLLOWED, event: A, within_seconds: PT2H}"),
     "9:37: steps[1].define_trigger.rule.not_followed_by", "required field missing"),
    # a window shorter than the wire's minute
    (trigger("{kind: EVENT_NOT_FOLLOWED, event: A, not_followed_by: B, within_seconds: PT30S}"),
     "9:110: steps[1].define_trigger.rule.within_seconds", "greater than or equal to 60"),
    # a window that is neither seconds nor a duration
    (trigger("{kind: EVENT_NOT_FOLLOWED, event: A, not_followed_by: B, within_seconds: PTwo}"),
     "9:110: steps[1].define_trigger.rule.within_seconds", "valid integer"),
    # a misspelt rule field
    (trigger("{kind: FIRST_EVENT, evnt: A}"), "9:57: steps[1].define_trigger.rule.evnt", "unknown field"),
    # an area rule without its app (the scenario's key, not the wire's appId)
    (trigger("{kind: AREA_ENTERED, area_id: m, area: {place: Mall of Berlin, radius: 500}}"),
     "9:37: steps[1].define_trigger.rule.app", "required field missing"),
    # an area circle without a radius
    (trigger("{kind: AREA_ENTERED, app: app, area_id: m, area: {place: Mall of Berlin}}"),
     "9:86: steps[1].define_trigger.rule.area.radius", "required field missing"),
    # an area at a place the city does not have
    (trigger("{kind: AREA_ENTERED, app: app, area_id: m, area: {place: Atlantis, radius: 500}}"),
     "9:94: steps[1].define_trigger.rule.area.place", "unknown place 'Atlantis'"),
    # a rule naming an app no earlier step registered
    (trigger("{kind: AREA_ENTERED, app: nope, area_id: m, area: {place: Mall of Berlin, radius: 500}}"),
     "9:63: steps[1].define_trigger.rule.app", "no earlier register_app step has id 'nope'"),
    # an audience rule naming the app step
    (trigger("{kind: AUDIENCE_ENTERED, audience: app}"), "9:72: steps[1].define_trigger.rule.audience",
     "no earlier define_audience step has id 'app'"),
    # a webhook to a sink the partner does not have
    (trigger("{kind: FIRST_EVENT}", "[{webhook: elsewhere}]"), "9:76: steps[1].define_trigger.steps[0].webhook",
     "partner 'brand' has no sink 'elsewhere'; its sinks: hook"),
    # a push for an app no earlier step registered
    (trigger("{kind: FIRST_EVENT}", "[{push: {app: nope, title: a, body: b}}]"),
     "9:79: steps[1].define_trigger.steps[0].push.app", "no earlier register_app step has id 'nope'"),
    # a chain step with two actions
    (trigger("{kind: FIRST_EVENT}", f"[{{webhook: hook, push: {PUSH[7:-1]}}}]"),
     "9:66: steps[1].define_trigger.steps[0]", "give exactly one of webhook (a sink name), push"),
    # a delay past the wire's 30 days
    (trigger("{kind: FIRST_EVENT}", f"[{{delay: P31D, {PUSH[1:]}]"), "9:74: steps[1].define_trigger.steps[0].delay",
     "less than or equal to 30 days"),
    # a quiet hour that is not an hour
    (trigger("{kind: FIRST_EVENT}", extra=", quiet_hours: {start_hour: 24, end_hour: 8}"),
     "9:137: steps[1].define_trigger.quiet_hours.start_hour", "less than or equal to 23"),
    # a trigger step without an id: checks and deletes could not refer to it
    (HEAD + "  - define_trigger: {name: T, rule: {kind: FIRST_EVENT}, steps: [{webhook: hook}]}\n", "8:5: steps[1]",
     "give define_trigger steps an id"),
    # deleting something that is not a trigger
    (HEAD + "  - delete_trigger: {trigger: app}\n", "8:31: steps[1].delete_trigger.trigger",
     "no earlier define_trigger step has id 'app'"),
    # a trigger check that names the app step
    (HEAD + "  - expect: [{of: trigger, step: app, path: fires, equals: 0}]\n", "8:34: steps[1].expect[0].step",
     "no earlier define_trigger step has id 'app'"),
    # a trigger check needs which trigger
    (HEAD + "  - expect: [{of: trigger, path: fires, equals: 0}]\n", "8:14: steps[1].expect[0]", "needs step"),
])
def test_bad_trigger_steps_are_one_line_each(text: str, where: str, message: str) -> None:
    """A malformed trigger step or check is one problem naming its place in the file."""
    assert_one_problem(text, where, message)


def test_bad_trigger_rule_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On the command line a bad trigger rule is exit 2 with one line."""
    path = tmp_path / "f.yaml"
    path.write_text(trigger("{kind: EVENT_NOT_FOLLOWED, event: A, within_seconds: PT2H}"), encoding="utf-8")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "define_trigger.rule.not_followed_by: required field missing" in err[0], err


def test_good_trigger_steps_load() -> None:
    """Every rule kind of the wire loads, in snake_case or camelCase, with durations for seconds."""
    for rule in (CART, "{kind: FIRST_EVENT}", "{kind: AUDIENCE_ENTERED, audience_id: aud_000001}",
                 "{kind: AREA_ENTERED, app: app, areaId: m, area: {latitude: 52.5, longitude: 13.4, radius: 500}}"):
        load_text(trigger(rule, extra=", daily_cap: 2, quiet_hours: {start_hour: 21, end_hour: 8}"))


def test_wire_rule_passes_unknown_fields_through() -> None:
    """References, scenario circles and durations are translated; every other field reaches the wire model as given
    (a rule kind added to the wire needs no scenario change)."""
    rule = {"kind": "SOME_NEW_KIND", "app": "shop", "venue_name": "Olympiastadion", "hours_before": 3,
            "lead_seconds": "PT90M", "area": {"place": "Mall of Berlin", "radius": 500}}
    got = wire_rule(rule, lambda key, ref: f"{key}:{ref}", lambda c: (52.5, 13.38))
    assert got == {"kind": "SOME_NEW_KIND", "app_id": "app:shop", "venue_name": "Olympiastadion", "hours_before": 3,
                   "lead_seconds": 5400,
                   "area": {"areaType": "CIRCLE", "center": {"latitude": 52.5, "longitude": 13.38}, "radius": 500}}
    wire = {"areaType": "CIRCLE", "center": {"latitude": 1.0, "longitude": 2.0}, "radius": 9}
    assert wire_rule({"area": wire}, lambda k, r: r, lambda c: (0.0, 0.0)) == {"area": wire}  # the wire's own form
    assert isinstance(CircleSpec.model_validate(rule["area"]), CircleSpec)


def test_trigger_steps_run_and_repeat() -> None:
    """A cart trigger: the abandoned cart's webhook at the window's end, its second step capped, the ordered cart
    cancelled; a deleted trigger keeps its fires readable and sends nothing more; the same run twice gives the same
    transcript, with the sink as ``<inbox>``."""
    scenario = load_text(RUN)
    first = run_scenario(scenario)
    failures = [(s.id or s.action, s.error, [c.to_dict() for c in s.checks if not c.ok])
                for s in first.steps if not s.ok]
    assert not failures, failures
    created = first.steps[1].answer
    TriggerRequest.model_validate({k: v for k, v in created.items()
                                   if k not in ("id", "createdAt", "status", "ignoredEvents")})
    assert created["steps"][0]["action"]["sink"] == "<inbox>/hooks/brand"
    assert run_scenario(scenario).digest == first.digest
    out = io.StringIO()
    summarise(first, out, 1.0)
    lines = out.getvalue()
    assert "cart (define_trigger) — trg_000001" in lines and "gone (delete_trigger) — trg_000001 after 2 fires" in lines
