"""Long fuzz run of the two wire readers: the AMI ingest and the FastAGI reader.

Run from the repository root (default: 1,000,000 inputs, about half to each):

    python -m bench.fuzz_protocols [--inputs N] [--seed S] [--max-seconds T]

Inputs are mutations of the real Asterisk recordings (bit flips, inserted
and deleted bytes, CR/LF/colon/NUL/multi-byte characters, spliced pieces of
other messages, duplicated and truncated regions) cut into random reads.

- AMI: bytes -> AmiParser (with the bridge's event filter and a small message
  limit, so the oversize path runs too) -> CallTracker, as the bridge does.
  Any exception is a crash; so is parser memory above its bound.
- FastAGI: bytes split into lines as asyncio's StreamReader does for the
  server (line limit = env_max_bytes) -> EnvironmentParser, then
  ReplyAssembler for the rest, as ivr.server and ivr.session do. The one
  accepted failure is AgiProtocolError (the session is refused cleanly);
  anything else is a crash.

Prints inputs/s and the number of crashes (with the first few, reproducible
from the seed and the input number); exits 1 when there was a crash.
The CI-sized counterpart is tests/reliability/test_fuzz_protocols.py
(hypothesis), which runs these same harnesses.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ivr.agi import EnvironmentParser, ReplyAssembler, decode_line
from ivr.exceptions import AgiProtocolError
from telephony.ami.interest import tracker_event_filter
from telephony.ami.parser import AmiParser
from telephony.tracker import CallTracker

ROOT = Path(__file__).resolve().parent.parent
AMI_MESSAGE_LIMIT = 4096
AGI_LINE_LIMIT = 8192  # ivr.server's env_max_bytes, also its StreamReader limit
_ACCEPT = tracker_event_filter()


def recordings_dir() -> Path:
    recordings = os.environ.get("ATIENDE_RECORDINGS")
    return Path(recordings) if recordings else ROOT.parent / "shared" / "asterisk-recordings"


# ---------------------------------------------------------------- harnesses


def ami_harness(chunks: Sequence[bytes]) -> int:
    """Feeds the reads to the bridge's ingest path; returns messages seen.

    Raises AssertionError when the parser holds more than its bound."""
    parser = AmiParser(max_message_bytes=AMI_MESSAGE_LIMIT, accept=_ACCEPT)
    tracker = CallTracker(system="fuzz")
    seen = 0
    biggest = max((len(c) for c in chunks), default=0)
    for chunk in chunks:
        for headers in parser.feed(chunk):
            for key, value in headers.items():
                assert type(key) is str and type(value) is str
            tracker.feed(headers)
            seen += 1
        held = len(parser._pending) + parser._backlog_size + len(parser._skip_tail)
        assert held <= 2 * AMI_MESSAGE_LIMIT + 2 * biggest + 8, held
    return seen


def agi_lines(data: bytes, limit: int = AGI_LINE_LIMIT) -> list[bytes]:
    """Lines as StreamReader.readline gives them; the last may lack its newline."""
    lines: list[bytes] = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        stop = len(data) if end < 0 else end + 1
        if stop - start > limit:
            raise AgiProtocolError("line too long")  # readline's ValueError, as mapped
        lines.append(data[start:stop])
        start = stop
    return lines


def agi_harness(data: bytes) -> str:
    """The FastAGI reader over one peer's bytes: environment, then replies.

    Returns how the session ended: "refused" (AgiProtocolError), "closed"
    (the peer stopped), or "replies" (every complete reply assembled)."""
    try:
        lines = agi_lines(data)
        parser = EnvironmentParser()
        received = 0
        env = None
        index = 0
        for index, raw in enumerate(lines):  # noqa: B007 (index is used after the loop)
            if not raw.endswith(b"\n"):
                return "closed"
            received += len(raw)
            if received > AGI_LINE_LIMIT:
                raise AgiProtocolError("environment larger than allowed")
            env = parser.feed(decode_line(raw))
            if env is not None:
                break
        if env is None:
            return "closed"
        _ = (env.script, env.caller_number, env.caller_name, env.uniqueid, env.channel)
        assembler = ReplyAssembler()
        for raw in lines[index + 1 :]:
            if not raw.endswith(b"\n"):
                return "closed"
            reply = assembler.feed(decode_line(raw))
            if reply is not None:
                _ = (reply.kind, reply.ok, reply.result_int)
                assembler = ReplyAssembler()
        return "replies"
    except AgiProtocolError:
        return "refused"


# ---------------------------------------------------------------- mutations

_INTERESTING = [
    b"\r\n", b"\n", b"\r", b": ", b":", b"\x00", b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
    "ñ".encode(), b"\r\n\r\n", b"Event: ", b"Response: Follows\r\n", b"--END COMMAND--",
    b"Linkedid: ", b"Uniqueid: ", b"Queue: ", b"-1", b"99999999999999999999", b"nan",
    b"agi_network_script: ", b"200 result=", b"520-", b"520 ", b"HANGUP\n", b"511 ",
    b"Asterisk Call Manager/9.0.0\r\n",
]  # fmt: skip


def mutate(rng: random.Random, seed: bytes, corpus: Sequence[bytes]) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(8)
        pos = rng.randint(0, len(data))
        if op == 0 and data:  # flip a bit
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a token that matters to the protocols
            data[pos:pos] = rng.choice(_INTERESTING)
        elif op == 2 and data:  # delete a run
            del data[pos : pos + rng.randint(1, 64)]
        elif op == 3:  # splice a piece of another input
            other = rng.choice(corpus)
            start = rng.randrange(max(1, len(other)))
            data[pos:pos] = other[start : start + rng.randint(1, 512)]
        elif op == 4 and data:  # duplicate a region
            data[pos:pos] = data[pos : pos + rng.randint(1, 256)]
        elif op == 5:  # random bytes
            data[pos:pos] = rng.randbytes(rng.randint(1, 32))
        elif op == 6 and data:  # truncate
            del data[rng.randrange(len(data)) :]
        elif op == 7:  # a long line (oversize paths)
            data[pos:pos] = b"X" * rng.choice([1000, AMI_MESSAGE_LIMIT + 1, AGI_LINE_LIMIT + 1])
    return bytes(data)


def random_chunks(rng: random.Random, data: bytes) -> list[bytes]:
    chunks = []
    i = 0
    while i < len(data):
        size = rng.choice([1, 2, 3, 7, 64, 512, 4096, 65536])
        chunks.append(data[i : i + size])
        i += size
    return chunks


def ami_seeds(recordings: Path, size: int = 3000) -> list[bytes]:
    """Windows of every recorded AMI capture, a few messages each."""
    seeds = []
    for path in sorted(recordings.glob("*.ami")):
        data = path.read_bytes()
        for start in range(0, len(data), size):
            seeds.append(data[start : start + size])
    return seeds


def agi_seeds(recordings: Path) -> list[bytes]:
    """Each recorded FastAGI session, as the bytes Asterisk sent ('< ' lines)."""
    seeds = []
    for path in sorted(recordings.glob("*.agi")):
        for session in path.read_text(encoding="utf-8").split("=== session")[1:]:
            sent = [line[2:] for line in session.splitlines() if line.startswith("<")]
            if sent:
                seeds.append(("\n".join(sent) + "\n").encode())
    env = b"agi_network: yes\nagi_network_script: ivr\nagi_channel: PJSIP/1\nagi_callerid: 099\n\n"
    seeds.append(env + b"200 result=1\n200 result=0 (timeout)\n520-Invalid\nusage\n520 End\n")
    return seeds


# ---------------------------------------------------------------- the run


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--max-seconds", type=float, default=None)
    args = ap.parse_args(argv)
    # The readers log every malformed line they skip: millions here.
    logging.disable(logging.CRITICAL)

    recordings = recordings_dir()
    ami_corpus, agi_corpus = ami_seeds(recordings), agi_seeds(recordings)
    if not ami_corpus or not agi_corpus:
        print(f"no recordings under {recordings} (set ATIENDE_RECORDINGS)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    crashes: list[str] = []
    counts = {"ami": 0, "agi": 0}
    outcomes: dict[str, int] = {}
    started = time.perf_counter()
    done = 0
    for n in range(args.inputs):
        if args.max_seconds is not None and time.perf_counter() - started > args.max_seconds:
            break
        kind = "ami" if n % 2 == 0 else "agi"
        corpus = ami_corpus if kind == "ami" else agi_corpus
        data = mutate(rng, rng.choice(corpus), corpus)
        try:
            if kind == "ami":
                ami_harness(random_chunks(rng, data))
            else:
                outcome = agi_harness(data)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        except Exception as err:  # a crash: what the readers must never do
            crashes.append(f"input {n} ({kind}): {type(err).__name__}: {err}"[:300])
        counts[kind] += 1
        done += 1
    elapsed = time.perf_counter() - started
    print(f"fuzz_protocols: {done:,} inputs in {elapsed:.1f} s ({done / elapsed:,.0f} inputs/s)")
    print(f"  AMI ingest (parser + filter + tracker): {counts['ami']:,} inputs")
    agi_detail = ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items()))
    print(f"  FastAGI reader: {counts['agi']:,} inputs ({agi_detail})")
    print(f"  seed {args.seed}; crashes: {len(crashes)}")
    for line in crashes[:10]:
        print(f"    {line}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
