"""Turns the tracker's domain events into attention-store writes.

Calls are written when they end, and also as `in_progress` snapshots at the
moments that matter (arrival, queueing, answer, transfer) so that a bridge
killed without warning still leaves every call on the record: the next start
hands those rows back to the tracker, and the resync completes or closes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from telephony.domain import (
    AgentInterval,
    AgentStateChanged,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallKey,
    CallQueued,
    CallRecord,
    CallTransferred,
    DomainEvent,
)

_SNAPSHOT_EVENTS = (CallArrived, CallQueued, CallAnswered, CallTransferred)


class RecordWriter(Protocol):
    def submit_record(self, record: CallRecord) -> None: ...

    def submit_interval(self, interval: AgentInterval) -> None: ...


class AttentionRecorder:
    """A bridge sink (telephony.bridge.DomainEventSink) that feeds the writer."""

    def __init__(
        self, writer: RecordWriter, snapshot: Callable[[CallKey], CallRecord | None]
    ) -> None:
        self._writer = writer
        self._snapshot = snapshot

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, CallEnded):
                self._writer.submit_record(event.record)
            elif isinstance(event, AgentStateChanged):
                if event.closed is not None:
                    self._writer.submit_interval(event.closed)
            elif isinstance(event, _SNAPSHOT_EVENTS):
                record = self._snapshot(event.key)
                if record is not None:
                    self._writer.submit_record(record)

    def calls_in_progress(self, records: Sequence[CallRecord]) -> None:
        for record in records:
            self._writer.submit_record(record)
