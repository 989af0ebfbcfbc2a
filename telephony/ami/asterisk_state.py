"""What an Asterisk would answer to the resync actions, given what it has done.

A model of the channels, queue members and waiting callers implied by a
stream of AMI events, rendered as the replies a real Asterisk 22 sends to
`CoreShowChannels` and `QueueStatus` (the shapes are those of
status_snapshot.actions.ami). The test AMI server uses it so that a bridge
reconnecting in the middle of a recording gets the state a live Asterisk would
have reported at that point, not an empty or stale one; the PBX simulator of
the demo uses it for the same reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

from telephony.ami.stream import Headers

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
_MEMBER_FIELDS = (
    ("Name", "MemberName"),
    ("Location", "Interface"),
    ("StateInterface", "StateInterface"),
    ("Membership", "Membership"),
    ("Penalty", "Penalty"),
    ("CallsTaken", "CallsTaken"),
    ("LastCall", "LastCall"),
    ("LastPause", "LastPause"),
    ("LoginTime", "LoginTime"),
    ("InCall", "InCall"),
    ("Status", "Status"),
    ("Paused", "Paused"),
    ("PausedReason", "PausedReason"),
    ("Wrapuptime", "Wrapuptime"),
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


def _message(lines: Iterable[tuple[str, str]]) -> bytes:
    return ("".join(f"{key}: {value}\r\n" for key, value in lines) + "\r\n").encode()


def _duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class AsteriskState:
    """Fed with every event Asterisk emitted, in order; answers list actions."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[str, str]] = {}
        self._created: dict[str, float] = {}
        self._members: dict[tuple[str, str], dict[str, str]] = {}
        self._entries: dict[tuple[str, str], dict[str, str]] = {}
        self._joined: dict[tuple[str, str], float] = {}
        self._queues: dict[str, None] = {}
        self.now = 0.0

    def observe(self, event: Mapping[str, str]) -> None:
        name = event.get("Event")
        stamp = event.get("Timestamp")
        if stamp:
            with contextlib.suppress(ValueError):
                self.now = max(self.now, float(stamp))
        uniqueid = event.get("Uniqueid", "")
        if name == "Newchannel":
            self._channels[uniqueid] = {
                **{key: event.get(key, "") for key in _CHANNEL_FIELDS},
                "Application": "",
                "ApplicationData": "",
                "BridgeId": "",
            }
            self._created[uniqueid] = self.now
        elif name == "Hangup":
            self._channels.pop(uniqueid, None)
            self._created.pop(uniqueid, None)
        elif name in ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon"):
            self._on_queue_caller(name, event)
        elif name in _MEMBER_EVENTS:
            queue = event.get("Queue", "")
            self._queues.setdefault(queue)
            self._members[(queue, event.get("Interface", ""))] = {
                field: event.get(source, "") for field, source in _MEMBER_FIELDS
            }
        elif name == "QueueMemberRemoved":
            self._members.pop((event.get("Queue", ""), event.get("Interface", "")), None)
        channel = self._channels.get(uniqueid)
        if channel is None or name == "Newchannel":
            return
        for key in _CHANNEL_FIELDS:
            if key in event:
                channel[key] = event[key]
        if name == "Newexten":
            channel["Application"] = event.get("Application", "")
            channel["ApplicationData"] = event.get("AppData", "")
        elif name == "BridgeEnter":
            channel["BridgeId"] = event.get("BridgeUniqueid", "")
        elif name == "BridgeLeave":
            channel["BridgeId"] = ""

    def _on_queue_caller(self, name: str, event: Mapping[str, str]) -> None:
        queue = event.get("Queue", "")
        key = (queue, event.get("Uniqueid", ""))
        self._queues.setdefault(queue)
        if name != "QueueCallerJoin":
            self._entries.pop(key, None)
            self._joined.pop(key, None)
            return
        self._entries[key] = {
            "Queue": queue,
            "Position": event.get("Position", "1"),
            "Channel": event.get("Channel", ""),
            "Uniqueid": event.get("Uniqueid", ""),
            "CallerIDNum": event.get("CallerIDNum", ""),
            "CallerIDName": event.get("CallerIDName", ""),
            "ConnectedLineNum": event.get("ConnectedLineNum", ""),
            "ConnectedLineName": event.get("ConnectedLineName", ""),
        }
        self._joined[key] = self.now

    def reply(self, action: str, action_id: str) -> bytes | None:
        """The full reply (response + list events + complete event), or None
        for an action this model does not answer."""
        if action.lower() == "coreshowchannels":
            return self.core_show_channels(action_id)
        if action.lower() == "queuestatus":
            return self.queue_status(action_id)
        return None

    def core_show_channels(self, action_id: str) -> bytes:
        parts = [self._start(action_id, "Channels will follow")]
        for uniqueid, channel in self._channels.items():
            fields = [("Event", "CoreShowChannel"), ("ActionID", action_id)]
            fields += [(key, channel[key]) for key in _CHANNEL_FIELDS]
            fields += [
                ("Application", channel["Application"]),
                ("ApplicationData", channel["ApplicationData"]),
                ("Duration", _duration(self.now - self._created[uniqueid])),
                ("BridgeId", channel["BridgeId"]),
            ]
            parts.append(_message(fields))
        parts.append(self._complete("CoreShowChannelsComplete", action_id, len(self._channels)))
        return b"".join(parts)

    def queue_status(self, action_id: str) -> bytes:
        parts = [self._start(action_id, "Queue status will follow")]
        items = 0
        for queue in self._queues:
            entries = [(key, entry) for key, entry in self._entries.items() if key[0] == queue]
            parts.append(
                _message(
                    [
                        ("Event", "QueueParams"),
                        ("Queue", queue),
                        ("Max", "0"),
                        ("Calls", str(len(entries))),
                        ("ActionID", action_id),
                    ]
                )
            )
            items += 1
            for (member_queue, _), member in self._members.items():
                if member_queue == queue:
                    fields = [("Event", "QueueMember"), ("Queue", queue)]
                    fields += [*member.items(), ("ActionID", action_id)]
                    parts.append(_message(fields))
                    items += 1
            ordered = sorted(entries, key=lambda item: int(item[1]["Position"] or 0))
            for position, (key, entry) in enumerate(ordered, start=1):
                fields = [("Event", "QueueEntry"), *{**entry, "Position": str(position)}.items()]
                fields += [
                    ("Wait", str(max(0, int(self.now - self._joined[key])))),
                    ("Priority", "0"),
                    ("ActionID", action_id),
                ]
                parts.append(_message(fields))
                items += 1
        parts.append(self._complete("QueueStatusComplete", action_id, items))
        return b"".join(parts)

    @staticmethod
    def _start(action_id: str, message: str) -> bytes:
        return _message(
            [
                ("Response", "Success"),
                ("ActionID", action_id),
                ("EventList", "start"),
                ("Message", message),
            ]
        )

    @staticmethod
    def _complete(event: str, action_id: str, items: int) -> bytes:
        return _message(
            [
                ("Event", event),
                ("ActionID", action_id),
                ("EventList", "Complete"),
                ("ListItems", str(items)),
            ]
        )


def state_after(events: Iterable[Headers]) -> AsteriskState:
    state = AsteriskState()
    for event in events:
        state.observe(event)
    return state
