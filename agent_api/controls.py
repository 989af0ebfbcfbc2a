"""Agent controls through AMI: queue log in/out, pause with a reason, unpause, click-to-call.

`AgentControls` is what the routes use; `AmiAgentControls` builds validated
actions (telephony.ami.actions) and sends them on the bridge's connection.
Asterisk's errors become the API's own, in Spanish for the panel. The panel
never assumes an action worked: the state it shows comes from the AMI events
(AgentStateChanged over the socket).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from agent_api.exceptions import (
    ControlOutcomeUnknown,
    ControlRefused,
    InvalidInput,
    TelephonyTimeout,
    TelephonyUnavailable,
)
from agent_api.masking import mask_number
from telephony.ami.actions import AmiAction, Originate, QueueAdd, QueuePause, QueueRemove, spy
from telephony.ami.exceptions import (
    ActionOutcomeUnknown,
    AmiActionFailed,
    AmiNotConnected,
    AmiTimeout,
)
from telephony.ami.stream import Headers
from telephony.exceptions import InvalidActionValue

log = logging.getLogger(__name__)

DEFAULT_PAUSE_REASONS = ("Almuerzo", "Descanso", "Capacitación", "Tarea administrativa", "Baño")
# What an agent may dial: digits, optionally a leading +, like a person types it.
_DIALLABLE = re.compile(r"\+?[0-9]{3,20}")

Send = Callable[[AmiAction], Awaitable[Headers]]


class AgentControls(Protocol):
    async def log_in(self, interface: str, queue: str, member_name: str) -> None: ...

    async def log_out(self, interface: str, queue: str) -> None: ...

    async def pause(self, interface: str, reason: str) -> None: ...

    async def unpause(self, interface: str) -> None: ...

    async def call(self, interface: str, number: str, caller_id: str) -> None: ...

    async def spy(self, listener: str, target: str, mode: str) -> None: ...


# Asterisk's app_queue / manager answers, as Asterisk 22 words them.
_REFUSALS: tuple[tuple[str, str], ...] = (
    ("interface not found", "El teléfono no está en ninguna cola de la central."),
    ("already there", "Ya está en esa cola."),
    ("not there", "No está en esa cola."),
    ("no such queue", "Esa cola no existe en la central."),
    ("unable to add interface", "La central no pudo agregarlo a la cola."),
    ("unable to remove interface", "La central no pudo sacarlo de la cola."),
    ("out of memory", "La central no tiene recursos en este momento."),
    ("originate failed", "La central no pudo hacer la llamada."),
    ("extension does not exist", "El número no existe en el plan de marcado."),
    ("permission denied", "La conexión con la central no tiene permiso para esa acción."),
    ("missing", "Falta un dato en la solicitud a la central."),
)


def spanish_refusal(message: str) -> str:
    """Asterisk's English error as the agent reads it (unknown ones: a generic sentence)."""
    text = message.casefold()
    for needle, spanish in _REFUSALS:
        if needle in text:
            return spanish
    return "La central rechazó la acción."


def dialable(number: str) -> str:
    cleaned = re.sub(r"[\s().\-]", "", number)
    if not _DIALLABLE.fullmatch(cleaned):
        raise InvalidInput(
            "not a diallable number", detalle="El número a llamar solo admite dígitos."
        )
    return cleaned


class AmiAgentControls:
    """AgentControls over `send` (AmiConnection.send)."""

    def __init__(self, send: Send, *, originate_context: str = "from-agents") -> None:
        self._send = send
        self._context = originate_context

    async def log_in(self, interface: str, queue: str, member_name: str) -> None:
        await self._run(lambda: QueueAdd(queue=queue, interface=interface, member_name=member_name))

    async def log_out(self, interface: str, queue: str) -> None:
        await self._run(lambda: QueueRemove(queue=queue, interface=interface))

    async def pause(self, interface: str, reason: str) -> None:
        await self._run(lambda: QueuePause(interface=interface, paused=True, reason=reason))

    async def unpause(self, interface: str) -> None:
        await self._run(lambda: QueuePause(interface=interface, paused=False))

    async def call(self, interface: str, number: str, caller_id: str) -> None:
        target = dialable(number)
        log.info("click-to-call from %s to %s", interface, mask_number(target))
        await self._run(
            lambda: Originate(
                channel=interface,
                context=self._context,
                exten=target,
                caller_id=caller_id[:80],
            )
        )

    async def originate_callback(
        self,
        interface: str,
        number: str,
        *,
        context: str,
        caller_id: str,
        variables: dict[str, str],
    ) -> None:
        """A callback: the agent's phone rings first; once it answers, `context`
        dials the citizen with the centre's caller ID (deploy/asterisk/
        extensions.conf [atiende-callback]). Asynchronous, as every Originate:
        the outcome arrives as events (OriginateResponse, then the call's)."""
        target = dialable(number)
        log.info("callback from %s to %s", interface, mask_number(target))
        await self._run(
            lambda: Originate(
                channel=interface,
                context=context,
                exten=target,
                caller_id=caller_id[:80],
                variables=variables,
            )
        )

    async def spy(self, listener: str, target: str, mode: str) -> None:
        """listen / whisper / barge: ChanSpy on `target`, from the `listener` phone."""
        log.info("%s %s on %s", listener, mode, target)
        await self._run(lambda: spy(listener, target, mode))

    async def _run(self, build: Callable[[], AmiAction]) -> None:
        try:
            action = build()
        except InvalidActionValue as err:
            raise InvalidInput(
                f"invalid {err.field}: {err.problem}",
                detalle=f"Valor no válido en «{err.field}».",
            ) from err
        try:
            await self._send(action)
        except AmiActionFailed as err:
            log.warning("%s refused by Asterisk: %s", err.action, err.message)
            raise ControlRefused(str(err), detalle=spanish_refusal(err.message)) from err
        except ActionOutcomeUnknown as err:
            raise ControlOutcomeUnknown(str(err)) from err
        except AmiNotConnected as err:
            raise TelephonyUnavailable(str(err)) from err
        except AmiTimeout as err:
            raise TelephonyTimeout(str(err)) from err
