"""Acknowledgements of live queue alerts (service level under target, a wait over its
limit): who saw which alert of which queue, when, and what they did (the note).

The alerts themselves are computed live by the wallboard (dashboards.wallboard)
and vanish when the queue recovers; the acknowledgement is what stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError
from crm_bridge.models import QueueAlertAck
from crm_bridge.store_access import translated

KINDS = frozenset({"sl_under_target", "wait_over_limit"})
MAX_NOTE = 1000


@dataclass(frozen=True, slots=True)
class AckView:
    id: int
    kind: str
    queue: str
    at: datetime
    actor_id: int | None
    note: str


class QueueAlertAcks:
    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    def acknowledge(self, kind: str, queue: str, note: str, actor_id: int | None) -> AckView:
        text = " ".join(note.split())
        if kind not in KINDS:
            raise InvalidValueError(f"unknown queue alert kind {kind!r}")
        if not queue.strip() or len(queue) > 128:
            raise InvalidValueError("a queue name is 1 to 128 characters")
        if not text or len(text) > MAX_NOTE:
            raise InvalidValueError(f"a note is 1 to {MAX_NOTE} characters")
        row = QueueAlertAck(kind=kind, queue=queue, at=self._clock(), actor_id=actor_id, note=text)
        with translated("acknowledging a queue alert"), self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return AckView(row.id, row.kind, row.queue, row.at, row.actor_id, row.note)

    def recent(self, limit: int = 50) -> list[AckView]:
        query = select(QueueAlertAck).order_by(QueueAlertAck.at.desc(), QueueAlertAck.id.desc())
        with translated("reading queue alert acknowledgements"), self._sessions() as session:
            return [
                AckView(r.id, r.kind, r.queue, r.at, r.actor_id, r.note)
                for r in session.scalars(query.limit(limit)).all()
            ]
