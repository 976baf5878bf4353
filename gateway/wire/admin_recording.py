"""Wire models of the admin recording API (``/admin/v1/recording``): start a session recording, its state."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from gateway.wire.base import WireModel


class RecordingStart(WireModel):
    """Start recording partner requests and admin moves to ``file``: a plain file name, written (truncated) in the
    directory of the gateway's database, so the admin API never writes anywhere else on the gateway's machine
    (``opsim serve --record PATH`` records to any path)."""

    file: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")]


class RecordingState(WireModel):
    """Whether a recording runs, to which file, and how many lines it has written."""

    active: bool
    file: str | None = None
    lines: int
