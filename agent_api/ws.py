"""The screen-pop hub: a bridge sink that pushes calls to the panels' sockets.

Compose it with the bridge and the app (the lead's atiende/wiring.py):

    engine = make_engine(settings.database_url)
    registry = PersonRegistry(engine, phone_region=settings.phone_region)
    audit = AuditLog(engine)
    hub = PopHub(
        StorePopLookup(engine, registry, PersonHistory(engine), audit),
        on_wrapup_due=WrapupStore(engine).start,  # wrap-up time starts at hang-up
    )
    service = build_bridge(settings, extra_sinks=[hub])       # hub.publish runs in the bridge
    hub.record_of = service.tracker.record_of                  # IVR path of the ringing call
    app = panel_app(engine=engine, hub=hub,         # atiende.panel_app: services + create_app
                    controls=AmiAgentControls(service.connection.send,
                                              originate_context="from-agents"),
                    agents_snapshot=service.tracker.agents,
                    secret_key=...,                  # >= 32 chars, from the settings
                    allowed_origins=["https://panel.example"],
                    tickets=TicketService(engine, business_hours=...))  # for derivations
    # then serve `app` with uvicorn in the same event loop as the bridge
    # (uvicorn.Server(uvicorn.Config(app, ...)).serve() as a task beside service.start()),
    # and await hub.close() on shutdown. tests/agent_api/test_panel_browser.py does this.

`publish` never waits: frames are encoded once and put on each socket's own
bounded queue (a socket that falls behind is closed, never waited for). On
AgentRinging the call data goes out at once; the person lookup runs in a
worker thread and follows as a `pop.person` frame; if it has not answered
within `budget_seconds` a `pop.person` frame with status `demorada` tells the
page it is still coming. Who gets what: the user mapped to the rung member
interface, and every supervisor socket watching. Answer, ring-no-answer and
hang-up updates go to the same users; agent state changes go to the user of
that interface (and watchers), and they are the only source of the state the
panel shows.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent_api.frames import (
    agent_state_frame,
    answered_frame,
    call_ref,
    ended_frame,
    pop_frame,
    ring_no_answer_frame,
    taken_frame,
    watched_pop_frame,
)
from agent_api.masking import mask_number
from agent_api.pop_lookup import PopLookup
from telephony.domain import (
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallbackAttemptEnded,
    CallEnded,
    CallKey,
    CallRecord,
    DomainEvent,
    Outcome,
    RingNoAnswer,
)

log = logging.getLogger(__name__)

# WebSocket close codes the page understands (4000-4999 are the application's).
CLOSE_LOGGED_OUT = 4001
CLOSE_ROLE_CHANGED = 4003
CLOSE_TOO_SLOW = 4008
CLOSE_SHUTDOWN = 1001


@dataclass(eq=False)
class Subscriber:
    """One open socket of one user."""

    user_id: int
    session_id: str
    watch_all: bool
    queue: asyncio.Queue[str | None]
    close_code: int = 1000

    def close(self, code: int) -> None:
        self.close_code = code
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


@dataclass
class _LiveCall:
    rung: set[int] = field(default_factory=set)  # users rung for it
    answered_by: int | None = None
    # What a socket opened mid-call (a reloaded page) is sent on arrival.
    ringing: AgentRinging | None = None
    pop: str | None = None
    watched: str | None = None  # the pop as supervisors get it (caller masked)
    answered: str | None = None
    answered_interface: str | None = None
    queue: str | None = None
    # After-call work began when the agent hung up (the caller may stay for
    # the survey): the call's end does not start it again.
    acw_started: bool = False


class PopHub:
    """DomainEventSink for the bridge; sockets subscribe through routes/socket.py."""

    RECENT_CALLS = 20_000

    def __init__(
        self,
        lookup: PopLookup | None,
        *,
        budget_seconds: float = 0.15,
        queue_size: int = 256,
        workers: int = 4,
        on_wrapup_due: Callable[[CallKey, int, datetime], object] | None = None,
        record_of: Callable[[CallKey], CallRecord | None] | None = None,
    ) -> None:
        self._lookup = lookup
        self._budget = budget_seconds
        self._queue_size = queue_size
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pop-lookup")
        self._on_wrapup_due = on_wrapup_due
        self.record_of = record_of
        self._interfaces: dict[str, int] = {}
        self._by_user: dict[int, set[Subscriber]] = {}
        self._watchers: set[Subscriber] = set()
        self._live: dict[CallKey, _LiveCall] = {}
        # Calls each user was rung for or answered, for object-level checks
        # on wrap-ups before the attention row is in the store.
        self._recent: OrderedDict[CallKey, set[int]] = OrderedDict()
        # Who answered each recent call, and what the caller's channel said
        # (number, variables): the need-to-know checks (agent_api.need_to_know).
        self._answers: OrderedDict[CallKey, int] = OrderedDict()
        self._callers: OrderedDict[CallKey, tuple[str, dict[str, str]]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        # agent_api.after_call.AfterCallWork, set by create_app when given.
        self.after_call: Any = None
        self.frames_sent = 0
        self.sockets_dropped = 0

    # ------------------------------------------------------------ directory

    def set_interfaces(self, mapping: Mapping[str, int]) -> None:
        """Member interface → user id (replaces the whole map)."""
        self._interfaces = dict(mapping)

    def user_of(self, interface: str) -> int | None:
        return self._interfaces.get(interface)

    def handled_by(self, key: CallKey, user_id: int) -> bool:
        return user_id in self._recent.get(key, ())

    def answered_by(self, key: CallKey) -> int | None:
        """The user who answered a recent call (None: not answered here, or forgotten)."""
        return self._answers.get(key)

    def caller_of(self, key: CallKey) -> tuple[str, dict[str, str]] | None:
        """The calling number and channel variables of a recent call."""
        return self._callers.get(key)

    def live_calls(self) -> dict[int, tuple[str, str | None]]:
        """User id → (calling number, queue) of the call each user answered and is
        still up, for the supervisors' agents table (which masks the number)."""
        found: dict[int, tuple[str, str | None]] = {}
        for live in list(self._live.values()):
            if live.answered_by is not None and live.ringing is not None:
                found[live.answered_by] = (live.ringing.caller_number, live.ringing.queue)
        return found

    # --------------------------------------------------------------- sockets

    def subscribe(self, user_id: int, session_id: str, *, watch_all: bool) -> Subscriber:
        sub = Subscriber(user_id, session_id, watch_all, asyncio.Queue(self._queue_size))
        self._by_user.setdefault(user_id, set()).add(sub)
        if watch_all:
            self._watchers.add(sub)
        self._catch_up(sub)
        return sub

    def _catch_up(self, sub: Subscriber) -> None:
        """A socket opened during a call gets its pop again (the person data
        is looked up anew, so the disclosure is audited for this delivery)."""
        for live in self._live.values():
            mine = live.answered_by == sub.user_id or (
                live.answered_by is None and sub.user_id in live.rung
            )
            if live.pop is None or live.ringing is None or not (mine or sub.watch_all):
                continue
            shown = live.pop if mine else live.watched
            if shown is not None:
                self._deliver(shown, {sub})
            if live.answered is not None and live.answered_by == sub.user_id:
                self._deliver(live.answered, {sub})
            # Person data only to the agents rung or answering, never to watchers.
            if self._lookup is not None and mine:
                self._spawn(self._follow_with_person(live.ringing, [sub.user_id]))

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._by_user.get(sub.user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_user[sub.user_id]
        self._watchers.discard(sub)

    def close_session(self, session_id: str, code: int = CLOSE_LOGGED_OUT) -> None:
        for subs in list(self._by_user.values()):
            for sub in list(subs):
                if sub.session_id == session_id:
                    sub.close(code)
                    self.unsubscribe(sub)

    def close_user(self, user_id: int, code: int = CLOSE_ROLE_CHANGED) -> None:
        for sub in list(self._by_user.get(user_id, ())):
            sub.close(code)
            self.unsubscribe(sub)

    @property
    def socket_count(self) -> int:
        return sum(len(s) for s in self._by_user.values())

    async def close(self) -> None:
        for subs in list(self._by_user.values()):
            for sub in list(subs):
                sub.close(CLOSE_SHUTDOWN)
                self.unsubscribe(sub)
        for task in list(self._tasks):
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ sink

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, AgentRinging):
                self._ringing(event)
            elif isinstance(event, CallAnswered):
                self._answered(event)
            elif isinstance(event, RingNoAnswer):
                self._ring_no_answer(event)
            elif isinstance(event, CallEnded):
                self._ended(event)
            elif isinstance(event, CallbackAttemptEnded) and not event.answered:
                self._callback_unanswered(event)
            elif isinstance(event, AgentStateChanged):
                user = self._interfaces.get(event.interface)
                self._send(agent_state_frame(event), () if user is None else (user,))
                if user is not None:
                    self._talk_ended(event, user)

    def calls_in_progress(self, records: Sequence[CallRecord]) -> None:
        """Nothing to keep: live pops end with the sockets."""

    # --------------------------------------------------------------- events

    def _ringing(self, event: AgentRinging) -> None:
        user = self._interfaces.get(event.interface)
        live = self._live.setdefault(event.key, _LiveCall())
        first_ring = not live.rung and live.answered_by is None
        users: tuple[int, ...] = () if user is None else (user,)
        if user is not None:
            live.rung.add(user)
            self._remember(event.key, user)
        path: tuple[str, ...] = ()
        if self.record_of is not None:
            record = self.record_of(event.key)
            path = record.ivr_path if record is not None else ()
        self._remember_caller(event.key, event.caller_number, dict(event.variables))
        frame = pop_frame(event, path)
        watched = watched_pop_frame(frame)
        if first_ring:
            live.ringing = event
            live.pop = json.dumps(frame, separators=(",", ":"))
            live.watched = json.dumps(watched, separators=(",", ":"))
        recipients = self._send(frame, users, watchers=False)
        # Supervisors see each call once, not once per ringing agent, and
        # without the caller's data: they oversee the queue, not the person.
        if first_ring:
            self._deliver(live.watched or "", set(self._watchers) - self._sockets_of(users))
        if self._lookup is None or not recipients:
            return
        self._spawn(self._follow_with_person(event, recipients))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work, name="pop-lookup")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answered(self, event: CallAnswered) -> None:
        live = self._live.setdefault(event.key, _LiveCall())
        user = self._interfaces.get(event.interface)
        live.answered_by = user
        live.answered_interface = event.interface
        live.queue = event.queue
        frame = answered_frame(event)
        live.answered = json.dumps(frame, separators=(",", ":"))
        if user is not None:
            self._remember(event.key, user)
            self._answers[event.key] = user
            self._answers.move_to_end(event.key)
            while len(self._answers) > self.RECENT_CALLS:
                self._answers.popitem(last=False)
            self._send(frame, (user,))
        others = tuple(u for u in live.rung if u != user)
        if others:
            self._send(taken_frame(event.key, event.member_name), others, watchers=False)

    def _ring_no_answer(self, event: RingNoAnswer) -> None:
        user = self._interfaces.get(event.interface)
        if user is None:
            return
        live = self._live.get(event.key)
        if live is not None:
            live.rung.discard(user)
        self._send(ring_no_answer_frame(event), (user,), watchers=False)

    def _ended(self, event: CallEnded) -> None:
        record = event.record
        live = self._live.pop(record.key, None)
        answering = self._answering_user(record)
        users = set() if live is None else set(live.rung)
        if answering is not None:
            users.add(answering)
        if not users and live is None:
            return  # a call nobody here was shown
        for user in users:
            frame = ended_frame(event, wrap_up=user == answering)
            self._send(frame, (user,), watchers=False)
        self._send(ended_frame(event, wrap_up=False), (), watchers=True)
        already = live is not None and live.acw_started
        if answering is not None and self.after_call is not None and not already:
            self.after_call.call_ended(answering, record.key, record.queue)
        if answering is not None and self._on_wrapup_due is not None:
            ended_at = datetime.fromtimestamp(record.ended_at or event.at, UTC)
            self._run_off_loop(self._on_wrapup_due, record.key, answering, ended_at)

    def _callback_unanswered(self, event: CallbackAttemptEnded) -> None:
        """A callback the citizen did not take is no attention (no CallEnded):
        its card leaves the agent's screen as a missed call does."""
        live = self._live.pop(event.key, None)
        user = self._interfaces.get(event.interface)
        users = set() if live is None else set(live.rung)
        if user is not None:
            users.add(user)
        frame = {
            "type": "call.ended",
            "call": {"system": event.key.system, "linkedid": event.key.linkedid},
            "at": event.at,
            "outcome": "callback_unanswered",
            "hangup_side": "unknown",
            "talk_seconds": None,
            "wait_seconds": None,
            "agent": None,
            "wrap_up": False,
        }
        for one in users:
            self._send(frame, (one,), watchers=False)

    def _talk_ended(self, event: AgentStateChanged, user: int) -> None:
        """The agent's talk ended (AgentComplete closes the on-call interval):
        after-call work starts now, while the caller may still be in the survey."""
        closed = event.closed
        if self.after_call is None or closed is None or closed.state is not AgentState.ON_CALL:
            return
        if event.state is AgentState.ON_CALL:
            return
        for key, live in self._live.items():
            if (
                live.answered_by == user
                and live.answered_interface == event.interface
                and not live.acw_started
            ):
                live.acw_started = True
                self.after_call.call_ended(user, key, live.queue)
                return

    def _answering_user(self, record: CallRecord) -> int | None:
        if record.outcome is not Outcome.ANSWERED:
            return None
        outbound = record.outbound
        if outbound is not None and outbound.answered_at is not None:
            return self._interfaces.get(outbound.agent_interface)
        for leg in reversed(record.legs):
            if leg.agent_interface is not None and leg.answered_at is not None:
                return self._interfaces.get(leg.agent_interface)
        return None

    # --------------------------------------------------------------- person

    async def _follow_with_person(self, event: AgentRinging, recipients: list[int]) -> None:
        assert self._lookup is not None
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor,
            self._lookup.lookup,
            event.key,
            event.caller_number,
            dict(event.variables),
            recipients,
        )
        try:
            try:
                result = await asyncio.wait_for(asyncio.shield(future), self._budget)
            except TimeoutError:
                self._send_to(
                    {
                        "type": "pop.person",
                        "call": call_ref(event.key),
                        "person_status": "demorada",
                    },
                    recipients,
                )
                result = await future
        except Exception:
            log.exception(
                "person lookup failed for a call from %s", mask_number(event.caller_number)
            )
            result = {"type": "pop.person", "call": call_ref(event.key), "person_status": "error"}
        self._send_to(result, recipients)

    # -------------------------------------------------------------- sending

    def _remember(self, key: CallKey, user: int) -> None:
        self._recent.setdefault(key, set()).add(user)
        self._recent.move_to_end(key)
        while len(self._recent) > self.RECENT_CALLS:
            self._recent.popitem(last=False)

    def _remember_caller(self, key: CallKey, number: str, variables: dict[str, str]) -> None:
        self._callers[key] = (number, variables)
        self._callers.move_to_end(key)
        while len(self._callers) > self.RECENT_CALLS:
            self._callers.popitem(last=False)

    def _sockets_of(self, users: Sequence[int]) -> set[Subscriber]:
        found: set[Subscriber] = set()
        for user in users:
            found.update(self._by_user.get(user, ()))
        return found

    def _send(
        self, frame: dict[str, Any], users: Sequence[int], *, watchers: bool = True
    ) -> list[int]:
        """Deliver to the users' sockets and (optionally) the watchers; who got it."""
        targets: set[Subscriber] = set()
        for user in users:
            targets.update(self._by_user.get(user, ()))
        if watchers:
            targets.update(self._watchers)
        self._deliver(json.dumps(frame, separators=(",", ":")), targets)
        return sorted({t.user_id for t in targets})

    def push(self, user_id: int, frame: dict[str, Any]) -> None:
        """A frame for one user's sockets only (the workspace's own events)."""
        self._send_to(frame, (user_id,))

    def _send_to(self, frame: dict[str, Any], users: Sequence[int]) -> None:
        targets: set[Subscriber] = set()
        for user in users:
            targets.update(self._by_user.get(user, ()))
        self._deliver(json.dumps(frame, separators=(",", ":")), targets)

    def _deliver(self, text: str, targets: set[Subscriber]) -> None:
        for sub in targets:
            try:
                sub.queue.put_nowait(text)
                self.frames_sent += 1
            except asyncio.QueueFull:
                log.warning("socket of user %d too slow; closing it", sub.user_id)
                self.sockets_dropped += 1
                sub.close(CLOSE_TOO_SLOW)
                self.unsubscribe(sub)

    def _run_off_loop(self, fn: Callable[..., object], *args: object) -> None:
        def guarded() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("wrap-up opener failed")

        self._executor.submit(guarded)
