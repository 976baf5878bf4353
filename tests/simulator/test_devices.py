"""Devices: reachability (switched off, off at night, out of coverage), network contact and inboxes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from simulator.clock import to_micros
from simulator.devices import NIGHT_OFF_HOURS, NO_COVERAGE_SHARE, PERIODIC_UPDATE_S, Devices
from simulator.rng import RngStreams

N = 4_000
AT = datetime(2026, 6, 2, 1, 30, tzinfo=UTC)
HOUR = AT.replace(minute=0)


def _devices(seed: int = 1, n: int = N) -> Devices:
    return Devices(n, RngStreams(seed))


def _all(n: int = N) -> NDArray[np.int64]:
    return np.arange(n, dtype=np.int64)


def test_coverage_gaps_are_rare_hourly_and_a_function_of_the_seed() -> None:
    """About 1% of (device, hour) pairs are out of coverage; the answer holds for the hour and follows the seed."""
    a, b, c = _devices(), _devices(), _devices(seed=2)
    day = 12  # local hour of the day: no one is off at night
    gaps = []
    for h in range(24):
        at = HOUR + timedelta(hours=h)  # the hour's first second, then its last one
        covered = a.reachable(_all(), at, day)
        assert np.array_equal(covered, a.reachable(_all(), at + timedelta(minutes=59, seconds=59), day))
        assert np.array_equal(covered, b.reachable(_all(), at, day))
        gaps.append(~covered)
    share = float(np.mean(gaps))
    assert abs(share - NO_COVERAGE_SHARE) < 0.003
    # Other hours are other draws: gaps one hour say almost nothing about the next.
    assert (gaps[0] & gaps[1]).sum() <= 3
    assert not np.array_equal(np.array(gaps), np.array([~c.reachable(_all(), HOUR + timedelta(hours=h), day)
                                                        for h in range(24)]))


# Rows: (switched off by the operator, switched off at night by the owner, local hour, reachable).
@pytest.mark.parametrize(("forced_off", "night_off", "local_hour", "reachable"), [
    (False, False, 3, True),  # an ordinary phone at night
    (False, False, 12, True),  # an ordinary phone at noon
    (False, True, NIGHT_OFF_HOURS[0], False),  # off from midnight...
    (False, True, 3, False),  # ...through the night...
    (False, True, NIGHT_OFF_HOURS[1] - 1, False),  # ...up to the last night hour
    (False, True, NIGHT_OFF_HOURS[1], True),  # back on at 07:00
    (False, True, 23, True),  # still on late in the evening
    (True, False, 12, False),  # switched off: never reachable
    (True, True, 12, False),  # switched off, whatever the hour
])
def test_reachability_rules(forced_off: bool, night_off: bool, local_hour: int, reachable: bool) -> None:
    """A covered phone is reachable unless switched off, or off at night during the night hours."""
    devices = _devices()
    covered = np.flatnonzero(devices.reachable(_all(), AT, 12))[:50]  # in coverage during AT's hour
    devices.forced_off[covered] = forced_off
    devices.night_off[covered] = night_off
    assert devices.reachable(covered, AT, local_hour).tolist() == [reachable] * len(covered)


def test_out_of_coverage_beats_everything() -> None:
    """A phone out of coverage is unreachable at any local hour, even when nothing else keeps it off."""
    devices = _devices()
    devices.night_off[:] = False
    gaps = np.flatnonzero(~devices.reachable(_all(), AT, 12))
    assert len(gaps) > 0
    for hour in (0, 7, 12, 23):
        assert not devices.reachable(gaps, AT, hour).any()


def test_night_off_phones_are_a_small_seeded_share() -> None:
    """About 8% of phones are switched off at night; the same seed picks the same ones."""
    a, b = _devices(), _devices()
    assert 0.06 <= float(a.night_off.mean()) <= 0.10
    assert np.array_equal(a.night_off, b.night_off) and np.array_equal(a.update_phase_s, b.update_phase_s)


def test_added_devices_are_always_on() -> None:
    """Devices added for test subscribers are never off at night nor out of phase, and start switched on."""
    devices = _devices(n=10)
    devices.extend(3)
    assert len(devices.night_off) == len(devices.forced_off) == len(devices.update_phase_s) == 13
    assert not devices.night_off[10:].any() and not devices.forced_off[10:].any()
    assert devices.update_phase_s[10:].tolist() == [0.0, 0.0, 0.0]


@settings(max_examples=50, deadline=None)
@given(sub=st.integers(0, 99), seconds=st.integers(0, 30 * 86_400), change_ago=st.none() | st.integers(0, 7_200))
def test_last_contact_is_the_later_of_a_cell_change_and_the_periodic_update(sub: int, seconds: int,
                                                                           change_ago: int | None) -> None:
    """The network last heard a device at its latest periodic update, unless a cell change came later."""
    devices = _devices(n=100)
    at = AT + timedelta(seconds=seconds)
    change = None if change_ago is None else at - timedelta(seconds=change_ago)
    periodic = devices.last_contact(sub, at, None)
    assert at - timedelta(seconds=PERIODIC_UPDATE_S) < periodic <= at
    # Periodic updates fall on the device's own phase, every 54 minutes.
    phase = float(devices.update_phase_s[sub])
    offset = (periodic.timestamp() - phase) % PERIODIC_UPDATE_S
    assert min(offset, PERIODIC_UPDATE_S - offset) < 1e-3
    expected = periodic if change is None or change <= periodic else change
    assert devices.last_contact(sub, at, change) == expected


@settings(max_examples=50, deadline=None)
@given(seconds=st.integers(0, 30 * 86_400), micros=st.integers(0, 999_999))
def test_next_periodic_update_is_the_first_one_strictly_after(seconds: int, micros: int) -> None:
    """Each device's next periodic update lies in (after, after + 54 min] on its phase."""
    devices = _devices(n=100)
    after = AT + timedelta(seconds=seconds, microseconds=micros)
    got = devices.next_periodic_update_us(_all(100), after)
    period = PERIODIC_UPDATE_S * 1_000_000
    after_us = to_micros(after)
    assert np.all(got > after_us) and np.all(got <= after_us + period)
    phase = np.round(devices.update_phase_s.astype(np.float64) * 1e6).astype(np.int64)
    assert np.all((got - phase) % period == 0)


def test_delivered_messages_are_in_the_inbox_oldest_first() -> None:
    """Messages put on a device are read back in order, with their channel, sender, text and id."""
    devices = _devices(n=5)
    devices.deliver(2, AT, "SMS", "ACME", "hello", "PROMO")
    devices.deliver(2, AT + timedelta(minutes=1), "PUSH", "Bank", "your code is 1234", "OTP", title="Login",
                    message_id="msg_7")
    inbox = devices.inbox(2)
    assert [(m.channel, m.sender, m.text, m.kind, m.title) for m in inbox] == [
        ("SMS", "ACME", "hello", "PROMO", None), ("PUSH", "Bank", "your code is 1234", "OTP", "Login")]
    assert inbox[0].received_at == AT and inbox[1].id == "msg_7" and inbox[0].id != inbox[1].id
    assert devices.inbox(3) == []


@pytest.mark.parametrize("local_hour", [3, 12])  # a night hour (night-off phones are off) and a day hour
def test_one_device_reachability_matches_the_columnar_answer(local_hour: int) -> None:
    """``reachable_one`` answers what ``reachable`` does for each device, with faults and coverage gaps."""
    devices = _devices()
    devices.forced_off[:40] = True
    devices.down_until_us[40:80] = to_micros(AT) + 1  # taken down until just after AT
    devices.down_until_us[80:120] = to_micros(AT)  # ...until exactly AT: reachable again
    cells = np.arange(N, dtype=np.int64) % 7
    devices.cell_outage([3], AT - timedelta(hours=1), AT + timedelta(hours=1))
    devices.cell_outage([5], AT + timedelta(seconds=1), AT + timedelta(hours=1))  # not down yet
    for at in (AT, AT + timedelta(hours=5, minutes=17)):
        columnar = devices.reachable(_all(), at, local_hour, cells).tolist()
        assert [devices.reachable_one(i, at, local_hour, int(cells[i])) for i in range(N)] == columnar
        assert not all(columnar) and any(columnar)
