"""`atiende replay`: JSONL and summary against Asterisk's own queue_log."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from atiende.replay_command import run
from dashboards.kpi import queue_summary as summarize
from telephony.replay import records_to_jsonl, replay_records
from tests.support.queue_log import parse_queue_log

# lab-config/queues.conf (and queues-sip.conf): servicelevel per queue.
SERVICE_LEVELS = {"consultas": 20, "reclamos": 30}
SCENARIOS = [
    "answered",
    "abandoned",
    "ivr_hangup",
    "ring_no_answer",
    "burst",
    "status_snapshot",
    "sip_mixed",
    "agi_tour",
    "tricky_caller_id",
]


def _jsonl(recordings: Path, scenario: str) -> list[dict[str, object]]:
    out = io.StringIO()
    code = run(
        recordings / f"{scenario}.ami",
        fmt="jsonl",
        system="lab",
        default_sl=20,
        service_levels=SERVICE_LEVELS,
        out=out,
    )
    assert code == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _epoch(value: object) -> float:
    assert isinstance(value, str) and value.endswith("Z")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_jsonl_matches_queue_log(recordings: Path, scenario: str) -> None:
    rows = _jsonl(recordings, scenario)
    path = recordings / f"{scenario}.queue_log"
    calls = parse_queue_log(path).calls if path.exists() else {}
    by_id = {row["linkedid"]: row for row in rows}
    assert len(by_id) == len(rows)
    assert set(calls) <= set(by_id)
    arrivals = [_epoch(row["arrived_at"]) for row in rows]
    assert arrivals == sorted(arrivals)
    for uniqueid, expected in calls.items():
        row = by_id[uniqueid]
        # queue_log has no line for the end of a call still waiting, and no
        # COMPLETE* for one still talking.
        ended = expected.outcome != "in_progress" and (
            expected.outcome != "answered" or expected.talk is not None
        )
        assert row["outcome"] == (expected.outcome if ended else "in_progress")
        assert row["queues"] == expected.queues
        assert row["queue"] == expected.queues[-1]
        assert row["agent"] == expected.agent
        assert row["wait_seconds"] == expected.wait
        assert row["talk_seconds"] == expected.talk
        assert row["caller_number"] == expected.caller_number
        assert (row["ended_at"] is not None) == ended
        # queue_log stamps whole seconds (truncated).
        assert int(_epoch(row["queue_joined_at"])) == int(expected.legs[0].entered_at)
    for linkedid, row in by_id.items():
        if linkedid not in calls:
            assert row["queues"] == [] and row["queue"] is None and row["agent"] is None
            assert row["outcome"] in ("ivr_hangup", "ivr_completed")
            assert row["ended_at"] is not None


def test_jsonl_fields(recordings: Path) -> None:
    (row,) = _jsonl(recordings, "answered")
    assert row["caller_name"] == "Ciudadana Pérez 1"
    assert row["agents"] == ["Ana Gómez"]
    assert row["ivr_path"] == []  # the stub IVR set no ATIENDE_IVR_PATH; keys are not kept
    assert row["variables"] == {"ATIENDE_QUEUE": "consultas"}
    assert row["hangup_side"] == "agent"
    # answered.queue_log: CONNECT at 1795342624, COMPLETEAGENT at 1795342629
    assert int(_epoch(row["answered_at"])) == 1795342624
    assert int(_epoch(row["ended_at"])) == 1795342629
    (ivr,) = _jsonl(recordings, "ivr_hangup")
    assert ivr["answered_at"] is None and ivr["wait_seconds"] is None


def test_records_to_jsonl_keeps_utf8(recordings: Path) -> None:
    records = replay_records((recordings / "tricky_caller_id.ami").read_bytes())
    out = io.StringIO()
    records_to_jsonl(records, out)
    assert 'Zoë \\"Niña\\" Ñandú' in out.getvalue()  # JSON-escaped quotes, raw UTF-8
    assert records[0].key.system == "asterisk"


def _expected_summary(recordings: Path, scenario: str) -> dict[str, dict[str, object]]:
    """Per-queue figures straight from queue_log lines."""
    table: dict[str, dict[str, object]] = {}
    waits: dict[str, list[float]] = {}
    talks: dict[str, list[float]] = {}
    for line in (recordings / f"{scenario}.queue_log").read_text(encoding="utf-8").splitlines():
        _, uniqueid, queue, _, event, *data = line.split("|")
        if uniqueid in ("NONE", "MANAGER"):
            continue
        row = table.setdefault(
            queue, {"offered": 0, "answered": 0, "abandoned": 0, "answered_within_sl": 0}
        )
        if event == "ENTERQUEUE":
            row["offered"] = int(str(row["offered"])) + 1
        elif event == "CONNECT":
            row["answered"] = int(str(row["answered"])) + 1
            wait = float(data[0])
            waits.setdefault(queue, []).append(wait)
            if wait <= SERVICE_LEVELS[queue]:
                row["answered_within_sl"] = int(str(row["answered_within_sl"])) + 1
        elif event == "ABANDON":
            row["abandoned"] = int(str(row["abandoned"])) + 1
        elif event in ("COMPLETEAGENT", "COMPLETECALLER"):
            talks.setdefault(queue, []).append(float(data[1]))
    for queue, row in table.items():
        w, t = waits.get(queue, []), talks.get(queue, [])
        row["asa_seconds"] = sum(w) / len(w) if w else None
        row["avg_talk_seconds"] = sum(t) / len(t) if t else None
    return table


@pytest.mark.parametrize(
    "scenario", ["burst", "sip_mixed", "answered", "abandoned", "status_snapshot"]
)
def test_summary_matches_queue_log(recordings: Path, scenario: str) -> None:
    out = io.StringIO()
    code = run(
        recordings / f"{scenario}.ami",
        fmt="summary",
        system="lab",
        default_sl=20,
        service_levels=SERVICE_LEVELS,
        out=out,
    )
    assert code == 0
    summary = json.loads(out.getvalue())
    expected = _expected_summary(recordings, scenario)
    assert set(summary) == set(expected)
    for queue, row in expected.items():
        got = summary[queue]
        for key in ("offered", "answered", "abandoned", "answered_within_sl"):
            assert got[key] == row[key], (queue, key)
        for key in ("asa_seconds", "avg_talk_seconds"):
            if row[key] is None:
                assert got[key] is None
            else:
                assert got[key] == pytest.approx(row[key], abs=0.001)
        assert got["service_level_seconds"] == SERVICE_LEVELS[queue]


def test_summary_default_service_level(recordings: Path) -> None:
    records = replay_records((recordings / "burst.ami").read_bytes())
    strict = summarize(records, default_sl=0)
    lenient = summarize(records, default_sl=60)
    expected = _expected_summary(recordings, "burst")
    for queue in expected:
        assert lenient[queue]["answered_within_sl"] == expected[queue]["answered"]
        # queue_log CONNECT hold times of 0 are the only ones within 0 s.
        assert strict[queue]["service_level_seconds"] == 0
    zero_waits = sum(
        1
        for line in (recordings / "burst.queue_log").read_text(encoding="utf-8").splitlines()
        if line.split("|")[4] == "CONNECT" and line.split("|")[5] == "0"
    )
    assert sum(int(str(row["answered_within_sl"])) for row in strict.values()) == zero_waits


def test_summary_counts_every_leg() -> None:
    from telephony.domain import CallKey, CallRecord, Outcome, QueueLeg

    legs = (
        QueueLeg("consultas", 0.0, 1, 5.0, Outcome.TRANSFERRED, "Ana", None, 5.0, 5.0, 10.0),
        QueueLeg("reclamos", 15.0, 1, 40.0, Outcome.ABANDONED, wait_seconds=25.0),
    )
    record = CallRecord(CallKey("s", "1.0"), "099", "X", 0.0, Outcome.ABANDONED, legs=legs)
    summary = summarize([record], service_levels={"reclamos": 30})
    assert summary["consultas"]["offered"] == 1 and summary["consultas"]["answered"] == 1
    assert summary["consultas"]["asa_seconds"] == 5.0
    assert summary["reclamos"]["abandoned"] == 1 and summary["reclamos"]["answered"] == 0
    assert summary["reclamos"]["asa_seconds"] is None


def test_run_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    kwargs = {"system": "lab", "default_sl": 20, "service_levels": {}, "out": out}
    assert run(tmp_path / "nope.ami", fmt="jsonl", **kwargs) == 2  # type: ignore[arg-type]
    assert "nope.ami" in capsys.readouterr().err
    assert run(tmp_path, fmt="summary", **kwargs) == 2  # type: ignore[arg-type]
    assert "directory" in capsys.readouterr().err
    empty = tmp_path / "empty.ami"
    empty.write_bytes(b"")
    assert run(empty, fmt="jsonl", **kwargs) == 1  # type: ignore[arg-type]
    assert "no AMI messages" in capsys.readouterr().err
    assert out.getvalue() == ""


def test_run_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    locked = tmp_path / "locked.ami"
    locked.write_bytes(b"Event: FullyBooted\r\n\r\n")
    locked.chmod(0)
    code = run(
        locked, fmt="jsonl", system="lab", default_sl=20, service_levels={}, out=io.StringIO()
    )
    assert code == 2
    assert "cannot read" in capsys.readouterr().err
