"""Validated AMI actions: nothing a user types can add a header or an action."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.ami.actions import (
    CoreShowChannels,
    Filter,
    Hangup,
    Originate,
    QueueAdd,
    QueuePause,
    QueueRemove,
    QueueStatus,
    Redirect,
    check_value,
    serialize,
)
from telephony.exceptions import InvalidActionValue

# Every code point that could end a header line or corrupt the stream: what
# Unicode calls Cc (C0, DEL, C1) plus the two Unicode line separators.
CONTROL_CHARS = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"] + [
    "\u2028",
    "\u2029",
]
SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029"),
    max_size=60,
)


def known(channel: str) -> bool:
    return channel in {"PJSIP/4001-0000000a", "Local/4001@agents-00000004;2"}


def test_control_chars_cover_crlf_nul_and_c1() -> None:
    # Derived from the AMI framing: CR and LF end a header, NUL ends a C string in
    # Asterisk, NEL (U+0085) and the separators end a line for many readers.
    for char in ("\r", "\n", "\x00", "\x85", "\x7f", "\t", "\u2028"):
        assert char in CONTROL_CHARS


@given(
    prefix=SAFE_TEXT,
    control=st.sampled_from(CONTROL_CHARS),
    suffix=SAFE_TEXT,
)
def test_any_value_with_a_control_char_is_refused(prefix: str, control: str, suffix: str) -> None:
    with pytest.raises(InvalidActionValue) as caught:
        QueuePause(interface="PJSIP/4001", paused=True, reason=prefix + control + suffix)
    assert caught.value.field == "reason"


@given(value=st.text(max_size=80))
def test_accepted_values_serialise_to_one_header_line(value: str) -> None:
    try:
        action = QueuePause(interface="PJSIP/4001", paused=True, reason=value)
    except InvalidActionValue:
        return
    wire = serialize(action).decode("utf-8")
    # One line per header plus the blank line, however the reader splits lines.
    headers = action.to_headers()
    assert wire.endswith("\r\n\r\n")
    assert len(wire[:-4].splitlines()) == len(headers)
    assert f"Reason: {value}\r\n" in wire if value else "Reason" not in wire


@given(name=st.from_regex(r"[A-Za-z0-9_]{1,20}", fullmatch=True), value=SAFE_TEXT)
def test_originate_variables_are_one_header_each(name: str, value: str) -> None:
    try:
        action = Originate(
            channel="PJSIP/4001", context="agents", exten="4001", variables={name: value}
        )
    except InvalidActionValue as err:
        assert "," in value or err.field.startswith("variables")
        return
    lines = serialize(action).decode("utf-8").split("\r\n")
    assert lines.count(f"Variable: {name}={value}") == 1
    assert sum(line.startswith("Variable: ") for line in lines) == 1


def test_crlf_injection_in_reason_is_refused_and_named() -> None:
    hostile = "Almuerzo\r\n\r\nAction: Originate\r\nChannel: PJSIP/999"
    with pytest.raises(InvalidActionValue) as caught:
        QueuePause(interface="PJSIP/4001", paused=True, reason=hostile)
    assert caught.value.field == "reason"
    assert "U+000D" in str(caught.value)


def test_lengths_are_bounded() -> None:
    with pytest.raises(InvalidActionValue):
        check_value("x", "a" * 257)
    assert check_value("x", "a" * 256) == "a" * 256
    with pytest.raises(InvalidActionValue):
        QueuePause(interface="PJSIP/" + "a" * 200, paused=True)


@pytest.mark.parametrize(
    "interface",
    [
        "PJSIP/4001",
        "Local/4001@agents/n",
        "Local/99100001@callers-00000000;1",
        "SIP/10.0.0.1:5060-00000001",
        "IAX2/peer-1",
        "DAHDI/1-1",
    ],
)
def test_real_interfaces_are_accepted(interface: str) -> None:
    action = QueuePause(interface=interface, paused=False, queue="consultas")
    assert ("Interface", interface) in action.to_headers()


@pytest.mark.parametrize(
    "interface",
    [
        "4001",  # no technology
        "PJSIP/",  # no resource
        "Foo/4001",  # unknown technology
        "pjsip/4001",  # Asterisk technology names are matched as registered
        "PJSIP/40 01",
        "PJSIP/4001,foo",  # a comma would add application arguments
        'PJSIP/"4001"',
    ],
)
def test_malformed_interfaces_are_refused(interface: str) -> None:
    with pytest.raises(InvalidActionValue) as caught:
        QueuePause(interface=interface, paused=True)
    assert caught.value.field == "interface"


def test_queue_pause_headers() -> None:
    action = QueuePause(
        action_id="a-1", interface="PJSIP/4003", paused=True, queue="reclamos", reason="Almuerzo"
    )
    assert action.to_headers() == (
        ("Action", "QueuePause"),
        ("ActionID", "a-1"),
        ("Interface", "PJSIP/4003"),
        ("Paused", "true"),
        ("Queue", "reclamos"),
        ("Reason", "Almuerzo"),
    )
    # No queue: Asterisk pauses the member in every queue.
    all_queues = dict(QueuePause(interface="PJSIP/4003", paused=False).to_headers())
    assert "Queue" not in all_queues
    assert all_queues["Paused"] == "false"


def test_queue_add_and_remove() -> None:
    add = dict(
        QueueAdd(
            queue="consultas", interface="PJSIP/4004", member_name="Diego Ñandú", penalty=2
        ).to_headers()
    )
    assert add["Action"] == "QueueAdd"
    assert add["MemberName"] == "Diego Ñandú"
    assert add["Penalty"] == "2"
    with pytest.raises(InvalidActionValue):
        QueueAdd(queue="consultas;x", interface="PJSIP/4004")
    remove = dict(QueueRemove(queue="consultas", interface="PJSIP/4004").to_headers())
    assert remove == {
        "Action": "QueueRemove",
        "ActionID": remove["ActionID"],
        "Queue": "consultas",
        "Interface": "PJSIP/4004",
    }


def test_originate_is_async_with_a_unique_action_id() -> None:
    first = Originate(channel="PJSIP/4001", context="agents", exten="4001", caller_id="Centro")
    second = Originate(channel="PJSIP/4001", context="agents", exten="4001")
    assert first.action_id != second.action_id
    headers = dict(first.to_headers())
    assert headers["Async"] == "true"
    assert headers["Context"] == "agents"
    assert headers["Priority"] == "1"
    assert not Originate.idempotent
    assert QueuePause.idempotent


def test_only_actions_safe_to_repeat_are_marked_idempotent() -> None:
    # Sent twice, these either act twice (Originate rings again, Redirect moves
    # the channel again) or answer differently (QueueAdd: "Already there").
    for action in (Originate, Redirect, Hangup, QueueAdd, QueueRemove):
        assert not action.idempotent, action.name
    for action in (QueuePause, CoreShowChannels, QueueStatus, Filter):
        assert action.idempotent, action.name


def test_originate_needs_a_destination_and_an_allowed_application() -> None:
    with pytest.raises(InvalidActionValue):
        Originate(channel="PJSIP/4001")
    with pytest.raises(InvalidActionValue) as caught:
        Originate(channel="PJSIP/4001", application="System", data="touch /tmp/pwned")
    assert caught.value.field == "application"
    ok = dict(Originate(channel="PJSIP/4001", application="Playback", data="beep").to_headers())
    assert ok["Application"] == "Playback"


def test_originate_variable_names_and_commas() -> None:
    with pytest.raises(InvalidActionValue):
        Originate(channel="PJSIP/4001", context="a", exten="1", variables={"A-B": "x"})
    with pytest.raises(InvalidActionValue):
        Originate(channel="PJSIP/4001", context="a", exten="1", variables={"A": "x,CDR(foo)=y"})


def test_redirect_and_hangup_refuse_unknown_channels() -> None:
    hangup = Hangup(channel="PJSIP/4001-0000000a", channel_exists=known)
    assert dict(hangup.to_headers())["Channel"] == "PJSIP/4001-0000000a"
    with pytest.raises(InvalidActionValue) as caught:
        Hangup(channel="PJSIP/4002-0000000b", channel_exists=known)
    assert caught.value.field == "channel"
    redirect = Redirect(
        channel="Local/4001@agents-00000004;2",
        context="transfer",
        exten="4002",
        channel_exists=known,
    )
    assert dict(redirect.to_headers())["Exten"] == "4002"
    with pytest.raises(InvalidActionValue):
        Redirect(channel="PJSIP/nope", context="transfer", exten="4002", channel_exists=known)


def test_list_actions_and_filter() -> None:
    assert CoreShowChannels.is_list and QueueStatus.is_list
    assert dict(Filter(filter="Event: Newchannel").to_headers())["Operation"] == "Add"
    with pytest.raises(InvalidActionValue):
        Filter(filter="Event: X\r\nAction: Originate")
    with pytest.raises(InvalidActionValue):
        QueuePause(action_id="a b", interface="PJSIP/1", paused=True)


def known_any(channel: str) -> bool:
    return True


# Every text field the product fills, with a valid value to start from.
FIELDS = [
    (lambda v: QueuePause(interface=v, paused=True), "interface", "PJSIP/4001"),
    (lambda v: QueuePause(interface="PJSIP/1", paused=True, queue=v), "queue", "consultas"),
    (lambda v: QueueAdd(queue="q", interface="PJSIP/1", member_name=v), "member_name", "Ana"),
    (lambda v: QueueRemove(queue=v, interface="PJSIP/1"), "queue", "reclamos"),
    (lambda v: Originate(channel=v, context="c", exten="1"), "channel", "PJSIP/4001"),
    (lambda v: Originate(channel="PJSIP/1", context=v, exten="1"), "context", "agents"),
    (lambda v: Originate(channel="PJSIP/1", context="c", exten=v), "exten", "4001"),
    (
        lambda v: Originate(channel="PJSIP/1", context="c", exten="1", caller_id=v),
        "caller_id",
        "Centro",
    ),
    (
        lambda v: Originate(channel="PJSIP/1", context="c", exten="1", variables={"X": v}),
        "variables.X",
        "valor",
    ),
    (
        lambda v: Redirect(channel=v, context="c", exten="1", channel_exists=known_any),
        "channel",
        "PJSIP/4001-0000000a",
    ),
    (lambda v: Hangup(channel=v, channel_exists=known_any), "channel", "PJSIP/4001-0000000a"),
    (lambda v: Filter(filter=v), "filter", "^Event: Hangup"),
]


@pytest.mark.parametrize(("build", "name", "valid"), FIELDS)
@given(position=st.integers(min_value=0, max_value=40), control=st.sampled_from(CONTROL_CHARS))
def test_every_field_refuses_control_chars(
    build: Callable[[str], object], name: str, valid: str, position: int, control: str
) -> None:
    build(valid)  # the starting value is fine
    at = min(position, len(valid))
    with pytest.raises(InvalidActionValue) as caught:
        build(valid[:at] + control + valid[at:])
    assert caught.value.field == name
