"""What the workspace shows for sequences of call events (pure, no browser)."""

from __future__ import annotations

from typing import Any

from agent_api.workspace import (
    CallId,
    Phase,
    Region,
    Wrapup,
    apply,
    apply_all,
    dedupe_path,
    initial,
)

A = {"system": "pbx", "linkedid": "100.1"}
B = {"system": "pbx", "linkedid": "200.1"}


def pop(
    call: dict[str, str], number: str, at: float, path: list[str] | None = None
) -> dict[str, Any]:
    return {
        "type": "pop",
        "call": call,
        "at": at,
        "queue": "consultas",
        "wait_seconds": 4.0,
        "caller": {"number": number, "name": ""},
        "ivr": {"path": path or ["1"], "topic": "cedula"},
    }


def known(call: dict[str, str], person_id: int, name: str) -> dict[str, Any]:
    return {
        "type": "pop.person",
        "call": call,
        "person_status": "identificada",
        "person": {"id": person_id, "given_names": name, "family_names": "Pérez"},
        "history": [
            {"kind": "atencion", "reference": call["linkedid"], "summary": "la llamada actual"},
            {"kind": "atencion", "reference": "old.1", "summary": "anterior"},
        ],
        "open_requests": [{"number": "2026-000001"}],
    }


def answered(call: dict[str, str], at: float) -> dict[str, Any]:
    return {"type": "call.answered", "call": call, "at": at}


def ended(call: dict[str, str], at: float, wrap_up: bool = True) -> dict[str, Any]:
    return {"type": "call.ended", "call": call, "at": at, "outcome": "answered", "wrap_up": wrap_up}


def test_b_ringing_never_retargets_a_wrapup_in_progress() -> None:
    ws, changes = apply_all(
        initial(), [pop(A, "099111111", 1), known(A, 7, "Ana"), answered(A, 2), ended(A, 60)]
    )
    a = CallId("pbx", "100.1")
    assert ws.active_wrapup == a and changes.focus_wrapup == a
    assert [w.id for w in ws.wrapups] == [a]
    # B rings while A's form is half filled: the card shows B, A's form stays active.
    ws, changes = apply(ws, pop(B, "098222222", 70))
    b = CallId("pbx", "200.1")
    assert ws.current == b and changes.ring
    assert ws.active_wrapup == a and changes.added_wrapups == ()
    assert Region.WRAPUP_TABS not in changes.regions
    # B answered: B gets its own form beside A's; A's stays the active one.
    ws, changes = apply(ws, answered(B, 75))
    assert changes.added_wrapups == (b,)
    assert [w.id for w in ws.wrapups] == [a, b] and ws.active_wrapup == a
    # A saved: its form leaves, B's becomes active; B ends: focus to B's form.
    ws, changes = apply(ws, {"type": "wrapup.saved", "call": A})
    assert changes.removed_wrapups == (a,) and ws.active_wrapup == b
    ws, changes = apply(ws, ended(B, 120))
    assert changes.focus_wrapup == b and ws.wrapup(b) is not None and ws.wrapup(b).ended  # type: ignore[union-attr]


def test_unknown_after_known_carries_nothing_of_the_first_person() -> None:
    ws, _ = apply_all(initial(), [pop(A, "099111111", 1), known(A, 7, "Ana")])
    assert ws.current_call is not None and ws.current_call.person.person_id == 7
    # The current call is not history.
    assert [h["reference"] for h in ws.current_call.person.history] == ["old.1"]
    ws, _ = apply(ws, ended(A, 30, wrap_up=False))
    ws, changes = apply_all(
        ws,
        [
            pop(B, "098222222", 40),
            {"type": "pop.person", "call": B, "person_status": "desconocida"},
        ],
    )
    area = ws.current_call.person  # type: ignore[union-attr]
    assert area.status == "desconocida" and area.person is None
    assert area.history == () and area.open_requests == ()
    assert Region.PERSON in changes.regions


def test_late_lookup_of_an_old_call_does_not_touch_the_person_area() -> None:
    ws, _ = apply_all(initial(), [pop(A, "099111111", 1), pop(B, "098222222", 2)])
    ws, changes = apply(ws, known(A, 7, "Ana"))
    assert ws.current == CallId("pbx", "200.1")
    assert Region.PERSON not in changes.regions
    assert ws.current_call.person.status == "buscando"  # type: ignore[union-attr]


def test_a_saved_wrapup_takes_the_ended_call_and_its_person_off_the_screen() -> None:
    ws, _ = apply_all(
        initial(), [pop(A, "099111111", 1), known(A, 7, "Ana"), answered(A, 2), ended(A, 60)]
    )
    # Ended: the card and the person stay while the agent writes the wrap-up.
    assert ws.current == CallId("pbx", "100.1") and ws.current_call.person.person_id == 7  # type: ignore[union-attr]
    ws, changes = apply(ws, {"type": "wrapup.saved", "call": A})
    assert ws.current is None and ws.current_call is None
    assert {Region.CALL, Region.PERSON} <= changes.regions
    # Saved during the call: the live call keeps its card and person.
    ws, _ = apply_all(ws, [pop(B, "098222222", 70), known(B, 8, "Beto"), answered(B, 72)])
    ws, changes = apply(ws, {"type": "wrapup.saved", "call": B})
    assert ws.current == CallId("pbx", "200.1") and Region.PERSON not in changes.regions
    # An older call's wrap-up saved while B is on the card: B stays.
    ws, _ = apply_all(ws, [{"type": "wrapup.select", "call": A}])
    ws, changes = apply(ws, {"type": "wrapup.saved", "call": A})
    assert ws.current == CallId("pbx", "200.1") and Region.CALL not in changes.regions


def test_taken_elsewhere_leaves_the_card_and_no_wrapup() -> None:
    ws, _ = apply_all(initial(), [pop(A, "099111111", 1)])
    ws, changes = apply(ws, {"type": "call.taken", "call": A, "member_name": "Otra"})
    assert ws.current is None and ws.wrapups == ()
    assert ws.call(CallId("pbx", "100.1")).phase is Phase.TAKEN  # type: ignore[union-attr]
    assert Region.PERSON in changes.regions


def test_ivr_path_without_repetition() -> None:
    assert dedupe_path(["consultas", "consultas", " 1 ", "consultas", "2"]) == (
        "consultas",
        "1",
        "2",
    )


def test_control_pending_until_confirmed_then_warning() -> None:
    ws = initial()
    ws, _ = apply(
        ws, {"type": "control.requested", "kind": "pause", "expected_state": "paused", "at": 10}
    )
    assert ws.status.pending is not None
    ws, changes = apply(ws, {"type": "tick", "at": 12})
    assert changes.regions == frozenset() and not ws.status.pending.warned  # type: ignore[union-attr]
    ws, changes = apply(ws, {"type": "tick", "at": 16})
    assert ws.status.pending.warned and Region.STATUS in changes.regions  # type: ignore[union-attr]
    ws, _ = apply(ws, {"type": "agent.state", "state": "paused", "reason": "Almuerzo", "at": 17})
    assert ws.status.pending is None and ws.status.reason == "Almuerzo"


def test_pending_wrapups_at_load_and_after_call_deadline() -> None:
    a = CallId("pbx", "100.1")
    ws = initial([Wrapup(a, "099", "", "consultas", 1.0, ended=True)], pending_count=1)
    assert ws.active_wrapup == a
    ws, _ = apply(
        ws,
        {
            "type": "acw.started",
            "call": A,
            "until": 200.0,
            "failed": [{"interface": "Local/1@a", "detalle": "No está en esa cola."}],
        },
    )
    assert ws.status.acw_failed == (("Local/1@a", "No está en esa cola."),)
    assert ws.status.acw_until == 200.0 and ws.wrapup(a).deadline == 200.0  # type: ignore[union-attr]
    ws, _ = apply(ws, {"type": "acw.ended", "call": A})
    assert ws.status.acw_call is None
    ws, _ = apply(ws, {"type": "wrapup.saved", "call": A})
    assert ws.wrapups == () and ws.pending_count == 0


def test_a_control_confirmed_before_its_request_reached_the_page_is_not_pending() -> None:
    # The route pushes control.requested after Asterisk answered the actions;
    # Asterisk's QueueMemberPause often reaches the page first. Seen in the
    # demo: "En pausa (Descanso)" and, 5 s later, "La central no confirmó".
    ws = initial()
    ws, _ = apply(ws, {"type": "agent.state", "state": "paused", "reason": "Descanso", "at": 10.2})
    ws, _ = apply(
        ws,
        {
            "type": "control.requested",
            "kind": "pause",
            "expected_state": "paused",
            "sent_at": 10.0,
            "at": 10.4,
        },
    )
    assert ws.status.pending is None
    ws, _ = apply(ws, {"type": "tick", "at": 30})
    assert ws.status.pending is None
    # A state from before the request does not confirm it.
    ws, _ = apply(
        ws,
        {
            "type": "control.requested",
            "kind": "pause",
            "expected_state": "paused",
            "sent_at": 40.0,
            "at": 40.2,
        },
    )
    assert ws.status.pending is not None


def test_the_bar_says_cierre_only_once_the_card_says_the_call_ended() -> None:
    # The agent's talk ends (AgentComplete: "En cierre", then the "Cierre"
    # pause) a moment before CallEnded reaches the page: seen in the demo as
    # "En cierre" beside a card still "En llamada".
    ws, _ = apply_all(initial(), [pop(A, "099111111", 1), answered(A, 2)])
    ws, _ = apply(ws, {"type": "agent.state", "state": "on_call", "at": 2})
    ws, _ = apply(ws, {"type": "agent.state", "state": "wrap_up", "at": 60})
    assert ws.status.state == "wrap_up"  # what Asterisk said is kept
    assert ws.shown_status.state == "on_call" and ws.shown_status.since == 2
    ws, _ = apply(ws, {"type": "agent.state", "state": "paused", "reason": "Cierre", "at": 60.1})
    ws, _ = apply(ws, {"type": "acw.started", "call": A, "until": 200.0, "failed": []})
    shown = ws.shown_status
    assert (shown.state, shown.reason, shown.acw_until) == ("on_call", None, None)
    ws, changes = apply(ws, ended(A, 61))
    assert Region.STATUS in changes.regions  # the held state is drawn now
    shown = ws.shown_status
    assert (shown.state, shown.reason, shown.acw_until) == ("paused", "Cierre", 200.0)


def test_a_pause_of_another_reason_during_a_call_is_shown_at_once() -> None:
    ws, _ = apply_all(initial(), [pop(A, "099111111", 1), answered(A, 2)])
    ws, _ = apply(ws, {"type": "agent.state", "state": "paused", "reason": "Almuerzo", "at": 30})
    assert (ws.shown_status.state, ws.shown_status.reason) == ("paused", "Almuerzo")
