"""The AMI ingest paths run a fixed number of times, for counting instructions.

Run under callgrind from the repository root (see bench/README.md):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python -m bench.ami_instructions --path bridge --repeat N

It does what `bench.ami_ingest` times, with no clock: the capture fed once
to warm up (the parser's key table and the filter's first-line table are
learnt then, as on a live bridge), then `--repeat` more times. Instructions
per capture are the difference between two runs with different `--repeat`,
divided by the difference in repeats: start-up and imports cancel out.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.ami_ingest import chunked, default_capture, make_tracked_run, run_panoramisk


def contender(path: str) -> Callable[[Sequence[bytes], int], int]:
    if path == "panoramisk":
        return run_panoramisk
    from telephony.ami.interest import tracker_event_filter
    from telephony.tracker import CallTracker

    return make_tracked_run(CallTracker, tracker_event_filter() if path == "bridge" else None)


def main(argv: Sequence[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    args.add_argument("--capture", type=Path, default=default_capture())
    args.add_argument("--path", choices=("bridge", "unfiltered", "panoramisk"), default="bridge")
    args.add_argument("--repeat", type=int, default=1, help="times fed after the warm-up")
    args.add_argument("--chunk", type=int, default=64 * 1024, help="bytes per read")
    opts = args.parse_args(argv)
    chunks = chunked(opts.capture.read_bytes(), opts.chunk)
    run = contender(opts.path)
    # One run object per call, as the timed bench makes: the warm-up and the
    # counted repeats share nothing but the module-level tables they learn.
    run(chunks, 1)
    events = run(chunks, opts.repeat) if opts.repeat else 0
    print(f"{opts.path}: {events:,} events after the warm-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
