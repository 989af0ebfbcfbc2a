"""Carry out one agent control on every interface Asterisk has for the agent.

An agent may have several member interfaces (a softphone and a desk phone,
`Local/...` and `PJSIP/...`): a pause must reach all of them, and one
refusal must not stop the others. Each interface's outcome is kept so the
page can say which failed and why, in Spanish.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from agent_api.exceptions import AgentApiError
from telephony.agents import AgentSnapshot


@dataclass(frozen=True, slots=True)
class InterfaceResult:
    interface: str
    ok: bool
    detalle: str = ""


def agent_interfaces(
    configured: Sequence[str], member_name: str, snapshot: Iterable[AgentSnapshot]
) -> tuple[str, ...]:
    """The user's configured interfaces plus any QueueStatus shows under their member name."""
    seen = dict.fromkeys(configured)
    for agent in snapshot:
        if agent.member_name == member_name and agent.interface not in seen:
            seen[agent.interface] = None
    return tuple(seen)


def queues_of(interfaces: Iterable[str], snapshot: Iterable[AgentSnapshot]) -> tuple[str, ...]:
    mine = set(interfaces)
    found: dict[str, None] = {}
    for agent in snapshot:
        if agent.interface in mine:
            found.update(dict.fromkeys(agent.queues))
    return tuple(sorted(found))


async def on_every_interface(
    interfaces: Sequence[str], act: Callable[[str], Awaitable[None]]
) -> list[InterfaceResult]:
    results = []
    for interface in interfaces:
        try:
            await act(interface)
        except AgentApiError as err:
            results.append(InterfaceResult(interface, False, err.detalle))
        else:
            results.append(InterfaceResult(interface, True))
    return results
