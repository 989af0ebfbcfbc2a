"""The simulator's queue_log is Asterisk's, and the tracker agrees with it.

The simulator writes the queue_log lines app_queue writes for the same calls
(same events, same fields); for the lab's recorded scenarios it is compared
with the real queue_log line by line. Then simulator-generated traffic with
every queue exit (answered, abandoned, EXITWITHTIMEOUT, ring no answer) goes
through the tracker and each attention is checked against that queue_log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from telephony.domain import CallAbandoned, CallEnded, DomainEvent, Outcome, QueueExited
from telephony.simulator.calls import Pbx
from telephony.simulator.model import CallerSpec
from telephony.tracker import CallTracker
from tests.support.queue_log import parse_queue_log
from tests.telephony.test_simulator_faithful import LAB_QUEUES, capture_events, scenario_from

START = 1795400000.0


def _simulated_queue_log(recordings: Path, scenario: str) -> list[str]:
    real = capture_events(recordings / f"{scenario}.ami")
    pbx, spec, start = scenario_from(real)
    pbx.place_call(spec, start)
    pbx.advance(float(real[-1]["Timestamp"]) + 60)
    return pbx.queue_log


def _without_uniqueids(lines: list[str]) -> list[list[str]]:
    """Fields of each line; uniqueids of the run (caller, agent leg) masked
    when the real run's channel counters differ from the simulator's."""
    out = []
    for line in lines:
        fields = line.split("|")
        if fields[4] == "CONNECT":
            fields[6] = "<agent leg>"
        out.append(fields)
    return out


@pytest.mark.parametrize("scenario", ["answered", "abandoned"])
def test_queue_log_matches_asterisks_line_by_line(recordings: Path, scenario: str) -> None:
    real = (recordings / f"{scenario}.queue_log").read_text(encoding="utf-8").splitlines()
    simulated = _simulated_queue_log(recordings, scenario)
    # The lab started its Asterisk (QUEUESTART) some seconds before the call;
    # the simulator's run starts at the members' login.
    assert simulated[0].split("|")[1:] == real[0].split("|")[1:]
    assert _without_uniqueids(simulated[1:]) == _without_uniqueids(real[1:])


def _run(pbx: Pbx, until: float) -> tuple[list[DomainEvent], Path]:
    tracker = CallTracker("sim", wrapup_seconds={"consultas": 3.0, "reclamos": 3.0})
    out: list[DomainEvent] = []
    for event in pbx.advance(until):
        out.extend(tracker.feed(event.fields()))
    return out, Path()


def _mixed_traffic(style: str) -> Pbx:
    pbx = Pbx(start=START, style=style, queues=LAB_QUEUES)  # type: ignore[arg-type]
    # Carla (reclamos' only member) is paused for the whole run, so callers
    # to reclamos wait until they hang up or the queue times out.
    pbx.at(START + 0.5, lambda: pbx.set_paused(pbx._interface("4003"), True, "Almuerzo"))
    calls = [
        CallerSpec("099100001", "Ana Caller", ("1",), 2, 120, 4),  # answered
        CallerSpec("099100002", "Beto Caller", ("2",), 2, 6, 4),  # hangs up: abandon
        CallerSpec("099100003", "Ceci Caller", ("2",), 2, 120, 4, queue_timeout=9),  # timeout
        CallerSpec("099100004", "Dani Caller", ("2",), 2, 120, 4, queue_timeout=5),  # timeout
        CallerSpec("099100005", "Eli Caller", ("1",), 2, 120, 3),  # answered
    ]
    for index, spec in enumerate(calls):
        pbx.place_call(spec, START + 1 + index)
    return pbx


@pytest.mark.parametrize("style", ["pjsip", "local"])
def test_tracker_outcomes_match_the_simulators_queue_log(tmp_path: Path, style: str) -> None:
    """Every attention against the queue_log the simulator wrote for it:
    EXITWITHTIMEOUT is stored as exit_timeout (Asterisk sends
    QueueCallerAbandon before QueueCallerLeave for it), ABANDON as abandoned,
    and the live figures count one abandon and two timeouts."""
    pbx = _mixed_traffic(style)
    events, _ = _run(pbx, START + 120)
    path = tmp_path / "queue_log"
    path.write_text("\n".join(pbx.queue_log) + "\n", encoding="utf-8")
    log = parse_queue_log(path)
    assert sorted(leg.outcome for call in log.calls.values() for leg in call.legs) == [
        "abandoned",
        "answered",
        "answered",
        "exit_timeout",
        "exit_timeout",
    ]
    records = {e.record.key.linkedid: e.record for e in events if isinstance(e, CallEnded)}
    assert set(records) == set(log.calls)
    for uniqueid, expected in log.calls.items():
        record = records[uniqueid]
        assert record.outcome.value == expected.outcome, uniqueid
        assert list(record.queues) == expected.queues
        assert record.agent == expected.agent
        assert record.wait_seconds == expected.wait
        assert record.talk_seconds == expected.talk
        assert record.caller_number == expected.caller_number
        if expected.outcome == "exit_timeout":
            assert record.hangup_side.value == "system"
        if expected.outcome == "abandoned":
            assert record.hangup_side.value == "caller"
            assert record.legs[-1].abandon_position == log.calls[uniqueid].legs[-1].abandon_position
    abandons = [e for e in events if isinstance(e, CallAbandoned)]
    exits = [e for e in events if isinstance(e, QueueExited)]
    assert len(abandons) == 1
    assert [e.outcome for e in exits] == [Outcome.EXIT_TIMEOUT, Outcome.EXIT_TIMEOUT]
    assert sorted(e.wait_seconds for e in exits) == [5.0, 9.0]


def test_timeout_event_order_is_asterisks() -> None:
    """app_queue.c queue_exec: record_abandoned (VarSet ABANDONED, then
    QueueCallerAbandon), then leave_queue (QueueCallerLeave), then
    set_queue_result (QUEUESTATUS=TIMEOUT); no HangupRequest before it."""
    pbx = Pbx(start=START, style="pjsip", queues={"reclamos": [("4003", "Carla Pérez")]})
    pbx.at(START + 0.1, lambda: pbx.set_paused("PJSIP/4003", True, "Almuerzo"))
    pbx.place_call(CallerSpec("099100003", "Ceci", ("2",), 2, 120, 4, "", 7), START + 1)
    names = []
    for event in pbx.advance(START + 60):
        fields = event.fields()
        if fields["Event"] in ("QueueCallerAbandon", "QueueCallerLeave", "HangupRequest"):
            names.append(fields["Event"])
        elif fields["Event"] == "VarSet" and fields["Variable"] in ("ABANDONED", "QUEUESTATUS"):
            names.append(f"{fields['Variable']}={fields['Value']}")
    assert names == [
        "ABANDONED=TRUE",
        "QueueCallerAbandon",
        "QueueCallerLeave",
        "QUEUESTATUS=TIMEOUT",
    ]
    assert [c.outcome for c in pbx.finished] == ["exit_timeout"]
    assert pbx.queue_log[-1].split("|")[4:] == ["EXITWITHTIMEOUT", "1", "1", "7"]
