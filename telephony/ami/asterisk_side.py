"""Asterisk's side of AMI: what a client sends, and the state Asterisk lists.

Shared by the PBX simulator (telephony/simulator, which `atiende demo` runs)
and the AMI test server (telephony/ami/testing.py): framing of what a client
writes (`split_messages`, `parse_message`; telephony.ami.parser.AmiParser only
yields Events and Responses, not actions), Asterisk's replies, and
`AsteriskState`, the channels, waiting callers and queue members a stream of
events leaves behind, answered as CoreShowChannels, QueueStatus, QueueSummary
and Status lists the way Asterisk 22 does.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from telephony.ami.stream import Headers

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
MESSAGE_END = b"\r\n\r\n"
LIST_ACTIONS = ("CoreShowChannels", "QueueStatus", "QueueSummary", "Status")


def split_messages(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, message bytes including the blank line) for each complete message."""
    messages: list[tuple[int, bytes]] = []
    start = 0
    while True:
        end = data.find(MESSAGE_END, start)
        if end < 0:
            return messages
        messages.append((start, data[start : end + len(MESSAGE_END)]))
        start = end + len(MESSAGE_END)


def parse_message(raw: bytes) -> Headers:
    """Headers of one message; repeated headers are joined with a newline."""
    headers: Headers = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name, value = name.strip(), value.removeprefix(" ")
        headers[name] = f"{headers[name]}\n{value}" if name in headers else value
    return headers


def header(raw: bytes, name: bytes) -> bytes | None:
    for line in raw.split(b"\r\n"):
        if line.startswith(name + b": "):
            return line[len(name) + 2 :]
    return None


def with_action_id(raw: bytes, action_id: str) -> bytes:
    lines = raw.split(b"\r\n")
    encoded = action_id.encode("utf-8")
    return b"\r\n".join(
        b"ActionID: " + encoded if line.startswith(b"ActionID: ") else line for line in lines
    )


def reply(action_id: str | None, *lines: str) -> bytes:
    head = [lines[0]]
    if action_id is not None:
        head.append(f"ActionID: {action_id}")
    return ("\r\n".join([*head, *lines[1:]]) + "\r\n\r\n").encode("utf-8")


def replays_to_lists(mask: str) -> bool:
    """Whether an event mask gets the call events of a capture (on, all, or a
    class list with `call`)."""
    classes = mask.lower().replace(" ", "").split(",")
    return bool({"on", "all", "yes", "true", "call"} & set(classes))


def list_replies(actions_capture: bytes) -> dict[str, list[bytes]]:
    """Group an actions capture by the action each list answers.

    A group is every message carrying one ActionID; the action is told by the
    list's closing event (CoreShowChannelsComplete answers CoreShowChannels).
    """
    groups: dict[bytes, list[bytes]] = {}
    for _, raw in split_messages(actions_capture):
        action_id = header(raw, b"ActionID")
        if action_id is not None:
            groups.setdefault(action_id, []).append(raw)
    replies: dict[str, list[bytes]] = {}
    for messages in groups.values():
        closing = header(messages[-1], b"Event") or b""
        if closing.endswith(b"Complete"):
            replies[closing[: -len(b"Complete")].decode()] = messages
    return replies


_CHANNEL_FIELDS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)
_CALLER_FIELDS = (
    "Channel",
    "Uniqueid",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
)
_MEMBER_EVENTS = frozenset(
    {
        "QueueMemberStatus",
        "QueueMemberAdded",
        "QueueMemberPause",
        "QueueMemberPenalty",
        "QueueMemberRinginuse",
    }
)


def _duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass
class AsteriskState:
    """What Asterisk holds after the events replayed so far: live channels,
    callers waiting in queues, queue members. The list actions are answered
    from it when no actions capture is given, so a resync after a drop tells
    the truth about the calls still up, as a live Asterisk would."""

    channels: dict[str, dict[str, str]] = field(default_factory=dict)
    waiting: dict[str, dict[str, str]] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    queues: dict[str, None] = field(default_factory=dict)  # ordered set
    started: dict[str, float] = field(default_factory=dict)
    now: float = 0.0

    def apply(self, event: Headers) -> None:
        name = event.get("Event", "")
        with contextlib.suppress(ValueError):
            self.now = float(event.get("Timestamp", self.now))
        uniqueid = event.get("Uniqueid", "")
        if name == "Hangup":
            self.channels.pop(uniqueid, None)
            self.waiting.pop(uniqueid, None)
        elif uniqueid and (name == "Newchannel" or uniqueid in self.channels):
            channel = self.channels.setdefault(
                uniqueid, {"Application": "", "ApplicationData": "", "BridgeId": ""}
            )
            channel.update((f, event[f]) for f in _CHANNEL_FIELDS if f in event)
            self.started.setdefault(uniqueid, self.now)
            if name == "Newexten":
                channel["Application"] = event.get("Application", "")
                channel["ApplicationData"] = event.get("AppData", "")
            elif name == "BridgeEnter":
                channel["BridgeId"] = event.get("BridgeUniqueid", "")
            elif name == "BridgeLeave":
                channel["BridgeId"] = ""
        queue = event.get("Queue", "")
        if name == "QueueCallerJoin":
            self.queues[queue] = None
            caller = {f: event.get(f, "") for f in _CALLER_FIELDS}
            self.waiting[uniqueid] = {"Queue": queue, **caller, "Joined": str(self.now)}
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            self.waiting.pop(uniqueid, None)
        elif name in _MEMBER_EVENTS:
            self.queues[queue] = None
            member = self.members.setdefault((queue, event.get("Interface", "")), {})
            member.update(
                (k, v) for k, v in event.items() if k not in ("Event", "Privilege", "Timestamp")
            )
        elif name == "QueueMemberRemoved":
            self.members.pop((queue, event.get("Interface", "")), None)

    def core_show_channels(self) -> list[list[str]]:
        return [
            [
                "Event: CoreShowChannel",
                *(f"{f}: {ch.get(f, '')}" for f in _CHANNEL_FIELDS),
                f"Application: {ch['Application']}",
                f"ApplicationData: {ch['ApplicationData']}",
                f"Duration: {_duration(self.now - self.started.get(uid, self.now))}",
                f"BridgeId: {ch['BridgeId']}",
            ]
            for uid, ch in self.channels.items()
        ]

    def status(self) -> list[list[str]]:
        return [
            [
                "Event: Status",
                "Privilege: Call",
                *(f"{f}: {ch.get(f, '')}" for f in _CHANNEL_FIELDS),
                f"BridgeID: {ch['BridgeId']}",
                f"Application: {ch['Application']}",
                f"Data: {ch['ApplicationData']}",
                f"Seconds: {max(0, int(self.now - self.started.get(uid, self.now)))}",
            ]
            for uid, ch in self.channels.items()
        ]

    def queue_status(self) -> list[list[str]]:
        items: list[list[str]] = []
        for queue in self.queues:
            callers = [c for c in self.waiting.values() if c["Queue"] == queue]
            items.append(
                [
                    "Event: QueueParams",
                    f"Queue: {queue}",
                    "Max: 0",
                    "Strategy: ringall",
                    f"Calls: {len(callers)}",
                    "Holdtime: 0",
                    "TalkTime: 0",
                    "Completed: 0",
                    "Abandoned: 0",
                    "ServiceLevel: 0",
                    "ServicelevelPerf: 0.0",
                    "ServicelevelPerf2: 0.0",
                    "Weight: 0",
                ]
            )
            for (member_queue, interface), m in self.members.items():
                if member_queue != queue:
                    continue
                items.append(
                    [
                        "Event: QueueMember",
                        f"Queue: {queue}",
                        f"Name: {m.get('MemberName', interface)}",
                        f"Location: {interface}",
                        *(
                            f"{f}: {m.get(f, '0')}"
                            for f in (
                                "StateInterface",
                                "Membership",
                                "Penalty",
                                "CallsTaken",
                                "LastCall",
                                "LastPause",
                                "LoginTime",
                                "InCall",
                                "Status",
                                "Paused",
                            )
                        ),
                        f"PausedReason: {m.get('PausedReason', '')}",
                        f"Wrapuptime: {m.get('Wrapuptime', '0')}",
                    ]
                )
            for position, caller in enumerate(callers, start=1):
                waited = self.now - float(caller["Joined"])
                items.append(
                    [
                        "Event: QueueEntry",
                        f"Queue: {queue}",
                        f"Position: {position}",
                        *(f"{f}: {caller[f]}" for f in _CALLER_FIELDS),
                        f"Wait: {max(0, int(waited))}",
                        "Priority: 0",
                    ]
                )
        return items

    def queue_summary(self) -> list[list[str]]:
        items: list[list[str]] = []
        for queue in self.queues:
            members = [m for (q, _), m in self.members.items() if q == queue]
            callers = [c for c in self.waiting.values() if c["Queue"] == queue]
            longest = max((self.now - float(c["Joined"]) for c in callers), default=0.0)
            available = [m for m in members if m.get("Paused") == "0" and m.get("Status") == "1"]
            items.append(
                [
                    "Event: QueueSummary",
                    f"Queue: {queue}",
                    f"LoggedIn: {len(members)}",
                    f"Available: {len(available)}",
                    f"Callers: {len(callers)}",
                    "HoldTime: 0",
                    "TalkTime: 0",
                    f"LongestHoldTime: {int(longest)}",
                ]
            )
        return items

    def list_items(self, action: str) -> list[list[str]]:
        build = {
            "CoreShowChannels": self.core_show_channels,
            "QueueStatus": self.queue_status,
            "QueueSummary": self.queue_summary,
            "Status": self.status,
        }[action]
        return build()
