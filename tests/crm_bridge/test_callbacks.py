"""Callbacks the IVR stored, listed and finished by agents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from crm_bridge.callbacks import CallbackQueue, CallbackStatus
from crm_bridge.db import make_engine
from crm_bridge.exceptions import InvalidValueError
from crm_bridge.ivr_services import StoreIvrServices
from tests.crm_bridge.citizen_support import empty_store

T0 = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    empty_store(engine)
    yield engine
    engine.dispose()


async def test_pending_oldest_first_and_finished_once(store: Engine) -> None:
    for minute, (linkedid, queue) in enumerate(
        [("1.3", "reclamos"), ("1.1", "consultas"), ("1.2", "reclamos")]
    ):
        moment = T0 + dt.timedelta(minutes=minute)
        ivr = StoreIvrServices(store, system="pbx", clock=lambda moment=moment: moment)
        await ivr.request_callback(linkedid, "099123456", queue)
    callbacks = CallbackQueue(store)
    pending = callbacks.pending()
    assert [c.call.linkedid for c in pending] == ["1.3", "1.1", "1.2"]
    assert [c.requested_at for c in pending] == [T0 + dt.timedelta(minutes=m) for m in range(3)]
    assert pending[0].number == "+59899123456" and pending[0].status is CallbackStatus.PENDING
    reclamos = callbacks.pending("reclamos")
    assert [c.call.linkedid for c in reclamos] == ["1.3", "1.2"]
    assert callbacks.finish(reclamos[0].id, "done")
    assert not callbacks.finish(reclamos[0].id, CallbackStatus.CANCELLED)  # taken already
    assert [c.call.linkedid for c in callbacks.pending("reclamos")] == ["1.2"]
    with pytest.raises(ValueError, match="done or cancelled"):
        callbacks.finish(reclamos[1].id, "pending")
    with pytest.raises(InvalidValueError):
        callbacks.finish(reclamos[1].id, "lost")
