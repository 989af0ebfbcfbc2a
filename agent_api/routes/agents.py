"""Agent controls (queues, pause, click-to-call) and the agent state AMI confirmed.

The answers say the action was *requested*; the panel changes what it shows
only when the AgentStateChanged of that interface arrives on the socket.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from agent_api.after_call import acw_interfaces
from agent_api.auth import Permission, Principal
from agent_api.control_fanout import InterfaceResult, agent_interfaces, on_every_interface
from agent_api.deps import Controller, Services
from agent_api.exceptions import Conflict, ControlRefused, Forbidden, InvalidInput, NotFound
from agent_api.schemas import Accepted, AgentStateOut, CallIn, PauseIn
from agent_api.users import PanelUser
from crm_bridge.organisms import Role

router = APIRouter(prefix="/api", tags=["agentes"])


def _target(user: Principal, user_id: int, services: Services) -> PanelUser:
    """The agent acted on: oneself, or (supervisors) any agent."""
    if user_id != user.user_id and not user.can(Permission.CONTROL_OTHERS):
        raise Forbidden(f"user {user.user_id} may not control agent {user_id}")
    target = services.users.get(user_id)
    if target is None or not target.active:
        raise NotFound(f"no agent {user_id}")
    if target.role not in (Role.EJECUTIVO, Role.SUPERVISOR):
        raise Forbidden(f"user {user_id} is not an agent")
    if not target.interfaces:
        raise Conflict(
            f"user {user_id} has no interface",
            detalle="El agente no tiene una interfaz telefónica asignada.",
        )
    return target


async def _target_off_loop(user: Principal, user_id: int, services: Services) -> PanelUser:
    # The controls below are async (they send AMI actions on the loop); the
    # store read runs in the thread pool, never on the bridge's loop.
    return await run_in_threadpool(_target, user, user_id, services)


@router.get("/pause-reasons", response_model=list[str])
def pause_reasons(_: Controller, services: Services) -> list[str]:
    return list(services.pause_reasons)


@router.get("/agents/{user_id}/state", response_model=list[AgentStateOut])
def agent_state(user_id: int, user: Controller, services: Services) -> list[AgentStateOut]:
    target = _target(user, user_id, services)
    mine = set(target.interfaces)
    return [
        AgentStateOut(
            interface=a.interface,
            member_name=a.member_name,
            queues=list(a.queues),
            state=a.state.value,
            since=a.since,
            reason=a.reason,
        )
        for a in services.agents()
        if a.interface in mine
    ]


@router.post("/agents/{user_id}/queues/{queue}", response_model=Accepted, status_code=202)
async def queue_log_in(user_id: int, queue: str, user: Controller, services: Services) -> Accepted:
    target = await _target_off_loop(user, user_id, services)
    await services.controls.log_in(target.interfaces[0], queue, target.display_name)
    return Accepted(detalle=f"Ingreso a la cola {queue} solicitado.")


@router.delete("/agents/{user_id}/queues/{queue}", response_model=Accepted, status_code=202)
async def queue_log_out(user_id: int, queue: str, user: Controller, services: Services) -> Accepted:
    target = await _target_off_loop(user, user_id, services)
    results = await on_every_interface(
        _all_interfaces(target, services),
        lambda iface: services.controls.log_out(iface, queue),
    )
    return _summary(results, f"Salida de la cola {queue} solicitada.")


@router.post("/agents/{user_id}/pause", response_model=Accepted, status_code=202)
async def pause(user_id: int, body: PauseIn, user: Controller, services: Services) -> Accepted:
    target = await _target_off_loop(user, user_id, services)
    if body.reason not in services.pause_reasons:
        raise InvalidInput("unknown pause reason", detalle="Elija un motivo de pausa de la lista.")
    results = await on_every_interface(
        _queued_interfaces(target, services),
        lambda iface: services.controls.pause(iface, body.reason),
    )
    return _summary(results, "Pausa solicitada.")


@router.delete("/agents/{user_id}/pause", response_model=Accepted, status_code=202)
async def unpause(user_id: int, user: Controller, services: Services) -> Accepted:
    target = await _target_off_loop(user, user_id, services)
    results = await on_every_interface(
        _queued_interfaces(target, services), services.controls.unpause
    )
    return _summary(results, "Fin de pausa solicitado.")


def _all_interfaces(target: PanelUser, services: Services) -> tuple[str, ...]:
    """Every interface Asterisk has for the agent (QueueStatus), not only the configured."""
    return agent_interfaces(target.interfaces, target.display_name, services.agents())


def _queued_interfaces(target: PanelUser, services: Services) -> tuple[str, ...]:
    """Pauses go where Asterisk has the agent in a queue (all when it lists none):
    an interface in no queue is refused on every request, saying nothing useful."""
    return acw_interfaces(target.interfaces, target.display_name, services.agents())


def _summary(results: list[InterfaceResult], done: str) -> Accepted:
    """202 when at least one interface took it (the failures named); 409 when none did."""
    failed = [r for r in results if not r.ok]
    if failed and len(failed) == len(results):
        raise ControlRefused(
            "refused on every interface",
            detalle="; ".join(f"{r.interface}: {r.detalle}" for r in failed),
        )
    if failed:
        return Accepted(
            detalle=done + " Falló en " + "; ".join(f"{r.interface}: {r.detalle}" for r in failed)
        )
    return Accepted(detalle=done)


@router.post("/agents/{user_id}/calls", response_model=Accepted, status_code=202)
async def click_to_call(
    user_id: int, body: CallIn, user: Controller, services: Services
) -> Accepted:
    target = await _target_off_loop(user, user_id, services)
    await services.controls.call(target.interfaces[0], body.number, target.display_name)
    return Accepted(detalle="Llamada solicitada: atienda su teléfono.")
