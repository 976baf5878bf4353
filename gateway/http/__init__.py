"""The HTTP floor: app factory, middleware, routing, auth, rate limits, metrics, OpenAPI and handlers.

Handlers parse, call one service and serialise; rules live in :mod:`gateway.services`.
"""
