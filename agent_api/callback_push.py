"""The callback offer pushed: the free agents of a queue whose callbacks
changed are told at once, on every replica, instead of polling.

A change anywhere (a request stored by the IVR, one scheduled from a
wrap-up, one accepted, released or finished, a call's result) reaches
`CallbackPush.changed` through `CallbackQueue.on_change`, from whatever
thread made it. With Redis (replicas) the queue names are published on one
channel per Asterisk system and every replica, this one included, tells its
own sockets when the message comes back: one path for all, as pops go
(agent_api.fanout). Without Redis they are told here directly.

Telling = a `callback.changed` frame to each user with an interface that
is available in one of those queues (the agents' snapshot, the same one the
offer itself is read with): the frame carries nothing but its type, and the
page answers it by asking `/agente/devolucion` again, where the server
checks who may see what. Time changes the offer too (a callback comes due,
a hold nobody closed runs out): `_watch` sleeps until the next such moment
(`CallbackQueue.next_change`, at most `idle_seconds`) on every replica and
tells its own sockets. The page keeps a slow poll only as a safety net for
a lost message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from agent_api.fanout import listen_forever, stop_tasks
from agent_api.ws import PopHub
from crm_bridge.callbacks import CallbackQueue
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState

log = logging.getLogger(__name__)

FRAME: dict[str, Any] = {"type": "callback.changed"}


def channel_name(system: str) -> str:
    return f"atiende:callbacks-changed:{system}"


def agents_to_tell(
    queues: Iterable[str], agents: Iterable[AgentSnapshot], user_of: Callable[[str], int | None]
) -> list[int]:
    """The users with an interface available in one of `queues` (pure)."""
    wanted = set(queues)
    users: set[int] = set()
    for agent in agents:
        if agent.state is AgentState.AVAILABLE and wanted.intersection(agent.queues):
            user = user_of(agent.interface)
            if user is not None:
                users.add(user)
    return sorted(users)


class CallbackPush:
    def __init__(
        self,
        hub: PopHub,
        worklist: CallbackQueue,
        agents: Callable[[], list[AgentSnapshot]],
        *,
        redis: Redis | None = None,
        system: str = "",
        idle_seconds: float = 30.0,
        retry_seconds: float = 0.5,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._hub = hub
        self._worklist = worklist
        self._agents = agents
        self._redis = redis
        self.channel = channel_name(system)
        self._idle = idle_seconds
        self._retry = retry_seconds
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changes: asyncio.Queue[tuple[str, ...]] = asyncio.Queue(1000)
        self._rearm = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()
        self.frames = 0  # callback.changed frames handed to this replica's hub

    # ------------------------------------------------------------- entry

    def changed(self, queues: Iterable[str]) -> None:
        """The callbacks of `queues` changed (any thread; never blocks)."""
        names = tuple(sorted(set(queues)))
        loop = self._loop
        if not names or loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._enqueue, names)

    def _enqueue(self, names: tuple[str, ...]) -> None:
        try:
            self._changes.put_nowait(names)
        except asyncio.QueueFull:
            # Thousands of changes waiting: the safety poll catches up.
            log.warning("callback change notices falling behind; one dropped")

    # --------------------------------------------------------- lifecycle

    async def start(self, subscribe_wait: float = 5.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self._forward(), name="callback-push"))
        self._tasks.append(asyncio.create_task(self._watch(), name="callback-due-watch"))
        if self._redis is None:
            return
        self._tasks.append(
            asyncio.create_task(
                listen_forever(
                    self._redis,
                    self.channel,
                    self._received,
                    subscribed=self.subscribed,
                    retry=self._retry,
                ),
                name="callback-push-in",
            )
        )
        try:
            await asyncio.wait_for(self.subscribed.wait(), subscribe_wait)
        except TimeoutError:
            log.warning("not subscribed to %s yet (Redis down?)", self.channel)

    async def close(self) -> None:
        self._loop = None
        await stop_tasks(self._tasks)

    # ----------------------------------------------------------- fan-out

    async def _forward(self) -> None:
        while True:
            names = set(await self._changes.get())
            while not self._changes.empty():  # a burst goes out as one
                names.update(self._changes.get_nowait())
            if self._redis is None:
                self._tell(names)
                continue
            try:
                await self._redis.publish(self.channel, json.dumps(sorted(names)))
            except (RedisError, OSError) as err:
                # The other replicas wait for their safety poll; this one's
                # agents need not.
                log.warning("callback change not published (%s); told here only", err)
                self._tell(names)

    def _received(self, data: bytes | str) -> None:
        try:
            names = json.loads(data)
        except ValueError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            log.warning("malformed callback change message on %s", self.channel)
            return
        self._tell(names)

    def _tell(self, queues: Iterable[str], *, rearm: bool = True) -> None:
        if rearm:  # a callback due later may now come first: the watch looks again
            self._rearm.set()
        for user in agents_to_tell(queues, self._agents(), self._hub.user_of):
            self._hub.push(user, FRAME)
            self.frames += 1

    # -------------------------------------------------------------- time

    async def _watch(self) -> None:
        since = self._clock()
        while True:
            try:
                since = await self._watch_round(since)
            except Exception:
                # `since` stays: the next round looks at the whole gap.
                log.warning("callback due watch failed; retrying", exc_info=True)
                await asyncio.sleep(self._idle / 6)

    async def _watch_round(self, since: dt.datetime) -> dt.datetime:
        """Sleep until the next due moment (or a change); tell the queues
        come due since `since`; the moment looked up to."""
        await asyncio.to_thread(self._worklist.settle)
        upcoming = await asyncio.to_thread(self._worklist.next_change, since)
        wait = self._idle
        if upcoming is not None:
            wait = min(wait, max(0.05, (upcoming - self._clock()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rearm.wait(), wait)
        self._rearm.clear()
        now = self._clock()
        if upcoming is None or upcoming > now:
            # Woken by a change (told by its own notice) or nothing due yet.
            return now
        queues = await asyncio.to_thread(self._worklist.queues_due_between, since, now)
        if queues:
            self._tell(queues, rearm=False)
        return now
