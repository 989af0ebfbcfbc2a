"""After-call work: the pure rules and the adapter over recording controls."""

from __future__ import annotations

import asyncio

from agent_api.after_call import (
    ACW_REASON,
    AcwBook,
    AfterCallWork,
    acw_interfaces,
    acw_unpause_interfaces,
    deadline_seconds,
)
from agent_api.control_fanout import agent_interfaces, on_every_interface
from agent_api.controls import spanish_refusal
from agent_api.exceptions import ControlRefused
from agent_api.testing import RecordingControls
from agent_api.ws import PopHub
from telephony.agents import AgentSnapshot
from telephony.domain import (
    AgentInterval,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallKey,
    CallRecord,
    Outcome,
    QueueLeg,
)

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
    # A page drawn now (a reload, a reconnect) gets the same frame.
    assert acw.started_frame(7) == told[-1] and acw.started_frame(8) is None
    await acw.wrapup_saved(7, B)  # not the call in after-call work: nothing
    assert len(controls.calls) == 2
    await acw.wrapup_saved(7, A)
    assert acw.started_frame(7) is None
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


async def test_a_pause_taken_during_after_call_work_outlives_it() -> None:
    # The agent paused "Almuerzo" while in "Cierre": neither saving the
    # wrap-up nor the deadline may make them available at lunch.
    controls = RecordingControls()
    snapshot = [
        AgentSnapshot("PJSIP/1", "Ana", ("consultas",), AgentState.PAUSED, 0, ACW_REASON),
        AgentSnapshot("Local/1@a", "Ana", ("consultas",), AgentState.PAUSED, 0, ACW_REASON),
    ]
    acw = AfterCallWork(controls, per_queue={"rapida": 0.05}, default_seconds=60.0)
    acw.interfaces_of = lambda _user: ("PJSIP/1", "Local/1@a")
    acw.snapshot = lambda: snapshot
    acw.call_ended(7, A, "consultas")
    await asyncio.sleep(0.05)
    snapshot[0] = AgentSnapshot("PJSIP/1", "Ana", ("consultas",), AgentState.PAUSED, 1, "Almuerzo")
    await acw.wrapup_saved(7, A)
    assert controls.calls[2:] == [("unpause", "Local/1@a")]
    # The deadline ending it: the same.
    snapshot[1] = AgentSnapshot("Local/1@a", "Ana", ("consultas",), AgentState.PAUSED, 1, None)
    acw.call_ended(7, B, "rapida")
    for _ in range(100):
        if acw.book.of(7) is None:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)
    assert [c for c in controls.calls[3:] if c[0] == "unpause"] == []
    # Still in "Cierre" (or available): made available as before.
    snapshot[0] = AgentSnapshot("PJSIP/1", "Ana", ("consultas",), AgentState.AVAILABLE, 2, None)
    assert acw_unpause_interfaces(("PJSIP/1", "Local/1@a"), snapshot) == ("PJSIP/1",)
    acw.close()


async def test_the_pause_ends_by_itself_at_the_limit_in_the_clocks_time() -> None:
    # Nobody saves the wrap-up (the demo's simulated agents, an agent who
    # walked away): at the maximum the agent is available again; the wrap-up
    # itself stays pending (WrapupStore), only the pause ends. The demo's clock
    # runs `speed` times faster than the wall: 20 of its seconds at x40.
    controls = RecordingControls()
    told: list[dict[str, object]] = []
    now = [1000.0]
    wall = [5000.0]
    acw = AfterCallWork(
        controls, default_seconds=20.0, clock=lambda: now[0], speed=40.0, wall=lambda: wall[0]
    )
    acw.interfaces_of = lambda _user: ("PJSIP/1",)
    acw.notify = lambda _user, frame: told.append(frame)
    acw.call_ended(7, A, None)
    acw_now = acw.book.of(7)
    assert acw_now is not None and acw_now.until == 1020.0
    await asyncio.sleep(0.01)
    assert controls.calls == [("pause", "PJSIP/1", ACW_REASON)]  # not before the limit
    # The agent is told the wall's time the pause ends at (0.5 s from now),
    # not the simulated clock's (20 s ahead): seen as minutes ahead in the demo.
    assert told[0]["type"] == "acw.started" and told[0]["until"] == 5000.5
    # A reload during the pause: the same wall-clock end, not the PBX clock's.
    assert acw.started_frame(7) == told[0]
    for _ in range(200):  # 0.5 s of the wall; a loaded machine gets up to 10 s
        if told and told[-1]["type"] == "acw.ended":
            break
        await asyncio.sleep(0.05)
    assert controls.calls == [("pause", "PJSIP/1", ACW_REASON), ("unpause", "PJSIP/1")]
    assert told[-1]["why"] == "deadline" and acw.book.of(7) is None
    assert acw.started_frame(7) is None
    await acw.wrapup_saved(7, A)  # saving it later: the agent is already available
    assert len(controls.calls) == 2
    acw.close()


class _RecordingAcw:
    """Stands for AfterCallWork: records when the hub starts after-call work."""

    def __init__(self) -> None:
        self.started: list[tuple[int, CallKey, str | None]] = []

    def call_ended(self, user_id: int, call: CallKey, queue: str | None) -> None:
        self.started.append((user_id, call, queue))


def test_after_call_work_starts_when_the_agent_hangs_up_not_after_the_survey() -> None:
    # The caller stays on the line for the post-call survey after the agent
    # hangs up: the "Cierre" pause must start at the agent's AgentComplete
    # (on-call interval closed), else the queue offers the agent a new call
    # before the pause and pauses them in the middle of it.
    hub = PopHub(None)
    hub.set_interfaces({"PJSIP/4001": 7, "PJSIP/4002": 8})
    acw = _RecordingAcw()
    hub.after_call = acw
    iface, member = "PJSIP/4001", "Ana"
    hub.publish([CallAnswered(10.0, A, "consultas", iface, member, 4.0)])
    # Another agent's call ending its talk does not start Ana's after-call work.
    other = AgentInterval("pbx", "PJSIP/4002", "Bruno", AgentState.ON_CALL, 5.0, 30.0)
    hub.publish(
        [
            AgentStateChanged(
                30.0, "pbx", "PJSIP/4002", "Bruno", AgentState.AVAILABLE, None, None, other
            )
        ]
    )
    assert acw.started == []
    talk = AgentInterval("pbx", iface, member, AgentState.ON_CALL, 10.0, 40.0)
    hub.publish(
        [AgentStateChanged(40.0, "pbx", iface, member, AgentState.WRAP_UP, None, None, talk)]
    )
    assert acw.started == [(7, A, "consultas")]
    # The survey ends: the call ends, and the pause is not started again.
    leg = QueueLeg("consultas", 6.0, 1, 40.0, Outcome.ANSWERED, member, iface, 10.0, 4.0, 30.0)
    record = CallRecord(A, "099123456", "", 5.0, Outcome.ANSWERED, ended_at=70.0, legs=(leg,))
    hub.publish([CallEnded(70.0, record)])
    assert acw.started == [(7, A, "consultas")]


def test_a_call_without_agent_complete_starts_after_call_work_at_its_end() -> None:
    hub = PopHub(None)
    hub.set_interfaces({"PJSIP/4001": 7})
    acw = _RecordingAcw()
    hub.after_call = acw
    hub.publish([CallAnswered(10.0, B, "consultas", "PJSIP/4001", "Ana", 4.0)])
    leg = QueueLeg(
        "consultas", 6.0, 1, 40.0, Outcome.ANSWERED, "Ana", "PJSIP/4001", 10.0, 4.0, 30.0
    )
    record = CallRecord(B, "099123456", "", 5.0, Outcome.ANSWERED, ended_at=40.0, legs=(leg,))
    hub.publish([CallEnded(40.0, record)])
    assert acw.started == [(7, B, "consultas")]


def test_after_call_work_pauses_the_interfaces_asterisk_has_in_queues() -> None:
    # The demo (and a desk phone plus a softphone) configure interfaces that
    # are not queue members: pausing them is refused ("Interface not found")
    # and the agent was warned on every call about a phone that takes none.
    snapshot = [
        AgentSnapshot("PJSIP/4001", "Ana Gómez", ("consultas",), AgentState.AVAILABLE, 0, None),
        AgentSnapshot("PJSIP/4002", "Otro", ("consultas",), AgentState.AVAILABLE, 0, None),
    ]
    configured = ["PJSIP/4001", "Local/4001@agents/n"]
    assert acw_interfaces(configured, "Ana Gómez", snapshot) == ("PJSIP/4001",)
    # A member interface Asterisk lists under the agent's name is paused too.
    snapshot.append(
        AgentSnapshot("SIP/ana-movil", "Ana Gómez", ("reclamos",), AgentState.AVAILABLE, 0, None)
    )
    assert acw_interfaces(configured, "Ana Gómez", snapshot) == ("PJSIP/4001", "SIP/ana-movil")
    # Asterisk lists none of them (QueueStatus not seen yet): try every configured one.
    assert acw_interfaces(configured, "Ana Gómez", []) == tuple(configured)
