"""The simulated clock: ordering, exact instants, refusing the past, paced mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from simulator.clock import MAX_INSTANT, MIN_INSTANT, SimClock, check_instant, from_micros, to_micros
from simulator.errors import ClockError, InstantRangeError

T0 = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def test_callbacks_run_in_time_then_priority_then_insertion_order() -> None:
    """Callbacks run by (time, priority, sequence)."""
    clock = SimClock(T0)
    seen: list[str] = []
    clock.schedule(T0 + timedelta(minutes=2), lambda: seen.append("late"))
    clock.schedule(T0 + timedelta(minutes=1), lambda: seen.append("b"), priority=1)
    clock.schedule(T0 + timedelta(minutes=1), lambda: seen.append("a"), priority=0)
    clock.schedule(T0 + timedelta(minutes=1), lambda: seen.append("a2"), priority=0)
    assert clock.run_until(T0 + timedelta(minutes=5)) == 4
    assert seen == ["a", "a2", "b", "late"]
    assert clock.now == T0 + timedelta(minutes=5)


def test_callback_sees_its_exact_instant() -> None:
    """Inside a callback, now is the instant it was scheduled for."""
    clock = SimClock(T0)
    at = T0 + timedelta(seconds=37)
    seen: list[datetime] = []
    clock.schedule(at, lambda: seen.append(clock.now))
    clock.run_until(T0 + timedelta(hours=1))
    assert seen == [at]


def test_callbacks_beyond_the_target_wait() -> None:
    """Callbacks after the target instant stay pending."""
    clock = SimClock(T0)
    seen: list[int] = []
    clock.schedule(T0 + timedelta(hours=2), lambda: seen.append(1))
    clock.run_until(T0 + timedelta(hours=1))
    assert seen == [] and clock.next_due() == T0 + timedelta(hours=2)


def test_cancelled_callbacks_do_not_run() -> None:
    """A cancelled handle never runs."""
    clock = SimClock(T0)
    seen: list[int] = []
    handle = clock.schedule(T0 + timedelta(minutes=1), lambda: seen.append(1))
    handle.cancel()
    clock.run_until(T0 + timedelta(minutes=2))
    assert seen == []


@pytest.mark.parametrize("action", [
    "run_until",  # going back in time
    "schedule",   # scheduling in the past
])
def test_refuses_the_past(action: str) -> None:
    """The clock never goes back."""
    clock = SimClock(T0)
    clock.run_until(T0 + timedelta(hours=1))
    with pytest.raises(ClockError):
        if action == "run_until":
            clock.run_until(T0)
        else:
            clock.schedule(T0, lambda: None)


def test_naive_instants_are_refused() -> None:
    """A datetime without zone is ambiguous and refused."""
    with pytest.raises(ClockError):
        SimClock(datetime(2026, 6, 1, 6, 0))  # noqa: DTZ001


def test_paced_target_follows_wall_time_times_factor() -> None:
    """Paced mode maps wall seconds to factor × simulated seconds, and pausing stops it."""
    clock = SimClock(T0, mode="paced", factor=60.0)
    assert clock.paced_target(100.0) == T0  # first reading anchors
    assert clock.paced_target(101.0) == T0 + timedelta(minutes=1)
    clock.run_until(clock.paced_target(102.0))
    clock.pause()
    assert clock.paced_target(500.0) == T0 + timedelta(minutes=2)
    clock.resume(wall=600.0)
    assert clock.paced_target(601.0) == T0 + timedelta(minutes=3)


def test_manual_mode_does_not_move_by_itself() -> None:
    """In manual mode the paced target is always now."""
    clock = SimClock(T0)
    assert clock.paced_target(10_000.0) == T0


def test_bad_mode_and_factor_are_refused() -> None:
    """Unknown modes and non-positive factors are errors."""
    clock = SimClock(T0)
    with pytest.raises(ClockError):
        clock.set_mode("fast")  # type: ignore[arg-type]
    with pytest.raises(ClockError):
        clock.set_mode("paced", factor=0)


@pytest.mark.parametrize("text", [
    "1969-12-31T23:59:59.999999Z",  # just before the first accepted instant
    "9000-01-01T00:00:00Z",  # the first refused one
    "8999-12-31T23:00:00-01:00",  # the same instant written in another zone
    "0001-01-01T00:00:00+01:00",  # year 0 in UTC: converting it would overflow
    "9999-12-31T23:59:59-01:00",  # year 10000 in UTC: likewise
])
def test_instants_out_of_range_are_refused(text: str) -> None:
    """Instants outside [1970, 9000) UTC raise InstantRangeError, whatever their zone."""
    with pytest.raises(InstantRangeError):
        check_instant(datetime.fromisoformat(text.replace("Z", "+00:00")))


def test_instants_in_range_come_back_in_utc() -> None:
    """Both ends of the range are accepted and returned in UTC."""
    assert check_instant(MIN_INSTANT) == MIN_INSTANT
    last = MAX_INSTANT - timedelta(microseconds=1)
    assert check_instant(last.astimezone(timezone(timedelta(hours=-1)))) == last


def test_stored_stamps_past_datetime_read_as_its_ends() -> None:
    """A microsecond stamp beyond datetime's range saturates instead of raising."""
    assert from_micros(to_micros(T0)) == T0
    assert from_micros(10**20) == datetime.max.replace(tzinfo=UTC)
    assert from_micros(-(10**20)) == datetime.min.replace(tzinfo=UTC)


def test_clock_refuses_to_run_past_the_range() -> None:
    """run_until beyond MAX_INSTANT is refused and time does not move."""
    clock = SimClock(T0)
    with pytest.raises(InstantRangeError):
        clock.run_until(MAX_INSTANT)
    assert clock.now == T0


def test_is_latest_until_another_callback_at_its_instant_and_priority() -> None:
    """A call is the latest of its instant and priority until another is scheduled there, it runs or is cancelled."""
    clock = SimClock(T0)
    at = T0 + timedelta(minutes=1)
    first = clock.schedule(at, lambda: None)
    assert clock.is_latest(first)
    clock.schedule(at + timedelta(seconds=1), lambda: None)  # another instant
    clock.schedule(at, lambda: None, priority=1)  # another priority
    assert clock.is_latest(first)
    second = clock.schedule(at, lambda: None)
    assert not clock.is_latest(first) and clock.is_latest(second)
    second.cancel()
    assert not clock.is_latest(second)
    third = clock.schedule(at, lambda: None)
    clock.run_until(at)
    assert not clock.is_latest(third)  # ran


def test_schedule_again_keeps_the_place_of_the_call() -> None:
    """A callback put back in a call's place runs before what was scheduled at that instant after the call."""
    clock = SimClock(T0)
    at = T0 + timedelta(minutes=1)
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        clock.schedule(at, lambda: seen.append("later"))
        clock.schedule_again(call, lambda: seen.append("rest of first"))

    call = clock.schedule(at, first)
    clock.schedule(at, lambda: seen.append("second"))
    clock.run_until(at)
    assert seen == ["first", "rest of first", "second", "later"]


def test_runs_before_sees_earlier_instants_and_lower_priorities() -> None:
    """``runs_before`` is true when a pending callback is due earlier, or at the instant with a lower priority."""
    clock = SimClock(T0)
    at = T0 + timedelta(minutes=1)
    assert not clock.runs_before(at)
    clock.schedule(at, lambda: None)  # same instant and priority: not before
    assert not clock.runs_before(at)
    clock.schedule(at, lambda: None, priority=-1).cancel()  # cancelled: ignored
    assert not clock.runs_before(at)
    clock.schedule(at, lambda: None, priority=-1)
    assert clock.runs_before(at) and clock.runs_before(at + timedelta(seconds=1), priority=5)
