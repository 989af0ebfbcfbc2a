"""The pump between the AMI stream and the rest of the product.

It takes items off the connection's bounded queue, runs them through the pure
tracker and hands the domain events to the sinks (attention store, screen-pop
hub, metrics). Sinks must not block: each one queues its own I/O.

With a clock it also ticks the tracker every `tick_seconds`: Asterisk sends
nothing when an agent's wrap-up ends, so without ticks the agent would stay
in wrap-up until some unrelated event arrived. The tick's time is the clock
minus the skew between the clock and the Timestamp of the latest event, so a
bridge host whose clock differs from Asterisk's (or a sped-up simulator)
still ends wrap-ups on Asterisk's time.

With a readable queue_log (ATIENDE_AMI__QUEUE_LOG), its tail is read at the
end of every resync so calls that ended or were answered unseen take
Asterisk's own figures (telephony.queue_log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from telephony.ami.stream import ResyncFinished, StreamItem
from telephony.domain import CallRecord, DomainEvent
from telephony.queue_log import QueueLogCall, read_tail

log = logging.getLogger(__name__)


class EventSource(Protocol):
    def stream(self) -> AsyncIterator[StreamItem]: ...


class Tracker(Protocol):
    def feed(self, item: StreamItem) -> list[DomainEvent]: ...

    def tick(self, now: float) -> list[DomainEvent]: ...

    def queue_log_facts(self, facts: Mapping[str, QueueLogCall]) -> None: ...

    def calls_in_progress(self) -> list[CallRecord]: ...


class DomainEventSink(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Take the events of one AMI item; must return without waiting on I/O."""

    def calls_in_progress(self, records: Sequence[CallRecord]) -> None:
        """The calls still up when the bridge stops."""


class Bridge:
    """Runs until the source's stream ends or the task is cancelled."""

    # Yield to the loop after this many items in a row so a burst of events
    # cannot starve the sockets (Asterisk drops a session that does not read
    # for `writetimeout`, 100 ms by default).
    YIELD_EVERY = 256

    def __init__(
        self,
        source: EventSource,
        tracker: Tracker,
        sinks: Sequence[DomainEventSink],
        *,
        clock: Callable[[], float] | None = None,
        tick_seconds: float = 0.25,
        queue_log: Path | None = None,
    ) -> None:
        self._source = source
        self._tracker = tracker
        self._sinks = tuple(sinks)
        self._clock = clock
        self._tick_seconds = tick_seconds
        self._skew = 0.0  # clock() - Asterisk's Timestamp, at the latest event
        self._queue_log = queue_log
        self.items = 0
        self.domain_events = 0
        self.sink_errors = 0

    async def run(self) -> None:
        in_a_row = 0
        clock = self._clock
        ticker = asyncio.create_task(self._ticks(), name="bridge-ticks") if clock else None
        try:
            async for item in self._source.stream():
                self.items += 1
                if clock is not None and type(item) is dict:
                    stamp = item.get("Timestamp")
                    if stamp:
                        with contextlib.suppress(ValueError):
                            self._skew = clock() - float(stamp)
                if self._queue_log is not None and isinstance(item, ResyncFinished):
                    # What app_queue logged while the bridge was not looking,
                    # read off the loop, for the calls the resync closes.
                    facts = await asyncio.to_thread(read_tail, self._queue_log)
                    self._tracker.queue_log_facts(facts)
                events = self._tracker.feed(item)
                if events:
                    self.domain_events += len(events)
                    self._publish(events)
                in_a_row += 1
                if in_a_row >= self.YIELD_EVERY:
                    in_a_row = 0
                    await asyncio.sleep(0)
        finally:
            if ticker is not None:
                ticker.cancel()
            self.flush_in_progress()

    async def _ticks(self) -> None:
        assert self._clock is not None
        while True:
            await asyncio.sleep(self._tick_seconds)
            try:
                events = self._tracker.tick(self._clock() - self._skew)
            except Exception:
                log.exception("tracker tick failed")
                continue
            if events:
                self.domain_events += len(events)
                self._publish(events)

    def flush_in_progress(self) -> None:
        """Hand the calls still up to the sinks, so a stop never loses them."""
        records = self._tracker.calls_in_progress()
        for sink in self._sinks:
            try:
                sink.calls_in_progress(records)
            except Exception:
                self.sink_errors += 1
                log.exception("sink %s failed to take the calls in progress", type(sink).__name__)

    def _publish(self, events: list[DomainEvent]) -> None:
        for sink in self._sinks:
            try:
                sink.publish(events)
            except Exception:
                # One broken consumer must not stop call tracking for the others.
                self.sink_errors += 1
                log.exception("sink %s failed", type(sink).__name__)
