"""Carries the engine's decisions out over AGI and feeds the outcomes back (adapter)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVarTuple

from ivr import agi, engine
from ivr.actions import (
    Action,
    CallInfo,
    CallService,
    DigitsRead,
    Done,
    EndSession,
    Event,
    FindPersonByCedula,
    FindPersonByPhone,
    GetExpectedWait,
    GetRequestStatus,
    HangUp,
    NameReady,
    PlayPrompt,
    PrepareName,
    ReadDigits,
    ReadVariable,
    RequestCallback,
    SayDigits,
    ServiceFailed,
    ServiceReplied,
    ServiceRequest,
    SetVariable,
    Started,
    StoreSurvey,
    VariableRead,
)
from ivr.agi import AgiReply
from ivr.exceptions import AgiHangup, FlowRuntimeError
from ivr.flows import Flow
from ivr.services import IvrServices
from ivr.session import AgiSession

log = logging.getLogger(__name__)

_DTMF = re.compile(r"^[0-9*#]*$")
# A core sound every Asterisk ships: played in place of a missing prompt so
# the caller still hears when to key (and an agent is reached on timeouts).
FALLBACK_SOUND = "beep"


# Commands built from the flows' own words (prompt names, GET DATA settings,
# variable names) are few and the same for every call: built and checked once.
# Bounded, and never used for a caller's data (SET VARIABLE values are not kept).
_COMMANDS_KEPT = 1024
_kept_commands: dict[tuple[object, ...], agi.AgiCommand] = {}
_Args = TypeVarTuple("_Args")


def _flow_command(build: Callable[[*_Args], agi.AgiCommand], *args: *_Args) -> agi.AgiCommand:
    key = (build, *args)
    command = _kept_commands.get(key)
    if command is None:
        command = build(*args)
        if len(_kept_commands) < _COMMANDS_KEPT:
            _kept_commands[key] = command
    return command


class NameVoice(Protocol):
    async def sound_for(self, first_name: str) -> str | None:
        """A sound name Asterisk can play saying `first_name`, or None."""
        ...


class MissingPrompts:
    """How many times each prompt could not be played although the caller was there.

    Written by the sessions (event loop), read by the /metrics thread: a lock
    keeps the snapshot whole. Prompt names come from the flows, so the set of
    keys is bounded.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def seed(self, prompts: Iterable[str]) -> None:
        """Start these at 0, so the first miss is an increase Prometheus sees."""
        with self._lock:
            for prompt in prompts:
                self._counts.setdefault(prompt, 0)

    def record(self, prompt: str) -> None:
        with self._lock:
            self._counts[prompt] = self._counts.get(prompt, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


async def channel_up(session: AgiSession) -> bool:
    """After a `result=-1`: is the caller still on the line?

    Asterisk answers -1 both when the caller hung up and when the sound file
    does not exist. A hung-up channel announces it (a HANGUP line) or refuses
    CHANNEL STATUS with 511; a live one answers its state. A peer that does not
    know the command is taken as hung up (the cautious reading of -1 before).
    """
    if session.hung_up:
        return False
    try:
        reply = await session.send(agi.channel_status())
    except AgiHangup:
        return False
    status = reply.result_int()
    return reply.ok and not session.hung_up and status is not None and status >= 0


def _missing(missing: MissingPrompts | None, prompt: str) -> None:
    log.warning(
        "IVR prompt %s could not be played on a live channel (missing sound file?); "
        "going on without it",
        prompt,
    )
    if missing is not None:
        missing.record(prompt)


def call_info(session: AgiSession) -> CallInfo:
    env = session.env
    return CallInfo(env.uniqueid, env.caller_number, env.caller_name, env.channel)


async def call_service(
    services: IvrServices, request: ServiceRequest, limit_seconds: float
) -> Event:
    """One service call; any failure (including a slow database) becomes ServiceFailed."""
    try:
        async with asyncio.timeout(limit_seconds):
            match request:
                case FindPersonByCedula():
                    return ServiceReplied(await services.find_person_by_cedula(request.cedula))
                case FindPersonByPhone():
                    return ServiceReplied(await services.find_person_by_phone(request.phone))
                case GetRequestStatus():
                    status = await services.request_status(
                        request.number,
                        caller_phone=request.caller_phone,
                        document_digits=request.document_digits,
                    )
                    return ServiceReplied(status)
                case GetExpectedWait():
                    return ServiceReplied(float(await services.expected_wait(request.queue)))
                case RequestCallback():
                    await services.request_callback(request.linkedid, request.number, request.queue)
                    return ServiceReplied(None)
                case StoreSurvey():
                    await services.record_survey(request.linkedid, request.score)
                    return ServiceReplied(None)
    except asyncio.CancelledError:
        raise
    except Exception as err:  # services must never take the call down with them
        log.warning("IVR service %s failed: %r", type(request).__name__, err)
        return ServiceFailed(type(err).__name__)
    raise FlowRuntimeError(f"unknown service request {request!r}")  # pragma: no cover


def _require_ok(reply: AgiReply, action: Action) -> AgiReply:
    if not reply.ok:
        # 510/520 mean we sent something Asterisk does not accept: a bug, not the caller.
        raise FlowRuntimeError(
            f"Asterisk refused {type(action).__name__}: {reply.code} {reply.text}"
        )
    return reply


async def _get_data(session: AgiSession, action: ReadDigits, prompt: str) -> AgiReply:
    command = _flow_command(agi.get_data, prompt, action.timeout_ms, action.max_digits)
    # GET DATA may wait timeout_ms for each digit once the prompt ends; the
    # prompt itself is covered by the session's base reply timeout.
    wait = action.timeout_ms / 1000 * (action.max_digits + 1)
    return _require_ok(await session.send(command, extra_timeout=wait), action)


def _hung_up(session: AgiSession, what: str) -> AgiHangup:
    session.hung_up = True
    return AgiHangup(f"{what} failed: the channel hung up")


async def perform(
    session: AgiSession,
    action: Action,
    services: IvrServices,
    service_timeout: float,
    missing: MissingPrompts | None = None,
    name_voice: NameVoice | None = None,
) -> Event:
    """Carry out one action; returns the event for the engine."""
    match action:
        case PlayPrompt():
            reply = _require_ok(
                await session.send(_flow_command(agi.stream_file, action.prompt)), action
            )
            if reply.result == "-1":
                if not await channel_up(session):
                    session.hung_up = True
                    return Done()
                _missing(missing, action.prompt)
            return Done()
        case ReadDigits():
            reply = await _get_data(session, action, action.prompt)
            if reply.result == "-1":
                if not await channel_up(session):
                    raise _hung_up(session, "GET DATA")
                _missing(missing, action.prompt)
                reply = await _get_data(session, action, FALLBACK_SOUND)
                if reply.result == "-1":
                    if not await channel_up(session):
                        raise _hung_up(session, "GET DATA")
                    _missing(missing, FALLBACK_SOUND)
                    return DigitsRead("", timed_out=True)
            digits = reply.result if _DTMF.fullmatch(reply.result) else ""
            return DigitsRead(digits, timed_out=reply.data == "timeout")
        case SayDigits():
            _require_ok(await session.send(agi.say_digits(action.digits)), action)
            return Done()
        case SetVariable():
            _require_ok(await session.send(agi.set_variable(action.name, action.value)), action)
            return Done()
        case ReadVariable():
            reply = _require_ok(
                await session.send(_flow_command(agi.get_variable, action.name)), action
            )
            return VariableRead(reply.data if reply.result == "1" else None)
        case PrepareName():
            if name_voice is None:
                return NameReady(None)
            try:
                return NameReady(await name_voice.sound_for(action.first_name))
            except Exception as err:  # no name said is better than no call
                log.warning("IVR name voice failed: %s", type(err).__name__)
                return NameReady(None)
        case CallService():
            return await call_service(services, action.request, service_timeout)
        case HangUp():
            await session.send(agi.hangup())
            return Done()
        case EndSession():
            return Done()
    raise FlowRuntimeError(f"unknown action {action!r}")  # pragma: no cover


async def run_flow(
    session: AgiSession,
    flow: Flow,
    services: IvrServices,
    now: dt.datetime,
    service_timeout: float,
    missing: MissingPrompts | None = None,
    name_voice: NameVoice | None = None,
) -> engine.CallState:
    """Run `flow` for this session until it ends or the caller hangs up.

    Returns the last state (for logs and tests). AgiHangup / AgiTimeout /
    AgiProtocolError propagate to the server, which ends the session quietly.
    """
    decision = engine.start(Started(call_info(session), now))
    while True:
        # After a hangup, service calls still run (a survey score keyed just
        # before hanging up is kept); the first AGI action stops the flow.
        if session.hung_up and not isinstance(decision.action, CallService):
            return decision.state
        event = await perform(
            session, decision.action, services, service_timeout, missing, name_voice
        )
        if decision.state.finished:
            return decision.state
        decision = engine.step(flow, decision.state, event)
