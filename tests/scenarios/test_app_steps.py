"""Scenario steps for partner apps, CDP tracking and audiences, and push: validation, runs, determinism."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.loader import load_text
from scenarios.replay import summarise
from scenarios.runner import run_scenario
from tests.scenarios.conftest import assert_one_problem

HEAD = ("name: t\nstart: 2026-06-05T16:00:00Z\npartners:\n  - {name: brand, scopes: [apps:write]}\nsteps:\n"
        "  - id: app\n    register_app: {name: Shop, popularity: 0.5}\n")

RUN = """\
name: app-steps
seed: 5
start: 2026-06-05T16:00:00Z
tick: PT5M
world: {city: berlin, subscribers: 800}
partners:
  - {name: brand, scopes: [apps:read, apps:write, push:send, cdp:read, cdp:write]}
steps:
  - id: app
    register_app: {name: Shop, categories: [SHOPPING], popularity: 0.9}
  - id: web
    create_source: {name: Backend}
  - id: vip
    define_audience: {name: VIP, definition: {trait: tier, op: eq, value: gold}}
  - id: calls
    track:
      source: web
      batch: false
      calls:
        - {type: identify, userId: u-1, traits: {tier: gold}}
        - {userId: u-1, event: Order Completed, properties: {revenue: 12.5}}
  - id: vips
    export_audience: {audience: vip}
  - id: bogus
    send_push: {app: app, token: "no-such-token", notification: {title: Hi}}
    expect_error: UNREGISTERED
  - id: perms
    set_app_permissions: {app: app, install: 3, marketing_consent: false, line_linked: true}
  - id: one
    send_push: {app: app, install: 3, notification: {body: Hello}, ttl: PT1H}
  - id: news
    subscribe_topic: {app: app, topic: news, install: [1, 2, 3]}
  - id: everyone
    send_push: {app: app, condition: "'news' in topics", data: {k: v}}
  - advance: PT10M
  - expect:
      - {name: vip size, of: audience, step: vip, path: members, equals: 1}
      - {name: vip export, of: step, step: vips, path: userIds, equals: [u-1]}
      - {name: profile, of: profile, identity: "${vips.userIds.0}", path: events.count, equals: 2}
      - {name: installs, of: app, step: app, path: installed, at_least: 50}
      - {name: one message, of: push, step: one, path: messages, equals: 1}
      - {name: consent withdrawn just before, of: push, step: one, path: suppressed, equals: 1}
      - {name: the install as set, of: step, step: perms, path: marketingConsent, equals: false}
      - {name: linked now, of: step, step: perms, path: lineLinked, equals: true}
      - {name: a fan-out is counted apart, of: push, step: everyone, path: fanouts, equals: 1}
      - {name: its pushes, of: push, step: everyone, path: messages, equals: 3}
      - {name: data only needs no consent, of: push, step: everyone, path: suppressed, equals: 0}
      - {name: three installs joined, of: step, step: news, path: done, equals: 3}
"""


@pytest.mark.parametrize(("text", "where", "message"), [
    # two targets of one push
    (HEAD + "  - send_push: {app: app, token: t, topic: news, data: {k: v}}\n", "8:16: steps[1].send_push",
     "exactly one of token, install, users, topic, condition (got token, topic)"),
    # a push with nothing to carry
    (HEAD + "  - send_push: {app: app, topic: news}\n", "8:16: steps[1].send_push", "give notification or data"),
    # a push for an app no earlier step registered
    (HEAD + "  - send_push: {app: nope, topic: news, data: {k: v}}\n", "8:22: steps[1].send_push.app",
     "no earlier register_app step has id 'nope'"),
    # a track call without its event
    (HEAD + "  - id: s\n    create_source: {name: S}\n  - track: {source: s, calls: [{userId: u}]}\n",
     "10:31: steps[2].track.calls", "a track call needs event"),
    # tracking through something that is not a source
    (HEAD + "  - track: {source: app, calls: [{userId: u, event: E}]}\n", "8:21: steps[1].track.source",
     "no earlier create_source step has id 'app'"),
    # an audience step without an id: later steps could not refer to it
    (HEAD + "  - define_audience: {name: A, definition: {event: E}}\n", "8:5: steps[1]",
     "give define_audience steps an id"),
    # an audience check that names the app step
    (HEAD + "  - expect: [{of: audience, step: app, path: size, equals: 1}]\n", "8:35: steps[1].expect[0].step",
     "no earlier define_audience step has id 'app'"),
    # a topic subscription needs whose installs
    (HEAD + "  - subscribe_topic: {app: app, topic: news}\n", "8:22: steps[1].subscribe_topic",
     "give exactly one of install, users"),
    # a permission step that sets nothing
    (HEAD + "  - set_app_permissions: {app: app, install: 0}\n", "8:26: steps[1].set_app_permissions",
     "give at least one of notifications, marketing_consent, location_permission, line_linked"),
    # a permission step for an app no earlier step registered
    (HEAD + "  - set_app_permissions: {app: nope, install: 0, line_linked: true}\n",
     "8:32: steps[1].set_app_permissions.app", "no earlier register_app step has id 'nope'"),
    # a location permission that does not exist
    (HEAD + "  - set_app_permissions: {app: app, install: 0, location_permission: SOMETIMES}\n",
     "8:70: steps[1].set_app_permissions.location_permission", "Input should be"),
    # a profile check needs whose profile
    (HEAD + "  - expect: [{of: profile, path: traits, equals: {}}]\n", "8:14: steps[1].expect[0]",
     "needs identity"),
])
def test_bad_app_steps_are_one_line_each(text: str, where: str, message: str) -> None:
    """A malformed app, tracking, audience or push step is one problem naming its place in the file."""
    assert_one_problem(text, where, message)


def test_bad_push_step_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On the command line a bad push step is exit 2 with one line."""
    path = tmp_path / "f.yaml"
    path.write_text(HEAD + "  - send_push: {app: app, topic: news}\n", encoding="utf-8")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "steps[1].send_push: give notification or data" in err[0], err


def test_app_steps_run_and_repeat() -> None:
    """Register, track, define and export an audience, push by token, install row and condition; the same run twice
    gives the same transcript, with the write key redacted."""
    scenario = load_text(RUN)
    first = run_scenario(scenario)
    failures = [(s.id or s.action, s.error, [c.to_dict() for c in s.checks if not c.ok])
                for s in first.steps if not s.ok]
    assert not failures, failures
    text = "\n".join(first.transcript.lines())
    assert "opsim_wk_" not in text and '"writeKey":"<redacted>"' in text
    assert run_scenario(scenario).digest == first.digest
    out = io.StringIO()
    summarise(first, out, 1.0)
    lines = out.getvalue()
    assert "one (send_push) — psh_" in lines and "vips (export_audience) — 1 members" in lines
    assert "perms (set_app_permissions) — " in lines
    assert "news (subscribe_topic) — 3/3 tokens" in lines and "calls (track) — 2 calls accepted" in lines
