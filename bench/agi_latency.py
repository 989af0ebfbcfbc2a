"""FastAGI per-command latency as Asterisk sees it, calls arriving at a steady rate.

    python -m bench.agi_latency [--sessions 1000] [--rate 100] [--think-ms 300-900]

The real FastAGI server (`ivr.server.FastAgiServer`, the default flows,
in-memory services) runs in this process; the fake Asterisk
(`ivr.testing.FakeAsterisk`) runs in a separate process, so its CPU does not
count as the server's. Calls arrive at `--rate` new calls per second until
`--sessions` have started; each call goes through the default flow (about
twenty commands) and Asterisk takes a random time within `--think-ms`
before each reply (a prompt playing, a caller keying), so with the defaults
the calls last 6-18 s and about 1,000 sessions are up at once at the peak.

Latency per command is measured on Asterisk's side: from the moment a reply
(or, for the first command, the agi_* environment) has been written to the
moment the next command has been read. It therefore includes everything the
server does and the time the session waited in the server's event loop
(ready queue, other sessions' work), which the server's own timer
(`ivr.session.CommandLatency`, printed for comparison) cannot see. The
fake Asterisk's own loop lag is printed too: it is an upper bound on how much
of the latency is the client's, not the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import logging
import multiprocessing as mp
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from ivr.flows import DEFAULT_FLOWS_DIR, load_flows
from ivr.server import FastAgiServer
from ivr.services import Person
from ivr.session import CommandLatency
from ivr.testing import FakeAsterisk, FakeCall, InMemoryIvrServices

OPEN = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)  # a Tuesday, 10:00 in Montevideo
GOAL_P99_MS = 5.0
TICK = 0.005


@dataclass
class CallerReport:
    """What the fake Asterisk process sends back."""

    sessions_ok: int = 0
    commands: int = 0
    first: list[float] = field(default_factory=list)  # environment -> first command
    gaps: list[float] = field(default_factory=list)  # reply -> next command
    lags: list[float] = field(default_factory=list)  # the client's own loop lag
    wall: float = 0.0


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    """How late a TICK-second sleep wakes up: the loop's queue time."""
    while not stop.is_set():
        planned = time.perf_counter() + TICK
        await asyncio.sleep(TICK)
        lags.append(max(0.0, time.perf_counter() - planned))


async def _callers(
    port: int, sessions: int, rate: float, think: tuple[float, float], seed: int
) -> CallerReport:
    report = CallerReport()
    rng = random.Random(seed)
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(report.lags, stop))

    async def one(i: int, delay: float) -> None:
        fake = FakeAsterisk(
            FakeCall(
                dtmf=["1" if i % 2 else "2", "12345672#"],
                uniqueid=f"1795344853.{i}",
                reply_delay=delay,
            )
        )
        record = await fake.run("127.0.0.1", port, limit_seconds=300)
        if not record.commands or not (record.closed_by_server or record.hung_up_by_ivr):
            return  # refused, or cut short
        report.sessions_ok += 1
        report.commands += len(record.commands)
        report.first.append(fake.reply_gaps[0])
        report.gaps.extend(fake.reply_gaps[1:])

    started = time.perf_counter()
    tasks = []
    for i in range(sessions):
        # Arrivals on a fixed schedule: a late start is the client's lag, not a pause.
        wait = started + i / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(i, rng.uniform(*think))))
    await asyncio.gather(*tasks, return_exceptions=True)
    report.wall = time.perf_counter() - started
    stop.set()
    await ticker
    return report


def _caller_process(
    port: int,
    sessions: int,
    rate: float,
    think: tuple[float, float],
    seed: int,
    conn: Connection,
) -> None:
    conn.send(asyncio.run(_callers(port, sessions, rate, think, seed)))
    conn.close()


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Result:
    caller: CallerReport
    server_samples: list[float]
    server_lags: list[float]
    peak_sessions: int
    server_cpu: float  # CPU seconds of the server's process during the run


async def run(sessions: int, rate: float, think: tuple[float, float], seed: int = 2026) -> Result:
    services = InMemoryIvrServices(persons_by_cedula={"12345672": Person("p-1")})
    latency = CommandLatency()
    server = FastAgiServer(
        load_flows(DEFAULT_FLOWS_DIR),
        services,
        port=0,
        clock=lambda: OPEN,
        latency=latency,
        reply_timeout=60.0,
        max_sessions=max(5000, sessions),
    )
    await server.start()
    gc.freeze()  # as `atiende serve` does once its parts are started
    lags: list[float] = []
    stop = asyncio.Event()
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server.active_sessions)
            await asyncio.sleep(0.05)

    ticker = asyncio.create_task(_ticker(lags, stop))
    watcher = asyncio.create_task(watch())
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_caller_process, args=(server.port, sessions, rate, think, seed, child)
    )
    cpu = time.process_time()
    try:
        proc.start()
        caller: CallerReport = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        proc.join()
    finally:
        stop.set()
        await ticker
        await watcher
        await server.stop()
    cpu = time.process_time() - cpu
    return Result(caller, list(latency.samples), lags, peak, cpu)


def _ms(values: Sequence[float]) -> str:
    return (
        "  ".join(
            f"{label} {percentile(values, p) * 1000:7.2f}"
            for label, p in (("median", 50), ("p95", 95), ("p99", 99))
        )
        + f"  max {max(values, default=0.0) * 1000:7.2f}"
    )


def _think(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    a, b = float(low), float(high or low)
    if a < 0 or b < a:
        raise argparse.ArgumentTypeError("think time: MIN-MAX in ms, 0 <= MIN <= MAX")
    return a / 1000, b / 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=1000, help="calls placed in all")
    parser.add_argument("--rate", type=float, default=100.0, help="new calls per second")
    parser.add_argument(
        "--think-ms",
        type=_think,
        default=(0.3, 0.9),
        help="MIN-MAX: Asterisk waits a random time in this range before each reply",
    )
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.rate <= 0:
        parser.error("--sessions must be >= 1 and --rate > 0")
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(run(args.sessions, args.rate, args.think_ms, args.seed))
    c = result.caller
    low, high = args.think_ms
    print(
        f"FastAGI default flow: {args.sessions:,} calls at {args.rate:g}/s, "
        f"Asterisk thinks {low * 1000:g}-{high * 1000:g} ms before each reply (loopback)"
    )
    print(
        f"sessions ok {c.sessions_ok:,} of {args.sessions:,}; commands {c.commands:,}; "
        f"peak concurrent sessions {result.peak_sessions:,}; wall {c.wall:.1f} s"
    )
    per_command = result.server_cpu / c.commands * 1e6 if c.commands else 0.0
    print(
        f"server CPU {result.server_cpu:.1f} s: {per_command:,.0f} us per command "
        f"(the loop's share of a core: {result.server_cpu / c.wall:.0%})"
        if c.wall
        else "server CPU: no commands"
    )
    print("latency per command, ms (Asterisk's view: reply written -> next command read)")
    print(f"  {'per command':22} {_ms(c.gaps)}")
    print(f"  {'first command':22} {_ms(c.first)}")
    print(f"  {'server own time':22} {_ms(result.server_samples)}")
    print(f"  {'server loop lag':22} {_ms(result.server_lags)}")
    print(f"  {'client loop lag':22} {_ms(c.lags)}")
    p99 = percentile(c.gaps, 99) * 1000
    ok = c.sessions_ok == args.sessions and p99 <= GOAL_P99_MS
    print(
        f"goal per-command p99 <= {GOAL_P99_MS:g} ms with every session served: "
        f"{'met' if ok else 'NOT met'} (p99 {p99:.2f} ms)"
    )
    return 0 if c.sessions_ok == args.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
