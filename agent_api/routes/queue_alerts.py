"""Live queue alerts acknowledged with a note (supervisors and admins), persisted and audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from agent_api.audit import AuditAction, AuditLog
from agent_api.auth import Permission, Principal
from agent_api.deps import Services, require
from dashboards.queue_alert_acks import AckView, QueueAlertAcks

QueueAlertReader = Annotated[Principal, Depends(require(Permission.ALL_SLA_ALERTS))]


class QueueAckIn(BaseModel):
    kind: Literal["sl_under_target", "wait_over_limit"]
    queue: str = Field(min_length=1, max_length=128)
    note: str = Field(min_length=1, max_length=1000, description="qué se hizo al respecto")


class QueueAckOut(BaseModel):
    id: int
    kind: str
    queue: str
    at: datetime
    actor_id: int | None
    note: str


def _out(ack: AckView) -> QueueAckOut:
    return QueueAckOut(
        id=ack.id, kind=ack.kind, queue=ack.queue, at=ack.at, actor_id=ack.actor_id, note=ack.note
    )


def acknowledge(
    acks: QueueAlertAcks, audit: AuditLog, user_id: int, kind: str, queue: str, note: str
) -> AckView:
    """Persist the acknowledgement and audit it (the API's and the page's one way)."""
    done = acks.acknowledge(kind, queue, note, user_id)
    audit.record(
        AuditAction.ALERT_ACK,
        actor_id=user_id,
        person_ids=[None],
        details={"kind": kind, "queue": queue, "ack_id": done.id},
    )
    return done


def queue_alerts_router(acks: QueueAlertAcks) -> APIRouter:
    router = APIRouter(prefix="/api/queue-alerts", tags=["alertas de colas"])

    @router.get("/acks", response_model=list[QueueAckOut])
    def recent(
        _: QueueAlertReader, limit: int = Query(default=50, ge=1, le=500)
    ) -> list[QueueAckOut]:
        return [_out(a) for a in acks.recent(limit)]

    @router.post("/acks", response_model=QueueAckOut, status_code=201)
    def ack(body: QueueAckIn, user: QueueAlertReader, services: Services) -> QueueAckOut:
        done = acknowledge(acks, services.audit, user.user_id, body.kind, body.queue, body.note)
        return _out(done)

    return router
