"""The API's own description: ``/openapi.json`` (generated) and ``/docs`` (an offline page that renders it)."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from gateway.http.keys import ROUTES
from gateway.http.openapi import build_openapi
from gateway.http.routing import Access, RouteTable

routes = RouteTable("documentation")


@routes.get("/openapi.json", summary="OpenAPI 3.1 document", access=Access.PUBLIC, in_schema=False)
async def openapi(request: web.Request) -> web.Response:
    """Generated from the routes and models of this very server."""
    return web.json_response(build_openapi(request.app[ROUTES]))


@routes.get("/docs", summary="Browsable API documentation", access=Access.PUBLIC, in_schema=False,
            response_content_type="text/html")
async def docs(request: web.Request) -> web.Response:
    """A self-contained page (no CDN) listing every route with its schemas."""
    page = resources.files("gateway.http").joinpath("static/docs.html").read_text(encoding="utf-8")
    return web.Response(text=page, content_type="text/html")
