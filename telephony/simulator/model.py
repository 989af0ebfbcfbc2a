"""What the simulated Asterisk is made of: channels (with the header block
every channel event carries), the AMI events it emits, callers, queue members,
agents and calls, and the timings read off the lab captures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Style = Literal["pjsip", "local"]
Header = tuple[str, str]

UNKNOWN = "<unknown>"
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
# Device/member status codes of app_queue (AST_DEVICE_*).
NOT_INUSE, INUSE, RINGING = 1, 2, 6
STEP = 0.000005  # spacing of events Asterisk emits in one burst

# How long things take in the lab (seconds), read off the captures.
DTMF_LEAD = 0.1  # SendDTMF starts this long after ExecIf
DTMF_LENGTH = 0.1  # DTMFBegin to DTMFEnd
DTMF_GAP = 0.25  # between digits of SendDTMF(…,250)
LOCAL_ANSWER_DELAY = 0.5  # Answer() on a Local ;2 before the next priority
PROMPT_SECONDS = 2.0  # STREAM FILE of one prompt
PROMPT_LENGTHS = {"beep": 0.44}  # the lab's beep: endpos=3520 at 8 kHz
SAMPLE_RATE = 8000
SAY_SECONDS = 0.6  # per digit said
TYPING_SECONDS = 1.5  # a caller keying a later answer (cédula, survey)


@dataclass
class Channel:
    """One Asterisk channel: what goes in the standard channel header block."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = 0
    cid_num: str = UNKNOWN
    cid_name: str = UNKNOWN
    conn_num: str = UNKNOWN
    conn_name: str = UNKNOWN
    language: str = "es"
    accountcode: str = ""
    alive: bool = True

    def block(self, prefix: str = "") -> list[Header]:
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", STATE_DESC[self.state]),
            (f"{prefix}CallerIDNum", self.cid_num),
            (f"{prefix}CallerIDName", self.cid_name),
            (f"{prefix}ConnectedLineNum", self.conn_num),
            (f"{prefix}ConnectedLineName", self.conn_name),
            (f"{prefix}Language", self.language),
            (f"{prefix}AccountCode", self.accountcode),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]


@dataclass(frozen=True)
class SimEvent:
    at: float
    name: str
    privilege: str
    headers: tuple[Header, ...]

    def encode(self) -> bytes:
        lines = [
            f"Event: {self.name}",
            f"Privilege: {self.privilege},all",
            f"Timestamp: {self.at:.6f}",
            *(f"{k}: {v}" for k, v in self.headers),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def fields(self) -> dict[str, str]:
        out = {"Event": self.name, "Privilege": f"{self.privilege},all"}
        out["Timestamp"] = f"{self.at:.6f}"
        out.update(self.headers)
        return out


@dataclass(frozen=True)
class CallerSpec:
    """One caller, decided up front (traffic.py draws these).

    keys: what the caller keys at each prompt that reads digits, in order;
    "" is silence. The first entry is keyed `delay` seconds after the call is
    answered (the lab's CALLER_DELAY); later ones while the prompt asks.
    patience: seconds the caller stays on after keying the first entry
    (the lab's CALLER_PATIENCE), unless an agent answers first.
    queue: with no external IVR, the queue the stub IVR sends the caller to
    ("" hangs up in the IVR, like the stub for an unknown digit).
    """

    number: str
    name: str
    keys: tuple[str, ...] = ("1",)
    delay: float = 2.0
    patience: float = 120.0
    talk: float = 4.0
    queue: str = ""
    # Queue()'s timeout argument for this caller (seconds; None: the IVR's
    # ATIENDE_QUEUE_TIMEOUT or the dialplan's default): a caller still waiting
    # then leaves with EXITWITHTIMEOUT, as app_queue does.
    queue_timeout: float | None = None


@dataclass
class Member:
    queue: str
    interface: str
    name: str
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    paused: bool = False
    reason: str = ""
    dynamic: bool = False  # added by QueueAdd (removable), not from queues.conf


@dataclass
class Agent:
    """A person behind one interface, possibly a member of several queues."""

    interface: str
    name: str
    extension: str
    busy: bool = False  # ringing, talking or in wrap-up
    in_call: bool = False
    paused: bool = False
    wrapup: float = 3.0
    on_other_call: bool = False  # a call not from a queue (click-to-call)


@dataclass
class Call:
    id: int
    spec: CallerSpec
    arrived: float
    channel: Channel
    peer: Channel | None = None  # the Local ;2 half of a lab caller
    agent_leg: Channel | None = None
    agent_peer: Channel | None = None
    agent: Agent | None = None
    queue: str = ""
    position: int = 0
    joined: float = 0.0
    connected: float = 0.0
    bridge: str = ""
    keyed_at: float | None = None  # when the first key arrives (None: never)
    hangup_at: float = 0.0  # when the caller hangs up if nobody answers first
    pending_keys: list[str] = field(default_factory=list)
    declined: set[str] = field(default_factory=set)  # members who let it ring out
    variables: dict[str, str] = field(default_factory=dict)
    dead: bool = False  # the caller has hung up
    announce_hangup: bool = False  # next AGI reply is preceded by HANGUP
    agi_active: bool = False
    agi_script: str = "ivr"
    external_agi: bool = False
    # intended: answered, abandoned, exit_timeout, ivr_hangup, ivr_completed
    outcome: str = ""
    expires_at: float = float("inf")  # when Queue()'s timeout lets the caller go
