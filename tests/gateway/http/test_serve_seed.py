"""``opsim serve --seed-data FILE`` and ``--fictional-numbers``: bad seed files are one line naming the position
(exit 2, before the world is built); a good one creates partners (credentials printed once) and test phones,
and applying it again after a restart leaves what exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from gateway.client import AdminClient, PartnerClient
from gateway.core.seed import load_seed
from gateway.core.settings import Settings
from gateway.http.app import create_app
from gateway.http.serve import apply_seed, build_parser, main
from simulator.world import World
from tests.gateway.conftest import ADMIN_TOKEN

SEED = """\
partners:
  - name: acme
    scopes: [campaigns:read, verify]
    limits: {requestsPerSecond: 20}
    apiKey: true
  - name: beta
testPhones:
  - msisdn: "+491701000100"
    profile: {firstName: Ada, lastName: Lovelace}
    consent: {ADVERTISING: {PUSH: true}}
  - msisdn: "+491701000101"
"""


@pytest.mark.parametrize(("text", "message"), [
    # an unknown key of a partner, named with its line
    ("partners:\n  - name: acme\n    scope: [x]\n", "seed.yaml:3: partners[0].scope: Extra inputs are not permitted"),
    # a scope of the wrong shape, deep in a list
    ("partners:\n  - name: acme\n    scopes: [ok, 'Not OK']\n", "seed.yaml:3: partners[0].scopes[1]: String should"),
    # an unquoted MSISDN is a YAML number, not a string
    ("testPhones:\n  - msisdn: +491701000100\n", "seed.yaml:2: testPhones[0].msisdn: Input should be a valid string"),
    # the same phone twice
    ("testPhones:\n  - msisdn: '+491701000100'\n  - msisdn: '+491701000100'\n",
     "seed.yaml:3: testPhones[1].msisdn: +491701000100 is listed twice"),
    # an unknown section
    ("partner: []\n", "seed.yaml:1: partner: Extra inputs are not permitted"),
    # not a mapping
    ("- a\n", "seed.yaml:1: (top level): expected a mapping"),
    # not YAML
    ("partners: [\n", "seed.yaml:2:1: not valid YAML or JSON"),
    # JSON is YAML too; a wrong type there
    ('{"partners": [{"name": "acme", "apiKey": [true]}]}', "seed.yaml:1: partners[0].apiKey: Input should be"),
])
def test_bad_seed_file_is_one_line(tmp_path: Path, text: str, message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """One line on stderr naming file, line and entry; exit code 2; nothing built."""
    seed = tmp_path / "seed.yaml"
    seed.write_text(text, encoding="utf-8")
    assert main(["--seed-data", str(seed), "--db", str(tmp_path / "x.db"), "--subscribers", "10", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x.db").exists()


def test_missing_seed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A seed file that cannot be read is one line, exit 2."""
    assert main(["--seed-data", str(tmp_path / "nope.yaml"), "--db", str(tmp_path / "x.db")]) == 2
    assert "nope.yaml: cannot read" in capsys.readouterr().err


def test_fictional_numbers_flag() -> None:
    """``--fictional-numbers`` is an option of serve (off by default)."""
    assert build_parser().parse_args(["--fictional-numbers"]).fictional_numbers
    assert not build_parser().parse_args([]).fictional_numbers


async def test_seed_creates_partners_and_phones_once(aiohttp_server: AiohttpServer, world: World,
                                                     settings: Settings, tmp_path: Path) -> None:
    """Partners get credentials that work; phones are added; a second application changes nothing."""
    path = tmp_path / "seed.yaml"
    path.write_text(SEED, encoding="utf-8")
    seed = load_seed(path)
    server: TestServer = await aiohttp_server(create_app(world, settings))
    url = str(server.make_url("")).rstrip("/")
    lines = await apply_seed(url, ADMIN_TOKEN, seed)
    assert len(lines) == 4 and "client secret opsim_cs_" in lines[0] and "api key" in lines[0]
    assert "api key" not in lines[1]
    client_id = lines[0].split("client id ")[1].split(",")[0]
    secret = lines[0].split("client secret ")[1].split(",")[0]
    async with PartnerClient(url, client_id, secret) as partner:
        assert (await partner.me()).scopes == ["campaigns:read", "verify"]
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        acme = next(p for p in await admin.partners() if p.name == "acme")
        assert acme.limits.requests_per_second == 20 and len(acme.api_keys) == 1
        ada = await admin.subscriber("+491701000100")
        assert ada.profile.email.startswith("ada.lovelace") and ada.profile.email.endswith("@example.com")
    again = await apply_seed(url, ADMIN_TOKEN, seed)
    assert again[0] == f"  partner acme: exists ({acme.id}, client id {client_id}; secret shown when it was created)"
    assert all("exists" in line for line in again) and not any("secret opsim_cs_" in line for line in again)
    async with AdminClient(url, ADMIN_TOKEN) as admin:
        assert sorted(p.name for p in await admin.partners()) == ["acme", "beta"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--geojson", "{tmp}/city.geojson"], "--geojson needs --center LAT,LON and --country CODE"),  # centre missing
    (["--center", "52.5,13.4"], "--center goes with --geojson"),  # no polygon
    (["--country", "atlantis"], "--country: unknown country 'atlantis'"),  # without --geojson: a country preset
    (["--geojson", "{tmp}/city.geojson", "--center", "north", "--country", "DE"], "--center: expected LAT,LON"),
    (["--geojson", "{tmp}/missing.geojson", "--center", "52.5,13.4", "--country", "DE"], "cannot read GeoJSON"),
])
def test_geojson_options_are_checked(tmp_path: Path, argv: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``serve --geojson`` takes a custom city like ``simulate``; bad combinations are one line, exit 2."""
    (tmp_path / "city.geojson").write_text('{"type": "Polygon", "coordinates": [[[13.3, 52.4], [13.5, 52.4], '
                                           '[13.5, 52.6], [13.3, 52.4]]]}', encoding="utf-8")
    args = [a.format(tmp=tmp_path) for a in argv] + ["--db", str(tmp_path / "x.db"), "--port", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
