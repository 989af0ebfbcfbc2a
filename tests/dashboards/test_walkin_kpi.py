"""Walk-in figures counted by hand over a small fixture."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_bridge.turn_rules import TurnStatus
from crm_bridge.turns import TurnFacts
from dashboards.walkin_kpi import tally

T0 = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


def _f(status: TurnStatus, topic: str = "cedula", **minutes: float | None) -> TurnFacts:
    def at(name: str) -> dt.datetime | None:
        value = minutes.get(name)
        return None if value is None else T0 + dt.timedelta(minutes=value)

    return TurnFacts(
        point="centro",
        topic=topic,
        status=status,
        issued_at=at("issued") or T0,
        first_called_at=at("called"),
        served_at=at("served"),
        ended_at=at("ended"),
        target_wait_seconds=600,
        survey_score=None if minutes.get("score") is None else int(minutes["score"] or 0),
    )


def test_walk_in_figures_by_hand() -> None:
    facts = [
        _f(TurnStatus.DONE, issued=0, called=10, served=11, ended=21, score=4),  # wait = target
        _f(TurnStatus.DONE, issued=0, called=12, served=12, ended=17, score=2),  # late
        _f(TurnStatus.NO_SHOW, issued=1, called=5, ended=8),
        _f(TurnStatus.WAITING, issued=20),
        _f(TurnStatus.WAITING, issued=25),
        _f(TurnStatus.CANCELLED, issued=2, ended=3),
        _f(TurnStatus.SERVING, topic="pagos", issued=0, called=1, served=2),
    ]
    now = T0 + dt.timedelta(minutes=30)
    cedula, pagos = tally(facts, now)
    assert (cedula.topic, pagos.topic) == ("cedula", "pagos")
    assert cedula.given == 6 and cedula.waiting_now == 2
    assert cedula.longest_wait_seconds == 600
    assert cedula.called == 3 and cedula.called_within_target == 2
    assert cedula.within_target_pct == pytest.approx(200 / 3)
    assert cedula.mean_wait_seconds == pytest.approx((10 + 12 + 4) * 60 / 3)
    assert cedula.served == 2 and cedula.mean_attention_seconds == pytest.approx(7.5 * 60)
    assert cedula.no_shows == 1 and cedula.cancelled == 1
    assert cedula.evaluations == 2 and cedula.mean_score == 3
    assert pagos.served == 0 and pagos.called == 1 and pagos.mean_score is None
    assert tally([], now) == []


def test_metrics_are_the_tally_with_point_and_topic_labels_only() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from dashboards.metric_names import exposed_names
    from dashboards.walkin_metrics import WalkinCollector

    facts = [
        _f(TurnStatus.DONE, issued=0, called=10, served=11, ended=21, score=4),
        _f(TurnStatus.WAITING, issued=20),
    ]
    now = T0 + dt.timedelta(minutes=30)
    calls = []

    def read() -> list[TurnFacts]:
        calls.append(1)
        return facts

    clock = iter([0.0, 1.0, 100.0, 101.0])
    registry = CollectorRegistry()
    registry.register(WalkinCollector(read, clock=lambda: now, monotonic=lambda: next(clock)))
    text = generate_latest(registry).decode()
    assert 'atiende_walkin_waiting{point="centro",topic="cedula"} 1.0' in text
    assert 'atiende_walkin_longest_wait_seconds{point="centro",topic="cedula"} 600.0' in text
    assert 'atiende_walkin_called_within_target{point="centro",topic="cedula"} 1.0' in text
    assert 'atiende_walkin_score_points{point="centro",topic="cedula"} 4.0' in text
    names = {line.split("{")[0] for line in text.splitlines() if line.startswith("atiende_")}
    assert names <= exposed_names() and len(names) == 11
    generate_latest(registry)  # within refresh_seconds: served from the cache
    assert len(calls) == 1
    generate_latest(registry)  # past it: read again
    assert len(calls) == 2


def test_a_store_that_does_not_answer_leaves_the_families_out() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from dashboards.walkin_metrics import WalkinCollector

    def broken() -> list[TurnFacts]:
        raise OSError("database down")

    registry = CollectorRegistry(auto_describe=False)
    registry.register(WalkinCollector(broken))
    assert "atiende_walkin" not in generate_latest(registry).decode()


def test_the_wallboard_shows_the_same_walk_in_figures_without_reading_on_its_loop() -> None:
    from dashboards.queue_metrics import QueueMetrics
    from dashboards.walkin_metrics import WalkinBoardRows
    from dashboards.wallboard import Wallboard

    facts = [
        _f(TurnStatus.DONE, issued=0, called=12, served=12, ended=17, score=5),
        _f(TurnStatus.NO_SHOW, issued=1, called=5, ended=8),
        _f(TurnStatus.WAITING, issued=25),
    ]
    reads: list[int] = []

    def read() -> list[TurnFacts]:
        reads.append(1)
        return facts

    rows = WalkinBoardRows(read, clock=lambda: T0 + dt.timedelta(minutes=30))
    board = Wallboard(QueueMetrics(), walkin=rows.rows, clock=lambda: 0.0)
    assert board.frame()["walkin"] == [] and reads == []  # nothing read yet, nothing shown
    rows.refresh()
    [row] = board.frame()["walkin"]
    assert row == {
        "point": "centro",
        "topic": "cedula",
        "waiting": 1,
        "longest_wait": 300,
        "within_target": 50,
        "no_shows": 1,
        "satisfaction": 5.0,
    }
    board.frame()
    assert reads == [1]  # frames never read the store
