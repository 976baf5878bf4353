"""Every device's inbox, kept as columns: appended in bulk on the tick's path, read one device at a time.

A busy tick delivers thousands of messages (a campaign's sends), and a simulated day millions, so a message is
not an object until someone reads it. What many deliveries share (sender, text, kind, title, extra fields and
how their ids are spelled) is a :class:`MessageTemplate`, registered once; a delivery is one row of five
columns: device, received instant, channel, template and id number.

Rows arrive in chunks (one per :meth:`Inboxes.add`). A read, or enough pending rows, compacts the chunks
into a run sorted by device, and runs of similar size are merged (up to a cap), as in a log-structured merge
tree: a device's messages are then a few binary searches away, and appending stays a list append. Sorting
is stable, so within a device, rows keep the order in which they were delivered; runs are kept oldest first,
so reading them in order gives the inbox oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulator.clock import format_instant, from_micros
from simulator.errors import InboxError

WHOLE_ID = -1
"""Id number meaning "the template's id prefix is the whole id" (a message delivered with its own id)."""
_COMPACT_ROWS = 1 << 16
_COMPACT_CHUNKS = 256
_MAX_RUN_ROWS = 1 << 20
"""Runs stop merging at this size: a bigger merge would stall a tick (allocating and filling hundreds of MB),
and a read costs only two binary searches per run."""


@dataclass(slots=True)
class InboxMessage:
    """A message as the device received it.

    Built when an inbox is read. Read-only by convention (``meta`` is shared with the message's template).
    """

    id: str
    received_at: datetime
    channel: str
    sender: str
    text: str
    kind: str
    title: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """CamelCase JSON-ready form."""
        out: dict[str, Any] = {"id": self.id, "receivedAt": format_instant(self.received_at), "channel": self.channel,
                               "sender": self.sender, "text": self.text, "kind": self.kind}
        if self.title is not None:
            out["title"] = self.title
        out.update(self.meta)
        return out


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """What the messages of one send share; ids are ``id_prefix`` + the row's number in ``id_digits`` digits."""

    sender: str
    text: str
    kind: str
    title: str | None = None
    id_prefix: str = "inb_"
    id_digits: int = 8
    meta: Mapping[str, Any] = field(default_factory=dict)

    def message_id(self, number: int) -> str:
        """The id of the row numbered ``number`` (:data:`WHOLE_ID`: the prefix alone)."""
        return self.id_prefix if number == WHOLE_ID else f"{self.id_prefix}{number:0{self.id_digits}d}"


@dataclass(slots=True)
class _Rows:
    """Inbox rows as columns (a chunk in delivery order, or a run sorted by device)."""

    sub: NDArray[np.int32]
    received_us: NDArray[np.int64]
    channel: NDArray[np.uint8]
    template: NDArray[np.int32]
    number: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.sub)

    def take(self, index: NDArray[np.intp] | slice) -> _Rows:
        return _Rows(*(getattr(self, name)[index] for name in _Rows.__slots__))

    @staticmethod
    def concat(parts: Sequence[_Rows]) -> _Rows:
        return _Rows(*(np.concatenate([getattr(p, name) for p in parts]) for name in _Rows.__slots__))

    def sorted_by_device(self) -> _Rows:
        return self.take(np.argsort(self.sub, kind="stable"))


class Inboxes:
    """The inboxes of all devices: templates, channels and rows."""

    def __init__(self) -> None:
        self._templates: list[MessageTemplate] = []
        self._channels: list[str] = []
        self._channel_codes: dict[str, int] = {}
        self._chunks: list[_Rows] = []
        self._chunk_rows = 0
        self._runs: list[_Rows] = []
        self._count = 0

    def __len__(self) -> int:
        """Messages delivered to all devices so far."""
        return self._count

    def register(self, template: MessageTemplate) -> int:
        """Make ``template`` usable by :meth:`add`; returns its number."""
        self._templates.append(template)
        return len(self._templates) - 1

    def channel_codes(self, names: Sequence[str]) -> NDArray[np.uint8]:
        """Codes of the channels ``names`` in this store (new names are learnt)."""
        for name in names:
            if name not in self._channel_codes:
                self._channel_codes[name] = len(self._channels)
                self._channels.append(name)
        return np.array([self._channel_codes[n] for n in names], dtype=np.uint8)

    def add(self, subs: ArrayLike, received_us: ArrayLike, channel: ArrayLike, template: ArrayLike,
            number: ArrayLike | None = None) -> None:
        """Deliver one message per element of ``subs`` (all arguments aligned or scalar).

        ``channel`` holds codes from :meth:`channel_codes`, ``template`` numbers from :meth:`register`;
        ``number`` is each message's id number (default: its position among all messages ever delivered, from 1).
        """
        sub = np.atleast_1d(np.asarray(subs, dtype=np.int32))
        n = len(sub)
        if n == 0:
            return
        if number is None:
            number = np.arange(self._count + 1, self._count + n + 1, dtype=np.int64)

        def column(values: ArrayLike, dtype: type[np.generic]) -> Any:
            return np.broadcast_to(np.asarray(values, dtype=dtype), (n,)).copy()

        channels, templates = column(channel, np.int64), column(template, np.int64)
        # Checked here, not when read: a bad code would otherwise surface later, in someone else's read.
        for codes, known, what in ((templates, len(self._templates), "message template"),
                                   (channels, len(self._channels), "channel code")):
            if codes.min() < 0 or codes.max() >= known:
                raise InboxError(f"unknown {what} {int(codes[(codes < 0) | (codes >= known)][0])} "
                                 f"(known: 0 to {known - 1})")
        self._chunks.append(_Rows(sub.copy(), column(received_us, np.int64), channels.astype(np.uint8),
                                  templates.astype(np.int32), column(number, np.int64)))
        self._count += n
        self._chunk_rows += n
        if self._chunk_rows >= _COMPACT_ROWS or len(self._chunks) >= _COMPACT_CHUNKS:
            self._compact()

    def read(self, sub: int) -> list[InboxMessage]:
        """Messages device ``sub`` received, in delivery order."""
        self._compact()
        found = []
        for run in self._runs:
            lo, hi = np.searchsorted(run.sub, np.array([sub, sub + 1], run.sub.dtype))  # same dtype: no copy
            if hi > lo:
                found.append(run.take(slice(int(lo), int(hi))))
        if not found:
            return []
        rows = _Rows.concat(found)
        out = []
        for us, ch, t, k in zip(rows.received_us.tolist(), rows.channel.tolist(), rows.template.tolist(),
                                rows.number.tolist(), strict=True):
            tpl = self._templates[t]
            out.append(InboxMessage(tpl.message_id(k), from_micros(us), self._channels[ch], tpl.sender, tpl.text,
                                    tpl.kind, tpl.title, tpl.meta))
        return out

    def _compact(self) -> None:
        """Sort the pending chunks into a run; merge it with the runs before it while they are of similar size."""
        if not self._chunks:
            return
        run = _Rows.concat(self._chunks).sorted_by_device()
        self._chunks, self._chunk_rows = [], 0
        while self._runs and len(self._runs[-1]) <= 2 * len(run) and len(self._runs[-1]) + len(run) <= _MAX_RUN_ROWS:
            run = _Rows.concat([self._runs.pop(), run]).sorted_by_device()  # timsort: two runs merge
        self._runs.append(run)
