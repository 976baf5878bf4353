"""What the simulated app installs report back: a columnar batch of app events, the contract between app usage and
the CDP.

Owns :class:`AppEventBatch` (the events of one app over one stretch of simulated time, as aligned numpy columns) and
:data:`APP_EVENTS` (their names, in the Segment spec's spelling: the index is the code). App usage produces batches;
the CDP takes them through the same pipeline as a partner's own tracking calls, so both meet in one profile. A batch
names installs by row of the app's install table: the installation id (Segment ``anonymousId``) and the brand's user
id (``userId``) of a row are derived from it (:class:`~gateway.services.apps.installs.TokenCodec`). It must not know
about HTTP, SQL or how events are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

APP_EVENTS: tuple[str, ...] = (
    "Application Installed",
    "Application Opened",
    "Application Backgrounded",
    "Application Updated",
    "Application Uninstalled",
    "Push Notification Received",
    "Push Notification Tapped",
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Content Viewed",
)
"""App event names (Segment spec: mobile lifecycle, push, e-commerce); the index is the code in a batch."""

APP_EVENT_CODE: dict[str, int] = {name: code for code, name in enumerate(APP_EVENTS)}
"""Code of each app event name."""


@dataclass(frozen=True)
class AppEventBatch:
    """The events of one app over one stretch of simulated time, ordered by time then row (row ``i`` is one event).

    Columns are aligned and of equal length. ``item`` is the index of the product or content category among the
    app's categories (``-1`` when the event has none); ``value_cents`` is the order value of ``Order Completed``
    (0 otherwise). ``seq`` numbers the app's events from 0 across batches, so an event's Segment ``messageId`` is
    derived from ``(app_seq, seq)`` and a replayed batch de-duplicates.
    """

    app_seq: int
    seq: NDArray[np.int64]
    time_us: NDArray[np.int64]
    row: NDArray[np.int64]
    event: NDArray[np.uint8]
    item: NDArray[np.int16]
    value_cents: NDArray[np.int64]

    @property
    def size(self) -> int:
        """Events in the batch."""
        return int(self.time_us.shape[0])

    @classmethod
    def empty(cls, app_seq: int) -> AppEventBatch:
        """A batch with no events."""
        return cls(app_seq, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64),
                   np.empty(0, np.uint8), np.empty(0, np.int16), np.empty(0, np.int64))
