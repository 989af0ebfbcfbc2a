"""SLA alerts: a referente sees and acknowledges their own, supervisors and admins all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from agent_api.audit import AuditAction
from agent_api.auth import Permission, Principal
from agent_api.deps import Services, require
from agent_api.exceptions import Forbidden
from agent_api.followup import FollowUp, FollowUpServices, need
from agent_api.followup_schemas import AlertOut
from crm_bridge.sync.sla_alerts import AlertView, SlaAlerts

router = APIRouter(prefix="/api/sla-alerts", tags=["alertas"])

AlertReader = Annotated[
    Principal, Depends(require(Permission.OWN_SLA_ALERTS, Permission.ALL_SLA_ALERTS))
]

_NO_ALERTS = "Las alertas de nivel de servicio no están activadas en este servidor."


def _service(followup: FollowUpServices) -> SlaAlerts:
    return need(followup.sla_alerts, "SLA alerts", _NO_ALERTS)


def _visible(followup: FollowUpServices, user: Principal) -> list[AlertView]:
    alerts = _service(followup)
    if user.can(Permission.ALL_SLA_ALERTS):
        return alerts.open_alerts()
    units = [u.id for u in followup.directory.units_of_referent(user.user_id)]
    return alerts.open_alerts(referent_id=user.user_id, unit_ids=units)


@router.get("", response_model=list[AlertOut])
def open_alerts(user: AlertReader, followup: FollowUp) -> list[AlertOut]:
    """Unacknowledged alerts, newest first."""
    return [
        AlertOut(
            id=a.id,
            ticket_number=a.ticket_number,
            level=a.level.value,
            raised_at=a.raised_at,
            due_at=a.due_at,
            unit_id=a.unit_id,
            referent_id=a.referent_id,
        )
        for a in _visible(followup, user)
    ]


class AckIn(BaseModel):
    note: str = Field(default="", max_length=1000, description="qué se hizo al respecto")


@router.post("/{alert_id}/ack", status_code=204)
def acknowledge_alert(
    alert_id: int,
    user: AlertReader,
    followup: FollowUp,
    services: Services,
    body: AckIn | None = None,
) -> Response:
    """Mark the alert seen, with a note; persisted and audited."""
    alerts = _service(followup)
    if not user.can(Permission.ALL_SLA_ALERTS) and alert_id not in {
        a.id for a in _visible(followup, user)
    }:
        raise Forbidden(
            f"alert {alert_id} is not among user {user.user_id}'s open alerts",
            detalle="Esa alerta no está entre sus alertas abiertas.",
        )
    note = None if body is None else " ".join(body.note.split()) or None
    if alerts.acknowledge(alert_id, user.user_id, note):
        services.audit.record(
            AuditAction.ALERT_ACK,
            actor_id=user.user_id,
            person_ids=[None],
            details={"kind": "ticket_sla", "alert_id": alert_id, "note": note or ""},
        )
    return Response(status_code=204)
