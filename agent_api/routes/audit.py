"""The audit log of personal data, for admins."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from agent_api.deps import Auditor, Services
from agent_api.schemas import AuditOut

router = APIRouter(prefix="/api/audit", tags=["auditoría"])


@router.get("", response_model=list[AuditOut])
def query_audit(
    _: Auditor,
    services: Services,
    person_id: int | None = None,
    actor_id: int | None = None,
    action: str | None = Query(default=None, max_length=64),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(default=200, ge=1, le=5000),
) -> list[AuditOut]:
    return [
        AuditOut(
            id=r.id,
            at=r.at,
            actor_id=r.actor_id,
            action=r.action,
            person_id=r.person_id,
            call_system=None if r.call is None else r.call.system,
            call_linkedid=None if r.call is None else r.call.linkedid,
            details=r.details,
        )
        for r in services.audit.query(
            person_id=person_id,
            actor_id=actor_id,
            action=action,
            since=since,
            until=until,
            limit=limit,
        )
    ]
