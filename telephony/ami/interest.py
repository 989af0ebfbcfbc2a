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
from itertools import compress, repeat
from operator import call, getitem, not_, truth
from typing import cast

# Events every session needs whatever the tracker uses: the end of a session
# and the answer to an Originate.
ALWAYS_WANTED_EVENTS = frozenset({"FullyBooted", "Shutdown", "OriginateResponse"})
# Asterisk reads action lines into a 1024-byte buffer: keep each filter shorter.
MAX_FILTER_LENGTH = 900
_NAME = re.compile(r"[A-Za-z0-9_]+")
_EVENT = b"Event: "
# A message's start, the key of the table of judges: it holds the whole first
# line of every event Asterisk sends ("Event: " and a name, at most 40 bytes),
# and slicing it copies 48 bytes where cutting at the first LF copies the
# whole message.
_START = slice(0, 48)
# Distinct first lines remembered: a peer inventing event names endlessly
# only loses the table, never the exact answer.
_MAX_HEADS = 4096


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


class RawEventFilter:
    """A predicate over one raw AMI message (bytes, without its blank line):
    False for an event not in `events`, and for a `VarSet` of a variable
    that starts with none of `variable_prefixes`. Responses, and anything it
    cannot read with certainty, are kept for the parser to judge.

    Calling it judges one message. `select` judges a whole read's messages
    at once with the same answers, and is what the parser uses: it runs on
    every message of the stream, most of them unwanted, so it does no
    Python-level work per message once it has seen a message's first line
    (see `select`).
    """

    def __init__(self, events: Iterable[str], variable_prefixes: Iterable[str]) -> None:
        names = sorted({name.encode() for name in events} - {b"VarSet"})
        self._wanted = tuple(_EVENT + name + eol for name in names for eol in (b"\r\n", b"\n"))
        self._bare = frozenset(names)
        self._varset = (_EVENT + b"VarSet\r\n", _EVENT + b"VarSet\n")
        prefixes = [re.escape(prefix.encode()) for prefix in variable_prefixes]
        self._variable = (
            re.compile(b"\nVariable: (?:" + b"|".join(prefixes) + b")").search if prefixes else None
        )
        # Start of a message (`_START`) -> the C-level callable that judges a
        # message starting with it; learnt from the exact rule (`_learn`).
        self._by_head: dict[bytes, Callable[[bytes], object]] = {}

    def __call__(self, raw: bytes) -> bool:
        if raw.startswith(self._wanted):
            return True
        if raw.startswith(self._varset):
            return self._variable is not None and self._variable(raw) is not None
        if not raw.startswith(_EVENT):
            return True
        # An unwanted event, or a one-line message naming a wanted one.
        return b"\n" not in raw and raw[7:].rstrip(b"\r") in self._bare

    def select(self, messages: list[bytes]) -> list[bytes]:
        """The messages `self` accepts, in order.

        Every step is a C-level map: each message's start (`_START`), the
        judge of that start from a table, the judge applied. For an `Event:`
        line the exact rule's answer depends on that line alone (wanted,
        unwanted, or a VarSet whose Variable decides), so the table maps a
        start holding the whole first line to `truth` (keep), `not_` (drop:
        an Event message is never empty) or the Variable search; any other
        first line is kept. A start seen for the first time is learnt from
        the exact rule (`_learn`); the few whose answer would depend on more
        than the start go through the exact rule every time.
        """
        starts = cast(list[bytes], list(map(getitem, messages, repeat(_START))))
        try:
            judges = list(map(self._by_head.__getitem__, starts))
        except KeyError:
            known = self._by_head.get
            judges = [known(start) or self._learn(start) for start in starts]
        return list(compress(messages, map(call, judges, messages)))

    def _learn(self, start: bytes) -> Callable[[bytes], object]:
        head, newline, _ = start.partition(b"\n")
        if not head:
            return self  # an empty message: the exact rule keeps it, `truth` would not
        judge: Callable[[bytes], object]
        if not newline:
            judge = self  # a first line longer than the start (or the whole message)
        elif not head.startswith(_EVENT) or start.startswith(self._wanted):
            judge = truth  # never empty: it holds `head`
        elif start.startswith(self._varset):
            judge = self._variable or not_
        elif head[7:].rstrip(b"\r") in self._bare:
            return self  # "Event: X\r\r": the exact rule decides
        else:
            judge = not_
        if len(self._by_head) < _MAX_HEADS:
            self._by_head[start] = judge
        return judge


def raw_event_filter(events: Iterable[str], variable_prefixes: Iterable[str]) -> RawEventFilter:
    """The predicate over raw messages for these events and VarSet variables."""
    return RawEventFilter(events, variable_prefixes)


def tracker_event_filter() -> RawEventFilter:
    """The predicate for what telephony.tracker uses (and the events the
    connection itself needs)."""
    from telephony import events

    wanted = set(events.USED_EVENTS) | ALWAYS_WANTED_EVENTS
    return raw_event_filter(wanted, events.READ_VARIABLES)
