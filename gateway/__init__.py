"""The operator's partner-facing HTTP gateway (aiohttp) over a simulator World.

Entry points: ``gateway.http.app.create_app(world, settings)`` (the application), ``gateway.http.serve.main(argv)``
(``opsim serve``) and ``gateway.client`` (``PartnerClient``, ``AdminClient``). The gateway reads and drives the
world only through its public methods; it never imports from ``scenarios``.
"""
