"""Consent ledger: initial rates, changes, history and answers for past instants against a dict model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from simulator.consent import BITS, ConsentLedger, ConsentRates
from simulator.errors import ConsentError, InvalidConfigError, UnknownSubscriberError
from simulator.rng import BLOCK_SIZE, RngStreams

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def ledger(n: int = 100, seed: int = 1, rates: ConsentRates | None = None) -> ConsentLedger:
    return ConsentLedger.build(n, START, RngStreams(seed), rates)


def test_initial_rates_are_near_configured() -> None:
    """Initial opt-in shares match the configured rates; advertising channels are positively correlated."""
    rates = ConsentRates(advertising_push=0.5, advertising_sms=0.3, location_sharing=0.6, analytics=0.8)
    led = ledger(20_000, rates=rates)
    for purpose, channel in BITS:
        assert abs(led.rate(purpose, channel) - rates.rate(purpose, channel)) < 0.02
    subs = np.arange(led.size)
    push = led.is_permitted(subs, "ADVERTISING", "PUSH")
    sms = led.is_permitted(subs, "ADVERTISING", "SMS")
    assert np.corrcoef(push, sms)[0, 1] > 0.4


def test_initial_state_is_drawn_per_block_and_seeded() -> None:
    """The same seed gives the same initial ledger; a block depends only on its own stream."""
    n = BLOCK_SIZE + 50
    a, b = ledger(n, seed=4), ledger(n, seed=4)
    subs = np.arange(n)
    for purpose, channel in BITS:
        assert np.array_equal(a.is_permitted(subs, purpose, channel), b.is_permitted(subs, purpose, channel))
    bigger = ledger(2 * BLOCK_SIZE, seed=4)
    first = np.arange(BLOCK_SIZE)
    assert np.array_equal(a.is_permitted(first, "ANALYTICS", None), bigger.is_permitted(first, "ANALYTICS", None))


def test_set_returns_only_actual_flips_and_keeps_history_in_order() -> None:
    """Granting twice logs once; history starts with INITIAL grants and lists changes in time order."""
    led = ledger(10, rates=ConsentRates(0.0, 0.0, 1.0, 0.0))
    t1, t2, t3 = START + timedelta(hours=1), START + timedelta(hours=2), START + timedelta(hours=3)
    assert led.grant([3, 3, 4], "ADVERTISING", "PUSH", t1, "APP").subscribers.tolist() == [3, 4]
    assert len(led.grant(3, "ADVERTISING", "PUSH", t2, "WEB")) == 0
    changes = led.withdraw(3, "LOCATION_SHARING", None, t3, "CARE")
    assert changes.subscribers.tolist() == [3] and not changes.granted and changes.channel is None
    history = [(c.at, c.purpose, c.channel, c.granted, c.source) for c in led.history(3)]
    assert history == [
        (START, "LOCATION_SHARING", None, True, "INITIAL"),
        (t1, "ADVERTISING", "PUSH", True, "APP"),
        (t3, "LOCATION_SHARING", None, False, "CARE"),
    ]
    assert led.history(3)[1].to_dict() == {"at": "2025-03-01T09:00:00Z", "purpose": "ADVERTISING",
                                           "channel": "PUSH", "granted": True, "source": "APP"}
    assert led.state(3) == {"ADVERTISING": {"PUSH": True, "SMS": False}, "LOCATION_SHARING": {"ANY": False},
                            "ANALYTICS": {"ANY": False}}
    assert led.state(3, at=t1)["LOCATION_SHARING"] == {"ANY": True}


def test_before_the_start_nothing_is_permitted() -> None:
    """Instants before the ledger's start answer False even where the baseline grants."""
    led = ledger(50, rates=ConsentRates.uniform(1.0))
    assert led.is_permitted(7, "ANALYTICS", None) is True
    assert led.is_permitted(7, "ANALYTICS", None, START - timedelta(seconds=1)) is False
    assert led.is_permitted(7, "ANALYTICS", None, START) is True


def test_changes_cannot_go_back_in_time() -> None:
    """A change stamped before the last one is refused and records nothing."""
    led = ledger()
    led.grant(1, "ANALYTICS", None, START + timedelta(minutes=5), "APP")
    with pytest.raises(ConsentError, match="append-only"):
        led.withdraw(1, "ANALYTICS", None, START + timedelta(minutes=4), "APP")
    assert led.changes <= 1 and led.last_change == START + timedelta(minutes=5)


@pytest.mark.parametrize(("purpose", "channel", "match"), [
    ("MARKETING", "PUSH", "unknown consent purpose"),  # not a purpose
    ("ADVERTISING", None, "needs a channel"),  # advertising is per channel
    ("ADVERTISING", "EMAIL", "needs a channel"),  # not a channel
    ("LOCATION_SHARING", "SMS", "channel-independent"),  # location has no channel
    ("advertising", "PUSH", "unknown consent purpose"),  # names are upper case
])
def test_bad_purpose_or_channel_is_named(purpose: str, channel: str | None, match: str) -> None:
    """Unknown purposes and channels raise ConsentError with a message naming the valid choices."""
    led = ledger()
    with pytest.raises(ConsentError, match=match):
        led.is_permitted(0, purpose, channel)
    with pytest.raises(ConsentError, match=match):
        led.grant(0, purpose, channel, START, "APP")


@pytest.mark.parametrize(("call", "error"), [
    (lambda led: led.grant(100, "ANALYTICS", None, START, "APP"), UnknownSubscriberError),  # row past the end
    (lambda led: led.grant(-1, "ANALYTICS", None, START, "APP"), UnknownSubscriberError),  # negative row
    (lambda led: led.grant(1, "ANALYTICS", None, START, "app"), ConsentError),  # source not upper case
    (lambda led: led.grant(1, "ANALYTICS", None, datetime(2025, 4, 1), "APP"), ConsentError),  # naive instant  # noqa: DTZ001
    (lambda led: led.is_permitted(np.array([0.5]), "ANALYTICS", None), UnknownSubscriberError),  # float rows
    (lambda led: ConsentRates(advertising_push=1.5), InvalidConfigError),  # rate above 1
    (lambda led: led.extend(-2), InvalidConfigError),  # negative count
])
def test_bad_arguments_raise_simulator_errors(call: object, error: type[Exception]) -> None:
    """Bad rows, sources, instants and rates raise the matching SimulatorError subclass."""
    led = ledger()
    assert callable(call)
    with pytest.raises(error):
        call(led)


def test_extend_adds_subscribers_with_chosen_grants() -> None:
    """Extended rows start with nothing but their chosen INITIAL grants."""
    led = ledger(10)
    at = START + timedelta(days=1)
    led.extend(2, {("ADVERTISING", "SMS"): True, ("ANALYTICS", None): False}, at=at)
    assert led.size == 12
    assert led.is_permitted([10, 11], "ADVERTISING", "SMS").tolist() == [True, True]
    assert led.is_permitted([10, 11], "ADVERTISING", "SMS", START).tolist() == [False, False]
    assert not led.is_permitted(11, "ANALYTICS", None)
    assert [c.source for c in led.history(10)] == ["INITIAL"]


@pytest.mark.parametrize("grants", [
    {("MARKETING", None): True},  # unknown purpose
    {("ADVERTISING", None): True},  # advertising needs a channel
    {("ANALYTICS", None): "yes"},  # not a boolean
])
def test_extend_validates_grants_before_adding(grants: dict[tuple[str, str | None], bool]) -> None:
    """Bad grants for new subscribers raise ConsentError and add nobody."""
    led = ledger(10)
    with pytest.raises(ConsentError):
        led.validate_grants(grants)
    with pytest.raises(ConsentError):
        led.extend(1, grants)
    assert led.size == 10 and led.changes == 0


def test_with_advertising_sets_both_channels_only() -> None:
    """ConsentRates.with_advertising changes advertising rates and keeps the other defaults."""
    rates = ConsentRates.with_advertising(0.9)
    assert (rates.advertising_push, rates.advertising_sms) == (0.9, 0.9)
    assert rates.location_sharing == ConsentRates().location_sharing


def test_vector_answers_keep_the_input_shape() -> None:
    """An array of subscribers gives an aligned boolean array; an int gives a bool."""
    led = ledger(30)
    out = led.is_permitted(np.array([[1, 2], [3, 4]]), "ADVERTISING", "PUSH", START + timedelta(hours=1))
    assert out.shape == (2, 2) and out.dtype == np.bool_
    assert isinstance(led.is_permitted(np.int64(3), "ADVERTISING", "PUSH"), bool)


N_MODEL = 6


class LedgerAgainstDictModel(RuleBasedStateMachine):
    """Random grant/withdraw sequences at non-decreasing times; answers for any instant match a dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.led = ledger(N_MODEL, seed=9)
        self.now = START
        # model[(row, bit)] = list of (instant, granted), starting with the baseline at START
        self.model: dict[tuple[int, int], list[tuple[datetime, bool]]] = {}
        self.instants: list[datetime] = [START]

    @initialize()
    def record_baseline(self) -> None:
        for row in range(N_MODEL):
            for bit, (purpose, channel) in enumerate(BITS):
                self.model[(row, bit)] = [(START, bool(self.led.is_permitted(row, purpose, channel)))]

    def expected(self, row: int, bit: int, at: datetime) -> bool:
        value = False
        for instant, granted in self.model[(row, bit)]:
            if instant <= at:
                value = granted
        return value

    @rule(rows=st.lists(st.integers(0, N_MODEL - 1), min_size=1, max_size=4), bit=st.integers(0, len(BITS) - 1),
          granted=st.booleans(), step=st.integers(0, 3_600))
    def change(self, rows: list[int], bit: int, granted: bool, step: int) -> None:
        self.now += timedelta(seconds=step)  # steps of 0 test several changes at one instant
        purpose, channel = BITS[bit]
        made = self.led.set(rows, purpose, channel, granted, self.now, "SCENARIO")
        flipped = sorted({r for r in rows if self.expected(r, bit, self.now) != granted})
        assert made.subscribers.tolist() == flipped
        for r in set(rows):
            self.model[(r, bit)].append((self.now, granted))
        self.instants.append(self.now)

    @rule(back=st.integers(-60, 200_000), bit=st.integers(0, len(BITS) - 1))
    def ask_the_past(self, back: int, bit: int) -> None:
        at = self.now - timedelta(seconds=back)
        purpose, channel = BITS[bit]
        got = self.led.is_permitted(np.arange(N_MODEL), purpose, channel, at)
        assert got.tolist() == [self.expected(r, bit, at) for r in range(N_MODEL)]

    @rule(pick=st.integers(0, 10**6), bit=st.integers(0, len(BITS) - 1))
    def ask_at_a_change_instant(self, pick: int, bit: int) -> None:
        at = self.instants[pick % len(self.instants)]  # boundaries: a change is in force at its own instant
        purpose, channel = BITS[bit]
        got = self.led.is_permitted(np.arange(N_MODEL), purpose, channel, at)
        assert got.tolist() == [self.expected(r, bit, at) for r in range(N_MODEL)]

    @invariant()
    def current_state_matches(self) -> None:
        if not self.model:
            return
        for bit, (purpose, channel) in enumerate(BITS):
            got = self.led.is_permitted(np.arange(N_MODEL), purpose, channel)
            assert got.tolist() == [self.expected(r, bit, self.now) for r in range(N_MODEL)]


TestLedgerAgainstDictModel = LedgerAgainstDictModel.TestCase
TestLedgerAgainstDictModel.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
