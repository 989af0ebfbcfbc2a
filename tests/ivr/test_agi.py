"""The AGI protocol layer against the real captures and Asterisk's own argument splitting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr import agi
from ivr.agi import asterisk_parse_args
from ivr.exceptions import AgiCommandError, AgiProtocolError
from tests.ivr.recorded import RecordedSession

TRICKY_NAME = 'Zoë "Niña" Ñandú; EXEC System(touch /tmp/pwned)'


def assemble(lines: tuple[str, ...] | list[str]) -> agi.AgiReply:
    assembler = agi.ReplyAssembler()
    replies = [r for r in (assembler.feed(line) for line in lines) if r is not None]
    assert len(replies) == 1, lines
    return replies[0]


# ------------------------------------------------------------------ quoting


def test_parse_args_helper_reads_the_recorded_set_variable_like_asterisk(
    agi_sessions: dict[str, list[RecordedSession]],
) -> None:
    # The capture shows what Asterisk stored for this command: GET VARIABLE read it back.
    tour = agi_sessions["agi_tour"][0]
    sent = next(e.command for e in tour.exchanges if e.command.startswith("SET VARIABLE"))
    read_back = next(
        e.reply_lines[0] for e in tour.exchanges if e.command == "GET VARIABLE ATIENDE_X"
    )
    stored = read_back[len("200 result=1 (") : -1]
    assert asterisk_parse_args(sent) == ["SET", "VARIABLE", "ATIENDE_X", stored]


def test_our_quoting_reproduces_the_recorded_command(
    agi_sessions: dict[str, list[RecordedSession]],
) -> None:
    tour = agi_sessions["agi_tour"][0]
    sent = next(e.command for e in tour.exchanges if e.command.startswith("SET VARIABLE"))
    value = 'a "quoted" value, with spaces \\ and a backslash'
    assert agi.set_variable("ATIENDE_X", value).line == sent


@pytest.mark.parametrize(
    "value",
    [
        TRICKY_NAME,
        "",
        "unknown",
        'line one\nSET VARIABLE ATIENDE_QUEUE "vip"',
        "back\\slash at the end\\",
        '"',
        '\\"',
        "tab\there\r\nand NUL\x00after",
        "HANGUP\n",
    ],
)
def test_data_argument_stays_one_argument(value: str) -> None:
    command = agi.set_variable("ATIENDE_CALLER", value)
    encoded = command.encode()
    assert encoded.count(b"\n") == 1 and encoded.endswith(b"\n")
    words = asterisk_parse_args(encoded.decode("utf-8")[:-1])
    assert words[:3] == ["SET", "VARIABLE", "ATIENDE_CALLER"]
    assert len(words) == 4
    expected = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in value)
    assert words[3] == expected


@given(st.text(max_size=300))
def test_any_text_round_trips_through_asterisk_parsing(value: str) -> None:
    command = agi.set_variable("V", value)
    words = asterisk_parse_args(command.line)
    assert len(words) == 4
    assert words[3] == "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in value)


@given(st.text(alphabet=st.sampled_from('ab "\\\n\t;'), max_size=60))
def test_hostile_alphabet_never_adds_a_word_or_a_line(value: str) -> None:
    line = agi.verbose(value).line
    assert "\n" not in line
    assert len(asterisk_parse_args(line)) == 3


def test_parser_helper_follows_parse_args_corner_cases() -> None:
    # Derived by hand from res_agi.c parse_args.
    assert asterisk_parse_args('STREAM FILE beep ""') == ["STREAM", "FILE", "beep", ""]
    assert asterisk_parse_args('a"b c"d e') == ["ab cd", "e"]
    assert asterisk_parse_args("a\\ b c") == ["a b", "c"]
    assert asterisk_parse_args('x "\\"" y') == ["x", '"', "y"]
    assert asterisk_parse_args("one  two\tthree") == ["one", "two", "three"]
    assert asterisk_parse_args("a\nb") == ["a"]


def test_tokens_are_validated() -> None:
    with pytest.raises(AgiCommandError):
        agi.stream_file("beep; EXEC System")
    with pytest.raises(AgiCommandError):
        agi.set_variable("A B", "x")
    with pytest.raises(AgiCommandError):
        agi.say_digits("12a")
    with pytest.raises(AgiCommandError):
        agi.set_variable("LONG", "x" * agi.MAX_COMMAND_BYTES)
    assert agi.get_variable("CHANNEL(linkedid)").line == "GET VARIABLE CHANNEL(linkedid)"


def test_builders_match_the_recorded_command_shapes(
    agi_sessions: dict[str, list[RecordedSession]],
) -> None:
    recorded = {e.command for s in agi_sessions.values() for x in s for e in x.exchanges}
    assert agi.get_data("beep", 6000, 1).line in recorded
    assert agi.stream_file("beep", "#").line in recorded
    assert agi.stream_file("beep").line in recorded
    assert agi.say_digits("123").line in recorded
    assert agi.say_number(42).line in recorded
    assert agi.set_variable("ATIENDE_QUEUE", "consultas").line in recorded
    assert agi.answer().line in recorded


# ------------------------------------------------------------------ replies


def test_every_recorded_reply_parses(agi_sessions: dict[str, list[RecordedSession]]) -> None:
    count = 0
    for sessions in agi_sessions.values():
        for session in sessions:
            for exchange in session.exchanges:
                if not exchange.reply_lines:
                    continue  # the capture ends before a reply (hangup)
                if exchange.reply_lines == ("HANGUP",):
                    continue
                reply = assemble(exchange.reply_lines)
                assert reply.code in (200, 510, 511, 520)
                count += 1
    assert count > 100


def test_recorded_reply_formats(agi_sessions: dict[str, list[RecordedSession]]) -> None:
    tour = {e.command: e.reply_lines for e in agi_sessions["agi_tour"][0].exchanges}
    reply = assemble(tour["GET DATA beep 4000 4"])
    assert (reply.result, reply.data) == ("234", "timeout")
    reply = assemble(tour['STREAM FILE beep "#"'])
    assert (reply.result, reply.extras) == ("0", {"endpos": "3520"})
    reply = assemble(tour['STREAM FILE no-such-prompt ""'])
    assert (reply.result, reply.extras) == ("-1", {"endpos": "0"})
    assert assemble(tour["GET VARIABLE CALLERID(name)"]).data == "Tour Pérez"
    assert assemble(tour["FOO BAR"]).code == 510
    usage = assemble(tour["GET DATA"])
    assert usage.code == 520 and len(usage.usage) == 4
    assert usage.usage[-1] == "End of proper usage."
    dead = assemble(tour['STREAM FILE beep ""'])
    assert dead.code == 511


def test_hangup_line_before_a_reply_is_reported_on_that_reply(
    agi_sessions: dict[str, list[RecordedSession]],
) -> None:
    tour = agi_sessions["agi_tour"][0].exchanges
    last_get = [e for e in tour if e.command == "GET VARIABLE ATIENDE_X"][-1]
    assert last_get.reply_lines[0] == "HANGUP"
    reply = assemble(last_get.reply_lines)
    assert reply.hangup_notified and reply.data is not None and '"quoted"' in reply.data


def test_trying_then_final_reply() -> None:
    reply = assemble(["100 result=0 Trying...", "200 result=0"])
    assert reply.code == 200 and not reply.hangup_notified


@pytest.mark.parametrize(
    "line", ["GET / HTTP/1.1", "200", "999 result=1", "200 nonsense", "agi_network: yes"]
)
def test_garbage_reply_is_a_protocol_error(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        agi.ReplyAssembler().feed(line)


def test_endless_usage_block_is_refused() -> None:
    assembler = agi.ReplyAssembler()
    assembler.feed("520-Invalid command syntax.  Proper usage follows:")
    with pytest.raises(AgiProtocolError):
        for _ in range(agi.MAX_USAGE_LINES + 1):
            assembler.feed("more usage")


# ------------------------------------------------------------------ environment


def parse_env(lines: tuple[str, ...] | list[str]) -> agi.AgiEnvironment:
    parser = agi.EnvironmentParser()
    for line in lines:
        env = parser.feed(line)
        if env is not None:
            return env
    raise AssertionError("environment did not end")


def test_recorded_environments_parse(agi_sessions: dict[str, list[RecordedSession]]) -> None:
    tricky, empty = (parse_env(s.env_lines) for s in agi_sessions["tricky_caller_id"])
    assert tricky.caller_name == TRICKY_NAME
    assert tricky.script == "ivr" and tricky.uniqueid == "1795342769.0"
    # The caller with an empty name: Asterisk sends the word "unknown".
    assert empty.caller_name == "unknown"
    assert tricky.get("agi_accountcode") == ""


def test_injected_lines_in_a_caller_name_cannot_change_the_route() -> None:
    lines = [
        "agi_network: yes",
        "agi_network_script: ivr",
        'agi_calleridname: Eve"',
        "agi_network_script: admin",
        "not an agi line",
        "",
    ]
    env = parse_env(lines)
    assert env.script == "ivr"
    assert env.ignored_lines == 1


def test_environment_must_start_as_agi() -> None:
    with pytest.raises(AgiProtocolError):
        agi.EnvironmentParser().feed("GET / HTTP/1.1")
    with pytest.raises(AgiProtocolError):
        agi.EnvironmentParser().feed("")
