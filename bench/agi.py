"""FastAGI benchmark: many concurrent calls through the default flow on loopback.

    python -m bench.agi [--sessions 1000] [--rounds 3] [--budget 60]

The server runs in this process; the fake Asterisk callers run in a separate
process (so their CPU does not count as server latency), each call going
through the default flow: linkedid, welcome, notice, phone look-up, menu (1),
cédula, look-up, expected wait and the ATIENDE_* variables (~20 commands).

Server time per command is measured inside the server: from the moment a
reply has been read and parsed to the moment the next command has been
written (engine step + service double + command encoding + write). It does
not include time the session task waited in the event loop's ready queue; the
"lag" columns show that wait separately (how late a 5 ms ticker wakes up).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import multiprocessing as mp
import statistics
import time
from multiprocessing.connection import Connection

from ivr.flows import DEFAULT_FLOWS_DIR, load_flows
from ivr.server import FastAgiServer
from ivr.services import Person
from ivr.session import CommandLatency
from ivr.testing import FakeAsterisk, FakeCall, InMemoryIvrServices

OPEN = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)  # a Tuesday, 10:00 in Montevideo


async def _callers(port: int, sessions: int, think: float) -> tuple[int, int, float, list[float]]:
    async def one(i: int) -> tuple[int, float]:
        fake = FakeCall(
            dtmf=["1" if i % 2 else "2", "12345672#"],
            uniqueid=f"1795344853.{i}",
            reply_delay=think,
        )
        started = time.perf_counter()
        record = await FakeAsterisk(fake).run("127.0.0.1", port, limit_seconds=120)
        return len(record.commands), time.perf_counter() - started

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(sessions)), return_exceptions=True)
    wall = time.perf_counter() - started
    ok = [r for r in results if isinstance(r, tuple)]
    commands = sum(c for c, _ in ok)
    return len(ok), commands, wall, [d for _, d in ok]


def _caller_process(port: int, sessions: int, think: float, conn: Connection) -> None:
    conn.send(asyncio.run(_callers(port, sessions, think)))
    conn.close()


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    period = 0.005
    while not stop.is_set():
        planned = time.perf_counter() + period
        await asyncio.sleep(period)
        lags.append(max(0.0, time.perf_counter() - planned))


async def run(
    sessions: int, rounds: int, budget: float, think: float = 0.0
) -> list[dict[str, float]]:
    services = InMemoryIvrServices(persons_by_cedula={"12345672": Person("p-1")})
    latency = CommandLatency()
    server = FastAgiServer(
        load_flows(DEFAULT_FLOWS_DIR),
        services,
        port=0,
        clock=lambda: OPEN,
        latency=latency,
        reply_timeout=60.0,
    )
    await server.start()
    rows: list[dict[str, float]] = []
    deadline = time.monotonic() + budget
    ctx = mp.get_context("spawn")
    try:
        for round_no in range(1, rounds + 1):
            if time.monotonic() > deadline:
                break
            latency.reset()
            lags: list[float] = []
            stop = asyncio.Event()
            ticker = asyncio.create_task(_ticker(lags, stop))
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_caller_process, args=(server.port, sessions, think, child))
            proc.start()
            loop = asyncio.get_running_loop()
            done, commands, wall, durations = await loop.run_in_executor(None, parent.recv)
            proc.join()
            stop.set()
            await ticker
            samples = latency.samples
            rows.append(
                {
                    "round": round_no,
                    "sessions_ok": done,
                    "commands": commands,
                    "wall_s": wall,
                    "cmd_per_s": commands / wall if wall else 0.0,
                    "p50_ms": _pct(samples, 50) * 1000,
                    "p99_ms": _pct(samples, 99) * 1000,
                    "p999_ms": _pct(samples, 99.9) * 1000,
                    "max_ms": max(samples, default=0.0) * 1000,
                    "call_median_s": statistics.median(durations) if durations else 0.0,
                    "lag_p50_ms": _pct(lags, 50) * 1000,
                    "lag_p99_ms": _pct(lags, 99) * 1000,
                }
            )
    finally:
        await server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds, whole benchmark")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="fake Asterisk waits this long before each reply (0: saturation test)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = asyncio.run(run(args.sessions, args.rounds, args.budget, args.think_ms / 1000))
    header = (
        f"{'round':>5} {'sessions':>8} {'commands':>8} {'wall s':>7} {'cmd/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7} {'call s':>7} "
        f"{'lag p50':>7} {'lag p99':>7}"
    )
    print(
        f"FastAGI default flow, {args.sessions} concurrent sessions per round (loopback), "
        f"Asterisk replies after {args.think_ms:g} ms"
    )
    print("server time per command = reply parsed -> next command written")
    print(header)
    for r in rows:
        print(
            f"{int(r['round']):>5} {int(r['sessions_ok']):>8} {int(r['commands']):>8} "
            f"{r['wall_s']:>7.2f} {r['cmd_per_s']:>8.0f} {r['p50_ms']:>7.3f} "
            f"{r['p99_ms']:>7.3f} {r['p999_ms']:>8.3f} {r['max_ms']:>7.2f} "
            f"{r['call_median_s']:>7.2f} {r['lag_p50_ms']:>7.2f} {r['lag_p99_ms']:>7.2f}"
        )
    worst = max((r["p99_ms"] for r in rows), default=0.0)
    print(f"goal p99 <= 2 ms at {args.sessions} sessions: {'met' if worst <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
