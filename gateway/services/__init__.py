"""The operator's rules: partners, campaigns, policy, messages, journeys, CAMARA services.

HTTP-free by rule: services raise :mod:`gateway.core.errors` and never import ``aiohttp.web`` or
``gateway.http``.
"""
