"""The transcript of a scenario run, as JSON lines with a sha256 digest.

Every API call and answer, delivery, suppression, webhook and check, in simulated time order. Owns what goes
into the record and how it is made byte-stable: keys sorted, compact separators, instants as
RFC 3339 UTC, no wall-clock readings, secrets and credentials redacted, webhooks (whose arrival order is network
timing) ordered by their content. Same scenario and seed ⇒ the same bytes ⇒ the same digest. It must not
talk to the gateway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic

from scenarios.export import atomic_path

REDACTED = "<redacted>"
SECRET_KEYS = frozenset({"clientSecret", "client_secret", "accessToken", "access_token", "key", "secret",
                         "signingSecret", "token", "authorization", "signature", "x-opsim-signature", "writeKey",
                         "write_key"})
"""Keys whose values are random credentials (or keyed by one, like webhook signatures): recorded as ``<redacted>``."""
VOLATILE_KEYS = frozenset({"lastTickMs", "meanTickMs", "x-correlator", "correlator"})
"""Keys whose values are wall-clock measurements or random ids: left out."""


def stamp(instant: datetime) -> str:
    """RFC 3339 UTC with ``Z``."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """JSON-ready data with secrets redacted and volatile fields dropped (models dumped by alias)."""
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, dict):
        return {str(k): (REDACTED if str(k) in SECRET_KEYS and v is not None else plain(v))
                for k, v in value.items() if str(k) not in VOLATILE_KEYS}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return stamp(value)
    return value


def webhook_order(hook: dict[str, Any]) -> tuple[str, str, str]:
    """Sort key of a received webhook: its event time, its event id, then its whole body (never arrival order)."""
    body = hook.get("body")
    fields = body if isinstance(body, dict) else {}
    return str(fields.get("time", "")), str(fields.get("id", "")), canonical(plain(body))


def canonical(value: Any) -> str:
    """Stable one-line JSON."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass
class Transcript:
    """Entries in the order they are recorded; :meth:`lines` orders them by simulated time (stably)."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, at: datetime, kind: str, **data: Any) -> None:
        """Record one entry at simulated instant ``at``."""
        self.entries.append({"t": stamp(at), "kind": kind, **plain(data)})

    def add_webhooks(self, at: datetime, received: list[dict[str, Any]]) -> None:
        """Record webhooks that arrived during one step, ordered by content (their arrival order is not simulated)."""
        rows = []
        for hook in received:
            body = plain(hook.get("body"))
            when = at
            if isinstance(body, dict) and isinstance(body.get("time"), str):
                try:
                    when = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
                except ValueError:
                    when = at
            rows.append((stamp(when), webhook_order(hook), hook))
        for t, _, hook in sorted(rows, key=lambda r: (r[0], r[1])):
            self.entries.append({"t": t, "kind": "webhook", **plain(hook)})

    def ordered(self) -> list[dict[str, Any]]:
        """Entries sorted by simulated time, then by the order they were recorded."""
        return sorted(self.entries, key=lambda e: str(e["t"]))

    def lines(self) -> list[str]:
        """One canonical JSON line per entry."""
        return [canonical(e) for e in self.ordered()]

    def digest(self) -> str:
        """sha256 over the lines (each followed by a newline), hex."""
        h = hashlib.sha256()
        for line in self.lines():
            h.update(line.encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()

    def write(self, path: Path) -> str:
        """Write ``transcript.jsonl`` atomically; returns the digest."""
        lines = self.lines()
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return self.digest()
