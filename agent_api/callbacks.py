"""Callbacks at the agent's desk: the offer to a free agent, and the call on accept.

An agent is free for a callback when one of their interfaces is, in the
tracker's state the panel already reads (available: not paused, not ringing,
not on a call, not in wrap-up) and is a member of queues. The offer is the
next due callback of those queues (crm_bridge.callbacks.CallbackQueue.
next_for): its reason, how long it has waited, the number masked, and the
person's name when one was identified for the call that asked for it (or
chosen by the agent who scheduled it). Showing that name to the agent of the
queue is the need-to-know reason "callback offered to you", audited once per
agent and callback.

On accept the callback is held for the agent (two agents cannot take it) and
Atiende originates the call: the agent's interface first, then the citizen
through the callback context with the centre's caller ID. The Originate's
variables make the call an outbound attention linked to the original
(ATIENDE_DIRECTION=outbound, ATIENDE_CALLBACK_OF=<linkedid>); the tracker
(telephony.tracker) turns it into the usual pop, answer and end, and the
result back into the worklist (crm_bridge.callback_results).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, select

from agent_api.audit import AuditAction, AuditLog
from agent_api.auth import Principal
from agent_api.exceptions import AgentApiError, Conflict
from agent_api.masking import mask_number
from crm_bridge.callbacks import CallbackQueue, CallbackView
from crm_bridge.db import session_factory
from crm_bridge.models import Attention, Person
from crm_bridge.store_access import translated
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState

log = logging.getLogger(__name__)


class CallbackDialer(Protocol):
    async def originate_callback(
        self,
        interface: str,
        number: str,
        *,
        context: str,
        caller_id: str,
        variables: dict[str, str],
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Offer:
    callback: CallbackView
    interface: str
    person_name: str | None
    masked_number: str
    waited_seconds: float


class CallbackDesk:
    def __init__(
        self,
        worklist: CallbackQueue,
        dialer: CallbackDialer,
        agents: Callable[[], list[AgentSnapshot]],
        engine: Engine,
        audit: AuditLog,
        *,
        context: str = "atiende-callback",
        caller_id: str = "",
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.worklist = worklist
        self._dialer = dialer
        self._agents = agents
        self._sessions = session_factory(engine)
        self._audit = audit
        self._context = context
        self._caller_id = caller_id
        self._clock = clock
        # (user, callback) pairs whose person was already shown and audited.
        # The page load and the socket's refresh read the offer at the same
        # moment from two threads: the lock makes one of them the audited read.
        self._disclosed: dict[int, int] = {}
        self._disclosed_lock = threading.Lock()

    def free_interface(self, user: Principal) -> tuple[str, tuple[str, ...]] | None:
        """The user's interface that is free for a callback, and its queues."""
        snapshots = {a.interface: a for a in self._agents()}
        for interface in user.interfaces:
            snap = snapshots.get(interface)
            if snap is not None and snap.state is AgentState.AVAILABLE and snap.queues:
                return interface, snap.queues
        return None

    def offer_for(self, user: Principal) -> Offer | None:
        """The callback to offer `user` now (blocking: run it off the loop)."""
        free = self.free_interface(user)
        if free is None:
            return None
        interface, queues = free
        view = self.worklist.next_for(queues)
        if view is None:
            return None
        person_id, name = self._person(view)
        if name is not None and self._first_disclosure(user.user_id, view.id):
            try:
                self._audit.record(
                    AuditAction.CALLBACK_OFFER,
                    actor_id=user.user_id,
                    person_ids=[person_id],
                    call=view.call,
                    details={"callback": view.id, "queue": view.queue},
                )
            except BaseException:
                # Not audited, so not disclosed: the next read audits it.
                with self._disclosed_lock:
                    if self._disclosed.get(user.user_id) == view.id:
                        del self._disclosed[user.user_id]
                raise
        waited = max(0.0, (self._clock() - view.requested_at).total_seconds())
        return Offer(view, interface, name, mask_number(view.dial_number), waited)

    def _first_disclosure(self, user_id: int, callback_id: int) -> bool:
        """True once per (user, callback): the read that must be audited."""
        with self._disclosed_lock:
            if self._disclosed.get(user_id) == callback_id:
                return False
            self._disclosed[user_id] = callback_id
            return True

    def _person(self, view: CallbackView) -> tuple[int | None, str | None]:
        with translated("reading a callback's person"), self._sessions() as session:
            person_id = view.person_id
            if person_id is None:
                person_id = session.scalars(
                    select(Attention.person_id).where(
                        Attention.system == view.call.system,
                        Attention.linkedid == view.call.linkedid,
                    )
                ).first()
            if person_id is None:
                return None, None
            person = session.get(Person, person_id)
            if person is None:
                return None, None
            name = f"{person.given_names} {person.family_names}".strip()
            return person_id, name or None

    async def accept(self, user: Principal, callback_id: int) -> CallbackView:
        """Hold the callback for `user` and originate it from their free interface."""
        free = await asyncio.to_thread(self.free_interface, user)
        if free is None:
            raise Conflict(
                "agent not free", detalle="Para devolver una llamada debe estar disponible."
            )
        interface, queues = free
        held = await asyncio.to_thread(self.worklist.claim, callback_id, user.user_id)
        if held is None:
            raise Conflict(
                "callback taken",
                detalle="Otro agente ya tomó esta devolución o ya no está pendiente.",
            )
        number = held.dial_number
        if held.queue not in queues or number is None:
            await asyncio.to_thread(self.worklist.release, callback_id, user.user_id)
            raise Conflict(
                "callback not for this agent", detalle="Esa devolución no es de sus colas."
            )
        variables = {
            "ATIENDE_DIRECTION": "outbound",
            "ATIENDE_CALLBACK_ID": str(held.id),
            "ATIENDE_CALLBACK_OF": held.call.linkedid,
            "ATIENDE_CALLBACK_QUEUE": held.queue,
            "ATIENDE_CALLBACK_NUMBER": number,
        }
        if held.person_id is not None:
            variables["ATIENDE_PERSON_ID"] = str(held.person_id)
        try:
            await self._dialer.originate_callback(
                interface,
                number,
                context=self._context,
                caller_id=self._caller_id,
                variables=variables,
            )
        except AgentApiError:
            await asyncio.to_thread(self.worklist.release, callback_id, user.user_id)
            raise
        log.info("callback %d accepted by user %d on %s", held.id, user.user_id, interface)
        return held
