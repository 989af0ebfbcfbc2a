"""AMI actions the product sends, checked before they can reach the socket.

An AMI action is a block of `Name: value` lines ended by a blank line, sent
under the bridge's own credentials (which can originate calls and hang up
anyone). A CR or LF inside a value would end the header early and let whoever
controls that value add headers or whole actions, so every value is checked
here: control characters (Unicode category Cc, which covers CR, LF, NUL, TAB,
ESC and the C1 range, plus the Unicode line and paragraph separators and lone
surrogates) are refused, lengths are bounded, names (channels, queues,
contexts, variables) must look like what Asterisk accepts, and actions that
act on an existing channel refuse channels the tracker does not know.

Each action is a frozen dataclass whose constructor does the checking, so an
instance that exists is safe to send; `to_headers()` gives its header lines.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from telephony.exceptions import InvalidActionValue

Header = tuple[str, str]

MAX_VALUE_LENGTH = 256
MAX_CHANNEL_LENGTH = 128
MAX_NAME_LENGTH = 80  # AST_MAX_CONTEXT / AST_MAX_EXTENSION are 80
MAX_REASON_LENGTH = 80

ALLOWED_TECHNOLOGIES: frozenset[str] = frozenset(
    {"PJSIP", "SIP", "IAX2", "Local", "DAHDI", "Agent", "Console", "Motif", "UnicastRTP"}
)
# Applications an Originate may start. Anything that runs shell commands
# (System, TrySystem) or other applications (Exec, ExecIf) stays out.
ALLOWED_APPLICATIONS: frozenset[str] = frozenset({"Playback", "Wait", "Echo", "Queue", "ChanSpy"})
# ChanSpy only as a supervisor's listen / whisper / barge on one agent's
# interface: its data is `Tech/resource,<options>` with one of these option
# sets (q: no beep, E: leave when the spied channel hangs up, w: whisper,
# B: barge). Anything else (spying on every channel, recording...) is refused.
SPY_OPTIONS: dict[str, str] = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}

_LINE_BREAKERS = frozenset({"\u2028", "\u2029"})
# Tech/resource: resource characters seen in real channel and interface names
# (Local/4001@agents/n, Local/99100001@callers-00000000;1, PJSIP/4001-0000000a,
# SIP/10.0.0.1:5060-00000001). No spaces, commas or quotes: commas separate
# application arguments and would let a name smuggle extra ones.
_CHANNEL_RESOURCE = re.compile(r"[A-Za-z0-9_.@;:+\-/#*=~]+")
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_CONTEXT = re.compile(r"[A-Za-z0-9_.\-]+")
_EXTEN = re.compile(r"[A-Za-z0-9_.+*#\-]+")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]+")
_APPLICATION = re.compile(r"[A-Za-z0-9_]+")
_ACTION_ID = re.compile(r"[A-Za-z0-9_.:/\-]+")


def check_value(name: str, value: str, max_length: int = MAX_VALUE_LENGTH) -> str:
    """Return `value` if it can be one AMI header value, else raise InvalidActionValue."""
    if not isinstance(value, str):
        raise InvalidActionValue(name, "must be text")
    if len(value) > max_length:
        raise InvalidActionValue(name, f"longer than {max_length} characters")
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or char in _LINE_BREAKERS:
            raise InvalidActionValue(
                name, f"contains the control character U+{ord(char):04X}, which is not allowed"
            )
    return value


def _check_pattern(
    name: str, value: str, pattern: re.Pattern[str], max_length: int, what: str
) -> str:
    check_value(name, value, max_length)
    if not pattern.fullmatch(value):
        raise InvalidActionValue(name, f"is not a valid {what}")
    return value


def check_channel(
    name: str,
    value: str,
    technologies: frozenset[str] = ALLOWED_TECHNOLOGIES,
    max_length: int = MAX_CHANNEL_LENGTH,
) -> str:
    """A channel or queue-member interface: `Tech/resource` with a known Tech."""
    check_value(name, value, max_length)
    tech, slash, resource = value.partition("/")
    if not slash or not resource:
        raise InvalidActionValue(name, "must look like Technology/resource")
    if tech not in technologies:
        raise InvalidActionValue(name, f"technology {tech!r} is not allowed")
    if not _CHANNEL_RESOURCE.fullmatch(resource):
        raise InvalidActionValue(name, "has characters a channel name cannot hold")
    return value


def check_spy_data(name: str, value: str) -> str:
    """ChanSpy's data as a supervisor may use it: one interface, known options."""
    target, comma, options = value.partition(",")
    if not comma or options not in SPY_OPTIONS.values():
        raise InvalidActionValue(name, "must be Tech/resource,<listen|whisper|barge options>")
    check_channel(name, target)
    return value


def spy(listener: str, target: str, mode: str) -> Originate:
    """Ring the supervisor's `listener` phone; once answered it listens to, whispers
    to or barges into the calls of the agent on `target` (ChanSpy)."""
    options = SPY_OPTIONS.get(mode)
    if options is None:
        raise InvalidActionValue("mode", "must be listen, whisper or barge")
    check_channel("target", target)
    return Originate(
        channel=listener, application="ChanSpy", data=f"{target},{options}", caller_id="Supervisión"
    )


def check_existing_channel(
    name: str,
    value: str,
    channel_exists: Callable[[str], bool],
    technologies: frozenset[str] = ALLOWED_TECHNOLOGIES,
) -> str:
    check_channel(name, value, technologies)
    if not channel_exists(value):
        raise InvalidActionValue(name, "is not a channel Asterisk currently has")
    return value


def check_queue(name: str, value: str) -> str:
    return _check_pattern(name, value, _QUEUE_NAME, MAX_NAME_LENGTH, "queue name")


def check_context(name: str, value: str) -> str:
    return _check_pattern(name, value, _CONTEXT, MAX_NAME_LENGTH, "dialplan context")


def check_exten(name: str, value: str) -> str:
    return _check_pattern(name, value, _EXTEN, MAX_NAME_LENGTH, "extension")


def check_priority(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise InvalidActionValue(name, "must be a priority between 1 and 100000")
    return value


def new_action_id() -> str:
    """A unique ActionID, so a reply can never be matched to the wrong action."""
    return f"atiende-{uuid.uuid4().hex}"


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True, kw_only=True)
class AmiAction:
    """Base of every action. Subclasses set `name` and list their headers."""

    name: ClassVar[str] = ""
    # Whether it may be sent again, unchanged, when the session dropped before
    # its reply: running it twice must be harmless AND give the same reply.
    # The others are never resent; their callers get ActionOutcomeUnknown.
    idempotent: ClassVar[bool] = True
    # Whether Asterisk answers with a list of events ended by ...Complete.
    is_list: ClassVar[bool] = False

    action_id: str = field(default_factory=new_action_id)

    def __post_init__(self) -> None:
        _check_pattern("action_id", self.action_id, _ACTION_ID, 128, "ActionID")

    def fields(self) -> list[Header]:
        """The action-specific headers (after Action and ActionID)."""
        return []

    def to_headers(self) -> tuple[Header, ...]:
        return (("Action", self.name), ("ActionID", self.action_id), *self.fields())


@dataclass(frozen=True, kw_only=True)
class Ping(AmiAction):
    name: ClassVar[str] = "Ping"


@dataclass(frozen=True, kw_only=True)
class Logoff(AmiAction):
    name: ClassVar[str] = "Logoff"


@dataclass(frozen=True, kw_only=True)
class Events(AmiAction):
    """Turn the session's event flow on or off (`EventMask`)."""

    name: ClassVar[str] = "Events"
    on: bool = True

    def fields(self) -> list[Header]:
        return [("EventMask", "on" if self.on else "off")]


@dataclass(frozen=True, kw_only=True)
class Filter(AmiAction):
    """Add an event filter to this session (a regular expression on the event
    text; a leading `!` makes it an exclusion)."""

    name: ClassVar[str] = "Filter"
    filter: str

    def __post_init__(self) -> None:
        super().__post_init__()
        check_value("filter", self.filter, 4096)

    def fields(self) -> list[Header]:
        return [("Operation", "Add"), ("Filter", self.filter)]


@dataclass(frozen=True, kw_only=True)
class CoreShowChannels(AmiAction):
    name: ClassVar[str] = "CoreShowChannels"
    is_list: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class QueueStatus(AmiAction):
    name: ClassVar[str] = "QueueStatus"
    is_list: ClassVar[bool] = True
    queue: str | None = None
    member: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.queue is not None:
            check_queue("queue", self.queue)
        if self.member is not None:
            check_channel("member", self.member)

    def fields(self) -> list[Header]:
        headers: list[Header] = []
        if self.queue is not None:
            headers.append(("Queue", self.queue))
        if self.member is not None:
            headers.append(("Member", self.member))
        return headers


@dataclass(frozen=True, kw_only=True)
class QueueSummary(AmiAction):
    name: ClassVar[str] = "QueueSummary"
    is_list: ClassVar[bool] = True
    queue: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.queue is not None:
            check_queue("queue", self.queue)

    def fields(self) -> list[Header]:
        return [("Queue", self.queue)] if self.queue is not None else []


@dataclass(frozen=True, kw_only=True)
class Status(AmiAction):
    """Channel status list; `variables` asks for those channel variables too."""

    name: ClassVar[str] = "Status"
    is_list: ClassVar[bool] = True
    variables: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        for variable in self.variables:
            _check_pattern("variables", variable, _VARIABLE_NAME, MAX_NAME_LENGTH, "name")
        if len(",".join(self.variables)) > MAX_VALUE_LENGTH:
            raise InvalidActionValue("variables", f"longer than {MAX_VALUE_LENGTH} characters")

    def fields(self) -> list[Header]:
        return [("Variables", ",".join(self.variables))] if self.variables else []


@dataclass(frozen=True, kw_only=True)
class QueuePause(AmiAction):
    """Pause or unpause a member, in one queue or (queue None) in all of them."""

    name: ClassVar[str] = "QueuePause"
    interface: str
    paused: bool
    queue: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_channel("interface", self.interface)
        if self.queue is not None:
            check_queue("queue", self.queue)
        check_value("reason", self.reason, MAX_REASON_LENGTH)

    def fields(self) -> list[Header]:
        headers: list[Header] = [("Interface", self.interface), ("Paused", _flag(self.paused))]
        if self.queue is not None:
            headers.append(("Queue", self.queue))
        if self.reason:
            headers.append(("Reason", self.reason))
        return headers


@dataclass(frozen=True, kw_only=True)
class QueueAdd(AmiAction):
    name: ClassVar[str] = "QueueAdd"
    idempotent: ClassVar[bool] = False  # a second one answers "Already there"
    queue: str
    interface: str
    member_name: str = ""
    penalty: int = 0
    paused: bool = False
    state_interface: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_queue("queue", self.queue)
        check_channel("interface", self.interface)
        check_value("member_name", self.member_name, MAX_NAME_LENGTH)
        if isinstance(self.penalty, bool) or not 0 <= self.penalty <= 1000:
            raise InvalidActionValue("penalty", "must be between 0 and 1000")
        if self.state_interface is not None:
            check_channel("state_interface", self.state_interface)

    def fields(self) -> list[Header]:
        headers: list[Header] = [
            ("Queue", self.queue),
            ("Interface", self.interface),
            ("Penalty", str(self.penalty)),
            ("Paused", _flag(self.paused)),
        ]
        if self.member_name:
            headers.append(("MemberName", self.member_name))
        if self.state_interface is not None:
            headers.append(("StateInterface", self.state_interface))
        return headers


@dataclass(frozen=True, kw_only=True)
class QueueRemove(AmiAction):
    name: ClassVar[str] = "QueueRemove"
    idempotent: ClassVar[bool] = False  # a second one answers "Not there"
    queue: str
    interface: str

    def __post_init__(self) -> None:
        super().__post_init__()
        check_queue("queue", self.queue)
        check_channel("interface", self.interface)

    def fields(self) -> list[Header]:
        return [("Queue", self.queue), ("Interface", self.interface)]


@dataclass(frozen=True, kw_only=True)
class Originate(AmiAction):
    """Place a call: `channel` is dialled and, once it answers, it is sent to
    context/exten/priority or runs `application(data)`. Always asynchronous:
    the reply only says the call was queued; OriginateResponse (an event
    carrying this ActionID) tells how it went."""

    name: ClassVar[str] = "Originate"
    idempotent: ClassVar[bool] = False
    channel: str
    context: str | None = None
    exten: str | None = None
    priority: int = 1
    application: str | None = None
    data: str = ""
    caller_id: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)
    timeout_ms: int = 30_000

    def __post_init__(self) -> None:
        super().__post_init__()
        check_channel("channel", self.channel)
        if self.application is None:
            if self.context is None or self.exten is None:
                raise InvalidActionValue("context", "context and exten, or an application")
            check_context("context", self.context)
            check_exten("exten", self.exten)
            check_priority("priority", self.priority)
        else:
            if self.context is not None or self.exten is not None:
                raise InvalidActionValue("application", "give an application or a context")
            _check_pattern(
                "application", self.application, _APPLICATION, MAX_NAME_LENGTH, "application"
            )
            if self.application not in ALLOWED_APPLICATIONS:
                raise InvalidActionValue("application", "is not an allowed application")
            check_value("data", self.data)
            if self.application == "ChanSpy":
                check_spy_data("data", self.data)
        check_value("caller_id", self.caller_id, MAX_NAME_LENGTH)
        for variable, value in self.variables.items():
            _check_pattern("variables", variable, _VARIABLE_NAME, MAX_NAME_LENGTH, "variable name")
            check_value(f"variables.{variable}", value)
            # Asterisk splits each Variable header on commas: a comma in a
            # value would set a second, attacker-chosen variable.
            if "," in value:
                raise InvalidActionValue(f"variables.{variable}", "cannot contain a comma")
            check_value(f"variables.{variable}", f"{variable}={value}")
        if isinstance(self.timeout_ms, bool) or not 1_000 <= self.timeout_ms <= 600_000:
            raise InvalidActionValue("timeout_ms", "must be between 1000 and 600000")

    def fields(self) -> list[Header]:
        headers: list[Header] = [("Channel", self.channel)]
        if self.application is None:
            assert self.context is not None and self.exten is not None
            headers += [
                ("Context", self.context),
                ("Exten", self.exten),
                ("Priority", str(self.priority)),
            ]
        else:
            headers.append(("Application", self.application))
            if self.data:
                headers.append(("Data", self.data))
        if self.caller_id:
            headers.append(("CallerID", self.caller_id))
        headers += [("Variable", f"{name}={value}") for name, value in self.variables.items()]
        headers += [("Timeout", str(self.timeout_ms)), ("Async", "true")]
        return headers


@dataclass(frozen=True, kw_only=True)
class Redirect(AmiAction):
    """Send a live channel somewhere else in the dialplan (blind transfer)."""

    name: ClassVar[str] = "Redirect"
    idempotent: ClassVar[bool] = False  # would move the channel again from wherever it is
    channel: str
    context: str
    exten: str
    priority: int = 1
    channel_exists: Callable[[str], bool] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_existing_channel("channel", self.channel, self.channel_exists)
        check_context("context", self.context)
        check_exten("exten", self.exten)
        check_priority("priority", self.priority)

    def fields(self) -> list[Header]:
        return [
            ("Channel", self.channel),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
        ]


@dataclass(frozen=True, kw_only=True)
class Hangup(AmiAction):
    name: ClassVar[str] = "Hangup"
    idempotent: ClassVar[bool] = False  # a second one answers "No such channel"
    channel: str
    cause: int | None = None
    channel_exists: Callable[[str], bool] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_existing_channel("channel", self.channel, self.channel_exists)
        if self.cause is not None and (isinstance(self.cause, bool) or not 0 <= self.cause <= 127):
            raise InvalidActionValue("cause", "must be a Q.850 cause between 0 and 127")

    def fields(self) -> list[Header]:
        headers: list[Header] = [("Channel", self.channel)]
        if self.cause is not None:
            headers.append(("Cause", str(self.cause)))
        return headers


def serialize(action: AmiAction) -> bytes:
    """The action as Asterisk reads it off the wire (UTF-8, CRLF, blank line)."""
    text = "".join(f"{name}: {value}\r\n" for name, value in action.to_headers())
    return (text + "\r\n").encode("utf-8")
