"""The supervisor's screen, /supervision: the floor live (agents, their state and
time in it, the call each is on with the number masked, queues, pause reason,
pending wrap-ups), callers waiting per queue, actions on an agent (pause,
resume, remove from a queue, log off, listen / whisper / barge), and the
queue and ticket SLA alerts, acknowledged with a note (persisted, audited).

The live part is re-read every few seconds by htmx (`#vivo`); the forms sit
outside it so a refresh never wipes what the supervisor is typing. The page
opens no WebSocket. Actions on agents go through AgentControls (validated AMI
actions) and are audited as `agent_action`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from agent_api.audit import AuditAction
from agent_api.auth import Principal
from agent_api.control_fanout import InterfaceResult, agent_interfaces, on_every_interface
from agent_api.exceptions import AgentApiError
from agent_api.followup import FollowUpServices
from agent_api.pending_cases import pending_cases_of, supervisor_cases
from agent_api.routes import alerts as alert_routes
from agent_api.routes import queue_alerts
from agent_api.routes.agents import _target
from agent_api.services import PanelServices
from agent_api.users import PanelUser
from agent_api.web.auth import page_for, pages_of
from agent_api.web.devoluciones import backlog_of
from agent_api.web.screens import Errors, action_for, attempt, first, form_of, is_htmx, number
from crm_bridge.organisms import Role
from crm_bridge.phones import mask_number
from dashboards.kiosk import KioskLinks
from dashboards.queue_alert_acks import QueueAlertAcks
from dashboards.wallboard import STATE_LABELS, Wallboard
from telephony.domain import AgentState

router = APIRouter(include_in_schema=False)

Supervisor = Annotated[Principal, Depends(page_for(Role.SUPERVISOR))]
SupervisorAction = Annotated[Principal, Depends(action_for(Role.SUPERVISOR))]

ALERT_LEVELS = {"por_vencer": ("Por vencer", "warn"), "vencido": ("Vencido", "error")}
QUEUE_ALERT_LABELS = {
    "sl_under_target": "Nivel de servicio bajo el objetivo",
    "wait_over_limit": "Espera sobre el límite",
}
SPY_LABELS = {"listen": "Escuchar", "whisper": "Susurrar", "barge": "Intervenir"}


def _floor(services: PanelServices, now: float) -> list[dict[str, Any]]:
    """One row per agent interface seen by the tracker, with its panel user."""
    live = services.hub.live_calls()
    names = {u.id: u for u in services.users.all()}
    calls = [c for c in services.calls.today(None) if c.outcome == "answered"]
    closed = services.wrapups.of_calls([c.call for c in calls])
    pending: dict[str, int] = {}
    for call in calls:
        done = closed.get(call.call)
        if done is None or done.ended_at is None:
            for interface in call.agent_interfaces[-1:]:
                pending[interface] = pending.get(interface, 0) + 1
    rows = []
    for agent in services.agents():
        user_id = services.hub.user_of(agent.interface)
        user = None if user_id is None else names.get(user_id)
        on_call = None if user_id is None else live.get(user_id)
        rows.append(
            {
                "user_id": user_id,
                "name": user.display_name if user is not None else agent.member_name,
                "interface": agent.interface,
                "state": agent.state.value,
                "state_label": STATE_LABELS[agent.state],
                "seconds": max(0.0, now - agent.since),
                "call": None
                if on_call is None or agent.state is not AgentState.ON_CALL
                else {"number": mask_number(on_call[0]), "queue": on_call[1] or ""},
                "queues": sorted(agent.queues),
                "reason": agent.reason or "",
                "pending": pending.get(agent.interface, 0),
            }
        )
    rows.sort(key=lambda r: (r["state"] == AgentState.LOGGED_OUT.value, str(r["name"]).casefold()))
    return rows


def _context(request: Request, user: Principal) -> dict[str, Any]:
    services: PanelServices = request.app.state.services
    followup: FollowUpServices = request.app.state.followup
    wallboard: Wallboard | None = getattr(request.app.state, "wallboard", None)
    acks: QueueAlertAcks | None = getattr(request.app.state, "queue_alert_acks", None)
    frame = None if wallboard is None else wallboard.frame()
    ticket_alerts = [] if followup.sla_alerts is None else followup.sla_alerts.open_alerts()
    agents = [
        u
        for u in services.users.all()
        if u.active and u.interfaces and u.role in (Role.EJECUTIVO, Role.SUPERVISOR)
    ]
    kiosk: KioskLinks | None = getattr(request.app.state, "kiosk_links", None)
    return {
        "kiosk_enabled": kiosk is not None,
        "kiosk_links": [] if kiosk is None else [k for k in kiosk.all() if k.active],
        "new_kiosk_url": None,
        "floor": _floor(services, services.state_clock()),
        "frame": frame,
        "queue_alerts": [] if frame is None else frame["alerts"],
        "queue_alert_labels": QUEUE_ALERT_LABELS,
        "acks": [] if acks is None else acks.recent(10),
        "ticket_alerts": [
            {"a": a, "level": ALERT_LEVELS.get(a.level.value, (a.level.value, "neutral"))}
            for a in ticket_alerts
        ],
        "agents": agents,
        "pause_reasons": services.pause_reasons,
        "queues": sorted({q for row in _floor_queues(services) for q in row}),
        "callbacks": backlog_of(services, list(getattr(request.app.state, "queue_names", ()))),
        "spy_labels": SPY_LABELS,
        "my_interface": user.interfaces[0] if user.interfaces else None,
        "now": datetime.now(UTC),
        "cases": supervisor_cases(pending_cases_of(request.app.state)),
    }


def _floor_queues(services: PanelServices) -> list[tuple[str, ...]]:
    return [a.queues for a in services.agents()]


async def _page(
    request: Request,
    user: Principal,
    errors: Errors,
    message: str | None,
    extra: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    context = await run_in_threadpool(_context, request, user)
    context.update({"errors": errors, "message": None if errors else message, **(extra or {})})
    status = 422 if errors and not is_htmx(request) else 200
    return pages_of(request).render(
        request, "supervision/index.html", context, user=user, status_code=status
    )


@router.get("/supervision")
async def supervision(request: Request, user: Supervisor) -> HTMLResponse:
    return await _page(request, user, [], None)


def _audit(services: PanelServices, user: Principal, details: Mapping[str, Any]) -> None:
    services.audit.record(
        AuditAction.AGENT_ACTION, actor_id=user.user_id, person_ids=[None], details=dict(details)
    )


def _all_interfaces(target: PanelUser, services: PanelServices) -> tuple[str, ...]:
    """Every interface Asterisk has for the agent (QueueStatus), as the agent routes use."""
    return agent_interfaces(target.interfaces, target.display_name, services.agents())


def _spy_interface(target: PanelUser, services: PanelServices) -> str:
    """The interface to listen on: the one Asterisk has the agent's call on, else the
    first one Asterisk lists in a queue, else the first configured. The first configured
    may be a Local/ channel in no queue, which ChanSpy would never find talking."""
    mine = _all_interfaces(target, services)
    snapshot = [a for a in services.agents() if a.interface in mine]
    for agent in snapshot:
        if agent.state is AgentState.ON_CALL:
            return agent.interface
    for agent in snapshot:
        if agent.queues:
            return agent.interface
    return target.interfaces[0]


def _fanout_outcome(results: list[InterfaceResult], done: str, errors: Errors) -> str | None:
    """The success message when at least one interface took the action, naming the ones
    that refused it (as the agent API's answer does); None, with every refusal shown as an
    error, when none did."""
    failed = [r for r in results if not r.ok]
    if failed and len(failed) == len(results):
        errors.extend((None, f"{r.interface}: {r.detalle}") for r in failed)
        return None
    if failed:
        return done + " Falló en " + "; ".join(f"{r.interface}: {r.detalle}" for r in failed)
    return done


@router.post("/supervision/agentes")
async def act_on_agent(request: Request, user: SupervisorAction) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    form = await form_of(request)
    agent_id, action = number(first(form, "agente")), first(form, "accion")
    errors: Errors = []
    message = None
    if agent_id is None:
        errors.append(("acc-agente", "Elija el agente."))
        return await _page(request, user, errors, None)
    try:
        target = await run_in_threadpool(_target, user, agent_id, services)
        controls = services.controls
        if action == "pausar":
            reason = first(form, "motivo")
            if reason not in services.pause_reasons:
                errors.append(("acc-motivo", "Elija un motivo de pausa de la lista."))
            else:
                results = await on_every_interface(
                    _all_interfaces(target, services),
                    lambda iface: controls.pause(iface, reason),
                )
                message = _fanout_outcome(
                    results, f"Pausa de {target.display_name} solicitada ({reason}).", errors
                )
        elif action == "reanudar":
            results = await on_every_interface(_all_interfaces(target, services), controls.unpause)
            message = _fanout_outcome(
                results, f"Fin de pausa de {target.display_name} solicitado.", errors
            )
        elif action in ("quitar", "desconectar"):
            snapshot = [a for a in services.agents() if a.interface in target.interfaces]
            queue = first(form, "cola")
            if action == "quitar" and not queue:
                errors.append(("acc-cola", "Elija la cola de la que quitar al agente."))
            else:
                targets = [
                    (a.interface, q)
                    for a in snapshot
                    for q in a.queues
                    if action == "desconectar" or q == queue
                ]
                if not targets:
                    errors.append((None, f"{target.display_name} no está en esa cola."))
                for interface, q in targets:
                    await controls.log_out(interface, q)
                if targets:
                    message = (
                        f"Salida de {target.display_name} de todas sus colas solicitada."
                        if action == "desconectar"
                        else f"Salida de {target.display_name} de la cola {queue} solicitada."
                    )
        elif action in SPY_LABELS:
            if not user.interfaces:
                errors.append((None, "Su usuario no tiene un teléfono (interfaz) asignado."))
            else:
                await controls.spy(user.interfaces[0], _spy_interface(target, services), action)
                message = (
                    f"{SPY_LABELS[action]}: atienda su teléfono para unirse a "
                    f"{target.display_name}."
                )
        else:
            errors.append((None, "Acción desconocida."))
    except AgentApiError as err:
        errors.append((None, err.detalle))
    if message is not None:
        await run_in_threadpool(_audit, services, user, {"agent_id": agent_id, "action": action})
    return await _page(request, user, errors, message)


@router.post("/supervision/alertas/solicitudes/{alert_id}")
async def ack_ticket_alert(request: Request, alert_id: int, user: SupervisorAction) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    followup: FollowUpServices = request.app.state.followup
    form = await form_of(request)
    note = first(form, "nota")
    errors: Errors = []
    message = None
    if not note:
        errors.append((f"nota-{alert_id}", "Escriba qué se hizo con esta alerta."))
    else:
        body = alert_routes.AckIn(note=note[:1000])
        done = await attempt(
            lambda: alert_routes.acknowledge_alert(alert_id, user, followup, services, body),
            errors,
            f"nota-{alert_id}",
        )
        message = None if done is None else "Alerta atendida."
    return await _page(request, user, errors, message)


@router.post("/supervision/alertas/colas")
async def ack_queue_alert(request: Request, user: SupervisorAction) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    acks: QueueAlertAcks | None = getattr(request.app.state, "queue_alert_acks", None)
    form = await form_of(request)
    kind, _, queue = first(form, "alerta").partition("|")
    note = first(form, "nota")
    errors: Errors = []
    message = None
    if acks is None:
        errors.append((None, "Las alertas de colas no están activas en este servidor."))
    elif not note:
        errors.append((None, "Escriba qué se hizo con la alerta de la cola."))
    else:
        store = acks
        done = await attempt(
            lambda: queue_alerts.acknowledge(
                store, services.audit, user.user_id, kind, queue, note[:1000]
            ),
            errors,
        )
        if done is not None:
            message = f"Alerta de la cola {queue} atendida."
    return await _page(request, user, errors, message)


@router.post("/supervision/pizarras")
async def kiosk_links(request: Request, user: SupervisorAction) -> HTMLResponse:
    """Create a kiosk link (its URL is shown once) or revoke one; both audited."""
    services: PanelServices = request.app.state.services
    kiosk: KioskLinks | None = getattr(request.app.state, "kiosk_links", None)
    form = await form_of(request)
    errors: Errors = []
    message = None
    extra: dict[str, Any] = {}
    if kiosk is None:
        errors.append((None, "La pizarra no está disponible en este servidor."))
        return await _page(request, user, errors, None)
    links = kiosk
    revoke = number(first(form, "revocar"))
    if revoke is not None:
        done = await attempt(lambda: links.revoke(revoke, user.user_id), errors)
        if done is not None:
            await run_in_threadpool(
                _audit_kiosk, services, user, {"event": "revoked", "link_id": done.id}
            )
            message = f"Enlace «{done.label}» revocado: esa pantalla deja de mostrar la pizarra."
    else:
        label = first(form, "nombre")
        if not label:
            errors.append(
                ("kiosk-nombre", "Escriba un nombre para la pantalla (p. ej. TV sala 1).")
            )
        else:
            made = await attempt(lambda: links.create(label[:100], user.user_id), errors)
            if made is not None:
                link, token = made
                await run_in_threadpool(
                    _audit_kiosk,
                    services,
                    user,
                    {"event": "created", "link_id": link.id, "label": link.label},
                )
                message = f"Enlace «{link.label}» creado. Cópielo ahora: no se vuelve a mostrar."
                extra["new_kiosk_url"] = str(request.base_url).rstrip("/") + f"/kiosco/{token}"
    return await _page(request, user, errors, message, extra)


def _audit_kiosk(services: PanelServices, user: Principal, details: Mapping[str, Any]) -> None:
    services.audit.record(
        AuditAction.KIOSK_LINK, actor_id=user.user_id, person_ids=[None], details=dict(details)
    )
