"""What the engine asks for (actions) and what it is told back (events).

Actions are carried out by the server adapter (AGI commands, service calls);
events are the outcomes fed to the next engine step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ivr.services import Person, RequestStatus

# ---------------------------------------------------------------- service requests


@dataclass(frozen=True, slots=True)
class FindPersonByCedula:
    cedula: str


@dataclass(frozen=True, slots=True)
class FindPersonByPhone:
    phone: str


@dataclass(frozen=True, slots=True)
class GetRequestStatus:
    """A request's status, for a verified caller only (ivr.services.IvrServices)."""

    number: str
    caller_phone: str | None = None
    # Keyed by the caller: never shown in a repr (logs), never kept after the call.
    document_digits: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class GetExpectedWait:
    queue: str


@dataclass(frozen=True, slots=True)
class RequestCallback:
    linkedid: str
    number: str
    queue: str


@dataclass(frozen=True, slots=True)
class StoreSurvey:
    linkedid: str
    score: int


ServiceRequest = (
    FindPersonByCedula
    | FindPersonByPhone
    | GetRequestStatus
    | GetExpectedWait
    | RequestCallback
    | StoreSurvey
)

# ------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class PlayPrompt:
    prompt: str


@dataclass(frozen=True, slots=True)
class ReadDigits:
    prompt: str
    timeout_ms: int
    max_digits: int


@dataclass(frozen=True, slots=True)
class SayDigits:
    digits: str


@dataclass(frozen=True, slots=True)
class SetVariable:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ReadVariable:
    name: str


@dataclass(frozen=True, slots=True)
class PrepareName:
    """A sound Asterisk can play saying `first_name` (None when no voice is set up)."""

    first_name: str


@dataclass(frozen=True, slots=True)
class CallService:
    request: ServiceRequest


@dataclass(frozen=True, slots=True)
class HangUp:
    """Hang the channel up (AGI HANGUP), then end the session."""


@dataclass(frozen=True, slots=True)
class EndSession:
    """Close the session: the dialplan goes on (Queue(${ATIENDE_QUEUE}) or a transfer)."""


Action = (
    PlayPrompt
    | ReadDigits
    | SayDigits
    | SetVariable
    | ReadVariable
    | PrepareName
    | CallService
    | HangUp
    | EndSession
)

# -------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the session knows about the call from its agi_* environment (untrusted)."""

    uniqueid: str
    caller_number: str
    caller_name: str
    channel: str = ""


@dataclass(frozen=True, slots=True)
class Started:
    call: CallInfo
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class Done:
    """The previous action finished with nothing to report."""


@dataclass(frozen=True, slots=True)
class DigitsRead:
    digits: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class VariableRead:
    value: str | None


@dataclass(frozen=True, slots=True)
class NameReady:
    sound: str | None


@dataclass(frozen=True, slots=True)
class ServiceReplied:
    value: Person | RequestStatus | float | None


@dataclass(frozen=True, slots=True)
class ServiceFailed:
    reason: str


Event = Started | Done | DigitsRead | VariableRead | NameReady | ServiceReplied | ServiceFailed
