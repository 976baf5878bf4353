"""Exceptions raised by the simulator. They carry plain messages and never know about HTTP."""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of every error the simulator raises on purpose."""


class ClockError(SimulatorError):
    """The clock was asked to go backwards or to use a mode it is not in."""


class InstantRangeError(ClockError):
    """An instant outside the range the simulator can represent with margin (see ``simulator.clock.MAX_INSTANT``)."""


class UnknownCityError(SimulatorError):
    """A city preset name that does not exist."""


class InvalidAreaError(SimulatorError):
    """An area that is not a valid circle or polygon."""


class AreaTooLargeError(InvalidAreaError):
    """An otherwise valid area over the size bounds (``simulator.geo.MAX_AREA_SPAN_M``)."""


class AreaNotCoveredError(SimulatorError):
    """An area that lies outside the network's coverage."""


class UnknownSubscriberError(SimulatorError):
    """A subscriber index or MSISDN that does not exist."""


class NotAttachedError(SimulatorError):
    """An operation that needs the device on the network, for one not attached (an inbound roamer abroad)."""


class InvalidConfigError(SimulatorError):
    """A world configuration value outside its allowed range."""


class UnknownCellError(SimulatorError):
    """A cell id or cell index that does not exist in the network."""


class InvalidSubscriberError(SimulatorError):
    """Subscriber data that is malformed or uses an unknown code (bad MSISDN, unknown gender, …)."""


class DuplicateSubscriberError(InvalidSubscriberError):
    """A test subscriber whose MSISDN is already taken."""


class ConsentError(SimulatorError):
    """An unknown consent purpose, channel or source, or a change stamped before the last recorded one."""


class OutputError(SimulatorError):
    """An output file that cannot be written (nothing is left half-written)."""


class InboxError(SimulatorError):
    """A delivery names a message template or channel code the inboxes do not know."""
