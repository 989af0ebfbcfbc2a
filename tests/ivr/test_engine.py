"""The pure engine: flow + state + event -> next action, no sockets."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr import engine
from ivr.actions import (
    Action,
    CallInfo,
    CallService,
    DigitsRead,
    Done,
    EndSession,
    Event,
    FindPersonByCedula,
    FindPersonByPhone,
    GetExpectedWait,
    GetRequestStatus,
    HangUp,
    NameReady,
    PlayPrompt,
    PrepareName,
    ReadDigits,
    ReadVariable,
    RequestCallback,
    SayDigits,
    ServiceFailed,
    ServiceReplied,
    SetVariable,
    Started,
    VariableRead,
)
from ivr.exceptions import FlowRuntimeError
from ivr.flows import DEFAULT_FLOWS_DIR, Flow, FlowRegistry, load_flow, parse_flow
from ivr.services import Person, RequestStatus, document_ends_with

OPEN = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in Montevideo
CLOSED = dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.UTC)  # Tuesday 20:00
CALL = CallInfo("1795344853.0", "099123456", "María Pérez", "PJSIP/pstn-00000000")


def default_flow() -> Flow:
    return load_flow(DEFAULT_FLOWS_DIR / "default.yaml")


Responder = Callable[[Action], Event]


def drive(
    flow: Flow,
    digits: list[str],
    service: Callable[[object], Event] | None = None,
    now: dt.datetime = OPEN,
    call: CallInfo = CALL,
    name_sound: str | None = "atiende-nombres/abc",
) -> tuple[list[Action], engine.CallState]:
    """Run the engine like the adapter would, answering actions from a script."""
    keyed = list(digits)
    actions: list[Action] = []
    decision = engine.start(Started(call, now))
    for _ in range(500):
        action = decision.action
        actions.append(action)
        if isinstance(action, HangUp | EndSession):
            return actions, decision.state
        event: Event
        if isinstance(action, ReadVariable):
            event = VariableRead("1795344853.0")
        elif isinstance(action, ReadDigits):
            event = DigitsRead(keyed.pop(0) if keyed else "", timed_out=not keyed)
        elif isinstance(action, CallService):
            event = service(action.request) if service else ServiceReplied(None)
        elif isinstance(action, PrepareName):
            event = NameReady(name_sound)
        else:
            event = Done()
        decision = engine.step(flow, decision.state, event)
    raise AssertionError("flow did not end")


def variables(actions: list[Action]) -> dict[str, str]:
    return {a.name: a.value for a in actions if isinstance(a, SetVariable)}


def prompts(actions: list[Action]) -> list[str]:
    return [a.prompt for a in actions if isinstance(a, PlayPrompt | ReadDigits)]


def test_first_action_reads_the_linkedid() -> None:
    decision = engine.start(Started(CALL, OPEN))
    assert decision.action == ReadVariable("CHANNEL(linkedid)")


def test_out_of_hours_plays_message_and_hangs_up() -> None:
    actions, _ = drive(default_flow(), [], now=CLOSED)
    assert prompts(actions) == [
        "atiende/bienvenida",
        "atiende/fuera-de-horario",
        "atiende/despedida",
    ]
    assert isinstance(actions[-1], HangUp)
    assert "ATIENDE_QUEUE" not in variables(actions)


def test_out_of_hours_offers_a_callback() -> None:
    requests: list[object] = []

    def service(request: object) -> Event:
        requests.append(request)
        return ServiceReplied(None)

    actions, _ = drive(default_flow(), ["1"], service, now=CLOSED)
    assert requests == [RequestCallback("1795344853.0", "099123456", "consultas")]
    assert variables(actions)["ATIENDE_CALLBACK"] == "consultas"
    assert variables(actions)["ATIENDE_IVR_PATH"] == "callback"
    assert prompts(actions)[-1] == "atiende/llamada-agendada-fuera-de-horario"
    assert isinstance(actions[-1], HangUp)
    assert "ATIENDE_QUEUE" not in variables(actions)


def known_by_phone(request: object) -> Event:
    if isinstance(request, FindPersonByPhone):
        return ServiceReplied(Person("p-9", "María José Pérez Núñez"))
    return ServiceReplied(None)


def test_a_caller_known_by_phone_confirms_once_and_is_not_asked_the_cedula() -> None:
    actions, _ = drive(default_flow(), ["1", "1"], known_by_phone)
    # The first name only is ever said.
    assert [a for a in actions if isinstance(a, PrepareName)] == [PrepareName("María")]
    said = prompts(actions)
    start = said.index("atiende/si-usted-es")
    assert said[start : start + 3] == [
        "atiende/si-usted-es",
        "atiende-nombres/abc",
        "atiende/confirmar-marque-1",
    ]
    assert "atiende/pedir-cedula" not in said
    assert not any(isinstance(a, CallService) and isinstance(a.request, FindPersonByCedula)
                   for a in actions)  # fmt: skip
    assert variables(actions)["ATIENDE_PERSON_ID"] == "p-9"
    assert variables(actions)["ATIENDE_QUEUE"] == "consultas"
    assert "María" not in " ".join(variables(actions).values())


def test_someone_else_on_a_known_number_is_asked_the_cedula() -> None:
    actions, _ = drive(default_flow(), ["2", "1", "12345672#"], known_by_phone)
    assert "atiende/pedir-cedula" in prompts(actions)
    assert "ATIENDE_PERSON_ID" not in variables(actions)


def test_without_a_voice_for_names_the_caller_is_asked_without_the_name() -> None:
    actions, _ = drive(default_flow(), ["1", "1"], known_by_phone, name_sound=None)
    said = prompts(actions)
    assert "atiende/confirmar-titular" in said and "atiende/si-usted-es" not in said
    assert variables(actions)["ATIENDE_PERSON_ID"] == "p-9"


def test_first_names_only() -> None:
    assert engine.first_name("María José Pérez") == "María"
    assert engine.first_name("  Zoë  ") == "Zoë"
    assert engine.first_name("J.") == ""
    assert engine.first_name("") == ""
    assert engine.first_name("Ana123 Pérez") == ""


def test_holiday_is_closed() -> None:
    turismo = dt.datetime(2026, 4, 2, 13, 0, tzinfo=dt.UTC)
    actions, _ = drive(default_flow(), [], now=turismo)
    assert "atiende/fuera-de-horario" in prompts(actions)


def test_notice_comes_before_any_data_is_asked() -> None:
    actions, _ = drive(default_flow(), ["1", "12345672"])
    notice_at = next(
        i for i, a in enumerate(actions) if a == PlayPrompt("atiende/aviso-privacidad")
    )
    first_read = next(i for i, a in enumerate(actions) if isinstance(a, ReadDigits))
    first_service = next(i for i, a in enumerate(actions) if isinstance(a, CallService))
    assert notice_at < first_read and notice_at < first_service
    version_at = next(
        i
        for i, a in enumerate(actions)
        if isinstance(a, SetVariable) and a.name == "ATIENDE_NOTICE_VERSION"
    )
    assert version_at < first_read


def test_consultas_with_valid_cedula_goes_to_queue_with_person() -> None:
    def service(request: object) -> Event:
        if isinstance(request, FindPersonByCedula):
            assert request.cedula == "12345672"
            return ServiceReplied(Person("p-17", "María Pérez"))
        return ServiceReplied(None)

    actions, state = drive(default_flow(), ["1", "12345672"], service)
    got = variables(actions)
    assert got["ATIENDE_QUEUE"] == "consultas"
    assert got["ATIENDE_PERSON_ID"] == "p-17"
    assert got["ATIENDE_TOPIC"] == "consultas"
    assert got["ATIENDE_IVR_PATH"] == "consultas"
    assert got["ATIENDE_NOTICE_VERSION"] == "2026-01"
    assert got["ATIENDE_PRIORITY"] == "0" and got["ATIENDE_MAX_WAIT"] == "900"
    last_set = [a for a in actions if isinstance(a, SetVariable)][-1]
    assert last_set.name == "ATIENDE_QUEUE"  # the dialplan keys on it: set it last
    assert isinstance(actions[-1], EndSession) and state.finished


def test_invalid_cedula_is_refused_then_retried() -> None:
    wrong = "12345671"
    actions, _ = drive(default_flow(), ["2", wrong, "12345672"])
    assert prompts(actions).count("atiende/cedula-invalida") == 1
    services = [a.request for a in actions if isinstance(a, CallService)]
    assert FindPersonByCedula("12345672") in services
    assert FindPersonByCedula(wrong) not in services
    assert variables(actions)["ATIENDE_QUEUE"] == "reclamos"


def test_menu_no_input_then_invalid_then_fallback_to_agent() -> None:
    actions, _ = drive(default_flow(), ["", "7", ""])
    p = prompts(actions)
    assert p.count("atiende/menu-principal") == 3
    assert "atiende/no-se-recibio-opcion" in p and "atiende/opcion-invalida" in p
    got = variables(actions)
    assert got["ATIENDE_QUEUE"] == "consultas" and got["ATIENDE_TOPIC"] == "ejecutivo"
    assert got["ATIENDE_PRIORITY"] == "1"


def _owned_by(phone: str, document: str) -> Callable[[object], Event]:
    """A store whose one request belongs to a person with this phone and document."""

    def service(request: object) -> Event:
        if (
            isinstance(request, GetRequestStatus)
            and request.number == "2026-000123"
            and (
                request.caller_phone == phone
                or document_ends_with(document, request.document_digits)
            )
        ):
            return ServiceReplied(RequestStatus(request.number, "en_proceso"))
        return ServiceReplied(None)

    return service


def test_request_status_is_read_to_the_phone_on_record() -> None:
    actions, _ = drive(default_flow(), ["3", "2026", "123", ""], _owned_by("099123456", "x"))
    asked = [a.request for a in actions if isinstance(a, CallService)]
    assert GetRequestStatus("2026-000123", caller_phone="099123456") in asked
    says = [a.digits for a in actions if isinstance(a, SayDigits)]
    assert says == ["2026", "000123"]
    assert "atiende/estado-en-proceso" in prompts(actions)
    assert "atiende/verificar-documento" not in prompts(actions)  # no digits asked
    assert isinstance(actions[-1], HangUp)


def test_another_phone_keys_the_documents_last_digits() -> None:
    owner = _owned_by("098000000", "47182934")
    actions, state = drive(default_flow(), ["3", "2026", "123", "2934", ""], owner)
    assert prompts(actions).count("atiende/verificar-documento") == 1
    asked = [a.request for a in actions if isinstance(a, CallService)]
    assert GetRequestStatus("2026-000123", document_digits="2934") in asked
    assert "atiende/estado-en-proceso" in prompts(actions)
    # The keyed digits live in that one request: not in the call's state, not in
    # a repr (logs), not on the channel.
    assert "2934" not in repr(state) and "2934" not in repr(asked)
    assert all("2934" not in a.value for a in actions if isinstance(a, SetVariable))


def test_wrong_digits_three_times_read_nothing() -> None:
    owner = _owned_by("098000000", "47182934")
    actions, _ = drive(default_flow(), ["3", "2026", "123", "1111", "22", "3333", "0"], owner)
    p = prompts(actions)
    assert p.count("atiende/verificar-documento") == 3
    assert p.count("atiende/verificacion-incorrecta") == 2
    assert "atiende/solicitud-no-verificada" in p
    assert not any(isinstance(a, SayDigits) for a in actions)
    assert not any(x.startswith("atiende/estado-") for x in p)
    # Then, as before, 0 for an agent.
    got = variables(actions)
    assert got["ATIENDE_QUEUE"] == "consultas" and got["ATIENDE_IVR_PATH"] == "estado,ejecutivo"


def test_unknown_request_reads_the_same_as_unverified() -> None:
    actions, _ = drive(default_flow(), ["3", "2026", "999", "1234", "1234", "1234", "0"])
    p = prompts(actions)
    assert "atiende/solicitud-no-verificada" in p and p.count("atiende/verificar-documento") == 3
    got = variables(actions)
    assert got["ATIENDE_QUEUE"] == "consultas" and got["ATIENDE_IVR_PATH"] == "estado,ejecutivo"


def test_document_suffix_rule() -> None:
    assert document_ends_with("4.718.293-4", "2934")
    assert document_ends_with("47182934", "934")
    assert not document_ends_with("47182934", "34")  # too short to prove anything
    assert not document_ends_with("47182934", "12934")
    assert not document_ends_with(None, "2934") and not document_ends_with("47182934", None)
    assert not document_ends_with("47182934", "29a4")


def test_services_down_apologise_and_route_to_agent() -> None:
    actions, _ = drive(default_flow(), ["1", "12345672"], lambda r: ServiceFailed("down"))
    p = prompts(actions)
    assert "atiende/servicio-no-disponible" in p
    assert variables(actions)["ATIENDE_QUEUE"] == "consultas"
    assert isinstance(actions[-1], EndSession)


def test_long_wait_offers_a_callback() -> None:
    def service(request: object) -> Event:
        if isinstance(request, GetExpectedWait):
            return ServiceReplied(1200.0)
        return ServiceReplied(None)

    actions, _ = drive(default_flow(), ["0", "1"], service)
    asked = [a.request for a in actions if isinstance(a, CallService)]
    assert RequestCallback("1795344853.0", "099123456", "consultas") in asked
    assert "atiende/llamada-agendada" in prompts(actions)
    assert "ATIENDE_QUEUE" not in variables(actions)
    assert variables(actions)["ATIENDE_CALLBACK"] == "consultas"
    assert isinstance(actions[-1], HangUp)


def test_callback_declined_queues_normally() -> None:
    def service(request: object) -> Event:
        return ServiceReplied(1200.0 if isinstance(request, GetExpectedWait) else None)

    actions, _ = drive(default_flow(), ["0", "2"], service)
    assert variables(actions)["ATIENDE_QUEUE"] == "consultas"


def test_unusable_caller_number_is_never_looked_up() -> None:
    call = CallInfo("1.1", 'x"; EXEC', "", "")
    actions, _ = drive(default_flow(), ["0"], call=call)
    asked = [a.request for a in actions if isinstance(a, CallService)]
    assert not any(isinstance(r, FindPersonByPhone) for r in asked)


def test_survey_flow_records_score() -> None:
    flow = load_flow(DEFAULT_FLOWS_DIR / "survey.yaml")
    actions, _ = drive(flow, ["9", "4"])
    asked = [a.request for a in actions if isinstance(a, CallService)]
    assert [(r.linkedid, r.score) for r in asked] == [("1795344853.0", 4)]  # type: ignore[union-attr]
    assert "atiende/encuesta-opcion-invalida" in prompts(actions)


def test_a_loop_without_actions_is_stopped(tmp_path: Path) -> None:
    text = """
start: a
on_service_error: a
nodes:
  a: {type: branch, "on": topic, cases: {}, default: b}
  b: {type: branch, "on": topic, cases: {}, default: a}
"""
    flow = parse_flow(text, "loop.yaml", "loop", tmp_path)
    decision = engine.start(Started(CALL, OPEN))
    with pytest.raises(FlowRuntimeError, match="loops"):
        engine.step(flow, decision.state, VariableRead("1.2"))


def test_wrong_event_is_refused() -> None:
    flow = default_flow()
    decision = engine.start(Started(CALL, OPEN))
    decision = engine.step(flow, decision.state, VariableRead("1.2"))
    with pytest.raises(FlowRuntimeError):
        engine.step(flow, decision.state, DigitsRead("1"))


SMALL = """
start: saludo
on_service_error: fin
nodes:
  saludo:
    type: play
    prompts: [atiende/bienvenida, beep]
    next: marcar
  marcar:
    type: set
    variables: {ATIENDE_CAMPANA: invierno-2026}
    topic: campana
    next: quien
  quien:
    type: identify
    by: phone
    found: pasar
    not_found: fin
  pasar:
    type: transfer
    extension: "4001"
  fin:
    type: hangup
"""


def test_set_identify_by_phone_and_transfer(tmp_path: Path) -> None:
    flow = parse_flow(SMALL, "small.yaml", "small", tmp_path)

    def service(request: object) -> Event:
        assert request == FindPersonByPhone("099123456")
        return ServiceReplied(Person("p-9"))

    actions, state = drive(flow, [], service)
    assert prompts(actions) == ["atiende/bienvenida", "beep"]
    got = variables(actions)
    assert got["ATIENDE_CAMPANA"] == "invierno-2026"
    assert got["ATIENDE_TRANSFER"] == "4001"
    assert got["ATIENDE_TOPIC"] == "campana" and got["ATIENDE_PERSON_ID"] == "p-9"
    assert "ATIENDE_QUEUE" not in got
    assert isinstance(actions[-1], EndSession) and state.finished


def test_unknown_phone_hangs_up(tmp_path: Path) -> None:
    flow = parse_flow(SMALL, "small.yaml", "small", tmp_path)
    actions, _ = drive(flow, [], lambda r: ServiceReplied(None))
    assert isinstance(actions[-1], HangUp)
    assert "ATIENDE_TRANSFER" not in variables(actions)


def test_untrusted_ids_never_reach_the_services() -> None:
    flow = load_flow(DEFAULT_FLOWS_DIR / "survey.yaml")
    bad = CallInfo("1; DROP TABLE", "099123456", "", "")
    decision = engine.start(Started(bad, OPEN))
    decision = engine.step(flow, decision.state, VariableRead("not-an-id"))
    assert decision.state.linkedid == ""
    decision = engine.step(flow, decision.state, DigitsRead("5"))
    # No usable linkedid: the score is not stored under a made-up id.
    assert not isinstance(decision.action, CallService)


def test_calendar_file_edit_reloads_the_flow(tmp_path: Path) -> None:
    (tmp_path / "feriados.yaml").write_text("holidays: []\n", encoding="utf-8")
    text = """
start: horario
on_service_error: cerrado
nodes:
  horario:
    type: hours
    schedule: {tue: ["09:00-18:00"]}
    calendar: feriados.yaml
    open: abierto
    closed: cerrado
  abierto: {type: play, prompts: [atiende/menu-principal], next: cerrado}
  cerrado: {type: hangup}
"""
    (tmp_path / "h.yaml").write_text(text, encoding="utf-8")
    os.utime(tmp_path / "feriados.yaml", (1_000, 1_000))
    now = [0.0]
    registry = FlowRegistry(tmp_path, check_interval=1.0, clock=lambda: now[0])
    registry.reload()
    flow = registry.get("h")
    assert flow is not None
    assert "atiende/menu-principal" in prompts(drive(flow, [])[0])
    (tmp_path / "feriados.yaml").write_text(
        "holidays:\n  - date: 2026-11-24\n    name: cierre\n", encoding="utf-8"
    )
    os.utime(tmp_path / "feriados.yaml", (2_000, 2_000))
    now[0] = 2.0
    flow = registry.get("h")
    assert flow is not None
    assert "atiende/menu-principal" not in prompts(drive(flow, [])[0])


def test_unknown_cedula_drops_a_person_matched_by_phone() -> None:
    def service(request: object) -> Event:
        if isinstance(request, FindPersonByPhone):
            return ServiceReplied(Person("p-phone"))
        return ServiceReplied(None)

    # Not confirmed (silence), then a cédula nobody holds: no person at all.
    actions, _ = drive(default_flow(), ["", "1", "12345672"], service)
    assert "atiende/persona-no-encontrada" in prompts(actions)
    assert "ATIENDE_PERSON_ID" not in variables(actions)
    kept, _ = drive(default_flow(), ["1", "0"], service)  # confirmed: the phone match stays
    assert variables(kept)["ATIENDE_PERSON_ID"] == "p-phone"
