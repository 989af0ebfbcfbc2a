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
