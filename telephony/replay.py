"""`atiende replay CAPTURE.ami`: run a raw AMI capture through the tracker.

The capture (the bytes an AMI connection received, as in the recordings) goes
through the same parser and call tracker as the live bridge; nothing is
written anywhere. Two outputs:

- ``jsonl``: one JSON object per call, in order of arrival (see
  `record_to_json`). Calls still up when the capture ends are included with
  outcome ``in_progress``.
- ``summary``: one JSON object keyed by queue name (see `summarize`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from dashboards.kpi import QueueKpiDefinition, asa, count_legs, mean_talk
from telephony.ami.interest import tracker_event_filter
from telephony.ami.parser import iter_capture
from telephony.domain import CallEnded, CallRecord
from telephony.tracker import CallTracker


def _replay(data: bytes, system: str) -> tuple[list[CallRecord], int]:
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
    return _replay(data, system)[0]


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
    strings, null when unknown), ivr_path (the IVR choices: the
    ATIENDE_IVR_PATH variable if the IVR set it, else the digits the caller
    pressed while the IVR ran) and variables (every ATIENDE_* channel variable).
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


def _rounded(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def summarize(
    records: Iterable[CallRecord],
    *,
    default_sl: int = 20,
    service_levels: Mapping[str, int] | None = None,
) -> dict[str, dict[str, float | int | None]]:
    """Per-queue figures, counted from queue legs (a call that went through
    two queues counts once in each). The arithmetic is dashboards.kpi's, the
    one definition of these figures.

    - offered: legs that joined the queue.
    - answered: legs an agent answered (including ones later transferred).
    - abandoned: legs whose caller hung up while waiting.
    - exited: legs that left without answer or abandon (timeout, exit key,
      queue empty, join refused).
    - in_progress: legs still waiting or still talking when the capture ended,
      or whose end the bridge could not observe.
    - answered_within_sl: answered legs whose wait was <= the queue's service
      level (Asterisk's own rule), in seconds: `service_levels[queue]`, else
      `default_sl`; the threshold used is reported as service_level_seconds.
    - asa_seconds: mean wait of the answered legs (null if none).
    - avg_talk_seconds: mean talk time of the answered legs whose talk time is
      known (null if none).
    """
    levels = dict(service_levels or {})
    definitions = {
        name: QueueKpiDefinition(service_level_seconds=sl) for name, sl in levels.items()
    }
    counts = count_legs(records, definitions, QueueKpiDefinition(service_level_seconds=default_sl))
    summary: dict[str, dict[str, float | int | None]] = {}
    for name, queue in counts.items():
        summary[name] = {
            "offered": queue.offered,
            "answered": queue.answered,
            "abandoned": queue.abandoned,
            "exited": queue.exited,
            "in_progress": queue.in_progress,
            "answered_within_sl": queue.answered_within,
            "service_level_seconds": levels.get(name, default_sl),
            "asa_seconds": _rounded(asa(queue)),
            "avg_talk_seconds": _rounded(mean_talk(queue)),
        }
    return summary


def run(
    path: Path,
    *,
    fmt: Literal["jsonl", "summary"],
    system: str,
    default_sl: int,
    service_levels: Mapping[str, int],
    out: TextIO,
) -> int:
    """The `atiende replay` command. Exit codes: 0 done, 1 the file holds no
    AMI message, 2 the file cannot be read or the format is unknown. Errors
    go to stderr as one line."""
    if fmt not in ("jsonl", "summary"):
        print(f"atiende replay: unknown format {fmt!r} (jsonl or summary)", file=sys.stderr)
        return 2
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        print(f"atiende replay: {path}: no such file", file=sys.stderr)
        return 2
    except IsADirectoryError:
        print(f"atiende replay: {path}: is a directory, not a capture file", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"atiende replay: {path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 2
    records, messages = _replay(data, system)
    if messages == 0:
        print(f"atiende replay: {path}: no AMI messages found", file=sys.stderr)
        return 1
    try:
        if fmt == "jsonl":
            records_to_jsonl(records, out)
        else:
            summary = summarize(records, default_sl=default_sl, service_levels=service_levels)
            out.write(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True))
            out.write("\n")
    except BrokenPipeError:
        # `atiende replay x.ami | head`: the reader has all it wanted.
        return 0
    return 0
