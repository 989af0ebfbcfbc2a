"""AMI ingest throughput: bytes from Asterisk to header mappings (and domain events).

Run from the repository root:

    python -m bench.ami_ingest [--capture PATH] [--repeat N] [--rounds R] [--chunk BYTES]

The capture (burst.ami by default) is fed N times in a row, in fixed-size
chunks, on one core. Three contenders, interleaved round by round so machine
noise hits them alike:

  (a) AmiParser alone: bytes -> list of header dicts;
  (a') AmiProtocol.data_received handing each event to a `feed_event` that
      only counts: the parser plus the protocol's dispatch;
  (b) the bridge's ingest path: AmiParser with the local event filter
      (telephony.ami.interest: events the tracker does not use are dropped
      from their raw bytes, as Asterisk's own Filter would drop them at the
      source) + typed events + CallTracker; a fresh tracker for every
      repetition of the capture, because the capture repeats the same
      Linkedids and one tracker would (rightly) treat them as calls it has
      already seen end. Its rate counts every raw event of the bytes, kept
      or dropped;
  (b') the same without the local filter: every event decoded and tracked;
  (c) panoramisk's stock AMIProtocol.data_received, with a factory whose
      dispatch does nothing: what panoramisk spends turning the same bytes
      into event Messages.

The garbage collector stays on (it is part of the real cost).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from panoramisk.ami_protocol import AMIProtocol

from telephony.ami.parser import AmiParser, iter_capture
from telephony.ami.protocol import AmiProtocol

ROOT = Path(__file__).resolve().parent.parent
GOAL_TRACKED_RATE = 200_000
GOAL_RATIO = 3.5


def default_capture() -> Path:
    recordings = os.environ.get("ATIENDE_RECORDINGS")
    base = Path(recordings) if recordings else ROOT.parent / "shared" / "asterisk-recordings"
    return base / "burst.ami"


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run_parser(chunks: Sequence[bytes], repeat: int) -> int:
    parser = AmiParser()
    feed = parser.feed
    events = 0
    for _ in range(repeat):
        for chunk in chunks:
            for headers in feed(chunk):
                if "Event" in headers:
                    events += 1
    return events


def make_tracked_run(
    tracker_class: Any, accept: Callable[[bytes], bool] | None
) -> Callable[[Sequence[bytes], int], int]:
    def run_tracked(chunks: Sequence[bytes], repeat: int) -> int:
        parser = AmiParser(accept=accept)
        feed = parser.feed
        events = 0
        for _ in range(repeat):
            track = tracker_class(system="bench").feed
            for chunk in chunks:
                for headers in feed(chunk):
                    if "Event" in headers:
                        events += 1
                    track(headers)
        # Dropped messages are events (the filter keeps every response).
        return events + parser.dropped

    return run_tracked


class _Transport(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass


class _FeedingFactory:
    """What the bridge's manager looks like to the protocol: a `feed_event`."""

    def __init__(self) -> None:
        self.events = 0
        self.responses: dict[str, Any] = {}

    def feed_event(self, headers: dict[str, str]) -> None:
        self.events += 1


def run_protocol(chunks: Sequence[bytes], repeat: int) -> int:
    protocol = AmiProtocol()
    protocol.connection_made(_Transport())
    factory = _FeedingFactory()
    protocol.factory = factory
    receive = protocol.data_received
    for _ in range(repeat):
        for chunk in chunks:
            receive(chunk)
    return factory.events


class _CountingFactory:
    def __init__(self) -> None:
        self.events = 0

    def dispatch(self, message: Any) -> None:
        self.events += 1


def run_panoramisk(chunks: Sequence[bytes], repeat: int) -> int:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    factory = _CountingFactory()
    protocol.factory = factory
    protocol.encoding = "utf8"
    receive = protocol.data_received
    for _ in range(repeat):
        for chunk in chunks:
            receive(chunk)
    return factory.events


def measure(
    contenders: dict[str, Callable[[Sequence[bytes], int], int]],
    chunks: Sequence[bytes],
    repeat: int,
    rounds: int,
    expected_events: int,
) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            events = run(chunks, repeat)
            elapsed = time.perf_counter() - start
            if events != expected_events:
                raise SystemExit(f"{name}: {events} events, expected {expected_events}")
            rates[name].append(events / elapsed)
    return rates


def main(argv: Sequence[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    args.add_argument("--capture", type=Path, default=default_capture())
    args.add_argument("--repeat", type=int, default=100, help="times the capture is fed")
    args.add_argument("--rounds", type=int, default=5)
    args.add_argument("--chunk", type=int, default=64 * 1024, help="bytes per read")
    opts = args.parse_args(argv)

    data = opts.capture.read_bytes()
    per_capture = sum(1 for headers in iter_capture(data) if "Event" in headers)
    chunks = chunked(data, opts.chunk)
    expected = per_capture * opts.repeat

    contenders: dict[str, Callable[[Sequence[bytes], int], int]] = {
        "(a) AmiParser": run_parser,
        "(a') AmiProtocol": run_protocol,
    }
    try:
        from telephony.tracker import CallTracker
    except ImportError as err:
        print(f"tracker: not available ({err})")
    else:
        from telephony.ami.interest import tracker_event_filter

        contenders["(b) bridge ingest"] = make_tracked_run(CallTracker, tracker_event_filter())
        contenders["(b') unfiltered+tracker"] = make_tracked_run(CallTracker, None)
    contenders["(c) panoramisk stock"] = run_panoramisk

    print(
        f"capture {opts.capture.name}: {len(data):,} bytes, {per_capture:,} events; "
        f"x{opts.repeat} = {expected:,} events per run; {opts.chunk:,}-byte reads; "
        f"{opts.rounds} rounds"
    )
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    rates = measure(contenders, chunks, opts.repeat, opts.rounds, expected)

    print(f"{'contender':24} {'median ev/s':>12} {'min':>12} {'max':>12}")
    medians = {}
    for name, values in rates.items():
        medians[name] = statistics.median(values)
        print(f"{name:24} {medians[name]:12,.0f} {min(values):12,.0f} {max(values):12,.0f}")

    stock = medians["(c) panoramisk stock"]
    parser_ratio = medians["(a) AmiParser"] / stock
    print(f"ratio (a)/(c): {parser_ratio:.2f}x")
    if "(b) bridge ingest" in medians:
        unfiltered = medians["(b') unfiltered+tracker"]
        print(f"ratio (b')/(c): {unfiltered / stock:.2f}x")
        tracked = medians["(b) bridge ingest"]
        ratio = tracked / stock
        print(f"ratio (b)/(c): {ratio:.2f}x")
        print(
            f"goal (b) >= {GOAL_TRACKED_RATE:,} ev/s: "
            f"{'met' if tracked >= GOAL_TRACKED_RATE else 'NOT met'}; "
            f"goal (b)/(c) >= {GOAL_RATIO}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
