"""Making a restarted gateway the same operator: world options check, admin journal, replay.

A world is a deterministic function of its options and of time, except for what the operator changed through
the admin API. So the store keeps (1) the options the world was built with, (2) a journal of every
world-changing admin operation stamped with the sim time it was applied at, and (3) checkpoints of the clock.
Restoring = build the same world, replay the journal in sim-time order (``run_until(at)`` then apply), then run
to the last checkpoint. Clock mode and pace are start options (``opsim serve --clock/--pace``), not restored.
Services whose partner requests changed in-memory state outside the world (direct messages counted into the
frequency caps) hand :func:`restore` :data:`Replay` effects to run at their instants among the entries.

This module owns the op names and how each is applied to a world; it must not touch HTTP or partners.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.core.store import Store, StoreError
from gateway.wire.base import format_instant
from simulator.world import World, WorldConfig

WORLD_OPTIONS_KEY = "world_options"


def world_options(config: WorldConfig) -> dict[str, Any]:
    """The options that determine a world, as JSON (what a restore must match)."""
    options: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "start":
            value = format_instant(value)
        elif f.name == "custom_city":
            value = None if value is None else getattr(value, "name", repr(value))
        elif value is not None and not isinstance(value, str | int | float | bool):
            value = repr(value)
        options[f.name] = value
    return options


def check_world_options(store: Store, config: WorldConfig) -> None:
    """Remember the world's options in a fresh database; refuse a database made for another world."""
    wanted = world_options(config)
    saved = store.get_meta(WORLD_OPTIONS_KEY)
    if saved is None:
        store.set_meta(WORLD_OPTIONS_KEY, wanted)
        return
    differences = [f"{name}={saved.get(name)!r} (now {wanted.get(name)!r})"
                   for name in sorted(set(saved) | set(wanted)) if saved.get(name) != wanted.get(name)]
    if differences:
        raise StoreError(f"database {store.path} belongs to a world built with " + ", ".join(differences)
                         + "; start with the same world options or use another --db")


def _set_consent(world: World, args: dict[str, Any]) -> None:
    world.set_consent(world.find_subscriber(args["msisdn"]), args["purpose"], args.get("channel"),
                      bool(args["granted"]), source="ADMIN")


def _pin(world: World, args: dict[str, Any]) -> None:
    world.pin(world.find_subscriber(args["msisdn"]), float(args["latitude"]), float(args["longitude"]))


def _release(world: World, args: dict[str, Any]) -> None:
    world.release(world.find_subscriber(args["msisdn"]))


def _add_test_subscriber(world: World, args: dict[str, Any]) -> None:
    world.add_test_subscriber(args["msisdn"], profile=args.get("profile"), consent=args.get("consent"),
                              latitude=args.get("latitude"), longitude=args.get("longitude"))


def _sim_swap(world: World, args: dict[str, Any]) -> None:
    world.sim_swap(world.find_subscriber(args["msisdn"]))


def parse_instant(text: str) -> datetime:
    """An instant journaled with :func:`~gateway.wire.base.format_instant`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _add_gathering(world: World, args: dict[str, Any]) -> None:
    world.add_gathering(args["name"], parse_instant(args["start"]), parse_instant(args["end"]),
                        place=args.get("place"), latitude=args.get("latitude"), longitude=args.get("longitude"),
                        share=args.get("share"), count=args.get("count"),
                        arrive_before=timedelta(seconds=float(args["arrive_before_s"])))


def _advance(world: World, args: dict[str, Any]) -> None:
    """Clock moves need no action on replay: the replay loop already ran the world to the entry's instant."""


APPLY: dict[str, Callable[[World, dict[str, Any]], None]] = {
    "set_consent": _set_consent,
    "pin": _pin,
    "release": _release,
    "add_test_subscriber": _add_test_subscriber,
    "advance": _advance,
    "sim_swap": _sim_swap,
    "add_gathering": _add_gathering,
}
"""How each journaled operation is applied to a world (live and on replay alike)."""


def apply(world: World, op: str, args: dict[str, Any]) -> None:
    """Apply one operation to the world now (raises what the world raises)."""
    APPLY[op](world, args)


Replay = tuple[datetime, Callable[[], None]]
"""An effect a service re-applies while the world is replayed: what a partner request did at that instant to
in-memory state (frequency caps...), applied like a journal entry once the world has run to the instant."""


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did."""

    entries: int
    restored_to: str | None


def restore(store: Store, world: World, replays: Sequence[Replay] = ()) -> RestoreReport:
    """Bring a freshly built world to the state the journal and clock checkpoint describe.

    ``replays`` are run at their instants among the journal entries (after the entries of the same instant: an
    admin operation such as adding a test phone came before the requests that used it).
    """
    entries = store.journal()
    saved = store.saved_clock()
    if not entries and saved is None:
        return RestoreReport(0, None)
    first = entries[0].at if entries else saved
    assert first is not None
    if world.clock.now > first:
        raise StoreError(f"cannot restore {store.path}: the world is already at {format_instant(world.clock.now)}, "
                         f"after the first saved instant {format_instant(first)}")
    pending = sorted(replays, key=lambda r: r[0])
    done = 0
    for entry in entries:
        while done < len(pending) and pending[done][0] < entry.at:
            world.run_until(pending[done][0])
            pending[done][1]()
            done += 1
        world.run_until(entry.at)
        if entry.op not in APPLY:
            raise StoreError(f"journal of {store.path} has an operation this opsim does not know: {entry.op}")
        apply(world, entry.op, entry.args)
    for at, effect in pending[done:]:
        world.run_until(at)
        effect()
    target = max([t for t in (saved, entries[-1].at if entries else None,
                              pending[-1][0] if pending else None) if t is not None])
    world.run_until(target)
    return RestoreReport(len(entries), format_instant(target))
