"""Which AMI events the product uses: as AMI `Filter` regexes and on raw bytes.

The bridge asks Asterisk, with AMI `Filter` actions (`event_filters`), to
send only the events the tracker uses. The same rule is applied on arrival
to each message before it is decoded (`raw_event_filter`), so that events
the tracker would ignore cost only their framing: when Asterisk refuses the
filters (an AMI user without the privilege), when reading a capture, and in
the benchmark of the ingest path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# Events every session needs whatever the tracker uses: the end of a session
# and the answer to an Originate.
ALWAYS_WANTED_EVENTS = frozenset({"FullyBooted", "Shutdown", "OriginateResponse"})
# Asterisk reads action lines into a 1024-byte buffer: keep each filter shorter.
MAX_FILTER_LENGTH = 900
_NAME = re.compile(r"[A-Za-z0-9_]+")
_EVENT = b"Event: "


def event_filters(
    events: Iterable[str],
    variable_prefixes: Iterable[str],
    max_length: int = MAX_FILTER_LENGTH,
) -> list[str]:
    """Legacy AMI filter regexes (POSIX ERE, matched against the event text,
    which starts with `Event: <name>`) letting through `events` and the VarSet
    events whose variable starts with one of `variable_prefixes`."""
    names = sorted(set(events) | ALWAYS_WANTED_EVENTS)
    prefixes = sorted(set(variable_prefixes))
    for name in (*names, *prefixes):
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a plain AMI name: {name!r}")
    if prefixes:
        names = [n for n in names if n != "VarSet"]
    filters: list[str] = []
    group: list[str] = []

    def pattern(items: list[str]) -> str:
        return f"^Event: ({'|'.join(items)})[^A-Za-z0-9]"

    for name in names:
        if group and len(pattern([*group, name])) > max_length:
            filters.append(pattern(group))
            group = []
        group.append(name)
    if group:
        filters.append(pattern(group))
    if prefixes:
        filters.append(f"^Event: VarSet[^A-Za-z0-9].*Variable: ({'|'.join(prefixes)})")
    return filters


def raw_event_filter(
    events: Iterable[str], variable_prefixes: Iterable[str]
) -> Callable[[bytes], bool]:
    """A predicate over one raw AMI message (bytes, without its blank line):
    False for an event not in `events`, and for a `VarSet` of a variable
    that starts with none of `variable_prefixes`. Responses, and anything it
    cannot read with certainty, are kept for the parser to judge.

    It runs once per message on the hot path, so the common answers are one
    C-level call each: `startswith` over a tuple of every wanted first line,
    and one regex search for the variable of a VarSet.
    """
    names = sorted({name.encode() for name in events} - {b"VarSet"})
    wanted = tuple(_EVENT + name + eol for name in names for eol in (b"\r\n", b"\n"))
    bare = frozenset(names)
    varset = (_EVENT + b"VarSet\r\n", _EVENT + b"VarSet\n")
    prefixes = [re.escape(prefix.encode()) for prefix in variable_prefixes]
    variable = (
        re.compile(b"\nVariable: (?:" + b"|".join(prefixes) + b")").search if prefixes else None
    )

    def accept(raw: bytes) -> bool:
        if raw.startswith(wanted):
            return True
        if raw.startswith(varset):
            return variable is not None and variable(raw) is not None
        if not raw.startswith(_EVENT):
            return True
        # An unwanted event, or a one-line message naming a wanted one.
        return b"\n" not in raw and raw[7:].rstrip(b"\r") in bare

    return accept


def tracker_event_filter() -> Callable[[bytes], bool]:
    """The predicate for what telephony.tracker uses (and the events the
    connection itself needs)."""
    from telephony import events

    wanted = set(events.USED_EVENTS) | ALWAYS_WANTED_EVENTS
    return raw_event_filter(wanted, events.READ_VARIABLES)
