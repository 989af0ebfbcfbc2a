"""The whole product under simulated load: the PBX simulator drives the real
FastAGI IVR and feeds the real bridge (built by the composition root), which
stores attentions in a temporary database.

    python -m bench.simulated_load --calls-per-minute 600 --speed 20 --seconds 20

Arrivals stop after --seconds real seconds; the run then waits (at most
--drain seconds) for the calls in progress to end, and for the bridge to
catch up, and prints what it saw. Loopback only; it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from atiende.demo import OFFICE_HOURS
from atiende.settings import AmiSettings, Settings
from atiende.wiring import BridgeService, build_bridge, ivr_flows, migrate
from crm_bridge.db import make_engine, session_factory
from crm_bridge.exceptions import RecordRejectedError
from crm_bridge.ivr_services import StoreIvrServices
from crm_bridge.models import Attention
from crm_bridge.persons import PersonRegistry
from ivr.server import FastAgiServer
from ivr.session import CommandLatency
from telephony.queue_log import parse_lines
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import KnownPerson, TrafficProfile, sample_persons

SAMPLE_PERIOD = 0.05


@dataclass
class Samples:
    lag: list[float] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)


@dataclass
class LoadResult:
    placed: int
    finished: int
    intended: Counter[str]
    stored: Counter[str]
    events: int
    wall: float
    arrivals_wall: float
    lag: list[float]
    pending_max: int
    agi_samples: list[float]
    agi_sessions: int
    # Stored attentions checked against the simulator's queue_log (outcome,
    # wait, talk, agent), and how many agreed.
    queue_log_calls: int = 0
    queue_log_agreed: int = 0


def _register(engine: Engine, settings: Settings, persons: Sequence[KnownPerson]) -> None:
    registry = PersonRegistry(engine, phone_region=settings.phone_region)
    for person in persons:
        given, _, family = person.name.partition(" ")
        with contextlib.suppress(RecordRejectedError):
            registry.register(
                given_names=given,
                family_names=family,
                consents=["identificacion", "contacto"],
                document_type="ci",
                document_number=person.cedula,
                phones=[person.number],
            )


def _against_queue_log(engine: Engine, system: str, lines: Sequence[str]) -> tuple[int, int]:
    """(queued calls queue_log shows over, stored attentions that agree with it)."""
    facts = parse_lines(lines)
    with session_factory(engine)() as session:
        rows = session.execute(
            select(
                Attention.linkedid,
                Attention.outcome,
                Attention.wait_seconds,
                Attention.talk_seconds,
                Attention.agent,
            ).where(Attention.system == system)
        ).all()
    stored = {row[0]: tuple(row[1:]) for row in rows}
    agreed = checked = 0
    for uniqueid, call in facts.items():
        outcome = call.exit.value if call.exit is not None else "answered"
        if call.ended_at is None:
            continue  # still up when the run stopped
        checked += 1
        if stored.get(uniqueid) == (outcome, call.hold_seconds, call.talk_seconds, call.agent):
            agreed += 1
    return checked, agreed


def _stored(engine: Engine, system: str) -> Counter[str]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(Attention.outcome, func.count())
            .where(Attention.system == system)
            .group_by(Attention.outcome)
        ).all()
    return Counter({outcome: count for outcome, count in rows})


async def _sample(service: BridgeService, samples: Samples, stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.lag.append(service.connection.lag_seconds)
        samples.pending.append(service.writer.pending)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_PERIOD)


async def run_load(
    database_url: str,
    *,
    calls_per_minute: float,
    speed: float,
    seconds: float,
    drain: float = 30.0,
    seed: int = 1,
) -> LoadResult:
    logging.getLogger("ivr.server").setLevel(logging.WARNING)
    system = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=database_url,
        metrics_port=0,
        ami=AmiSettings(host="127.0.0.1", system_name=system),
    )
    await asyncio.to_thread(migrate, settings)
    engine = make_engine(database_url)
    persons = sample_persons(25)
    await asyncio.to_thread(_register, engine, settings, persons)
    services = StoreIvrServices(engine, system=system, phone_region=settings.phone_region)
    latency = CommandLatency()
    started = dt.datetime.now(dt.UTC)
    ivr = FastAgiServer(
        ivr_flows(settings),
        services,
        port=0,
        clock=lambda: OFFICE_HOURS + (dt.datetime.now(dt.UTC) - started),
        latency=latency,
    )
    await ivr.start()
    simulator = Simulator(
        SimulatorConfig(
            speed=speed,
            agi=("127.0.0.1", ivr.port),
            profile=TrafficProfile(calls_per_minute=calls_per_minute),
            seed=seed,
        ),
        known=persons,
    )
    await simulator.start()
    ami = settings.ami.model_copy(
        update={"port": simulator.port, "secret": SecretStr(simulator.config.secret)}
    )
    service = build_bridge(
        settings.model_copy(update={"ami": ami}), engine=engine, clock=simulator.clock.now
    )
    samples = Samples()
    stop = asyncio.Event()
    t0 = time.perf_counter()
    await service.start()
    sampler = asyncio.create_task(_sample(service, samples, stop))
    try:
        await asyncio.sleep(seconds)
        simulator.stop_arrivals()
        arrivals_wall = time.perf_counter() - t0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain):
                while not simulator.idle():
                    await asyncio.sleep(0.05)
        await simulator.freeze()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(service.caught_up(), drain)
        events = service.connection.events_received
        wall = time.perf_counter() - t0
    finally:
        stop.set()
        await sampler
        await ivr.stop()
        await simulator.stop()
        await service.stop()  # flushes the writer
    stored = await asyncio.to_thread(_stored, engine, system)
    checked, agreed = await asyncio.to_thread(
        _against_queue_log, engine, system, list(simulator.pbx.queue_log)
    )
    engine.dispose()
    return LoadResult(
        placed=simulator.placed,
        finished=len(simulator.pbx.finished),
        intended=simulator.outcomes(),
        stored=stored,
        events=events,
        wall=wall,
        arrivals_wall=arrivals_wall,
        lag=samples.lag,
        pending_max=max(samples.pending, default=0),
        agi_samples=list(latency.samples),
        agi_sessions=ivr.sessions_started,
        queue_log_calls=checked,
        queue_log_agreed=agreed,
    )


def _pct(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _outcomes(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def report(result: LoadResult, out: TextIO) -> None:
    match = "yes" if result.stored == result.intended else "NO"
    print(f"calls placed            {result.placed}", file=out)
    print(f"calls finished          {result.finished}", file=out)
    print(f"intended outcomes       {_outcomes(result.intended)}", file=out)
    print(f"stored outcomes         {_outcomes(result.stored)}", file=out)
    print(f"stored == intended      {match}", file=out)
    print(
        f"agree with queue_log    {result.queue_log_agreed}/{result.queue_log_calls} queued calls"
        " (outcome, wait, talk, agent)",
        file=out,
    )
    rate = result.events / result.wall if result.wall else 0.0
    print(f"AMI events received     {result.events} ({rate:,.0f}/s over the run)", file=out)
    lag_median = statistics.median(result.lag) if result.lag else 0.0
    lag_max = max(result.lag, default=0.0)
    print(
        f"bridge lag              median {lag_median * 1000:.1f} ms, max {lag_max * 1000:.1f} ms",
        file=out,
    )
    print(f"writer pending max      {result.pending_max}", file=out)
    agi = result.agi_samples
    print(
        f"FastAGI sessions        {result.agi_sessions}, {len(agi)} commands,"
        f" p50 {_pct(agi, 50) * 1000:.2f} ms, p99 {_pct(agi, 99) * 1000:.2f} ms",
        file=out,
    )
    print(
        f"wall time               {result.wall:.1f} s"
        f" (arrivals {result.arrivals_wall:.1f} s, then drain)",
        file=out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls-per-minute", type=float, default=600.0, help="simulated time")
    parser.add_argument("--speed", type=float, default=20.0, help="simulated seconds per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="real seconds of arrivals")
    parser.add_argument("--drain", type=float, default=30.0, help="max real seconds to drain")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="atiende-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(
            f"simulated load: {args.calls_per_minute:g} calls/min x{args.speed:g},"
            f" {args.seconds:g} s of arrivals, database {url}",
            flush=True,
        )
        result = asyncio.run(
            run_load(
                url,
                calls_per_minute=args.calls_per_minute,
                speed=args.speed,
                seconds=args.seconds,
                drain=args.drain,
                seed=args.seed,
            )
        )
    report(result, sys.stdout)
    return 0 if result.stored == result.intended else 1


if __name__ == "__main__":
    sys.exit(main())
