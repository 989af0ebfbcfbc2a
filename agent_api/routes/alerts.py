"""SLA alerts: a referente sees and acknowledges their own, supervisors and admins all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from agent_api.auth import Permission, Principal
from agent_api.deps import require
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


@router.post("/{alert_id}/ack", status_code=204)
def acknowledge_alert(alert_id: int, user: AlertReader, followup: FollowUp) -> Response:
    alerts = _service(followup)
    if not user.can(Permission.ALL_SLA_ALERTS) and alert_id not in {
        a.id for a in _visible(followup, user)
    }:
        raise Forbidden(
            f"alert {alert_id} is not among user {user.user_id}'s open alerts",
            detalle="Esa alerta no está entre sus alertas abiertas.",
        )
    alerts.acknowledge(alert_id, user.user_id)
    return Response(status_code=204)
