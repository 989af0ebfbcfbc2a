"""The callback worklist for Prometheus: backlog, oldest wait, completed within target.

Read from the store when Prometheus scrapes (crm_bridge.callbacks.
CallbackQueue.backlog, the same figures the supervision screen shows). Labels
are the queue and `within_target` only: no numbers, names or ids. A database
that does not answer leaves these families out of that scrape, with a
warning, rather than failing the whole scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crm_bridge.callbacks import BacklogFigures
from dashboards import metric_names as names

log = logging.getLogger(__name__)


class CallbackCollector(Collector):
    def __init__(self, backlog: Callable[[], Sequence[BacklogFigures]]) -> None:
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        try:
            figures = list(self._backlog())
        except Exception as err:  # the store is down: skip, never fail the scrape
            log.warning("callback figures unavailable for /metrics: %s", err)
            return
        gauges = [
            (names.CALLBACKS_PENDING, "Callbacks not made yet", "pending"),
            (names.CALLBACKS_DUE, "Callbacks due now (business hours applied)", "due"),
            (names.CALLBACKS_OVERDUE, "Callbacks still pending past their target", "overdue"),
            (
                names.CALLBACK_OLDEST_WAIT,
                "Time since the oldest pending callback was asked for",
                "oldest_wait_seconds",
            ),
        ]
        for name, text, attribute in gauges:
            family = GaugeMetricFamily(name, text, labels=["queue"])
            for row in figures:
                family.add_metric([row.queue], float(getattr(row, attribute)))
            yield family
        completed = CounterMetricFamily(
            names.CALLBACKS_COMPLETED,
            "Callbacks completed (the citizen answered), within their target or not",
            labels=["queue", "within_target"],
        )
        failed = CounterMetricFamily(
            names.CALLBACKS_FAILED,
            "Callbacks that ended unreachable (invalid number, attempts exhausted)",
            labels=["queue"],
        )
        for row in figures:
            completed.add_metric([row.queue, "true"], row.completed_within_target)
            completed.add_metric([row.queue, "false"], row.completed - row.completed_within_target)
            failed.add_metric([row.queue], row.failed)
        yield completed
        yield failed
