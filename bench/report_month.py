"""The month report at 1,000,000 attentions on PostgreSQL.

    python -m bench.report_month [--attentions 1000000] [--rounds 7]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--keep]

Creates a temporary database, migrates it (the store's real schema and
indexes), COPYs `--attentions` synthetic attentions spread over one month
(20 queues, 150 agents, 80 % answered, 12 % abandoned, the rest exits or
IVR-only), one day of state intervals per agent and working day, and wrap-ups
for half the answered calls; ANALYZE; then times the reports the API runs
for that month (local time zone America/Montevideo): per queue and day, per
queue and hour, per agent, per topic, per organism. Goals (median over
`--rounds`, after one warm-up): the queue report <= 300 ms, also when an
attention was written just before it; every report <= 1 s. The first queue
report, which counts the month into the rollup, is timed on its own. The
database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from citizen.channels import Channel
from crm_bridge.db import make_engine, upgrade
from dashboards import kpi
from dashboards.report_queries import (
    Granularity,
    ReportSpan,
    agent_report,
    organism_report,
    queue_report,
    topic_report,
)

TZ = ZoneInfo("America/Montevideo")
MONTH_START = datetime(2026, 3, 1, tzinfo=TZ)
MONTH_END = datetime(2026, 4, 1, tzinfo=TZ)
QUEUES = [f"cola{i:02d}" for i in range(20)]
AGENTS = [f"Agente {i:03d}" for i in range(150)]


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _copy(conn: psycopg.Connection[Any], table: str, columns: Sequence[str], lines: str) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(lines)


ATTENTION_COLUMNS = (
    "system",
    "linkedid",
    "channel",
    "caller_number_raw",
    "caller_name",
    "arrived_at",
    "queue_joined_at",
    "answered_at",
    "ended_at",
    "ivr_path",
    "queues",
    "queue",
    "agent",
    "agents",
    "legs",
    "wait_seconds",
    "talk_seconds",
    "outcome",
    "hangup_side",
    "variables",
)


# Rows as wide as the bridge writes them: the scan reads whole heap rows.
VARIABLES = json.dumps({"ATIENDE_TOPIC": "jubilaciones", "ATIENDE_NOTICE_VERSION": "2026-01"})


def _legs(
    queue: str | None,
    arrived: datetime,
    answered: datetime | None,
    ended: datetime,
    outcome: str,
    agent: str | None,
    wait: float | None,
    talk: float | None,
) -> str:
    if queue is None:
        return "[]"
    leg = {
        "queue": queue,
        "joined_at": _ts(arrived),
        "left_at": _ts(ended),
        "position": 1,
        "outcome": outcome,
        "agent": agent,
        "interface": None if agent is None else f"PJSIP/{agent[-3:]}",
        "answered_at": None if answered is None else _ts(answered),
        "wait_seconds": wait,
        "talk_seconds": talk,
        "abandon_position": None,
    }
    return json.dumps([leg], ensure_ascii=False)


def generate(url: str, attentions: int, seed: int = 5) -> tuple[int, int]:
    rng = random.Random(seed)
    span = (MONTH_END - MONTH_START).total_seconds()
    buffer = io.StringIO()
    wrapups = io.StringIO()
    n_wrapups = 0
    empty = "[]"
    for i in range(attentions):
        arrived = MONTH_START + timedelta(seconds=rng.random() * span)
        queue = rng.choice(QUEUES)
        roll = rng.random()
        wait = round(rng.expovariate(1 / 25), 1)
        answered = talk = agent = None
        if roll < 0.80:
            outcome, talk, agent = (
                "answered",
                round(rng.expovariate(1 / 180), 1),
                rng.choice(AGENTS),
            )
            answered = arrived + timedelta(seconds=wait)
        elif roll < 0.92:
            outcome = "abandoned"
        elif roll < 0.95:
            outcome = "exit_timeout"
        else:
            outcome, queue, wait = "ivr_completed", None, None
        ended = arrived + timedelta(seconds=(wait or 0) + (talk or 0) + 5)
        fields = [
            "pbx1",
            f"{1700000000 + i}.{i}",
            Channel.TELEFONICO.value,
            "099123456",
            "",
            _ts(arrived),
            _ts(arrived) if queue else r"\N",
            _ts(answered) if answered else r"\N",
            _ts(ended),
            empty,
            json.dumps([queue]) if queue else empty,
            queue or r"\N",
            agent or r"\N",
            json.dumps([agent]) if agent else empty,
            _legs(queue, arrived, answered, ended, outcome, agent, wait, talk),
            r"\N" if wait is None else str(wait),
            r"\N" if talk is None else str(talk),
            outcome,
            "caller",
            VARIABLES,
        ]
        buffer.write("\t".join(fields) + "\n")
        if answered is not None and rng.random() < 0.5:
            n_wrapups += 1
            started = answered + timedelta(seconds=talk or 0)
            wrapups.write(
                "\t".join(
                    [
                        "pbx1",
                        f"{1700000000 + i}.{i}",
                        rng.choice(["consulta", "reclamo", "tramite"]),
                        str(rng.randint(1, 40)),
                        _ts(started),
                        _ts(started + timedelta(seconds=rng.randint(5, 90))),
                    ]
                )
                + "\n"
            )
    intervals = io.StringIO()
    n_intervals = 0
    day = MONTH_START
    while day < MONTH_END:
        for agent in AGENTS:
            moment = day + timedelta(hours=8)
            for _ in range(16):  # a shift in half-hour spans
                state = rng.choice(["available", "on_call", "on_call", "wrap_up", "paused"])
                reason = (
                    rng.choice(["almuerzo", "baño", "capacitación"]) if state == "paused" else None
                )
                end = moment + timedelta(minutes=30)
                intervals.write(
                    "\t".join(
                        [
                            "pbx1",
                            f"PJSIP/{agent[-3:]}",
                            agent,
                            state,
                            reason or r"\N",
                            r"\N",
                            _ts(moment),
                            _ts(end),
                            "1800",
                        ]
                    )
                    + "\n"
                )
                n_intervals += 1
                moment = end
        day += timedelta(days=1)
    raw = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(raw) as conn:
        with conn.cursor() as cur:
            for code in range(1, 5):
                cur.execute(
                    "INSERT INTO organisms (code, name, active) VALUES (%s, %s, true)",
                    (f"ORG{code}", f"Organismo {code}"),
                )
            for topic in range(1, 41):
                cur.execute(
                    "INSERT INTO catalog_topics (id, code, name, kind, organism_id, active) "
                    "VALUES (%s, %s, %s, 'tramite', (SELECT min(id) FROM organisms) + %s, true)",
                    (topic, f"t{topic}", f"Tema {topic}", topic % 4),
                )
        _copy(conn, "attentions", ATTENTION_COLUMNS, buffer.getvalue())
        _copy(
            conn,
            "attention_wrapups",
            (
                "system",
                "linkedid",
                "attention_type",
                "topic_id",
                "wrapup_started_at",
                "wrapup_ended_at",
            ),
            wrapups.getvalue(),
        )
        _copy(
            conn,
            "agent_state_intervals",
            (
                "system",
                "interface",
                "member_name",
                "state",
                "reason",
                "queue",
                "started_at",
                "ended_at",
                "duration_seconds",
            ),
            intervals.getvalue(),
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return n_wrapups, n_intervals


_FORMER_SCAN = text(
    """
SELECT queue, CAST(floor(EXTRACT(epoch FROM arrived_at) / 3600.0) AS INTEGER) AS hour,
       count(*),
       count(*) FILTER (WHERE answered_at IS NOT NULL),
       count(*) FILTER (WHERE answered_at IS NOT NULL AND coalesce(wait_seconds, 0) <= 20),
       count(*) FILTER (WHERE answered_at IS NULL AND outcome = 'abandoned'),
       count(*) FILTER (WHERE answered_at IS NULL AND outcome = 'abandoned'
                        AND coalesce(wait_seconds, 0) < 5),
       count(*) FILTER (WHERE answered_at IS NULL AND outcome = 'abandoned'
                        AND coalesce(wait_seconds, 0) >= 5 AND coalesce(wait_seconds, 0) <= 20),
       count(*) FILTER (WHERE answered_at IS NULL
                        AND outcome IN ('exit_timeout', 'exit_key', 'exit_empty', 'join_empty')),
       sum(coalesce(wait_seconds, 0)) FILTER (WHERE answered_at IS NOT NULL),
       sum(talk_seconds) FILTER (WHERE answered_at IS NOT NULL),
       count(talk_seconds) FILTER (WHERE answered_at IS NOT NULL)
FROM attentions
WHERE queue IS NOT NULL AND arrived_at >= :start AND arrived_at < :end
GROUP BY queue, hour
"""
)


# The old one-scan queue query, timed only for a ratio in the same run: it is
# not a report the API serves, so no goal reads it.
REFERENCE = "reference: former scan"


def goal_line(medians: dict[str, float]) -> str:
    """The verdict on the goals from the median seconds of each timed report."""
    served = {label: seconds for label, seconds in medians.items() if label != REFERENCE}
    queue_worst = max(v for k, v in served.items() if k.startswith("queue"))
    return (
        "goal: queue report <= 300 ms median: "
        f"{'met' if queue_worst <= 0.3 else 'NOT met'}; every report <= 1 s: "
        f"{'met' if max(served.values()) <= 1.0 else 'NOT met'}"
    )


def _ms(began: float) -> str:
    return f"{(time.perf_counter() - began) * 1000:,.0f}"


def _time(
    fn: Callable[[], object], rounds: int, before: Callable[[], None] | None = None
) -> tuple[float, float, float, int]:
    fn()  # warm-up: plans and caches
    samples = []
    size = 0
    for _ in range(rounds):
        if before is not None:
            before()  # not timed
        began = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - began)
        size = len(result) if isinstance(result, list) else 0
    return statistics.median(samples), min(samples), max(samples), size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attentions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    admin_url = make_url(args.admin_url)
    name = f"atiende_bench_reports_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        began = time.perf_counter()
        n_wrapups, n_intervals = generate(url, args.attentions)
        print(
            f"loaded {args.attentions:,} attentions, {n_wrapups:,} wrap-ups, "
            f"{n_intervals:,} intervals in {time.perf_counter() - began:.1f} s (COPY + ANALYZE)"
        )
        engine = make_engine(url)
        span = ReportSpan(MONTH_START, MONTH_END, TZ)
        # As the composition root builds them: every queue listed, the
        # default carrying the same site-wide thresholds.
        definitions = kpi.kpi_definitions(QUEUES, default_sl_seconds=20, short_abandon_seconds=5)
        default = kpi.QueueKpiDefinition(service_level_seconds=20, short_abandon_seconds=5)
        reports: dict[str, Callable[[], object]] = {
            "queue x day": lambda: queue_report(
                engine, span, definitions=definitions, default=default
            ),
            "queue x hour": lambda: queue_report(
                engine, span, granularity=Granularity.HOUR, definitions=definitions, default=default
            ),
            "agent": lambda: agent_report(engine, span),
            "topic": lambda: topic_report(engine, span),
            "organism": lambda: organism_report(engine, span),
        }
        # The first queue report counts the whole month into the rollup
        # (dashboards.report_rollup); later ones recount only changed hours.
        began = time.perf_counter()
        reports["queue x day"]()
        print(f"first queue report (counts the month into the rollup): {_ms(began)} ms")
        rng = random.Random(11)
        with engine.connect() as conn:
            last_day = conn.execute(
                text("SELECT count(*) FROM attentions WHERE arrived_at >= :day"),
                {"day": MONTH_END - timedelta(days=1)},
            ).scalar_one()

        def touch(recent: bool) -> Callable[[], None]:
            def write() -> None:
                # What the bridge does all day: rewrite an attention, whose
                # hour the next report then counts again. `recent`: one of
                # the last day (the calls going on now); else any of the month.
                with engine.begin() as conn:
                    since = MONTH_END - timedelta(days=1 if recent else 31)
                    n = rng.randrange(last_day if recent else args.attentions)
                    chosen = conn.execute(
                        text(
                            "SELECT id FROM attentions WHERE arrived_at >= :since OFFSET :n LIMIT 1"
                        ),
                        {"since": since, "n": n},
                    ).scalar_one()
                    conn.execute(
                        text("UPDATE attentions SET hangup_side = hangup_side WHERE id = :id"),
                        {"id": chosen},
                    )

            return write

        reports["queue x day, 1 write"] = reports["queue x day"]
        reports["queue x day, 1 old write"] = reports["queue x day"]

        def former_scan() -> object:
            # Reference only, for a ratio in the same run: the one-scan query
            # the queue report ran before the rollup (per call, thresholds
            # 20 s and 5 s), without folding its rows into days.
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL jit = off"))
                return conn.execute(_FORMER_SCAN, {"start": MONTH_START, "end": MONTH_END}).all()

        reports[REFERENCE] = former_scan
        print(f"{'report':<26}{'median ms':>10}{'min':>8}{'max':>8}{'rows':>8}")
        medians: dict[str, float] = {}
        for label, fn in reports.items():
            before = touch(label.endswith("1 write")) if "write" in label else None
            median, low, high, rows = _time(fn, args.rounds, before)
            medians[label] = median
            print(
                f"{label:<26}{median * 1000:>10.0f}{low * 1000:>8.0f}{high * 1000:>8.0f}{rows:>8}"
            )
        print(
            "queue x day against the former scan, same run: "
            f"{medians[REFERENCE] / medians['queue x day']:.1f}x faster"
        )
        print(goal_line(medians))
        engine.dispose()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
