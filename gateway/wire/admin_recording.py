"""Wire models of the admin recording API (``/admin/v1/recording``): start a session recording, its state."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from gateway.wire.base import WireModel


class RecordingStart(WireModel):
    """Start recording partner requests and admin moves to ``file`` (a path on the gateway's machine, truncated)."""

    file: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class RecordingState(WireModel):
    """Whether a recording runs, to which file, and how many lines it has written."""

    active: bool
    file: str | None = None
    lines: int
