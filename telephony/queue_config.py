"""Per-queue settings read from Asterisk's own queues.conf.

The tracker needs each queue's `wrapuptime` (agents are in wrap-up, not
available, for that long after a call) and the KPIs its `servicelevel`
threshold; reading them from the file Asterisk uses keeps one source of truth.

Parsing is pyst2's `asterisk.config` (it still works on Python 3.11+), given
text with the two things it does not understand resolved first: template
markers on category headers (`[name](!)`, `[name](template)`) and `#include`
lines. Template inheritance is applied here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asterisk.config

from telephony.exceptions import QueueConfigError

_HEADER = re.compile(r"^\[(?P<name>[^\]]+)\]\s*(?:\((?P<options>[^)]*)\))?\s*(?:;.*)?$")
_INCLUDE = re.compile(r'^#(?:try)?include\s+"?(?P<path>[^"]+?)"?\s*$')
_MAX_INCLUDE_DEPTH = 8


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    service_level: int | None = None
    wrapup_seconds: float = 0.0
    strategy: str | None = None


class _PreparedConfig(asterisk.config.Config):  # type: ignore[misc]
    """pyst2's parser, fed lines that were prepared beforehand."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self._prepared = lines
        super().__init__(str(path))

    def load(self) -> None:
        self.raw_lines = self._prepared


def _prepare(path: Path, depth: int = 0) -> tuple[list[str], dict[str, list[str]]]:
    """Lines with includes inlined and header options removed; and, per
    category, its options (`!` marks a template, other names are parents)."""
    if depth > _MAX_INCLUDE_DEPTH:
        raise QueueConfigError(str(path), None, "#include nested too deeply")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise QueueConfigError(str(path), None, f"cannot read: {err.strerror}") from err
    lines: list[str] = []
    options: dict[str, list[str]] = {}
    for raw in text.splitlines():
        stripped = raw.strip()
        include = _INCLUDE.match(stripped)
        if include:
            target = path.parent / include["path"]
            if not target.exists() and stripped.startswith("#tryinclude"):
                continue
            more_lines, more_options = _prepare(target, depth + 1)
            lines.extend(more_lines)
            options.update(more_options)
            continue
        header = _HEADER.match(stripped)
        if header:
            name = header["name"].strip()
            options[name] = [
                option.strip() for option in (header["options"] or "").split(",") if option.strip()
            ]
            lines.append(f"[{name}]\n")
            continue
        # pyst2 keeps inline comments in the value; drop them (`;` unescaped).
        lines.append(re.sub(r"(?<!\\);.*$", "", raw) + "\n" if stripped[:1] != ";" else raw + "\n")
    return lines, options


def load_queues_conf(path: Path) -> dict[str, QueueConfig]:
    """Queues defined in `path` (templates and [general] excluded)."""
    lines, options = _prepare(path)
    try:
        parsed = _PreparedConfig(path, lines)
    except asterisk.config.ParseError as err:
        line, problem = err.args if len(err.args) == 2 else (None, str(err))
        raise QueueConfigError(str(path), line, str(problem)) from err

    items: dict[str, dict[str, str]] = {}
    for category in parsed.categories:
        values = items.setdefault(category.name, {})
        for item in category.items:
            values[item.name.lower()] = item.value.strip()

    def resolved(name: str, seen: tuple[str, ...] = ()) -> dict[str, str]:
        if name in seen:
            raise QueueConfigError(str(path), None, f"template loop through [{name}]")
        merged: dict[str, str] = {}
        for parent in options.get(name, []):
            if parent != "!":
                if parent not in items:
                    raise QueueConfigError(
                        str(path), None, f"[{name}] uses unknown template [{parent}]"
                    )
                merged.update(resolved(parent, (*seen, name)))
        merged.update(items.get(name, {}))
        return merged

    queues: dict[str, QueueConfig] = {}
    for name in items:
        if name == "general" or "!" in options.get(name, []):
            continue
        values = resolved(name)
        queues[name] = QueueConfig(
            name=name,
            service_level=_number(path, name, "servicelevel", values.get("servicelevel"), int),
            wrapup_seconds=_number(path, name, "wrapuptime", values.get("wrapuptime"), float)
            or 0.0,
            strategy=values.get("strategy") or None,
        )
    return queues


_Number = TypeVar("_Number", int, float)


def _number(
    path: Path, queue: str, key: str, value: str | None, kind: type[_Number]
) -> _Number | None:
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except ValueError as err:
        raise QueueConfigError(
            str(path), None, f"[{queue}] {key} is not a number: {value!r}"
        ) from err
    if number < 0:
        raise QueueConfigError(str(path), None, f"[{queue}] {key} is negative")
    return number
