"""Reading scenario files: YAML (or JSON) → :class:`~scenarios.schema.Scenario`, with errors that point at the file.

Owns parsing with node positions and the translation of every problem — YAML syntax, pydantic validation,
cross-references — into :class:`ScenarioProblem` lines ``file:line:column: field: problem``. Timestamps stay
strings until pydantic reads them (YAML's own timestamp type would drop zones silently). It must not run
anything.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import yaml

from scenarios.schema import (
    ADMIN_ACTIONS,
    NAMED_ACTIONS,
    RULE_REFERENCE_KINDS,
    AreaSpec,
    CircleSpec,
    Gathering,
    Scenario,
    Step,
)
from simulator.clock import format_instant

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ScenarioProblem:
    """One problem in a scenario file."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.field or '(file)'}: {self.message}"


class ScenarioFileError(Exception):
    """A scenario file that cannot be used; ``problems`` has one entry per problem (each printed on one line)."""

    def __init__(self, problems: Sequence[ScenarioProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


class _Loader(yaml.SafeLoader):
    """Safe YAML without implicit timestamps (instants stay text for pydantic, which keeps their zone)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def field_path(loc: Loc) -> str:
    """``steps[3].advance.by`` from a location tuple."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _find(root: yaml.Node, loc: Loc, at_key: bool = False) -> tuple[yaml.Node, Loc]:
    """The deepest node along ``loc`` and the part of ``loc`` matched.

    With ``at_key`` the last key's node rather than its value: an unknown key is the key's fault, a bad value
    the value's.
    """
    node: yaml.Node = root
    matched: Loc = ()
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            hit = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if hit is None:
                continue  # a union tag or a missing key: stay here
            last = i == len(loc) - 1
            node, matched = (hit[0] if last and at_key else hit[1]), (*matched, part)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node, matched = node.value[part], (*matched, part)
    return node, matched


def _problem(file: str, root: yaml.Node | None, loc: Loc, message: str, missing: bool = False,
             at_key: bool = False) -> ScenarioProblem:
    if root is None:
        return ScenarioProblem(file, 1, 1, field_path(loc), message)
    node, matched = _find(root, loc, at_key)
    shown = loc if missing else matched
    return ScenarioProblem(file, node.start_mark.line + 1, node.start_mark.column + 1, field_path(shown), message)


def _message(error: Any) -> str:
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown field" + _did_you_mean(_clean_loc(tuple(error["loc"])))
    if error["type"] == "missing":
        return "required field missing"
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _did_you_mean(loc: Loc) -> str:
    """``; did you mean 'advance'?`` for an unknown key of a step close to a known one, else nothing.

    Known step keys are the actions and ``id``, ``at``, ``partner``, ``expect_error``.
    """
    if len(loc) == 3 and loc[0] == "steps" and isinstance(loc[2], str):
        close = difflib.get_close_matches(loc[2], list(Step.model_fields), n=1)
        if close:
            return f"; did you mean {close[0]!r}?"
    return ""


def _clean_loc(loc: Loc) -> Loc:
    """Drop pydantic's union and validator tags (``function-before[...]``, ``timedelta``) from a location."""
    tags = ("function-", "timedelta", "datetime", "list[", "dict[", "float", "int", "str", "bool", "none",
            "literal[", "nullable[", "is-instance[")
    return tuple(p for p in loc if not ((isinstance(p, str) and p.startswith(tags) and "[" in p) or p in tags))


def parse_text(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML/JSON text into plain data and its node tree (for positions)."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ScenarioFileError([ScenarioProblem(file, line, col, "", f"invalid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioFileError([ScenarioProblem(file, 1, 1, "", f"invalid YAML: {exc}")]) from None
    return data, root


def known_places(scenario: Scenario) -> dict[str, str]:
    """Named places of the scenario's city or country, lower-case name → name (a custom city has none)."""
    from simulator.city import preset_places

    if scenario.world.custom_city is not None:
        return {}
    return {p.name.lower(): p.name for p in preset_places(scenario.world.city, scenario.world.country)}


def _references(scenario: Scenario) -> list[tuple[Loc, str]]:
    """Cross-field problems pydantic cannot see: unknown partners, sinks and step ids, times before start."""
    problems: list[tuple[Loc, str]] = []
    partners = {p.name: p for p in scenario.partners}
    start = scenario.start

    def check_time(loc: Loc, when: datetime | timedelta) -> datetime:
        instant = scenario.instant(when)
        if instant < start:
            problems.append((loc, f"{format_instant(instant)} is before the scenario start {format_instant(start)}"))
        return instant

    places = known_places(scenario)

    def check_place(loc: Loc, name: str | None) -> None:
        if name is not None and name.lower() not in places:
            problems.append((loc, f"unknown place {name!r}; known: {', '.join(sorted(places.values())) or 'none'}"))

    def check_gathering(loc: Loc, g: Gathering) -> None:
        check_place((*loc, "place"), g.place)
        s = check_time((*loc, "start"), g.start)
        e = check_time((*loc, "end"), g.end)
        if e <= s:
            problems.append(((*loc, "end"), "must be after start"))

    def check_area(loc: Loc, area: AreaSpec | CircleSpec) -> None:
        check_place((*loc, "place"), area.place)

    def check_window(loc: Loc, start: datetime | timedelta | None, end: datetime | timedelta | None,
                     strictly: bool) -> None:
        if start is None or end is None:
            return
        s, e = check_time((*loc, "start"), start), check_time((*loc, "end"), end)
        if e < s or (strictly and e == s):
            problems.append(((*loc, "end"), "must be after start"))

    for i, event in enumerate(scenario.events):
        check_gathering(("events", i, "gathering"), event.gathering)
    seen: set[str] = set()
    campaigns: set[str] = set()
    kinds: dict[str, str] = {}  # step id → its action, for references that must name a step of one kind

    def check_ref(loc: Loc, ref: str | None, kind: str) -> None:
        if ref is not None and kinds.get(ref) != kind:
            problems.append((loc, f"no earlier {kind} step has id {ref!r}"))

    def check_trigger(loc: Loc, step: Step) -> None:
        dt = step.define_trigger
        assert dt is not None
        for key, kind in RULE_REFERENCE_KINDS.items():
            if key in dt.rule:
                check_ref((*loc, "rule", key), str(dt.rule[key]), kind)
        area = dt.rule.get("area")
        if isinstance(area, dict) and isinstance(area.get("place"), str):
            check_place((*loc, "rule", "area", "place"), area["place"])
        acting = partners.get(step.partner or "") or next(iter(partners.values()), None)
        for j, chain in enumerate(dt.steps):
            if chain.push is not None:
                check_ref((*loc, "steps", j, "push", "app"), chain.push.app, "register_app")
            if acting is not None and chain.webhook is not None and chain.webhook not in acting.sinks:
                problems.append(((*loc, "steps", j, "webhook"), f"partner {acting.name!r} has no sink "
                                 f"{chain.webhook!r}; its sinks: {', '.join(acting.sinks) or 'none'}"))

    for i, step in enumerate(scenario.steps):
        if step.action in NAMED_ACTIONS and step.action != "create_campaign" and step.id is None:
            problems.append((("steps", i), f"give {step.action} steps an id (later steps refer to it)"))
        if step.create_source is not None:
            check_ref(("steps", i, "create_source", "app"), step.create_source.app, "register_app")
        if step.track is not None:
            check_ref(("steps", i, "track", "source"), step.track.source, "create_source")
        if step.export_audience is not None:
            check_ref(("steps", i, "export_audience", "audience"), step.export_audience.audience, "define_audience")
        if step.send_push is not None:
            check_ref(("steps", i, "send_push", "app"), step.send_push.app, "register_app")
            check_ref(("steps", i, "send_push", "users"), step.send_push.users, "export_audience")
        if step.subscribe_topic is not None:
            check_ref(("steps", i, "subscribe_topic", "app"), step.subscribe_topic.app, "register_app")
            check_ref(("steps", i, "subscribe_topic", "users"), step.subscribe_topic.users, "export_audience")
        if step.set_app_permissions is not None:
            check_ref(("steps", i, "set_app_permissions", "app"), step.set_app_permissions.app, "register_app")
        if step.define_trigger is not None:
            check_trigger(("steps", i, "define_trigger"), step)
        if step.delete_trigger is not None:
            check_ref(("steps", i, "delete_trigger", "trigger"), step.delete_trigger.trigger, "define_trigger")
        if step.at is not None:
            check_time(("steps", i, "at"), step.at)
        if step.add_test_subscriber is not None:
            check_place(("steps", i, "add_test_subscriber", "place"), step.add_test_subscriber.place)
        if step.pin_subscriber is not None:
            check_place(("steps", i, "pin_subscriber", "place"), step.pin_subscriber.place)
        if step.add_gathering is not None:
            check_gathering(("steps", i, "add_gathering"), step.add_gathering)
        if step.subscribe_geofence is not None:
            sg = step.subscribe_geofence
            check_area(("steps", i, "subscribe_geofence", "area"), sg.area)
            if sg.expire_at is not None:
                check_time(("steps", i, "subscribe_geofence", "expire_at"), sg.expire_at)
            acting = partners.get(step.partner or "") or next(iter(partners.values()), None)
            if acting is not None and sg.sink is None and not acting.sinks:
                problems.append((("steps", i, "subscribe_geofence"),
                                 f"partner {acting.name!r} has no sinks; declare one under its sinks"))
            if acting is not None and sg.sink is not None and sg.sink not in acting.sinks:
                problems.append((("steps", i, "subscribe_geofence", "sink"),
                                 f"partner {acting.name!r} has no sink {sg.sink!r}; its sinks: "
                                 f"{', '.join(acting.sinks) or 'none'}"))
        if step.verify_location is not None:
            check_area(("steps", i, "verify_location", "area"), step.verify_location.area)
        if step.count_devices is not None:
            cd = step.count_devices
            check_area(("steps", i, "count_devices", "area"), cd.area)
            check_window(("steps", i, "count_devices"), cd.start, cd.end, strictly=False)
        if step.density is not None:
            check_area(("steps", i, "density", "area"), step.density.area)
            check_window(("steps", i, "density"), step.density.start, step.density.end, strictly=True)
        targeting = step.estimate or step.create_campaign
        if targeting is not None:
            for j, area in enumerate(targeting.areas):
                check_place(("steps", i, step.action, "areas", j, "place"), area.place)
        if step.create_campaign is not None:
            c = step.create_campaign
            if step.id is None:
                problems.append((("steps", i), "give create_campaign steps an id (checks and cancels refer to it)"))
            if scenario.instant(c.end) <= scenario.instant(c.start):
                problems.append((("steps", i, "create_campaign", "end"), "must be after start"))
        if step.cancel_campaign is not None and step.cancel_campaign.campaign not in campaigns:
            problems.append((("steps", i, "cancel_campaign", "campaign"),
                             f"no earlier create_campaign step has id {step.cancel_campaign.campaign!r}"))
        if step.partner is not None and step.partner not in partners:
            problems.append((("steps", i, "partner"), f"unknown partner {step.partner!r}"))
        by_partner = step.action not in ADMIN_ACTIONS and (step.request is None or step.request.caller == "partner")
        if step.partner is None and by_partner and not partners:
            problems.append((("steps", i, step.action), "this step needs a partner; declare one under partners"))
        if step.expect is not None:
            for j, check in enumerate(step.expect):
                if check.campaign is not None and check.campaign not in campaigns:
                    problems.append((("steps", i, "expect", j, "campaign"),
                                     f"no earlier create_campaign step has id {check.campaign!r}"))
                if check.step is not None and check.step not in seen:
                    problems.append((("steps", i, "expect", j, "step"),
                                     f"no earlier step has id {check.step!r}"))
                elif check.of in _CHECKED_KINDS:
                    check_ref(("steps", i, "expect", j, "step"), check.step, _CHECKED_KINDS[check.of])
                if check.partner is not None and check.partner not in partners:
                    problems.append((("steps", i, "expect", j, "partner"), f"unknown partner {check.partner!r}"))
                if check.sink is not None and not any(check.sink in p.sinks for p in partners.values()):
                    problems.append((("steps", i, "expect", j, "sink"), f"no partner has a sink {check.sink!r}"))
        if step.id is not None:
            seen.add(step.id)
            kinds[step.id] = step.action
            if step.create_campaign is not None:
                campaigns.add(step.id)
    if scenario.sweep is not None:
        for j, metric in enumerate(scenario.sweep.metrics):
            if metric.step is not None and metric.step not in seen:
                problems.append((("sweep", "metrics", j, "step"), f"no step has id {metric.step!r}"))
            if metric.campaign is not None and metric.campaign not in campaigns:
                problems.append((("sweep", "metrics", j, "campaign"),
                                 f"no create_campaign step has id {metric.campaign!r}"))
        if scenario.sweep.x is not None and scenario.sweep.x not in scenario.sweep.parameters:
            problems.append((("sweep", "x"), "must be one of the swept parameters"))
    return problems


_CHECKED_KINDS = {"audience": "define_audience", "push": "send_push", "app": "register_app",
                  "trigger": "define_trigger"}
"""Checks that observe what a step of one kind made: ``of`` → the step kind their ``step`` must name."""


def validate(data: Any, root: yaml.Node | None, file: str) -> Scenario:
    """Validate parsed data; every problem becomes one :class:`ScenarioProblem`."""
    if not isinstance(data, dict):
        raise ScenarioFileError([_problem(file, root, (), "a scenario file must be a mapping of fields")])
    try:
        scenario = Scenario.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [_problem(file, root, _clean_loc(tuple(e["loc"])), _message(e), e["type"] == "missing",
                             e["type"] == "extra_forbidden")
                    for e in exc.errors(include_url=False)]
        raise ScenarioFileError(_dedupe(problems)) from None
    refs = _references(scenario)
    if refs:
        raise ScenarioFileError([_problem(file, root, loc, msg) for loc, msg in refs])
    return scenario


def _dedupe(problems: list[ScenarioProblem]) -> list[ScenarioProblem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def load_text(text: str, file: str = "<scenario>") -> Scenario:
    """A scenario from YAML or JSON text."""
    data, root = parse_text(text, file)
    return validate(data, root, file)


def load(path: Path) -> Scenario:
    """A scenario from a file; unreadable files are one problem too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioFileError([ScenarioProblem(str(path), 1, 1, "", f"cannot read: {reason}")]) from None
    return load_text(text, str(path))


LIBRARY = Path(__file__).resolve().parent / "library"
"""The scenario library shipped with opsim."""


def library() -> list[tuple[str, Path]]:
    """Library scenarios by name (file stem), sorted."""
    return sorted((p.stem, p) for p in LIBRARY.glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    """A file path as given, or the library scenario of that name."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml", ".json") or "/" in name_or_path:
        return path
    return LIBRARY / f"{name_or_path}.yaml"


def headline(path: Path) -> str:
    """The first line of a scenario's description (without validating the whole file)."""
    try:
        data, _ = parse_text(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ScenarioFileError):
        return "(unreadable)"
    text = str(data.get("description", "")) if isinstance(data, dict) else ""
    return next((line.strip() for line in text.splitlines() if line.strip()), "(no description)")
