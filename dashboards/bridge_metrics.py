"""Health of the AMI bridge, for Prometheus.

Read at scrape time from the components' own counters, so tracking an event
costs nothing extra. Metric names live here and nowhere else; the only label
is the Asterisk system name (one per Asterisk server).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


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

        yield gauge("atiende_ami_connected", "1 while an AMI session is logged in", conn.connected)
        age = conn.last_event_age
        yield gauge(
            "atiende_ami_last_event_age_seconds",
            "Seconds since the last AMI event arrived (NaN before the first)",
            float("nan") if age is None else age,
        )
        yield counter("atiende_ami_reconnects", "AMI sessions re-established", conn.reconnects)
        yield counter("atiende_ami_events", "AMI events received", conn.events_received)
        yield counter(
            "atiende_ami_malformed_messages", "AMI messages skipped as malformed", conn.malformed
        )
        yield counter(
            "atiende_ami_read_pauses", "Times reading paused for a full queue", conn.read_pauses
        )
        yield gauge(
            "atiende_ami_queue_depth", "AMI items waiting for the tracker", conn.queue_depth
        )
        yield gauge(
            "atiende_ami_processing_lag_seconds",
            "Time the last tracked AMI item waited in the queue",
            conn.lag_seconds,
        )
        yield counter(
            "atiende_tracker_items", "AMI items run through the tracker", self._bridge.items
        )
        yield counter(
            "atiende_tracker_domain_events",
            "Domain events the tracker produced",
            self._bridge.domain_events,
        )
        yield counter(
            "atiende_bridge_sink_errors",
            "Domain event deliveries a consumer failed",
            self._bridge.sink_errors,
        )
        yield counter(
            "atiende_store_rows_written",
            "Attention and interval rows written",
            self._writer.written,
        )
        yield counter(
            "atiende_store_write_failures",
            "Database batches that failed and were retried",
            self._writer.failures,
        )
        yield gauge(
            "atiende_store_pending_writes", "Writes waiting for the database", self._writer.pending
        )
