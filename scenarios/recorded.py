"""``opsim record-to-scenario``: a session recording (``opsim serve --record``) turned into a scenario replaying it.

Owns reading a recording (JSON Lines written by :mod:`gateway.http.recording`; a torn last line, as a crash
leaves it, is skipped with a note; any other bad line is one line naming it, exit code 2) and building a
scenario in the ordinary format: the same world (city, size, seed, start, tick, consent rates) and operator rules,
the partners (created with the scopes they had, named as the admin created them, else by their id), the clock
moved as recorded (admin advances become ``advance`` steps; every request happens ``at`` its recorded instant) and
every partner request and world-changing admin call as a generic ``request`` step expecting the recorded status
and, for fields that the same world and timeline reproduce (:data:`DETERMINISTIC_FIELDS`, the error ``code``),
the recorded values. Ids the gateway handed out earlier in the session are referred to as ``${step.field}`` and
webhook sinks point at the scenario's receiver, so the replay does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic
import yaml

from gateway.core.arguments import UsageError, output_file
from scenarios.export import atomic_path
from scenarios.schema import ConsentRatesSpec, OperatorSpec, Scenario

DETERMINISTIC_FIELDS = ("verificationResult", "matchRate", "count", "swapped", "devicePhoneNumberVerified",
                        "estimatedAudience", "roaming", "reachable", "status")
"""Top-level answer fields whose recorded values the replay checks (same world, same timeline, same answer)."""
SINK_KEYS = frozenset({"sink", "notificationUrl", "webhookUrl", "callbackUrl"})
"""Request fields holding the partner's webhook URL: in the replay they point at the scenario's receiver."""
SKIPPED_ADMIN = re.compile(r"^/admin/v1/(clock(/.*)?|recording|partners)$")
"""Admin calls not replayed as requests: the clock (the steps' times replay it), recording, partner creation."""
MIN_ID_LENGTH = 6
"""Shorter answer ids are not substituted in later requests (a short string may occur by chance)."""


class RecordingError(Exception):
    """A recording that cannot be read or replayed (one line: file, line number, problem); exit code 2."""


def read_recording(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """The session line, the request lines and notes (a skipped torn last line) of a recording file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    raw_lines = text.split("\n")
    notes: list[str] = []
    session: dict[str, Any] | None = None
    requests: list[dict[str, Any]] = []
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            if not isinstance(line, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if number == len(raw_lines):  # no newline after it: the writer was cut off mid-line
                notes.append(f"{path}:{number}: incomplete last line skipped (the recording was cut off)")
                continue
            raise RecordingError(f"{path}:{number}: not a JSON object: {exc}") from None
        if session is None:
            if line.get("kind") != "session" or not isinstance(line.get("world"), dict):
                raise RecordingError(f"{path}:{number}: expected the session line first "
                                     "(is this a recording of `opsim serve --record`?)")
            session = line
            continue
        if line.get("kind") != "request":
            raise RecordingError(f"{path}:{number}: unknown line kind {line.get('kind')!r}")
        problem = _request_problem(line)
        if problem is not None:
            raise RecordingError(f"{path}:{number}: {problem}")
        line["_line"] = number
        requests.append(line)
    if session is None:
        raise RecordingError(f"{path}: empty recording (no session line)")
    return session, requests, notes


def _request_problem(line: dict[str, Any]) -> str | None:
    for key, kind in (("caller", str), ("at", str), ("method", str), ("path", str), ("status", int)):
        if not isinstance(line.get(key), kind):
            return f"{key}: missing or not a {kind.__name__}"
    if line["caller"] == "partner" and not isinstance(line.get("partner"), str):
        return "partner: missing on a partner request"
    for key in ("at", "now"):
        if key in line:
            try:
                datetime.fromisoformat(line[key])
            except (TypeError, ValueError):
                return f"{key}: not an instant: {line[key]!r}"
    return None


def to_scenario(session: dict[str, Any], requests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The scenario (as plain data, validated) that replays a recorded session."""
    world = session["world"]
    if world.get("customCity"):
        raise RecordingError("the session ran on a custom GeoJSON city; replay it with a scenario that names it")
    partners = _partners(requests)
    slugs = {pid: _slug(p["name"]) for pid, p in partners.items()}
    scenario: dict[str, Any] = {
        "name": name,
        "description": f"Replay of a recorded session ({len(requests)} requests).",
        "seed": world["seed"], "start": world["start"], "tick": world["tickSeconds"],
        "world": {k: v for k, v in (
            ("city", world["city"]), ("country", world.get("country")), ("subscribers", world["subscribers"]),
            ("fictional_numbers", world.get("fictionalNumbers", False)),
            ("roaming_share", world.get("roamingShare")), ("locale", world.get("locale")),
            ("consent", _consent(world.get("consent")))) if v is not None},
        "operator": {k: v for k, v in (session.get("operator") or {}).items() if k in OperatorSpec.model_fields},
        "partners": [{"name": p["name"], "scopes": p["scopes"],
                      **({"sinks": {"main": f"/hooks/{slugs[pid]}"}} if p["sinks"] else {})}
                     for pid, p in partners.items()],
    }
    steps: list[dict[str, Any]] = []
    now = world["start"]
    if isinstance(session.get("at"), str) and _later(session["at"], now):  # recording started mid-session
        steps.append({"advance": {"to": session["at"]}})
        now = session["at"]
    ids: dict[str, str] = {}  # an id the gateway answered with → ${step.field}
    for line in requests:
        if line["caller"] == "admin" and line["path"] == "/admin/v1/clock/advance":
            if 200 <= line["status"] < 300 and isinstance(line.get("now"), str) and _later(line["now"], now):
                steps.append({"advance": {"to": line["now"]}})
                now = line["now"]
            continue
        if line["caller"] == "public" or (line["caller"] == "admin" and SKIPPED_ADMIN.match(line["path"])):
            continue
        step_id = f"r{line['_line']}"
        spec: dict[str, Any] = {"method": line["method"], "path": _substitute(line["path"], ids)}
        if line.get("query"):
            spec["query"] = _substitute({str(k): str(v) for k, v in line["query"].items()}, ids)
        if line.get("body") is not None:
            body = line["body"]
            if line["caller"] == "partner":
                body = _sinks(body, f"<inbox>/hooks/{slugs[line['partner']]}")
            spec["body"] = _substitute(body, ids)
        if line["caller"] == "admin":
            spec["caller"] = "admin"
        spec["status"] = line["status"]
        fields = _fields(line.get("answer"), line["status"])
        if fields:
            spec["fields"] = fields
        step: dict[str, Any] = {"id": step_id}
        if _later(line["at"], now):
            step["at"] = line["at"]
            now = line["at"]
        if line["caller"] == "partner":
            step["partner"] = partners[line["partner"]]["name"]
        step["request"] = spec
        steps.append(step)
        if 200 <= line["status"] < 300:
            _harvest(line.get("answer"), step_id, ids)
    if not any("request" in s for s in steps):
        raise RecordingError("the recording holds no partner or admin request to replay")
    scenario["steps"] = steps
    try:
        Scenario.model_validate(scenario)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RecordingError(f"cannot express the session as a scenario: {where}: {first['msg']}") from None
    return scenario


def _partners(requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Partner wire id → name, scopes and whether it gave a webhook sink (in order of appearance)."""
    partners: dict[str, dict[str, Any]] = {}
    for line in requests:
        answer = line.get("answer")
        if (line["caller"] == "admin" and line["path"] == "/admin/v1/partners" and line["method"] == "POST"
                and 200 <= line["status"] < 300 and isinstance(answer, dict) and isinstance(answer.get("id"), str)):
            scopes = answer.get("scopes")
            partners[answer["id"]] = {"name": str(answer.get("name") or answer["id"]),
                                      "scopes": [str(s) for s in scopes] if isinstance(scopes, list) else [],
                                      "created": True, "sinks": False}
        elif line["caller"] == "partner":
            entry = partners.setdefault(line["partner"], {"name": line["partner"], "scopes": [], "created": False,
                                                           "sinks": False})
            if not entry["created"]:  # not seen created: the scopes its calls carried
                entry["scopes"] = sorted(set(entry["scopes"]) | set(line.get("scopes") or []))
            if _has_sink(line.get("body")):
                entry["sinks"] = True
    names: set[str] = set()
    for entry in partners.values():  # every created one, called or not: the ids of later partners line up
        while entry["name"] in names:
            entry["name"] += "-2"
        names.add(entry["name"])
    return partners


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "partner"


def _consent(rates: Any) -> dict[str, Any] | None:
    if not isinstance(rates, dict):
        return None
    return {k: v for k, v in rates.items() if k in ConsentRatesSpec.model_fields and v is not None}


def _later(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) > datetime.fromisoformat(b)


def _has_sink(body: Any) -> bool:
    if isinstance(body, dict):
        return any((k in SINK_KEYS and isinstance(v, str) and v.startswith("http")) or _has_sink(v)
                   for k, v in body.items())
    return isinstance(body, list) and any(_has_sink(v) for v in body)


def _sinks(body: Any, url: str) -> Any:
    """``body`` with every webhook URL replaced by the scenario receiver's ``url``."""
    if isinstance(body, dict):
        return {k: url if k in SINK_KEYS and isinstance(v, str) and v.startswith("http") else _sinks(v, url)
                for k, v in body.items()}
    if isinstance(body, list):
        return [_sinks(v, url) for v in body]
    return body


def _fields(answer: Any, status: int) -> dict[str, Any]:
    """The answer fields the replay must reproduce: the error code, or the deterministic top-level fields."""
    if not isinstance(answer, dict):
        return {}
    if status >= 400:
        return {"code": answer["code"]} if isinstance(answer.get("code"), str) else {}
    return {k: answer[k] for k in DETERMINISTIC_FIELDS
            if k in answer and isinstance(answer[k], str | int | float | bool | None)}


def _harvest(answer: Any, step_id: str, ids: dict[str, str]) -> None:
    """Remember the ids an answer handed out (``id``, ``…Id``), to refer to them in later requests."""
    if not isinstance(answer, dict):
        return
    for key, value in answer.items():
        if (key == "id" or key.endswith("Id")) and isinstance(value, str) and len(value) >= MIN_ID_LENGTH:
            ids.setdefault(value, f"${{{step_id}.{key}}}")


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every earlier answered id replaced by its reference (longest first)."""
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    if isinstance(value, str):
        for known in sorted(ids, key=len, reverse=True):
            if known in value:
                value = value.replace(known, ids[known])
    return value


def scenario_name(path: Path) -> str:
    """A scenario name (an id) from the recording's file name."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-")
    return ("replay-" + name)[:64] if not name[:1].isalpha() else name[:64]


def write_scenario(scenario: dict[str, Any], out: Path) -> None:
    """Write the scenario as YAML (whole or not at all)."""
    text = "# Written by `opsim record-to-scenario`; run it with `opsim run`.\n" + yaml.safe_dump(
        scenario, sort_keys=False, allow_unicode=True, width=120)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")


# -- the command -----------------------------------------------------------------------------------------
def configure(p: argparse.ArgumentParser) -> None:
    """Options of ``opsim record-to-scenario``."""
    p.add_argument("file", type=Path, help="a recording written by `opsim serve --record FILE`")
    p.add_argument("--out", type=Path, default=None,
                   help="scenario file to write (default: the recording's name with .yaml)")
    p.add_argument("--name", default=None, help="scenario name (default: from the recording's file name)")


def run(args: argparse.Namespace) -> int:
    """Convert; a bad recording is one line naming the file and line, exit code 2."""
    out = args.out or args.file.with_suffix(".yaml")
    if out.resolve() == args.file.resolve():
        raise UsageError("--out: would overwrite the recording")
    output_file(out, "--out")
    try:
        session, requests, notes = read_recording(args.file)
        scenario = to_scenario(session, requests, args.name or scenario_name(args.file))
    except RecordingError as exc:
        raise UsageError(str(exc)) from None
    for note in notes:
        print(f"opsim record-to-scenario: note: {note}", file=sys.stderr)
    write_scenario(scenario, out)
    print(f"wrote {out}: {sum('request' in s for s in scenario['steps'])} requests, "
          f"{sum('advance' in s for s in scenario['steps'])} clock moves, {len(scenario['partners'])} partners; "
          f"run it with `opsim run {out}`")
    return 0
