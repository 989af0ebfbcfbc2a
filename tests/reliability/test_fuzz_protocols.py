"""The AMI ingest and the FastAGI reader under hostile bytes (hypothesis).

Both harnesses are the ones `python -m bench.fuzz_protocols` runs a million
times (see bench/README.md); here hypothesis searches for a crash within CI's
time, from mutated recordings and from arbitrary bytes. A crash is any
exception other than the clean refusal (AgiProtocolError) of a FastAGI peer
that is not speaking AGI, or AMI parser memory above its bound. A real
FastAgiServer also gets hostile peers over TCP and must go on serving.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz_protocols import (
    agi_harness,
    agi_seeds,
    ami_harness,
    ami_seeds,
    mutate,
    random_chunks,
)
from ivr.flows import DEFAULT_FLOWS_DIR, load_flows
from ivr.server import FastAgiServer
from ivr.testing import FakeAsterisk, FakeCall, InMemoryIvrServices
from telephony.ami.parser import AmiParser
from tests.conftest import RECORDINGS

AMI_CORPUS = ami_seeds(RECORDINGS) if RECORDINGS.is_dir() else [b""]
AGI_CORPUS = agi_seeds(RECORDINGS) if RECORDINGS.is_dir() else [b""]
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(seed=st.integers(0, 2**32), pick=st.integers(0, 10**6))
def test_mutated_recordings_never_crash_the_ami_ingest(seed: int, pick: int) -> None:
    rng = random.Random(seed)
    data = mutate(rng, AMI_CORPUS[pick % len(AMI_CORPUS)], AMI_CORPUS)
    ami_harness(random_chunks(rng, data))


@FUZZ
@given(data=st.binary(max_size=6000), cuts=st.lists(st.integers(1, 700), max_size=30))
def test_arbitrary_bytes_never_crash_the_ami_ingest(data: bytes, cuts: list[int]) -> None:
    chunks, i = [], 0
    for cut in cuts:
        chunks.append(data[i : i + cut])
        i += cut
    chunks.append(data[i:])
    ami_harness([b"Asterisk Call Manager/9.0.0\r\n", *chunks])


@FUZZ
@given(seed=st.integers(0, 2**32), pick=st.integers(0, 10**6))
def test_mutated_sessions_never_crash_the_agi_reader(seed: int, pick: int) -> None:
    rng = random.Random(seed)
    data = mutate(rng, AGI_CORPUS[pick % len(AGI_CORPUS)], AGI_CORPUS)
    assert agi_harness(data) in ("refused", "closed", "replies")


LINE = st.one_of(
    st.from_regex(r"agi_[a-z_]{1,12}: [^\n]{0,40}", fullmatch=True),
    st.from_regex(r"(200 result=-?[0-9]{1,4}( \([^\n]{0,10}\))?|510 .{0,9}|511 x|520-.{0,9}|520 x)",
                  fullmatch=True),
    st.sampled_from(["", "HANGUP", "100 result=0 Trying...", "520 End of proper usage."]),
    st.text(max_size=40).map(lambda t: t.replace("\n", "")),
)  # fmt: skip


@FUZZ
@given(lines=st.lists(LINE, max_size=40), eol=st.sampled_from(["\n", "\r\n"]))
def test_near_agi_lines_never_crash_the_agi_reader(lines: list[str], eol: str) -> None:
    assert agi_harness(eol.join(lines).encode() + eol.encode()) in ("refused", "closed", "replies")


OPEN = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)  # a Tuesday, office hours


async def test_hostile_peers_over_tcp_leave_the_server_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hostile bytes on real connections, then a proper call still gets the IVR."""
    server = FastAgiServer(
        load_flows(DEFAULT_FLOWS_DIR),
        InMemoryIvrServices(),
        port=0,
        reply_timeout=0.3,
        env_timeout=1.0,
        clock=lambda: OPEN,
    )
    await server.start()
    rng = random.Random(11)
    peers = 60
    try:
        for n in range(peers):
            data = mutate(rng, AGI_CORPUS[n % len(AGI_CORPUS)], AGI_CORPUS)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                for chunk in random_chunks(rng, data):
                    writer.write(chunk)
                writer.write_eof()
                async with asyncio.timeout(10):
                    while await reader.read(65536):
                        pass
            except ConnectionError:
                pass  # the server hung up on garbage: allowed
            finally:
                writer.close()
        async with asyncio.timeout(10):
            while server.sessions_finished < peers or server.active_sessions:
                await asyncio.sleep(0.01)
        record = await FakeAsterisk(FakeCall(dtmf=["1"])).run("127.0.0.1", server.port)
        assert record.commands, "the server no longer answers a proper call"
    finally:
        await server.stop(grace=0.5)
    # Refusals are logged as warnings (an unknown script as an error); a
    # crash would carry a traceback.
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("garbage", [b"Response: Follows\n", b"Response: Follows\r\n\r\n\r\n"])
def test_a_follows_reply_without_its_end_marker_does_not_swallow_the_stream(
    garbage: bytes,
) -> None:
    """Found by fuzzing: an old-style reply cut short, then extra blank lines,
    kept every later message waiting for a --END COMMAND-- that never came."""
    parser = AmiParser()
    parser.feed(garbage)
    good = "Event: Good\r\nName: Ñandú\r\n\r\n".encode()
    assert parser.feed(b"\r\n\r\n" + good)[-1:] == [{"Event": "Good", "Name": "Ñandú"}]
