"""What Asterisk's queue_log file says about each queued call (pure).

queue_log is app_queue's own record, written whether or not anyone listens
on AMI: when `atiende serve` was down, it still holds how the calls of the
gap went (ENTERQUEUE, CONNECT with the hold time, COMPLETEAGENT or
COMPLETECALLER with the talk time and the side that hung up, ABANDON,
EXITWITHTIMEOUT, EXITEMPTY, EXITWITHKEY). The bridge reads its tail at a
resync when the file is readable (ATIENDE_AMI__QUEUE_LOG) and the tracker
takes these facts for the calls whose end or answer it did not see.

Line format: epoch|uniqueid|queue|agent|event|data... (app_queue.c
ast_queue_log; with log_membername_as_agent the agent is the member name).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from telephony.domain import HangupSide, Outcome

log = logging.getLogger(__name__)

# Exit events: (outcome, index of the wait among the data fields).
_EXITS = {
    "ABANDON": (Outcome.ABANDONED, 2),
    "EXITWITHTIMEOUT": (Outcome.EXIT_TIMEOUT, 2),
    "EXITEMPTY": (Outcome.EXIT_EMPTY, 2),
    "EXITWITHKEY": (Outcome.EXIT_KEY, 3),
}

# How much of the file's end to read: the calls of an outage, not its history.
TAIL_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class QueueLogCall:
    """One queued call's last queue stay, as queue_log tells it."""

    uniqueid: str
    queue: str
    entered_at: float
    position: int = 0
    caller_number: str = ""
    agent: str | None = None
    connected_at: float | None = None
    hold_seconds: float | None = None
    ended_at: float | None = None
    talk_seconds: float | None = None
    hangup_side: HangupSide | None = None
    exit: Outcome | None = None
    exit_position: int | None = None


def parse_lines(lines: Iterable[str]) -> dict[str, QueueLogCall]:
    """Facts by the queue channel's uniqueid (the caller's Linkedid when the
    caller's own channel sits in the queue, as in every recording)."""
    calls: dict[str, QueueLogCall] = {}
    for raw in lines:
        parts = raw.rstrip("\n").split("|")
        if len(parts) < 5:
            continue
        stamp, uniqueid, queue, agent, event = parts[:5]
        data = parts[5:]
        try:
            at = float(stamp)
            if event == "ENTERQUEUE":
                position = int(data[2]) if len(data) > 2 and data[2].isdigit() else 0
                number = data[1] if len(data) > 1 else ""
                calls[uniqueid] = QueueLogCall(uniqueid, queue, at, position, number)
                continue
            call = calls.get(uniqueid)
            if call is None:
                continue
            if event == "CONNECT":
                call.agent = agent
                call.connected_at = at
                call.hold_seconds = float(data[0])
            elif event in ("COMPLETEAGENT", "COMPLETECALLER"):
                call.ended_at = at
                call.talk_seconds = float(data[1])
                call.hangup_side = (
                    HangupSide.AGENT if event == "COMPLETEAGENT" else HangupSide.CALLER
                )
            elif event == "TRANSFER":
                call.ended_at = at
                call.talk_seconds = float(data[3])
            elif event in _EXITS:
                outcome, wait_index = _EXITS[event]
                call.exit = outcome
                call.ended_at = at
                call.hold_seconds = float(data[wait_index])
                position_index = 1 if event == "EXITWITHKEY" else 0
                call.exit_position = int(data[position_index])
        except (IndexError, ValueError):
            continue  # a line cut by the tail read, or not app_queue's
    return calls


def read_tail(path: Path, limit: int = TAIL_BYTES) -> dict[str, QueueLogCall]:
    """The facts of the file's last `limit` bytes (blocking: run off the loop).
    A missing or unreadable file gives none."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError as err:
        # The figures fall back to the bounds; the operator should know why.
        log.warning("queue_log %s not readable (%s): outage figures are bounds", path, err)
        return {}
    text = data.decode("utf-8", errors="replace")
    if size > limit:
        text = text.split("\n", 1)[-1]  # the first line is cut
    return parse_lines(text.splitlines())
