"""AttentionRepository on real PostgreSQL and SQLite."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from crm_bridge.attentions import AttentionRepository
from crm_bridge.exceptions import RecordRejectedError
from telephony.domain import (
    AgentInterval,
    AgentState,
    CallKey,
    CallRecord,
    HangupSide,
    Outcome,
    QueueLeg,
)

RecordFactory = Callable[..., CallRecord]


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT system, linkedid, outcome, caller_number_raw, caller_number,"
                    " caller_name, queue, agent, wait_seconds, talk_seconds, hangup_side"
                    " FROM attentions ORDER BY system, linkedid"
                )
            )
        ]


def test_writing_the_same_records_twice_leaves_the_same_rows(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    records = [new_record(f"1763971200.{n}") for n in range(5)]
    repo.upsert_records(records)
    first = _rows(engine)
    repo.upsert_records(records)
    assert _rows(engine) == first
    assert repo.count() == 5


def test_a_stored_call_reads_back_as_the_same_record(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    record = new_record("1763971200.7")
    repo.upsert_records([record])
    assert repo.get_record(record.key) == record
    row = repo.get(record.key.system, record.key.linkedid)
    assert row is not None
    assert row.queues == ["consultas"]
    assert row.queue == "consultas"
    assert row.agents == ["Ana Gómez"]
    assert row.agent == "Ana Gómez"
    assert row.arrived_at == datetime(2025, 11, 24, 8, 0, 0, 123456, tzinfo=UTC)
    assert row.arrived_at.utcoffset() is not None
    assert row.legs[0]["interface"] == "PJSIP/1001"
    assert row.legs[0]["wait_seconds"] == 17.75


def test_a_final_record_completes_an_in_progress_one(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    repo.upsert_records([new_record("1.1", Outcome.IN_PROGRESS)])
    final = new_record("1.1", Outcome.ANSWERED)
    repo.upsert_records([final])
    assert repo.get_record(final.key) == final
    assert repo.count() == 1


def test_a_late_in_progress_snapshot_does_not_reopen_a_finished_call(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    final = new_record("1.2", Outcome.ABANDONED)
    repo.upsert_records([final])
    repo.upsert_records([new_record("1.2", Outcome.IN_PROGRESS, caller_name="otro")])
    assert repo.get_record(final.key) == final


def test_in_one_batch_the_final_record_wins_over_a_later_snapshot(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    final = new_record("1.3", Outcome.EXIT_TIMEOUT)
    repo.upsert_records(
        [new_record("1.3", Outcome.IN_PROGRESS), final, new_record("1.3", Outcome.IN_PROGRESS)]
    )
    assert repo.get_record(final.key) == final


def test_a_final_record_may_correct_another_final_record(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    repo.upsert_records([new_record("1.4", Outcome.LOST_DURING_OUTAGE)])
    corrected = new_record("1.4", Outcome.ANSWERED)
    repo.upsert_records([corrected])
    assert repo.get_record(corrected.key) == corrected


def test_seen_until_is_the_newest_moment_stored_and_the_calls_over_since(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    assert repo.seen_until("asterisk") == (None, [])
    older = new_record("1.5", Outcome.ANSWERED)
    newest = new_record("1.6", Outcome.ABANDONED)
    newest = dataclasses.replace(
        newest,
        arrived_at=older.arrived_at + 100,
        ended_at=older.arrived_at + 130,
    )
    up = dataclasses.replace(
        new_record("1.7", Outcome.IN_PROGRESS), arrived_at=older.arrived_at + 129, ended_at=None
    )
    repo.upsert_records([older, newest, up])
    until, over = repo.seen_until(older.key.system)
    assert until == newest.ended_at
    assert over == ["1.6"]  # the older call ended long before; 1.7 is still up
    assert repo.seen_until("another-system") == (None, [])


def test_the_same_linkedid_on_two_systems_is_two_attentions(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    repo.upsert_records(
        [new_record("1763971200.1", system="pbx-a"), new_record("1763971200.1", system="pbx-b")]
    )
    assert repo.count() == 2
    assert [row[0] for row in _rows(engine)] == ["pbx-a", "pbx-b"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("099123456", "+59899123456"),
        ("+59829001234", "+59829001234"),
        ("<unknown>", None),
        ("", None),
        ("anonymous", None),
        ("abc", None),
        ("1234567890" * 4, None),
    ],
)
def test_caller_number_is_normalised_and_the_raw_value_kept(
    engine: Engine, new_record: RecordFactory, raw: str, expected: str | None
) -> None:
    repo = AttentionRepository(engine, phone_region="UY")
    repo.upsert_records([new_record("2.1", caller_number=raw)])
    row = repo.get("pbx-montevideo", "2.1")
    assert row is not None
    assert (row.caller_number_raw, row.caller_number) == (raw, expected)


@pytest.mark.parametrize(
    "name",
    [
        "José María Ñandú Güemes",
        'O\'Brien "Pepe"',
        "x'; EXEC System('rm -rf /'); --",
        "Robert'); DROP TABLE attentions;--",
        "🙂 ½ \\ % _",
    ],
)
def test_caller_names_are_stored_intact(
    engine: Engine, new_record: RecordFactory, name: str
) -> None:
    repo = AttentionRepository(engine)
    record = new_record("3.1", caller_name=name, variables={"ATIENDE_NOTE": name})
    repo.upsert_records([record])
    assert repo.get_record(record.key) == record
    assert repo.count() == 1


def test_nul_characters_are_dropped_rather_than_failing_the_batch(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    repo.upsert_records([new_record("3.2", caller_name="Ana\x00Gómez")])
    row = repo.get("pbx-montevideo", "3.2")
    assert row is not None
    assert row.caller_name == "AnaGómez"


def test_a_record_without_arrival_time_is_rejected(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    with pytest.raises(RecordRejectedError):
        repo.upsert_records([new_record("3.3", arrived_at=float("nan"))])
    assert repo.count() == 0


def test_calls_in_progress_round_trip_with_their_legs(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    transferred = QueueLeg(
        queue="consultas",
        joined_at=1_763_971_210.5,
        position=3,
        left_at=1_763_971_250.000001,
        outcome=Outcome.TRANSFERRED,
        agent="Ana Gómez",
        agent_interface="PJSIP/1001",
        answered_at=1_763_971_230.25,
        wait_seconds=19.75,
        talk_seconds=19.750001,
    )
    waiting = QueueLeg(queue="reclamos", joined_at=1_763_971_250.000002, position=1)
    up = [
        new_record("4.1", Outcome.IN_PROGRESS, arrived_at=1_763_971_300.0),
        new_record(
            "4.2",
            Outcome.IN_PROGRESS,
            arrived_at=1_763_971_200.999999,
            legs=(transferred, waiting),
            answered_at=None,
            hangup_side=HangupSide.UNKNOWN,
            ivr_path=(),
            variables={},
            caller_number="<unknown>",
        ),
    ]
    ended = new_record("4.3", Outcome.ANSWERED)
    elsewhere = new_record("4.4", Outcome.IN_PROGRESS, system="pbx-salto")
    repo.upsert_records([*up, ended, elsewhere])
    # Oldest arrival first.
    assert repo.in_progress("pbx-montevideo") == [up[1], up[0]]
    assert repo.in_progress("pbx-salto") == [elsewhere]


def test_close_lost_closes_only_calls_no_longer_up(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    still_up = new_record("5.1", Outcome.IN_PROGRESS)
    gone = new_record("5.2", Outcome.IN_PROGRESS)
    finished = new_record("5.3", Outcome.ANSWERED)
    other_system = new_record("5.2", Outcome.IN_PROGRESS, system="pbx-salto")
    repo.upsert_records([still_up, gone, finished, other_system])
    at = 1_763_972_000.5

    closed = repo.close_lost("pbx-montevideo", [still_up.key, CallKey("pbx-salto", "5.1")], at)

    expected_leg = dataclasses.replace(gone.legs[0], outcome=Outcome.LOST_DURING_OUTAGE, left_at=at)
    expected = dataclasses.replace(
        gone, outcome=Outcome.LOST_DURING_OUTAGE, ended_at=at, legs=(expected_leg,)
    )
    assert closed == [expected]
    assert repo.get_record(gone.key) == expected
    assert repo.get_record(still_up.key) == still_up
    assert repo.get_record(finished.key) == finished
    assert repo.get_record(other_system.key) == other_system
    assert repo.in_progress("pbx-montevideo") == [still_up]


def _interval(started_at: float, queue: str | None = None) -> AgentInterval:
    return AgentInterval(
        system="pbx-montevideo",
        interface="PJSIP/1001",
        member_name="Ana Gómez",
        state=AgentState.PAUSED,
        started_at=started_at,
        ended_at=started_at + 300.5,
        reason="almuerzo",
        queue=queue,
    )


def test_agent_intervals_are_written_once(engine: Engine) -> None:
    repo = AttentionRepository(engine)
    intervals = [_interval(1_763_971_200.0), _interval(1_763_971_200.0, "consultas")]
    repo.add_intervals(intervals)
    repo.add_intervals(intervals)
    repo.add_intervals([intervals[0], intervals[0], _interval(1_763_971_900.0)])
    assert repo.count_intervals() == 3
    with engine.connect() as conn:
        durations = conn.execute(
            text("SELECT duration_seconds FROM agent_state_intervals")
        ).scalars()
        assert set(durations) == {300.5}


def test_empty_batches_do_nothing(engine: Engine) -> None:
    repo = AttentionRepository(engine)
    assert repo.upsert_records([]) == 0
    repo.add_intervals([])
    assert repo.count() == 0


def test_unknown_call_reads_as_none(engine: Engine) -> None:
    repo = AttentionRepository(engine)
    assert repo.get("pbx-montevideo", "nope") is None
    assert repo.get_record(CallKey("pbx-montevideo", "nope")) is None


# ---------------------------------------------------------------- any record


_moments = st.integers(min_value=946_684_800_000_000, max_value=4_102_444_800_000_000).map(
    lambda micros: micros / 1_000_000  # microsecond precision, as Asterisk stamps
)
_words = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40)
_seconds = st.none() | st.floats(min_value=0, max_value=86_400, allow_nan=False)
_legs = st.builds(
    QueueLeg,
    queue=_words,
    joined_at=_moments,
    position=st.integers(min_value=0, max_value=500),
    left_at=st.none() | _moments,
    outcome=st.sampled_from(Outcome),
    agent=st.none() | _words,
    agent_interface=st.none() | _words,
    answered_at=st.none() | _moments,
    wait_seconds=_seconds,
    talk_seconds=_seconds,
    abandon_position=st.none() | st.integers(min_value=0, max_value=500),
)
_linkedids = iter(range(10**9))


@st.composite
def _records(draw: st.DrawFn) -> CallRecord:
    return CallRecord(
        key=CallKey(
            system=draw(st.sampled_from(["pbx-a", "pbx-b"])), linkedid=f"h.{next(_linkedids)}"
        ),
        caller_number=draw(_words | st.from_regex(r"\+?[0-9]{6,15}", fullmatch=True)),
        caller_name=draw(_words),
        arrived_at=draw(_moments),
        outcome=draw(st.sampled_from(Outcome)),
        hangup_side=draw(st.sampled_from(HangupSide)),
        queue_joined_at=draw(st.none() | _moments),
        answered_at=draw(st.none() | _moments),
        ended_at=draw(st.none() | _moments),
        ivr_path=tuple(draw(st.lists(_words, max_size=4))),
        legs=tuple(draw(st.lists(_legs, max_size=3))),
        wait_seconds=draw(_seconds),
        talk_seconds=draw(_seconds),
        variables=draw(st.dictionaries(_words, _words, max_size=4)),
        channel=draw(st.sampled_from(["telefonico", "web"])),
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=_records())
def test_any_record_reads_back_unchanged(engine: Engine, record: CallRecord) -> None:
    repo = AttentionRepository(engine)
    repo.upsert_records([record])
    assert repo.get_record(record.key) == record
