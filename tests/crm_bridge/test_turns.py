"""Walk-in turns: the pure rules and the repository on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, select

from crm_bridge import turn_rules as rules
from crm_bridge.contacts import ContactAttentions
from crm_bridge.db import make_engine
from crm_bridge.exceptions import InvalidValueError, NotFoundError
from crm_bridge.models import Attention, CallSurvey, User
from crm_bridge.turn_rules import TurnStatus, WaitingTurn
from crm_bridge.turns import SERVED_BY_VARIABLE, TurnService, TurnView
from dashboards.channel_figures import channel_counts
from dashboards.report_queries import ReportSpan
from dashboards.walkin_kpi import tally
from telephony.domain import CallKey
from tests.crm_bridge.citizen_support import empty_store

TZ = "America/Montevideo"
# 09:00 in Montevideo (UTC-3).
START = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


# ------------------------------------------------------------------ rules


def _w(i: int, topic: int, minute: int, rank: int = rules.NO_PRIORITY_RANK) -> WaitingTurn:
    return WaitingTurn(i, topic, START + dt.timedelta(minutes=minute), rank)


def test_priority_comes_first_then_the_oldest() -> None:
    turns = [_w(1, 1, 0), _w(2, 1, 5, rank=2), _w(3, 1, 7, rank=1), _w(4, 2, -3)]
    assert rules.pick_next(turns).id == 3  # type: ignore[union-attr]
    assert rules.pick_next(turns, topics={2}).id == 4  # type: ignore[union-attr]
    assert rules.pick_next([_w(1, 1, 0), _w(4, 2, -3)], topics={1}).id == 1  # type: ignore[union-attr]
    assert rules.pick_next(turns, topics={9}) is None
    assert rules.pick_next([]) is None


def test_numbering_labels_and_the_local_day() -> None:
    assert rules.turn_label("A", 7) == "A-007"
    assert rules.next_number(None) == 1 and rules.next_number(41) == 42
    assert rules.next_number(rules.MAX_NUMBER) == 1
    # 02:30 UTC is still the previous day in Montevideo.
    late = dt.datetime(2026, 11, 3, 2, 30, tzinfo=dt.UTC)
    assert rules.service_day(late, TZ) == dt.date(2026, 11, 2)
    assert rules.service_day(late + dt.timedelta(hours=1), TZ) == dt.date(2026, 11, 3)
    with pytest.raises(rules.TurnRuleError):
        rules.service_day(dt.datetime(2026, 11, 3), TZ)
    assert rules.valid_prefix("B") and not rules.valid_prefix("b") and not rules.valid_prefix("AB")


def test_recalls_end_in_a_no_show_and_transitions_are_checked() -> None:
    assert rules.recall(0, 2) == rules.RecallDecision(1, False)
    assert rules.recall(2, 2) == rules.RecallDecision(3, True)
    assert rules.recall(0, 0).no_show
    assert rules.transition("call", TurnStatus.WAITING) is TurnStatus.CALLED
    with pytest.raises(rules.TurnRuleError):
        rules.transition("serve", TurnStatus.WAITING)
    with pytest.raises(rules.TurnRuleError):
        rules.transition("call", TurnStatus.DONE)


def test_priority_categories_are_data() -> None:
    categories = [rules.PriorityCategory("embarazo", "Embarazo", 1)]
    assert rules.priority_rank("embarazo", categories) == 1
    assert rules.priority_rank(None, categories) == rules.NO_PRIORITY_RANK
    with pytest.raises(rules.TurnRuleError):
        rules.priority_rank("vip", categories)


def test_wait_estimate() -> None:
    assert rules.estimate_wait_seconds(0, [300], 1, default_attention_seconds=600) == 0
    assert rules.estimate_wait_seconds(3, [], 1, default_attention_seconds=600) == 1800
    assert rules.estimate_wait_seconds(4, [100, 300, 200], 2, default_attention_seconds=600) == 400
    assert rules.wait_label(30) == "Menos de 1 minuto"
    assert rules.wait_label(61) == "Unos 5 minutos"
    assert rules.wait_label(11 * 60) == "Unos 15 minutos"


def test_a_reception_without_a_turn_is_abandoned_after_the_timeout() -> None:
    timeout = dt.timedelta(minutes=30)
    now = START + dt.timedelta(hours=1)

    def abandoned(minutes_ago: float, **state: bool) -> bool:
        flags = {"has_turn": False, "ended": False, "answered": False, **state}
        arrived = now - dt.timedelta(minutes=minutes_ago)
        return rules.reception_abandoned(arrived, now, timeout, **flags)

    assert abandoned(31)
    assert not abandoned(30)  # exactly the timeout: not yet
    assert not abandoned(5)
    assert not abandoned(90, has_turn=True)  # waits for a desk, however long
    assert not abandoned(90, ended=True)
    assert not abandoned(90, answered=True)  # orientation at reception
    assert rules.reception_cutoff(now, timeout) == now - timeout
    with pytest.raises(rules.TurnRuleError):
        rules.reception_cutoff(now, dt.timedelta(0))
    with pytest.raises(rules.TurnRuleError):
        rules.reception_cutoff(dt.datetime(2026, 11, 2, 12), timeout)


# ------------------------------------------------------------- repository


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    empty_store(engine)
    yield engine
    engine.dispose()


def _centre(store: Engine, clock: Clock) -> tuple[TurnService, int, list[int], list[int]]:
    service = TurnService(store, ContactAttentions(store), timezone=TZ, clock=clock)
    with store.begin() as conn:
        conn.execute(
            insert(User),
            [
                {"id": i, "username": f"u{i}", "display_name": f"U {i}", "role": "ejecutivo"}
                for i in range(1, 30)
            ],
        )
    point = service.create_point("centro", "Centro de Atención Ciudadana", max_recalls=1)
    topics = [
        service.add_topic(point.id, "cedula", "Cédula de identidad", "a").id,
        service.add_topic(point.id, "pagos", "Pagos", "B").id,
    ]
    desks = [
        service.add_desk(point.id, "1", "Puesto 1").id,
        service.add_desk(point.id, "2", "Puesto 2", topic_ids=[topics[1]]).id,
    ]
    service.set_priority("discapacidad", "Persona con discapacidad", 1)
    service.set_priority("embarazo", "Embarazo", 2)
    return service, point.id, topics, desks


def _served(
    service: TurnService, point: int, topic: int, desk: int, clock: Clock, minutes: float = 0
) -> TurnView:
    """A walk-in received, given a turn, called, served for `minutes` and finished."""
    turn = service.give_turn(service.receive(point, user_id=1), topic, user_id=1)
    service.call_next(desk, user_id=7)
    service.serve(turn.id, desk_id=desk, user_id=7, agent="Ana")
    clock.advance(minutes=minutes)
    service.finish(turn.id, desk_id=desk)
    return turn


def test_turns_are_numbered_per_topic_and_day(store: Engine) -> None:
    clock = Clock(START)
    service, point, topics, _desks = _centre(store, clock)
    labels = [service.give_turn(service.receive(point, user_id=1), topics[0], user_id=1).label]
    labels.append(service.give_turn(service.receive(point, user_id=1), topics[0], user_id=1).label)
    labels.append(service.give_turn(service.receive(point, user_id=1), topics[1], user_id=1).label)
    clock.advance(days=1)
    labels.append(service.give_turn(service.receive(point, user_id=1), topics[0], user_id=1).label)
    assert labels == ["A-001", "A-002", "B-001", "A-001"]
    key = service.receive(point, user_id=1)
    service.give_turn(key, topics[0], user_id=1)
    with pytest.raises(InvalidValueError):
        service.give_turn(key, topics[0], user_id=1)  # one turn per attention
    with pytest.raises(rules.TurnRuleError):
        service.give_turn(service.receive(point, user_id=1), topics[0], priority="vip", user_id=1)


def test_a_desk_calls_by_priority_serves_and_closes_the_attention(store: Engine) -> None:
    clock = Clock(START)
    service, point, topics, desks = _centre(store, clock)
    first = service.give_turn(service.receive(point, user_id=1), topics[0], user_id=1)
    clock.advance(minutes=1)
    pagos = service.give_turn(service.receive(point, user_id=1), topics[1], user_id=1)
    clock.advance(minutes=1)
    pregnant = service.give_turn(
        service.receive(point, user_id=1), topics[0], priority="embarazo", user_id=1
    )
    clock.advance(minutes=5)
    # Desk 2 serves only "pagos"; desk 1 every topic, priority first.
    assert service.call_next(desks[1], user_id=8).id == pagos.id  # type: ignore[union-attr]
    clock.advance(seconds=20)
    called = service.call_next(desks[0], user_id=7)
    assert called is not None and called.id == pregnant.id and called.status is TurnStatus.CALLED
    board = service.board(point)
    assert [(c.label, c.desk) for c in board.calling] == [
        ("A-002", "Puesto 1"),
        ("B-001", "Puesto 2"),
    ]
    assert [w.waiting for w in board.waits] == [1, 0]
    clock.advance(minutes=1)
    service.serve(called.id, desk_id=desks[0], user_id=7, agent="Ana")
    clock.advance(minutes=10)
    done = service.finish(called.id, desk_id=desks[0])
    assert done.status is TurnStatus.DONE
    with store.connect() as conn:
        row = conn.execute(select(Attention).where(Attention.linkedid == called.key.linkedid)).one()
    assert row.channel == "presencial" and row.outcome == "answered"
    assert row.wait_seconds == pytest.approx(6 * 60 + 20)  # received to served
    assert row.talk_seconds == pytest.approx(10 * 60)
    assert row.variables[SERVED_BY_VARIABLE] == "7" and row.variables["ATIENDE_TOPIC"] == "cedula"
    assert row.variables["ATIENDE_TURN"] == "A-002"
    # The tablet offers that attention, once.
    offered = service.evaluation_for_desk(desks[0])
    assert offered is not None and offered.id == called.id
    service.evaluate_at_desk(desks[0], called.id, 4, "Muy amable")
    assert service.evaluation_for_desk(desks[0]) is None
    with store.connect() as conn:
        survey = conn.execute(select(CallSurvey)).one()
        score = conn.execute(
            select(Attention.survey_score).where(Attention.linkedid == called.key.linkedid)
        ).scalar_one()
    assert (survey.score, survey.comment, score) == (4, "Muy amable", 4)
    # A specific turn, then recall until no-show (the point allows one recall).
    again = service.call_turn(desks[0], first.id, user_id=7)
    assert service.recall(again.id, desk_id=desks[0]).recalls == 1
    gone = service.recall(again.id, desk_id=desks[0])
    assert gone.status is TurnStatus.NO_SHOW
    with store.connect() as conn:
        outcome = conn.execute(
            select(Attention.outcome).where(Attention.linkedid == first.key.linkedid)
        ).scalar_one()
    assert outcome == "abandoned"
    assert service.call_next(desks[0], user_id=7) is None
    with pytest.raises(rules.TurnRuleError):
        service.serve(gone.id, desk_id=desks[0], user_id=7, agent="Ana")


def test_the_tablet_never_offers_an_older_attention(store: Engine) -> None:
    clock = Clock(START)
    service, point, topics, desks = _centre(store, clock)
    turn = _served(service, point, topics[0], desks[0], clock)
    service.give_turn(service.receive(point, user_id=1), topics[0], user_id=1)
    service.call_next(desks[0], user_id=7)  # the next person is called
    assert service.evaluation_for_desk(desks[0]) is None
    with pytest.raises(InvalidValueError):
        service.evaluate_at_desk(desks[0], turn.id, 5)


def test_a_one_time_evaluation_link(store: Engine) -> None:
    clock = Clock(START)
    service, point, topics, _desks = _centre(store, clock)
    turn = service.give_turn(service.receive(point, user_id=1), topics[0], user_id=1)
    token = service.issue_evaluation_link(turn.key)
    assert len(token) >= 43
    assert service.link_evaluation(token) == turn.key
    assert service.link_evaluation(token[:-1] + "x") is None
    assert service.evaluate_by_link(token, 5)
    assert not service.evaluate_by_link(token, 1)  # single use
    other = service.issue_evaluation_link(turn.key)
    clock.advance(days=4)
    assert service.link_evaluation(other) is None  # expired
    assert not service.evaluate_by_link(other, 2)
    with store.connect() as conn:
        assert conn.execute(select(CallSurvey.score)).scalar_one() == 5


def test_two_desks_calling_next_at_once_never_share_a_turn(store: Engine) -> None:
    clock = Clock(START)
    service, point, topics, _desks = _centre(store, clock)
    many = [service.add_desk(point, f"m{i}", f"Puesto {i + 10}").id for i in range(6)]
    given = {
        service.give_turn(service.receive(point, user_id=1), topics[i % 2], user_id=1).id
        for i in range(24)
    }
    got: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(many))
    lock = threading.Lock()

    def desk(desk_id: int) -> None:
        try:
            barrier.wait()
            while True:
                turn = service.call_next(desk_id, user_id=desk_id)
                if turn is None:
                    return
                with lock:
                    got.append(turn.id)
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=desk, args=(d,)) for d in many]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(got) == sorted(given)  # each turn once, none lost


def test_the_sql_call_order_is_the_rules_order(store: Engine) -> None:
    clock = Clock(START)
    service, point, topics, desks = _centre(store, clock)
    rng = random.Random(15)
    waiting = []
    for _ in range(15):
        clock.advance(seconds=rng.randint(0, 90))
        priority = rng.choice([None, None, "embarazo", "discapacidad"])
        turn = service.give_turn(
            service.receive(point, user_id=1), rng.choice(topics), priority=priority, user_id=1
        )
        rank = rules.priority_rank(priority, service.priorities())
        waiting.append(WaitingTurn(turn.id, turn.topic_id, turn.issued_at, rank))
    expected = []
    remaining = list(waiting)
    while (pick := rules.pick_next(remaining)) is not None:
        expected.append(pick.id)
        remaining.remove(pick)
    called = []
    while (turn := service.call_next(desks[0], user_id=7)) is not None:
        called.append(turn.id)
    assert called == expected


def test_the_evaluation_link_goes_only_to_a_consenting_persons_contact(store: Engine) -> None:
    from crm_bridge.evaluation_send import EvaluationSender
    from crm_bridge.exceptions import ConsentRequiredError
    from crm_bridge.persons import PersonRegistry
    from crm_bridge.responders import OutgoingMessage

    class Sms:
        channel = "sms"

        def __init__(self) -> None:
            self.sent: list[OutgoingMessage] = []

        def send(self, message: OutgoingMessage) -> None:
            self.sent.append(message)

    clock = Clock(START)
    service, point, topics, _desks = _centre(store, clock)
    registry = PersonRegistry(store)
    maria = registry.register(
        given_names="María",
        family_names="Pérez",
        consents=["identificacion", "contacto"],
        phones=["099123456"],
    )
    quiet = registry.register(given_names="Ana", family_names="Sosa", consents=["identificacion"])
    turn = service.give_turn(service.receive(point, user_id=1), topics[0], user_id=1)
    sms = Sms()
    sender = EvaluationSender(service, registry, responders=[sms])
    [contact] = sender.contacts(maria.id)
    sent = sender.send(turn.key, maria.id, contact.key, "https://atiende.example/")
    assert sent.delivered and sent.means == "sms" and "123456" not in sent.destination_masked
    [message] = sms.sent
    token = message.body.rsplit("/evaluacion/", 1)[1]
    assert service.link_evaluation(token) == turn.key
    assert service.evaluate_by_link(token, 3)
    with pytest.raises(ConsentRequiredError):
        sender.send(turn.key, quiet.id, "sms:0", "https://atiende.example/")


def _outcome(store: Engine, key: CallKey) -> tuple[str, dt.datetime | None]:
    with store.connect() as conn:
        row = conn.execute(
            select(Attention.outcome, Attention.ended_at).where(
                Attention.system == key.system, Attention.linkedid == key.linkedid
            )
        ).one()
    return row[0], row[1]


def test_reception_cancels_and_the_sweep_closes_receptions_without_a_turn(store: Engine) -> None:
    clock = Clock(START)
    service, point, topics, desks = _centre(store, clock)
    _served(service, point, topics[0], desks[0], clock, minutes=4)
    before = tally(service.facts(START, START + dt.timedelta(days=1)), clock.now)
    span = ReportSpan(START, START + dt.timedelta(days=1))
    counts_before = channel_counts(store, span)["presencial"]

    cancelled = service.receive(point, user_id=1)
    assert service.cancel_reception(cancelled)
    assert not service.cancel_reception(cancelled)  # once
    assert _outcome(store, cancelled) == ("cancelled", clock.now)
    with pytest.raises(NotFoundError):
        service.give_turn(cancelled, topics[0], user_id=1)  # closed: no turn any more
    waiting = service.give_turn(service.receive(point, user_id=1), topics[1], user_id=1)
    assert not service.cancel_reception(waiting.key)  # has a turn: the desk's to end

    forgotten = service.receive(point, user_id=1)
    clock.advance(minutes=10)
    recent = service.receive(point, user_id=1)
    clock.advance(minutes=25)  # forgotten: 35 minutes old; recent: 25
    assert service.close_abandoned_receptions(dt.timedelta(minutes=30)) == 1
    assert _outcome(store, forgotten) == ("cancelled", clock.now)
    assert _outcome(store, recent)[0] == "in_progress"
    assert _outcome(store, waiting.key)[0] == "in_progress"  # 35 minutes waiting, with a turn
    assert service.close_abandoned_receptions(dt.timedelta(minutes=30)) == 0
    clock.advance(minutes=6)
    assert service.close_abandoned_receptions(dt.timedelta(minutes=30)) == 1
    assert _outcome(store, recent)[0] == "cancelled"
    assert service.turn(waiting.id).status is TurnStatus.WAITING

    # The served walk-in counts as before; the cancelled ones are neither
    # served nor abandoned (the walk-in figures count turns, and they have none).
    after = tally(service.facts(START, START + dt.timedelta(days=1)), clock.now)
    assert [(t.topic, t.served, t.no_shows, t.cancelled) for t in after if t.topic == "cedula"] == [
        (t.topic, t.served, t.no_shows, t.cancelled) for t in before
    ]
    assert after[0].attention_seconds_sum == before[0].attention_seconds_sum == 240
    counts = channel_counts(store, span)["presencial"]
    assert (
        (counts.answered, counts.answered_within, counts.abandoned)
        == (
            counts_before.answered,
            counts_before.answered_within,
            counts_before.abandoned,
        )
        == (1, 1, 0)
    )
    assert counts.attentions == counts_before.attentions + 4
    assert counts.other == 4  # the turn still waiting and the three cancelled
