"""A /metrics collector whose families are read from the store, at most once per period.

Scrapes come every few seconds from each Prometheus; the figures behind them
(indicators, per-channel volumes, walk-in turns) are queries over days of
attentions. Reading them once per `refresh_seconds` keeps the scrape cheap,
and a store that does not answer leaves those families out of that scrape
instead of failing it (the other collectors still report).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class StoreCollector(Collector):
    # What the families are, for the log line when the store does not answer.
    what = "store figures"

    def __init__(
        self, *, refresh_seconds: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: list[Metric] | None = None
        self._cached_at = 0.0

    def families(self) -> list[Metric]:
        """Every family, read from the store now (no cache)."""
        raise NotImplementedError

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self._monotonic()
            if self._cached is None or now - self._cached_at >= self._refresh:
                try:
                    self._cached = self.families()
                except Exception as err:  # the store is down: skip, never fail the scrape
                    log.warning("%s unavailable for /metrics: %s", self.what, err)
                    return
                self._cached_at = now
            found = self._cached
        yield from found
