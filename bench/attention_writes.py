"""Attention writes into PostgreSQL, sustained, the way the bridge writes them.

    python -m bench.attention_writes [--calls 100000] [--outbox]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a temporary database migrated to head (every index and trigger the
store has, the report rollup's included), then submits `--calls` finished
calls to `crm_bridge.attention_writer.AttentionWriter` over
`AttentionRepository` (the bridge's own writer thread, default batch size and
flush interval), as fast as the producer can: the writer is saturated. Rows
are as the bridge writes them (one or two queue legs, IVR path, a few
ATIENDE_* variables). `--outbox` also writes the CRM outbox row of each final
attention in the same transaction, as `atiende serve` does with a CRM adapter.

Prints the overall rate (attentions committed per second, from the first
submission to the last commit), the rate of each whole second of the run
(median, slowest, fastest) and the slowest 5-second window. Goal: >= 2,000
attentions/s overall and in every 5-second window (commits come in batches
of up to 500, so single seconds swing by a batch). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import threading
import time
import uuid
from collections.abc import Sequence

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from crm_bridge.attention_writer import AttentionWriter
from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine, upgrade
from crm_bridge.models import Attention
from telephony.domain import CallKey, CallRecord, HangupSide, Outcome, QueueLeg

QUEUES = ["consultas", "reclamos", "tramites", "bps", "intendencia"]
START = 1_772_000_000.0


def make_records(count: int, seed: int = 3) -> list[CallRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        arrived = START + i * 0.5
        queue = rng.choice(QUEUES)
        joined = arrived + rng.uniform(5, 30)
        wait = float(rng.randint(0, 90))
        talk = float(rng.randint(20, 400))
        roll = rng.random()
        legs: tuple[QueueLeg, ...]
        if roll < 0.8:
            agent = f"Agente {rng.randint(1, 150):03d}"
            answered = joined + wait
            first = QueueLeg(
                queue,
                joined,
                1,
                answered + talk,
                Outcome.ANSWERED,
                agent,
                f"PJSIP/{rng.randint(4000, 4150)}",
                answered,
                wait,
                talk,
            )
            legs = (first,)
            if roll < 0.05:  # transferred on to a second queue
                second_join = answered + talk
                legs = (
                    QueueLeg(
                        queue,
                        joined,
                        1,
                        answered + talk,
                        Outcome.TRANSFERRED,
                        agent,
                        None,
                        answered,
                        wait,
                        talk,
                    ),
                    QueueLeg(
                        "reclamos",
                        second_join,
                        1,
                        second_join + 60,
                        Outcome.ANSWERED,
                        agent,
                        None,
                        second_join + 10,
                        10.0,
                        50.0,
                    ),
                )
            outcome, ended = Outcome.ANSWERED, legs[-1].left_at or answered + talk
        else:
            outcome = Outcome.ABANDONED if roll < 0.95 else Outcome.EXIT_TIMEOUT
            legs = (QueueLeg(queue, joined, 2, joined + wait, outcome, wait_seconds=wait),)
            ended = joined + wait
        out.append(
            CallRecord(
                CallKey("pbx1", f"{int(arrived)}.{i}"),
                f"09{rng.randint(1_000_000, 9_999_999)}",
                "Ana Pérez",
                arrived,
                outcome,
                HangupSide.CALLER,
                queue_joined_at=legs[-1].joined_at,
                answered_at=legs[-1].answered_at,
                ended_at=ended,
                wait_seconds=legs[-1].wait_seconds,
                talk_seconds=legs[-1].talk_seconds,
                ivr_path=("1", "2"),
                variables={"ATIENDE_TOPIC": "jubilaciones", "ATIENDE_NOTICE_VERSION": "2026-01"},
                legs=legs,
            )
        )
    return out


def _per_second(stamps: Sequence[tuple[float, int]]) -> list[float]:
    """Attentions committed in each whole second of the run, from (time, written) samples."""
    rates = []
    for (t0, w0), (t1, w1) in itertools.pairwise(stamps):
        if t1 > t0:
            rates.append((w1 - w0) / (t1 - t0))
    return rates


def run(url: str, records: list[CallRecord], outbox: bool) -> tuple[float, list[float], int]:
    engine = make_engine(url)
    repository = AttentionRepository(engine, outbox=outbox)
    writer = AttentionWriter(repository, max_pending=len(records) + 1)
    stamps: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        # The writer's own count of committed attentions, once a second.
        while not done.is_set():
            stamps.append((time.perf_counter(), writer.written))
            done.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    began = time.perf_counter()
    sampler.start()
    for record in records:
        writer.submit_record(record)
    asyncio.run(writer.flush())
    elapsed = time.perf_counter() - began
    done.set()
    sampler.join()
    stamps.append((time.perf_counter(), writer.written))
    asyncio.run(writer.close())
    with engine.connect() as conn:
        stored = int(conn.scalar(select(func.count()).select_from(Attention)) or 0)
    engine.dispose()
    return len(records) / elapsed, _per_second(stamps), stored


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--outbox", action="store_true")
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    admin_url = make_url(args.admin_url)
    name = f"atiende_bench_writes_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        records = make_records(args.calls)
        rate, seconds, stored = run(url, records, args.outbox)
        full = seconds[1:-1] or seconds  # whole seconds only: drop the ramp and the tail
        # Commits come in batches of up to 500: a single second holds one
        # batch more or less than its neighbours, so 5-second windows say
        # more about "sustained" than single seconds do.
        windows = [statistics.fmean(full[i : i + 5]) for i in range(max(1, len(full) - 4))]
        print(
            f"{args.calls:,} attentions{' + outbox rows' if args.outbox else ''}: "
            f"{rate:,.0f}/s overall; per second: median {statistics.median(full):,.0f}, "
            f"slowest {min(full):,.0f}, fastest {max(full):,.0f} ({len(full)} s); "
            f"slowest 5-second window {min(windows):,.0f}/s"
        )
        assert stored == args.calls, f"{stored} rows stored for {args.calls} calls"
        met = rate >= 2000 and min(windows) >= 2000
        print(
            "goal: >= 2,000 attentions/s sustained (overall and every 5-second window): "
            f"{'met' if met else 'NOT met'}"
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
