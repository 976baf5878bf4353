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

A message delivered on its own (:meth:`Inboxes.add_one`: a verification code, a direct message) has its own
text, id and extra fields, so it does not get a template of its own: messages of one (sender, kind, title)
share a template and each row's own part is a *payload* in a side store, keyed by the row's id number. Without
that, every code sent would leave a template behind for good.

Retention (:meth:`Inboxes.forget_before`, driven by the world's ``keep_inbox``): rows received before a cutoff
are dropped, with their payloads, so a long run holds a bounded inbox. Templates registered by a caller
(:meth:`Inboxes.register`, one per campaign) are kept: the caller may still deliver with them.
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

    Built when an inbox is read. Read-only by convention (``meta`` is shared with the message's template or
    payload).
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


@dataclass(frozen=True, slots=True)
class _Payload:
    """What a message delivered on its own does not share with others of its (sender, kind, title)."""

    id: str
    text: str
    meta: Mapping[str, Any]


class Inboxes:
    """The inboxes of all devices: templates, channels, rows and the payloads of single deliveries."""

    def __init__(self) -> None:
        self._templates: list[MessageTemplate] = []
        self._channels: list[str] = []
        self._channel_codes: dict[str, int] = {}
        self._chunks: list[_Rows] = []
        self._chunk_rows = 0
        # Single deliveries not yet a chunk, as plain lists (sub, received µs, channel, template, number): a numpy
        # chunk per message would cost more than the message. They become one chunk before anything else is.
        self._single: tuple[list[int], list[int], list[int], list[int], list[int]] = ([], [], [], [], [])
        self._runs: list[_Rows] = []
        self._count = 0
        self._shared: dict[tuple[str, str, str | None], int] = {}  # (sender, kind, title) -> template number
        self._per_row = np.zeros(0, bool)  # by template number: the row's number keys a payload
        self._payloads: dict[int, _Payload] = {}
        self._payload_seq = 0  # payload numbers, from 1 (a plain int: the world is deep-copied)
        self._cutoff_us: int | None = None

    def __len__(self) -> int:
        """Messages delivered to all devices so far (forgotten ones included)."""
        return self._count

    @property
    def rows(self) -> int:
        """Messages held now (delivered and not forgotten)."""
        return self._chunk_rows + len(self._single[0]) + sum(len(run) for run in self._runs)

    @property
    def templates(self) -> int:
        """Templates held now."""
        return len(self._templates)

    @property
    def payloads(self) -> int:
        """Payloads of single deliveries held now (one per such message held)."""
        return len(self._payloads)

    @property
    def cutoff(self) -> datetime | None:
        """Messages received before this instant are forgotten (``None``: all are kept)."""
        return None if self._cutoff_us is None else from_micros(self._cutoff_us)

    def register(self, template: MessageTemplate) -> int:
        """Make ``template`` usable by :meth:`add`; returns its number (it is kept as long as the inboxes are)."""
        self._templates.append(template)
        self._per_row = np.append(self._per_row, False)
        return len(self._templates) - 1

    def add_one(self, sub: int, received_us: int, channel: str, sender: str, text: str, kind: str,
                title: str | None = None, message_id: str | None = None, meta: Mapping[str, Any] | None = None
                ) -> None:
        """Deliver one message with its own text and fields (its own id, or the next ``inb_…`` number).

        It shares the template of its (sender, kind, title); what is its own is a payload, dropped with the row.
        """
        key = (sender, kind, title)
        template = self._shared.get(key)
        if template is None:
            template = self._shared[key] = self.register(MessageTemplate(sender, "", kind, title))
            self._per_row[template] = True
        if message_id is None:
            message_id = self._templates[template].message_id(self._count + 1)
        self._payload_seq = number = self._payload_seq + 1
        self._payloads[number] = _Payload(message_id, text, meta if meta is not None else {})
        code = self._channel_codes.get(channel)
        if code is None:
            code = int(self.channel_codes([channel])[0])
        # The template and channel code are known to be valid here: no checks, no arrays (see ``_single``).
        subs, received, channels, templates, numbers = self._single
        subs.append(sub)
        received.append(received_us)
        channels.append(code)
        templates.append(template)
        numbers.append(number)
        self._count += 1
        if len(subs) + self._chunk_rows >= _COMPACT_ROWS:
            self._compact()

    def _flush_single(self) -> None:
        """Turn the pending single deliveries into one chunk (before any other chunk, so order is kept)."""
        subs, received, channels, templates, numbers = self._single
        if not subs:
            return
        self._chunks.append(_Rows(np.array(subs, np.int32), np.array(received, np.int64),
                                  np.array(channels, np.uint8), np.array(templates, np.int32),
                                  np.array(numbers, np.int64)))
        self._chunk_rows += len(subs)
        self._single = ([], [], [], [], [])

    def add_forgotten(self, n: int) -> None:
        """Count ``n`` single messages (as :meth:`add_one` delivers) received before the cutoff, holding nothing.

        The numbers of later messages follow them as if they had been delivered and forgotten (a restart does not
        replay what retention would drop at once).
        """
        self._count += n
        self._payload_seq += n

    def forget_before(self, cutoff_us: int) -> None:
        """Drop every message received before ``cutoff_us`` (microseconds since the epoch), with its payload.

        Reads do not show them from now on, even rows delivered later with an earlier instant. Never moves back.
        """
        if self._cutoff_us is not None and cutoff_us <= self._cutoff_us:
            return
        self._cutoff_us = cutoff_us
        self._compact()
        kept = []
        for run in self._runs:
            old = run.received_us < cutoff_us
            if not old.any():
                kept.append(run)
                continue
            gone = run.take(np.flatnonzero(old))
            for number in gone.number[self._per_row[gone.template]].tolist():
                del self._payloads[number]
            if not old.all():
                kept.append(run.take(np.flatnonzero(~old)))
        self._runs = kept

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
        self._flush_single()
        if number is None:
            number = np.arange(self._count + 1, self._count + n + 1, dtype=np.int64)

        def column(values: ArrayLike, dtype: type[np.generic]) -> Any:
            arr = np.asarray(values, dtype=dtype)
            if arr.ndim == 0 or arr.shape == (1,):  # one value for all (the common single delivery): no broadcast
                return np.full(n, arr.reshape(()), dtype=dtype)
            return np.broadcast_to(arr, (n,)).copy()

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
        if self._cutoff_us is not None:
            rows = rows.take(np.flatnonzero(rows.received_us >= self._cutoff_us))
        out = []
        for us, ch, t, k in zip(rows.received_us.tolist(), rows.channel.tolist(), rows.template.tolist(),
                                rows.number.tolist(), strict=True):
            tpl = self._templates[t]
            if self._per_row[t]:
                own = self._payloads[k]
                out.append(InboxMessage(own.id, from_micros(us), self._channels[ch], tpl.sender, own.text,
                                        tpl.kind, tpl.title, own.meta))
            else:
                out.append(InboxMessage(tpl.message_id(k), from_micros(us), self._channels[ch], tpl.sender,
                                        tpl.text, tpl.kind, tpl.title, tpl.meta))
        return out

    def _compact(self) -> None:
        """Sort the pending chunks into a run; merge it with the runs before it while they are of similar size."""
        self._flush_single()
        if not self._chunks:
            return
        run = _Rows.concat(self._chunks).sorted_by_device()
        self._chunks, self._chunk_rows = [], 0
        while self._runs and len(self._runs[-1]) <= 2 * len(run) and len(self._runs[-1]) + len(run) <= _MAX_RUN_ROWS:
            run = _Rows.concat([self._runs.pop(), run]).sorted_by_device()  # timsort: two runs merge
        self._runs.append(run)
