"""Columnar inboxes: bulk delivery, per-device reads in delivery order, ids, compaction and merging."""

from __future__ import annotations

import copy
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator.inbox as inbox_module
from simulator.clock import format_instant, from_micros, to_micros
from simulator.errors import InboxError
from simulator.inbox import WHOLE_ID, Inboxes, MessageTemplate
from simulator.world import World
from tests.simulator.conftest import START, small_config

T0 = to_micros(START)


def test_world_batch_delivery_fills_inboxes_with_ids_channels_and_meta() -> None:
    """A batch puts one message per device, with its own instant, channel, template and id number."""
    w = copy.deepcopy(World.build(small_config(n=300)))
    acme = w.message_template(MessageTemplate("Acme", "hi", "PROMO", id_prefix="msg_000001_", id_digits=7,
                                              meta={"campaignId": "cmp_000001"}))
    city = w.message_template(MessageTemplate("City", "Road closed", "INFORMATIONAL", title="Notice"))
    w.deliver_batch(np.array([3, 5, 3]), np.array([T0, T0 + 2_000_000, T0 + 5_000_000]), np.array([0, 1, 1], np.uint8),
                    ("PUSH", "SMS"), np.array([acme, acme, city], np.int32), np.array([1, 2, 9]))
    three = w.inbox(3)
    assert [m["id"] for m in three] == ["msg_000001_0000001", "inb_00000009"]
    assert [m["channel"] for m in three] == ["PUSH", "SMS"]
    assert three[0]["campaignId"] == "cmp_000001" and "campaignId" not in three[1]  # meta is the template's
    assert three[1]["title"] == "Notice" and three[1]["sender"] == "City"
    assert w.inbox(5)[0]["receivedAt"] == format_instant(START + timedelta(seconds=2))
    assert w.inbox(4) == []
    assert w.msisdns(np.array([3])) == [w.subscriber_profile(3).msisdn]


def test_single_deliveries_keep_their_own_ids_or_get_running_numbers() -> None:
    """A message delivered with its own id keeps it; others are numbered by their place among all messages."""
    w = copy.deepcopy(World.build(small_config(n=300)))
    w.deliver(7, "SMS", "Bank", "Code 1234", "AUTHENTICATION", message_id="vrf_1", code="1234")
    w.deliver(7, "PUSH", "Bank", "Hello", "TRANSACTIONAL")
    inbox = w.inbox(7)
    assert [m["id"] for m in inbox] == ["vrf_1", "inb_00000002"]
    assert inbox[0]["code"] == "1234" and "code" not in inbox[1]
    assert inbox[0]["receivedAt"] == format_instant(w.clock.now)


def test_template_ids() -> None:
    """Ids are the prefix plus the zero-padded number, or the prefix alone for a message with its own id."""
    t = MessageTemplate("A", "x", "PROMO", id_prefix="msg_000002_", id_digits=7)
    assert t.message_id(42) == "msg_000002_0000042"
    assert t.message_id(WHOLE_ID) == "msg_000002_"


def test_reads_between_deliveries_and_many_compactions_keep_delivery_order() -> None:
    """Hundreds of chunks force compactions and merges; reads interleaved with adds see every message in order."""
    box = Inboxes()
    tpl = box.register(MessageTemplate("A", "x", "PROMO"))
    codes = box.channel_codes(["PUSH"])
    rng = np.random.default_rng(3)
    expected: dict[int, list[int]] = {}
    for step in range(700):
        subs = rng.integers(0, 50, rng.integers(1, 40))
        first = len(box) + 1
        box.add(subs, T0 + step, codes[0], tpl)
        for k, s in enumerate(subs.tolist()):
            expected.setdefault(s, []).append(first + k)
        if step % 97 == 0:
            probe = int(subs[0])
            assert [int(m.id[4:]) for m in box.read(probe)] == expected[probe]
    for sub, numbers in expected.items():
        assert [int(m.id[4:]) for m in box.read(sub)] == numbers
    assert len(box) == sum(len(v) for v in expected.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["PUSH", "SMS"])), max_size=20), max_size=30),
       st.sets(st.integers(0, 29)))
def test_inboxes_match_a_list_per_device(batches: list[list[tuple[int, str]]], read_after: set[int]) -> None:
    """Property: whatever the batches and the reads between them, each device's inbox equals a plain list model."""
    box = Inboxes()
    tpl = box.register(MessageTemplate("A", "x", "PROMO"))
    model: dict[int, list[tuple[str, str, int]]] = {}
    for b, batch in enumerate(batches):
        subs = np.array([s for s, _ in batch], np.int64)
        chans = box.channel_codes([c for _, c in batch])
        first = len(box) + 1
        box.add(subs, np.full(len(subs), T0 + b), chans, tpl)
        for k, (s, c) in enumerate(batch):
            model.setdefault(s, []).append((f"inb_{first + k:08d}", c, T0 + b))
        if b in read_after:
            for s in range(10):
                got = [(m.id, m.channel, to_micros(m.received_at)) for m in box.read(s)]
                assert got == model.get(s, [])
    for s in range(10):
        final = [(m.id, m.channel, m.received_at) for m in box.read(s)]
        assert final == [(i, c, from_micros(us)) for i, c, us in model.get(s, [])]


def test_runs_stop_merging_at_their_cap_and_reads_stay_ordered(monkeypatch: pytest.MonkeyPatch) -> None:
    """With small compaction and run caps, many capped runs remain and every inbox still reads in order."""
    monkeypatch.setattr(inbox_module, "_COMPACT_ROWS", 50)
    monkeypatch.setattr(inbox_module, "_MAX_RUN_ROWS", 200)
    box = Inboxes()
    tpl = box.register(MessageTemplate("A", "x", "PROMO"))
    push = box.channel_codes(["PUSH"])[0]
    rng = np.random.default_rng(5)
    subs = rng.integers(0, 30, 5_000)
    for start in range(0, len(subs), 25):
        box.add(subs[start:start + 25], T0, push, tpl)
    box.read(0)
    assert len(box._runs) >= 5_000 // 200 and all(len(r) <= 200 for r in box._runs)
    for s in range(30):
        assert [int(m.id[4:]) for m in box.read(s)] == (np.flatnonzero(subs == s) + 1).tolist()


@pytest.mark.parametrize(("template", "channel", "named"),
                         [(1, 0, "message template 1"), (-1, 0, "message template -1"), (0, 7, "channel code 7")])
def test_unknown_template_or_channel_is_refused_and_changes_nothing(template: int, channel: int, named: str) -> None:
    """A delivery naming a template or channel code that was never registered fails at once, naming it."""
    box = Inboxes()
    tpl = box.register(MessageTemplate("A", "x", "PROMO"))
    push = int(box.channel_codes(["PUSH"])[0])
    box.add([1], T0, push, tpl)
    with pytest.raises(InboxError, match=named):
        box.add([1, 2], T0, np.array([push, channel]), np.array([tpl, template]))
    assert len(box) == 1 and [m.id for m in box.read(1)] == ["inb_00000001"] and box.read(2) == []


def test_single_deliveries_share_a_template_and_keep_their_own_text_id_and_fields() -> None:
    """Messages delivered one by one share their (sender, kind, title) template; text, id and fields are their own."""
    box = Inboxes()
    for k in range(300):
        box.add_one(k % 3, T0 + k, "SMS", "Verify", f"code {k:06d}", "AUTHENTICATION", meta={"code": f"{k:06d}"})
    box.add_one(0, T0 + 300, "PUSH", "Shop", "hello", "PROMO", "Sale", "msg_1", {"priority": "LOW"})
    assert box.templates == 2 and box.payloads == 301
    first, *_, last = box.read(0)
    assert (first.id, first.text, dict(first.meta), first.channel) == ("inb_00000001", "code 000000",
                                                                       {"code": "000000"}, "SMS")
    assert (last.id, last.text, last.title, dict(last.meta)) == ("msg_1", "hello", "Sale", {"priority": "LOW"})
    assert [m.text for m in box.read(1)][:2] == ["code 000001", "code 000004"]


def test_forgetting_drops_old_rows_and_their_payloads_and_hides_late_old_ones() -> None:
    """Rows received before the cutoff go with their payloads; campaign templates stay usable; reads hide old rows."""
    box = Inboxes()
    campaign = box.register(MessageTemplate("Shop", "sale", "PROMO"))
    push = box.channel_codes(["PUSH"])[0]
    for k in range(1000):
        box.add_one(k % 10, T0 + k, "SMS", "Verify", f"code {k}", "AUTHENTICATION")
    box.add(np.arange(10), np.arange(10) + T0, push, campaign)
    box.forget_before(T0 + 900)
    assert box.rows == 100 and box.payloads == 100 and box.templates == 2 and len(box) == 1010
    assert [m.text for m in box.read(3)] == [f"code {k}" for k in range(903, 1000, 10)]
    box.forget_before(T0 + 5)  # never moves back
    box.add([3], T0 + 1, push, campaign)  # arrives late, already past the cutoff
    assert box.read(3)[0].text == "code 903" and box.cutoff is not None
    box.add([3], T0 + 2000, push, campaign)
    assert box.read(3)[-1].text == "sale"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.lists(st.integers(0, 5), min_size=1, max_size=6)), max_size=40),
       st.sets(st.integers(0, 39)))
def test_single_and_bulk_deliveries_interleaved_keep_delivery_order(steps: list[tuple[bool, list[int]]],
                                                                     read_after: set[int]) -> None:
    """Property: single deliveries (kept as plain lists until read) and bulk ones read back in delivery order."""
    box = Inboxes()
    tpl = box.register(MessageTemplate("A", "x", "PROMO"))
    model: dict[int, list[tuple[str, str]]] = {}
    for step, (single, subs) in enumerate(steps):
        if single:
            for s in subs:
                box.add_one(s, T0 + step, "APP_PUSH", "B", f"t{len(box)}", "APP_PUSH")
                model.setdefault(s, []).append((f"inb_{len(box):08d}", "APP_PUSH"))
        else:
            first = len(box) + 1
            box.add(np.array(subs), T0 + step, box.channel_codes(["SMS"])[0], tpl)
            for k, s in enumerate(subs):
                model.setdefault(s, []).append((f"inb_{first + k:08d}", "SMS"))
        assert box.rows == len(box)
        if step in read_after:
            for s in range(6):
                assert [(m.id, m.channel) for m in box.read(s)] == model.get(s, [])
    for s in range(6):
        assert [(m.id, m.channel) for m in box.read(s)] == model.get(s, [])
