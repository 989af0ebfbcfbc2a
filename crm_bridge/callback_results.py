"""The bridge sink that applies each callback call's result to the worklist.

The tracker says when a callback Atiende originated is over
(telephony.domain.CallbackAttemptEnded: answered by the citizen or not, and
app_dial's DIALSTATUS); this applies it (crm_bridge.callbacks.CallbackQueue.
attempt_ended) on its own thread, in order, so the bridge's loop never waits
on the database. A failure is logged and the attempt's hold expires by itself
(CallbackPolicy.claim_seconds), so the callback is offered again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from crm_bridge.callback_rules import result_of_dial_status
from crm_bridge.callbacks import CallbackQueue
from telephony.domain import CallbackAttemptEnded, CallRecord, DomainEvent

log = logging.getLogger(__name__)


class CallbackResults:
    """telephony.bridge.DomainEventSink for the callback worklist."""

    def __init__(self, worklist: CallbackQueue) -> None:
        self._worklist = worklist
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="callback-results")
        self.pending: list[Future[None]] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, CallbackAttemptEnded):
                future = self._executor.submit(self._apply, event)
                self.pending = [f for f in self.pending if not f.done()] + [future]

    def calls_in_progress(self, records: Sequence[CallRecord]) -> None:
        """Nothing to hand over: a callback cut by a stop is offered again."""

    def _apply(self, event: CallbackAttemptEnded) -> None:
        try:
            callback_id = int(event.callback_id)
        except ValueError:
            log.warning("callback result with a malformed id ignored")
            return
        result = result_of_dial_status(event.dial_status, answered=event.answered)
        try:
            self._worklist.attempt_ended(
                callback_id,
                result,
                at=dt.datetime.fromtimestamp(event.at, dt.UTC),
                outbound=event.key,
            )
        except Exception:
            log.warning("callback %d: result %s not recorded", callback_id, result, exc_info=True)
        else:
            log.info("callback %d: attempt ended %s", callback_id, result.value)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
