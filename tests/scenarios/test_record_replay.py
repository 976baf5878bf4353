"""Record and replay: a live partner session recorded by the gateway, turned into a scenario that replays it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient

from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.recording import redact
from scenarios.cli import main
from scenarios.loader import load
from scenarios.recorded import read_recording, to_scenario
from scenarios.runner import run_scenario
from simulator.world import World, WorldConfig
from tests.gateway.camara_helpers import ALL_SCOPES, ENTERED, cell_centre, circle, located

ADMIN_TOKEN = "adm-record-test"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CONFIG = WorldConfig(city="berlin", subscribers=2000, seed=3)
SINK = "https://partner.example/hooks/geo"


async def _session(world: World, db: Path, recording: Path) -> dict[str, str]:
    """A short live session: partner created, token, CAMARA calls, clock moves, an error, a subscription."""
    settings = Settings(db_path=db, admin_token=ADMIN_TOKEN, port=0, clock_mode="manual")
    async with TestClient(TestServer(create_app(world, settings))) as client:
        assert recording.parent == db.parent  # the admin API writes beside the database
        resp = await client.post("/admin/v1/recording", json={"file": recording.name}, headers=ADMIN)
        assert resp.status == 200, await resp.text()
        resp = await client.post("/admin/v1/partners", json={"name": "acme", "scopes": list(ALL_SCOPES)},
                                 headers=ADMIN)
        created = await resp.json()
        resp = await client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                        "client_id": created["clientId"],
                                                        "client_secret": created["clientSecret"]})
        token = (await resp.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        async def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
            resp = await client.request(method, path, json=body, headers=auth)
            assert resp.status == status, await resp.text()
            return await resp.json() if resp.content_type == "application/json" else None

        i = located(world)[0]
        lat, lon, r = cell_centre(world, i)
        phone = world.msisdn_of(i)
        verify = {"device": {"phoneNumber": phone}, "area": circle(lat, lon, r * 1.05 + 100)}
        await call("POST", "/location-verification/v3/verify", verify)
        await call("POST", "/region-device-count/v0.2/count", {"area": circle(lat, lon, 2000)})
        resp = await client.post("/admin/v1/clock/advance", json={"duration": "PT1H"}, headers=ADMIN)
        assert resp.status == 200
        await call("POST", "/location-verification/v3/verify", verify)
        await call("POST", "/location-verification/v3/verify",
                   {"device": {"phoneNumber": "+99912345678"}, "area": circle(lat, lon, 500)}, status=404)
        sub = await call("POST", "/geofencing-subscriptions/v0.5/subscriptions", {
            "protocol": "HTTP", "sink": SINK, "types": [ENTERED],
            "config": {"subscriptionDetail": {"device": {"phoneNumber": phone}, "area": circle(lat, lon, 3000)}}},
            status=201)
        await call("GET", f"/geofencing-subscriptions/v0.5/subscriptions/{sub['id']}")
        resp = await client.post("/admin/v1/clock/advance", json={"duration": "PT30M"}, headers=ADMIN)
        assert resp.status == 200
        await call("DELETE", f"/geofencing-subscriptions/v0.5/subscriptions/{sub['id']}", status=204)
        resp = await client.delete("/admin/v1/recording", headers=ADMIN)
        assert (await resp.json())["active"] is False
    return {"secret": created["clientSecret"], "token": token}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One recorded session (building the world is the slow part)."""
    tmp = tmp_path_factory.mktemp("rec")
    path = tmp / "session.jsonl"
    secrets = asyncio.run(_session(World.build(CONFIG), tmp / "opsim.db", path))
    return path, secrets


def test_recording_lines_are_complete_and_hold_no_secret(recorded: tuple[Path, dict[str, str]]) -> None:
    """Every line is a JSON object; the client secret and the access token appear nowhere."""
    path, secrets = recorded
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["kind"] == "session" and lines[0]["world"]["seed"] == 3
    assert secrets["secret"] not in text and secrets["token"] not in text
    assert "Bearer" not in text
    token_line = next(line for line in lines if line.get("path") == "/oauth2/token")
    assert token_line["body"]["client_secret"] == "<redacted>"
    assert token_line["answer"]["access_token"] == "<redacted>"
    partner_calls = [line for line in lines if line.get("caller") == "partner"]
    assert len(partner_calls) == 7
    assert {line["partner"] for line in partner_calls} == {"ptn_000001"}


def test_converted_scenario_replays_with_every_expectation_met(recorded: tuple[Path, dict[str, str]],
                                                              tmp_path: Path) -> None:
    """The scenario creates the partner, moves the clock as recorded and gets the recorded answers again."""
    path, _ = recorded
    out = tmp_path / "replay.yaml"
    assert main(["record-to-scenario", str(path), "--out", str(out)]) == 0
    scenario = load(out)
    assert [p.name for p in scenario.partners] == ["acme"]
    assert set(scenario.partners[0].scopes) == set(ALL_SCOPES)
    kinds = [s.action for s in scenario.steps]
    assert kinds.count("request") == 7 and kinds.count("advance") == 2
    requests = [s.request for s in scenario.steps if s.request is not None]
    assert requests[0].fields["verificationResult"] == "TRUE"
    assert requests[3].fields == {"code": "IDENTIFIER_NOT_FOUND"} and requests[3].status == 404
    assert requests[4].body["sink"] == "<inbox>/hooks/acme"
    creation = next(s for s in scenario.steps if s.request is requests[4])
    assert requests[5].path.endswith(f"${{{creation.id}.id}}")  # the id handed out at the creation, in the replay
    result = run_scenario(scenario, base_dir=out.parent)
    assert not result.failed, [(s.id, s.error, [c.message for c in s.checks if not c.ok]) for s in result.steps]
    checks = result.checks
    assert len(checks) >= 7 + 3 and all(c.ok for c in checks)


def test_a_torn_last_line_is_skipped_with_a_note(recorded: tuple[Path, dict[str, str]], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A crash mid-line leaves a file that still converts: the incomplete line is left out, with a note."""
    path, _ = recorded
    torn = tmp_path / "torn.jsonl"
    torn.write_text(path.read_text(encoding="utf-8") + '{"kind": "request", "caller": "par', encoding="utf-8")
    session, requests, notes = read_recording(torn)
    assert len(notes) == 1 and "incomplete last line" in notes[0]
    assert to_scenario(session, requests, "torn")["steps"]
    assert main(["record-to-scenario", str(torn), "--out", str(tmp_path / "torn.yaml")]) == 0
    assert "incomplete last line skipped" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "problem"), [
    # a broken line in the middle is an error naming its line
    ('{"kind": "session", "world": {}}\nnot json\n{"kind": "request"}\n', ":2: not a JSON object"),
    # not a recording at all
    ('{"hello": 1}\n', ":1: expected the session line first"),
    # a request line without its status
    ('{"kind": "session", "world": {}}\n{"kind": "request", "caller": "admin", "at": "2026-06-01T06:00:00Z", '
     '"method": "POST", "path": "/x"}\n', ":2: status: missing"),
    # nothing in it
    ("", "empty recording"),
])
def test_bad_recording_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                          problem: str) -> None:
    """A bad file is one line on stderr naming the file and line, exit code 2, nothing written."""
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "bad.yaml"
    assert main(["record-to-scenario", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and problem in err and str(path) in err
    assert not out.exists()


def test_missing_recording_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A recording that does not exist is one line, exit code 2."""
    assert main(["record-to-scenario", str(tmp_path / "none.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_serve_record_into_a_missing_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``opsim serve --record`` checks its file's place before building the world."""
    assert main(["serve", "--record", str(tmp_path / "no" / "such" / "dir" / "x.jsonl"), "--db", ":memory:"]) == 2
    assert "--record" in capsys.readouterr().err


def test_a_replay_that_differs_fails(recorded: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """The request step's expectations are real: a recorded answer the world does not give again fails the run."""
    path, _ = recorded
    session, requests, _ = read_recording(path)
    data = to_scenario(session, requests, "tampered")
    first = next(s for s in data["steps"] if "request" in s)
    first["request"]["fields"]["verificationResult"] = "FALSE"  # the world says TRUE
    out = tmp_path / "tampered.yaml"
    out.write_text(json.dumps(data), encoding="utf-8")
    result = run_scenario(load(out), base_dir=tmp_path)
    failed = [c.name for c in result.checks if not c.ok]
    assert result.failed and failed == [f"{first['id']} verificationResult"]


START = "2026-06-01T06:00:00Z"
SESSION = {"kind": "session", "at": "2026-06-01T07:00:00Z", "world": {
    "city": "berlin", "subscribers": 2000, "seed": 3, "start": START, "tickSeconds": 60}}


def _line(**fields: Any) -> dict[str, Any]:
    return {"kind": "request", "caller": "partner", "partner": "ptn_000002", "scopes": ["a:read"], "method": "GET",
            "path": "/x", "status": 200, "at": "2026-06-01T07:00:00Z", "_line": 2, **fields}


def test_paced_sessions_and_unknown_partners_convert() -> None:
    """Mid-session start → first advance; each request at its instant; a partner never seen created is named by
    its id with the scopes its calls carried; world-changing admin calls replay as admin requests."""
    lines = [_line(), _line(at="2026-06-01T07:05:30Z", scopes=["b:write"], _line=3),
             _line(caller="admin", method="POST", path="/admin/v1/subscribers/test", body={"msisdn": "+49"},
                   status=201, at="2026-06-01T07:06:00Z", _line=4)]
    steps = to_scenario(SESSION, lines, "paced")["steps"]
    assert steps[0] == {"advance": {"to": "2026-06-01T07:00:00Z"}}
    assert "at" not in steps[1] and steps[1]["partner"] == "ptn_000002"
    assert steps[2]["at"] == "2026-06-01T07:05:30Z"
    assert steps[3]["request"]["caller"] == "admin" and "partner" not in steps[3]
    scenario = to_scenario(SESSION, lines, "paced")
    assert scenario["partners"] == [{"name": "ptn_000002", "scopes": ["a:read", "b:write"]}]


def test_a_country_session_converts_to_a_country_scenario() -> None:
    """A session recorded on a country preset replays on the same country."""
    session = {**SESSION, "world": {**SESSION["world"], "country": "south-korea"}}  # type: ignore[dict-item]
    assert to_scenario(session, [_line()], "korea")["world"]["country"] == "south-korea"


@pytest.mark.parametrize(("value", "redacted"), [
    # OAuth form of the token endpoint
    ({"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s"},
     {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "<redacted>"}),
    # token answers
    ({"access_token": "t", "expires_in": 3600}, {"access_token": "<redacted>", "expires_in": 3600}),
    # an issued API key, nested
    ({"keys": [{"id": "key_1", "key": "opsim_key_x", "apiKey": "y"}]},
     {"keys": [{"id": "key_1", "key": "<redacted>", "apiKey": "<redacted>"}]}),
    # webhook sink credentials in a subscription request
    ({"sinkCredential": {"credentialType": "ACCESSTOKEN", "accessToken": "z"}},
     {"sinkCredential": {"credentialType": "ACCESSTOKEN", "accessToken": "<redacted>"}}),
])
def test_credentials_are_redacted(value: dict[str, Any], redacted: dict[str, Any]) -> None:
    """Every credential-named field reads <redacted> in the recording."""
    assert redact(value) == redacted


async def test_relative_recording_file_goes_beside_the_database(aiohttp_client: AiohttpClient, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``file`` is a plain name written in the database's directory, never in the server's working directory;
    a path is refused."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = Settings(db_path=tmp_path / "db" / "opsim.db", admin_token=ADMIN_TOKEN, port=0)
    (tmp_path / "db").mkdir()
    client = await aiohttp_client(create_app(World.build(WorldConfig(city="berlin", subscribers=300, seed=1)),
                                             settings))
    resp = await client.post("/admin/v1/recording", json={"file": "session.jsonl"}, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["file"] == str(tmp_path / "db" / "session.jsonl")
    await client.delete("/admin/v1/recording", headers=ADMIN)
    assert list(elsewhere.iterdir()) == [] and (tmp_path / "db" / "session.jsonl").exists()
    for bad in ("/tmp/x.jsonl", "../x.jsonl", "a/b.jsonl", ".hidden", ""):
        resp = await client.post("/admin/v1/recording", json={"file": bad}, headers=ADMIN)
        assert resp.status == 400, bad
    assert list(elsewhere.iterdir()) == [] and not (await (await client.get("/admin/v1/recording",
                                                                               headers=ADMIN)).json())["active"]
