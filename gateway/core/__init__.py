"""Gateway infrastructure without HTTP handlers or operator rules.

Owns error classes, public ids, the calling principal, the SQLite store and its journal, write-behind, durable
timers, the webhook outbox and its sender, settings, the operator config file and command-line argument types. It
must not import ``aiohttp.web``, ``gateway.services`` or ``gateway.http``.
"""
