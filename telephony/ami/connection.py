"""The AMI session to Asterisk: login, filters, resync, ping watchdog, reconnect.

`AmiConnection` keeps one AMI session up for as long as it runs and turns
what Asterisk sends into the stream the tracker reads (see telephony.ami.stream):

    Connected, ResyncStarted, <list events>, ResyncFinished, <live events>...,
    Disconnected, Connected, ResyncStarted, ...

It drives panoramisk's Manager (through `BridgeManager`, which takes over the
parts of panoramisk's policy that do not fit a contact-centre bridge):

- reconnection: panoramisk retries every `reconnect_timeout` seconds from a
  callback; here a supervisor task retries with exponential backoff and
  jitter, and emits the Disconnected/Connected markers;
- pinging: panoramisk's pinger sends Ping but never notices a missing reply,
  so a half-open TCP connection looks alive forever; here a watchdog closes
  the session when a Ping is not answered within `ping_timeout`;
- resending: panoramisk keeps every unanswered action of a lost session in
  `awaiting_actions` and resends it when the next session sees FullyBooted
  (here: once the next session has resynced). An Originate whose reply was
  lost may already be ringing someone, so only actions marked idempotent
  (telephony.ami.actions) are resent; the callers of the others get
  ActionOutcomeUnknown and must check the state instead of redialling.

After every login the session waits for Asterisk to be ready: FullyBooted
(sent right after login when Asterisk is up, or when it finishes booting;
without it after `boot_timeout`, for AMI users not given the system class),
and during the resync a list action refused with "Invalid/unknown command"
(app_queue not loaded yet, although manager already accepts logins) is
retried with backoff within `resync_timeout` instead of ending the session.

After every login the session resyncs: ResyncStarted, then the lists of
CoreShowChannels and QueueStatus (channels up, queue members with their pause
state, callers waiting), then ResyncFinished right after the last list's
...Complete event. A session that ends first ends with Disconnected, so the
tracker never sees a resync left open.

Subscription is limited at the source: after login (with only the system
event class, which Asterisk requires to send FullyBooted) the
session adds AMI `Filter` actions whitelisting the events the tracker uses
(telephony.events.USED_EVENTS) and the VarSet events of the variables it reads,
then turns events on. Asterisk applies such filters per session; operators
can get the same effect for every session of the user with `eventfilter`
lines in manager.conf, for example:

    [atiende]
    eventfilter = ^Event: (Newchannel|Hangup|QueueCallerJoin)[^A-Za-z0-9]

Asterisk refuses the Filter action to users without the `system` write
privilege; the session then logs a warning and runs unfiltered.

Events go into a buffer read by `stream()` (a deque, not an asyncio.Queue:
items are put from the protocol's data_received, which cannot wait, and the
metrics need the age of the oldest waiting item). When the buffer holds
`queue_size` items the socket stops being read (TCP backpressure pushes back
on Asterisk) until the consumer brings it down to half; nothing is dropped.
The bound is soft: the events of one socket read that were already parsed are
kept, so the buffer can exceed `queue_size` by one read's worth of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import partial
from typing import Any

from panoramisk import Manager
from panoramisk.actions import Action as PanoramiskAction

from telephony.ami.actions import (
    AmiAction,
    CoreShowChannels,
    Events,
    Filter,
    Logoff,
    Ping,
    QueueStatus,
)
from telephony.ami.exceptions import (
    ActionOutcomeUnknown,
    AmiActionFailed,
    AmiError,
    AmiLoginFailed,
    AmiNotConnected,
    AmiTimeout,
)
from telephony.ami.interest import ALWAYS_WANTED_EVENTS, event_filters, raw_event_filter
from telephony.ami.protocol import AmiProtocol
from telephony.ami.stream import (
    Connected,
    Disconnected,
    Headers,
    ResyncFinished,
    ResyncStarted,
    StreamItem,
)

log = logging.getLogger(__name__)

ResyncAction = Callable[[], AmiAction]
DEFAULT_RESYNC: tuple[ResyncAction, ...] = (CoreShowChannels, QueueStatus)
DEFAULT_NON_IDEMPOTENT = frozenset({"Originate"})


def backoff_delay(attempt: int, minimum: float, maximum: float, jitter: float) -> float:
    """Seconds to wait before reconnection `attempt` (0 = first retry).

    The ceiling doubles from `minimum` up to `maximum`; `jitter` in [0, 1)
    picks a point in the upper half of it, so that bridges restarted together
    do not reconnect in step. Never less than `minimum`.
    """
    ceiling = min(maximum, minimum * 2.0 ** min(attempt, 32))
    return max(minimum, ceiling / 2 + ceiling / 2 * jitter)


def _as_headers(message: Any) -> Headers:
    headers: Headers = {}
    for name, value in dict(message).items():
        headers[str(name)] = "\n".join(value) if isinstance(value, list) else str(value)
    return headers


class _SessionEnded(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BridgeManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with reconnection, pinging and resending handed
    over to the AmiConnection that owns it."""

    def __init__(self, owner: AmiConnection, **config: Any) -> None:
        super().__init__(**config)
        self.owner = owner

    def feed_event(self, headers: Headers) -> None:
        """Called by the protocol for every event, in arrival order."""
        self.owner._on_event(headers)

    def ping(self) -> None:
        # panoramisk's pinger never checks the reply; AmiConnection's watchdog does.
        self.pinger = None

    def login(self, future: asyncio.Future[Any]) -> bool:
        # panoramisk's version raises inside a done-callback when the login
        # future failed; the outcome is handled by AmiConnection instead.
        self.authenticated_future = None
        self.authenticated = bool(
            not future.cancelled() and future.exception() is None and future.result().success
        )
        return self.authenticated

    def connection_lost(self, exc: Any) -> None:
        # Instead of panoramisk's call_later(reconnect_timeout, connect).
        self._connected = False
        self.owner._on_connection_lost(exc)

    async def send_awaiting_actions(self, *_: Any) -> None:
        # Registered by panoramisk for FullyBooted; only resendable actions
        # may be in the deque by then, but make sure of it.
        self.owner._fail_unresendable()
        await super().send_awaiting_actions()


class AmiConnection:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        system_name: str,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        queue_size: int = 10_000,
        connect_timeout: float = 10.0,
        action_timeout: float = 10.0,
        resync_timeout: float = 30.0,
        boot_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        used_events: Iterable[str] | None = None,
        variable_prefixes: Iterable[str] | None = None,
        resync_actions: tuple[ResyncAction, ...] = DEFAULT_RESYNC,
        non_idempotent: frozenset[str] = DEFAULT_NON_IDEMPOTENT,
        protocol_factory: Callable[[], asyncio.Protocol] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if used_events is None or variable_prefixes is None:
            from telephony import events as used

            if used_events is None:
                used_events = used.USED_EVENTS
            if variable_prefixes is None:
                variable_prefixes = used.READ_VARIABLES
        self.host = host
        self.port = port
        self.system_name = system_name
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.queue_size = queue_size
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.resync_timeout = resync_timeout
        self.boot_timeout = boot_timeout
        # FullyBooted seen on the current session.
        self._booted = asyncio.Event()
        self.resync_retries = 0
        self.filters = event_filters(used_events, variable_prefixes)
        self.resync_actions = resync_actions
        self.non_idempotent = non_idempotent
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        # What the Filter actions ask of Asterisk, applied again on arrival:
        # a session whose filters were refused costs no more to track.
        accept = raw_event_filter({*used_events, *ALWAYS_WANTED_EVENTS}, variable_prefixes)
        self._protocol_factory: Callable[[], asyncio.Protocol] = protocol_factory or partial(
            AmiProtocol, accept=accept
        )
        self._manager = BridgeManager(
            self,
            host=host,
            port=port,
            username=username,
            secret=secret,
            # Only the system class until the filters are in: Asterisk sends
            # FullyBooted after login only to sessions that get system events.
            events="system",
            ping_delay=max(1, int(ping_interval)),
            ping_interval=max(1, int(ping_interval)),
        )
        # Stream buffer and its backpressure.
        self._buffer: deque[tuple[float, StreamItem]] = deque()
        self._buffer_changed = asyncio.Event()
        self._low_water = max(0, queue_size // 2)
        self._reading_paused = False
        self._paused_since = 0.0
        self._paused_total = 0.0
        self.read_pauses = 0
        # Session state.
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._protocol: Any = None
        self._lost: asyncio.Future[str] | None = None
        self._login_future: asyncio.Future[Any] | None = None
        self._session_connected = False  # Connected marker put for this session
        self._ready = False  # logged in, filters and events set
        self._resync_pending: set[str] = set()
        self._resync_finished = False
        self._filters_refused = False
        self._in_flight: dict[str, PanoramiskAction] = {}
        self._resendable: set[str] = set()
        self._outcome_unknown: set[str] = set()
        # Metrics.
        self.events_received = 0
        self.reconnects = 0
        self._logins = 0
        self._last_event_at: float | None = None
        self._last_lag = 0.0
        self._malformed_before = 0
        self.last_error: str | None = None  # why the last session or attempt ended

    # ------------------------------------------------------------ public API

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        self._manager.loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._supervise(), name=f"ami-{self.system_name}")

    async def stop(self) -> None:
        """Log off (best effort), close the socket and end `stream()`."""
        self._stopping = True
        if self._ready:
            with contextlib.suppress(AmiError, OSError):
                await self._request(Logoff(), reply_timeout=min(1.0, self.action_timeout))
        self._end_session("stopped")
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_unresendable(keep_resendable=False)
        self._buffer_changed.set()

    async def stream(self) -> AsyncIterator[StreamItem]:
        """Items in arrival order; ends once the connection is stopped and drained."""
        while True:
            while not self._buffer:
                if self._stopping and self._task is None:
                    return
                self._buffer_changed.clear()
                await self._buffer_changed.wait()
            received_at, item = self._buffer.popleft()
            self._last_lag = time.monotonic() - received_at
            if self._reading_paused and len(self._buffer) <= self._low_water:
                self._resume_reading()
            yield item

    async def send(self, action: AmiAction, reply_timeout: float | None = None) -> Headers:
        """Send `action` and return Asterisk's reply headers.

        For list actions the reply is the first response; the list events
        themselves flow through `stream()` like every other event.
        Raises AmiNotConnected, AmiActionFailed, AmiTimeout or
        ActionOutcomeUnknown (see telephony.ami.exceptions).
        """
        if not self._ready:
            raise AmiNotConnected(f"no AMI session to {self.system_name}; {action.name} not sent")
        safe = action.idempotent and action.name not in self.non_idempotent
        return await self._request(
            action, reply_timeout=reply_timeout, resendable=safe, outcome_unknown_on_loss=not safe
        )

    @property
    def connected(self) -> bool:
        return self._ready

    @property
    def queue_depth(self) -> int:
        return len(self._buffer)

    @property
    def lag_seconds(self) -> float:
        """Age of the item last taken off the buffer when it was taken, or of
        the oldest waiting item if that is older (a stalled consumer)."""
        waiting = time.monotonic() - self._buffer[0][0] if self._buffer else 0.0
        return max(self._last_lag, waiting)

    @property
    def last_event_age(self) -> float | None:
        if self._last_event_at is None:
            return None
        return time.monotonic() - self._last_event_at

    @property
    def malformed(self) -> int:
        return self._malformed_before + self._protocol_malformed()

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    # --------------------------------------------------- called by protocol

    def _on_event(self, headers: Headers) -> None:
        now = time.monotonic()
        self.events_received += 1
        self._last_event_at = now
        if not self._session_connected and self._login_succeeded():
            # The login reply and the first events can come in one read, before
            # the session task runs again: Connected must still come first.
            self._mark_connected()
        self._put(headers, now)
        if headers.get("Event") == "FullyBooted":
            self._booted.set()
        if self._resync_pending and headers.get("Event", "").endswith("Complete"):
            self._resync_pending.discard(headers.get("ActionID", ""))
            if not self._resync_pending:
                self._finish_resync()

    def _on_connection_lost(self, exc: Any) -> None:
        if self._stopping:
            reason = "stopped"  # Asterisk closes the socket after our Logoff
        elif exc is None:
            reason = "connection closed by Asterisk"
        elif isinstance(exc, BaseException):
            reason = f"connection lost: {exc}"
        else:
            reason = "Asterisk shut down"
        self._end_session(reason)

    # ------------------------------------------------------------ supervisor

    async def _supervise(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await self._session()
            except AmiLoginFailed as err:
                self.last_error = f"login refused: {err}"
                log.error("AMI login to %s refused: %s", self.system_name, err)
            except _SessionEnded as err:
                self.last_error = err.reason  # logged by _teardown, with the marker
            except (OSError, TimeoutError, AmiError) as err:
                self.last_error = f"connection failed: {err or type(err).__name__}"
                log.warning(
                    "AMI connection to %s (%s:%s) failed: %s",
                    self.system_name,
                    self.host,
                    self.port,
                    err or type(err).__name__,
                )
            if self._stopping:
                break
            if self._resync_finished:
                attempt = 0  # a good session: start again from the shortest delay
            delay = backoff_delay(attempt, self.reconnect_min, self.reconnect_max, self._jitter())
            attempt += 1
            log.info("Reconnecting to AMI of %s in %.2f s", self.system_name, delay)
            await self._sleep(delay)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        self._session_connected = False
        self._ready = False
        self._resync_finished = False
        self._resync_pending = set()
        self._booted.clear()
        watchdog: asyncio.Task[None] | None = None
        reason = "session ended"
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(self._protocol_factory, self.host, self.port),
                self.connect_timeout,
            )
            self._protocol = protocol
            if self._reading_paused:
                transport.pause_reading()
            connected: asyncio.Future[tuple[Any, Any]] = loop.create_future()
            connected.set_result((transport, protocol))
            # panoramisk configures the protocol and sends Login.
            self._manager.connection_made(connected)
            self._login_future = self._manager.authenticated_future
            assert self._login_future is not None
            reply = await self._wait(self._login_future, self.connect_timeout, self._lost)
            if not reply.success:
                raise AmiLoginFailed(str(reply.get("Message", "login refused")))
            self._mark_connected()
            watchdog = asyncio.create_task(self._watchdog(self._lost))
            await self._subscribe()
            self._ready = not self._lost.done()
            await self._wait_fully_booted(self._lost)
            await self._resync()
            await self._manager.send_awaiting_actions()
            reason = await self._lost
            raise _SessionEnded(reason)
        except _SessionEnded as err:
            reason = err.reason
            raise
        except AmiError as err:
            reason = str(err)
            raise
        except (OSError, TimeoutError) as err:
            reason = f"connection failed: {err or type(err).__name__}"
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
            self._teardown(reason)

    async def _subscribe(self) -> None:
        if not self._filters_refused:
            for number, expression in enumerate(self.filters):
                try:
                    await self._request(Filter(filter=expression), lost=self._lost)
                except AmiActionFailed as err:
                    self._filters_refused = True
                    log.warning(
                        "Asterisk refused the AMI event filter (%s): running unfiltered; "
                        "give the AMI user the 'system' write privilege or add eventfilter "
                        "lines to manager.conf",
                        err.message,
                    )
                    if number > 0:
                        # A partial whitelist would hide events: start a new
                        # session, which will not add filters at all.
                        raise _SessionEnded("event filter partly refused") from err
                    break
        await self._request(Events(on=True), lost=self._lost)

    async def _wait_fully_booted(self, lost: asyncio.Future[str]) -> None:
        """Until Asterisk says FullyBooted: its modules (app_queue among them)
        load after manager already accepts logins."""
        if self._booted.is_set():
            return
        log.info("Waiting for FullyBooted from %s before the resync", self.system_name)
        booted: asyncio.Future[Any] = asyncio.ensure_future(self._booted.wait())
        waiting: set[asyncio.Future[Any]] = {booted, lost}
        try:
            await asyncio.wait(
                waiting, timeout=self.boot_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            booted.cancel()
        if lost.done():
            raise _SessionEnded(lost.result())
        if not self._booted.is_set():
            log.warning(
                "No FullyBooted from %s within %.0f s (does the AMI user read the system "
                "class?): resyncing anyway",
                self.system_name,
                self.boot_timeout,
            )

    async def _resync_list(self, make: ResyncAction, deadline: float) -> None:
        """One list of the resync; refused as an unknown command (the module
        is still loading), asked again with backoff until `deadline`."""
        attempt = 0
        action = make()
        self._resync_pending.add(action.action_id)
        while True:
            try:
                await self._request(action, reply_timeout=self.resync_timeout, lost=self._lost)
                return
            except AmiActionFailed as err:
                # The failed id stays pending until its retry is sent, so the
                # other lists completing meanwhile do not finish the resync.
                if "invalid/unknown command" not in err.message.lower():
                    raise
                delay = backoff_delay(attempt, self.reconnect_min, 5.0, self._jitter())
                if time.monotonic() + delay > deadline:
                    raise
                attempt += 1
                self.resync_retries += 1
                log.info(
                    "%s not available yet on %s (%s): asking again in %.2f s",
                    action.name,
                    self.system_name,
                    err.message,
                    delay,
                )
                await self._sleep(delay)
                if self._lost is not None and self._lost.done():
                    raise _SessionEnded(self._lost.result()) from None
                failed, action = action, make()
                self._resync_pending.add(action.action_id)
                self._resync_pending.discard(failed.action_id)

    async def _resync(self) -> None:
        self._resync_pending = set()
        self._put(ResyncStarted(self._clock()), time.monotonic())
        deadline = time.monotonic() + self.resync_timeout
        try:
            async with asyncio.TaskGroup() as group:
                for make in self.resync_actions:
                    group.create_task(self._resync_list(make, deadline))
        except* (_SessionEnded, AmiError) as failed:
            first = failed.exceptions[0]
            if isinstance(first, _SessionEnded):
                raise _SessionEnded(first.reason) from None
            raise _SessionEnded(f"resync failed: {first}") from None
        self._finish_resync()

    async def _watchdog(self, lost: asyncio.Future[str]) -> None:
        while not lost.done():
            await asyncio.sleep(self.ping_interval)
            if self._reading_paused:
                continue  # replies cannot be read now; that is not a dead peer
            try:
                await self._request(Ping(), reply_timeout=self.ping_timeout, lost=lost)
            except AmiTimeout:
                log.warning(
                    "AMI of %s did not answer a Ping in %.2f s: closing the session",
                    self.system_name,
                    self.ping_timeout,
                )
                self._end_session("ping timeout")
                return
            except (_SessionEnded, AmiError):
                return

    # ---------------------------------------------------------- session bits

    def _login_succeeded(self) -> bool:
        future = self._login_future
        return bool(
            future is not None
            and future.done()
            and not future.cancelled()
            and future.exception() is None
            and future.result().success
        )

    def _mark_connected(self) -> None:
        if self._session_connected:
            return
        self._session_connected = True
        self._logins += 1
        if self._logins > 1:
            self.reconnects += 1
        log.info("AMI session to %s (%s:%s) logged in", self.system_name, self.host, self.port)
        self._put(Connected(self._clock()), time.monotonic())

    def _finish_resync(self) -> None:
        if self._resync_finished or not self._session_connected:
            return
        self._resync_finished = True
        self._resync_pending = set()
        self._put(ResyncFinished(self._clock()), time.monotonic())

    def _end_session(self, reason: str) -> None:
        self._ready = False  # nothing more is sent on this session
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)

    def _teardown(self, reason: str) -> None:
        self._ready = False
        self._end_session(reason)
        if self._lost is not None:
            reason = self._lost.result()  # the first cause wins (stop(), ping timeout)
        protocol = self._protocol
        self._protocol = None
        if protocol is not None:
            self._malformed_before += self._protocol_malformed(protocol)
            with contextlib.suppress(Exception):
                protocol.close()  # moves unanswered actions to awaiting_actions
        self._fail_unresendable(keep_resendable=True)
        self._login_future = None
        if self._session_connected:
            self._session_connected = False
            self._resync_pending = set()
            log.warning("AMI session to %s ended: %s", self.system_name, reason)
            self._put(Disconnected(self._clock(), reason), time.monotonic())

    def _fail_unresendable(self, keep_resendable: bool = True) -> None:
        """Fail every unanswered action that must not be sent again: a
        non-idempotent one with ActionOutcomeUnknown (Asterisk may have run
        it), the others with AmiNotConnected."""
        awaiting = self._manager.awaiting_actions
        keep = [
            a
            for a in awaiting
            if keep_resendable and a.id in self._resendable and not a.future.done()
        ]
        awaiting.clear()
        awaiting.extend(keep)
        kept = {a.id for a in keep}
        for action_id, action in list(self._in_flight.items()):
            if action.future.done() or action_id in kept:
                continue
            if self._protocol is not None and action_id in self._protocol.responses:
                continue  # still waiting on the live session
            name = str(action.get("Action", ""))
            error: AmiError
            if action_id in self._outcome_unknown:
                error = ActionOutcomeUnknown(name, action_id)
            else:
                error = AmiNotConnected(f"AMI session lost before the reply to {name}")
            action.future.set_exception(error)
            # Retrieved here so an unawaited failure is not logged as such.
            action.future.exception()

    def _protocol_malformed(self, protocol: Any = None) -> int:
        protocol = protocol if protocol is not None else self._protocol
        parser = getattr(protocol, "parser", None)
        return int(getattr(parser, "malformed", 0))

    # ------------------------------------------------------------- requests

    async def _request(
        self,
        action: AmiAction,
        *,
        reply_timeout: float | None = None,
        lost: asyncio.Future[str] | None = None,
        resendable: bool = False,
        outcome_unknown_on_loss: bool = False,
    ) -> Headers:
        protocol = self._protocol
        if protocol is None:
            raise AmiNotConnected(f"no AMI session; {action.name} not sent")
        headers: dict[str, str | list[str]] = {}
        for name, value in action.to_headers():
            previous = headers.get(name)
            if previous is None:
                headers[name] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                headers[name] = [previous, value]
        pending = PanoramiskAction(headers)
        self._in_flight[action.action_id] = pending
        if resendable:
            self._resendable.add(action.action_id)
        if outcome_unknown_on_loss:
            self._outcome_unknown.add(action.action_id)
        try:
            future = self._manager.send_action(pending, as_list=None if action.is_list else False)
            reply = await self._wait(future, reply_timeout or self.action_timeout, lost)
        except AmiTimeout:
            protocol.responses.pop(action.action_id, None)
            if not pending.future.done():
                pending.future.cancel()
            raise AmiTimeout(f"{action.name} not answered in time") from None
        finally:
            self._in_flight.pop(action.action_id, None)
            self._resendable.discard(action.action_id)
            self._outcome_unknown.discard(action.action_id)
        first = reply[0] if isinstance(reply, list) else reply
        answer = _as_headers(first)
        if answer.get("Response") not in ("Success", "Follows", "Goodbye"):
            raise AmiActionFailed(action.name, answer.get("Message", "no message"))
        return answer

    async def _wait(
        self, future: asyncio.Future[Any], seconds: float, lost: asyncio.Future[str] | None
    ) -> Any:
        """`future`'s result; time spent with reading paused does not count,
        because no reply can be read then."""
        started = time.monotonic()
        paused_at_start = self._paused_seconds()
        waiting: set[asyncio.Future[Any]] = {future} if lost is None else {future, lost}
        while True:
            if future.done():
                return future.result()
            if lost is not None and lost.done():
                raise _SessionEnded(lost.result())
            remaining = (
                started + seconds + (self._paused_seconds() - paused_at_start) - time.monotonic()
            )
            if remaining <= 0 and not self._reading_paused:
                raise AmiTimeout("no reply in time")
            await asyncio.wait(
                waiting, timeout=max(remaining, 0.01), return_when=asyncio.FIRST_COMPLETED
            )

    # ------------------------------------------------------ buffer and reading

    def _put(self, item: StreamItem, received_at: float) -> None:
        self._buffer.append((received_at, item))
        self._buffer_changed.set()
        if not self._reading_paused and len(self._buffer) >= self.queue_size:
            self._pause_reading()

    def _pause_reading(self) -> None:
        self._reading_paused = True
        self._paused_since = time.monotonic()
        self.read_pauses += 1
        transport = getattr(self._protocol, "transport", None)
        if transport is not None:
            with contextlib.suppress(RuntimeError):
                transport.pause_reading()
        log.info(
            "AMI stream of %s paused: %d items waiting for the tracker",
            self.system_name,
            len(self._buffer),
        )

    def _resume_reading(self) -> None:
        self._reading_paused = False
        self._paused_total += time.monotonic() - self._paused_since
        transport = getattr(self._protocol, "transport", None)
        if transport is not None:
            with contextlib.suppress(RuntimeError):
                transport.resume_reading()

    def _paused_seconds(self) -> float:
        if self._reading_paused:
            return self._paused_total + time.monotonic() - self._paused_since
        return self._paused_total
