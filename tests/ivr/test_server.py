"""The FastAGI server over real TCP sockets, with a fake Asterisk on the other side."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from ivr import agi
from ivr.agi import AgiReply
from ivr.exceptions import AgiHangup
from ivr.flows import DEFAULT_FLOWS_DIR, FlowRegistry, load_flows
from ivr.server import FastAgiServer, Handler
from ivr.services import IvrServices, Person, RequestStatus
from ivr.session import AgiSession
from ivr.testing import (
    FailingIvrServices,
    FakeAsterisk,
    FakeCall,
    InMemoryIvrServices,
    environment_block,
)
from tests.ivr.recorded import RecordedSession, read_sessions

OPEN = dt.datetime(2026, 11, 24, 13, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in Montevideo
TRICKY_NAME = 'Zoë "Niña" Ñandú; EXEC System(touch /tmp/pwned)'

ServerFactory = Callable[..., Coroutine[Any, Any, FastAgiServer]]


@pytest.fixture
def services() -> InMemoryIvrServices:
    return InMemoryIvrServices(
        persons_by_cedula={"12345672": Person("p-1", "María Pérez")},
        requests={
            "2026-000123": RequestStatus("2026-000123", "resuelta"),
            "2047-098765": RequestStatus("2047-098765", "en_proceso"),
        },
        # The caller's number (agi_callerid) is on record for the first request only.
        owners={
            "2026-000123": (("099123456",), "47182934"),
            "2047-098765": (("098000000",), "47182934"),
        },
    )


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    started: list[FastAgiServer] = []

    async def factory(services: IvrServices | None = None, **kwargs: Any) -> FastAgiServer:
        kwargs.setdefault("clock", lambda: OPEN)
        kwargs.setdefault("reply_timeout", 2.0)
        server = FastAgiServer(
            load_flows(DEFAULT_FLOWS_DIR),
            services if services is not None else InMemoryIvrServices(),
            port=0,
            **kwargs,
        )
        await server.start()
        started.append(server)
        return server

    yield factory
    for server in started:
        await server.stop(grace=0.5)


async def until_idle(server: FastAgiServer, finished: int) -> None:
    """Wait (bounded) until `finished` sessions have ended and none is running."""
    async with asyncio.timeout(5):
        # Polling counters the server keeps; there is no event to wait on for them.
        while server.sessions_finished < finished or server.active_sessions:
            await asyncio.sleep(0.01)


async def call(server: FastAgiServer, fake: FakeCall) -> FakeAsterisk:
    asterisk = FakeAsterisk(fake)
    await asterisk.run("127.0.0.1", server.port)
    return asterisk


# --------------------------------------------------------------------- flows end to end


async def test_default_flow_end_to_end(
    make_server: ServerFactory, services: InMemoryIvrServices
) -> None:
    server = await make_server(services)
    asterisk = await call(server, FakeCall(dtmf=["1", "12345672#"]))
    rec = asterisk.record
    assert rec.closed_by_server
    assert rec.variables["ATIENDE_QUEUE"] == "consultas"
    assert rec.variables["ATIENDE_PERSON_ID"] == "p-1"
    assert rec.variables["ATIENDE_TOPIC"] == "consultas"
    assert rec.variables["ATIENDE_IVR_PATH"] == "consultas"
    assert rec.variables["ATIENDE_NOTICE_VERSION"] == "2026-01"
    assert rec.variables["ATIENDE_PRIORITY"] == "0"
    assert rec.variables["ATIENDE_MAX_WAIT"] == "900"
    assert rec.variable_log[-1][0] == "ATIENDE_QUEUE"
    assert rec.parsed[0] == ["GET", "VARIABLE", "CHANNEL(linkedid)"]
    assert services.calls == [
        ("find_person_by_phone", ("099123456",)),
        ("find_person_by_cedula", ("12345672",)),
        ("expected_wait", ("consultas",)),
    ]
    assert rec.prompts.index("atiende/aviso-privacidad") < rec.prompts.index("atiende/pedir-cedula")


async def test_request_status_end_to_end(
    make_server: ServerFactory, services: InMemoryIvrServices
) -> None:
    server = await make_server(services)
    asterisk = await call(server, FakeCall(dtmf=["3", "2026", "123#", None]))
    rec = asterisk.record
    assert ("request_status", ("2026-000123",)) in services.calls
    assert rec.said_digits == ["2026", "000123"]
    assert "atiende/estado-resuelta" in rec.prompts
    assert rec.hung_up_by_ivr
    assert "ATIENDE_QUEUE" not in rec.variables


async def test_a_status_for_another_phone_needs_the_documents_last_digits(
    make_server: ServerFactory, services: InMemoryIvrServices
) -> None:
    server = await make_server(services)
    asterisk = await call(server, FakeCall(dtmf=["3", "2047", "98765#", "2934#", None]))
    rec = asterisk.record
    assert services.verifications == [("2047-098765", "phone"), ("2047-098765", "document")]
    assert rec.prompts.count("atiende/verificar-documento") == 1
    assert rec.said_digits == ["2047", "098765"]
    assert "atiende/estado-en-proceso" in rec.prompts
    # The keyed digits reached the service only: not the channel, not the call's record.
    assert "2934" not in " ".join(value for _, value in rec.variable_log)
    assert "2934" not in repr(services.calls)


async def test_bad_verification_reads_no_status_and_tries_are_limited(
    make_server: ServerFactory, services: InMemoryIvrServices
) -> None:
    server = await make_server(services)
    fake = FakeCall(dtmf=["3", "2047", "98765#", "1111#", "2222#", "3333#", "4444#", None])
    rec = (await call(server, fake)).record
    assert services.verifications == [("2047-098765", "phone")] + [("2047-098765", "document")] * 3
    assert rec.prompts.count("atiende/verificar-documento") == 3
    assert "atiende/solicitud-no-verificada" in rec.prompts
    assert rec.said_digits == []
    assert not any(p.startswith("atiende/estado-") for p in rec.prompts)
    # The fourth try was never asked for: it went to the menu after the status.
    assert "atiende/menu-despues-estado" in rec.prompts


async def test_services_unavailable_apology_then_agent(make_server: ServerFactory) -> None:
    failing = FailingIvrServices()
    server = await make_server(failing)
    asterisk = await call(server, FakeCall(dtmf=["2", "12345672#"]))
    rec = asterisk.record
    assert "atiende/servicio-no-disponible" in rec.prompts
    assert rec.variables["ATIENDE_QUEUE"] == "consultas"
    assert "find_person_by_cedula" in failing.calls


async def test_invalid_cedula_then_valid(
    make_server: ServerFactory, services: InMemoryIvrServices
) -> None:
    server = await make_server(services)
    asterisk = await call(server, FakeCall(dtmf=["1", "12345671#", "12345672#"]))
    assert asterisk.record.prompts.count("atiende/cedula-invalida") == 1
    assert asterisk.record.variables["ATIENDE_PERSON_ID"] == "p-1"
    cedula_lookups = [c for c in services.calls if c[0] == "find_person_by_cedula"]
    assert cedula_lookups == [("find_person_by_cedula", ("12345672",))]


async def test_menu_timeouts_and_invalid_digits_fall_back_to_agent(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    asterisk = await call(server, FakeCall(dtmf=[None, "9", None]))
    rec = asterisk.record
    assert rec.prompts.count("atiende/menu-principal") == 3
    assert rec.variables["ATIENDE_TOPIC"] == "ejecutivo"
    assert rec.variables["ATIENDE_QUEUE"] == "consultas"


async def test_callback_when_wait_is_long(make_server: ServerFactory) -> None:
    services = InMemoryIvrServices(waits={"reclamos": 1800.0})
    server = await make_server(services)
    fake = FakeCall(dtmf=["2", None, None, None, "1"], linkedid="1795344850.7")
    asterisk = await call(server, fake)
    assert services.callbacks == [("1795344850.7", "099123456", "reclamos")]
    assert asterisk.record.hung_up_by_ivr
    assert "ATIENDE_QUEUE" not in asterisk.record.variables


async def test_survey_stores_score_on_the_linkedid(make_server: ServerFactory) -> None:
    services = InMemoryIvrServices()
    server = await make_server(services)
    fake = FakeCall(
        script="survey", dtmf=["7", "5"], uniqueid="1795344853.4", linkedid="1795344853.0"
    )
    asterisk = await call(server, fake)
    assert services.surveys == [("1795344853.0", 5)]
    assert "atiende/encuesta-gracias" in asterisk.record.prompts


async def test_tricky_caller_name_cannot_inject(make_server: ServerFactory) -> None:
    seen: list[AgiReply] = []

    async def echo_name(session: AgiSession) -> None:
        for name in (session.env.caller_name, "multi\nline", 'q"uo\\te'):
            seen.append(await session.send(agi.set_variable("CALLER_NAME", name)))

    server = await make_server(handlers={"echo": echo_name})
    asterisk = await call(server, FakeCall(script="echo", caller_name=TRICKY_NAME))
    rec = asterisk.record
    assert [p[:3] for p in rec.parsed] == [["SET", "VARIABLE", "CALLER_NAME"]] * 3
    assert [v for _, v in rec.variable_log] == [TRICKY_NAME, "multi line", 'q"uo\\te']
    assert all(r.ok for r in seen)
    # The same caller through the default flow: its name never reaches a command.
    server2 = await make_server()
    rec2 = (await call(server2, FakeCall(caller_name=TRICKY_NAME, dtmf=["0"]))).record
    assert not any("EXEC" in line for line in rec2.commands)


# ------------------------------------------------------------------------- bad peers


async def test_client_closing_before_environment_does_not_spin(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    for payload in (b"", b"agi_network: yes\n", b"agi_network: ye"):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(payload)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    # Each session task ends (a spinning one would never finish), and the loop
    # still serves a normal call.
    await until_idle(server, 3)
    asterisk = await call(server, FakeCall(dtmf=["0"]))
    assert asterisk.record.variables["ATIENDE_QUEUE"] == "consultas"


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (a reset counts as closed)."""
    try:
        async with asyncio.timeout(5):
            return await reader.read()
    except ConnectionResetError:
        return b""


async def test_oversize_environment_is_cut(make_server: ServerFactory) -> None:
    server = await make_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"agi_network: yes\n" + b"agi_x: " + b"a" * 5000 + b"\n" + b"agi_y: " + b"b" * 5000
    )
    writer.write(b"\n\n")
    await writer.drain()
    assert await read_all(reader) == b""  # closed, no command sent
    writer.close()
    await until_idle(server, 1)


async def test_slow_environment_is_cut(make_server: ServerFactory) -> None:
    server = await make_server(env_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\n")
    await writer.drain()
    assert await read_all(reader) == b""
    writer.close()


async def test_disallowed_peer_is_closed_at_once(make_server: ServerFactory) -> None:
    server = await make_server(allowed_networks=["10.0.0.0/8"])
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(environment_block(FakeCall()))
    await writer.drain()
    assert await read_all(reader) == b""
    writer.close()
    assert server.sessions_started == 0
    assert server.peer_allowed("10.1.2.3") and not server.peer_allowed("127.0.0.1")
    assert server.peer_allowed("::ffff:10.0.0.1")


async def test_garbage_ends_the_session(make_server: ServerFactory) -> None:
    server = await make_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /ivr HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    assert await read_all(reader) == b""
    writer.close()


async def test_garbage_reply_mid_session_ends_it(make_server: ServerFactory) -> None:
    server = await make_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(environment_block(FakeCall()))
    await writer.drain()
    first = await reader.readline()
    assert first == b"GET VARIABLE CHANNEL(linkedid)\n"
    writer.write(b"<html>hello</html>\n")
    await writer.drain()
    assert await read_all(reader) == b""
    writer.close()


async def test_unknown_route_closes(make_server: ServerFactory) -> None:
    server = await make_server()
    asterisk = await call(server, FakeCall(script="nope"))
    assert asterisk.record.commands == [] and asterisk.record.closed_by_server


async def test_non_coroutine_handlers(make_server: ServerFactory) -> None:
    touched: list[str] = []

    def plain(session: AgiSession) -> None:
        touched.append(session.env.script)

    async def answer_it(session: AgiSession) -> None:
        await session.send(agi.answer())

    def returns_awaitable(session: AgiSession) -> Coroutine[Any, Any, None]:
        return answer_it(session)

    handlers: dict[str, Handler] = {"plain": plain, "legacy": returns_awaitable}
    server = await make_server(handlers=handlers)
    rec_plain = (await call(server, FakeCall(script="plain"))).record
    rec_legacy = (await call(server, FakeCall(script="legacy"))).record
    assert touched == ["plain"] and rec_plain.commands == [] and rec_plain.closed_by_server
    assert rec_legacy.commands == ["ANSWER"] and rec_legacy.closed_by_server
    await until_idle(server, 2)


async def test_510_511_520_replies(make_server: ServerFactory) -> None:
    replies: list[AgiReply] = []
    errors: list[str] = []

    async def tour(session: AgiSession) -> None:
        replies.append(await session.send(agi.AgiCommand("FOO BAR")))
        replies.append(await session.send(agi.AgiCommand("GET DATA")))
        replies.append(await session.send(agi.stream_file("beep")))  # caller hangs up here
        replies.append(await session.send(agi.get_variable("CHANNEL(linkedid)")))
        try:
            await session.send(agi.stream_file("beep"))
        except AgiHangup as err:
            errors.append(str(err))

    server = await make_server(handlers={"tour": tour})
    await call(server, FakeCall(script="tour", hangup_at=3))
    assert [r.code for r in replies] == [510, 520, 200, 200]
    assert replies[1].usage[-1] == "End of proper usage."
    assert replies[2].result == "-1"
    assert replies[3].hangup_notified and replies[3].data == "1795344853.0"
    # After the HANGUP line the session knows; a further command is refused locally.
    assert errors


async def test_hangup_mid_menu_stops_the_flow(make_server: ServerFactory) -> None:
    server = await make_server()
    # commands: 1 linkedid, 2 bienvenida, 3 aviso, 4 SET NOTICE, 5 GET DATA menu
    asterisk = await call(server, FakeCall(hangup_at=5))
    rec = asterisk.record
    # GET DATA answered -1; CHANNEL STATUS met the HANGUP line and 511: a hangup.
    assert rec.verbs()[-2:] == ["GET DATA", "CHANNEL STATUS"]
    assert "ATIENDE_QUEUE" not in rec.variables
    await until_idle(server, 1)
    assert not any(server.missing_prompts.snapshot().values())


async def test_missing_prompts_are_counted_and_the_caller_reaches_an_agent(
    make_server: ServerFactory,
) -> None:
    """No custom prompt installed at all (a fresh Asterisk): every STREAM FILE and
    GET DATA answers -1 on a live channel. The IVR tells that from a hangup,
    goes on with a beep where a key is awaited, and the caller still reaches
    the queue of the key pressed."""
    server = await make_server()
    every = frozenset(p for f in (server.flows.get("default"),) if f for p in f.all_prompts())
    asterisk = await call(server, FakeCall(dtmf=["0"], missing_prompts=every))
    rec = asterisk.record
    assert rec.variables["ATIENDE_QUEUE"] == "consultas"
    assert rec.variables["ATIENDE_TOPIC"] == "ejecutivo"
    assert not rec.hung_up_by_ivr
    # The menu's GET DATA failed, then the same read ran with the core beep.
    menu = rec.prompts.index("atiende/menu-principal")
    assert rec.prompts[menu + 1] == "beep"
    assert rec.verbs().count("CHANNEL STATUS") == 3  # bienvenida, aviso, menu
    await until_idle(server, 1)
    counted = {k: v for k, v in server.missing_prompts.snapshot().items() if v}
    assert counted == {
        "atiende/bienvenida": 1,
        "atiende/aviso-privacidad": 1,
        "atiende/menu-principal": 1,
    }
    # Every prompt of the flows is on /metrics from the start, at 0 until missed,
    # so the alert's increase() sees the first miss.
    assert set(server.missing_prompts.snapshot()) >= every | {"beep"}


async def test_a_missing_core_beep_too_reads_as_silence_not_a_hangup(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    missing = frozenset({"atiende/menu-principal", "atiende/no-se-recibio-opcion", "beep"})
    asterisk = await call(server, FakeCall(dtmf=["1"], missing_prompts=missing))
    rec = asterisk.record
    # Three silent attempts at the menu, then its fallback: an agent.
    assert rec.prompts.count("atiende/menu-principal") == 3
    assert rec.variables["ATIENDE_QUEUE"] == "consultas"
    assert rec.variables["ATIENDE_TOPIC"] == "ejecutivo"
    await until_idle(server, 1)
    counts = server.missing_prompts.snapshot()
    assert counts["atiende/menu-principal"] == 3 and counts["beep"] == 3


async def test_hangup_during_prompt_then_hangup_line_and_511(make_server: ServerFactory) -> None:
    server = await make_server()
    asterisk = await call(server, FakeCall(hangup_at=2))  # during bienvenida
    rec = asterisk.record
    # The next command meets the HANGUP line + 511; nothing after it.
    assert len(rec.commands) == 3
    await until_idle(server, 1)


async def test_asterisk_closing_mid_flow(make_server: ServerFactory) -> None:
    server = await make_server()
    await call(server, FakeCall(close_at=3))
    await until_idle(server, 1)


async def test_silent_asterisk_times_out_without_blocking_others(
    make_server: ServerFactory,
) -> None:
    server = await make_server(reply_timeout=0.5)
    silent = asyncio.create_task(call(server, FakeCall(silent_at=2)))
    normal = await call(server, FakeCall(dtmf=["0"]))
    assert normal.record.variables["ATIENDE_QUEUE"] == "consultas"
    rec = (await silent).record
    assert rec.closed_by_server and len(rec.commands) == 2
    await until_idle(server, 2)


async def test_the_reply_timeout_is_per_command_not_per_call(make_server: ServerFactory) -> None:
    # The session keeps one timer and moves its deadline at every command: a
    # call much longer than the timeout whose replies each come in time runs to
    # the end, and a silence after several replies in time is still cut, also
    # right after a GET DATA (command 5, which may take 10 s more than others).
    server = await make_server(reply_timeout=0.3)
    slow = asyncio.create_task(call(server, FakeCall(dtmf=["0"], reply_delay=0.1)))
    stalled_call = FakeAsterisk(FakeCall(reply_delay=0.1, silent_at=6))
    stalled = asyncio.create_task(stalled_call.run("127.0.0.1", server.port, limit_seconds=5))
    done = (await slow).record
    assert done.variables["ATIENDE_QUEUE"] == "consultas"
    assert len(done.commands) * 0.1 > 3 * 0.3
    rec = await stalled
    assert rec.closed_by_server and len(rec.commands) == 6
    assert rec.commands[4].startswith("GET DATA ")
    await until_idle(server, 2)


async def test_many_sessions_at_once(make_server: ServerFactory) -> None:
    services = InMemoryIvrServices(persons_by_cedula={"12345672": Person("p-1")})
    server = await make_server(services)
    fakes = [
        FakeCall(dtmf=[d, "12345672#"], uniqueid=f"1795344853.{i}")
        for i, d in enumerate(["1", "2"] * 25)
    ]
    results = await asyncio.gather(*(call(server, f) for f in fakes))
    queues = [r.record.variables["ATIENDE_QUEUE"] for r in results]
    assert queues == ["consultas", "reclamos"] * 25
    await until_idle(server, 50)


async def test_score_keyed_right_before_hanging_up_is_kept(make_server: ServerFactory) -> None:
    services = InMemoryIvrServices()
    server = await make_server(services)
    # Command 2 is the survey question (GET DATA); its reply comes after a HANGUP line.
    fake = FakeCall(script="survey", dtmf=["4"], hangup_before_reply_at=2)
    rec = (await call(server, fake)).record
    assert services.surveys == [("1795344853.0", 4)]
    assert len(rec.commands) == 2  # nothing played to a dead channel


async def test_recorded_environments_start_a_flow(
    make_server: ServerFactory, agi_sessions: dict[str, list[RecordedSession]]
) -> None:
    """Every environment block Asterisk sent in the captures, replayed byte for byte."""
    server = await make_server()
    blocks = [
        "".join(line + "\n" for line in session.env_lines).encode("utf-8")
        for sessions in agi_sessions.values()
        for session in sessions
    ]
    assert len(blocks) > 40
    for block in blocks:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(block)
        await writer.drain()
        async with asyncio.timeout(5):
            assert await reader.readline() == b"GET VARIABLE CHANNEL(linkedid)\n"
        writer.close()
    await until_idle(server, len(blocks))


def test_fake_asterisk_environment_matches_the_recordings(recordings: Path) -> None:
    recorded = read_sessions(recordings / "sip_mixed.agi")[0].env_lines
    keys = [line.split(":", 1)[0] for line in recorded if line]
    ours = environment_block(FakeCall()).decode("utf-8").splitlines()
    assert [line.split(":", 1)[0] for line in ours if line] == keys
    assert ours[-1] == "" and recorded[-1] == ""


async def test_flow_edited_on_disk_is_used_by_the_next_call(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    source = (DEFAULT_FLOWS_DIR / "default.yaml").read_text(encoding="utf-8")
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    shutil.copytree(DEFAULT_FLOWS_DIR.parent / "calendars", tmp_path / "calendars")
    path = flows_dir / "default.yaml"
    path.write_text(source, encoding="utf-8")
    os.utime(path, (1_000, 1_000))
    registry = FlowRegistry(flows_dir, check_interval=0.0)
    registry.reload()
    server = FastAgiServer(registry, InMemoryIvrServices(), port=0, clock=lambda: OPEN)
    await server.start()
    try:
        first = (await call(server, FakeCall(dtmf=["0"]))).record
        path.write_text(
            source.replace("queue: consultas\n    priority: 1", "queue: vip\n    priority: 1"),
            encoding="utf-8",
        )
        os.utime(path, (2_000, 2_000))
        second = (await call(server, FakeCall(dtmf=["0"]))).record
        path.write_text("nodes: [broken", encoding="utf-8")
        os.utime(path, (3_000, 3_000))
        third = (await call(server, FakeCall(dtmf=["0"]))).record
    finally:
        await server.stop()
    assert first.variables["ATIENDE_QUEUE"] == "consultas"
    assert second.variables["ATIENDE_QUEUE"] == "vip"
    assert third.variables["ATIENDE_QUEUE"] == "vip"  # broken edit: the running flow stays


async def test_broken_flow_hands_the_call_to_the_fallback_queue(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    (tmp_path / "loop.yaml").write_text(
        """
start: a
on_service_error: a
nodes:
  a: {type: branch, "on": topic, cases: {}, default: b}
  b: {type: branch, "on": topic, cases: {}, default: a}
""",
        encoding="utf-8",
    )
    server = FastAgiServer(
        load_flows(tmp_path), InMemoryIvrServices(), port=0, fallback_queue="consultas"
    )
    await server.start()
    try:
        rec = (await call(server, FakeCall(script="loop"))).record
    finally:
        await server.stop()
    assert rec.variables == {"ATIENDE_QUEUE": "consultas"}


class SlowServices(InMemoryIvrServices):
    """A database that answers, but too late."""

    async def find_person_by_phone(self, phone: str) -> Person | None:
        await asyncio.sleep(30)
        return None


async def test_slow_services_count_as_unavailable_and_block_no_one(
    make_server: ServerFactory,
) -> None:
    server = await make_server(SlowServices(), service_timeout=0.3)
    normal_server = await make_server()
    slow = asyncio.create_task(call(server, FakeCall(dtmf=["0"])))
    # Another call on another server in the same loop goes through meanwhile.
    other = await call(normal_server, FakeCall(dtmf=["0"]))
    assert other.record.variables["ATIENDE_QUEUE"] == "consultas"
    rec = (await slow).record
    assert "atiende/servicio-no-disponible" not in rec.prompts  # phone look-up failure is silent
    assert rec.variables["ATIENDE_QUEUE"] == "consultas"


async def test_stop_ends_sessions_that_hang(make_server: ServerFactory) -> None:
    server = await make_server(reply_timeout=60.0)
    hanging = asyncio.create_task(call(server, FakeCall(silent_at=1)))
    async with asyncio.timeout(5):
        while server.active_sessions == 0:
            await asyncio.sleep(0.01)
    await server.stop(grace=0.1)
    rec = (await hanging).record
    assert rec.closed_by_server and server.active_sessions == 0


async def test_set_and_transfer_nodes_over_agi(tmp_path: Path) -> None:
    (tmp_path / "derivar.yaml").write_text(
        """
start: marcar
on_service_error: fin
nodes:
  marcar:
    type: set
    variables: {ATIENDE_CAMPANA: invierno-2026}
    topic: campana
    next: pasar
  pasar: {type: transfer, extension: "4001"}
  fin: {type: hangup}
""",
        encoding="utf-8",
    )
    server = FastAgiServer(load_flows(tmp_path), InMemoryIvrServices(), port=0)
    await server.start()
    try:
        rec = (await call(server, FakeCall(script="derivar"))).record
    finally:
        await server.stop()
    assert rec.variables["ATIENDE_CAMPANA"] == "invierno-2026"
    assert rec.variables["ATIENDE_TOPIC"] == "campana"
    assert rec.variable_log[-1] == ("ATIENDE_TRANSFER", "4001")
    assert rec.closed_by_server and not rec.hung_up_by_ivr


def queue_log_entries(recordings: Path) -> dict[str, str]:
    """uniqueid -> queue entered, from Asterisk's own queue_log of every scenario."""
    entered: dict[str, str] = {}
    for path in recordings.glob("*.queue_log"):
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split("|")
            if len(fields) > 4 and fields[4] == "ENTERQUEUE":
                entered[fields[1]] = fields[2]
    return entered


async def test_recorded_callers_reach_the_queue_asterisk_logged(
    make_server: ServerFactory,
    recordings: Path,
    agi_sessions: dict[str, list[RecordedSession]],
) -> None:
    """Each recorded caller, keying the digit it keyed then, lands where the queue_log says.

    The recordings' callers pressed 1 (consultas) or 2 (reclamos), or hung up in
    the IVR; here they stay silent at the cédula prompt, which the default flow
    allows, so the hand-off queue must match the ENTERQUEUE of that uniqueid.
    """
    entered = await asyncio.to_thread(queue_log_entries, recordings)
    server = await make_server()
    checked = hung_up = 0
    for name, sessions in agi_sessions.items():
        for session in sessions:
            env = dict(line.split(": ", 1) for line in session.env_lines if ": " in line)
            first = next((e for e in session.exchanges if e.command.startswith("GET DATA")), None)
            if first is None or not first.reply_lines:
                continue
            keyed = first.reply_lines[-1].removeprefix("200 result=")
            fake = FakeCall(
                uniqueid=env["agi_uniqueid"],
                caller_number=env["agi_callerid"],
                caller_name=env["agi_calleridname"],
                channel=env["agi_channel"],
            )
            if keyed == "-1":  # hung up during the menu
                fake.hangup_at = 5
            elif keyed in ("1", "2"):
                fake.dtmf = [keyed]
            else:
                continue
            rec = (await call(server, fake)).record
            expected = entered.get(env["agi_uniqueid"])
            if keyed == "-1":
                assert expected is None and "ATIENDE_QUEUE" not in rec.variables, name
                hung_up += 1
            elif expected is not None:
                assert rec.variables["ATIENDE_QUEUE"] == expected, (name, env["agi_uniqueid"])
                checked += 1
    assert checked >= 40 and hung_up >= 1


async def test_session_cap_refuses_extra_connections(make_server: ServerFactory) -> None:
    server = await make_server(max_sessions=1, reply_timeout=30.0)
    busy = asyncio.create_task(call(server, FakeCall(silent_at=1)))
    async with asyncio.timeout(5):
        while server.active_sessions == 0:
            await asyncio.sleep(0.01)
    refused = (await call(server, FakeCall(dtmf=["0"]))).record
    assert refused.commands == [] and refused.closed_by_server
    await server.stop(grace=0.1)
    await busy


async def test_route_ignores_a_query_string(make_server: ServerFactory) -> None:
    server = await make_server()
    rec = (await call(server, FakeCall(script="survey?origen=cola", dtmf=["5"]))).record
    assert rec.prompts[0] == "atiende/encuesta-pregunta"


async def test_a_status_request_leaves_its_choice_and_topic_never_the_digits(
    make_server: ServerFactory, services: InMemoryIvrServices
) -> None:
    server = await make_server(services)
    asterisk = await call(server, FakeCall(dtmf=["3", "2047", "98765#", None]))
    rec = asterisk.record
    assert ("request_status", ("2047-098765",)) in services.calls
    assert rec.variables["ATIENDE_IVR_PATH"] == "estado"
    assert rec.variables["ATIENDE_TOPIC"] == "estado_solicitud"
    # Set as soon as the menu choice was made, before the year was asked for.
    set_at = rec.commands.index('SET VARIABLE ATIENDE_IVR_PATH "estado"')
    year_at = next(i for i, c in enumerate(rec.commands) if "pedir-anio-solicitud" in c)
    assert set_at < year_at
    values = " ".join(value for _, value in rec.variable_log)
    assert "2047" not in values and "98765" not in values


async def test_a_hangup_while_typing_the_cedula_leaves_only_the_choices_so_far(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    # commands: 1 linkedid, 2-3 prompts, 4 notice, 5 menu, 6 path, 7 topic, 8 GET DATA cédula
    asterisk = await call(server, FakeCall(dtmf=["2", "12345672#"], hangup_at=8))
    rec = asterisk.record
    assert rec.parsed[7][:3] == ["GET", "DATA", "atiende/pedir-cedula"]
    assert rec.variables == {
        "ATIENDE_NOTICE_VERSION": "2026-01",
        "ATIENDE_IVR_PATH": "reclamos",
        "ATIENDE_TOPIC": "reclamos",
    }
