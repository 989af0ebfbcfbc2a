"""Which AMI events the product uses, decided on raw bytes.

The bridge asks Asterisk, with AMI `Filter` actions, to send only the events
the tracker uses. The same rule is applied here to each message before it is
decoded, so that events the tracker would ignore cost only their framing:
when Asterisk refuses the filters (an AMI user without the privilege), when
reading a capture, and in the benchmark of the ingest path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

_EVENT = b"Event: "


def raw_event_filter(
    events: Iterable[str], variable_prefixes: Iterable[str]
) -> Callable[[bytes], bool]:
    """A predicate over one raw AMI message (bytes, without its blank line):
    False for an event not in `events`, and for a `VarSet` of a variable
    that starts with none of `variable_prefixes`. Responses, and
    anything it cannot read with certainty, are kept for the parser to judge."""
    wanted = frozenset(name.encode() for name in events)
    markers = tuple(b"\nVariable: " + prefix.encode() for prefix in variable_prefixes)

    def accept(raw: bytes) -> bool:
        if not raw.startswith(_EVENT):
            return True
        end = raw.find(b"\n", 7)
        name = raw[7:end].rstrip(b"\r") if end >= 0 else raw[7:]
        if name == b"VarSet":
            return any(marker in raw for marker in markers)
        return name in wanted

    return accept


def tracker_event_filter() -> Callable[[bytes], bool]:
    """The predicate for what telephony.tracker uses (and the events the
    connection itself needs)."""
    from telephony import events

    wanted = set(events.USED_EVENTS) | {"FullyBooted", "Shutdown", "OriginateResponse"}
    return raw_event_filter(wanted, (*events.USED_VARIABLE_PREFIXES, events.QUEUE_STATUS_VARIABLE))
