"""Per-call expectations read from Asterisk's own queue_log.

Written from the queue_log format (epoch|uniqueid|queue|agent|event|data...),
independently of the tracker, so tests can compare the two. With
`log_membername_as_agent = yes` the agent column is the member name.

Event data used:
- ENTERQUEUE url|callerid|position
- CONNECT holdtime|bridged channel uniqueid|ringtime
- COMPLETEAGENT / COMPLETECALLER holdtime|calltime|origposition
- ABANDON position|origposition|waittime
- EXITWITHTIMEOUT position|origposition|waittime
- EXITWITHKEY key|position|origposition|waittime
- EXITEMPTY position|origposition|waittime
- TRANSFER extension|context|holdtime|calltime|origposition
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class QueueLogLeg:
    queue: str
    entered_at: float
    position: int
    agent: str | None = None
    outcome: str = "in_progress"
    wait: float | None = None
    talk: float | None = None
    abandon_position: int | None = None


@dataclass
class QueueLogCall:
    uniqueid: str
    caller_number: str
    legs: list[QueueLogLeg] = field(default_factory=list)

    @property
    def queues(self) -> list[str]:
        return [leg.queue for leg in self.legs]

    @property
    def outcome(self) -> str:
        return self.legs[-1].outcome

    @property
    def agent(self) -> str | None:
        agents = [leg.agent for leg in self.legs if leg.agent is not None]
        return agents[-1] if agents else None

    @property
    def wait(self) -> float | None:
        return self.legs[-1].wait

    @property
    def talk(self) -> float | None:
        return self.legs[-1].talk


@dataclass
class MemberEvent:
    at: float
    queue: str
    agent: str
    event: str
    data: list[str]


@dataclass
class QueueLog:
    calls: dict[str, QueueLogCall]
    members: list[MemberEvent]


_EXITS = {
    "EXITWITHTIMEOUT": ("exit_timeout", 2),
    "EXITWITHKEY": ("exit_key", 3),
    "EXITEMPTY": ("exit_empty", 2),
}


def parse_queue_log(path: Path) -> QueueLog:
    calls: dict[str, QueueLogCall] = {}
    members: list[MemberEvent] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        parts = raw.split("|")
        at, uniqueid, queue, agent, event = parts[:5]
        data = parts[5:]
        if uniqueid in ("NONE", "MANAGER") or not uniqueid.replace(".", "").isdigit():
            if queue != "NONE":
                members.append(MemberEvent(float(at), queue, agent, event, data))
            continue
        if event == "ENTERQUEUE":
            call = calls.setdefault(uniqueid, QueueLogCall(uniqueid, data[1]))
            call.legs.append(QueueLogLeg(queue, float(at), int(data[2])))
            continue
        if event == "JOINEMPTY":
            call = calls.setdefault(uniqueid, QueueLogCall(uniqueid, ""))
            call.legs.append(QueueLogLeg(queue, float(at), 0, outcome="join_empty", wait=0.0))
            continue
        call = calls[uniqueid]
        leg = call.legs[-1]
        if event == "CONNECT":
            leg.agent = agent
            leg.outcome = "answered"
            leg.wait = float(data[0])
        elif event in ("COMPLETEAGENT", "COMPLETECALLER"):
            leg.talk = float(data[1])
        elif event == "TRANSFER":
            leg.outcome = "transferred"
            leg.talk = float(data[3])
        elif event == "ABANDON":
            leg.outcome = "abandoned"
            leg.abandon_position = int(data[0])
            leg.wait = float(data[2])
        elif event in _EXITS:
            outcome, wait_index = _EXITS[event]
            leg.outcome = outcome
            leg.wait = float(data[wait_index])
    return QueueLog(calls, members)
