"""After-call work: the pure rules and the adapter over recording controls."""

from __future__ import annotations

import asyncio

from agent_api.after_call import ACW_REASON, AcwBook, AfterCallWork, deadline_seconds
from agent_api.control_fanout import agent_interfaces, on_every_interface
from agent_api.controls import spanish_refusal
from agent_api.exceptions import ControlRefused
from agent_api.testing import RecordingControls
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState, CallKey

A, B = CallKey("pbx", "1.1"), CallKey("pbx", "2.1")


def test_deadline_is_the_queues_wrapuptime_else_the_setting() -> None:
    per_queue = {"consultas": 45.0, "tramites": 0.0}
    assert deadline_seconds("consultas", per_queue, 120.0) == 45.0
    assert deadline_seconds("tramites", per_queue, 120.0) == 120.0  # 0: not set
    assert deadline_seconds(None, per_queue, 90.0) == 90.0


def test_book_ends_only_the_call_it_runs_for() -> None:
    book = AcwBook()
    book.start(7, A, 100.0)
    assert book.start(7, B, 200.0) is not None  # B's replaces A's
    assert book.end(7, A) is None  # saving A later does not end B's
    assert book.end(7, B) is not None and book.of(7) is None


def test_interfaces_from_queuestatus_join_the_configured_ones() -> None:
    snapshot = [
        AgentSnapshot("SIP/ana-movil", "Ana Gómez", ("consultas",), AgentState.AVAILABLE, 0, None),
        AgentSnapshot("PJSIP/4002", "Otro", ("consultas",), AgentState.AVAILABLE, 0, None),
    ]
    assert agent_interfaces(["PJSIP/4001"], "Ana Gómez", snapshot) == (
        "PJSIP/4001",
        "SIP/ana-movil",
    )


async def test_one_refusal_does_not_stop_the_others() -> None:
    calls: list[str] = []

    async def act(interface: str) -> None:
        calls.append(interface)
        if interface == "Local/1@a":
            raise ControlRefused("no", detalle=spanish_refusal("Interface not found"))

    results = await on_every_interface(["Local/1@a", "PJSIP/1"], act)
    assert calls == ["Local/1@a", "PJSIP/1"]
    assert [(r.ok, r.detalle) for r in results] == [
        (False, "El teléfono no está en ninguna cola de la central."),
        (True, ""),
    ]
    assert spanish_refusal("Unable to add interface: Already there") == "Ya está en esa cola."
    assert spanish_refusal("something new") == "La central rechazó la acción."


async def test_pause_at_hangup_unpause_at_save_or_deadline() -> None:
    controls = RecordingControls()
    told: list[dict[str, object]] = []
    acw = AfterCallWork(controls, per_queue={"rapida": 0.05}, default_seconds=60.0)
    acw.interfaces_of = lambda _user: ("PJSIP/1", "Local/1@a")
    acw.notify = lambda _user, frame: told.append(frame)

    acw.call_ended(7, A, "consultas")
    await asyncio.sleep(0.05)
    assert controls.calls == [("pause", "PJSIP/1", ACW_REASON), ("pause", "Local/1@a", ACW_REASON)]
    assert told[-1]["type"] == "acw.started"
    await acw.wrapup_saved(7, B)  # not the call in after-call work: nothing
    assert len(controls.calls) == 2
    await acw.wrapup_saved(7, A)
    assert controls.calls[2:] == [("unpause", "PJSIP/1"), ("unpause", "Local/1@a")]
    assert told[-1] == {
        "type": "acw.ended",
        "call": {"system": "pbx", "linkedid": "1.1"},
        "why": "saved",
    }

    # A queue with wrapuptime: the pause ends by itself when it passes.
    acw.call_ended(7, B, "rapida")
    await asyncio.sleep(0.3)
    assert controls.calls[-2:] == [("unpause", "PJSIP/1"), ("unpause", "Local/1@a")]
    assert told[-1]["why"] == "deadline"
    acw.close()
