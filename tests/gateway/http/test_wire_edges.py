"""Bytes at the edge of HTTP: unparsable requests, non-ASCII header values and body charsets never give a 500
nor aiohttp's plain text, but the error shape (RFC 6749 errors on the OAuth endpoints).

Raw requests go over a real socket to the gateway served by ``GatewayRunner`` on 127.0.0.1 (an aiohttp client
cannot send such bytes). aiohttp's parser answers bad request lines, bad path bytes and over-long headers before
any middleware; ``GatewayRunner`` renders them through ``RequestHandler.handle_error``, the one hook aiohttp has
(no public one: aio-libs/aiohttp#3287). What stays out of reach: a connection that closes mid-request gets no
answer at all, and a request llhttp refuses for an unknown method (``FOO``) is 405 without ``Allow``, since its
path was never routed.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, web

from gateway.core.settings import Settings
from gateway.http.app import GatewayRunner, create_app
from simulator.world import World
from tests.gateway.conftest import ADMIN, Client, MakePartner, bearer, fetch_token

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def port(world: World, settings: Settings) -> AsyncIterator[int]:
    """The port of a gateway served as ``opsim serve`` serves it."""
    runner = GatewayRunner(create_app(world, settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield int(runner.addresses[0][1])
    await runner.cleanup()


async def exchange(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    """Send one raw request (``Connection: close`` added) and read (status, headers, JSON body)."""
    line, _, rest = head.partition(b"\r\n")
    raw = line + b"\r\nConnection: close\r\n" + rest
    if body:
        raw += b"Content-Length: %d\r\n" % len(body)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw + b"\r\n" + body)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 30)  # the server closes after answering
    writer.close()
    top, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    assert headers["content-type"].startswith("application/json"), (status_line, payload)
    return int(status_line.split()[1]), headers, json.loads(payload)


def assert_error(status: int, headers: dict[str, str], body: Any, expected: int, code: str) -> None:
    """The CAMARA error shape with a matching status, and a correlator on the answer."""
    assert (status, body["status"], body["code"]) == (expected, expected, code), body
    assert set(body) <= {"status", "code", "message", "details"} and body["message"]
    assert headers.get("x-correlator")


@pytest.mark.parametrize(("head", "status", "code"), [
    # a byte that may not appear in a path
    (b"GET /he\xffalth HTTP/1.1\r\nHost: x\r\n", 400, "INVALID_ARGUMENT"),
    # a control character in the path
    (b"GET /he\x01alth HTTP/1.1\r\nHost: x\r\n", 400, "INVALID_ARGUMENT"),
    # a header field past aiohttp's 8190-byte limit
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n", 400, "INVALID_ARGUMENT"),
    # a request target past the same limit
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n", 400, "INVALID_ARGUMENT"),
    # a method that is not an HTTP token
    (b"G(T /health HTTP/1.1\r\nHost: x\r\n", 400, "INVALID_ARGUMENT"),
    # a well-formed method llhttp does not know: refused before routing, answered as a method not allowed
    (b"FOO /health HTTP/1.1\r\nHost: x\r\n", 405, "METHOD_NOT_ALLOWED"),
    # a request line with no target nor version
    (b"GET\r\nHost: x\r\n", 400, "INVALID_ARGUMENT"),
    # an HTTP version that does not exist
    (b"GET /health HTTP/9.9\r\nHost: x\r\n", 400, "INVALID_ARGUMENT"),
    # a header line without a colon
    (b"GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n", 400, "INVALID_ARGUMENT"),
])
async def test_parser_errors_come_in_the_error_shape(port: int, head: bytes, status: int, code: str) -> None:
    """What aiohttp's parser refuses is answered in the CAMARA shape, never as text/plain."""
    assert_error(*await exchange(port, head), status, code)


async def test_a_well_formed_unserved_method_is_405_with_allow(client: Client) -> None:
    """A method HTTP knows but the path does not serve is 405 with ``Allow``, in the error shape."""
    for method in ("PATCH", "PROPFIND"):
        resp = await client.request(method, "/health")
        assert resp.status == 405
        assert "GET" in resp.headers["Allow"]
        assert (await resp.json())["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("head", [
    # an access token with bytes that are not UTF-8
    b"GET /partner/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n",
    # an access token that is UTF-8 but not ASCII
    b"GET /partner/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer caf\xc3\xa9\r\n",
    # API keys in either header
    b"GET /partner/v1/me HTTP/1.1\r\nHost: x\r\nx-api-key: opsim_key_\xff\r\n",
    b"GET /partner/v1/me HTTP/1.1\r\nHost: x\r\nx-rapidapi-key: \xff\r\n",
    # the admin token
    b"GET /admin/v1/partners HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\r\n",
])
async def test_non_ascii_credentials_are_unauthenticated(port: int, head: bytes) -> None:
    """A bearer token or API key with non-ASCII bytes is the generic 401, never a 500."""
    assert_error(*await exchange(port, head), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(("path", "authorization"), [
    # Basic credentials that are not even ASCII
    ("/oauth2/token", b"Basic \xff\xfe"),
    # base64 of bytes that are not UTF-8
    ("/oauth2/token", b"Basic " + base64.b64encode(b"\xff:\xfe")),
    # the same on the CIBA endpoint, which authenticates clients alike
    ("/bc-authorize", b"Basic \xff\xfe"),
])
async def test_non_ascii_basic_credentials_are_invalid_client(port: int, path: str, authorization: bytes) -> None:
    """Bad bytes in Basic client credentials are RFC 6749 ``invalid_client`` (401 with a challenge)."""
    head = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + authorization +
            b"\r\nContent-Type: " + FORM.encode() + b"\r\n")
    status, headers, body = await exchange(port, head, b"grant_type=client_credentials&scope=x&login_hint=tel:1")
    assert (status, body["error"]) == (401, "invalid_client")
    assert headers["www-authenticate"].startswith("Basic")


async def test_non_ascii_correlator_is_refused_and_not_echoed(port: int) -> None:
    """A non-ASCII x-correlator is 400 and the answer carries a fresh correlator instead."""
    status, headers, body = await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nx-correlator: \xff\r\n")
    assert_error(status, headers, body, 400, "INVALID_ARGUMENT")
    assert headers["x-correlator"].isascii() and len(headers["x-correlator"]) == 36


@pytest.mark.parametrize("path", ["/messages/v1/messages", "/journeys/v1/journeys", "/campaigns/v1/campaigns"])
async def test_non_ascii_idempotency_key_is_400(port: int, path: str) -> None:
    """A non-ASCII ``Idempotency-Key`` is 400 INVALID_ARGUMENT on every idempotent creation."""
    scopes = ["messages:send", "journeys:write", "campaigns:write"]
    async with _session(port) as session:
        created = await (await session.post("/admin/v1/partners", json={"name": "acme", "scopes": scopes},
                                            headers=ADMIN)).json()
        resp = await session.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                         "client_id": created["clientId"],
                                                         "client_secret": created["clientSecret"]})
        token = (await resp.json())["access_token"]
    head = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() +
            b"\r\nIdempotency-Key: \xff\xfe\r\nContent-Type: application/json\r\n")
    status, headers, body = await exchange(port, head, b"{}")
    assert_error(status, headers, body, 400, "INVALID_ARGUMENT")
    assert "Idempotency-Key" in body["message"]


def _session(port: int) -> ClientSession:
    return ClientSession(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize(("content_type", "encoding", "status"), [
    # Latin-1 declared (and sent): refused rather than read as UTF-8
    ("application/json; charset=latin-1", "latin-1", 415),
    ("application/json; charset=ISO-8859-1", "latin-1", 415),
    # UTF-16 with its byte order mark
    ("application/json; charset=utf-16", "utf-16", 415),
    # a charset that does not exist
    ("application/json; charset=nonsense", "utf-8", 415),
    # UTF-8 declared, in any case, or nothing declared: accepted
    ("application/json; charset=utf-8", "utf-8", 201),
    ("application/json; charset=UTF-8", "utf-8", 201),
    ("application/json", "utf-8", 201),
])
async def test_json_bodies_must_be_utf8(client: Client, content_type: str, encoding: str, status: int) -> None:
    """A JSON body declaring a charset other than UTF-8 is 415 saying UTF-8 is expected, not misparsed."""
    body = json.dumps({"name": "Café", "scopes": []}, ensure_ascii=False).encode(encoding)
    resp = await client.post("/admin/v1/partners", data=body, headers={**ADMIN, "Content-Type": content_type})
    assert resp.status == status, await resp.text()
    answer = await resp.json()
    if status == 415:
        assert answer["code"] == "UNSUPPORTED_MEDIA_TYPE" and "UTF-8" in answer["message"]
    else:
        assert answer["name"] == "Café"


@pytest.mark.parametrize(("content_type", "body", "status", "error"), [
    # a declared charset other than UTF-8
    (f"{FORM}; charset=latin-1", b"grant_type=client_credentials&client_id={id}&client_secret={secret}",
     400, "invalid_request"),
    (f"{FORM}; charset=utf-16", b"grant_type=client_credentials", 400, "invalid_request"),
    # a raw byte that is not UTF-8
    (FORM, b"grant_type=client_credentials&client_id=\xff&client_secret=x", 400, "invalid_request"),
    # a percent-encoded byte that is not UTF-8
    (FORM, b"grant_type=client_credentials&client_id=%FF&client_secret=x", 400, "invalid_request"),
    # UTF-8 declared: the grant goes ahead
    (f"{FORM}; charset=UTF-8", b"grant_type=client_credentials&client_id={id}&client_secret={secret}",
     200, None),
])
async def test_oauth_forms_must_be_utf8(client: Client, make_partner: MakePartner, content_type: str, body: bytes,
                                        status: int, error: str | None) -> None:
    """The token endpoint refuses non-UTF-8 forms with RFC 6749 ``invalid_request`` instead of a 500."""
    creds = await make_partner()
    data = body.replace(b"{id}", creds.client_id.encode()).replace(b"{secret}", creds.client_secret.encode())
    resp = await client.post("/oauth2/token", data=data, headers={"Content-Type": content_type})
    assert resp.status == status, await resp.text()
    answer = await resp.json()
    assert answer.get("error") == error
    if error is not None:
        assert "UTF-8" in answer["error_description"]


async def test_utf8_api_key_header_over_the_test_client_is_401(client: Client, make_partner: MakePartner) -> None:
    """A key that only differs by a non-ASCII character from a real one is the generic 401."""
    creds = await make_partner()
    token = await fetch_token(client, creds)
    assert (await client.get("/partner/v1/me", headers=bearer(token))).status == 200
    resp = await client.get("/partner/v1/me", headers={"x-api-key": "opsim_key_é"})
    assert resp.status == 401
    assert (await resp.json())["code"] == "UNAUTHENTICATED"
