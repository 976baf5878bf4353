"""Operator settings files for `opsim serve --config`: applied when valid, one-line errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.config import ConfigError, load_settings
from gateway.core.settings import Settings
from gateway.http.serve import main
from simulator.world import World


def test_settings_are_applied_over_the_defaults(tmp_path: Path) -> None:
    """Nested sections and top-level settings are read; everything else keeps its default."""
    path = tmp_path / "operator.yaml"
    path.write_text("campaigns:\n  quiet_start_hour: 22\n  daily_cap: 2\n  moderation_terms: [casino]\n"
                    "verify:\n  code_length: 8\nmin_radius_m: 250\nwebhook_timeout_s: 2.5\n")
    base = Settings(admin_token="t")
    s = load_settings(path, base)
    assert (s.campaigns.quiet_start_hour, s.campaigns.daily_cap, s.campaigns.moderation_terms) == (22, 2, ("casino",))
    assert s.verify.code_length == 8 and s.min_radius_m == 250.0 and s.webhook_timeout_s == 2.5
    assert s.campaigns.quiet_end_hour == base.campaigns.quiet_end_hour and s.admin_token == "t"


def test_json_files_work_too(tmp_path: Path) -> None:
    """JSON is YAML: a .json file is accepted."""
    path = tmp_path / "operator.json"
    path.write_text('{"campaigns": {"min_audience": 5}}')
    assert load_settings(path, Settings(admin_token="t")).campaigns.min_audience == 5


BAD = [
    # unknown top-level key, with its line
    ("access_log: true\nquiet: 3\n", "operator.yaml:2: quiet: unknown setting"),
    # unknown key inside a section
    ("campaigns:\n  quiet_from: 21\n", "campaigns.quiet_from: unknown setting"),
    # wrong type
    ("campaigns:\n  daily_cap: lots\n", "campaigns.daily_cap: Input should be a valid integer"),
    # a section that is not a mapping
    ("verify: 6\n", "verify: expected a mapping"),
    # a serving option that has its own flag
    ("port: 9000\n", "port: unknown setting"),
    # a non-finite number (YAML .inf / .nan, JSON Infinity), top level and in a section
    ("webhook_timeout_s: .inf\n", "operator.yaml:1: webhook_timeout_s: Input should be a finite number"),
    ("min_radius_m: .nan\n", "min_radius_m: Input should be a finite number"),
    ("campaigns:\n  max_radius_m: -.inf\n", "campaigns.max_radius_m: Input should be a finite number"),
    ('{"webhook_max_age_s": Infinity}', "webhook_max_age_s: Input should be a finite number"),
    # retention shorter than a day (null keeps everything)
    ("inbox_days: 0\n", "inbox_days must be at least 1"),
    # a group commit that would wait negative time, or linger with nobody else in flight
    ("group_commit_linger_ms: -1\n", "group_commit_linger_ms must be 0 or more"),
    ("group_commit_siblings: 0\n", "group_commit_siblings must be at least 1"),
    # not YAML at all
    ("campaigns: [1, 2\n", "not valid YAML or JSON"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    """Every problem is one line naming the file and the key path."""
    path = tmp_path / "operator.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, Settings(admin_token="t"))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_serve_refuses_a_bad_file_before_building_the_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    """`opsim serve --config` with a bad file: one line, exit code 2, no database created."""
    path = tmp_path / "operator.yaml"
    path.write_text("campaigns:\n  daily_cap: -x\n")
    db = tmp_path / "opsim.db"
    code = main(["--config", str(path), "--db", str(db), "--subscribers", "10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "campaigns.daily_cap" in err[0]
    assert not db.exists()


def test_serve_refuses_a_non_finite_number(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`opsim serve --config` with `.inf` for a number: one line naming the key, exit code 2, no world built."""

    def build(*_: object) -> None:
        raise AssertionError("the world was built (and would be served) despite the bad file")

    monkeypatch.setattr(World, "build", build)
    path = tmp_path / "operator.yaml"
    path.write_text("webhook_timeout_s: .inf\n")
    code = main(["--config", str(path), "--db", str(tmp_path / "opsim.db"), "--subscribers", "10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "webhook_timeout_s" in err[0] and "finite" in err[0]


def test_missing_file_is_named(tmp_path: Path) -> None:
    """An unreadable file is a one-line error naming it."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_settings(tmp_path / "nope.yaml", Settings(admin_token="t"))
