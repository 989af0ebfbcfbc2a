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

from citizen.calendar import BusinessHours, TimeRange, parse_range
from ivr import flow_schema as schema
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
    Verification,
    prompts,
    targets,
)

log = logging.getLogger(__name__)

VALIDATORS = ("digits", "cedula", "year")


def is_plain_value(value: str) -> bool:
    """True for values safe to hand to the dialplan (queue names, topics)."""
    return bool(schema.QUEUE.fullmatch(value))


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


def _fail(source: str, node_id: str, problem: str) -> FlowError:
    return FlowError(source, node_id, problem)


def _hours(
    source: str, node_id: str, spec: schema.HoursSpec, base_dir: Path, deps: list[Path]
) -> BusinessHours:
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise _fail(source, node_id, f"'timezone': unknown time zone {spec.timezone!r}") from err
    weekly: dict[str, tuple[TimeRange, ...]] = {}
    for day, ranges in spec.schedule.items():
        try:
            weekly[day] = tuple(parse_range(r) for r in ranges)
        except ValueError as err:
            raise _fail(source, node_id, f"'schedule.{day}': {err}") from err
    holidays: set[dt.date] = set()
    open_days: set[dt.date] = set()
    if spec.calendar is not None:
        path = (base_dir / spec.calendar).resolve()
        deps.append(path)
        try:
            holidays, open_days = _load_calendar(path)
        except ValueError as err:
            raise _fail(source, node_id, f"'calendar': {err}") from err
    return BusinessHours(
        spec.timezone, weekly, spec.national_holidays, frozenset(holidays), frozenset(open_days)
    )


def _load_calendar(path: Path) -> tuple[set[dt.date], set[dt.date]]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"calendar {path.name} unreadable: {err}") from err
    if not isinstance(raw, dict):
        raise ValueError(f"calendar {path.name} must be a mapping")

    def dates(key: str) -> set[dt.date]:
        out: set[dt.date] = set()
        for entry in raw.get(key) or []:
            value = entry.get("date") if isinstance(entry, dict) else entry
            if isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError as err:
                    raise ValueError(f"calendar {path.name}: bad date {value!r}") from err
            if not isinstance(value, dt.date):
                raise ValueError(f"calendar {path.name}: '{key}' entries need a date")
            out.add(value)
        return out

    return dates("holidays"), dates("open_days")


def _retry(spec: schema.MenuSpec | schema.CollectSpec) -> Retry:
    return Retry(spec.attempts, spec.no_input_prompt, spec.invalid_prompt)


def _parse_node(source: str, node_id: str, raw: Any, base_dir: Path, deps: list[Path]) -> Node:
    """One node: its typed spec (ivr.flow_schema), then the engine's dataclass."""
    spec = schema.parse_node_spec(source, node_id, raw)
    match spec:
        case schema.PlaySpec():
            return Play(node_id, spec.prompts, spec.next)
        case schema.NoticeSpec():
            return Notice(node_id, spec.prompts, spec.version, spec.next)
        case schema.MenuSpec():
            options = {
                digit: MenuOption(o, digit)
                if isinstance(o, str)
                else MenuOption(o.next, o.label or digit)
                for digit, o in spec.options.items()
            }
            return Menu(node_id, spec.prompt, options, spec.fallback, spec.timeout_ms, _retry(spec))
        case schema.CollectSpec():
            return Collect(
                node_id,
                spec.prompt,
                spec.store,
                spec.next,
                spec.fallback,
                spec.min_digits,
                spec.max_digits or spec.min_digits,
                spec.validator,
                spec.min_value,
                spec.max_value,
                spec.timeout_ms,
                _retry(spec),
            )
        case schema.IdentifySpec():
            return Identify(
                node_id, spec.by, spec.found, spec.not_found, spec.cedula_from, spec.on_error
            )
        case schema.RequestStatusSpec():
            return RequestStatusLookup(
                node_id,
                spec.year_from,
                spec.number_from,
                dict(spec.statuses),
                spec.unknown_status_prompt,
                spec.intro_prompt,
                spec.next,
                spec.not_found,
                spec.on_error,
                Verification(
                    spec.verify.prompt,
                    spec.verify.digits,
                    spec.verify.timeout_ms,
                    Retry(
                        spec.verify.attempts,
                        spec.verify.no_input_prompt,
                        spec.verify.invalid_prompt,
                    ),
                ),
            )
        case schema.HoursSpec():
            hours = _hours(source, node_id, spec, base_dir, deps)
            return Hours(node_id, hours, spec.open, spec.closed)
        case schema.QueueSpec():
            offer = spec.callback
            callback = (
                None
                if offer is None
                else CallbackOffer(
                    float(offer.threshold_seconds),
                    offer.offer_prompt,
                    offer.confirm_prompt,
                    offer.accept_digit,
                    offer.timeout_ms,
                )
            )
            return Queue(node_id, spec.queue, spec.priority, spec.max_wait, spec.topic, callback)
        case schema.TransferSpec():
            return Transfer(node_id, spec.extension)
        case schema.SetSpec():
            return SetValues(node_id, spec.next, dict(spec.variables), spec.topic)
        case schema.BranchSpec():
            return Branch(node_id, spec.on, dict(spec.cases), spec.default)
        case schema.RecordSurveySpec():
            return RecordSurvey(node_id, spec.score_from, spec.next, spec.on_error)
        case schema.ConfirmPersonSpec():
            return ConfirmPerson(
                node_id,
                spec.confirmed,
                spec.not_confirmed,
                spec.prompt,
                spec.name_intro_prompt,
                spec.name_outro_prompt,
                spec.accept_digit,
                spec.timeout_ms,
            )
        case schema.CallbackSpec():
            return Callback(
                node_id, spec.queue, spec.confirm_prompt, spec.unavailable, spec.on_error
            )
        case schema.HangupSpec():
            return Hangup(node_id)
    raise _fail(source, node_id, f"unknown node spec {type(spec).__name__}")  # pragma: no cover


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
