"""``opsim --version``, ``--help`` defaults, audience format from ``--out``, suggestions for mistyped scenario
names, and ``opsim partners`` against a running gateway: exit codes and one-line errors."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from gateway.core.settings import Settings
from gateway.http.app import create_app
from scenarios.cli import main
from simulator.world import World, WorldConfig

TOKEN = "cli-admin-token"


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``opsim --version`` prints the installed version and exits 0."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("opsim 0.")


@pytest.mark.parametrize(("command", "shown"), [
    ("simulate", ["--tick TICK           tick length in seconds (default: 60)", "2026-06-01T06:00:00Z"]),  # Z too
    ("audience", ["(default: 10000)", "(default: moscow)"]),  # world options
    ("run", ["--seed SEED"]),  # an option without a default shows no "(default: None)"
])
def test_help_shows_defaults(command: str, shown: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` names each option's default and never prints ``None``."""
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for part in shown:
        assert " ".join(part.split()) in text
    assert "default: None" not in text and "default: False" not in text


@pytest.mark.parametrize(("name", "fmt", "first_char"), [
    ("a.jsonl", None, "{"),  # the extension names the format
    ("a.csv", None, "m"),  # csv header: msisdn,...
    ("a.dat", None, "m"),  # unknown extension: the default, csv
    ("a.dat", "jsonl", "{"),  # --format decides when the extension says nothing
    ("a.JSONL", "jsonl", "{"),  # agreeing extension (case-insensitive) and --format
])
def test_audience_format_from_out(tmp_path: Path, name: str, fmt: str | None, first_char: str) -> None:
    """The output format follows ``--out``'s extension unless ``--format`` says it."""
    out = tmp_path / name
    args = ["audience", "--city", "berlin", "--size", "20", "--out", str(out)] + (["--format", fmt] if fmt else [])
    assert main(args) == 0
    assert out.read_text(encoding="utf-8")[0] == first_char


@pytest.mark.parametrize(("name", "fmt", "message"), [
    ("a.csv", "jsonl", "--format jsonl does not match --out a.csv"),  # explicit mismatch
    ("a.parquet", "csv", "--format csv does not match --out a.parquet"),  # another one
    ("a.json", None, "--out a.json: json is not a format of this command"),  # a format audience cannot write
])
def test_audience_format_mismatch_is_refused(tmp_path: Path, name: str, fmt: str | None, message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A ``--format`` contradicting ``--out`` is one line, exit 2, nothing written."""
    out = tmp_path / name
    args = ["audience", "--size", "20", "--out", str(out)] + (["--format", fmt] if fmt else [])
    assert main(args) == 2
    assert message in _one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize(("name", "suggestion"), [
    ("stadium-mach", "did you mean 'stadium-match'?"),  # one letter off
    ("demmo", "did you mean 'demo'?"),  # one letter too many
    ("zzzzzz", "`opsim scenarios` lists them"),  # nothing close: no suggestion, still a pointer
])
def test_run_suggests_library_names(name: str, suggestion: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped library scenario name is one line with the closest name, exit 2."""
    assert main(["run", name]) == 2
    line = _one_error_line(capsys)
    assert f"unknown scenario {name!r}" in line and suggestion in line


# -- opsim partners ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real gateway on 127.0.0.1 in a thread of its own (the command runs its own event loop)."""
    world = World.build(WorldConfig(city="berlin", subscribers=300, seed=1))
    settings = Settings(db_path=str(tmp_path_factory.mktemp("cli") / "g.db"), admin_token=TOKEN)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(world, settings))
    ready = threading.Event()

    def serve() -> None:  # everything in the thread of the loop (the store's SQLite connection is bound to it)
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(60)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def _json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_partners_create_list_and_keys(gateway_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """create prints the credentials once; list shows the partner; keys issues, lists and revokes API keys."""
    common = ["--url", gateway_url, "--admin-token", TOKEN]
    assert main(["partners", "create", "acme", "--scope", "campaigns:read", "--scope", "verify",
                 "--requests-per-second", "5", "--api-key", *common]) == 0
    [created] = _json_lines(capsys)
    assert str(created["clientSecret"]).startswith("opsim_cs_") and created["scopes"] == ["campaigns:read", "verify"]
    assert "apiKey" in created
    assert main(["partners", "list", *common]) == 0
    listed = [p for p in _json_lines(capsys) if p["id"] == created["id"]]
    assert listed and listed[0]["limits"] == {"requestsPerSecond": 5.0} and "clientSecret" not in listed[0]
    assert main(["partners", "keys", str(created["id"]), "--issue", *common]) == 0
    [issued] = _json_lines(capsys)
    assert main(["partners", "keys", str(created["id"]), *common]) == 0
    assert issued["id"] in [k["id"] for k in _json_lines(capsys)]
    assert main(["partners", "keys", str(created["id"]), "--revoke", str(issued["id"]), *common]) == 0
    capsys.readouterr()
    assert main(["partners", "keys", str(created["id"]), *common]) == 0
    assert [k["revoked"] for k in _json_lines(capsys) if k["id"] == issued["id"]] == [True]


def test_partners_service_account_prints_a_google_key_file(gateway_url: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """service-account prints a key file Google's libraries load: the partner's, for this gateway's token URI."""
    common = ["--url", gateway_url, "--admin-token", TOKEN]
    assert main(["partners", "create", "sa", "--scope", "push:send", *common]) == 0
    [created] = _json_lines(capsys)
    assert main(["partners", "service-account", str(created["id"]), *common]) == 0
    [file] = _json_lines(capsys)
    assert file["type"] == "service_account" and file["client_id"] == created["clientId"]
    assert file["token_uri"] == f"{gateway_url}/oauth2/token" and "BEGIN PRIVATE KEY" in str(file["private_key"])
    assert main(["partners", "service-account", str(created["id"]), "--project", "app_999999", *common]) == 1
    assert "400 INVALID_ARGUMENT" in _one_error_line(capsys)


def test_partners_token_from_the_environment(gateway_url: str, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Without --admin-token, OPSIM_ADMIN_TOKEN is used."""
    monkeypatch.setenv("OPSIM_ADMIN_TOKEN", TOKEN)
    assert main(["partners", "list", "--url", gateway_url]) == 0


@pytest.mark.parametrize(("args", "code", "message"), [
    (["list", "--admin-token", "wrong"], 1, "401 UNAUTHENTICATED"),  # the gateway refuses the token
    (["keys", "par_999999", "--admin-token", TOKEN], 1, "404"),  # unknown partner
    (["create", "x", "--scope", "Bad Scope", "--admin-token", TOKEN], 2, "--scope: String should match"),  # bad
    (["list"], 2, "--admin-token: needed"),  # no token at all
    (["create", "x", "--requests-per-second", "0", "--admin-token", TOKEN], 2, "--requests-per-second"),  # bad value
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),  # unknown subcommand
])
def test_partners_errors_are_one_line(gateway_url: str, args: list[str], code: int, message: str,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Refusals and bad options: one line on stderr, exit 1 (gateway said no) or 2 (bad input)."""
    monkeypatch.delenv("OPSIM_ADMIN_TOKEN", raising=False)
    url = [] if args == ["frobnicate"] else ["--url", gateway_url]
    assert main(["partners", *args, *url]) == code
    assert message in _one_error_line(capsys)


def test_partners_unreachable_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    """A gateway that is not there is one line naming the URL, exit 1."""
    assert main(["partners", "list", "--url", "http://127.0.0.1:1", "--admin-token", TOKEN]) == 1
    assert "cannot reach the gateway at http://127.0.0.1:1" in _one_error_line(capsys)
