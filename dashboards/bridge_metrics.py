"""Health of the AMI bridge, for Prometheus.

Read at scrape time from the components' own counters, so tracking an event
costs nothing extra. Metric names live in dashboards.metric_names; the only label is the
Asterisk system name (one per Asterisk server).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboards import metric_names as names


class ConnectionHealth(Protocol):
    system_name: str
    events_received: int
    reconnects: int
    read_pauses: int

    @property
    def connected(self) -> bool: ...

    @property
    def queue_depth(self) -> int: ...

    @property
    def lag_seconds(self) -> float: ...

    @property
    def last_event_age(self) -> float | None: ...

    @property
    def malformed(self) -> int: ...


class WriterHealth(Protocol):
    @property
    def written(self) -> int: ...

    @property
    def failures(self) -> int: ...

    @property
    def pending(self) -> int: ...


class BridgeHealth(Protocol):
    items: int
    domain_events: int
    sink_errors: int


class BridgeHealthCollector(Collector):
    def __init__(
        self, connection: ConnectionHealth, writer: WriterHealth, bridge: BridgeHealth
    ) -> None:
        self._connection = connection
        self._writer = writer
        self._bridge = bridge

    def collect(self) -> Iterator[Metric]:
        system = self._connection.system_name
        conn = self._connection

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["system"])
            family.add_metric([system], value)
            return family

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=["system"])
            family.add_metric([system], value)
            return family

        yield gauge(names.AMI_CONNECTED, "1 while an AMI session is logged in", conn.connected)
        age = conn.last_event_age
        yield gauge(
            names.AMI_LAST_EVENT_AGE,
            "Seconds since the last AMI event arrived (NaN before the first)",
            float("nan") if age is None else age,
        )
        yield counter(names.AMI_RECONNECTS, "AMI sessions re-established", conn.reconnects)
        yield counter(names.AMI_EVENTS, "AMI events received", conn.events_received)
        yield counter(names.AMI_MALFORMED, "AMI messages skipped as malformed", conn.malformed)
        yield counter(
            names.AMI_READ_PAUSES, "Times reading paused for a full queue", conn.read_pauses
        )
        yield gauge(names.AMI_QUEUE_DEPTH, "AMI items waiting for the tracker", conn.queue_depth)
        yield gauge(
            names.AMI_LAG,
            "Time the last tracked AMI item waited in the queue",
            conn.lag_seconds,
        )
        yield counter(names.TRACKER_ITEMS, "AMI items run through the tracker", self._bridge.items)
        yield counter(
            names.TRACKER_DOMAIN_EVENTS,
            "Domain events the tracker produced",
            self._bridge.domain_events,
        )
        yield counter(
            names.BRIDGE_SINK_ERRORS,
            "Domain event deliveries a consumer failed",
            self._bridge.sink_errors,
        )
        yield counter(
            names.STORE_ROWS_WRITTEN,
            "Attention and interval rows written",
            self._writer.written,
        )
        yield counter(
            names.STORE_WRITE_FAILURES,
            "Database batches that failed and were retried",
            self._writer.failures,
        )
        yield gauge(names.STORE_PENDING, "Writes waiting for the database", self._writer.pending)
