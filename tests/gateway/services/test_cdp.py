"""The CDP service: identity resolution, audiences (language, incremental vs from scratch, windows, estimates),
app events through the same pipeline, and a restart rebuilding everything from the log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.errors import InvalidArgument
from gateway.core.store import Store
from gateway.services.apps.events import APP_EVENT_CODE, APP_EVENTS, AppEventBatch
from gateway.services.apps.model import AppRecord, AppSpec
from gateway.services.apps.repository import AppRepository
from gateway.services.apps.service import AppService
from gateway.services.cdp.audiences import (
    MAX_DEPTH,
    OPS,
    EventCondition,
    GroupTraitCondition,
    Node,
    compile_definition,
)
from gateway.services.cdp.model import AudienceChange, EventsIngested, Source
from gateway.services.cdp.profiles import ProfileSpace
from gateway.services.cdp.repository import CdpRepository
from gateway.services.cdp.service import CdpService
from gateway.wire.cdp import TrackingCall
from simulator.clock import to_micros
from simulator.world import World

START = datetime(2025, 6, 2, 8, tzinfo=UTC)
SPEC = AppSpec("Shoply", ("ANDROID", "IOS"), ("SHOPPING", "FASHION"), 0.5, 6000)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Cdp:
    store: Store
    apps: AppService
    service: CdpService
    clock: Clock
    partner: int
    source: Source

    def send(self, *calls: dict[str, Any]) -> int:
        parsed = [TrackingCall.model_validate(c) for c in calls]
        return self.service.ingest(self.source, self.service.normalise(parsed))

    def advance(self, delta: timedelta) -> None:
        self.clock.now += delta
        self.service.on_step(self.clock.now)

    def members(self, audience_seq: int) -> set[str | None]:
        audience = self.service._audiences[audience_seq]
        space = self.service.space(self.partner)
        return {space.primary_user(p) or space.anon_ids[p][0] for p in self.service.member_profiles(audience)}


def open_cdp(path: Path | str, world: World, clock: Clock, threshold: int = 10) -> tuple[Store, AppService,
                                                                                            CdpService]:
    store = Store(path)
    app_repo, cdp_repo = AppRepository(store), CdpRepository(store)
    store.open()
    apps = AppService(world, app_repo, clock)
    return store, apps, CdpService(cdp_repo, apps, clock, threshold)


def new_cdp(path: Path, world: World, clock: Clock) -> tuple[Cdp, str]:
    """A CDP on a new store at ``path``: partner acme and its source Backend (with the source's write key)."""
    store, apps, service = open_cdp(path, world, clock)
    partner, _, _ = store.create_partner("acme", (), {}, "2025-06-02T08:00:00Z")
    source, key = service.create_source(partner.id, "Backend", None)
    return Cdp(store, apps, service, clock, partner.id, source), key


@pytest.fixture
def cdp(world: World, tmp_path: Path) -> Iterator[Cdp]:
    made, _ = new_cdp(tmp_path / "cdp.db", world, Clock())
    yield made
    made.store.close()


def _by(call: dict[str, Any], user: str | None, anon: str | None) -> dict[str, Any]:
    """``call`` made by ``user`` and/or ``anon``."""
    if user is not None:
        call["userId"] = user
    if anon is not None:
        call["anonymousId"] = anon
    return call


def track(user: str | None, event: str, anon: str | None = None, **props: Any) -> dict[str, Any]:
    return _by({"type": "track", "event": event, "properties": props}, user, anon)


# -- identity resolution ---------------------------------------------------------------------------------------

def test_identify_merges_the_anonymous_profile(cdp: Cdp) -> None:
    """Events before login (anonymous) and after (user) end in one profile; the user's traits win."""
    cdp.send(track(None, "Product Viewed", anon="a1"),
             {"type": "identify", "anonymousId": "a1", "traits": {"plan": "free", "city": "Berlin"}})
    cdp.send({"type": "identify", "userId": "u1", "traits": {"plan": "gold"}})
    cdp.send({"type": "identify", "userId": "u1", "anonymousId": "a1"})
    view = cdp.service.profile(cdp.partner, "a1")
    assert view.user_id == "u1" and view.anonymous_ids == ["a1"]
    assert view.traits == {"plan": "gold", "city": "Berlin"}
    assert cdp.service.profile(cdp.partner, "u1") == view
    assert [e.event for e in view.events].count("Product Viewed") == 1


def test_alias_merges_two_profiles(cdp: Cdp) -> None:
    """alias(previousId, userId) joins the previous id's profile, even one with its own user id."""
    cdp.send(track("old-id", "Order Completed"), track("new-id", "Product Viewed"))
    cdp.send({"type": "alias", "previousId": "old-id", "userId": "new-id"})
    view = cdp.service.profile(cdp.partner, "old-id")
    assert set(view.user_ids) == {"old-id", "new-id"}
    assert {e.event for e in view.events} >= {"Order Completed", "Product Viewed"}
    assert cdp.service.space(cdp.partner).roots().tolist() == [cdp.service.space(cdp.partner).find("new-id")]


def test_shared_device_does_not_merge_two_users(cdp: Cdp) -> None:
    """An anonymous id already identified as one user, seen with another user id, starts the other's profile."""
    cdp.send({"type": "identify", "userId": "u1", "anonymousId": "device"})
    cdp.send({"type": "identify", "userId": "u2", "anonymousId": "device", "traits": {"name": "B"}})
    assert cdp.service.profile(cdp.partner, "device").user_id == "u1"
    assert cdp.service.profile(cdp.partner, "u2").traits == {"name": "B"}


def test_partners_do_not_share_profiles(cdp: Cdp) -> None:
    """The same user id at two partners is two profiles; one partner cannot read the other's."""
    other, _, _ = cdp.store.create_partner("other", (), {}, "2025-06-02T08:00:00Z")
    source, _ = cdp.service.create_source(other.id, "Theirs", None)
    cdp.send(track("u1", "Mine"))
    cdp.service.ingest(source, cdp.service.normalise([TrackingCall.model_validate(track("u1", "Theirs"))]))
    assert [e.event for e in cdp.service.profile(cdp.partner, "u1").events] == ["Mine"]
    assert [e.event for e in cdp.service.profile(other.id, "u1").events] == ["Theirs"]


# -- the audience language -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("definition", "field"), [
    ([], "body.definition"),  # not an object
    ({}, "body.definition"),  # no kind
    ({"event": "E", "trait": "t"}, "body.definition"),  # two kinds
    ({"and": []}, "body.definition.and"),  # empty and
    ({"or": [{"event": "E"}, {"bogus": 1}]}, "body.definition.or.1"),  # unknown kind inside or
    ({"not": {"event": ""}}, "body.definition.not.event"),  # empty event name
    ({"event": "E", "withinDays": 0}, "body.definition.withinDays"),  # window too short
    ({"event": "E", "withinDays": 91}, "body.definition.withinDays"),  # window past the retention
    ({"event": "E", "withinDays": 1, "withinHours": 2}, "body.definition.withinHours"),  # two windows
    ({"event": "E", "withinDays": "7"}, "body.definition.withinDays"),  # window as a string
    ({"event": "E", "atLeast": 3, "atMost": 2}, "body.definition.atMost"),  # empty count range
    ({"event": "E", "atLeast": True}, "body.definition.atLeast"),  # boolean count
    ({"event": "E", "where": [{"property": "p", "op": "like", "value": 1}]}, "body.definition.where.0.op"),
    ({"event": "E", "where": [{"property": "p", "op": "gt", "value": "a"}]}, "body.definition.where.0.value"),
    ({"event": "E", "where": [{"property": "p", "op": "eq"}]}, "body.definition.where.0.value"),  # no value
    ({"event": "E", "where": [{"property": "p", "op": "exists", "value": 1}]}, "body.definition.where.0.value"),
    ({"event": "E", "where": [{"property": "p", "op": "in", "value": []}]}, "body.definition.where.0.value"),
    ({"event": "E", "where": {"property": "p"}}, "body.definition.where"),  # where not a list
    ({"event": "E", "extra": 1}, "body.definition.extra"),  # unknown field
    ({"trait": "plan", "op": "eq", "value": {"a": 1}}, "body.definition.value"),  # object value
    ({"trait": "n", "op": "gt", "value": 10**400}, "body.definition.value"),  # integer past 2^53
    ({"trait": "n", "op": "in", "value": [1, -(2**60)]}, "body.definition.value"),  # one in the list too
    ({"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"event": "E"}}}}}}}}},
     "body.definition.not.not.not.not.not.not.not.not"),  # nested too deep
    ({"and": [{"groupTrait": 5, "op": "exists"}]}, "body.definition.and.0.groupTrait"),  # group trait not a name
    ({"groupTrait": "plan", "trait": "plan", "op": "exists"}, "body.definition"),  # two kinds
    ({"or": [{"groupTrait": "plan", "op": "like", "value": 1}]}, "body.definition.or.0.op"),  # unknown op
    ({"groupTrait": "seats", "op": "gte", "value": "10"}, "body.definition.value"),  # numeric op, string value
    ({"groupTrait": "plan", "op": "eq"}, "body.definition.value"),  # no value
    ({"groupTrait": "plan", "op": "exists", "value": True}, "body.definition.value"),  # exists takes none
    ({"groupTrait": "plan", "op": "in", "value": [[1]]}, "body.definition.value"),  # in: a list of scalars
    ({"not": {"groupTrait": "plan", "op": "exists", "where": []}}, "body.definition.not.where"),  # unknown field
    ({"groupTrait": "n", "op": "eq", "value": 2**60}, "body.definition.value"),  # integer past 2^53
])
def test_bad_definitions_name_the_fault(definition: Any, field: str) -> None:
    """Every malformed definition is a 400 whose details name the faulty path."""
    with pytest.raises(InvalidArgument) as caught:
        compile_definition(definition)
    assert field in [d.field for d in caught.value.details or []]


def test_too_many_conditions() -> None:
    """A definition has at most 32 event, trait and group-trait conditions, counted together."""
    with pytest.raises(InvalidArgument):
        compile_definition({"or": [{"event": f"E{i}"} for i in range(33)]})
    mixed = [{"groupTrait": f"g{i}", "op": "exists"} for i in range(16)] + [{"event": f"E{i}"} for i in range(16)]
    assert len(compile_definition({"or": mixed}).leaves) == 32
    with pytest.raises(InvalidArgument) as caught:
        compile_definition({"or": [*mixed, {"groupTrait": "one", "op": "exists"}]})
    assert [d.field for d in caught.value.details or []] == ["body.definition.or.32"]


# -- audiences -------------------------------------------------------------------------------------------------

VIEWED_TWICE_NO_PURCHASE = {"and": [
    {"event": "Product Viewed", "where": [{"property": "category", "op": "eq", "value": "SHOES"}],
     "withinDays": 7, "atLeast": 2},
    {"not": {"event": "Order Completed", "withinDays": 7}},
]}


def test_viewed_twice_and_no_purchase(cdp: Cdp) -> None:
    """The brief's example: viewed category X twice this week and bought nothing; entries and exits are told."""
    changes: list[AudienceChange] = []
    cdp.service.add_audience_listener(changes.append)
    audience = cdp.service.create_audience(cdp.partner, "Browsers", VIEWED_TWICE_NO_PURCHASE)
    cdp.send(track("u1", "Product Viewed", category="SHOES"), track("u1", "Product Viewed", category="HATS"))
    assert cdp.members(audience.seq) == set()
    cdp.send(track("u1", "Product Viewed", category="SHOES"))
    assert cdp.members(audience.seq) == {"u1"} and len(changes[-1].entered) == 1
    cdp.send(track("u1", "Order Completed", revenue=10))
    assert cdp.members(audience.seq) == set() and len(changes[-1].exited) == 1
    cdp.advance(timedelta(days=7, seconds=1))  # the purchase and the views leave the window together
    assert cdp.members(audience.seq) == set()


def test_window_expires_with_the_clock(cdp: Cdp) -> None:
    """"Purchased in the last 30 days" holds for 30 days after the purchase, then not."""
    audience = cdp.service.create_audience(cdp.partner, "Buyers", {"event": "Order Completed", "withinDays": 30})
    cdp.send(track("u1", "Order Completed"))
    cdp.advance(timedelta(days=29, hours=23))
    assert cdp.members(audience.seq) == {"u1"}
    cdp.advance(timedelta(hours=1))
    assert cdp.members(audience.seq) == set()


def test_old_events_count_nowhere(cdp: Cdp) -> None:
    """An event whose own timestamp is already outside the window does not make a member."""
    audience = cdp.service.create_audience(cdp.partner, "Buyers", {"event": "Order Completed", "withinDays": 1})
    cdp.send({**track("u1", "Order Completed"), "timestamp": (START - timedelta(days=2)).isoformat()})
    assert cdp.members(audience.seq) == set()


def test_trait_conditions(cdp: Cdp) -> None:
    """Trait comparisons follow identify; a number is not a string, true is not 1."""
    audience = cdp.service.create_audience(cdp.partner, "Gold adults", {"and": [
        {"trait": "plan", "op": "in", "value": ["gold", "platinum"]}, {"trait": "age", "op": "gte", "value": 18},
        {"not": {"trait": "vip", "op": "eq", "value": 1}}]})
    cdp.send({"type": "identify", "userId": "a", "traits": {"plan": "gold", "age": 30, "vip": True}},
             {"type": "identify", "userId": "b", "traits": {"plan": "gold", "age": "30"}},
             {"type": "identify", "userId": "c", "traits": {"plan": "gold", "age": 40, "vip": 1}})
    assert cdp.members(audience.seq) == {"a"}


def test_neq_holds_for_a_profile_without_the_trait(cdp: Cdp) -> None:
    """An absent trait differs from any constant: a profile with no traits at all is in a ``neq`` audience, before
    and after the audience is made (regression: trait columns started false)."""
    early = cdp.service.create_audience(cdp.partner, "Not gold", {"trait": "plan", "op": "neq", "value": "gold"})
    cdp.send(track("u1", "Seen"), {"type": "identify", "userId": "u2", "traits": {"plan": "gold"}},
             {"type": "identify", "userId": "u3", "traits": {"city": "Berlin"}})
    late = cdp.service.create_audience(cdp.partner, "Not gold", {"trait": "plan", "op": "neq", "value": "gold"})
    assert cdp.members(early.seq) == cdp.members(late.seq) == {"u1", "u3"}


def group(user: str | None, group_id: str, anon: str | None = None, **traits: Any) -> dict[str, Any]:
    return _by({"type": "group", "groupId": group_id, "traits": traits}, user, anon)


@pytest.mark.parametrize(("condition", "groups", "member"), [
    ({"op": "eq", "value": "enterprise"}, [{"plan": "enterprise"}], True),  # equal string
    ({"op": "eq", "value": "enterprise"}, [{"plan": "free"}, {"plan": "enterprise"}], True),  # any group will do
    ({"op": "eq", "value": "enterprise"}, [{"plan": "free"}], False),  # other value
    ({"op": "eq", "value": "enterprise"}, [], False),  # in no group
    ({"op": "eq", "value": 1}, [{"plan": True}], False),  # true is not 1
    ({"op": "eq", "value": True}, [{"plan": 1}], False),  # nor 1 true
    ({"op": "eq", "value": 30}, [{"plan": "30"}], False),  # "30" is not 30
    ({"op": "eq", "value": 30}, [{"plan": 30.0}], True),  # 30.0 is 30
    ({"op": "neq", "value": "free"}, [{"plan": "free"}, {"seats": 3}], True),  # a group without it differs
    ({"op": "neq", "value": "free"}, [{"plan": "free"}], False),  # every group equal
    ({"op": "neq", "value": "free"}, [], False),  # no group, nothing differs
    ({"op": "gt", "value": 10}, [{"plan": 30}], True),  # number above
    ({"op": "gt", "value": 10}, [{"plan": "30"}], False),  # a string is not compared as a number
    ({"op": "gt", "value": 30}, [{"plan": 30}], False),  # strictly above
    ({"op": "gte", "value": 30}, [{"plan": 30}], True),  # at the bound
    ({"op": "gte", "value": 1}, [{"plan": True}], False),  # a boolean is not a number
    ({"op": "lt", "value": 5.5}, [{"plan": 5}], True),  # int against float
    ({"op": "lte", "value": 5}, [{"plan": 6}, {"plan": 5}], True),  # the second group passes
    ({"op": "in", "value": ["gold", "enterprise"]}, [{"plan": "enterprise"}], True),  # one of the list
    ({"op": "in", "value": [1, "x"]}, [{"plan": True}], False),  # true is not in [1]
    ({"op": "contains", "value": "ent"}, [{"plan": "enterprise"}], True),  # substring
    ({"op": "contains", "value": "3"}, [{"plan": 30}], False),  # a number contains nothing
    ({"op": "exists"}, [{"plan": "free"}], True),  # present
    ({"op": "exists"}, [{"plan": None}], False),  # null is absent
    ({"op": "exists"}, [{"seats": 3}], False),  # another trait only
])
def test_group_trait_operators(cdp: Cdp, condition: dict[str, Any], groups: list[dict[str, Any]],
                               member: bool) -> None:
    """A group-trait condition holds when any of the profile's groups passes it, with the trait comparisons."""
    audience = cdp.service.create_audience(cdp.partner, "Accounts", {"groupTrait": "plan", **condition})
    cdp.send(track("u1", "Seen"), *[group("u1", f"g{i}", **traits) for i, traits in enumerate(groups)])
    assert cdp.members(audience.seq) == ({"u1"} if member else set())


ENTERPRISE = {"groupTrait": "plan", "op": "eq", "value": "enterprise"}


def test_a_group_call_updates_the_group_for_every_member(cdp: Cdp) -> None:
    """Group traits are the group's: one member's group call moves every member in or out, no one else."""
    changes: list[AudienceChange] = []
    cdp.service.add_audience_listener(changes.append)
    audience = cdp.service.create_audience(cdp.partner, "Enterprise", ENTERPRISE)
    cdp.send(group("u1", "acme", plan="free", seats=3), group("u2", "acme"), group("u3", "other", plan="free"))
    assert cdp.members(audience.seq) == set()
    assert cdp.service.profile(cdp.partner, "u2").groups == {"acme": {"plan": "free", "seats": 3}}
    cdp.send(group("u2", "acme", plan="enterprise"))
    assert cdp.members(audience.seq) == {"u1", "u2"} and len(changes[-1].entered) == 2
    assert cdp.service.profile(cdp.partner, "u1").groups == {"acme": {"plan": "enterprise", "seats": 3}}
    cdp.send(group("u1", "beta", plan="free"))  # another group does not take the first one's away
    assert cdp.members(audience.seq) == {"u1", "u2"}
    cdp.send(group("u3", "acme"))  # joining a group that already qualifies
    assert cdp.members(audience.seq) == {"u1", "u2", "u3"} and len(changes[-1].entered) == 1
    cdp.send(group("u1", "acme", plan="free"))
    assert cdp.members(audience.seq) == set() and len(changes[-1].exited) == 3


def test_group_traits_combine_with_other_conditions(cdp: Cdp) -> None:
    """groupTrait conditions combine in and/or/not with trait and event conditions."""
    audience = cdp.service.create_audience(cdp.partner, "Big accounts' admins", {"and": [
        {"groupTrait": "seats", "op": "gte", "value": 10}, {"trait": "role", "op": "eq", "value": "admin"},
        {"not": {"groupTrait": "churned", "op": "eq", "value": True}}]})
    cdp.send({"type": "identify", "userId": "a", "traits": {"role": "admin"}},
             {"type": "identify", "userId": "b", "traits": {"role": "user"}},
             group("a", "big", seats=50), group("b", "big"))
    assert cdp.members(audience.seq) == {"a"}
    cdp.send(group("a", "old", churned=True))
    assert cdp.members(audience.seq) == set()


def test_a_merge_brings_the_groups_along(cdp: Cdp) -> None:
    """identify and alias merges give the kept profile the groups of both; the merged-away one leaves."""
    audience = cdp.service.create_audience(cdp.partner, "Enterprise", ENTERPRISE)
    cdp.send(group(None, "acme", anon="a1", plan="enterprise"), track("u1", "Seen"))
    assert cdp.members(audience.seq) == {"a1"}
    cdp.send({"type": "identify", "userId": "u1", "anonymousId": "a1"})
    assert cdp.members(audience.seq) == {"u1"}
    cdp.send(group("old", "beta", plan="enterprise"), track("new", "Seen"))
    cdp.send({"type": "alias", "previousId": "old", "userId": "new"})
    view = cdp.service.profile(cdp.partner, "new")
    assert view.audiences == [audience.id] and set(view.groups) == {"beta"} and cdp.service.size(audience) == 2
    cdp.send(group("u1", "acme", plan="free"))  # the group call by the merged profile reaches it
    assert cdp.service.member_profiles(audience).tolist() == [cdp.service.space(cdp.partner).find("new")]


def test_an_audience_made_later_sees_the_groups(cdp: Cdp) -> None:
    """A new audience is computed from the groups as they are."""
    cdp.send(group("u1", "acme", plan="enterprise"), group("u2", "acme"), group(None, "beta", anon="a3",
                                                                                plan="enterprise"))
    cdp.send({"type": "identify", "userId": "u3", "anonymousId": "a3"})
    audience = cdp.service.create_audience(cdp.partner, "Enterprise", ENTERPRISE)
    assert cdp.members(audience.seq) == {"u1", "u2", "u3"}


def test_join_touches_only_the_profiles_whose_groups_changed() -> None:
    """A group call re-evaluates every member when the group's traits change, the caller when it newly joins,
    nobody when nothing changed."""
    space = ProfileSpace()
    p, q, r = (space.resolve(u, None, 0) for u in ("u1", "u2", "u3"))
    assert space.join(p, "g", {"plan": "free"}).tolist() == [p]
    assert space.join(q, "g", {}).tolist() == [q]  # joined, traits unchanged
    assert space.join(q, "g", {"plan": "free"}).tolist() == []  # nothing new
    assert space.join(r, "h", {"plan": "gold"}).tolist() == [r]
    assert space.join(q, "g", {"plan": "gold"}).tolist() == [p, q]  # every member of g, not r
    assert space.join(p, "g", {"seats": 1}).tolist() == [p, q]  # a new trait
    assert space.join(p, "g", {"seats": True}).tolist() == [p, q]  # true replacing 1 is a change
    kept = space.merge(p, r)
    assert space.join(r, "h", {"plan": "free"}).tolist() == [kept]  # merged-away members reached by their root
    assert space.groups_of(kept) == {"g": {"plan": "gold", "seats": True}, "h": {"plan": "free"}}


@pytest.mark.parametrize(("members", "shown"), [
    (0, 0),  # zero is shown
    (3, None),  # under the threshold: withheld
    (9, None),  # just under
    (10, 10),  # at the threshold
    (123, 120),  # two significant figures
])
def test_estimate_is_disclosed_by_the_threshold(cdp: Cdp, members: int, shown: int | None) -> None:
    """Sizes from 1 to the threshold minus one are withheld; larger ones rounded to two significant figures."""
    audience = cdp.service.create_audience(cdp.partner, "All", {"event": "E"})
    cdp.send(*[track(f"u{i}", "E") for i in range(members)])
    assert cdp.service.size(audience) == members
    assert cdp.service.estimate(audience) == shown


def test_export_lists_user_ids_only(cdp: Cdp) -> None:
    """The export names members by the partner's user ids; anonymous members are left out."""
    audience = cdp.service.create_audience(cdp.partner, "Viewers", {"event": "V"})
    cdp.send(track("u1", "V"), track(None, "V", anon="a2"))
    assert cdp.service.member_user_ids(audience) == ["u1"] and cdp.service.size(audience) == 2


def test_events_past_the_retention_leave_the_log(cdp: Cdp) -> None:
    """Once a simulated day, events older than 90 days are dropped from the log; identity calls stay."""
    cdp.send(track("u1", "Old"), {"type": "identify", "userId": "u1", "traits": {"plan": "gold"}})
    for _ in range(89):
        cdp.advance(timedelta(days=1))
    assert [e.event for e in cdp.service.profile(cdp.partner, "u1").events] == [None, "Old"]
    cdp.send(track("u1", "New"))
    for _ in range(2):
        cdp.advance(timedelta(days=1))
    view = cdp.service.profile(cdp.partner, "u1")
    assert [e.event for e in view.events] == ["New", None] and view.traits == {"plan": "gold"}


# -- app events ------------------------------------------------------------------------------------------------

def app_batch(app: AppRecord, seq0: int, rows: list[int], names: list[str], at: datetime,
              items: list[int] | None = None, values: list[int] | None = None) -> AppEventBatch:
    n = len(rows)
    return AppEventBatch(app.seq, np.arange(seq0, seq0 + n, dtype=np.int64), np.full(n, to_micros(at), np.int64),
                         np.asarray(rows, np.int64), np.asarray([APP_EVENT_CODE[x] for x in names], np.uint8),
                         np.asarray(items or [-1] * n, np.int16), np.asarray(values or [0] * n, np.int64))


def test_app_events_meet_server_events_in_one_profile(cdp: Cdp) -> None:
    """An app's events and the partner's server-side calls for the same user id land in one profile."""
    app = cdp.apps.register(cdp.partner, SPEC)
    audience = cdp.service.create_audience(cdp.partner, "Fashion buyers", {"and": [
        {"event": "Order Completed", "where": [{"property": "category", "op": "eq", "value": "FASHION"},
                                               {"property": "revenue", "op": "gte", "value": 20}]},
        {"trait": "plan", "op": "exists"}]})
    user = cdp.apps.codec.user_id(app.seq, 0)
    installation = cdp.apps.codec.installation_id(app.seq, 0)
    assert cdp.service.ingest_app_events(app_batch(app, 0, [0, 0, 1], ["Application Opened", "Order Completed",
                                                                       "Order Completed"], START,
                                                   items=[-1, 1, 1], values=[0, 2500, 2500])) == 3
    cdp.send({"type": "identify", "userId": user, "traits": {"plan": "gold"}})
    view = cdp.service.profile(cdp.partner, installation)
    assert view.user_id == user and view.traits == {"plan": "gold"} and view.audiences == [audience.id]
    orders = [e for e in view.events if e.event == "Order Completed"]
    assert orders[0].properties == {"category": "FASHION", "revenue": 25.0, "currency": "EUR"}
    assert cdp.members(audience.seq) == {user}


def test_replayed_app_batch_adds_nothing(cdp: Cdp) -> None:
    """A batch given twice (same seq) is counted once."""
    app = cdp.apps.register(cdp.partner, SPEC)
    audience = cdp.service.create_audience(cdp.partner, "Openers", {"event": "Application Opened", "atLeast": 2})
    batch = app_batch(app, 0, [0], ["Application Opened"], START)
    assert cdp.service.ingest_app_events(batch) == 1
    assert cdp.service.ingest_app_events(batch) == 0
    assert cdp.service.size(audience) == 0


def test_listeners_hear_events_and_changes_but_not_the_replay(cdp: Cdp, world: World, tmp_path: Path) -> None:
    """Ingested events (calls and app batches) and audience entries are told to listeners, once; a restart's
    replay of the log tells nothing again."""
    app = cdp.apps.register(cdp.partner, SPEC)
    cdp.service.create_audience(cdp.partner, "Openers", {"event": "Application Opened"})
    heard: list[EventsIngested] = []
    changes: list[AudienceChange] = []
    cdp.service.add_event_listener(heard.append)
    cdp.service.add_audience_listener(changes.append)
    cdp.send(track("u1", "Product Viewed"), {"type": "identify", "userId": "u1"})
    cdp.service.ingest_app_events(app_batch(app, 0, [0, 1], ["Application Opened"] * 2, START))
    assert [(n.events[c], len(n.profiles)) for n in heard for c in n.codes[:1].tolist()] == [
        ("Product Viewed", 1), ("Application Opened", 2)]
    assert [len(c.entered) for c in changes] == [2] and all(n.partner_id == cdp.partner for n in heard)
    cdp.store.close()
    store, apps, service = open_cdp(tmp_path / "cdp.db", world, cdp.clock)
    try:
        service.add_event_listener(heard.append)
        service.add_audience_listener(changes.append)
        apps.resume()
        service.resume()
        assert len(heard) == 2 and len(changes) == 1
        assert service.size(service.audiences(cdp.partner)[0]) == 2
    finally:
        store.close()
    cdp.store.open()  # the fixture closes it


# -- incremental membership equals a recomputation from scratch ------------------------------------------------

LogRow = tuple[str | None, str | None, str, dict[str, Any], int]
"""(user id, anonymous id, event name, properties, event time) of an event; a ``group`` call is logged with the
name ``GROUP_CALL``, the group id as ``properties["groupId"]`` and its traits as ``properties["traits"]``."""
GROUP_CALL = "<group>"


def brute_force(cdp: Cdp, definition: dict[str, Any], log: list[LogRow]) -> set[int]:
    """Members recomputed from the raw events: each event's profile is resolved now, counted if in its window; a
    group's traits are folded from its calls in order, a profile's groups are those of the calls resolving to it."""
    compiled = compile_definition(definition)
    space = cdp.service.space(cdp.partner)
    now_us = to_micros(cdp.clock.now)
    roots = space.roots().tolist()
    counts: dict[tuple[int, int], int] = {}
    group_traits: dict[str, dict[str, Any]] = {}
    groups: dict[int, set[str]] = {}
    for user, anon, name, props, time_us in log:
        p = space.lookup(user, anon)
        assert p is not None
        if name == GROUP_CALL:
            group_traits[props["groupId"]] = {**group_traits.get(props["groupId"], {}), **props["traits"]}
            groups.setdefault(p, set()).add(props["groupId"])
            continue
        for i, leaf in enumerate(compiled.leaves):
            if (isinstance(leaf, EventCondition) and leaf.event == name and now_us - leaf.window_us < time_us
                    and all(w.test_dict(props) for w in leaf.where)):
                counts[(p, i)] = counts.get((p, i), 0) + 1

    def holds(node: Node, p: int) -> bool:
        if node[0] == "and":
            return all(holds(c, p) for c in node[1])
        if node[0] == "or":
            return any(holds(c, p) for c in node[1])
        if node[0] == "not":
            return not holds(node[1], p)
        leaf = compiled.leaves[node[1]]
        if isinstance(leaf, EventCondition):
            n = counts.get((p, node[1]), 0)
            return n >= leaf.at_least and (leaf.at_most is None or n <= leaf.at_most)
        if isinstance(leaf, GroupTraitCondition):
            return any(leaf.predicate.test_dict(group_traits[g]) for g in groups.get(p, ()))
        return leaf.predicate.test_dict(space.traits_of(p))

    return {p for p in roots if holds(compiled.root, p)}


GROUP_VALUES = ["enterprise", "free", 1, True, "30", 30, 30.0, 5, None]
"""Group trait values: strings, numbers and booleans that look alike (``true`` is not ``1``, ``"30"`` not ``30``)."""
USERS = st.sampled_from(["u0", "u1", "u2", "u3"])
ANONS = st.sampled_from(["a0", "a1", "a2", "a3", "a4"])
GROUP_STEP = st.tuples(st.just("group"), st.one_of(st.none(), USERS), st.one_of(st.none(), ANONS),
                       st.sampled_from(["g0", "g1"]),
                       st.dictionaries(st.sampled_from(["plan", "seats"]), st.sampled_from(GROUP_VALUES), max_size=2))
STEP = st.one_of(
    st.tuples(st.just("track"), st.one_of(st.none(), USERS), ANONS, st.sampled_from(["View", "Buy"]),
              st.sampled_from(["X", "Y"]), st.integers(0, 72)),
    st.tuples(st.just("identify"), USERS, st.one_of(st.none(), ANONS), st.sampled_from(["gold", "free"])),
    st.tuples(st.just("alias"), st.one_of(USERS, ANONS), USERS),
    st.tuples(st.just("app"), st.integers(0, 5), st.sampled_from(["Product Viewed", "Order Completed"]),
              st.integers(-1, 1), st.integers(0, 4000)),
    st.tuples(st.just("tick"), st.integers(1, 48)),
    GROUP_STEP,
    GROUP_STEP,  # twice as likely: group calls by several members of a group are what the property is about
)
DEFINITIONS: list[dict[str, Any]] = [
    {"and": [{"event": "View", "where": [{"property": "c", "op": "eq", "value": "X"}], "withinHours": 48,
              "atLeast": 2}, {"not": {"event": "Buy", "withinHours": 24}}]},
    {"or": [{"trait": "plan", "op": "eq", "value": "gold"},
            {"event": "Order Completed", "where": [{"property": "revenue", "op": "gt", "value": 20}],
             "withinDays": 2}]},
    {"not": {"or": [{"event": "Product Viewed", "where": [{"property": "category", "op": "in",
                                                           "value": ["FASHION"]}], "withinHours": 30},
                    {"event": "View", "atMost": 1, "atLeast": 0}]}},
    {"groupTrait": "plan", "op": "exists"},
    {"or": [{"groupTrait": "plan", "op": "eq", "value": "enterprise"},
            {"and": [{"groupTrait": "seats", "op": "gte", "value": 5}, {"not": {"trait": "plan", "op": "exists"}}]}]},
]



def _comparison(op: str) -> st.SearchStrategy[dict[str, Any]]:
    """A valid comparison (``op`` and ``value``) on the generated group and profile traits."""
    scalars = st.sampled_from([v for v in GROUP_VALUES if v is not None] + ["gold"])
    value: st.SearchStrategy[Any] = {
        "eq": scalars, "neq": scalars, "in": st.lists(scalars, min_size=1, max_size=3),
        "contains": st.sampled_from(["ent", "fr", "3", "ol"]), "exists": st.none()}.get(
        op, st.sampled_from([1, 5, 29.5, 30]))
    return value.map(lambda v: {"op": op} if op == "exists" else {"op": op, "value": v})


COMPARISON = st.sampled_from(OPS).flatmap(_comparison)
LEAF = st.one_of(
    st.tuples(st.sampled_from(["plan", "seats"]), COMPARISON).map(lambda t: {"groupTrait": t[0], **t[1]}),
    COMPARISON.map(lambda c: {"trait": "plan", **c}),
    st.tuples(st.sampled_from(["View", "Buy", "Order Completed"]), st.sampled_from([24, 48]), st.integers(0, 2))
    .map(lambda t: {"event": t[0], "withinHours": t[1], "atLeast": t[2]}),
)
DEFINITION = st.recursive(LEAF, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
    st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
    inner.map(lambda x: {"not": x})), max_leaves=6)
"""Generated definitions mixing group-trait, trait and event conditions."""


def _depth(definition: dict[str, Any]) -> int:
    for kind in ("and", "or"):
        if kind in definition:
            return 1 + max(_depth(d) for d in definition[kind])
    return 1 + _depth(definition["not"]) if "not" in definition else 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=10, max_size=40),
       drawn=st.lists(DEFINITION.filter(lambda d: _depth(d) <= MAX_DEPTH), min_size=1, max_size=3))
def test_incremental_membership_equals_recomputation(world: World, tmp_path: Path, steps: list[tuple[Any, ...]],
                                                     drawn: list[dict[str, Any]]) -> None:
    """After any mix of calls (group calls among them), app events, merges and clock advances, every audience
    (fixed and generated definitions, made before and after the events) has exactly the members a recomputation
    from the raw events finds."""
    definitions = DEFINITIONS + drawn
    clock = Clock()
    store, apps, service = open_cdp(":memory:", world, clock)
    try:
        partner, _, _ = store.create_partner("acme", (), {}, "2025-06-02T08:00:00Z")
        source, _ = service.create_source(partner.id, "Backend", None)
        app = apps.register(partner.id, SPEC)
        cdp = Cdp(store, apps, service, clock, partner.id, source)
        early = [service.create_audience(partner.id, f"a{i}", d) for i, d in enumerate(definitions)]
        log: list[LogRow] = []
        app_seq = 0
        for step in steps:
            now_us = to_micros(clock.now)
            if step[0] == "track":
                _, user, anon, name, category, age_h = step
                at = clock.now - timedelta(hours=age_h)
                cdp.send({**track(user, name, anon=anon, c=category), "timestamp": at.isoformat()})
                log.append((user, anon, name, {"c": category}, min(to_micros(at), now_us)))
            elif step[0] == "identify":
                _, user, anon, plan = step
                cdp.send({"type": "identify", "userId": user, "anonymousId": anon, "traits": {"plan": plan}})
            elif step[0] == "alias":
                cdp.send({"type": "alias", "previousId": step[1], "userId": step[2]})
            elif step[0] == "app":
                _, row, name, item, cents = step
                service.ingest_app_events(app_batch(app, app_seq, [row], [name], clock.now, [item], [cents]))
                app_seq += 1
                props: dict[str, Any] = {}
                if item >= 0:
                    props["category"] = SPEC.categories[item]
                if cents > 0:
                    props.update(revenue=cents / 100, currency="EUR")
                log.append((apps.codec.user_id(app.seq, row), None, name, props, now_us))
            elif step[0] == "group":
                _, user, anon, group_id, traits = step
                if user is None and anon is None:
                    continue
                cdp.send(group(user, group_id, anon=anon, **traits))
                log.append((user, anon, GROUP_CALL, {"groupId": group_id, "traits": traits}, now_us))
            else:
                cdp.advance(timedelta(hours=step[1]))
        late = [service.create_audience(partner.id, f"b{i}", d) for i, d in enumerate(definitions)]
        for audience, definition in zip(early + late, definitions + definitions, strict=True):
            got = set(service.member_profiles(audience).tolist())
            assert got == brute_force(cdp, definition, log), (definition, audience.name)
        assert APP_EVENTS  # the app vocabulary is the contract's
    finally:
        store.close()


# -- restart ---------------------------------------------------------------------------------------------------

def test_profiles_and_audiences_survive_a_restart(world: World, tmp_path: Path) -> None:
    """After a restart the log rebuilds the same profiles, traits, memberships and de-duplication."""
    clock = Clock()
    path = tmp_path / "cdp.db"
    cdp, key = new_cdp(path, world, clock)
    store, apps, service, partner, source = cdp.store, cdp.apps, cdp.service, cdp.partner, cdp.source
    app = apps.register(partner, SPEC)
    audience = service.create_audience(partner, "Browsers", VIEWED_TWICE_NO_PURCHASE)
    buyers = service.create_audience(partner, "App buyers", {"event": "Order Completed", "withinDays": 30})
    cdp.send({**track(None, "Product Viewed", anon="a1", category="SHOES"), "messageId": "m1"},
             track(None, "Product Viewed", anon="a1", category="SHOES"),
             {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "gold"}},
             {"type": "alias", "previousId": "old", "userId": "u1"})
    service.ingest_app_events(app_batch(app, 0, [3, 4], ["Order Completed", "Product Viewed"], START))
    cdp.advance(timedelta(hours=1))
    before = (service.profile(partner, "u1"), service.member_profiles(audience).tolist(),
              service.member_user_ids(buyers))
    store.close()

    store, apps, service = open_cdp(path, world, clock)
    try:
        apps.resume()
        service.resume()
        after = (service.profile(partner, "u1"), service.member_profiles(service.audience(partner, audience.id))
                 .tolist(), service.member_user_ids(service.audience(partner, buyers.id)))
        assert after == before and before[1] and before[2]
        assert service.authenticate(key) == source
        again = service.normalise([TrackingCall.model_validate({**track(None, "Product Viewed", anon="a1"),
                                                                "messageId": "m1"})])
        assert service.ingest(source, again) == 0  # still a duplicate
        assert service.ingest_app_events(app_batch(app, 0, [3, 4], ["Order Completed", "Product Viewed"],
                                                   START)) == 0
    finally:
        store.close()


def test_group_memberships_survive_a_restart(world: World, tmp_path: Path) -> None:
    """The log's replay rebuilds the same groups, group traits and group-trait memberships."""
    clock = Clock()
    path = tmp_path / "cdp.db"
    cdp, _ = new_cdp(path, world, clock)
    store, service, partner = cdp.store, cdp.service, cdp.partner
    early = service.create_audience(partner, "Enterprise", ENTERPRISE)
    cdp.send(group("u1", "acme", plan="free", seats=3), group("u2", "acme"), group(None, "beta", anon="a3", seats=9),
             group("u4", "beta"), {"type": "identify", "userId": "u3", "anonymousId": "a3"})
    cdp.send(group("u2", "acme", plan="enterprise"), {"type": "alias", "previousId": "u4", "userId": "u5"},
             track("u5", "Seen"), group("u1", "gamma", plan="enterprise"), group("u1", "acme", plan="free"))
    late = service.create_audience(partner, "Seats", {"or": [{"groupTrait": "seats", "op": "gt", "value": 5},
                                                               {"not": {"groupTrait": "plan", "op": "exists"}}]})
    users = ("u1", "u2", "u3", "u5")
    before = ([service.profile(partner, u) for u in users], service.member_profiles(early).tolist(),
              service.member_profiles(late).tolist())
    assert before[1] == [service.space(partner).find("u1")] and len(before[2]) == 2
    store.close()

    store, apps, service = open_cdp(path, world, clock)
    try:
        apps.resume()
        service.resume()
        after = ([service.profile(partner, u) for u in users],
                 service.member_profiles(service.audience(partner, early.id)).tolist(),
                 service.member_profiles(service.audience(partner, late.id)).tolist())
        assert after == before
    finally:
        store.close()
