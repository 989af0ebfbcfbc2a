"""After-call work: an agent whose answered call ended is paused "Cierre" until the wrap-up.

As a VICIdial agent is held until the call is dispositioned: when a call the
agent answered ends, every interface Asterisk has for the agent is paused in
its queues with reason "Cierre" (QueuePause with Reason, so Asterisk emits
QueueMemberPause with PausedReason and supervisors see it), and unpaused
when the wrap-up of that call is saved or when the maximum passes: the
queue's `wrapuptime` from queues.conf when it sets one, else the setting
(ATIENDE_API__WRAPUP_MAX_SECONDS, default 120 s). Past the maximum the agent
is available again though the form is not saved: the wrap-up stays pending in
the agent's list (nothing is lost), as a contact centre's maximum after-call
work time; without it an agent who never saves stays out of the queues.
An interface paused since for another reason (the agent went to lunch during
the "Cierre" pause, a supervisor paused them) stays paused when it ends.

`deadline_seconds` and `AcwBook` are pure (what to do and when); the
`AfterCallWork` adapter carries the decisions out through AgentControls and
tells the agent's page (`acw.started`, `acw.ended` frames via the hub). A page
drawn while the pause runs (a reload, a restored tab, a socket that
reconnects) gets the same `acw.started` frame from `started_frame`, so it
shows the banner and the countdown too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_api.control_fanout import InterfaceResult, agent_interfaces, on_every_interface
from agent_api.controls import AgentControls
from agent_api.users import UserStore
from agent_api.workspace import ACW_REASON as ACW_REASON
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState, CallKey

log = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 120.0


def deadline_seconds(
    queue: str | None, per_queue: Mapping[str, float], default: float = DEFAULT_MAX_SECONDS
) -> float:
    """The queue's wrapuptime when queues.conf sets one (> 0), else the default."""
    if queue is not None:
        configured = per_queue.get(queue, 0.0)
        if configured > 0:
            return configured
    return default


def acw_interfaces(
    configured: Sequence[str], member_name: str, snapshot: Sequence[AgentSnapshot]
) -> tuple[str, ...]:
    """The agent's interfaces the "Cierre" pause goes to: those Asterisk has in a queue.

    A configured interface that is in no queue cannot be offered a call, and
    Asterisk refuses to pause it ("Interface not found"): warning the agent
    about it on every call says nothing useful. When QueueStatus lists none
    of the agent's interfaces yet, every one is tried.
    """
    every = agent_interfaces(configured, member_name, snapshot)
    members = {agent.interface for agent in snapshot if agent.queues}
    chosen = tuple(iface for iface in every if iface in members)
    return chosen or every


def acw_unpause_interfaces(
    interfaces: Sequence[str], snapshot: Sequence[AgentSnapshot]
) -> tuple[str, ...]:
    """Of the interfaces the "Cierre" pause went to, those its end makes
    available: not one Asterisk shows paused since for another reason (or none)."""
    other = {
        agent.interface
        for agent in snapshot
        if agent.state is AgentState.PAUSED and agent.reason != ACW_REASON
    }
    return tuple(iface for iface in interfaces if iface not in other)


@dataclass(frozen=True, slots=True)
class Acw:
    call: CallKey
    until: float
    # When it ends on the wall's clock (the page's), if not the same as `until`.
    shown_until: float | None = None

    @property
    def wall_until(self) -> float:
        return self.until if self.shown_until is None else self.shown_until


def acw_started_frame(
    call: CallKey, until_wall: float, failed: Sequence[InterfaceResult] = ()
) -> dict[str, object]:
    """The `acw.started` frame the agent's page draws the "Cierre" banner from."""
    return {
        "type": "acw.started",
        "call": {"system": call.system, "linkedid": call.linkedid},
        "until": until_wall,
        "failed": [{"interface": r.interface, "detalle": r.detalle} for r in failed if not r.ok],
    }


@dataclass
class AcwBook:
    """Who is in after-call work for which call (pure bookkeeping)."""

    running: dict[int, Acw] = field(default_factory=dict)

    def start(
        self, user_id: int, call: CallKey, until: float, shown_until: float | None = None
    ) -> Acw | None:
        """Start (or move to a newer call); the one it replaces, if any."""
        previous = self.running.get(user_id)
        self.running[user_id] = Acw(call, until, shown_until)
        return previous

    def end(self, user_id: int, call: CallKey | None = None) -> Acw | None:
        """End the user's after-call work (only if it is for `call`, when given)."""
        current = self.running.get(user_id)
        if current is None or (call is not None and current.call != call):
            return None
        del self.running[user_id]
        return current

    def of(self, user_id: int) -> Acw | None:
        return self.running.get(user_id)


class AfterCallWork:
    def __init__(
        self,
        controls: AgentControls,
        *,
        per_queue: Mapping[str, float] | None = None,
        default_seconds: float = DEFAULT_MAX_SECONDS,
        clock: Callable[[], float] = time.time,
        speed: float = 1.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """`clock` and `speed`: the demo's simulated time runs `speed` times
        faster than the wall's, so a deadline in its seconds waits
        seconds / speed on the event loop (whose timers are wall time).
        `wall`: the agent's time; the page shows when the pause ends on it
        (the simulator's clock runs ahead of the wall, minutes within minutes)."""
        self._controls = controls
        self._speed = max(speed, 0.001)
        self._per_queue = dict(per_queue or {})
        self._default = default_seconds
        self._clock = clock
        self._wall = wall
        self.book = AcwBook()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by create_app: the user's interfaces (QueueStatus included) and
        # how to tell the user's pages.
        self.interfaces_of: Callable[[int], Sequence[str]] = lambda _user: ()
        # The tracker's agents (QueueStatus and pause events): who is paused why.
        self.snapshot: Callable[[], Sequence[AgentSnapshot]] = lambda: ()
        self.notify: Callable[[int, dict[str, object]], None] = lambda _user, _frame: None
        self.last_results: dict[int, list[InterfaceResult]] = {}
        # The "Cierre" pause's results per user, for the call it was for.
        self._paused: dict[int, tuple[CallKey, list[InterfaceResult]]] = {}

    def call_ended(self, user_id: int, call: CallKey, queue: str | None) -> None:
        """The user's answered call ended: pause "Cierre" until the wrap-up or the deadline."""
        seconds = deadline_seconds(queue, self._per_queue, self._default)
        until = self._clock() + seconds
        wait = seconds / self._speed
        # The page is told the wall's time the timer fires at, not the PBX clock's.
        until_wall = self._wall() + wait
        self.book.start(user_id, call, until, until_wall)
        loop = asyncio.get_running_loop()
        old = self._timers.pop(user_id, None)
        if old is not None:
            old.cancel()
        self._timers[user_id] = loop.call_later(wait, self._expired, user_id, call)
        self._spawn(self._pause(user_id, call, until_wall))

    def started_frame(self, user_id: int) -> dict[str, object] | None:
        """The `acw.started` frame of the user's running pause, None if none
        runs: what a page drawn now (a reload, a reconnect) shows."""
        acw = self.book.of(user_id)
        if acw is None:
            return None
        paused_call, results = self._paused.get(user_id, (None, []))
        return acw_started_frame(
            acw.call, acw.wall_until, results if paused_call == acw.call else ()
        )

    async def wrapup_saved(self, user_id: int, call: CallKey) -> None:
        """The wrap-up of `call` is saved: end its after-call work (if it is the one running)."""
        if self.book.end(user_id, call) is None:
            return
        timer = self._timers.pop(user_id, None)
        if timer is not None:
            timer.cancel()
        await self._unpause(user_id, call, "saved")

    def _expired(self, user_id: int, call: CallKey) -> None:
        self._timers.pop(user_id, None)
        if self.book.end(user_id, call) is not None:
            self._spawn(self._unpause(user_id, call, "deadline"))

    async def _pause(self, user_id: int, call: CallKey, until_wall: float) -> None:
        # interfaces_of reads the user from the store: off the loop.
        interfaces = await asyncio.to_thread(self.interfaces_of, user_id)
        results = await on_every_interface(
            interfaces, lambda iface: self._controls.pause(iface, ACW_REASON)
        )
        self.last_results[user_id] = results
        self._paused[user_id] = (call, results)
        failed = [r for r in results if not r.ok]
        if failed:
            log.warning("after-call pause failed on %d of %d interfaces", len(failed), len(results))
        self.notify(user_id, acw_started_frame(call, until_wall, results))

    async def _unpause(self, user_id: int, call: CallKey, why: str) -> None:
        interfaces = await asyncio.to_thread(self.interfaces_of, user_id)
        interfaces = acw_unpause_interfaces(interfaces, self.snapshot())
        results = await on_every_interface(interfaces, self._controls.unpause)
        self.last_results[user_id] = results
        if self._paused.get(user_id, (None, []))[0] == call:
            del self._paused[user_id]
        self.notify(
            user_id,
            {
                "type": "acw.ended",
                "call": {"system": call.system, "linkedid": call.linkedid},
                "why": why,
            },
        )

    def _spawn(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()


def attach_after_call(
    acw: AfterCallWork,
    hub: Any,
    users: UserStore,
    snapshot: Callable[[], Sequence[AgentSnapshot]],
) -> None:
    """Connect after-call work to the pop hub (call ends) and the users' pages."""

    def interfaces_of(user_id: int) -> tuple[str, ...]:
        user = users.get(user_id)
        if user is None:
            return ()
        return acw_interfaces(user.interfaces, user.display_name, snapshot())

    acw.interfaces_of = interfaces_of
    acw.snapshot = snapshot
    acw.notify = hub.push
    hub.after_call = acw
