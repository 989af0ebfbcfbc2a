"""`atiende replay CAPTURE.ami`: run a raw AMI capture through the tracker.

The capture (the bytes an AMI connection received, as in the recordings) goes
through the same parser and call tracker as the live bridge; nothing is
written anywhere. This module gives the calls (`replay_capture`) and their
JSON lines (`record_to_json`: one object per call, in order of arrival; calls
still up when the capture ends are included with outcome ``in_progress``).
The command itself, with its ``--summary`` counted by dashboards.kpi, is
atiende.replay_command: the bridge knows nothing of how figures are counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from telephony.ami.interest import tracker_event_filter
from telephony.ami.parser import iter_capture
from telephony.domain import CallEnded, CallRecord
from telephony.tracker import CallTracker


def replay_capture(data: bytes, system: str) -> tuple[list[CallRecord], int]:
    """Every call in the capture in arrival order, and how many AMI messages it held."""
    tracker = CallTracker(system)
    records: list[CallRecord] = []
    messages = 0
    # The same local filter as the live bridge: events the tracker ignores
    # cost only their framing.
    for headers in iter_capture(data, tracker_event_filter()):
        messages += 1
        for event in tracker.feed(headers):
            if isinstance(event, CallEnded):
                records.append(event.record)
    records.extend(tracker.finish())
    # sorted() is stable: calls that arrived at the same instant keep the
    # order in which the tracker closed them.
    records.sort(key=lambda record: record.arrived_at)
    return records, messages


def replay_records(data: bytes, *, system: str = "asterisk") -> list[CallRecord]:
    """Every call in the capture, ended or still in progress, in arrival order."""
    return replay_capture(data, system)[0]


def _iso(ts: float | None) -> str | None:
    """POSIX seconds as ISO 8601 UTC with milliseconds, e.g. 2026-11-22T10:17:02.371Z."""
    if ts is None:
        return None
    stamp = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def record_to_json(record: CallRecord) -> dict[str, Any]:
    """One call as a JSON object.

    Keys: system, linkedid (the call's Asterisk Linkedid), caller_number and
    caller_name (as Asterisk presented them, not normalised), queues (every
    queue joined, in order; a call moved to another queue lists both), queue
    (the last one, or null), agent (member name of the agent who answered
    last, or null), agents (every agent who answered, in order), outcome
    (answered, abandoned, exit_timeout, exit_key, exit_empty, join_empty,
    transferred, ivr_hangup, ivr_completed, lost_during_outage, in_progress),
    hangup_side (caller, agent, system, unknown), wait_seconds (queue wait of
    the last leg; Asterisk's own HoldTime when it gave one), talk_seconds
    (talk time summed over the answered legs: Asterisk's TalkTime),
    arrived_at / queue_joined_at / answered_at / ended_at (ISO 8601 UTC
    strings, null when unknown), ivr_path (the IVR's choices: its
    ATIENDE_IVR_PATH variable; never the keys pressed) and variables (every
    ATIENDE_* channel variable).
    """
    return {
        "system": record.key.system,
        "linkedid": record.key.linkedid,
        "caller_number": record.caller_number,
        "caller_name": record.caller_name,
        "queues": list(record.queues),
        "queue": record.queue,
        "agent": record.agent,
        "agents": list(record.agents),
        "outcome": record.outcome.value,
        "hangup_side": record.hangup_side.value,
        "wait_seconds": record.wait_seconds,
        "talk_seconds": record.talk_seconds,
        "arrived_at": _iso(record.arrived_at),
        "queue_joined_at": _iso(record.queue_joined_at),
        "answered_at": _iso(record.answered_at),
        "ended_at": _iso(record.ended_at),
        "ivr_path": list(record.ivr_path),
        "variables": dict(record.variables),
    }


def records_to_jsonl(records: Iterable[CallRecord], out: TextIO) -> None:
    """Write one JSON object per line (UTF-8 text, not ASCII-escaped)."""
    for record in records:
        out.write(json.dumps(record_to_json(record), ensure_ascii=False))
        out.write("\n")
