"""Pending callbacks: callers who chose to be called back instead of waiting.

The IVR stores them (StoreIvrServices.request_callback); agents and
supervisors list the pending ones, oldest first, and mark each one done or
cancelled. Marking is conditional on the request still being pending, so two
agents cannot both take the same callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, select, update

from crm_bridge.db import session_factory
from crm_bridge.models import CallbackRequest
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import parse_enum
from telephony.domain import CallKey


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CallbackView:
    id: int
    call: CallKey
    number: str | None  # E.164, None when the caller ID was not a valid number
    number_raw: str
    queue: str
    status: CallbackStatus
    requested_at: datetime


def _view(row: CallbackRequest) -> CallbackView:
    return CallbackView(
        id=row.id,
        call=CallKey(row.system, row.linkedid),
        number=row.number,
        number_raw=row.number_raw,
        queue=row.queue,
        status=CallbackStatus(row.status),
        requested_at=row.requested_at,
    )


class CallbackQueue:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def pending(self, queue: str | None = None, *, limit: int = 100) -> list[CallbackView]:
        """Pending requests (of one queue, or all), oldest first."""
        query = select(CallbackRequest).where(
            CallbackRequest.status == CallbackStatus.PENDING.value
        )
        if queue is not None:
            query = query.where(CallbackRequest.queue == queue)
        query = query.order_by(CallbackRequest.requested_at, CallbackRequest.id).limit(
            max(1, min(limit, 1000))
        )
        with translated("reading callbacks"), self._sessions() as session:
            return [_view(row) for row in session.scalars(query).all()]

    def finish(self, callback_id: int, status: CallbackStatus | str) -> bool:
        """Mark a pending request done or cancelled; False if it was not pending."""
        final = parse_enum(CallbackStatus, str(status), "callback status")
        if final is CallbackStatus.PENDING:
            raise ValueError("a callback is finished as done or cancelled")
        with translated("finishing a callback"), self._sessions.begin() as session:
            result = session.execute(
                update(CallbackRequest)
                .where(
                    CallbackRequest.id == callback_id,
                    CallbackRequest.status == CallbackStatus.PENDING.value,
                )
                .values(status=final.value)
            )
            return bool(getattr(result, "rowcount", 0))
