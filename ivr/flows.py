"""Flows as data: YAML files validated into frozen nodes, and a registry that reloads them.

A flow file is one mapping: `start`, `on_service_error`, `nodes` (id -> node)
and optional `language`. Every problem is reported as a FlowError naming the
file and the node. The registry re-reads a file when its modification time
(or that of a calendar it uses) changes; if the new version is broken the old
flow keeps running and the error is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from citizen.calendar import WEEKDAYS, BusinessHours, TimeRange, parse_range
from ivr.agi import is_sound_name
from ivr.exceptions import FlowError
from ivr.nodes import (
    Branch,
    Callback,
    CallbackOffer,
    Collect,
    ConfirmPerson,
    Hangup,
    Hours,
    Identify,
    Menu,
    MenuOption,
    Node,
    Notice,
    Play,
    Queue,
    RecordSurvey,
    RequestStatusLookup,
    Retry,
    SetValues,
    Transfer,
    prompts,
    targets,
)

log = logging.getLogger(__name__)

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EXTENSION = re.compile(r"^[A-Za-z0-9_+*#-]{1,32}$")
_CHANNEL_VAR = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Values end up in the dialplan (GotoIf expressions, Queue arguments): keep them plain.
_SAFE_VALUE = re.compile(r"^[\w .:/@+-]{0,128}$")
_DIGIT_KEY = re.compile(r"^[0-9*#]$")
VALIDATORS = ("digits", "cedula", "year")


def is_plain_value(value: str) -> bool:
    """True for values safe to hand to the dialplan (queue names, topics)."""
    return bool(_QUEUE.fullmatch(value))


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    source: str
    start: str
    nodes: Mapping[str, Node]
    on_service_error: str
    language: str = "es"
    dependencies: tuple[Path, ...] = ()

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def all_prompts(self) -> set[str]:
        return {p for node in self.nodes.values() for p in prompts(node)}

    def business_hours(self, node_id: str | None = None) -> BusinessHours:
        """The business hours this flow answers calls in (its `hours` node, or
        the first one), so that tickets count the very hours and holidays the
        phone line keeps, calendar file included."""
        for key, node in self.nodes.items():
            if isinstance(node, Hours) and (node_id is None or key == node_id):
                return node.hours
        where = f"node {node_id!r}" if node_id else "an hours node"
        raise ValueError(f"flow {self.name} has no {where}")


class _Fields:
    """Typed access to one node's YAML mapping; every error names file and node."""

    def __init__(self, source: str, node_id: str, raw: Mapping[str, Any]) -> None:
        self.source = source
        self.node_id = node_id
        self.raw = raw
        self.used: set[str] = {"type"}

    def fail(self, problem: str) -> FlowError:
        return FlowError(self.source, self.node_id, problem)

    def _get(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.raw:
            if default is ...:
                raise self.fail(f"missing '{key}'")
            return default
        return self.raw[key]

    def text(self, key: str, default: Any = ..., pattern: re.Pattern[str] | None = None) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise self.fail(f"'{key}' must be text")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(f"'{key}' has an invalid value {value!r}")
        return value

    def integer(self, key: str, default: Any = ..., low: int = 0, high: int = 10**6) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"'{key}' must be a whole number")
        if not low <= value <= high:
            raise self.fail(f"'{key}' must be between {low} and {high}")
        return value

    def prompt(self, key: str, default: Any = ...) -> str:
        value: str = self.text(key, default)
        if not is_sound_name(value):
            raise self.fail(f"'{key}' is not a valid sound name: {value!r}")
        return value

    def prompt_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(f"'{key}' must be a non-empty list of sound names")
        for item in value:
            if not isinstance(item, str) or not is_sound_name(item):
                raise self.fail(f"'{key}' holds an invalid sound name: {item!r}")
        return tuple(value)

    def mapping(self, key: str, default: Any = ...) -> Mapping[str, Any]:
        value = self._get(key, default)
        if not isinstance(value, dict):
            raise self.fail(f"'{key}' must be a mapping")
        return {str(k): v for k, v in value.items()}

    def retry(self) -> Retry:
        base = Retry()
        return Retry(
            attempts=self.integer("attempts", base.attempts, 1, 5),
            no_input_prompt=self.prompt("no_input_prompt", base.no_input_prompt),
            invalid_prompt=self.prompt("invalid_prompt", base.invalid_prompt),
        )

    def check_unknown(self) -> None:
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise self.fail(f"unknown field(s): {', '.join(unknown)}")


def _parse_hours(f: _Fields, base_dir: Path, deps: list[Path]) -> BusinessHours:
    tz = f.text("timezone", "America/Montevideo")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise f.fail(f"unknown time zone {tz!r}") from err
    weekly: dict[str, tuple[TimeRange, ...]] = {}
    for day, ranges in f.mapping("schedule").items():
        if day not in WEEKDAYS:
            raise f.fail(f"schedule day must be one of {', '.join(WEEKDAYS)}, got {day!r}")
        if isinstance(ranges, str):
            ranges = [ranges]
        if not isinstance(ranges, list):
            raise f.fail(f"schedule for {day} must be a list like ['08:00-18:00']")
        try:
            weekly[day] = tuple(parse_range(str(r)) for r in ranges)
        except ValueError as err:
            raise f.fail(str(err)) from err
    national = f._get("national_holidays", True)
    if not isinstance(national, bool):
        raise f.fail("'national_holidays' must be true or false")
    holidays: set[dt.date] = set()
    open_days: set[dt.date] = set()
    calendar = f.text("calendar", None)
    if calendar is not None:
        path = (base_dir / calendar).resolve()
        deps.append(path)
        holidays, open_days = _load_calendar(f, path)
    return BusinessHours(tz, weekly, national, frozenset(holidays), frozenset(open_days))


def _load_calendar(f: _Fields, path: Path) -> tuple[set[dt.date], set[dt.date]]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise f.fail(f"calendar {path.name} unreadable: {err}") from err
    if not isinstance(raw, dict):
        raise f.fail(f"calendar {path.name} must be a mapping")

    def dates(key: str) -> set[dt.date]:
        out: set[dt.date] = set()
        for entry in raw.get(key) or []:
            value = entry.get("date") if isinstance(entry, dict) else entry
            if isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError as err:
                    raise f.fail(f"calendar {path.name}: bad date {value!r}") from err
            if not isinstance(value, dt.date):
                raise f.fail(f"calendar {path.name}: '{key}' entries need a date")
            out.add(value)
        return out

    return dates("holidays"), dates("open_days")


def _parse_node(source: str, node_id: str, raw: Any, base_dir: Path, deps: list[Path]) -> Node:
    if not _ID.fullmatch(node_id):
        raise FlowError(source, node_id, "node ids are lower-case words (a-z, 0-9, _)")
    if not isinstance(raw, dict):
        raise FlowError(source, node_id, "a node must be a mapping")
    f = _Fields(source, node_id, raw)
    kind = f.text("type")
    node: Node
    if kind == "play":
        node = Play(node_id, f.prompt_list("prompts"), f.text("next"))
    elif kind == "notice":
        version = f.text("version", pattern=_SAFE_VALUE)
        node = Notice(node_id, f.prompt_list("prompts"), version, f.text("next"))
    elif kind == "menu":
        options: dict[str, MenuOption] = {}
        for digit, target in f.mapping("options").items():
            if not _DIGIT_KEY.fullmatch(digit):
                raise f.fail(f"menu keys are single digits, got {digit!r}")
            if isinstance(target, str):
                options[digit] = MenuOption(target, digit)
            elif isinstance(target, dict) and isinstance(target.get("next"), str):
                label = str(target.get("label", digit))
                if not _SAFE_VALUE.fullmatch(label) or "," in label:
                    raise f.fail(f"option {digit}: invalid label {label!r}")
                options[digit] = MenuOption(target["next"], label)
            else:
                raise f.fail(f"option {digit} must be a node id or {{next, label}}")
        if not options:
            raise f.fail("a menu needs at least one option")
        node = Menu(
            node_id,
            f.prompt("prompt"),
            options,
            f.text("fallback"),
            f.integer("timeout_ms", 5000, 500, 60000),
            f.retry(),
        )
    elif kind == "collect":
        validator = f.text("validator", "digits")
        if validator not in VALIDATORS:
            raise f.fail(f"validator must be one of {', '.join(VALIDATORS)}")
        min_digits = f.integer("min_digits", 1, 1, 32)
        max_digits = f.integer("max_digits", min_digits, 1, 32)
        if max_digits < min_digits:
            raise f.fail("max_digits is below min_digits")
        node = Collect(
            node_id,
            f.prompt("prompt"),
            f.text("store", pattern=_ID),
            f.text("next"),
            f.text("fallback"),
            min_digits,
            max_digits,
            validator,
            f.integer("min_value", None),
            f.integer("max_value", None),
            f.integer("timeout_ms", 6000, 500, 60000),
            f.retry(),
        )
    elif kind == "identify":
        by = f.text("by")
        if by not in ("cedula", "phone"):
            raise f.fail("'by' must be cedula or phone")
        node = Identify(
            node_id,
            by,
            f.text("found"),
            f.text("not_found"),
            f.text("cedula_from", "cedula", pattern=_ID),
            f.text("on_error", None),
        )
    elif kind == "request_status":
        statuses = {}
        for code, prompt in f.mapping("statuses").items():
            if not isinstance(prompt, str) or not is_sound_name(prompt):
                raise f.fail(f"status {code}: invalid sound name {prompt!r}")
            statuses[code] = prompt
        node = RequestStatusLookup(
            node_id,
            f.text("year_from", pattern=_ID),
            f.text("number_from", pattern=_ID),
            statuses,
            f.prompt("unknown_status_prompt"),
            f.prompt("intro_prompt"),
            f.text("next"),
            f.text("not_found"),
            f.text("on_error", None),
        )
    elif kind == "hours":
        node = Hours(node_id, _parse_hours(f, base_dir, deps), f.text("open"), f.text("closed"))
    elif kind == "queue":
        callback = None
        if "callback" in raw:
            cb = _Fields(source, node_id, f.mapping("callback"))
            callback = CallbackOffer(
                float(cb.integer("threshold_seconds", low=0, high=86400)),
                cb.prompt("offer_prompt"),
                cb.prompt("confirm_prompt"),
                cb.text("accept_digit", "1", pattern=_DIGIT_KEY),
                cb.integer("timeout_ms", 5000, 500, 60000),
            )
            cb.check_unknown()
        node = Queue(
            node_id,
            f.text("queue", pattern=_QUEUE),
            f.integer("priority", 0, 0, 100),
            f.integer("max_wait", 300, 1, 86400),
            f.text("topic", None, pattern=_SAFE_VALUE),
            callback,
        )
    elif kind == "transfer":
        node = Transfer(node_id, f.text("extension", pattern=_EXTENSION))
    elif kind == "set":
        variables = {}
        for name, value in f.mapping("variables", {}).items():
            if not _CHANNEL_VAR.fullmatch(name):
                raise f.fail(f"variable names are upper-case words, got {name!r}")
            text = str(value)
            if not _SAFE_VALUE.fullmatch(text):
                raise f.fail(f"variable {name}: value has characters not allowed: {text!r}")
            variables[name] = text
        node = SetValues(
            node_id, f.text("next"), variables, f.text("topic", None, pattern=_SAFE_VALUE)
        )
    elif kind == "branch":
        cases = {str(k): str(v) for k, v in f.mapping("cases").items()}
        node = Branch(node_id, f.text("on"), cases, f.text("default"))
    elif kind == "record_survey":
        node = RecordSurvey(
            node_id,
            f.text("score_from", pattern=_ID),
            f.text("next"),
            f.text("on_error", None),
        )
    elif kind == "confirm_person":
        node = ConfirmPerson(
            node_id,
            f.text("confirmed"),
            f.text("not_confirmed"),
            f.prompt("prompt"),
            f.prompt("name_intro_prompt"),
            f.prompt("name_outro_prompt"),
            f.text("accept_digit", "1", pattern=_DIGIT_KEY),
            f.integer("timeout_ms", 5000, 500, 60000),
        )
    elif kind == "callback":
        node = Callback(
            node_id,
            f.text("queue", pattern=_QUEUE),
            f.prompt("confirm_prompt"),
            f.text("unavailable"),
            f.text("on_error", None),
        )
    elif kind == "hangup":
        node = Hangup(node_id)
    else:
        raise f.fail(f"unknown node type {kind!r}")
    f.check_unknown()
    return node


def parse_flow(text: str, source: str, name: str, base_dir: Path) -> Flow:
    """Validate one flow document; raises FlowError naming `source` and the node."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise FlowError(source, None, f"not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise FlowError(source, None, "a flow file must be a mapping")
    unknown = set(raw) - {"start", "on_service_error", "nodes", "language", "description"}
    if unknown:
        raise FlowError(source, None, f"unknown top-level field(s): {', '.join(sorted(unknown))}")
    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise FlowError(source, None, "'nodes' must be a non-empty mapping")
    deps: list[Path] = []
    nodes = {
        str(node_id): _parse_node(source, str(node_id), spec, base_dir, deps)
        for node_id, spec in raw_nodes.items()
    }
    for node_id, node in nodes.items():
        for target in targets(node):
            if target not in nodes:
                raise FlowError(source, node_id, f"leads to unknown node '{target}'")
    for key in ("start", "on_service_error"):
        entry = raw.get(key)
        if not isinstance(entry, str) or entry not in nodes:
            raise FlowError(source, None, f"'{key}' must name a node")
    language = raw.get("language", "es")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", language):
        raise FlowError(source, None, "'language' must look like es or es_UY")
    return Flow(
        name,
        source,
        raw["start"],
        nodes,
        raw["on_service_error"],
        language,
        tuple(deps),
    )


def load_flow(path: Path) -> Flow:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise FlowError(str(path), None, f"cannot read: {err}") from err
    flow = parse_flow(text, str(path), path.stem, path.parent)
    return Flow(
        flow.name,
        flow.source,
        flow.start,
        flow.nodes,
        flow.on_service_error,
        flow.language,
        (path.resolve(), *flow.dependencies),
    )


def _mtimes(paths: tuple[Path, ...]) -> tuple[float, ...]:
    out = []
    for p in paths:
        try:
            out.append(p.stat().st_mtime_ns / 1e9)
        except OSError:
            out.append(-1.0)
    return tuple(out)


@dataclass
class _Entry:
    flow: Flow
    mtimes: tuple[float, ...]
    failed_mtimes: tuple[float, ...] | None = None


@dataclass
class FlowRegistry:
    """The flows of one directory, by file stem; reloaded when their files change.

    `get` checks modification times at most once per `check_interval` seconds,
    so a busy server does not stat files on every call.
    """

    directory: Path
    check_interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    # Flows served from another file when `directory` has none of that name
    # (an operator's folder without survey.yaml still gets the shipped survey).
    fallbacks: Mapping[str, Path] = field(default_factory=dict)
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _last_check: float = float("-inf")

    def _files(self) -> list[tuple[str, Path]]:
        own = {path.stem: path for path in sorted(self.directory.glob("*.yaml"))}
        for name, path in self.fallbacks.items():
            if name not in own and path.is_file():
                if name not in self._entries:
                    log.info("flow %s: none in %s, using %s", name, self.directory, path)
                own[name] = path
        return sorted(own.items())

    def reload(self) -> list[FlowError]:
        """Re-read changed, new and removed files now; returns the errors met (also logged)."""
        self._last_check = self.clock()
        errors: list[FlowError] = []
        seen: set[str] = set()
        for name, path in self._files():
            seen.add(name)
            entry = self._entries.get(name)
            if entry is not None and entry.flow.source != str(path):
                entry = None  # the folder gained (or lost) its own file of that name
            if entry is not None:
                current = _mtimes(entry.flow.dependencies)
                if current == entry.mtimes or current == entry.failed_mtimes:
                    continue
            try:
                flow = load_flow(path)
            except FlowError as err:
                errors.append(err)
                if entry is not None:
                    entry.failed_mtimes = _mtimes(entry.flow.dependencies)
                    log.error("flow %s not reloaded, the running version stays: %s", name, err)
                else:
                    log.error("flow %s not loaded: %s", name, err)
                continue
            self._entries[name] = _Entry(flow, _mtimes(flow.dependencies))
            if entry is not None:
                log.info("flow %s reloaded from %s", name, path)
        for name in set(self._entries) - seen:
            log.warning("flow %s removed: its file is gone", name)
            del self._entries[name]
        return errors

    def get(self, name: str) -> Flow | None:
        if self.clock() - self._last_check >= self.check_interval:
            self.reload()
        entry = self._entries.get(name)
        return entry.flow if entry is not None else None

    def names(self) -> list[str]:
        return sorted(self._entries)


DEFAULT_FLOWS_DIR = Path(__file__).resolve().parent / "flows"


# The dialplan runs AGI(.../survey) whatever the operator's flows are.
SHIPPED_FALLBACKS: Mapping[str, Path] = {"survey": DEFAULT_FLOWS_DIR / "survey.yaml"}


def load_flows(directory: Path = DEFAULT_FLOWS_DIR, *, strict: bool = True) -> FlowRegistry:
    """Load every *.yaml flow of `directory` (plus the shipped survey if it has
    none). With strict, the first broken file raises."""
    if not directory.is_dir():
        raise FlowError(str(directory), None, "the flows folder does not exist")
    registry = FlowRegistry(directory, fallbacks=SHIPPED_FALLBACKS)
    errors = registry.reload()
    if strict and errors:
        raise errors[0]
    return registry
