"""Walk-in figures on /metrics: today's turns per service point and topic.

Counted by dashboards.walkin_kpi.tally (the reports and the wallboard use the
same function). Gauges of counts and sums, never ratios, so Grafana divides:
within target = called_within_target / turns_called; mean wait =
wait_seconds / turns_called; satisfaction = score_points / evaluations.
Labels: the point's and the topic's codes (bounded configuration), nothing
about a person or an agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from crm_bridge.turns import TurnFacts
from dashboards import metric_names as names
from dashboards.store_collector import StoreCollector
from dashboards.walkin_kpi import WalkinTally, tally

log = logging.getLogger(__name__)
_LABELS = ["point", "topic"]
# (name, help, value of a tally)
_FAMILIES: tuple[tuple[str, str, Callable[[WalkinTally], float]], ...] = (
    (names.WALKIN_WAITING, "Turns given and not yet called", lambda t: t.waiting_now),
    (
        names.WALKIN_LONGEST_WAIT,
        "Wait of the oldest turn not yet called (seconds)",
        lambda t: t.longest_wait_seconds,
    ),
    (names.WALKIN_TURNS_GIVEN, "Turns given today", lambda t: t.given),
    (names.WALKIN_TURNS_CALLED, "Turns called today", lambda t: t.called),
    (
        names.WALKIN_CALLED_WITHIN_TARGET,
        "Turns called within the point's target wait",
        lambda t: t.called_within_target,
    ),
    (
        names.WALKIN_WAIT_SECONDS,
        "Sum of the waits of the turns called (given to first call, seconds)",
        lambda t: t.wait_seconds_sum,
    ),
    (names.WALKIN_SERVED, "Turns served to the end", lambda t: t.served),
    (
        names.WALKIN_ATTENTION_SECONDS,
        "Sum of the attention times of the turns served (seconds)",
        lambda t: t.attention_seconds_sum,
    ),
    (names.WALKIN_NO_SHOWS, "Turns called that never came", lambda t: t.no_shows),
    (names.WALKIN_EVALUATIONS, "Farewell evaluations given", lambda t: t.evaluations),
    (
        names.WALKIN_SCORE_POINTS,
        "Sum of the 1-5 farewell scores (mean = points / evaluations)",
        lambda t: t.score_sum,
    ),
)


def families(tallies: Sequence[WalkinTally]) -> list[Metric]:
    out: list[Metric] = []
    for name, help_text, value in _FAMILIES:
        family = GaugeMetricFamily(name, help_text, labels=_LABELS)
        for t in tallies:
            family.add_metric([t.point, t.topic], float(value(t)))
        out.append(family)
    return out


class WalkinCollector(StoreCollector):
    """Reads today's turns at most every `refresh_seconds`; a store that does
    not answer leaves the families out of that scrape."""

    what = "walk-in figures"

    def __init__(
        self,
        facts: Callable[[], list[TurnFacts]],
        *,
        refresh_seconds: float = 15.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._facts = facts
        self._clock = clock
        super().__init__(refresh_seconds=refresh_seconds, monotonic=monotonic)

    def families(self) -> list[Metric]:
        return families(tally(self._facts(), self._clock()))


def board_rows(tallies: Sequence[WalkinTally]) -> list[dict[str, Any]]:
    """The wallboard's walk-in table (figures only: point and topic codes)."""
    return [
        {
            "point": t.point,
            "topic": t.topic,
            "waiting": t.waiting_now,
            "longest_wait": round(t.longest_wait_seconds),
            "within_target": None if t.within_target_pct is None else round(t.within_target_pct),
            "no_shows": t.no_shows,
            "satisfaction": None if t.mean_score is None else round(t.mean_score, 1),
        }
        for t in tallies
    ]


class WalkinBoardRows:
    """Today's walk-in rows for the wallboard, refreshed off the event loop
    (the wallboard computes frames on the loop and must not read the store there)."""

    def __init__(
        self,
        facts: Callable[[], list[TurnFacts]],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._facts = facts
        self._clock = clock
        self._rows: list[dict[str, Any]] = []

    def rows(self) -> list[dict[str, Any]]:
        return self._rows

    def refresh(self) -> None:
        """Read the store now (blocking)."""
        self._rows = board_rows(tally(self._facts(), self._clock()))

    async def run(self, every_seconds: float = 10.0) -> None:
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as err:  # the store is down: keep the last rows
                log.warning("walk-in figures unavailable for the wallboard: %s", err)
            await asyncio.sleep(every_seconds)
