"""Carries the engine's decisions out over AGI and feeds the outcomes back (adapter)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re

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
    PlayPrompt,
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
                    return ServiceReplied(await services.request_status(request.number))
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


async def perform(
    session: AgiSession, action: Action, services: IvrServices, service_timeout: float
) -> Event:
    """Carry out one action; returns the event for the engine."""
    match action:
        case PlayPrompt():
            reply = _require_ok(await session.send(agi.stream_file(action.prompt)), action)
            if reply.result == "-1":
                log.warning("prompt %s could not be played (missing sound file?)", action.prompt)
            return Done()
        case ReadDigits():
            command = agi.get_data(action.prompt, action.timeout_ms, action.max_digits)
            # GET DATA may wait timeout_ms for each digit once the prompt ends; the
            # prompt itself is covered by the session's base reply timeout.
            wait = action.timeout_ms / 1000 * (action.max_digits + 1)
            reply = _require_ok(await session.send(command, extra_timeout=wait), action)
            if reply.result == "-1":
                session.hung_up = True
                raise AgiHangup("GET DATA failed: the channel hung up")
            digits = reply.result if _DTMF.fullmatch(reply.result) else ""
            return DigitsRead(digits, timed_out=reply.data == "timeout")
        case SayDigits():
            _require_ok(await session.send(agi.say_digits(action.digits)), action)
            return Done()
        case SetVariable():
            _require_ok(await session.send(agi.set_variable(action.name, action.value)), action)
            return Done()
        case ReadVariable():
            reply = _require_ok(await session.send(agi.get_variable(action.name)), action)
            return VariableRead(reply.data if reply.result == "1" else None)
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
        event = await perform(session, decision.action, services, service_timeout)
        if decision.state.finished:
            return decision.state
        decision = engine.step(flow, decision.state, event)
