"""Same scenario and seed ⇒ the same transcript digest; another seed ⇒ another digest."""

from __future__ import annotations

from scenarios.loader import load_text
from scenarios.runner import run_scenario
from tests.scenarios.conftest import SMALL


def test_same_seed_same_digest() -> None:
    """Two runs of one scenario produce byte-identical transcripts."""
    scenario = load_text(SMALL)
    first = run_scenario(scenario)
    second = run_scenario(scenario)
    assert not first.failed, [s.to_dict() for s in first.steps if not s.ok]
    assert first.transcript.lines() == second.transcript.lines()
    assert first.digest == second.digest


def test_other_seed_other_digest() -> None:
    """The seed is part of what the transcript records."""
    scenario = load_text(SMALL)
    assert run_scenario(scenario, seed=4).digest != run_scenario(scenario, seed=5).digest


def test_transcript_has_no_secrets_or_wall_time() -> None:
    """Client secrets are redacted and tick timings are left out."""
    result = run_scenario(load_text(SMALL))
    text = "\n".join(result.transcript.lines())
    assert "opsim_cs_" not in text
    assert '"clientSecret":"<redacted>"' in text
    assert "TickMs" not in text
    times = [line.split('"t":"')[1][:20] for line in result.transcript.lines()]
    assert times == sorted(times)
