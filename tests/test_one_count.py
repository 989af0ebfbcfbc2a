"""One counting rule: a simulated day of traffic gives the same figures in the
live metrics (Prometheus, what Grafana draws), the wallboard, `atiende replay
--summary`, the SQL queue report and the queue_log the simulator wrote as
Asterisk does.

The rule (dashboards.kpi.QueueTally): per queue leg, a leg counting once in
its own queue; a wait equal to the threshold is within it; a short abandon
(wait < S) is counted on its own and kept out of the rates.
"""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from atiende.replay_command import run as replay_command
from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine, upgrade
from dashboards import kpi
from dashboards.queue_metrics import QueueMetrics, QueueMetricsCollector
from dashboards.report_queries import ReportSpan, queue_report
from dashboards.wallboard import Wallboard
from telephony.domain import CallEnded, CallRecord
from telephony.simulator.calls import Pbx
from telephony.simulator.traffic import Traffic, TrafficProfile
from telephony.tracker import CallTracker
from tests.support.queue_log import parse_queue_log

TZ = ZoneInfo("America/Montevideo")
DAY = datetime(2026, 3, 2, tzinfo=TZ)
OPENS = (DAY + timedelta(hours=8)).timestamp()
CLOSES = (DAY + timedelta(hours=20)).timestamp()
QUEUES = {
    "consultas": [("4001", "Ana Gómez"), ("4002", "Bruno Núñez"), ("4004", "Diego Sosa")],
    "reclamos": [("4003", "Carla Pérez"), ("4005", "Elena Ruiz")],
}
SL = {"consultas": 20, "reclamos": 30}
SHORT = 5.0
DEFINITIONS = {
    name: kpi.QueueKpiDefinition(service_level_seconds=sl, short_abandon_seconds=SHORT)
    for name, sl in SL.items()
}
DEFAULT = kpi.QueueKpiDefinition(service_level_seconds=20, short_abandon_seconds=SHORT)
FIGURES = ("offered", "answered", "answered_within", "abandoned", "exited")


class Day:
    """A simulated day: the AMI it sent, the queue_log it wrote, and the
    live metrics fed as the bridge feeds them."""

    def __init__(self) -> None:
        pbx = Pbx(
            start=OPENS,
            style="pjsip",
            queues=QUEUES,
            no_answer_share=0.1,
            seed=12,
        )
        profile = TrafficProfile(calls_per_minute=2.5, mean_patience=60.0, mean_talk=90.0)
        traffic = Traffic(profile, seed=12)
        for index, arrival in enumerate(traffic.arrivals(OPENS + 1, CLOSES)):
            # One caller in four is given Queue()'s timeout: some leave by it.
            caller = arrival.caller
            if index % 4 == 0:
                caller = dataclasses.replace(caller, queue_timeout=40)
            pbx.place_call(caller, arrival.at)
        extensions = [ext for people in QUEUES.values() for ext, _ in people]
        for change in traffic.pauses(extensions, OPENS + 1, CLOSES):
            pbx.at(
                change.at,
                lambda c=change: pbx.set_paused(pbx._interface(c.extension), c.paused, c.reason),
            )
        self.now = OPENS
        self.metrics = QueueMetrics(
            DEFINITIONS,
            default=DEFAULT,
            window_seconds=86_400.0,  # the wallboard's window covers the day
            timezone=TZ,
            clock=lambda: self.now,
        )
        tracker = CallTracker("sim", wrapup_seconds={name: 3.0 for name in QUEUES})
        self.tracker = tracker
        self.records: list[CallRecord] = []
        wire = bytearray()
        for event in pbx.advance(CLOSES + 3600):
            wire += event.encode()
            self.now = event.at
            events = tracker.feed(event.fields())
            self.metrics.publish(events)
            self.records.extend(e.record for e in events if isinstance(e, CallEnded))
        self.now = CLOSES + 3600
        self.capture = bytes(wire)
        self.queue_log = pbx.queue_log


@pytest.fixture(scope="module")
def day() -> Day:
    return Day()


@pytest.fixture(scope="module")
def store_url(postgres_url: str) -> Iterator[str]:
    url = make_url(postgres_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"{url.database}_count_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db = url.set(database=name).render_as_string(hide_password=False)
        upgrade(db)
        yield db
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def from_queue_log(path: Path) -> dict[str, dict[str, float]]:
    """The figures as Asterisk's queue_log gives them, leg by leg."""
    out: dict[str, dict[str, float]] = {}
    for call in parse_queue_log(path).calls.values():
        for leg in call.legs:
            row = out.setdefault(leg.queue, dict.fromkeys((*FIGURES, "short", "wait"), 0))
            definition = DEFINITIONS[leg.queue]
            row["offered"] += 1
            wait = leg.wait or 0.0
            if leg.outcome in ("answered", "transferred"):
                row["answered"] += 1
                row["wait"] += wait
                row["answered_within"] += wait <= definition.service_level_seconds
            elif leg.outcome == "abandoned":
                row["abandoned"] += 1
                row["short"] += wait < SHORT
            elif leg.outcome is not None:
                row["exited"] += 1
    return out


def test_every_figure_agrees_with_the_queue_log(day: Day, store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("\n".join(day.queue_log) + "\n", encoding="utf-8")
    expected = from_queue_log(path)
    # A day worth the name: every kind of leg, in both queues.
    assert set(expected) == set(QUEUES)
    for row in expected.values():
        assert row["offered"] > 200
        assert row["answered"] and row["abandoned"] and row["short"]
    assert sum(row["exited"] for row in expected.values()) > 0
    assert not day.tracker.finish()  # every call ended before the capture did

    # Live metrics: the counters Prometheus scrapes and Grafana draws.
    registry = CollectorRegistry()
    registry.register(QueueMetricsCollector(day.metrics))
    live = {view.name: view for view in day.metrics.views()}

    def sample(name: str, queue: str) -> float | None:
        return registry.get_sample_value(name, {"queue": queue})

    # Wallboard tiles (its window spans the whole day here).
    frame = Wallboard(day.metrics, clock=lambda: day.now).frame()
    assert frame["counting"] == kpi.COUNTING_RULE
    tiles = {tile["queue"]: tile for tile in frame["queues"]}

    # atiende replay --summary, from the AMI bytes of the day.
    capture = tmp_path / "day.ami"
    capture.write_bytes(day.capture)
    out = io.StringIO()
    assert (
        replay_command(
            capture, fmt="summary", system="sim", default_sl=20, service_levels=SL, out=out
        )
        == 0
    )
    summary = json.loads(out.getvalue())

    # The SQL queue report the API serves.
    engine = make_engine(store_url)
    try:
        AttentionRepository(engine).upsert_records(day.records)
        span = ReportSpan(DAY, DAY + timedelta(days=1), TZ)
        report = {
            row.queue: row
            for row in queue_report(engine, span, definitions=DEFINITIONS, default=DEFAULT)
        }
    finally:
        engine.dispose()

    for queue, want in expected.items():
        counted_abandons = want["abandoned"] - want["short"]
        asa = want["wait"] / want["answered"]
        sl = want["answered_within"] / want["answered"]
        view, tile, replayed, row = live[queue], tiles[queue], summary[queue], report[queue]
        # Live counters since start, the day window, the report, the summary.
        assert (view.offered, view.answered, view.answered_within, view.abandoned) == (
            want["offered"],
            want["answered"],
            want["answered_within"],
            want["abandoned"],
        ), queue
        assert view.abandoned_short == want["short"]
        assert sum(view.exited.values()) == want["exited"]
        for counts in (view.window, view.today, row.counts):
            got = tuple(getattr(counts, name) for name in FIGURES)
            assert got == tuple(want[name] for name in FIGURES), queue
            assert counts.short_abandoned == want["short"]
            assert kpi.asa(counts) == pytest.approx(asa)
        assert (
            replayed["offered"],
            replayed["answered"],
            replayed["answered_within_sl"],
            replayed["abandoned"],
            replayed["exited"],
        ) == tuple(want[name] for name in FIGURES)
        assert replayed["asa_seconds"] == pytest.approx(asa, abs=0.001)
        assert (tile["offered"], tile["answered"], tile["abandoned"]) == (
            want["offered"],
            want["answered"],
            counted_abandons,
        )
        assert tile["service_level"] == round(sl, 3)
        assert row.service_level == pytest.approx(sl)
        assert sample("atiende_queue_calls_offered_total", queue) == want["offered"]
        assert sample("atiende_queue_calls_answered_total", queue) == want["answered"]
        assert sample("atiende_queue_calls_abandoned_total", queue) == want["abandoned"]
