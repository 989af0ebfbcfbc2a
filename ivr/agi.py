"""The AGI protocol, without sockets: command building, reply and environment parsing.

Formats follow the real Asterisk 22 captures (agi_tour.agi):

- commands are one line each; Asterisk reads a line (at most AGI_BUF_LEN - 1
  bytes) and splits it with res_agi.c `parse_args`: double quotes group words,
  a backslash makes the next character literal, a newline always ends the
  command. So every argument that comes from data (caller ID, digits,
  database values) is sent double-quoted with `\\` and `"` escaped and with
  control characters (which could end the line) replaced by spaces;
- replies are `200 result=<r>[ (<data>)][ key=value...]`, `510 ...`, `511 ...`,
  a `520-` block closed by `520 End of proper usage.`, an optional
  `100 result=0 Trying...` before the final reply, and a `HANGUP` line that
  Asterisk inserts before the next reply once the caller has hung up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import NamedTuple

from ivr.exceptions import AgiCommandError, AgiProtocolError

# Asterisk's res_agi.c reads commands into a 2048-byte buffer; a longer line
# would be cut and its tail read as a second command.
AGI_BUF_LEN = 2048
MAX_COMMAND_BYTES = AGI_BUF_LEN - 1

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Plain tokens sent unquoted, exactly as the recordings show them.
_SOUND_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\([A-Za-z0-9_]{1,32}\))?$")
_DIGITS = re.compile(r"^[0-9]{1,64}$")
_ESCAPE_DIGITS = re.compile(r"^[0-9*#]{0,12}$")


def quote(value: str) -> str:
    """Quote one data-derived argument so Asterisk reads it back as exactly one argument.

    Control characters cannot be escaped (a newline ends the command before
    parse_args even runs; NUL ends the C string), so they become spaces.
    """
    cleaned = _CONTROL_CHARS.sub(" ", value)
    escaped = cleaned.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _token(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise AgiCommandError(f"invalid {what}: {value!r}")
    return value


def sound_name(value: str) -> str:
    return _token(value, _SOUND_NAME, "sound name")


def variable_name(value: str) -> str:
    return _token(value, _VARIABLE_NAME, "variable name")


def is_sound_name(value: str) -> bool:
    return bool(_SOUND_NAME.fullmatch(value))


def is_variable_name(value: str) -> bool:
    return bool(_VARIABLE_NAME.fullmatch(value))


@dataclass(frozen=True, slots=True)
class AgiCommand:
    """One command line, already safe to write (without its newline)."""

    line: str
    # The bytes to write, encoded once (the builders check the length, the session writes them).
    _data: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_data", (self.line + "\n").encode("utf-8"))

    def encode(self) -> bytes:
        if len(self._data) > MAX_COMMAND_BYTES:
            raise AgiCommandError(f"command longer than {MAX_COMMAND_BYTES} bytes")
        return self._data


def _command(line: str) -> AgiCommand:
    if "\n" in line or "\x00" in line or "\r" in line:
        raise AgiCommandError("command contains a line break")
    cmd = AgiCommand(line)
    cmd.encode()
    return cmd


def answer() -> AgiCommand:
    return _command("ANSWER")


def hangup() -> AgiCommand:
    return _command("HANGUP")


def channel_status() -> AgiCommand:
    """The state of this channel: `200 result=6` while it is up (Asterisk's
    AST_STATE_UP), `511` once it hung up (the command is refused on a dead channel)."""
    return _command("CHANNEL STATUS")


def stream_file(prompt: str, escape_digits: str = "") -> AgiCommand:
    digits = _token(escape_digits, _ESCAPE_DIGITS, "escape digits")
    return _command(f"STREAM FILE {sound_name(prompt)} {quote(digits)}")


def get_data(prompt: str, timeout_ms: int, max_digits: int) -> AgiCommand:
    if not 0 < timeout_ms <= 600_000 or not 0 < max_digits <= 64:
        raise AgiCommandError("GET DATA timeout or max digits out of range")
    return _command(f"GET DATA {sound_name(prompt)} {timeout_ms} {max_digits}")


def say_digits(digits: str) -> AgiCommand:
    return _command(f'SAY DIGITS {_token(digits, _DIGITS, "digits")} ""')


def say_number(number: int) -> AgiCommand:
    return _command(f'SAY NUMBER {int(number)} ""')


def set_variable(name: str, value: str) -> AgiCommand:
    return _command(f"SET VARIABLE {variable_name(name)} {quote(value)}")


def get_variable(name: str) -> AgiCommand:
    return _command(f"GET VARIABLE {variable_name(name)}")


def verbose(message: str, level: int = 1) -> AgiCommand:
    return _command(f"VERBOSE {quote(message)} {max(1, min(4, int(level)))}")


# --------------------------------------------------------------------------- replies


class ReplyKind(Enum):
    OK = 200
    INVALID_COMMAND = 510
    DEAD_CHANNEL = 511
    USAGE = 520


_NO_EXTRAS: Mapping[str, str] = MappingProxyType({})


class AgiReply(NamedTuple):
    """A final reply to one command.

    Immutable; a NamedTuple because one is built per command and a tuple is
    built in C, where a frozen dataclass sets each field through object.__setattr__.
    """

    code: int
    result: str = ""
    data: str | None = None
    extras: Mapping[str, str] = _NO_EXTRAS
    text: str = ""
    usage: tuple[str, ...] = ()
    hangup_notified: bool = False

    @property
    def kind(self) -> ReplyKind:
        return ReplyKind(self.code)

    @property
    def ok(self) -> bool:
        return self.code == 200

    def result_int(self) -> int | None:
        try:
            return int(self.result)
        except ValueError:
            return None


_LINE = re.compile(r"^(?P<code>[1-5][0-9]{2})(?P<sep>[ -])(?P<rest>.*)$")
_RESULT = re.compile(
    r"^result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?P<extras>(?: [A-Za-z_]+=\S*)*)\s*$"
)
MAX_USAGE_LINES = 200


class ReplyAssembler:
    """Feeds reply lines one by one and yields the final AgiReply.

    Sans-IO so it is tested without sockets; the session reads lines and
    pushes them here. `feed` returns None while a reply is still incomplete.
    """

    def __init__(self) -> None:
        self._hangup = False
        self._usage: list[str] | None = None

    def feed(self, line: str) -> AgiReply | None:
        if self._usage is not None:
            return self._feed_usage(line)
        if line.startswith("200 result="):
            # Nearly every reply: skip the general line pattern (same outcome).
            return self._ok(line[4:])
        if line == "HANGUP":
            self._hangup = True
            return None
        match = _LINE.match(line)
        if match is None:
            raise AgiProtocolError("reply line is not AGI")
        code = int(match["code"])
        rest = match["rest"]
        if match["sep"] == "-":
            if code != 520:
                raise AgiProtocolError(f"unexpected continuation line for code {code}")
            self._usage = [rest]
            return None
        if code == 100:
            return None
        if code == 200:
            return self._ok(rest)
        if code in (510, 511, 520):
            return self._final(AgiReply(code, text=rest))
        raise AgiProtocolError(f"unknown reply code {code}")

    def _ok(self, rest: str) -> AgiReply:
        parsed = _RESULT.match(rest)
        if parsed is None:
            raise AgiProtocolError("200 reply without a result")
        result, data, extra = parsed.group("result", "data", "extras")
        extras = dict(pair.split("=", 1) for pair in extra.split()) if extra else {}
        return self._final(AgiReply(200, result, data, extras))

    def _feed_usage(self, line: str) -> AgiReply | None:
        assert self._usage is not None
        if line.startswith("520 "):
            usage = (*self._usage, line[4:])
            self._usage = None
            return self._final(AgiReply(520, text=usage[0], usage=usage))
        if len(self._usage) >= MAX_USAGE_LINES:
            raise AgiProtocolError("520 usage block too long")
        self._usage.append(line)
        return None

    def _final(self, reply: AgiReply) -> AgiReply:
        if self._hangup:
            reply = reply._replace(hangup_notified=True)
            self._hangup = False
        return reply

    @property
    def hangup_seen(self) -> bool:
        return self._hangup


# ----------------------------------------------------------------------- environment

_ENV_LINE = re.compile(r"^(?P<key>agi_[a-z0-9_]{1,40}): ?(?P<value>.*)$")


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The agi_* variables of one session. Every value is untrusted text."""

    values: Mapping[str, str]
    ignored_lines: int = 0

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def script(self) -> str:
        """The route: agi_network_script (the path of agi://host/<script>)."""
        return self.get("agi_network_script")

    @property
    def caller_number(self) -> str:
        return self.get("agi_callerid")

    @property
    def caller_name(self) -> str:
        return self.get("agi_calleridname")

    @property
    def uniqueid(self) -> str:
        return self.get("agi_uniqueid")

    @property
    def channel(self) -> str:
        return self.get("agi_channel")


class EnvironmentParser:
    """Accumulates environment lines until the blank line that ends them.

    The first line must be an agi_* variable (anything else is not AGI and
    ends the session). Later lines that do not parse are counted and ignored:
    Asterisk writes caller names verbatim, so a name holding a line break
    splits into a stray line, and dropping the call for that would punish the
    caller. A duplicated key keeps its first value so a smuggled second
    `agi_network_script:` inside a caller name cannot change the route.
    """

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._ignored = 0
        self._lines = 0

    def feed(self, line: str) -> AgiEnvironment | None:
        if line == "":
            if not self._values:
                raise AgiProtocolError("empty AGI environment")
            return AgiEnvironment(dict(self._values), self._ignored)
        match = _ENV_LINE.match(line)
        self._lines += 1
        if match is None:
            if self._lines == 1:
                raise AgiProtocolError("session does not start with an agi_* variable")
            self._ignored += 1
            return None
        self._values.setdefault(match["key"], match["value"])
        return None


def decode_line(raw: bytes) -> str:
    """Bytes of one line to text: UTF-8 (as Asterisk sends), newline removed."""
    text = raw.decode("utf-8", errors="replace")
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    return text


def asterisk_parse_args(line: str) -> list[str]:
    """Split one command line into words exactly like res_agi.c `parse_args`.

    Double quotes toggle grouping (an opening quote after whitespace starts a
    word, even an empty one); a backslash makes the next character literal;
    unquoted, unescaped spaces and tabs separate words. Asterisk has already cut
    the line at its first newline, and C strings end at NUL.
    """
    line = line.split("\n", 1)[0].split("\x00", 1)[0]
    words: list[str] = []
    current: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                current = []
                words.append("")
                whitespace = False
            continue
        if char in " \t" and not quoted and not escaped:
            if current is not None:
                words[-1] = "".join(current)
            current = None
            whitespace = True
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            current = []
            words.append("")
            whitespace = False
        assert current is not None
        current.append(char)
        escaped = False
    if current is not None:
        words[-1] = "".join(current)
    return words
