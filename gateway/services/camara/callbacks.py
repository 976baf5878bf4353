"""Asynchronous answers of the CAMARA aggregate APIs: a request naming a ``sink`` is answered there, once.

Owns :class:`AsyncAnswers`. :meth:`AsyncAnswers.submit` gives the request an operation id (``op_000001``, from a
counter), computes the answer from the world at the request's simulated instant (so the answer is exactly what a
synchronous call would have returned then, and deterministic), and stores, in one transaction, the operation (a row
of ``async_operations``) and the callback (a row of the webhook outbox). The handler then answers ``202``; the
outbox's sender POSTs the callback like every other event: ``Authorization: Bearer <sinkCredential.accessToken>``,
the partner's ``X-Opsim-Signature``, retries with back-off, dead letters and re-drive. Unlike the subscription APIs,
the callback body is the API's own JSON response (``application/json``, as the definitions specify), not a
CloudEvent, and carries the request's ``x-correlator``. A failure while computing is reported in the callback when
the API defines how (``failed``), else raised. Validation happens before :meth:`submit`: a bad request is still a
synchronous 4xx. This module knows nothing of HTTP.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.core.errors import GatewayError
from gateway.core.store import Store
from gateway.core.webhooks import Outbox, OutboxEvent
from simulator.clock import to_micros

log = logging.getLogger("opsim.gateway.camara")

ID_PREFIX = "op_"
CALLBACK_JSON = "application/json"

Answer = Callable[[str], dict[str, Any]]
"""Builds the callback body of operation ``operation_id``."""
Failure = Callable[[str, str], dict[str, Any]]
"""Builds the callback body of operation ``operation_id`` that failed with ``description``."""


def callback_type(api: str) -> str:
    """Outbox event type of an API's asynchronous answers (reverse-DNS, versioned like the CAMARA events)."""
    return f"org.camaraproject.{api}.v0.callback"


class AsyncAnswers:
    """Operations answered at the caller's sink through the durable outbox."""

    def __init__(self, store: Store, outbox: Outbox, sim_now: Callable[[], datetime]) -> None:
        self.store = store
        self.outbox = outbox
        self._sim_now = sim_now

    def submit(self, partner_id: int, api: str, sink: str, sink_token: str | None, correlator: str | None,
               answer: Answer, failed: Failure | None = None) -> str:
        """Record an operation and queue its answer for ``sink``; returns the operation id.

        ``answer(operation_id)`` is the callback body. When it raises something other than a
        :class:`~gateway.core.errors.GatewayError` and ``failed`` is given, ``failed(operation_id, description)`` is
        sent
        instead (the API's "operation not completed" body); otherwise the exception propagates and nothing is stored.
        """
        now = self._sim_now()
        seq = int(self.store.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM async_operations").fetchone()[0])
        operation_id = f"{ID_PREFIX}{seq:06d}"
        try:
            body = answer(operation_id)
        except GatewayError:
            raise
        except Exception:
            if failed is None:
                raise
            log.exception("asynchronous %s operation %s failed", api, operation_id)
            body = failed(operation_id, "The operation could not be completed; submit the request again.")

        def record(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO async_operations(id, seq, partner_id, api, created_us) VALUES (?, ?, ?, ?, ?)",
                         (operation_id, seq, partner_id, api, to_micros(now)))

        event = OutboxEvent(f"{operation_id}-answer", operation_id, partner_id, callback_type(api), sink, sink_token,
                            json.dumps(body, separators=(",", ":")), now, content_type=CALLBACK_JSON,
                            correlator=correlator)
        self.outbox.add([event], also=record)
        return operation_id
