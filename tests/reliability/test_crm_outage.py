"""The CRM down for an hour of simulated time: everything synced after, nothing doubled.

Calls end while the CRM (the fake vTiger, over real HTTP) refuses every
connection. The CRM sync runs in process (InProcessRunner) with its
production back-off (DEFAULT_RETRY_INTERVALS: 10 s, 30 s, 90 s ... 1 h) on a
simulated clock: every wait of the runner jumps the clock instead of
sleeping, so the hour passes in a second. The CRM comes back exactly one
hour after the calls ended; the attempts due by then have failed (and were
recorded on the outbox rows), the next one syncs every call, once, and no
row is given up as failed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine

from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine
from crm_bridge.sync import worker
from crm_bridge.sync.adapter import attention_key
from crm_bridge.sync.jobs import CrmSync
from crm_bridge.sync.outbox import OutboxRelay, OutboxStore, RelayResult
from crm_bridge.sync.testing import FakeVtiger
from crm_bridge.sync.vtiger import VtigerAdapter
from crm_bridge.sync.worker import DEFAULT_RETRY_INTERVALS, InProcessRunner
from tests.crm_bridge.conftest import SYSTEM, make_record

pytestmark = pytest.mark.postgres

ACCESS_KEY = "Zx9kLq2Wm4Rt7Yb1"
HOUR = 3600.0
CALLS = 12


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)


class JumpingCondition(threading.Condition):
    """The runner's condition: a timed wait moves the simulated clock on."""

    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        super().wait(0.001)  # let other threads (dispatch) take the lock
        if timeout is not None:
            self.clock.advance(timeout)
        return True


class CrmOutage:
    """The real adapter, with the CRM's port closed until the simulated hour is over."""

    def __init__(self, adapter: VtigerAdapter, crm: FakeVtiger, clock: SimulatedClock,
                 back_at: float) -> None:  # fmt: skip
        self._adapter, self._crm, self._clock, self._back_at = adapter, crm, clock, back_at
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._clock.monotonic() < self._back_at:
                self._crm.down()
                self.refused += 1
            else:
                self._crm.up()
            return attribute(*args, **kwargs)

        return call


@pytest.fixture
def engine(new_database: Callable[..., str]) -> Iterator[Engine]:
    engine = make_engine(new_database("crmout", migrate=True))
    yield engine
    engine.dispose()


def test_crm_down_for_an_hour_then_every_call_synced_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SimulatedClock()
    monkeypatch.setattr(worker, "time", SimpleNamespace(monotonic=clock.monotonic))
    crm = FakeVtiger(access_key=ACCESS_KEY)
    crm.start()
    try:
        adapter = CrmOutage(
            VtigerAdapter(crm.url, "admin", ACCESS_KEY, timeout=1.5),
            crm,
            clock,
            back_at=clock.monotonic() + HOUR,
        )
        linkedids = [f"1763971200.{n}" for n in range(CALLS)]
        AttentionRepository(engine, outbox=True).upsert_records(
            [make_record(k, arrived_at=1_763_971_200.0 + n) for n, k in enumerate(linkedids)]
        )
        runner = InProcessRunner(CrmSync(engine, adapter))  # type: ignore[arg-type]
        runner._cond = JumpingCondition(clock)  # the runner's waits jump the clock
        store = OutboxStore(engine)
        relay = OutboxRelay(engine, runner, stale_after=0)
        runner.start()
        try:
            assert relay.relay_once() == RelayResult(enqueued=CALLS)
            deadline = time.monotonic() + 120  # real seconds, a bound on the run
            while store.pending() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            runner.stop()
        assert store.pending() == 0, f"unsynced after the outage: {store.stats()}"
        assert store.failed() == [], "a row was given up"
        elapsed = clock.monotonic() - (adapter._back_at - HOUR)
        # Every attempt due within the hour failed; the sync came after it.
        due = [sum(DEFAULT_RETRY_INTERVALS[:n]) for n in range(len(DEFAULT_RETRY_INTERVALS) + 1)]
        failing = [at for at in due if at < HOUR]
        assert elapsed >= HOUR
        assert adapter.refused >= CALLS * len(failing)
        # Each row records its failed attempts: one per retry due within the hour.
        assert {row.attempts for row in store.rows()} == {len(failing)}
        with crm.lock:
            synced = Counter(str(r["sourceuuid"]) for r in crm.records["PBXManager"].values())
        assert synced == Counter(attention_key(SYSTEM, k) for k in linkedids), "doubled or lost"
    finally:
        crm.stop()
