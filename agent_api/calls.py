"""The calls of the day, from the attention store, with their wrap-ups."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from crm_bridge.db import session_factory
from crm_bridge.models import Attention
from telephony.domain import CallKey


@dataclass(frozen=True, slots=True)
class CallSummary:
    call: CallKey
    arrived_at: datetime
    ended_at: datetime | None
    caller_number: str
    caller_name: str
    queue: str | None
    agent: str | None
    agent_interfaces: tuple[str, ...]
    outcome: str
    wait_seconds: float | None
    talk_seconds: float | None
    person_id: int | None
    topic: str | None


def _interfaces(legs: list[Any]) -> tuple[str, ...]:
    return tuple(
        str(leg["interface"]) for leg in legs if isinstance(leg, dict) and leg.get("interface")
    )


def _summary(row: Attention) -> CallSummary:
    return CallSummary(
        call=CallKey(row.system, row.linkedid),
        arrived_at=row.arrived_at,
        ended_at=row.ended_at,
        caller_number=row.caller_number or row.caller_number_raw,
        caller_name=row.caller_name,
        queue=row.queue,
        agent=row.agent,
        agent_interfaces=_interfaces(row.legs),
        outcome=row.outcome,
        wait_seconds=row.wait_seconds,
        talk_seconds=row.talk_seconds,
        person_id=row.person_id,
        topic=(row.variables or {}).get("ATIENDE_TOPIC"),
    )


class CallLog:
    def __init__(
        self,
        engine: Engine,
        *,
        timezone: str = "America/Montevideo",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self._zone = ZoneInfo(timezone)
        self._clock = clock

    def today(self, interfaces: Collection[str] | None, limit: int = 2000) -> list[CallSummary]:
        """Today's queued calls (centre's local day), newest first; only those an
        agent on one of `interfaces` answered when given."""
        local_now = self._clock().astimezone(self._zone)
        start = datetime.combine(local_now.date(), time.min, tzinfo=self._zone)
        query = (
            select(Attention)
            .where(Attention.arrived_at >= start, Attention.queue.is_not(None))
            .order_by(Attention.arrived_at.desc(), Attention.id.desc())
            .limit(limit)
        )
        with self._sessions() as session:
            calls = [_summary(row) for row in session.scalars(query).all()]
        if interfaces is None:
            return calls
        mine = set(interfaces)
        return [c for c in calls if mine.intersection(c.agent_interfaces)]

    def get(self, key: CallKey) -> CallSummary | None:
        with self._sessions() as session:
            row = session.scalars(
                select(Attention).where(
                    Attention.system == key.system, Attention.linkedid == key.linkedid
                )
            ).first()
            return None if row is None else _summary(row)
