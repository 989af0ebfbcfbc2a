"""Whatever the TCP chunking, the same bytes give the same calls.

Property test over parse + tracking: a capture cut at random offsets (inside
headers, inside multi-byte UTF-8 characters, between the CR and LF of a line
end) and fed piece by piece gives exactly the call records of the whole.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.ami.parser import AmiParser
from telephony.domain import CallRecord
from telephony.replay import replay_records
from telephony.tracker import CallTracker
from tests.conftest import RECORDINGS


@cache
def capture(name: str) -> bytes:
    return (RECORDINGS / f"{name}.ami").read_bytes()


def chunked_records(data: bytes, cuts: list[int]) -> list[CallRecord]:
    parser = AmiParser()
    tracker = CallTracker("asterisk")
    ended: list[CallRecord] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        for headers in parser.feed(data[start:cut]):
            ended.extend(
                event.record for event in tracker.feed(headers) if hasattr(event, "record")
            )
        start = cut
    return ended + tracker.finish()


def by_key(records: list[CallRecord]) -> dict[str, CallRecord]:
    return {record.key.linkedid: record for record in records}


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["answered", "tricky_caller_id", "abandoned", "ring_no_answer"]),
    data=st.data(),
)
def test_random_cuts_give_the_same_calls(name: str, data: st.DataObject) -> None:
    whole = capture(name)
    cuts = data.draw(st.lists(st.integers(0, len(whole)), max_size=60))
    assert by_key(chunked_records(whole, cuts)) == by_key(replay_records(whole))


def test_cut_inside_every_accented_character(recordings: Path) -> None:
    whole = capture("tricky_caller_id")
    cuts = [i + 1 for i, byte in enumerate(whole) if byte >= 0xC0]  # after each lead byte
    records = by_key(chunked_records(whole, cuts))
    assert records == by_key(replay_records(whole))
    names = {record.caller_name for record in records.values()}
    assert 'Zoë "Niña" Ñandú; EXEC System(touch /tmp/pwned)' in names


def test_one_byte_at_a_time(recordings: Path) -> None:
    whole = capture("answered")
    records = chunked_records(whole, list(range(len(whole))))
    assert by_key(records) == by_key(replay_records(whole))
    assert records[0].agent == "Ana Gómez"
