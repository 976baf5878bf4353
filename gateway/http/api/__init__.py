"""HTTP handlers, one module per resource. Each module exposes ``routes: RouteTable``; ``gateway.http.app`` lists them.

Handlers stay thin: parse (``read_json``/``read_query``), call one service method, serialise (``json_response``).
They must not hold state or talk to SQLite or the world's arrays directly.
"""
