"""StoreIvrServices on real PostgreSQL: each service, the IVR's own scenarios, a dead database."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from citizen.cedula import check_digit
from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine
from crm_bridge.ivr_services import StoreIvrServices
from crm_bridge.models import Attention, CallbackRequest, CallSurvey, TicketSequence
from crm_bridge.organisms import Directory
from crm_bridge.persons import ConsentCategory, PersonRegistry
from crm_bridge.sla import office_hours
from crm_bridge.tickets import TicketService
from ivr.exceptions import ServicesUnavailable
from ivr.flows import DEFAULT_FLOWS_DIR, load_flows
from ivr.server import FastAgiServer
from ivr.services import IvrServices, Person, RequestStatus
from ivr.testing import FakeAsterisk, FakeCall
from telephony.domain import CallKey, CallRecord, HangupSide, Outcome, QueueLeg
from tests.crm_bridge.citizen_support import empty_store

SYSTEM = "pbx-montevideo"
# Tuesday 24 November 2026, 10:00 in Montevideo: the centre is open.
OPEN = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)
C = ConsentCategory


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Engine]:
    fixture = "migrated_postgres_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(fixture))
    empty_store(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def services(store: Engine) -> StoreIvrServices:
    return StoreIvrServices(store, system=SYSTEM, clock=lambda: OPEN)


def answered_call(
    linkedid: str,
    *,
    queue: str = "consultas",
    answered_at: dt.datetime = OPEN,
    wait: float = 60.0,
    system: str = SYSTEM,
    variables: dict[str, str] | None = None,
    outcome: Outcome = Outcome.ANSWERED,
) -> CallRecord:
    answered = answered_at.timestamp()
    joined = answered - wait
    leg = QueueLeg(
        queue=queue,
        joined_at=joined,
        position=1,
        left_at=answered,
        outcome=Outcome.ANSWERED,
        agent="Ana Gómez",
        agent_interface="PJSIP/1001",
        answered_at=answered,
        wait_seconds=wait,
        talk_seconds=120.0,
    )
    return CallRecord(
        key=CallKey(system, linkedid),
        caller_number="099123456",
        caller_name="María Pérez",
        arrived_at=joined - 20,
        outcome=outcome,
        hangup_side=HangupSide.CALLER,
        queue_joined_at=joined,
        answered_at=answered,
        ended_at=answered + 120,
        legs=(leg,),
        wait_seconds=wait,
        talk_seconds=120.0,
        variables=variables or {},
    )


def attention(engine: Engine, linkedid: str, system: str = SYSTEM) -> Attention | None:
    return AttentionRepository(engine).get(system, linkedid)


# ------------------------------------------------------------------ each service


def test_it_is_an_ivr_services(services: StoreIvrServices) -> None:
    implementation: IvrServices = services
    assert implementation is services


async def test_find_person_by_cedula(services: StoreIvrServices, store: Engine) -> None:
    person = PersonRegistry(store).register(
        given_names="María",
        family_names="Pérez",
        consents=[C.IDENTIFICATION],
        document_type="ci",
        document_number="12345672",
    )
    assert await services.find_person_by_cedula("12345672") == Person(str(person.id), "María Pérez")
    unknown = "2345678" + str(check_digit("2345678"))  # valid, nobody registered
    assert await services.find_person_by_cedula(unknown) is None
    assert await services.find_person_by_cedula("12345671") is None  # bad check digit


async def test_find_person_by_phone_only_with_consent_and_unambiguous(
    services: StoreIvrServices, store: Engine
) -> None:
    registry = PersonRegistry(store)
    ana = registry.register(
        given_names="Ana",
        family_names="Gómez",
        consents=[C.IDENTIFICATION, C.CONTACT],
        phones=["099 123 456"],
    )
    found = await services.find_person_by_phone("099123456")
    assert found == Person(str(ana.id), "Ana Gómez")
    assert await services.find_person_by_phone("+59899123456") == found
    assert await services.find_person_by_phone("anonymous") is None
    # A second person on the same line: the number no longer says who calls.
    registry.register(
        given_names="Luis",
        family_names="Gómez",
        consents=[C.IDENTIFICATION, C.CONTACT],
        phones=["099123456"],
    )
    assert await services.find_person_by_phone("099123456") is None
    registry.set_consent(ana.id, C.CONTACT, False)  # Ana withdraws: only Luis holds it
    luis = await services.find_person_by_phone("099123456")
    assert luis is not None and luis.display_name == "Luis Gómez"


def _owner(store: Engine) -> int:
    return (
        PersonRegistry(store)
        .register(
            given_names="Ana",
            family_names="Suárez",
            consents=[C.IDENTIFICATION, C.CONTACT],
            document_type="ci",
            document_number="4.718.293-4",
            phones=["099 123 456"],
        )
        .id
    )


async def test_request_status_in_the_ivrs_words(services: StoreIvrServices, store: Engine) -> None:
    directory = Directory(store)
    org = directory.create_organism("BPS", "BPS")
    tickets = TicketService(store, business_hours=office_hours(), clock=lambda: OPEN)
    number = tickets.create(
        channel="telefonico",
        request_type="reclamo",
        topic="Pensión",
        organism_id=org.id,
        person_id=_owner(store),
    ).number
    expected = RequestStatus(number, "recibida")
    assert await services.request_status(number, caller_phone="099123456") == expected
    tickets.respond(number, actor_id=None, body="Resuelto", destination="x")
    resolved = RequestStatus(number, "resuelta")
    assert await services.request_status(number, caller_phone="+59899123456") == resolved
    assert await services.request_status("2026-999999", caller_phone="099123456") is None
    assert await services.request_status("2026-12") is None


async def test_request_status_only_to_a_verified_caller(
    services: StoreIvrServices, store: Engine
) -> None:
    org = Directory(store).create_organism("BPS", "BPS")
    tickets = TicketService(store, business_hours=office_hours(), clock=lambda: OPEN)
    owner = _owner(store)
    number = tickets.create(
        channel="telefonico", request_type="reclamo", topic="Pensión", organism_id=org.id,
        person_id=owner,
    ).number  # fmt: skip
    found = RequestStatus(number, "recibida")
    # Anyone typing the sequential number: nothing.
    assert await services.request_status(number) is None
    assert await services.request_status(number, caller_phone="098000000") is None
    # The document's last digits (3 or 4), from any phone.
    assert await services.request_status(number, document_digits="2934") == found
    assert await services.request_status(number, document_digits="934") == found
    assert await services.request_status(number, document_digits="1234") is None
    assert await services.request_status(number, document_digits="34") is None
    # A phone kept without consent any more verifies nobody.
    PersonRegistry(store).set_consent(owner, C.CONTACT, False)
    assert await services.request_status(number, caller_phone="099123456") is None
    # A ticket without a person is read to nobody.
    orphan = tickets.create(
        channel="web", request_type="consulta", topic="Horarios", organism_id=org.id
    ).number
    assert await services.request_status(orphan, document_digits="2934") is None


async def test_expected_wait_is_the_median_of_recent_answers_in_the_queue(
    services: StoreIvrServices, store: Engine
) -> None:
    assert await services.expected_wait("consultas") == 0.0
    minute = dt.timedelta(minutes=1)
    AttentionRepository(store).upsert_records(
        [
            answered_call("1.1", wait=30, answered_at=OPEN - 5 * minute),
            answered_call("1.2", wait=90, answered_at=OPEN - 10 * minute),
            answered_call("1.3", wait=600, answered_at=OPEN - 20 * minute),
            # Outside the 30-minute window, or another queue: not counted.
            answered_call("1.4", wait=5000, answered_at=OPEN - 45 * minute),
            answered_call("1.5", wait=7000, queue="reclamos", answered_at=OPEN - minute),
        ]
    )
    assert await services.expected_wait("consultas") == 90.0
    assert await services.expected_wait("reclamos") == 7000.0
    assert await services.expected_wait("tramites") == 0.0
    few = StoreIvrServices(store, system=SYSTEM, clock=lambda: OPEN, wait_sample=2)
    assert await few.expected_wait("consultas") == 60.0  # median of the last two: 30, 90


async def test_expected_wait_counts_callers_still_waiting(
    services: StoreIvrServices, store: Engine
) -> None:
    minute = dt.timedelta(minutes=1)

    def waiting(linkedid: str, joined: dt.datetime, queue: str = "reclamos") -> CallRecord:
        record = answered_call(linkedid, queue=queue, outcome=Outcome.IN_PROGRESS)
        leg = replace(
            record.legs[0],
            joined_at=joined.timestamp(),
            left_at=None,
            outcome=Outcome.IN_PROGRESS,
            agent=None,
            agent_interface=None,
            answered_at=None,
            wait_seconds=None,
            talk_seconds=None,
        )
        return replace(
            record,
            queue_joined_at=joined.timestamp(),
            answered_at=None,
            ended_at=None,
            legs=(leg,),
            wait_seconds=None,
            talk_seconds=None,
            hangup_side=HangupSide.UNKNOWN,
            arrived_at=joined.timestamp() - 20,
        )

    repo = AttentionRepository(store)
    # Nobody answered in reclamos lately; one caller has waited 12 minutes, another 3.
    repo.upsert_records([waiting("8.1", OPEN - 12 * minute), waiting("8.2", OPEN - 3 * minute)])
    assert await services.expected_wait("reclamos") == 720.0
    # A snapshot never closed, from this morning, does not count.
    repo.upsert_records([waiting("8.3", OPEN - 300 * minute)])
    assert await services.expected_wait("reclamos") == 720.0
    # Answered calls that waited longer than anyone now waiting: their median wins.
    repo.upsert_records(
        [
            answered_call(f"8.{i}", queue="reclamos", wait=1500, answered_at=OPEN - minute)
            for i in (4, 5, 6)
        ]
    )
    assert await services.expected_wait("reclamos") == 1500.0
    assert await services.expected_wait("consultas") == 0.0


async def test_request_callback_once_per_call(services: StoreIvrServices, store: Engine) -> None:
    await services.request_callback("1795344850.7", "099123456", "reclamos")
    await services.request_callback("1795344850.7", "098000000", "consultas")  # a retry
    await services.request_callback("1795344850.9", "anonymous", "consultas")
    with store.connect() as conn:
        rows = conn.execute(select(CallbackRequest).order_by(CallbackRequest.linkedid)).all()
    assert [(r.system, r.linkedid, r.number_raw, r.number, r.queue, r.status) for r in rows] == [
        (SYSTEM, "1795344850.7", "099123456", "+59899123456", "reclamos", "pending"),
        (SYSTEM, "1795344850.9", "anonymous", None, "consultas", "pending"),
    ]


async def test_survey_on_an_attention_already_written(
    services: StoreIvrServices, store: Engine
) -> None:
    repo = AttentionRepository(store)
    repo.upsert_records([answered_call("2.1", outcome=Outcome.IN_PROGRESS)])
    repo.upsert_records([answered_call("2.1", system="pbx-salto")])  # same linkedid elsewhere
    await services.record_survey("2.1", 4)
    row = attention(store, "2.1")
    assert row is not None and row.survey_score == 4
    other = attention(store, "2.1", system="pbx-salto")
    assert other is not None and other.survey_score is None
    # The final record the bridge writes afterwards keeps the score.
    repo.upsert_records([answered_call("2.1")])
    row = attention(store, "2.1")
    assert row is not None and row.survey_score == 4 and row.outcome == "answered"


async def test_survey_before_the_attention_reaches_it_when_written(
    services: StoreIvrServices, store: Engine
) -> None:
    await services.record_survey("3.1", 2)
    await services.record_survey("3.1", 5)  # the caller changed their mind: the last counts
    assert attention(store, "3.1") is None
    with store.connect() as conn:
        kept = conn.execute(select(CallSurvey.system, CallSurvey.score)).all()
    assert [tuple(r) for r in kept] == [(SYSTEM, 5)]
    AttentionRepository(store).upsert_records([answered_call("3.1")])
    row = attention(store, "3.1")
    assert row is not None and row.survey_score == 5


async def test_survey_score_out_of_range(services: StoreIvrServices) -> None:
    for score in (0, 6, -1):
        with pytest.raises(ValueError, match="1 to 5"):
            await services.record_survey("4.1", score)


def test_notice_version_and_person_survive_bridge_rewrites(store: Engine) -> None:
    repo = AttentionRepository(store)
    variables = {"ATIENDE_NOTICE_VERSION": "2026-01", "ATIENDE_TOPIC": "reclamos"}
    repo.upsert_records([answered_call("5.1", variables=variables, outcome=Outcome.IN_PROGRESS)])
    person = PersonRegistry(store).register(
        given_names="Ana", family_names="Gómez", consents=[C.IDENTIFICATION]
    )
    assert PersonRegistry(store).link_attention(SYSTEM, "5.1", person.id)
    assert not PersonRegistry(store).link_attention(SYSTEM, "no-such-call", person.id)
    repo.upsert_records([answered_call("5.1", variables=variables)])
    row = attention(store, "5.1")
    assert row is not None
    assert (row.notice_version, row.person_id, row.outcome) == ("2026-01", person.id, "answered")
    long_version = {"ATIENDE_NOTICE_VERSION": "v" * 100}
    repo.upsert_records([answered_call("5.2", variables=long_version)])
    cut = attention(store, "5.2")
    assert cut is not None and cut.notice_version == "v" * 32
    repo.upsert_records([answered_call("5.3")])
    none = attention(store, "5.3")
    assert none is not None and none.notice_version is None


def test_the_person_the_ivr_identified_is_linked_when_the_bridge_writes(store: Engine) -> None:
    person = PersonRegistry(store).register(
        given_names="Ana", family_names="Gómez", consents=[C.IDENTIFICATION]
    )
    repo = AttentionRepository(store)
    # Identified mid-call: the first snapshot has no ATIENDE_PERSON_ID yet.
    repo.upsert_records([answered_call("6.1", outcome=Outcome.IN_PROGRESS)])
    first = attention(store, "6.1")
    assert first is not None and first.person_id is None
    identified = {"ATIENDE_PERSON_ID": str(person.id)}
    repo.upsert_records([answered_call("6.1", variables=identified)])
    repo.upsert_records([answered_call("6.2", variables=identified)])  # first write
    for linkedid in ("6.1", "6.2"):
        row = attention(store, linkedid)
        assert row is not None and row.person_id == person.id
    # Values that name nobody are kept as variables and link nothing.
    for index, value in enumerate([str(person.id + 1000), f"{person.id}abc", "-1", "", "9" * 30]):
        repo.upsert_records([answered_call(f"7.{index}", variables={"ATIENDE_PERSON_ID": value})])
        row = attention(store, f"7.{index}")
        assert row is not None and row.person_id is None
        assert row.variables["ATIENDE_PERSON_ID"] == value


# ------------------------------------------------------------- database down


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_dead_database_is_services_unavailable() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/atiende"
    engine = make_engine(url, connect_args={"connect_timeout": 2})
    services = StoreIvrServices(engine, system=SYSTEM)
    calls: list[Callable[[], Coroutine[Any, Any, object]]] = [
        lambda: services.find_person_by_cedula("12345672"),
        lambda: services.find_person_by_phone("099123456"),
        lambda: services.request_status("2026-000123"),
        lambda: services.expected_wait("consultas"),
        lambda: services.request_callback("1.1", "099123456", "consultas"),
        lambda: services.record_survey("1.1", 5),
    ]
    try:
        for make_call in calls:
            with pytest.raises(ServicesUnavailable, match="unavailable") as caught:
                await asyncio.wait_for(make_call(), timeout=30)
            assert "099123456" not in str(caught.value) and "12345672" not in str(caught.value)
    finally:
        engine.dispose()


async def test_a_silent_database_is_services_unavailable_after_the_timeout() -> None:
    # Accepts TCP connections and never answers: PostgreSQL's handshake hangs.
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/atiende"
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    with ThreadPoolExecutor(max_workers=1) as executor:
        services = StoreIvrServices(engine, system=SYSTEM, executor=executor, timeout=0.2)
        try:
            with pytest.raises(ServicesUnavailable, match="did not answer"):
                await services.find_person_by_cedula("12345672")
        finally:
            silent.close()  # the stuck connection attempt fails now
    engine.dispose()


# ------------------------------------------------- the IVR's scenarios, on the store

ServerFactory = Callable[[IvrServices], Coroutine[Any, Any, FastAgiServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    started: list[FastAgiServer] = []

    async def factory(services: IvrServices) -> FastAgiServer:
        server = FastAgiServer(
            load_flows(DEFAULT_FLOWS_DIR), services, port=0, clock=lambda: OPEN, reply_timeout=5.0
        )
        await server.start()
        started.append(server)
        return server

    yield factory
    for server in started:
        await server.stop(grace=0.5)


async def run_call(server: FastAgiServer, fake: FakeCall) -> FakeAsterisk:
    asterisk = FakeAsterisk(fake)
    await asterisk.run("127.0.0.1", server.port)
    return asterisk


async def test_default_flow_identifies_the_registered_person(
    make_server: ServerFactory, services: StoreIvrServices, store: Engine
) -> None:
    person = PersonRegistry(store).register(
        given_names="María",
        family_names="Pérez",
        consents=[C.IDENTIFICATION],
        document_type="ci",
        document_number="1.234.567-2",
    )
    server = await make_server(services)
    rec = (await run_call(server, FakeCall(dtmf=["1", "12345672#"]))).record
    assert rec.variables["ATIENDE_PERSON_ID"] == str(person.id)
    assert rec.variables["ATIENDE_QUEUE"] == "consultas"
    assert rec.variables["ATIENDE_NOTICE_VERSION"] == "2026-01"


async def test_request_status_read_back_from_a_stored_ticket(
    make_server: ServerFactory, services: StoreIvrServices, store: Engine
) -> None:
    org = Directory(store).create_organism("BPS", "BPS")
    with store.begin() as conn:  # the 123rd request of 2026
        conn.execute(TicketSequence.__table__.insert().values(year=2026, last_value=122))
    tickets = TicketService(store, business_hours=office_hours(), clock=lambda: OPEN)
    number = tickets.create(
        channel="web",
        request_type="consulta",
        topic="Aguinaldo",
        organism_id=org.id,
        person_id=_owner(store),
    ).number
    assert number == "2026-000123"
    tickets.respond(number, actor_id=None, body="Se paga en diciembre", destination="x")
    server = await make_server(services)
    # The fake caller's number (099123456) is the person's phone on record (she
    # confirms she is the holder with 1, then asks for the status with 3).
    rec = (await run_call(server, FakeCall(dtmf=["1", "3", "2026", "123#", None]))).record
    assert rec.said_digits == ["2026", "000123"]
    assert "atiende/estado-resuelta" in rec.prompts
    assert "atiende/verificar-documento" not in rec.prompts
    # From another number: the document's last four digits, keyed.
    other = FakeCall(dtmf=["3", "2026", "123#", "2934#", None], caller_number="098000000")
    rec = (await run_call(server, other)).record
    assert rec.prompts.count("atiende/verificar-documento") == 1
    assert "atiende/estado-resuelta" in rec.prompts
    wrong = FakeCall(
        dtmf=["3", "2026", "123#", "1111#", "2222#", "3333#"], caller_number="098000000"
    )
    rec = (await run_call(server, wrong)).record
    assert rec.said_digits == [] and "atiende/solicitud-no-verificada" in rec.prompts


async def test_callback_stored_when_the_queue_is_slow(
    make_server: ServerFactory, services: StoreIvrServices, store: Engine
) -> None:
    AttentionRepository(store).upsert_records(
        [
            answered_call(
                "9.1", queue="reclamos", wait=1800, answered_at=OPEN - dt.timedelta(minutes=2)
            )
        ]
    )
    server = await make_server(services)
    fake = FakeCall(dtmf=["2", None, None, None, "1"], linkedid="1795344850.7")
    rec = (await run_call(server, fake)).record
    assert rec.hung_up_by_ivr and "ATIENDE_QUEUE" not in rec.variables
    with store.connect() as conn:
        rows = conn.execute(select(CallbackRequest.linkedid, CallbackRequest.queue)).all()
    assert [tuple(r) for r in rows] == [("1795344850.7", "reclamos")]


async def test_survey_from_the_ivr_lands_on_the_attention(
    make_server: ServerFactory, services: StoreIvrServices, store: Engine
) -> None:
    AttentionRepository(store).upsert_records([answered_call("1795344853.0")])
    server = await make_server(services)
    fake = FakeCall(
        script="survey", dtmf=["7", "5"], uniqueid="1795344853.4", linkedid="1795344853.0"
    )
    rec = (await run_call(server, fake)).record
    assert "atiende/encuesta-gracias" in rec.prompts
    row = attention(store, "1795344853.0")
    assert row is not None and row.survey_score == 5


async def test_dead_database_apology_then_agent(make_server: ServerFactory) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/atiende"
    engine = make_engine(url, connect_args={"connect_timeout": 2})
    try:
        server = await make_server(StoreIvrServices(engine, system=SYSTEM))
        rec = (await run_call(server, FakeCall(dtmf=["2", "12345672#"]))).record
    finally:
        engine.dispose()
    assert "atiende/servicio-no-disponible" in rec.prompts
    assert rec.variables["ATIENDE_QUEUE"] == "consultas"
