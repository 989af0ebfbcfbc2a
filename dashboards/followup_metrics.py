"""Tickets' SLA alerts, the CRM sync's backlog and overdue pending cases, for Prometheus.

Read from the store when Prometheus scrapes (a few counting queries, in the
metrics thread). A database that does not answer leaves these families out
of that scrape, with a warning, rather than failing the whole scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboards import metric_names as names

log = logging.getLogger(__name__)


class AlertCounts(Protocol):
    def counts(self) -> Mapping[Any, int]:
        """Open alerts per level (the keys name the levels)."""


class OutboxBacklog(Protocol):
    @property
    def pending(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def oldest_pending_seconds(self) -> float: ...


class FollowupCollector(Collector):
    def __init__(
        self,
        *,
        alerts: AlertCounts | None = None,
        outbox: Callable[[], OutboxBacklog] | None = None,
        overdue_followups: Callable[[], int] | None = None,
        notices: Callable[[], Mapping[Any, int]] | None = None,
    ) -> None:
        self._alerts = alerts
        self._outbox = outbox
        self._overdue_followups = overdue_followups
        self._notices = notices

    def collect(self) -> Iterator[Metric]:
        if self._notices is not None:
            try:
                by_status = self._notices()
            except Exception as err:
                log.warning("citizen notice counts unavailable for /metrics: %s", err)
            else:
                notices = GaugeMetricFamily(
                    names.CITIZEN_NOTICES,
                    "Notices to persons about their tickets, by status (fallida: no retry left)",
                    labels=["status"],
                )
                for status, count in sorted((str(k), v) for k, v in by_status.items()):
                    notices.add_metric([status], count)
                yield notices
        if self._overdue_followups is not None:
            try:
                overdue = self._overdue_followups()
            except Exception as err:
                log.warning("overdue pending cases unavailable for /metrics: %s", err)
            else:
                yield GaugeMetricFamily(
                    names.FOLLOWUPS_OVERDUE,
                    "Pending wrap-ups past their follow-up time (plus the grace) and not closed",
                    overdue,
                )
        if self._alerts is not None:
            try:
                counts = self._alerts.counts()
            except Exception as err:  # the store is down: skip, never fail the scrape
                log.warning("SLA alert counts unavailable for /metrics: %s", err)
            else:
                family = GaugeMetricFamily(
                    names.SLA_ALERTS_OPEN,
                    "Tickets with an unacknowledged SLA alert, by level",
                    labels=["level"],
                )
                for level, count in sorted(counts.items()):
                    family.add_metric([str(level)], count)
                yield family
        if self._outbox is not None:
            try:
                backlog = self._outbox()
            except Exception as err:
                log.warning("CRM outbox figures unavailable for /metrics: %s", err)
            else:
                yield GaugeMetricFamily(
                    names.CRM_OUTBOX_PENDING, "Records waiting to reach the CRM", backlog.pending
                )
                yield GaugeMetricFamily(
                    names.CRM_OUTBOX_FAILED,
                    "Records whose CRM sync failed for good (the failed list)",
                    backlog.failed,
                )
                yield GaugeMetricFamily(
                    names.CRM_OUTBOX_OLDEST,
                    "Age of the oldest record waiting for the CRM",
                    backlog.oldest_pending_seconds,
                )
