"""The recorded FastAGI sessions (.agi captures), split into environment and exchanges."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Exchange:
    command: str
    reply_lines: tuple[str, ...]


@dataclass(frozen=True)
class RecordedSession:
    env_lines: tuple[str, ...]
    exchanges: tuple[Exchange, ...]


def read_sessions(path: Path) -> list[RecordedSession]:
    """Sessions of an .agi capture: '< ' lines from Asterisk, '> ' lines from the IVR."""
    sessions: list[RecordedSession] = []
    env: list[str] = []
    exchanges: list[Exchange] = []
    in_env = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw == "=== session":
            if env:
                sessions.append(RecordedSession(tuple(env), tuple(exchanges)))
            env, exchanges, in_env = [], [], True
            continue
        direction, text = raw[:1], raw[2:]
        if direction == "<" and in_env:
            env.append(text)
            if text == "":
                in_env = False
        elif direction == ">":
            exchanges.append(Exchange(text, ()))
        elif direction == "<" and exchanges:
            last = exchanges[-1]
            exchanges[-1] = Exchange(last.command, (*last.reply_lines, text))
    if env:
        sessions.append(RecordedSession(tuple(env), tuple(exchanges)))
    return sessions
