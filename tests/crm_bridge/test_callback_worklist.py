"""The callback worklist: due times in business hours, offers, claims, attempts, give-up."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from crm_bridge.callback_rules import (
    AttemptResult,
    CallbackPolicy,
    CallbackStatus,
    EndReason,
    after_attempt,
    due_time,
    result_of_dial_status,
    within_target,
)
from crm_bridge.callbacks import CallbackQueue, completed_within_target
from crm_bridge.db import make_engine
from crm_bridge.ivr_services import StoreIvrServices
from crm_bridge.sla import office_hours
from telephony.domain import CallKey
from tests.crm_bridge.citizen_support import empty_store

# Friday 2026-11-27 16:30 in Montevideo (UTC-3): half an hour before closing.
FRIDAY_1630 = dt.datetime(2026, 11, 27, 19, 30, tzinfo=dt.UTC)
HOURS = office_hours("09:00-17:00")


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    empty_store(engine)
    yield engine
    engine.dispose()


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_due_and_target_follow_business_hours() -> None:
    saturday = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.UTC)
    monday_open = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)  # 09:00 local
    assert due_time(HOURS, saturday) == monday_open
    assert due_time(HOURS, FRIDAY_1630) == FRIDAY_1630
    assert due_time(None, saturday) == saturday
    policy = CallbackPolicy(target_seconds=3600)
    from crm_bridge.callback_rules import target_time

    # 30 minutes on Friday, 30 on Monday morning.
    assert target_time(policy, HOURS, FRIDAY_1630) == monday_open + dt.timedelta(minutes=30)


@pytest.mark.parametrize(
    ("status", "answered", "result"),
    [
        ("ANSWER", False, AttemptResult.ANSWERED),
        ("NOANSWER", False, AttemptResult.NO_ANSWER),
        ("BUSY", False, AttemptResult.BUSY),
        ("CHANUNAVAIL", False, AttemptResult.INVALID),
        ("CONGESTION", False, AttemptResult.INVALID),
        ("CANCEL", False, AttemptResult.AGENT_MISSED),
        ("CANCEL", True, AttemptResult.ANSWERED),
    ],
)
def test_dial_status_results(status: str, answered: bool, result: AttemptResult) -> None:
    assert result_of_dial_status(status, answered=answered) is result


def test_attempt_rules_space_retries_and_give_up() -> None:
    policy = CallbackPolicy(max_attempts=2)
    at = FRIDAY_1630
    busy = after_attempt(policy, None, attempts=0, result=AttemptResult.BUSY, at=at)
    assert (busy.status, busy.attempts, busy.due_at) == (
        CallbackStatus.PENDING,
        1,
        at + dt.timedelta(minutes=10),
    )
    # 30 minutes of open time: 30 after 16:30 is Friday's close... next try Monday 09:00.
    later = after_attempt(policy, HOURS, attempts=0, result=AttemptResult.NO_ANSWER, at=at)
    assert later.due_at == dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)
    last = after_attempt(policy, None, attempts=1, result=AttemptResult.NO_ANSWER, at=at)
    assert (last.status, last.end_reason) == (CallbackStatus.FAILED, EndReason.MAX_ATTEMPTS)
    invalid = after_attempt(policy, None, attempts=0, result=AttemptResult.INVALID, at=at)
    assert (invalid.status, invalid.end_reason) == (
        CallbackStatus.FAILED,
        EndReason.INVALID_NUMBER,
    )
    missed = after_attempt(policy, None, attempts=1, result=AttemptResult.AGENT_MISSED, at=at)
    assert (missed.status, missed.attempts, missed.due_at) == (CallbackStatus.PENDING, 1, at)
    done = after_attempt(policy, None, attempts=1, result=AttemptResult.ANSWERED, at=at)
    assert (done.status, done.end_reason) == (CallbackStatus.DONE, EndReason.COMPLETED)
    assert within_target(at, at) and not within_target(at, at - dt.timedelta(seconds=1))
    assert not within_target(None, at)
    with pytest.raises(ValueError, match="max_attempts"):
        CallbackPolicy(max_attempts=0)


async def test_worklist_offer_claim_attempts_and_target_count(store: Engine) -> None:
    clock = Clock(FRIDAY_1630)
    ivr = StoreIvrServices(store, system="pbx", clock=clock)
    await ivr.request_callback("1.1", "099123456", "consultas")
    clock.now += dt.timedelta(minutes=1)
    await ivr.request_callback("1.2", "anonymous", "consultas")  # no callable number
    work = CallbackQueue(
        store, policy=CallbackPolicy(max_attempts=2, target_seconds=3600), hours=HOURS, clock=clock
    )
    assert work.next_for(["reclamos"]) is None
    offer = work.next_for(["consultas", "reclamos"])
    assert offer is not None and offer.call == CallKey("pbx", "1.1")
    assert offer.due_at == FRIDAY_1630 and offer.dial_number == "099123456"
    assert offer.number == "+59899123456"
    invalid = [c for c in work.pending() if c.call.linkedid == "1.2"]
    assert invalid == []  # ended at once: nothing to dial
    assert work.claim(offer.id, 7) is not None
    assert work.claim(offer.id, 8) is None  # held by agent 7
    assert work.next_for(["consultas"]) is None
    busy = work.attempt_ended(offer.id, AttemptResult.BUSY, outbound=CallKey("pbx", "9.1"))
    assert busy is not None and busy.attempts == 1 and busy.claimed_by is None
    again = work.attempt_ended(offer.id, AttemptResult.BUSY, outbound=CallKey("pbx", "9.1"))
    assert again is not None and again.attempts == 1  # the same call counted once
    assert work.next_for(["consultas"]) is None  # 10 minutes apart
    assert work.claim(offer.id, 8) is None  # nor taken early by a post of its id
    clock.now += dt.timedelta(minutes=10)
    assert work.claim(offer.id, 8) is not None
    done = work.attempt_ended(offer.id, AttemptResult.ANSWERED, outbound=CallKey("pbx", "9.2"))
    assert done is not None and done.status is CallbackStatus.DONE
    assert done.outbound_linkedid == "9.2" and done.end_reason == "completed"
    figures = {b.queue: b for b in work.backlog(["consultas", "reclamos"])}
    assert (figures["consultas"].completed, figures["consultas"].completed_within_target) == (1, 1)
    assert figures["consultas"].failed == 1 and figures["reclamos"].pending == 0
    counted = completed_within_target(store, FRIDAY_1630, FRIDAY_1630 + dt.timedelta(hours=1))
    assert {q: (c.completed, c.within_target) for q, c in counted.items()} == {"consultas": (1, 1)}


async def test_agent_schedules_a_callback_and_gives_up_after_max_attempts(store: Engine) -> None:
    clock = Clock(FRIDAY_1630)
    work = CallbackQueue(store, policy=CallbackPolicy(max_attempts=2), hours=HOURS, clock=clock)
    monday = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
    view = work.schedule(
        call=CallKey("pbx", "2.1"),
        number="099 765 432",
        queue="reclamos",
        at=monday,
        reason="Confirmar el trámite de pasaporte",
        scheduled_by=3,
    )
    assert view.origin.value == "agent" and view.due_at == monday
    assert view.dial_number == "+59899765432" and (view.reason or "").startswith("Confirmar")
    assert work.next_for(["reclamos"]) is None  # not yet due
    clock.now = monday
    offer = work.next_for(["reclamos"])
    assert offer is not None and offer.id == view.id
    first = work.attempt_ended(offer.id, AttemptResult.NO_ANSWER, at=monday)
    assert first is not None and first.status is CallbackStatus.PENDING
    second = work.attempt_ended(offer.id, AttemptResult.NO_ANSWER, at=monday)
    assert second is not None and second.status is CallbackStatus.FAILED
    assert (second.end_reason, second.last_result, second.attempts) == (
        "max_attempts",
        "no_answer",
        2,
    )
    assert work.backlog()[0].failed == 1


def test_erasing_the_person_cancels_and_empties_her_callbacks(store: Engine) -> None:
    from crm_bridge.persons import PersonRegistry
    from crm_bridge.sync.rights import PersonRights

    person = PersonRegistry(store).register(
        given_names="María", family_names="Pérez", consents=["identificacion"]
    )
    work = CallbackQueue(store, clock=Clock(FRIDAY_1630))
    mine = work.schedule(
        call=CallKey("pbx", "3.1"),
        number="099765432",
        queue="consultas",
        person_id=person.id,
        reason="Avisarle que el pasaporte está pronto",
    )
    other = work.schedule(call=CallKey("pbx", "3.2"), number="098111222", queue="consultas")
    PersonRights(store).erase(person.id, actor_id=None)
    gone = work.get(mine.id)
    assert gone is not None
    assert (gone.status, gone.end_reason, gone.number_raw, gone.number) == (
        CallbackStatus.CANCELLED,
        "cancelled",
        "",
        None,
    )
    assert (gone.reason, gone.person_id) == (None, None)
    kept = work.get(other.id)
    assert kept is not None and kept.status is CallbackStatus.PENDING
    assert kept.number_raw == "098111222"


async def test_changes_are_announced_and_time_changes_are_found(store: Engine) -> None:
    """What the panel's push leans on (agent_api.callback_push): each
    committed change names its queue; the next moment time alone changes
    the offer, and the queues come due in a window."""
    clock = Clock(FRIDAY_1630)
    work = CallbackQueue(store, policy=CallbackPolicy(claim_seconds=60), hours=HOURS, clock=clock)
    told: list[tuple[str, ...]] = []
    work.on_change = told.append
    ivr = StoreIvrServices(store, system="pbx", clock=clock, on_callback=work.announce)
    await ivr.request_callback("2.1", "099123456", "consultas")
    await ivr.request_callback("2.1", "099123456", "consultas")  # the same call: not stored
    assert told == [("consultas",)], told
    # Due the moment it was asked for: announced, never "come due" later.
    offer = work.next_for(["consultas"])
    assert offer is not None and offer.due_at == FRIDAY_1630
    assert work.queues_due_between(FRIDAY_1630 - dt.timedelta(minutes=1), clock.now) == set()
    # After closing on Friday: due on Monday at opening.
    later = work.schedule(
        call=CallKey("pbx", "2.2"),
        number="098765432",
        queue="reclamos",
        at=FRIDAY_1630 + dt.timedelta(hours=2),
    )
    monday_open = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    assert later.due_at == monday_open and told[-1] == ("reclamos",)
    assert work.next_change(clock.now) == monday_open
    assert work.queues_due_between(clock.now, monday_open) == {"reclamos"}
    assert work.queues_due_between(monday_open, monday_open + dt.timedelta(hours=1)) == set()
    # Held: gone from others, shown to its holder, back to all when the hold runs out.
    assert work.claim(offer.id, 7) is not None and told[-1] == ("consultas",)
    held = work.held_by(7)
    assert held is not None and held.id == offer.id and work.held_by(8) is None
    hold_end = FRIDAY_1630 + dt.timedelta(seconds=60)
    assert work.next_change(clock.now) == hold_end
    assert work.queues_due_between(clock.now, hold_end) == {"consultas"}
    clock.now = hold_end + dt.timedelta(seconds=1)
    assert work.held_by(7) is None
    work.release(offer.id, 7)
    assert told[-1] == ("consultas",)
    count = len(told)
    assert work.finish(offer.id, CallbackStatus.CANCELLED)
    assert len(told) == count + 1
    assert not work.finish(offer.id, CallbackStatus.CANCELLED)  # nothing changed: not told
    assert len(told) == count + 1


@pytest.mark.postgres
def test_two_agents_accepting_at_once_one_gets_it(migrated_postgres_url: str) -> None:
    """The claim is one conditional UPDATE: of agents pressing "Llamar ahora"
    together, exactly one holds the callback (no double offer, no double call).
    PostgreSQL only: SQLite serialises writers, so it has no such race."""
    store = make_engine(migrated_postgres_url)
    empty_store(store)
    work = CallbackQueue(store)
    ids = [
        work.schedule(call=CallKey("pbx", f"3.{n}"), number="099123456", queue="consultas").id
        for n in range(10)
    ]
    with ThreadPoolExecutor(6) as pool:
        for callback_id in ids:
            barrier = threading.Barrier(6)

            def take(
                agent: int, callback_id: int = callback_id, barrier: threading.Barrier = barrier
            ) -> bool:
                barrier.wait()
                return work.claim(callback_id, agent) is not None

            winners = [a for a, won in zip(range(6), pool.map(take, range(6)), strict=True) if won]
            assert len(winners) == 1
            held = work.get(callback_id)
            assert held is not None and held.claimed_by == winners[0]
    store.dispose()
