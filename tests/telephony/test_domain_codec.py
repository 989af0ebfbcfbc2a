"""The domain events survive JSON: every event the recordings produce, and
arbitrary events of every type (hypothesis)."""

from __future__ import annotations

import dataclasses
import json
import types
from collections import Counter
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony import domain
from telephony.ami.interest import tracker_event_filter
from telephony.ami.parser import iter_capture
from telephony.domain import AgentRinging, CallEnded, CallKey, DomainEvent
from telephony.domain_codec import (
    EVENT_TYPES,
    decode_event,
    dumps_events,
    encode_event,
    loads_events,
)
from telephony.tracker import CallTracker

EVENT_CLASSES = get_args(DomainEvent)


def replayed_events(capture: Path) -> list[DomainEvent]:
    tracker = CallTracker("codec")
    events: list[DomainEvent] = []
    for headers in iter_capture(capture.read_bytes(), tracker_event_filter()):
        events.extend(tracker.feed(headers))
    return events


def recording_captures(recordings: Path) -> list[Path]:
    return sorted(p for p in recordings.glob("*.ami") if not p.name.endswith(".actions.ami"))


def test_every_event_of_every_recording_round_trips(recordings: Path) -> None:
    kinds: Counter[str] = Counter()
    for capture in recording_captures(recordings):
        events = replayed_events(capture)
        assert events, capture.name
        # Through text, as it travels: the exact values and types come back.
        back = loads_events(dumps_events(events))
        assert back == events, capture.name
        for event, decoded in zip(events, back, strict=True):
            assert type(decoded) is type(event)
            assert repr(decoded) == repr(event), capture.name
        kinds.update(type(e).__name__ for e in events)
    # The recordings exercise the events a panel needs, nested records included.
    for needed in ("AgentRinging", "CallAnswered", "CallEnded", "AgentStateChanged"):
        assert kinds[needed] > 0, needed


def test_ringing_from_the_recording_keeps_its_ivr_variables(recordings: Path) -> None:
    events = replayed_events(recordings / "answered.ami")
    ringing = [e for e in events if isinstance(e, AgentRinging)]
    assert ringing
    for event in ringing:
        decoded = decode_event(json.loads(json.dumps(encode_event(event))))
        assert isinstance(decoded, AgentRinging)
        assert dict(decoded.variables) == dict(event.variables)
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert ended and all(isinstance(e.record.key, CallKey) for e in ended)
    decoded_end = loads_events(dumps_events(ended))
    assert [e.record.legs for e in decoded_end if isinstance(e, CallEnded)] == [
        e.record.legs for e in ended
    ]


# ------------------------------------------------------------------ property


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    origin = get_origin(hint)
    if origin is types.UnionType:
        return st.one_of(*(strategy_for(arg) for arg in get_args(hint)))
    if origin is tuple:
        return st.lists(strategy_for(get_args(hint)[0]), max_size=3).map(tuple)
    if origin is Mapping:
        return st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=3)
    if hint is type(None):
        return st.none()
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = get_type_hints(hint, vars(domain))
        fields = {f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(hint)}
        return st.builds(hint, **fields)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    if hint is float:
        # NaN is never equal to itself; infinities and ints (JSON keeps them) are fine.
        return st.one_of(st.floats(allow_nan=False), st.integers(-(2**53), 2**53))
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(-(2**63), 2**63)
    if hint is str:
        return st.text(max_size=20)
    raise AssertionError(f"no strategy for {hint!r}")


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__name__)
def test_arbitrary_events_round_trip(cls: type[Any]) -> None:
    @settings(max_examples=60, deadline=None)
    @given(strategy_for(cls))
    def check(event: DomainEvent) -> None:
        back = loads_events(dumps_events([event]))
        assert back == [event]
        assert repr(back[0]) == repr(event)

    check()


def test_every_event_type_is_known_to_the_codec() -> None:
    assert set(EVENT_TYPES.values()) == set(EVENT_CLASSES)
    assert len(EVENT_CLASSES) == 14


@pytest.mark.parametrize(
    "data",
    [
        {"type": "Nope", "at": 1.0},
        {"type": "AsteriskRestarted", "at": 1.0},  # system missing
        {"type": "AsteriskRestarted", "at": 1.0, "system": "x", "extra": 1},
        {"type": "AsteriskRestarted", "at": "1.0", "system": "x"},
        {"type": "IvrEntered", "at": 1.0, "key": ["x", "y"]},
        {"type": "QueueExited", "at": 1, "key": {"system": "s", "linkedid": "l"},
         "queue": "q", "outcome": "bogus", "wait_seconds": 1.0},
    ],
)  # fmt: skip
def test_malformed_input_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        decode_event(data)
