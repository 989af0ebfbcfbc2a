"""Restarts keep what Asterisk knows: serve killed during talk.

The simulated PBX runs on; the tracker sees its events until `atiende serve`
is killed while an agent talks, and nothing during the gap. Meanwhile the
talk ends, a second caller is answered (and still talks at the restart) and
a third one hangs up in the queue. The new tracker gets the calls the store
had in progress, then a resync from what the PBX still has (CoreShowChannels
and QueueStatus, as a real Asterisk answers them) and, when the file is
readable, queue_log's tail. Every attention is compared with the queue_log
the simulator wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from telephony.ami.asterisk_side import AsteriskState
from telephony.ami.stream import Connected, ResyncFinished, ResyncStarted
from telephony.domain import CallEnded, CallRecord, DomainEvent, HangupSide, Outcome
from telephony.queue_log import parse_lines
from telephony.simulator.calls import Pbx
from telephony.simulator.model import CallerSpec
from telephony.tracker import CallTracker
from tests.support.queue_log import parse_queue_log

START = 1795500000.0
QUEUES = {"consultas": [("4001", "Ana Gómez"), ("4002", "Bruno Núñez")]}
WRAPUP = {"consultas": 3.0}


def _feed(tracker: CallTracker, pbx: Pbx, state: AsteriskState, until: float, *, seen: bool):
    out: list[DomainEvent] = []
    for event in pbx.advance(until):
        fields = event.fields()
        state.apply(fields)
        if seen:
            out.extend(tracker.feed(fields))
    return out


def _lists(state: AsteriskState, action: str) -> list[dict[str, str]]:
    items = []
    for lines in state.list_items(action):
        items.append(dict(line.split(": ", 1) for line in lines))
    return items


def _scenario(
    tmp_path: Path, *, with_queue_log: bool, resume: bool = False
) -> tuple[list[CallRecord], Path]:
    pbx = Pbx(start=START, style="pjsip", queues=QUEUES, no_answer_share=0.0)
    state = AsteriskState()
    for member in pbx.members.values():
        state.apply({"Event": "QueueMemberStatus", **dict(pbx.member_snapshot(member))})
    first = CallerSpec("099100001", "Ana Caller", ("1",), 1, 120, 12, "consultas")
    pbx.place_call(first, START + 1)
    before = CallTracker("sim", wrapup_seconds=WRAPUP)
    ended = _feed(before, pbx, state, START + 8, seen=True)
    assert not [e for e in ended if isinstance(e, CallEnded)]
    # serve is killed mid-talk: the store keeps the in-progress snapshot.
    stored = before.calls_in_progress()
    assert stored and stored[0].answered_at is not None
    # The gap: the first talk ends; a second caller is answered and still
    # talks at the restart; a third waits for a busy queue and hangs up.
    pbx.queue_pause("PJSIP/4002", True, "Almuerzo")
    pbx.place_call(CallerSpec("099100002", "Beto", ("1",), 1, 120, 40, "consultas"), START + 20)
    pbx.place_call(CallerSpec("099100003", "Ceci", ("1",), 1, 6, 4, "consultas"), START + 30)
    _feed(before, pbx, state, START + 60, seen=False)
    # The new serve: restore, then resync from what Asterisk still has.
    after = CallTracker("sim", wrapup_seconds=WRAPUP)
    after.restore(stored)
    if resume:
        # What the store tells a restarted bridge (AttentionRepository.seen_until):
        # the newest moment it recorded, and no call over since then.
        after.resume_after_restart(max(r.arrived_at for r in stored), [])
    events: list[DomainEvent] = []
    at = pbx.now
    events += after.feed(Connected(at))
    events += after.feed(ResyncStarted(at))
    state.now = at
    for item in _lists(state, "CoreShowChannels") + _lists(state, "QueueStatus"):
        events += after.feed(item)
    if with_queue_log:
        after.queue_log_facts(parse_lines(pbx.queue_log))
    events += after.feed(ResyncFinished(at))
    events += _feed(after, pbx, state, START + 200, seen=True)
    path = tmp_path / "queue_log"
    path.write_text("\n".join(pbx.queue_log) + "\n", encoding="utf-8")
    return [e.record for e in events if isinstance(e, CallEnded)], path


def test_with_queue_log_every_call_is_as_asterisk_logged_it(tmp_path: Path) -> None:
    records, path = _scenario(tmp_path, with_queue_log=True)
    log = parse_queue_log(path)
    by_id = {r.key.linkedid: r for r in records}
    # Not rebuilt: the call that started and ended inside the gap (Ceci's).
    assert set(by_id) == set(log.calls) - {
        u for u, c in log.calls.items() if c.caller_number == "099100003"
    }
    for uniqueid, expected in ((u, log.calls[u]) for u in by_id):
        record = by_id[uniqueid]
        assert record.outcome.value == expected.outcome, uniqueid
        assert record.agent == expected.agent
        assert record.wait_seconds == expected.wait, uniqueid
        assert record.talk_seconds == expected.talk, uniqueid
    killed = by_id[min(by_id)]  # the call that was talking when serve died
    assert killed.hangup_side is HangupSide.AGENT
    assert killed.ended_at is not None and killed.answered_at is not None
    assert killed.ended_at > killed.answered_at


def test_a_restart_rebuilds_from_queue_log_the_calls_wholly_inside_the_gap(
    tmp_path: Path,
) -> None:
    """Told the newest moment the store had, the restarted bridge also stores
    the call that began and ended while no bridge ran (Ceci's), as logged."""
    records, path = _scenario(tmp_path, with_queue_log=True, resume=True)
    log = parse_queue_log(path)
    by_id = {r.key.linkedid: r for r in records}
    assert set(by_id) == set(log.calls)
    for uniqueid, expected in log.calls.items():
        record = by_id[uniqueid]
        assert record.outcome.value == expected.outcome, uniqueid
        assert record.wait_seconds == expected.wait, uniqueid
        assert record.talk_seconds == expected.talk, uniqueid
    gap = next(r for r in records if r.caller_number.endswith("99100003"))
    assert gap.outcome is Outcome.ABANDONED and gap.hangup_side is HangupSide.CALLER


def test_without_queue_log_the_talk_comes_from_the_members_last_call(tmp_path: Path) -> None:
    """No file: the agent's LastCall in QueueStatus ends the call that was
    talking (whole seconds, as app_queue stamps it); the call answered in
    the gap gets its answer from the agent channel's age (an upper bound on
    the wait); nothing is left without a talk time."""
    records, path = _scenario(tmp_path, with_queue_log=False)
    log = parse_queue_log(path)
    by_id = {r.key.linkedid: r for r in records}
    killed = by_id[min(by_id)]
    expected = log.calls[killed.key.linkedid]
    assert killed.outcome is Outcome.ANSWERED
    assert killed.talk_seconds is not None and expected.talk is not None
    assert abs(killed.talk_seconds - expected.talk) <= 1.0
    assert killed.ended_at is not None and killed.answered_at is not None
    assert killed.ended_at > killed.answered_at
    gap_answered = next(
        r for r in records if r.caller_number == "099100002" and r.outcome is Outcome.ANSWERED
    )
    truth = log.calls[gap_answered.key.linkedid]
    assert gap_answered.agent == truth.agent
    assert gap_answered.talk_seconds == truth.talk  # its end was seen live
    assert gap_answered.wait_seconds is not None and truth.wait is not None
    # Bounded: from the caller's arrival (IVR included) to the agent's ring.
    assert truth.wait <= gap_answered.wait_seconds <= truth.wait + 3.0


@pytest.mark.parametrize("with_queue_log", [True, False])
def test_no_call_is_left_without_figures(tmp_path: Path, with_queue_log: bool) -> None:
    records, _ = _scenario(tmp_path, with_queue_log=with_queue_log)
    for record in records:
        if record.outcome is Outcome.ANSWERED:
            assert record.talk_seconds is not None
            assert record.wait_seconds is not None


async def test_the_bridge_reads_queue_log_at_the_end_of_each_resync(tmp_path: Path) -> None:
    """The adapter: the file's tail reaches the tracker just before the
    ResyncFinished it belongs to (read off the loop), and a missing file
    gives no facts rather than an error."""
    from collections.abc import AsyncIterator

    from telephony.ami.stream import StreamItem
    from telephony.bridge import Bridge

    path = tmp_path / "queue_log"
    path.write_text(
        "1795500001|NONE|NONE|NONE|QUEUESTART|\n"
        "1795500002|1795500001.0|consultas|NONE|ENTERQUEUE||099100001|1\n"
        "1795500003|1795500001.0|consultas|Ana Gómez|CONNECT|1|1795500002.1|0\n"
        "1795500009|1795500001.0|consultas|Ana Gómez|COMPLETECALLER|1|6|1\n",
        encoding="utf-8",
    )

    class Source:
        async def stream(self) -> AsyncIterator[StreamItem]:
            for item in (Connected(1.0), ResyncStarted(1.0), ResyncFinished(2.0)):
                yield item

    seen: list[object] = []

    class Spy(CallTracker):
        def queue_log_facts(self, facts):  # type: ignore[no-untyped-def]
            seen.append(("facts", dict(facts)))
            super().queue_log_facts(facts)

        def feed(self, item):  # type: ignore[no-untyped-def]
            seen.append(type(item).__name__)
            return super().feed(item)

    await Bridge(Source(), Spy("sim"), [], queue_log=path).run()
    facts = seen[2]
    assert isinstance(facts, tuple) and facts[0] == "facts"
    call = facts[1]["1795500001.0"]
    assert (call.hold_seconds, call.talk_seconds, call.hangup_side) == (1.0, 6.0, HangupSide.CALLER)
    assert seen[3] == "ResyncFinished"
    seen.clear()
    await Bridge(Source(), Spy("sim"), [], queue_log=tmp_path / "missing").run()
    assert ("facts", {}) in seen


def test_calls_wholly_inside_an_ami_outage_are_built_from_queue_log() -> None:
    """serve stays up, its AMI session drops: calls that start and end while
    it is down exist only in queue_log, and are stored from it; calls from
    before the drop are not written again."""
    from telephony.ami.stream import Disconnected
    from telephony.domain import CallAbandoned, CallQueued

    pbx = Pbx(start=START, style="pjsip", queues=QUEUES, no_answer_share=0.0)
    state = AsteriskState()
    for member in pbx.members.values():
        state.apply({"Event": "QueueMemberStatus", **dict(pbx.member_snapshot(member))})
    tracker = CallTracker("sim", wrapup_seconds=WRAPUP)
    pbx.place_call(CallerSpec("099100001", "Before", ("1",), 1, 120, 3, "consultas"), START + 1)
    seen = _feed(tracker, pbx, state, START + 15, seen=True)
    before = {e.record.key.linkedid for e in seen if isinstance(e, CallEnded)}
    assert len(before) == 1
    events: list[DomainEvent] = list(tracker.feed(Disconnected(pbx.now, "lost")))
    pbx.queue_pause("PJSIP/4001", True, "Baño")
    pbx.queue_pause("PJSIP/4002", True, "Baño")
    pbx.place_call(CallerSpec("099100002", "Gap abandon", ("1",), 1, 5, 3, "consultas"), START + 20)
    pbx.at(START + 30, lambda: pbx.queue_pause("PJSIP/4001", False))
    pbx.place_call(
        CallerSpec("099100003", "Gap answer", ("1",), 1, 120, 4, "consultas"), START + 31
    )
    _feed(tracker, pbx, state, START + 60, seen=False)
    at = pbx.now
    events += tracker.feed(Connected(at))
    events += tracker.feed(ResyncStarted(at))
    state.now = at
    for item in _lists(state, "CoreShowChannels") + _lists(state, "QueueStatus"):
        events += tracker.feed(item)
    tracker.queue_log_facts(parse_lines(pbx.queue_log))
    events += tracker.feed(ResyncFinished(at))
    records = {e.record.key.linkedid: e.record for e in events if isinstance(e, CallEnded)}
    log = parse_lines(pbx.queue_log)
    assert set(records) == set(log) - before
    for uniqueid, record in records.items():
        facts = log[uniqueid]
        assert record.wait_seconds == facts.hold_seconds
        assert record.caller_number == facts.caller_number
        if facts.exit is not None:
            assert record.outcome is Outcome.ABANDONED
            assert record.hangup_side is HangupSide.CALLER
        else:
            assert record.outcome is Outcome.ANSWERED
            assert record.agent == facts.agent == "Ana Gómez"
            assert record.talk_seconds == facts.talk_seconds
            assert record.hangup_side is HangupSide.AGENT
    # The live figures: the abandon offered and settled.
    assert sum(isinstance(e, CallQueued) for e in events) == 1
    assert sum(isinstance(e, CallAbandoned) for e in events) == 1
