"""AmiParser against the real Asterisk captures and against hostile input."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from telephony.ami.parser import AmiParser, iter_capture
from telephony.ami.stream import Headers
from tests.conftest import RECORDINGS

CAPTURES = sorted(p.name for p in RECORDINGS.glob("*.ami"))


def _raw_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def _pairs_from_raw(data: bytes) -> Counter[tuple[str, str]]:
    """Every "Key: Value" line of a capture, decoded on its own (no framing)."""
    pairs: Counter[tuple[str, str]] = Counter()
    for line in _raw_lines(data):
        if line:
            key, _, value = line.partition(b": ")
            pairs[key.decode(), value.decode()] += 1
    return pairs


def _pairs_from_parsed(messages: list[Headers]) -> Counter[tuple[str, str]]:
    pairs: Counter[tuple[str, str]] = Counter()
    for headers in messages:
        for key, value in headers.items():
            for one in value.split("\n"):
                pairs[key, one] += 1
    return pairs


def _feed_in_pieces(data: bytes, cuts: list[int], **kwargs: int) -> tuple[list[Headers], int]:
    parser = AmiParser(**kwargs)
    out: list[Headers] = []
    start = 0
    for cut in sorted(set(cuts)):
        out += parser.feed(data[start:cut])
        start = cut
    out += parser.feed(data[start:])
    return out, parser.malformed


# --- the real captures ------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURES)
def test_every_capture_parses_completely(recordings: Path, name: str) -> None:
    data = (recordings / name).read_bytes()
    lines = _raw_lines(data)
    expected_events = sum(1 for line in lines if line.startswith(b"Event: "))
    # Some events carry a Response header too (OriginateResponse): count
    # messages whose first line is a Response line.
    starts = [lines[0]] + [lines[i + 1] for i, line in enumerate(lines[:-1]) if not line]
    expected_responses = sum(1 for line in starts if line.startswith(b"Response: "))

    parser = AmiParser()
    messages = parser.feed(data)

    assert sum(1 for h in messages if "Event" in h) == expected_events
    assert sum(1 for h in messages if "Response" in h and "Event" not in h) == expected_responses
    assert parser.malformed == 0
    assert _pairs_from_parsed(messages) == _pairs_from_raw(data)


def test_accented_names_come_out_intact(recordings: Path) -> None:
    names = {
        h["MemberName"]
        for h in iter_capture((recordings / "sip_mixed.ami").read_bytes())
        if "MemberName" in h
    }
    assert {"Ana Gómez", "Bruno Núñez", "Carla Pérez"} <= names
    callers = {
        h["CallerIDName"]
        for h in iter_capture((recordings / "answered.ami").read_bytes())
        if "CallerIDName" in h
    }
    assert any(name.startswith("Ciudadana Pérez") for name in callers)


def test_tricky_caller_id_is_intact(recordings: Path) -> None:
    data = (recordings / "tricky_caller_id.ami").read_bytes()
    raw = {
        line.partition(b": ")[2].decode()
        for line in _raw_lines(data)
        if line.startswith(b"CallerIDName: ") and "Ñandú".encode() in line
    }
    # Asterisk sends the name both as dialled and with its quotes escaped.
    assert 'Zoë "Niña" Ñandú; EXEC System(touch /tmp/pwned)' in raw
    assert 'Zoë \\"Niña\\" Ñandú; EXEC System(touch /tmp/pwned)' in raw
    parsed = {h.get("CallerIDName") for h in iter_capture(data)}
    assert raw <= parsed


def _multibyte_cuts(data: bytes) -> list[int]:
    """Offsets that fall inside a UTF-8 multi-byte character."""
    return [i for i in range(1, len(data)) if 0x80 <= data[i] <= 0xBF]


@pytest.mark.parametrize("name", ["answered.ami", "tricky_caller_id.ami"])
def test_split_inside_every_multibyte_character(recordings: Path, name: str) -> None:
    data = (recordings / name).read_bytes()
    cuts = _multibyte_cuts(data)
    assert len(cuts) > 100
    chunked, malformed = _feed_in_pieces(data, cuts)
    assert chunked == list(iter_capture(data))
    assert malformed == 0


@pytest.mark.parametrize("name", ["answered.ami", "tricky_caller_id.ami"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_chunking_gives_the_same_messages(
    recordings: Path, name: str, data: st.DataObject
) -> None:
    capture = (recordings / name).read_bytes()
    inside = _multibyte_cuts(capture)
    cuts = data.draw(
        st.lists(
            st.one_of(st.integers(1, len(capture) - 1), st.sampled_from(inside)),
            max_size=300,
        )
    )
    chunked, _ = _feed_in_pieces(capture, cuts)
    assert chunked == list(iter_capture(capture))


def test_one_byte_at_a_time(recordings: Path) -> None:
    data = (recordings / "answered.ami").read_bytes()
    chunked, _ = _feed_in_pieces(data, list(range(1, len(data))))
    assert chunked == list(iter_capture(data))


# --- stream details -----------------------------------------------------------


def test_banner_is_read_and_not_a_message() -> None:
    parser = AmiParser()
    out = parser.feed(b"Asterisk Call Man")
    out += parser.feed(
        b"ager/9.0.0\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n"
    )
    assert parser.banner == "9.0.0"
    assert out == [{"Response": "Success", "Message": "Authentication accepted"}]
    assert parser.malformed == 0


def test_bare_lf_peer() -> None:
    parser = AmiParser()
    out = parser.feed(b"Asterisk Call Manager/2.10.4\nResponse: Success\nActionID: 1\n\nEvent: Ne")
    out += parser.feed(b"wchannel\nCallerIDName: N\xc3")
    out += parser.feed(b"\xba\xc3\xb1ez\n\n")
    assert parser.banner == "2.10.4"
    assert out == [
        {"Response": "Success", "ActionID": "1"},
        {"Event": "Newchannel", "CallerIDName": "Núñez"},
    ]


def test_repeated_headers_keep_every_value_in_order() -> None:
    out = AmiParser().feed(
        b"Event: VarSet\r\nChanVariable: A=1\r\nChannel: x\r\nChanVariable: B=2\r\n"
        b"ChanVariable: C=3\r\n\r\n"
    )
    assert out == [{"Event": "VarSet", "ChanVariable": "A=1\nB=2\nC=3", "Channel": "x"}]


def test_header_without_value() -> None:
    out = AmiParser().feed(b"Event: Hangup\r\nAccountCode: \r\nLanguage:\r\nCause: 16\r\n\r\n")
    assert out == [{"Event": "Hangup", "AccountCode": "", "Language": "", "Cause": "16"}]


def test_values_holding_colon_space_are_not_split() -> None:
    out = AmiParser().feed(
        b"Event: Newexten\r\nAppData: a: b: c\r\nApplication: NoOp\r\nData: x: y\r\n\r\n"
    )
    assert out == [
        {"Event": "Newexten", "AppData": "a: b: c", "Application": "NoOp", "Data": "x: y"}
    ]


def test_garbage_lines_are_counted_and_skipped() -> None:
    parser = AmiParser()
    out = parser.feed(
        b"Event: Hangup\r\nthis is not a header\r\nAppData: k: v\r\nCause: 16\r\n\r\n"
        b"Event: Newstate\r\nChannel: x\r\n\r\n"
    )
    assert out == [
        {"Event": "Hangup", "AppData": "k: v", "Cause": "16"},
        {"Event": "Newstate", "Channel": "x"},
    ]
    assert parser.malformed == 1


def test_message_without_event_or_response_is_skipped() -> None:
    parser = AmiParser()
    out = parser.feed(b"Channel: x\r\nCause: 16\r\n\r\nEvent: Newstate\r\nChannel: y\r\n\r\n")
    assert out == [{"Event": "Newstate", "Channel": "y"}]
    assert parser.malformed == 1


def test_extra_blank_lines_between_messages_are_harmless() -> None:
    parser = AmiParser()
    out = parser.feed(b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\n\r\nEvent: B\r\n\r\n")
    assert out == [{"Event": "A"}, {"Event": "B"}]
    assert parser.malformed == 0


def test_old_style_command_output() -> None:
    parser = AmiParser()
    out = parser.feed(
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        b"Name: x\n\nsecond paragraph\n--END COMMAND--\r\n\r\n"
        b"Event: Newstate\r\nChannel: y\r\n\r\n"
    )
    assert out == [
        {
            "Response": "Follows",
            "Privilege": "Command",
            "ActionID": "7",
            "Output": "Name: x\n\nsecond paragraph",
        },
        {"Event": "Newstate", "Channel": "y"},
    ]
    assert parser.malformed == 0


@pytest.mark.parametrize(
    ("limit", "size", "chunk"),
    [
        (500, 3000, 1),
        (500, 3000, 50),
        (500, 3000, 4000),
        (20_000, 50_000, 3),
        (20_000, 50_000, 7000),
    ],
)
def test_oversized_message_is_dropped_and_memory_stays_bounded(
    limit: int, size: int, chunk: int
) -> None:
    good = b"Event: Newstate\r\nChannel: y\r\n\r\n"
    big = b"Event: Huge\r\n" + b"Data: " + b"x" * size + b"\r\n\r\n"
    stream = good + big + good
    parser = AmiParser(max_message_bytes=limit)
    out: list[Headers] = []
    for i in range(0, len(stream), chunk):
        out += parser.feed(stream[i : i + chunk])
        held = len(parser._pending) + sum(map(len, parser._backlog))
        assert held <= limit + chunk
    assert out == [{"Event": "Newstate", "Channel": "y"}] * 2
    assert parser.malformed == 1
    whole = AmiParser(max_message_bytes=limit)
    assert whole.feed(stream) == out
    assert whole.malformed == 1


@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_big_message_in_small_reads(chunk: int) -> None:
    variables = b"".join(b"ChanVariable: V%d=%d\r\n" % (i, i) for i in range(8000))
    big = b"Event: VarSet\r\n" + variables + b"\r\n"
    stream = big + b"Event: Newstate\r\nChannel: y\r\n\r\n" + big
    assert 100_000 < len(big) < 1 << 20
    whole = AmiParser().feed(stream)
    assert len(whole) == 3
    assert whole[0]["ChanVariable"].split("\n") == [f"V{i}={i}" for i in range(8000)]
    out, malformed = _feed_in_pieces(stream, list(range(chunk, len(stream), chunk)))
    assert out == whole
    assert malformed == 0


# --- hostile and generated input ----------------------------------------------

GOOD = b"Event: Good\r\nName: \xc3\x91and\xc3\xba\r\n\r\n"


@given(garbage=st.binary(max_size=3000))
@example(garbage=b"\xff\xfe\r\n\xc3")
@example(garbage=b"\n\n\n")
@example(garbage=b"Asterisk Call Manager/1.0\r\n:\r\n: \r\n")
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_break_the_stream(garbage: bytes) -> None:
    parser = AmiParser()
    for i in range(0, len(garbage), 97):
        parser.feed(garbage[i : i + 97])
    out = parser.feed(b"\r\n\r\n" + GOOD)
    assert out[-1:] == [{"Event": "Good", "Name": "Ñandú"}]


KEYS = st.sampled_from(["Event", "Response", "Channel", "CallerIDName", "ChanVariable", "X-1"])
TEXT = st.text(alphabet='abñé ü:;"\\/=-', max_size=12)
GARBAGE = TEXT.filter(lambda s: ": " not in s and not s.endswith(":") and s != "")
LINE = st.one_of(
    st.tuples(KEYS, TEXT).map(lambda kv: f"{kv[0]}: {kv[1]}"),
    KEYS.map(lambda k: f"{k}:"),
    TEXT.map(lambda v: f": {v}"),
    GARBAGE,
)
MESSAGES = st.lists(st.lists(LINE, min_size=1, max_size=8), max_size=12)


def _reference(messages: list[list[str]]) -> tuple[list[Headers], int]:
    """The format as specified, one line at a time."""
    out: list[Headers] = []
    malformed = 0
    for lines in messages:
        headers: Headers = {}
        for line in lines:
            key, sep, value = line.partition(": ")
            if not sep:
                if not line.endswith(":"):
                    malformed += 1
                    continue
                key, value = line[:-1], ""
            headers[key] = headers[key] + "\n" + value if key in headers else value
        if "Event" in headers or "Response" in headers:
            out.append(headers)
        else:
            malformed += 1
    return out, malformed


@given(messages=MESSAGES, eol=st.sampled_from(["\r\n", "\n"]), cuts=st.lists(st.integers(1, 2000)))
@settings(max_examples=400, deadline=None)
def test_parser_matches_the_line_by_line_reference(
    messages: list[list[str]], eol: str, cuts: list[int]
) -> None:
    stream = "".join(eol.join(lines) + eol + eol for lines in messages).encode()
    expected, expected_malformed = _reference(messages)
    whole = AmiParser()
    assert whole.feed(stream) == expected
    assert whole.malformed == expected_malformed
    chunked, malformed = _feed_in_pieces(stream, [c for c in cuts if c < len(stream)])
    assert chunked == expected
    assert malformed == expected_malformed


# --- shapes: messages like ones seen before ----------------------------------

SHAPE = ["Event: Newchannel", "Channel: PJSIP/1-01", "Uniqueid: 1.1", "CallerIDName: Ana"]
SHAPE_EDITS = st.tuples(
    st.sampled_from(["value", "drop", "repeat", "garbage", "empty", "swap", "add"]),
    st.integers(0, len(SHAPE) - 1),
    st.text(alphabet="ab ñ:;\r\n", max_size=8),
)


def _edited(edits: list[tuple[str, int, str]], eol: str) -> list[str]:
    lines = list(SHAPE)
    for op, at, text in edits:
        at %= len(lines)
        # Line endings inside a value would make other lines, not test values.
        if eol == "\n":
            text = text.replace("\r", "").replace("\n", "")
        elif "\r\n" in text or text.endswith("\r"):
            text = text.replace("\r", "")
        key = lines[at].partition(": ")[0] or "X"
        if op == "value":
            lines[at] = f"{key}: {text}"
        elif op == "drop" and len(lines) > 1:
            del lines[at]
        elif op == "repeat":
            lines.insert(at, lines[at])
        elif op == "garbage":
            lines[at] = text.replace(": ", "") or "junk"
        elif op == "empty":
            lines[at] = f"{key}:"
        elif op == "swap":
            lines[at], lines[0] = lines[0], lines[at]
        elif op == "add":
            lines.insert(at, f"Linkedid: {text}")
    return lines


@given(
    variants=st.lists(st.lists(SHAPE_EDITS, max_size=3), max_size=6),
    eol=st.sampled_from(["\r\n", "\n"]),
    cuts=st.lists(st.integers(1, 2000)),
)
@settings(max_examples=300, deadline=None)
def test_messages_of_known_shapes_give_what_the_line_by_line_parse_gives(
    variants: list[list[tuple[str, int, str]]], eol: str, cuts: list[int]
) -> None:
    # The shape is seen (and learnt) first; then messages that match it, or
    # nearly: other values (with ": ", lone CR or LF), a line dropped,
    # repeated, garbled or reordered, a header added.
    messages = [SHAPE, SHAPE, SHAPE] + [_edited(edits, eol) for edits in variants] + [SHAPE]
    stream = "".join(eol.join(lines) + eol + eol for lines in messages).encode()
    expected, expected_malformed = _reference(messages)
    whole = AmiParser()
    assert whole.feed(stream) == expected
    assert whole.malformed == expected_malformed
    chunked, malformed = _feed_in_pieces(stream, [c for c in cuts if c < len(stream)])
    assert chunked == expected
    assert malformed == expected_malformed
