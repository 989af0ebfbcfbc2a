"""Typed AMI events: the subset of Asterisk's event stream the product uses.

`parse_event` turns one header mapping into a frozen value, or None when the
product has no use for the event. It is on the hot path (every raw event of a
busy Asterisk goes through it), so it dispatches on the Event name with one
dict lookup and builds nothing for events it does not use.

Every event is built by keyword (`telephony.values.keyword_value` classes:
seven adjacent `str` fields cannot be swapped by position). They are frozen
for the type checker with a plain slots `__init__`, because a frozen
dataclass's `__init__` costs several times the rest of the parse; a keyword
call costs about 0.2 us more per kept event than a positional one, under 2 %
of the ingest path, the price of constructors a reader can check.

Bad values never raise: an event whose Timestamp is not a number is dropped,
other malformed numbers are defaulted; both are counted in `parse_errors`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable

from telephony.ami.stream import Headers
from telephony.values import keyword_value

log = logging.getLogger(__name__)

# Asterisk's placeholder for an unknown caller ID.
_UNKNOWN = "<unknown>"

# Channel variables the product reads from VarSet: the IVR's own variables,
# the status app_queue leaves behind when Queue() returns without an answer,
# and the one AGI() leaves (HANGUP when the channel hung up during the IVR).
USED_VARIABLE_PREFIXES: tuple[str, ...] = ("ATIENDE_",)
QUEUE_STATUS_VARIABLE = "QUEUESTATUS"
AGI_STATUS_VARIABLE = "AGISTATUS"
# Everything above as prefixes: what the AMI filters let through.
READ_VARIABLES: tuple[str, ...] = (
    *USED_VARIABLE_PREFIXES,
    QUEUE_STATUS_VARIABLE,
    AGI_STATUS_VARIABLE,
)

# Malformed events/fields seen, by event name (for a metric or a log line).
parse_errors: Counter[str] = Counter()


# ------------------------------------------------------------------ call events


@keyword_value
class NewChannel:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    caller_number: str
    caller_name: str


@keyword_value
class NewCallerId:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    caller_number: str
    caller_name: str


@keyword_value
class Hangup:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    cause: int


@keyword_value
class HangupRequest:
    """The channel's far end hung up (a caller's BYE, the other half of a
    Local pair); a hangup from the dialplan or an AGI HANGUP command is a
    SoftHangupRequest instead, which the product does not read."""

    ts: float
    channel: str
    uniqueid: str
    linkedid: str


@keyword_value
class AgiExecStart:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    command: str


@keyword_value
class AgiExecEnd:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    command: str
    result: str


@keyword_value
class DtmfEnd:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    digit: str
    received: bool  # Direction: Received (from the caller's side)


@keyword_value
class VarSet:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    variable: str
    value: str


@keyword_value
class BlindTransfer:
    ts: float
    transferee_channel: str
    transferee_uniqueid: str
    transferee_linkedid: str
    extension: str
    context: str
    result: str


@keyword_value
class AttendedTransfer:
    ts: float
    transferee_linkedid: str
    target: str  # the party the caller was handed to (number, channel or app)
    result: str


# ----------------------------------------------------------------- queue events


@keyword_value
class QueueCallerJoin:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    queue: str
    position: int
    caller_number: str
    caller_name: str


@keyword_value
class QueueCallerLeave:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    queue: str
    position: int


@keyword_value
class QueueCallerAbandon:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    queue: str
    position: int
    original_position: int
    hold_time: float | None


@keyword_value
class AgentCalled:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    queue: str
    interface: str
    member_name: str
    dest_channel: str


@keyword_value
class AgentRingNoAnswer:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    queue: str
    interface: str
    member_name: str
    ring_seconds: float | None  # Asterisk sends RingTime in milliseconds here


@keyword_value
class AgentConnect:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    queue: str
    interface: str
    member_name: str
    hold_time: float | None
    ring_time: float | None


@keyword_value
class AgentComplete:
    ts: float
    channel: str
    uniqueid: str
    linkedid: str
    queue: str
    interface: str
    member_name: str
    hold_time: float | None
    talk_time: float | None
    reason: str  # caller, agent, transfer


@keyword_value
class QueueMemberChange:
    """QueueMemberStatus / Pause / Added / Removed: `kind` is the event name."""

    ts: float
    kind: str
    queue: str
    interface: str
    member_name: str
    paused: bool
    paused_reason: str
    in_call: bool
    status: int


@keyword_value
class FullyBooted:
    uptime: float | None  # seconds since Asterisk started (no Timestamp header)


# ---------------------------------------------------------- resync list entries


@keyword_value
class CoreShowChannel:
    channel: str
    uniqueid: str
    linkedid: str
    caller_number: str
    caller_name: str
    application: str
    application_data: str
    duration_seconds: float | None
    bridge_id: str


@keyword_value
class CoreShowChannelsComplete:
    items: int


@keyword_value
class QueueParams:
    queue: str
    service_level: int | None


@keyword_value
class QueueMember:
    queue: str
    member_name: str
    interface: str
    paused: bool
    paused_reason: str
    in_call: bool
    status: int
    login_time: float | None
    # When the member's last call ended (epoch seconds; None if never).
    last_call: float | None = None


@keyword_value
class QueueEntry:
    queue: str
    position: int
    channel: str
    uniqueid: str
    caller_number: str
    caller_name: str
    wait_seconds: float | None


@keyword_value
class QueueStatusComplete:
    items: int


AmiEvent = (
    NewChannel
    | NewCallerId
    | Hangup
    | HangupRequest
    | AgiExecStart
    | AgiExecEnd
    | DtmfEnd
    | VarSet
    | BlindTransfer
    | AttendedTransfer
    | QueueCallerJoin
    | QueueCallerLeave
    | QueueCallerAbandon
    | AgentCalled
    | AgentRingNoAnswer
    | AgentConnect
    | AgentComplete
    | QueueMemberChange
    | FullyBooted
    | CoreShowChannel
    | CoreShowChannelsComplete
    | QueueParams
    | QueueMember
    | QueueEntry
    | QueueStatusComplete
)


class BadEventValue(Exception):
    """A header that must be numeric is not; the event is dropped."""


# ----------------------------------------------------------------- value helpers


def _ts(h: Headers) -> float:
    try:
        value = float(h["Timestamp"])
    except (KeyError, ValueError):
        raise BadEventValue("Timestamp") from None
    if not math.isfinite(value):
        raise BadEventValue("Timestamp")
    return value


def _int(h: Headers, name: str, event: str, default: int = 0) -> int:
    raw = h.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        parse_errors[event] += 1
        return default


def _num(h: Headers, name: str, event: str) -> float | None:
    raw = h.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        parse_errors[event] += 1
        return None
    if not math.isfinite(value):
        parse_errors[event] += 1
        return None
    return value


def _cid(value: str | None) -> str:
    return "" if value is None or value == _UNKNOWN else value


_C_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "?": "?",
}


def _snapshot_name(value: str | None) -> str:
    """Caller ID name from a channel snapshot: Asterisk C-escapes it there
    (ast_escape_c: a quote arrives as \\"), so undo exactly that."""
    if value is None or value == _UNKNOWN:
        return ""
    if "\\" not in value:
        return value
    chars: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "\\" and i + 1 < n and value[i + 1] in _C_ESCAPES:
            chars.append(_C_ESCAPES[value[i + 1]])
            i += 2
        else:
            chars.append(ch)
            i += 1
    return "".join(chars)


def _duration(raw: str | None) -> float | None:
    """CoreShowChannel's Duration is HH:MM:SS."""
    if not raw:
        return None
    parts = raw.split(":")
    try:
        total = 0
        for part in parts:
            total = total * 60 + int(part)
    except ValueError:
        parse_errors["CoreShowChannel"] += 1
        return None
    return float(total)


# ----------------------------------------------------------------------- parsers


def _new_channel(h: Headers) -> NewChannel:
    return NewChannel(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        caller_number=_cid(h.get("CallerIDNum")),
        caller_name=_snapshot_name(h.get("CallerIDName")),
    )


def _new_callerid(h: Headers) -> NewCallerId:
    return NewCallerId(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        caller_number=_cid(h.get("CallerIDNum")),
        caller_name=_snapshot_name(h.get("CallerIDName")),
    )


def _hangup(h: Headers) -> Hangup:
    return Hangup(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        cause=_int(h, "Cause", "Hangup"),
    )


def _hangup_request(h: Headers) -> HangupRequest:
    return HangupRequest(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
    )


def _agi_start(h: Headers) -> AgiExecStart:
    return AgiExecStart(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        command=h.get("Command", ""),
    )


def _agi_end(h: Headers) -> AgiExecEnd:
    return AgiExecEnd(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        command=h.get("Command", ""),
        result=h.get("Result", ""),
    )


def _dtmf_end(h: Headers) -> DtmfEnd:
    return DtmfEnd(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        digit=h.get("Digit", ""),
        received=h.get("Direction") == "Received",
    )


def _varset(h: Headers) -> VarSet | None:
    variable = h.get("Variable", "")
    if not variable.startswith(READ_VARIABLES):
        return None
    return VarSet(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        variable=variable,
        value=h.get("Value", ""),
    )


def _blind_transfer(h: Headers) -> BlindTransfer:
    return BlindTransfer(
        ts=_ts(h),
        transferee_channel=h.get("TransfereeChannel", ""),
        transferee_uniqueid=h.get("TransfereeUniqueid", ""),
        transferee_linkedid=h.get("TransfereeLinkedid", ""),
        extension=h.get("Extension", ""),
        context=h.get("Context", ""),
        result=h.get("Result", ""),
    )


def _attended_transfer(h: Headers) -> AttendedTransfer:
    target = (
        _cid(h.get("TransferTargetCallerIDNum"))
        or h.get("TransferTargetChannel")
        or h.get("DestApp")
        or h.get("DestType", "")
    )
    return AttendedTransfer(
        ts=_ts(h),
        transferee_linkedid=h.get("TransfereeLinkedid", ""),
        target=target,
        result=h.get("Result", ""),
    )


def _caller_join(h: Headers) -> QueueCallerJoin:
    return QueueCallerJoin(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        queue=h.get("Queue", ""),
        position=_int(h, "Position", "QueueCallerJoin"),
        caller_number=_cid(h.get("CallerIDNum")),
        caller_name=_snapshot_name(h.get("CallerIDName")),
    )


def _caller_leave(h: Headers) -> QueueCallerLeave:
    return QueueCallerLeave(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        queue=h.get("Queue", ""),
        position=_int(h, "Position", "QueueCallerLeave"),
    )


def _caller_abandon(h: Headers) -> QueueCallerAbandon:
    return QueueCallerAbandon(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        queue=h.get("Queue", ""),
        position=_int(h, "Position", "QueueCallerAbandon"),
        original_position=_int(h, "OriginalPosition", "QueueCallerAbandon"),
        hold_time=_num(h, "HoldTime", "QueueCallerAbandon"),
    )


def _agent_called(h: Headers) -> AgentCalled:
    return AgentCalled(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        queue=h.get("Queue", ""),
        interface=h.get("Interface", ""),
        member_name=h.get("MemberName", ""),
        dest_channel=h.get("DestChannel", ""),
    )


def _agent_rna(h: Headers) -> AgentRingNoAnswer:
    ring_ms = _num(h, "RingTime", "AgentRingNoAnswer")
    return AgentRingNoAnswer(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        queue=h.get("Queue", ""),
        interface=h.get("Interface", ""),
        member_name=h.get("MemberName", ""),
        ring_seconds=None if ring_ms is None else ring_ms / 1000.0,
    )


def _agent_connect(h: Headers) -> AgentConnect:
    return AgentConnect(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        queue=h.get("Queue", ""),
        interface=h.get("Interface", ""),
        member_name=h.get("MemberName", ""),
        hold_time=_num(h, "HoldTime", "AgentConnect"),
        ring_time=_num(h, "RingTime", "AgentConnect"),
    )


def _agent_complete(h: Headers) -> AgentComplete:
    return AgentComplete(
        ts=_ts(h),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        queue=h.get("Queue", ""),
        interface=h.get("Interface", ""),
        member_name=h.get("MemberName", ""),
        hold_time=_num(h, "HoldTime", "AgentComplete"),
        talk_time=_num(h, "TalkTime", "AgentComplete"),
        reason=h.get("Reason", ""),
    )


def _member_change(h: Headers) -> QueueMemberChange:
    kind = h["Event"]
    return QueueMemberChange(
        ts=_ts(h),
        kind=kind,
        queue=h.get("Queue", ""),
        interface=h.get("Interface") or h.get("StateInterface", ""),
        member_name=h.get("MemberName", ""),
        paused=h.get("Paused") == "1",
        paused_reason=h.get("PausedReason", ""),
        in_call=h.get("InCall") == "1",
        status=_int(h, "Status", kind),
    )


def _fully_booted(h: Headers) -> FullyBooted:
    return FullyBooted(uptime=_num(h, "Uptime", "FullyBooted"))


def _core_show_channel(h: Headers) -> CoreShowChannel:
    return CoreShowChannel(
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        linkedid=h.get("Linkedid", ""),
        caller_number=_cid(h.get("CallerIDNum")),
        caller_name=_snapshot_name(h.get("CallerIDName")),
        application=h.get("Application", ""),
        application_data=h.get("ApplicationData", ""),
        duration_seconds=_duration(h.get("Duration")),
        bridge_id=h.get("BridgeId", ""),
    )


def _core_show_complete(h: Headers) -> CoreShowChannelsComplete:
    return CoreShowChannelsComplete(items=_int(h, "ListItems", "CoreShowChannelsComplete"))


def _queue_params(h: Headers) -> QueueParams:
    raw = h.get("ServiceLevel")
    level = _int(h, "ServiceLevel", "QueueParams", -1) if raw else -1
    return QueueParams(queue=h.get("Queue", ""), service_level=None if level < 0 else level)


def _queue_member(h: Headers) -> QueueMember:
    return QueueMember(
        queue=h.get("Queue", ""),
        member_name=h.get("Name") or h.get("MemberName", ""),
        interface=h.get("StateInterface") or h.get("Location") or h.get("Interface", ""),
        paused=h.get("Paused") == "1",
        paused_reason=h.get("PausedReason", ""),
        in_call=h.get("InCall") == "1",
        status=_int(h, "Status", "QueueMember"),
        login_time=_num(h, "LoginTime", "QueueMember"),
        last_call=_num(h, "LastCall", "QueueMember") or None,
    )


def _queue_entry(h: Headers) -> QueueEntry:
    return QueueEntry(
        queue=h.get("Queue", ""),
        position=_int(h, "Position", "QueueEntry"),
        channel=h.get("Channel", ""),
        uniqueid=h.get("Uniqueid", ""),
        caller_number=_cid(h.get("CallerIDNum")),
        caller_name=_cid(h.get("CallerIDName")),
        wait_seconds=_num(h, "Wait", "QueueEntry"),
    )


def _queue_status_complete(h: Headers) -> QueueStatusComplete:
    return QueueStatusComplete(items=_int(h, "ListItems", "QueueStatusComplete"))


PARSERS: dict[str, Callable[[Headers], AmiEvent | None]] = {
    "Newchannel": _new_channel,
    "NewCallerid": _new_callerid,
    "Hangup": _hangup,
    "HangupRequest": _hangup_request,
    "AGIExecStart": _agi_start,
    "AGIExecEnd": _agi_end,
    "DTMFEnd": _dtmf_end,
    "VarSet": _varset,
    "BlindTransfer": _blind_transfer,
    "AttendedTransfer": _attended_transfer,
    "QueueCallerJoin": _caller_join,
    "QueueCallerLeave": _caller_leave,
    "QueueCallerAbandon": _caller_abandon,
    "AgentCalled": _agent_called,
    "AgentRingNoAnswer": _agent_rna,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "QueueMemberStatus": _member_change,
    "QueueMemberPause": _member_change,
    "QueueMemberAdded": _member_change,
    "QueueMemberRemoved": _member_change,
    "FullyBooted": _fully_booted,
    "CoreShowChannel": _core_show_channel,
    "CoreShowChannelsComplete": _core_show_complete,
    "QueueParams": _queue_params,
    "QueueMember": _queue_member,
    "QueueEntry": _queue_entry,
    "QueueStatusComplete": _queue_status_complete,
}

# What the AMI connection should ask Asterisk to send (event filter at the source).
USED_EVENTS: frozenset[str] = frozenset(PARSERS)


def parse_event(headers: Headers) -> AmiEvent | None:
    """The typed event for `headers`, or None if unused or unusable."""
    name = headers.get("Event")
    if name is None:
        return None
    parser = PARSERS.get(name)
    if parser is None:
        return None
    try:
        return parser(headers)
    except BadEventValue:
        parse_errors[name] += 1
        log.debug("dropped %s event with a bad Timestamp", name)
        return None
