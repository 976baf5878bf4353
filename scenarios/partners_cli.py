"""``opsim partners``: partner administration of a running gateway through its admin API.

Subcommands: ``create``, ``list``, ``keys`` (API keys), ``service-account`` (a key file in Google's format).

Owns the options of those commands and their output. It talks to the gateway over HTTP with
:class:`gateway.client.AdminClient` (``--url``, ``--admin-token`` or ``OPSIM_ADMIN_TOKEN``), never to its
database: the gateway that owns the database may be running, and the admin API is the one place partners are
created, so a partner made here is the same as one made by any other admin tool.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pydantic

from gateway.client import AdminClient, ApiError
from gateway.core.arguments import UsageError, int_in, number_in
from gateway.core.settings import ADMIN_TOKEN_ENV
from gateway.wire.admin_partners import PartnerCreate, PartnerLimits

DEFAULT_URL = "http://127.0.0.1:8080"
EXIT_FAILED = 1


class GatewayError(Exception):
    """The gateway could not be reached or refused the request: one line, exit code 1."""


def configure(p: argparse.ArgumentParser) -> None:
    """Options of ``opsim partners`` and its subcommands."""
    from gateway.core.arguments import OneLineParser

    common = OneLineParser(add_help=False)
    common.add_argument("--url", default=DEFAULT_URL, help="base URL of the running gateway")
    common.add_argument("--admin-token", default=None,
                        help=f"admin token (default ${ADMIN_TOKEN_ENV}; `opsim serve` prints it)")
    sub = p.add_subparsers(dest="partners_command", required=True, parser_class=OneLineParser)
    create = sub.add_parser("create", parents=[common], help="create a partner; prints its client id and secret",
                            description="Create a partner; prints its client id and secret (shown this once).")
    create.add_argument("name", help="partner name")
    create.add_argument("--scope", dest="scopes", action="append", default=[],
                        help="a scope the partner may ask for (repeat the option for several)")
    create.add_argument("--requests-per-second", type=number_in(0, 1e9, low_inclusive=False),
                        help="rate limit (token bucket)")
    create.add_argument("--max-campaigns", type=int_in(0, 2**31), help="scheduled and running campaigns at once")
    create.add_argument("--messages-per-day", type=int_in(0, 2**31), help="direct messages per day")
    create.add_argument("--api-key", action="store_true", help="also issue an API key and print it")
    sub.add_parser("list", parents=[common], help="list partners, one JSON object a line",
                   description="List partners, one JSON object a line.")
    keys = sub.add_parser("keys", parents=[common], help="list a partner's API keys, issue one, or revoke one",
                          description="List a partner's API keys (default), issue a new one, or revoke one.")
    keys.add_argument("partner", help="partner id (par_...)")
    action = keys.add_mutually_exclusive_group()
    action.add_argument("--issue", action="store_true", help="issue a new API key and print it (shown this once)")
    action.add_argument("--revoke", metavar="KEY_ID", help="revoke this API key")
    account = sub.add_parser("service-account", parents=[common],
                             help="issue a service-account key file (Google's format) and print it",
                             description="Issue a service-account key file in Google's format and print it (shown "
                                         "this once; save it, e.g. > key.json): Google and FCM client libraries "
                                         "load it and get the partner's tokens from the gateway.")
    account.add_argument("partner", help="partner id (ptn_...)")
    account.add_argument("--project", metavar="APP_ID", help="the FCM project written into the file: one of the "
                                                             "partner's apps")


def _token(args: argparse.Namespace) -> str:
    token = args.admin_token if args.admin_token is not None else os.environ.get(ADMIN_TOKEN_ENV)
    if not token or not token.strip():
        raise UsageError(f"--admin-token: needed (or set {ADMIN_TOKEN_ENV}); `opsim serve` prints the token")
    return str(token)


async def _create(admin: AdminClient, args: argparse.Namespace) -> list[dict[str, Any]]:
    limits = PartnerLimits(requests_per_second=args.requests_per_second, max_campaigns=args.max_campaigns,
                           messages_per_day=args.messages_per_day)
    created = await admin.create_partner(args.name, args.scopes, limits)
    row = {"id": created.id, "name": created.name, "clientId": created.client_id,
           "clientSecret": created.client_secret, "scopes": created.scopes}
    if args.api_key:
        row["apiKey"] = (await admin.issue_api_key(created.id)).key
    return [row]


async def _list(admin: AdminClient, args: argparse.Namespace) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in await admin.partners()]


async def _keys(admin: AdminClient, args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.issue:
        return [(await admin.issue_api_key(args.partner)).model_dump(mode="json", by_alias=True)]
    if args.revoke is not None:
        await admin.revoke_api_key(args.partner, args.revoke)
        return [{"id": args.revoke, "revoked": True}]
    partner = await admin.partner(args.partner)
    return [k.model_dump(mode="json", by_alias=True, exclude_none=True) for k in partner.api_keys]


async def _service_account(admin: AdminClient, args: argparse.Namespace) -> list[dict[str, Any]]:
    return [(await admin.issue_service_account(args.partner, args.project)).model_dump(mode="json",
                                                                                      exclude_none=True)]


ACTIONS: dict[str, Callable[[AdminClient, argparse.Namespace], Awaitable[list[dict[str, Any]]]]] = {
    "create": _create, "list": _list, "keys": _keys, "service-account": _service_account}


async def _call(args: argparse.Namespace, token: str) -> list[dict[str, Any]]:
    try:
        async with AdminClient(args.url, token, timeout_s=30.0) as admin:
            return await ACTIONS[args.partners_command](admin, args)
    except ApiError as exc:
        raise GatewayError(f"{exc.status} {exc.code}: {exc.message}") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise GatewayError(f"cannot reach the gateway at {args.url}: {exc or type(exc).__name__}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``opsim partners ...``; prints one JSON object a line, or one error line (exit code 1)."""
    if not args.url.startswith(("http://", "https://")):
        raise UsageError(f"--url: expected an http:// or https:// URL, got {args.url!r}")
    token = _token(args)
    if args.partners_command == "create":  # refuse a bad name or scope here, before any request
        try:
            PartnerCreate(name=args.name, scopes=args.scopes)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            flag = "--scope" if first["loc"][0] == "scopes" else "name"
            raise UsageError(f"{flag}: {first['msg']}") from None
    try:
        rows = asyncio.run(_call(args, token))
    except GatewayError as exc:
        print(f"opsim partners: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0
